// Cross-check of the decoder against Zydis (see zydis_check.h and docs/decoder.md).
// The suite runs a bounded corpus: about 6 MiB of .text from /usr/bin in 64-bit mode, the
// first 1 MiB of it again in 32- and 16-bit mode, and 2 MiB of pseudo-random bytes per mode.
// EMU_DECODER_CORPUS=all (bench/x86-decode/run) takes every ELF in /usr/bin instead.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#ifdef EMU_HAVE_ZYDIS
#include "tests/x86/zydis_check.h"
#endif

namespace emu::x86 {
namespace {

#ifdef EMU_HAVE_ZYDIS
using test::CrossCheckStats;

bool FullCorpus() {
  const char* e = std::getenv("EMU_DECODER_CORPUS");
  return e && std::string(e) == "all";
}

std::vector<std::string> UsrBinFiles() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/bin", ec)) {
    if (e.is_regular_file(ec) && !e.is_symlink(ec)) names.push_back(e.path().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// .text of /usr/bin ELF64 files in name order, up to `limit` bytes.
std::vector<uint8_t> BinCorpus(size_t limit, unsigned* files) {
  std::vector<uint8_t> out;
  *files = 0;
  for (const auto& n : UsrBinFiles()) {
    if (out.size() >= limit) break;
    std::vector<uint8_t> t = test::ReadElfText(n);
    if (t.empty()) continue;
    if (out.size() + t.size() > limit) t.resize(limit - out.size());
    out.insert(out.end(), t.begin(), t.end());
    ++*files;
  }
  return out;
}

std::string Describe(const char* what, const CrossCheckStats& s) {
  char buf[400];
  std::snprintf(buf, sizeof(buf),
                "%s: %llu positions, %llu instructions compared (%llu with operands), %llu "
                "invalid agreed, %llu excluded (VEX/EVEX/XOP/3DNow!), %llu mismatches",
                what, static_cast<unsigned long long>(s.positions),
                static_cast<unsigned long long>(s.compared),
                static_cast<unsigned long long>(s.operand_checked),
                static_cast<unsigned long long>(s.invalid_agreed),
                static_cast<unsigned long long>(s.excluded),
                static_cast<unsigned long long>(s.mismatches));
  return buf;
}

void ExpectClean(const char* what, const CrossCheckStats& s) {
  std::printf("%s\n", Describe(what, s).c_str());
  std::string ex;
  for (const auto& e : s.examples) ex += "  " + e + "\n";
  EXPECT_EQ(s.mismatches, 0u) << Describe(what, s) << "\n" << ex;
}

TEST(DecoderZydis, UsrBinText) {
  CrossCheckStats s64, s32, s16;
  size_t bytes = 0;
  unsigned files = 0;
  if (FullCorpus()) {
    // File by file, every mode over every byte (bench/x86-decode/run).
    for (const auto& n : UsrBinFiles()) {
      std::vector<uint8_t> t = test::ReadElfText(n);
      if (t.empty()) continue;
      files++;
      bytes += t.size();
      test::CrossCheck(t.data(), t.size(), CpuMode::k64, &s64);
      test::CrossCheck(t.data(), t.size(), CpuMode::k32, &s32);
      test::CrossCheck(t.data(), t.size(), CpuMode::k16, &s16);
    }
  } else {
    std::vector<uint8_t> text = BinCorpus(6u << 20, &files);
    bytes = text.size();
    if (bytes >= 4096) {
      test::CrossCheck(text.data(), bytes, CpuMode::k64, &s64);
      size_t n = std::min<size_t>(bytes, 2u << 20);
      test::CrossCheck(text.data(), n, CpuMode::k32, &s32);
      test::CrossCheck(text.data(), n, CpuMode::k16, &s16);
    }
  }
  if (bytes < 4096) GTEST_SKIP() << "no ELF64 executables with .text found in /usr/bin";
  std::printf("corpus: %zu bytes of .text from %u files\n", bytes, files);
  ExpectClean("64-bit", s64);
  ExpectClean("32-bit", s32);
  ExpectClean("16-bit", s16);
  EXPECT_GT(s64.compared, bytes / 8) << "suspiciously few instructions compared";
}

TEST(DecoderZydis, RandomBytes) {
  // Random bytes reach the rarely used opcodes, prefixes and ModRM forms real code avoids.
  size_t size = (FullCorpus() ? 64u : 2u) << 20;
  std::vector<uint8_t> buf(size);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (auto& b : buf) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b = static_cast<uint8_t>(x >> 24);
  }
  for (CpuMode m : {CpuMode::k64, CpuMode::k32, CpuMode::k16}) {
    CrossCheckStats s;
    test::CrossCheck(buf.data(), buf.size(), m, &s);
    ExpectClean(m == CpuMode::k64 ? "random 64-bit" : m == CpuMode::k32 ? "random 32-bit"
                                                                         : "random 16-bit", s);
    EXPECT_GT(s.invalid_agreed, 0u);
  }
}

#else
TEST(DecoderZydis, UsrBinText) { GTEST_SKIP() << "built without Zydis (libzydis-dev)"; }
#endif

}  // namespace
}  // namespace emu::x86
