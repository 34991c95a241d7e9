// Decoder throughput: linear sweep over the .text of every ELF64 file in /usr/bin in
// 64-bit mode (advance by the decoded length, or one byte on #UD), timed for emu's
// decoder and for Zydis (instruction-only decoding, no operands) for reference.
#include <Zydis/Zydis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "target-x86/decode/decoded_inst.h"
#include "tests/x86/zydis_check.h"

using namespace emu::x86;

int main() {
  std::vector<uint8_t> all;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/bin", ec)) {
    if (!e.is_regular_file(ec) || e.is_symlink(ec)) continue;
    std::vector<uint8_t> t = test::ReadElfText(e.path().string());
    all.insert(all.end(), t.begin(), t.end());
    if (all.size() > (64u << 20)) break;  // enough for a stable rate
  }
  std::printf("corpus: %.1f MiB of .text\n", all.size() / 1048576.0);
  using clock = std::chrono::steady_clock;
  for (int round = 0; round < 2; round++) {
    auto t0 = clock::now();
    size_t off = 0, n = 0;
    DecodedInst d;
    while (off + 15 <= all.size()) {
      DecodeStatus s = Decode(all.data() + off, 15, CpuMode::k64, &d);
      off += s == DecodeStatus::kOk ? d.length : 1;
      n++;
    }
    double sec = std::chrono::duration<double>(clock::now() - t0).count();
    std::printf("emu:   %zu instructions in %.3f s = %.1f M/s\n", n, sec, n / sec / 1e6);
    ZydisDecoder z;
    ZydisDecoderInit(&z, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    t0 = clock::now();
    off = 0;
    n = 0;
    ZydisDecoderContext ctx;
    ZydisDecodedInstruction zi;
    while (off + 15 <= all.size()) {
      ZyanStatus s = ZydisDecoderDecodeInstruction(&z, &ctx, all.data() + off, 15, &zi);
      off += ZYAN_SUCCESS(s) ? zi.length : 1;
      n++;
    }
    sec = std::chrono::duration<double>(clock::now() - t0).count();
    std::printf("zydis: %zu instructions in %.3f s = %.1f M/s\n", n, sec, n / sec / 1e6);
  }
}
