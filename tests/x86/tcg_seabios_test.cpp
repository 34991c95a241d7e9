// Runs Debian's SeaBIOS on the translator with only RAM, the BIOS image (its
// last 128 KiB pre-shadowed as RAM, as the chipset would make it) and a CMOS
// giving the RAM size: POST must get through 32-bit init, relocation, table
// setup and option ROM scanning to the boot menu prompt (printed on port 0x402).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "accel/tcg/tcg_accel.h"
#include "hw/core/memory.h"
#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

struct BiosBus : accel::CpuBus {
  std::string out;
  uint8_t cmos_index = 0;
  uint64_t PortRead(uint16_t port, unsigned size) override {
    if (port == 0x402) return 0xe9;  // debug console present
    if (port == 0x71) {
      switch (cmos_index & 0x7f) {
        case 0x34: return 0x00;  // RAM above 16 MiB in 64 KiB units: 0x0700 (128 MiB total)
        case 0x35: return 0x07;
        default: return 0;
      }
    }
    return size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffffu;
  }
  void PortWrite(uint16_t port, uint64_t value, unsigned) override {
    if (port == 0x402) out.push_back(static_cast<char>(value));
    if (port == 0x70) cmos_index = static_cast<uint8_t>(value);
  }
  uint64_t MmioRead(uint64_t, unsigned) override { return 0; }
  void MmioWrite(uint64_t, uint64_t, unsigned) override {}
};

// Under both backends: native code (the default) and the interpreter.
class TcgSeabios : public BackendTest {};
INSTANTIATE_TEST_SUITE_P(, TcgSeabios, BackendValues(), BackendName);

// Runs POST to its halt; returns the debug-port output ("" if no bios.bin).
std::string RunPost(const accel::tcg::TcgOptions& opts, uint64_t* flushes = nullptr) {
  std::ifstream f("/usr/share/seabios/bios.bin", std::ios::binary);
  if (!f) return "";
  std::vector<uint8_t> bios((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_GE(bios.size(), 0x20000u);
  if (bios.size() < 0x20000) return "";
  auto root = hw::MemoryRegion::Container("root", ~0ull);
  auto ram = hw::MemoryRegion::Ram("ram", 128u << 20);
  auto rom = hw::MemoryRegion::Rom("bios", bios.size());
  std::memcpy(rom->host(), bios.data(), bios.size());
  auto shadow = hw::MemoryRegion::Ram("isa-bios-shadow", 0x20000);
  std::memcpy(shadow->host(), bios.data() + bios.size() - 0x20000, 0x20000);
  root->AddSubregion(0, ram.get());
  root->AddSubregion(0x100000000ull - bios.size(), rom.get());
  root->AddSubregion(0xe0000, shadow.get(), 1);
  hw::AddressSpace as("memory", root.get());
  BiosBus bus;
  accel::tcg::TcgAccelerator acc(&as, &bus, opts);
  EXPECT_EQ(acc.cache().code() != nullptr, opts.native && accel::tcg::NativeSupported());
  auto vcpu = acc.CreateVcpu(0);
  // Without a timer SeaBIOS ends up halted waiting for an interrupt.
  accel::RunResult r = vcpu->Run();
  EXPECT_EQ(r.reason, accel::ExitReason::kHalt) << r.detail;
  if (flushes) *flushes = acc.cache().flushes;
  return bus.out;
}

void ExpectPostOutput(const std::string& out) {
  EXPECT_NE(out.find("SeaBIOS (version"), std::string::npos) << out;
  EXPECT_NE(out.find("Relocating init"), std::string::npos) << out;
  EXPECT_NE(out.find("Scan for option roms"), std::string::npos) << out;
  EXPECT_NE(out.find("Press ESC for boot menu"), std::string::npos) << out;
}

TEST_P(TcgSeabios, PostReachesTheBootMenuPrompt) {
  const std::string out = RunPost(Opts());
  if (out.empty()) GTEST_SKIP() << "/usr/share/seabios/bios.bin not installed (Debian package seabios)";
  ExpectPostOutput(out);
}

// A native code buffer far too small for POST: full flushes (blocks and their
// code, links, caches) happen again and again while it runs.
TEST(TcgSeabiosSmallCodeBuffer, PostSurvivesRepeatedFlushes) {
  if (!accel::tcg::NativeSupported()) GTEST_SKIP() << "no native backend on this host";
  accel::tcg::TcgOptions opts;
  opts.code_buffer_bytes = 256u << 10;
  uint64_t flushes = 0;
  const std::string out = RunPost(opts, &flushes);
  if (out.empty()) GTEST_SKIP() << "/usr/share/seabios/bios.bin not installed (Debian package seabios)";
  ExpectPostOutput(out);
  EXPECT_GE(flushes, 3u);
}

}  // namespace
}  // namespace emu::x86::test
