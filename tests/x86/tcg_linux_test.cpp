// Boots the Debian kernel (64-bit boot protocol, our own minimal loader) with
// the busybox initramfs on the bare translator CPU: a serial THR on 0x3f8 and
// RAM, no timer or interrupt controller. The kernel must get through its whole
// init (paging, SLUB, alternatives patching, FPU/FXSAVE, initramfs unpacking) to
// starting /init without a panic. Slow under the interpreter (minutes),
// so it only runs with EMU_TCG_SLOW_TESTS=1; it needs the guest cache
// (EMU_GUESTS, built by tests/guests/prepare).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>

#include "accel/tcg/tcg_accel.h"
#include "hw/core/memory.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86::test {
namespace {

struct SerialBus : accel::CpuBus {
  std::mutex mu;
  std::string out;
  uint64_t PortRead(uint16_t port, unsigned size) override {
    if (port == 0x3fd) return 0x60;  // LSR: transmitter empty
    return size == 1 ? 0xff : size == 2 ? 0xffff : 0xffffffffu;
  }
  void PortWrite(uint16_t port, uint64_t value, unsigned) override {
    if (port != 0x3f8) return;
    std::lock_guard<std::mutex> lock(mu);
    out.push_back(static_cast<char>(value));
    if (std::getenv("EMU_TCG_TEST_SERIAL")) std::fputc(static_cast<int>(value), stderr);
  }
  uint64_t MmioRead(uint64_t, unsigned) override { return 0; }
  void MmioWrite(uint64_t, uint64_t, unsigned) override {}
  std::string Output() {
    std::lock_guard<std::mutex> lock(mu);
    return out;
  }
};

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

TEST(TcgLinux, BootsToUserSpace) {
  if (!std::getenv("EMU_TCG_SLOW_TESTS"))
    GTEST_SKIP() << "slow (minutes under the interpreter): set EMU_TCG_SLOW_TESTS=1 to run";
  const char* guests = std::getenv("EMU_GUESTS");
  std::string dir = guests ? guests : "build/guests";
  std::vector<uint8_t> k = ReadFile(dir + "/linux/vmlinuz");
  std::vector<uint8_t> initrd = ReadFile(dir + "/initramfs.gz");
  if (k.size() < 0x1000 || initrd.empty())
    GTEST_SKIP() << "no kernel/initramfs in " << dir << " (run tests/guests/prepare)";
  ASSERT_EQ(std::memcmp(&k[0x202], "HdrS", 4), 0) << "not a bzImage";
  ASSERT_TRUE(k[0x236] & 1) << "kernel has no 64-bit entry";

  const uint64_t ram_size = 512ull << 20;
  auto root = hw::MemoryRegion::Container("root", ~0ull);
  auto ram = hw::MemoryRegion::Ram("ram", ram_size);
  root->AddSubregion(0, ram.get());
  hw::AddressSpace as("memory", root.get());
  uint8_t* m = ram->host();
  unsigned setup_sects = k[0x1f1] ? k[0x1f1] : 4;
  size_t pm_off = (setup_sects + 1) * 512;
  const uint64_t load = 0x1000000, bp = 0x10000, cmdline = 0x20000, rd = 0x10000000;
  std::memcpy(m + load, k.data() + pm_off, k.size() - pm_off);
  std::memcpy(m + rd, initrd.data(), initrd.size());
  size_t hdr_end = 0x202 + k[0x201];
  std::memcpy(m + bp + 0x1f1, k.data() + 0x1f1, hdr_end - 0x1f1);
  m[bp + 0x210] = 0xff;  // type_of_loader: undefined
  m[bp + 0x211] |= 0x01;  // LOADED_HIGH
  const char* cmd = "console=ttyS0 nokaslr lpj=1000000 tsc=reliable rdinit=/init emu.run=hello";
  std::strcpy(reinterpret_cast<char*>(m + cmdline), cmd);
  auto w32 = [&](uint64_t a, uint32_t v) { std::memcpy(m + a, &v, 4); };
  auto w64 = [&](uint64_t a, uint64_t v) { std::memcpy(m + a, &v, 8); };
  w32(bp + 0x228, cmdline);
  w32(bp + 0x218, rd);
  w32(bp + 0x21c, static_cast<uint32_t>(initrd.size()));
  struct E820 {
    uint64_t addr, size;
    uint32_t type;
  } __attribute__((packed));
  E820 e[2] = {{0, 0x9fc00, 1}, {0x100000, ram_size - 0x100000, 1}};
  std::memcpy(m + bp + 0x2d0, e, sizeof e);
  m[bp + 0x1e8] = 2;
  // GDT (0x10 64-bit code, 0x18 data) and an identity map of 4 GiB.
  w64(0x1000 + 0x10, 0x00af9b000000ffffull);
  w64(0x1000 + 0x18, 0x00cf93000000ffffull);
  w64(0x4000, 0x5000 | 3);
  for (int i = 0; i < 4; i++) {
    w64(0x5000 + 8 * i, (0x6000 + 0x1000 * i) | 3);
    for (int j = 0; j < 512; j++)
      w64(0x6000 + 0x1000 * i + 8 * j, ((uint64_t(i) << 30) | (uint64_t(j) << 21)) | 0x83);
  }
  SerialBus bus;
  accel::tcg::TcgAccelerator acc(&as, &bus);
  auto v = acc.CreateVcpu(0);
  CpuState s;
  v->GetState(s);
  s.cr0 = kCr0PE | kCr0PG | kCr0ET | kCr0NE | kCr0WP;
  s.cr3 = 0x4000;
  s.cr4 = kCr4PAE;
  s.efer = kEferLME | kEferLMA;
  s.gdtr.base = 0x1000;
  s.gdtr.limit = 31;
  auto seg = [](uint16_t sel, uint16_t attr) {
    Segment x;
    x.selector = sel;
    x.base = 0;
    x.limit = 0xffffffff;
    x.attr = attr;
    return x;
  };
  s.seg[CS] = seg(0x10, 0xa09b);
  for (int r : {DS, ES, SS, FS, GS}) s.seg[r] = seg(0x18, 0xc093);
  s.rip = load + 0x200;  // startup_64
  s.regs[RSI] = bp;
  s.regs[RSP] = 0x80000;
  s.rflags = 2;
  v->SetState(s);
  std::atomic<bool> done{false};
  std::thread watchdog([&] {
    for (int i = 0; i < 15 * 60 * 10 && !done; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (bus.Output().find("=== END hello") != std::string::npos) break;
    }
    v->Kick();
  });
  accel::RunResult r;
  for (;;) {
    r = v->Run();
    if (r.reason != accel::ExitReason::kHalt) break;
    // Nothing can wake a halted CPU here (no timer): stop.
    break;
  }
  done = true;
  watchdog.join();
  std::string out = bus.Output();
  EXPECT_NE(out.find("Linux version"), std::string::npos) << out.substr(0, 2000);
  EXPECT_NE(out.find("Run /init as init process"), std::string::npos)
      << out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  EXPECT_EQ(out.find("Kernel panic"), std::string::npos) << out.substr(out.size() > 4000 ? out.size() - 4000 : 0);
  // User-space output needs the UART's transmit interrupt (the tty layer waits for
  // it), so "hello from the guest" is only checked by the machine-level boot test.
}

}  // namespace
}  // namespace emu::x86::test
