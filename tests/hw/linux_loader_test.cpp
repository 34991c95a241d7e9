#include "hw/i386/linux_loader.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>

#include "hw/core/device.h"
#include "hw/i386/boot_cpu.h"
#include "tests/hw/guest_memory.h"

namespace emu::hw {
namespace {

constexpr uint64_t kRam = 256ull << 20;

struct Guest : test::GuestMemory {
  Guest() : GuestMemory(kRam, 1ull << 36) {}
  E820Map e820 = BuildPcE820(kRam, 0x10000);
};

std::string RealKernelPath() {
  const char* g = std::getenv("EMU_GUESTS");
  return g ? std::string(g) + "/linux/vmlinuz" : std::string();
}

// Returns the Debian kernel, or an empty vector (and the reason) when absent.
std::vector<uint8_t> RealKernel(std::string* why) {
  std::string path = RealKernelPath();
  if (path.empty()) {
    *why = "EMU_GUESTS is not set, so linux/vmlinuz (made by tests/guests/make-linux) is missing";
    return {};
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *why = path + " is missing (tests/guests/make-linux makes it)";
    return {};
  }
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

using test::PutLe;

// A minimal well-formed bzImage: 4 setup sectors + boot sector, protocol 2.15,
// 64 KiB of "kernel" filled with a pattern.
std::vector<uint8_t> FakeBzImage() {
  std::vector<uint8_t> k(5 * 512 + 0x10000, 0);
  k[0x1f1] = 4;
  PutLe(k, 0x1f4, 0x10000 / 16, 4);
  PutLe(k, 0x1fe, 0xaa55, 2);
  k[0x200] = 0xeb;
  k[0x201] = 0x6a;  // header ends at 0x26c
  std::memcpy(&k[0x202], "HdrS", 4);
  PutLe(k, 0x206, 0x020f, 2);
  k[0x211] = 0x01;  // LOADED_HIGH
  PutLe(k, 0x22c, 0x7fffffff, 4);
  PutLe(k, 0x230, 0x200000, 4);
  k[0x234] = 1;
  PutLe(k, 0x236, 0x7f, 2);
  PutLe(k, 0x238, 2047, 4);
  PutLe(k, 0x258, 0x1000000, 8);
  PutLe(k, 0x260, 0x800000, 4);
  for (size_t i = 5 * 512; i < k.size(); i++) k[i] = uint8_t(i * 7);
  return k;
}

// Walks the guest's 4-level page tables for a virtual address.
uint64_t Translate(Guest& g, uint64_t cr3, uint64_t va) {
  uint64_t pml4e = g.U((cr3 & ~0xfffull) + ((va >> 39) & 511) * 8, 8);
  EXPECT_TRUE(pml4e & 1);
  uint64_t pdpte = g.U((pml4e & 0xffffffffff000ull) + ((va >> 30) & 511) * 8, 8);
  EXPECT_TRUE(pdpte & 1);
  uint64_t pde = g.U((pdpte & 0xffffffffff000ull) + ((va >> 21) & 511) * 8, 8);
  EXPECT_TRUE(pde & 1);
  EXPECT_TRUE(pde & 0x80);  // 2 MiB page
  return (pde & 0xfffffffe00000ull) | (va & 0x1fffff);
}

TEST(LinuxLoader, RealDebianKernel64BitEntry) {
  std::string why;
  auto kernel = RealKernel(&why);
  if (kernel.empty()) GTEST_SKIP() << why;
  Guest g;
  std::vector<uint8_t> initrd(3 * 1024 * 1024 + 123, 0x5a);
  LinuxBootOptions o;
  o.cmdline = "console=ttyS0 panic=-1";
  o.acpi_rsdp_addr = 0xfff0000;
  x86::CpuState cpu;
  LinuxBootInfo info =
      LoadLinuxImage(g.mem, g.e820, kernel, "vmlinuz", initrd, "initrd", o, &cpu);
  const LinuxSetupHeader& h = info.header;
  EXPECT_GE(h.version, 0x20f);
  EXPECT_TRUE(h.has_64bit_entry());
  EXPECT_TRUE(h.relocatable);
  EXPECT_GT(h.init_size, 0u);
  EXPECT_LE(h.header_end, 0x290u);
  // Kernel bytes at 1 MiB.
  EXPECT_EQ(info.kernel_addr, 0x100000u);
  ASSERT_EQ(info.kernel_size, kernel.size() - h.setup_size());
  EXPECT_EQ(std::memcmp(g.ram->host() + 0x100000, kernel.data() + h.setup_size(), info.kernel_size),
            0);
  // Initrd: page aligned, at the top of low RAM below the ACPI area, above the
  // kernel's decompression area.
  EXPECT_EQ(info.initrd_addr % 4096, 0u);
  EXPECT_LE(info.initrd_addr + initrd.size(), kRam - 0x10000);
  EXPECT_GT(info.initrd_addr + initrd.size(), kRam - 0x10000 - 4096);
  EXPECT_GE(info.initrd_addr, std::max<uint64_t>(h.pref_address, 0x100000) + h.init_size);
  EXPECT_EQ(g.ram->host()[info.initrd_addr + initrd.size() - 1], 0x5a);
  // Zero page.
  uint64_t zp = info.zero_page;
  EXPECT_EQ(g.U(zp + 0x210, 1), 0xffu);  // type_of_loader
  EXPECT_EQ(g.U(zp + 0x202, 4), 0x53726448u);
  EXPECT_EQ(g.U(zp + 0x206, 2), h.version);
  uint64_t cmd = g.U(zp + 0x228, 4);
  char buf[64] = {};
  g.mem.Read(cmd, buf, sizeof buf - 1);
  EXPECT_STREQ(buf, "console=ttyS0 panic=-1");
  EXPECT_EQ(g.U(zp + 0x218, 4), info.initrd_addr);
  EXPECT_EQ(g.U(zp + 0x21c, 4), initrd.size());
  EXPECT_EQ(g.U(zp + 0x070, 8), 0xfff0000u);
  ASSERT_EQ(g.U(zp + 0x1e8, 1), g.e820.entries().size());
  for (size_t i = 0; i < g.e820.entries().size(); i++) {
    const auto& e = g.e820.entries()[i];
    EXPECT_EQ(g.U(zp + 0x2d0 + 20 * i, 8), e.addr);
    EXPECT_EQ(g.U(zp + 0x2d0 + 20 * i + 8, 8), e.size);
    EXPECT_EQ(g.U(zp + 0x2d0 + 20 * i + 16, 4), e.type);
  }
  // CPU: long mode at startup_64 with RSI = zero page and a flat GDT.
  EXPECT_EQ(cpu.rip, 0x100200u);
  EXPECT_TRUE(info.entry64);
  EXPECT_EQ(cpu.regs[x86::RSI], zp);
  EXPECT_TRUE(cpu.efer & x86::kEferLMA);
  EXPECT_TRUE(cpu.efer & x86::kEferLME);
  EXPECT_TRUE(cpu.cr0 & x86::kCr0PG);
  EXPECT_TRUE(cpu.cr0 & x86::kCr0PE);
  EXPECT_TRUE(cpu.cr4 & x86::kCr4PAE);
  EXPECT_FALSE(cpu.rflags & x86::kFlagIF);
  EXPECT_EQ(cpu.seg[x86::CS].selector, 0x10);
  EXPECT_TRUE(cpu.seg[x86::CS].l());
  EXPECT_TRUE(cpu.seg[x86::CS].present());
  EXPECT_EQ(cpu.seg[x86::DS].selector, 0x18);
  EXPECT_EQ(cpu.seg[x86::SS].selector, 0x18);
  EXPECT_EQ(cpu.seg[x86::DS].limit, 0xffffffffu);
  // GDT entry 0x10 in memory is a present 64-bit code segment.
  uint64_t cs_desc = g.U(cpu.gdtr.base + 0x10, 8);
  EXPECT_TRUE(cs_desc & (1ull << 53));  // L
  EXPECT_TRUE(cs_desc & (1ull << 47));  // P
  EXPECT_GE(cpu.gdtr.limit, 0x1fu);
  // Identity mapping covers the kernel, the zero page, the initrd and 4 GiB - 1.
  for (uint64_t va : {uint64_t(0x100200), zp, info.initrd_addr, uint64_t(0xfffff000)})
    EXPECT_EQ(Translate(g, cpu.cr3, va), va);
}

TEST(LinuxLoader, RealDebianKernel32BitEntry) {
  std::string why;
  auto kernel = RealKernel(&why);
  if (kernel.empty()) GTEST_SKIP() << why;
  Guest g;
  LinuxBootOptions o;
  o.entry64 = false;
  x86::CpuState cpu;
  LinuxBootInfo info = LoadLinuxImage(g.mem, g.e820, kernel, "vmlinuz", {}, "", o, &cpu);
  EXPECT_EQ(info.initrd_addr, 0u);
  EXPECT_EQ(cpu.rip, 0x100000u);
  EXPECT_EQ(cpu.regs[x86::RSI], info.zero_page);
  EXPECT_EQ(cpu.regs[x86::RBX], 0u);
  EXPECT_FALSE(cpu.cr0 & x86::kCr0PG);
  EXPECT_TRUE(cpu.cr0 & x86::kCr0PE);
  EXPECT_EQ(cpu.efer, 0u);
  EXPECT_TRUE(cpu.seg[x86::CS].db());
  EXPECT_FALSE(cpu.seg[x86::CS].l());
  EXPECT_TRUE(cpu.seg[x86::CS].g());
  EXPECT_EQ(cpu.seg[x86::CS].selector, 0x10);
  EXPECT_EQ(g.U(info.zero_page + 0x228, 4), kLinuxCmdline);
  EXPECT_EQ(g.U(kLinuxCmdline, 1), 0u);  // empty command line
}

TEST(LinuxLoader, FakeKernelLoadsAndHonoursLimits) {
  Guest g;
  auto k = FakeBzImage();
  x86::CpuState cpu;
  LinuxBootInfo info = LoadLinuxImage(g.mem, g.e820, k, "fake", {}, "", {}, &cpu);
  EXPECT_EQ(info.kernel_size, 0x10000u);
  EXPECT_EQ(g.ram->host()[0x100000 + 5], k[5 * 512 + 5]);
  // A command line longer than cmdline_size is refused.
  LinuxBootOptions o;
  o.cmdline = std::string(2048, 'x');
  EXPECT_THROW(LoadLinuxImage(g.mem, g.e820, k, "fake", {}, "", o, &cpu), ConfigError);
  // An initrd that cannot fit above the kernel is refused with a message naming it.
  std::vector<uint8_t> big(kRam - (16 << 20), 1);
  try {
    LoadLinuxImage(g.mem, g.e820, k, "fake", big, "big.img", {}, &cpu);
    FAIL() << "accepted an initrd that does not fit";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("big.img"), std::string::npos) << e.what();
  }
  // initrd_addr_max is respected.
  auto k2 = k;
  PutLe(k2, 0x22c, 0x3fffffff - 0, 4);  // 1 GiB: above RAM, so RAM is the limit
  PutLe(k2, 0x22c, 0x05ffffff, 4);      // 96 MiB
  info = LoadLinuxImage(g.mem, g.e820, k2, "fake", std::vector<uint8_t>(8192, 2), "i", {}, &cpu);
  EXPECT_EQ(info.initrd_addr + 8192, 0x6000000u);
  // Too little RAM for init_size.
  Guest small;
  small.e820 = BuildPcE820(20ull << 20);
  EXPECT_THROW(LoadLinuxImage(small.mem, small.e820, k, "fake", {}, "", {}, &cpu), ConfigError);
}

std::string ErrorOf(const std::vector<uint8_t>& k) {
  Guest g;
  x86::CpuState cpu;
  try {
    LoadLinuxImage(g.mem, g.e820, k, "bad.bin", {}, "", {}, &cpu);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(LinuxLoader, MalformedKernelsAreRefused) {
  auto good = FakeBzImage();
  EXPECT_EQ(ErrorOf(good), "");
  // Truncated.
  auto t = good;
  t.resize(t.size() / 2);
  EXPECT_NE(ErrorOf(t).find("truncated"), std::string::npos) << ErrorOf(t);
  EXPECT_NE(ErrorOf(t).find("bad.bin"), std::string::npos);
  // syssize rounds up to 16 bytes: a file up to 15 bytes short of it is complete.
  auto r = good;
  r.resize(r.size() - 15);
  EXPECT_EQ(ErrorOf(r), "");
  r.resize(r.size() - 1);
  EXPECT_NE(ErrorOf(r).find("truncated"), std::string::npos) << ErrorOf(r);
  t.resize(600);
  EXPECT_NE(ErrorOf(t).find("too short"), std::string::npos) << ErrorOf(t);
  // Bad magic.
  auto m = good;
  m[0x202] = 'X';
  EXPECT_NE(ErrorOf(m).find("HdrS"), std::string::npos) << ErrorOf(m);
  // setup_sects beyond the end of the file.
  auto s = good;
  s[0x1f1] = 200;
  EXPECT_NE(ErrorOf(s).find("setup_sects"), std::string::npos) << ErrorOf(s);
  // Ancient protocol.
  auto a = good;
  PutLe(a, 0x206, 0x0204, 2);
  EXPECT_NE(ErrorOf(a).find("2.04"), std::string::npos) << ErrorOf(a);
  // Header length pointing outside the file's header area.
  auto h = good;
  h[0x201] = 0x10;
  EXPECT_NE(ErrorOf(h).find("header"), std::string::npos) << ErrorOf(h);
  // No 64-bit entry: refused only when the 32-bit fallback is off.
  auto x = good;
  PutLe(x, 0x236, 0, 2);
  EXPECT_EQ(ErrorOf(x), "");
  {
    Guest g;
    x86::CpuState cpu;
    LinuxBootOptions o;
    auto info = LoadLinuxImage(g.mem, g.e820, x, "k32", {}, "", o, &cpu);
    EXPECT_FALSE(info.entry64);
    EXPECT_EQ(cpu.rip, 0x100000u);
    EXPECT_FALSE(cpu.efer & x86::kEferLMA);
    o.fallback_to_32bit = false;
    try {
      LoadLinuxImage(g.mem, g.e820, x, "k32", {}, "", o, &cpu);
      FAIL() << "accepted a kernel without a 64-bit entry";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("64-bit"), std::string::npos) << e.what();
    }
  }
  // pref_address beyond RAM.
  auto p = good;
  PutLe(p, 0x258, 0xfffffffffff00000ull, 8);
  EXPECT_NE(ErrorOf(p).find("decompress"), std::string::npos) << ErrorOf(p);
  // Bad alignment.
  auto al = good;
  PutLe(al, 0x230, 0x300000, 4);
  EXPECT_NE(ErrorOf(al).find("kernel_alignment"), std::string::npos) << ErrorOf(al);
  // A missing file names the path.
  Guest g;
  try {
    LoadLinux(g.mem, g.e820, "/nonexistent/vmlinuz", "", {}, nullptr);
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vmlinuz"), std::string::npos);
  }
}

// Random corruption of header bytes and lengths: every outcome is a load or a
// ConfigError, never a crash or an access outside the image (run under ASan).
TEST(LinuxLoader, CorruptedHeadersNeverCrash) {
  Guest g;
  auto good = FakeBzImage();
  auto corrupt = [&](std::mt19937& rng) {
    auto k = good;
    int n = 1 + int(rng() % 4);
    for (int j = 0; j < n; j++) k[0x1f0 + rng() % 0x80] = uint8_t(rng());
    if (rng() % 4 == 0) k.resize(rng() % k.size());
    return k;
  };
  test::ExpectLoadsAndRefusals(1500, 1234, corrupt, [&](const std::vector<uint8_t>& k) {
    x86::CpuState cpu;
    LoadLinuxImage(g.mem, g.e820, k, "fuzz", {1, 2, 3}, "i", {}, &cpu);
  });
}

}  // namespace
}  // namespace emu::hw
