#include "hw/i386/multiboot.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "hw/core/device.h"
#include "tests/hw/guest_memory.h"

namespace emu::hw {
namespace {

constexpr uint64_t kRam = 64ull << 20;

struct Guest : test::GuestMemory {
  Guest() : GuestMemory(kRam) {}
  E820Map e820 = BuildPcE820(kRam);
};

using test::PutLe;

void PutMbHeader(std::vector<uint8_t>& b, size_t off, uint32_t flags, bool good_sum = true) {
  PutLe(b, off, kMultibootHeaderMagic, 4);
  PutLe(b, off + 4, flags, 4);
  PutLe(b, off + 8, uint32_t(0 - kMultibootHeaderMagic - flags) + (good_sum ? 0 : 1), 4);
}

// A tiny ELF32 kernel: one PT_LOAD segment from file offset 0 to physical 0x100000
// (virtual 0xc0100000), 0x2000 bytes of bss after it, code at file offset 0x1000.
std::vector<uint8_t> TinyElf32(bool good_sum = true) {
  std::vector<uint8_t> b(0x1010, 0);
  std::memcpy(b.data(), "\x7f" "ELF", 4);
  b[4] = 1;  // ELFCLASS32
  b[5] = 1;  // little-endian
  b[6] = 1;
  PutLe(b, 16, 2, 2);                 // ET_EXEC
  PutLe(b, 18, 3, 2);                 // EM_386
  PutLe(b, 20, 1, 4);
  PutLe(b, 24, 0xc0101000, 4);        // e_entry (virtual)
  PutLe(b, 28, 52, 4);                // e_phoff
  PutLe(b, 40, 52, 2);                // e_ehsize
  PutLe(b, 42, 32, 2);                // e_phentsize
  PutLe(b, 44, 1, 2);                 // e_phnum
  PutLe(b, 52, 1, 4);                 // PT_LOAD
  PutLe(b, 56, 0, 4);                 // p_offset
  PutLe(b, 60, 0xc0100000, 4);        // p_vaddr
  PutLe(b, 64, 0x100000, 4);          // p_paddr
  PutLe(b, 68, 0x1010, 4);            // p_filesz
  PutLe(b, 72, 0x3010, 4);            // p_memsz
  PutMbHeader(b, 0x60, 0x3, good_sum);  // page-align modules, memory info
  const uint8_t code[] = {0xfa, 0xf4, 0xeb, 0xfd};  // cli; hlt; jmp $-1
  std::memcpy(&b[0x1000], code, sizeof code);
  return b;
}

TEST(Multiboot, Elf32KernelWithModules) {
  Guest g;
  std::memset(g.ram->host() + 0x101010, 0xcc, 0x2000);  // the bss must be cleared
  auto k = TinyElf32();
  std::vector<MultibootModuleData> mods = {{std::vector<uint8_t>(5000, 0x11), "mod1.bin a=1"},
                                           {std::vector<uint8_t>(10, 0x22), "mod2"}};
  x86::CpuState cpu;
  MultibootBootInfo info =
      LoadMultibootImage(g.mem, g.e820, k, "tiny.elf", "tiny.elf console=x", mods, &cpu);
  EXPECT_EQ(info.load_start, 0x100000u);
  EXPECT_EQ(info.load_end, 0x103010u);
  EXPECT_EQ(info.entry, 0x101000u);  // virtual entry translated to physical
  EXPECT_EQ(std::memcmp(g.ram->host() + 0x100000, k.data(), k.size()), 0);
  EXPECT_EQ(g.U(0x101000, 1), 0xfau);
  EXPECT_EQ(g.U(0x101010, 8), 0u);
  EXPECT_EQ(g.U(0x10300f, 1), 0u);
  // CPU: 32-bit flat protected mode, paging off, EAX/EBX per the spec.
  EXPECT_EQ(cpu.regs[x86::RAX], 0x2badb002u);
  EXPECT_EQ(cpu.regs[x86::RBX], info.info_addr);
  EXPECT_EQ(cpu.rip, 0x101000u);
  EXPECT_TRUE(cpu.cr0 & x86::kCr0PE);
  EXPECT_FALSE(cpu.cr0 & x86::kCr0PG);
  EXPECT_FALSE(cpu.rflags & x86::kFlagIF);
  EXPECT_TRUE(cpu.seg[x86::CS].db());
  EXPECT_EQ(cpu.seg[x86::CS].limit, 0xffffffffu);
  EXPECT_EQ(cpu.seg[x86::CS].base, 0u);
  EXPECT_EQ(cpu.seg[x86::SS].attr & 0xf, 3u);  // read/write data
  // The information structure lies after the kernel.
  uint64_t mbi = info.info_addr;
  EXPECT_GE(mbi, info.load_end);
  uint32_t flags = uint32_t(g.U(mbi, 4));
  EXPECT_TRUE(flags & (1 << 0));  // mem_*
  EXPECT_TRUE(flags & (1 << 2));  // cmdline
  EXPECT_TRUE(flags & (1 << 3));  // mods
  EXPECT_TRUE(flags & (1 << 6));  // mmap
  EXPECT_EQ(g.U(mbi + 4, 4), 639u);
  EXPECT_EQ(g.U(mbi + 8, 4), (kRam - 0x100000) / 1024);
  EXPECT_EQ(g.Str(g.U(mbi + 16, 4)), "tiny.elf console=x");
  // Modules: page aligned, in order, with their strings.
  ASSERT_EQ(g.U(mbi + 20, 4), 2u);
  uint64_t mods_addr = g.U(mbi + 24, 4);
  uint64_t m0 = g.U(mods_addr, 4), m0_end = g.U(mods_addr + 4, 4);
  uint64_t m1 = g.U(mods_addr + 16, 4);
  EXPECT_EQ(m0 % 4096, 0u);
  EXPECT_EQ(m1 % 4096, 0u);
  EXPECT_EQ(m0_end - m0, 5000u);
  EXPECT_GE(m1, m0_end);
  EXPECT_EQ(g.U(m0 + 4999, 1), 0x11u);
  EXPECT_EQ(g.U(m1, 1), 0x22u);
  EXPECT_EQ(g.Str(g.U(mods_addr + 8, 4)), "mod1.bin a=1");
  EXPECT_EQ(g.Str(g.U(mods_addr + 24, 4)), "mod2");
  EXPECT_GE(m0, mbi);
  // Memory map mirrors the e820 map.
  uint64_t len = g.U(mbi + 44, 4), mm = g.U(mbi + 48, 4);
  ASSERT_EQ(len, 24 * g.e820.entries().size());
  for (size_t i = 0; i < g.e820.entries().size(); i++) {
    const auto& e = g.e820.entries()[i];
    EXPECT_EQ(g.U(mm + 24 * i, 4), 20u);
    EXPECT_EQ(g.U(mm + 24 * i + 4, 8), e.addr);
    EXPECT_EQ(g.U(mm + 24 * i + 12, 8), e.size);
    EXPECT_EQ(g.U(mm + 24 * i + 20, 4), e.type);
  }
}

TEST(Multiboot, AoutKludge) {
  Guest g;
  // Header at file offset 0x40 claims to live at 0x200040: the load starts at
  // file offset 0 = 0x200000; load 0x800 bytes, bss up to 0x201000.
  std::vector<uint8_t> b(0x1000, 0x90);
  PutMbHeader(b, 0x40, 0x10003);
  PutLe(b, 0x4c, 0x200040, 4);  // header_addr
  PutLe(b, 0x50, 0x200000, 4);  // load_addr
  PutLe(b, 0x54, 0x200800, 4);  // load_end_addr
  PutLe(b, 0x58, 0x201000, 4);  // bss_end_addr
  PutLe(b, 0x5c, 0x200100, 4);  // entry_addr
  std::memset(g.ram->host() + 0x200800, 0xcc, 0x800);
  x86::CpuState cpu;
  auto info = LoadMultibootImage(g.mem, g.e820, b, "aout", "aout", {}, &cpu);
  EXPECT_EQ(info.entry, 0x200100u);
  EXPECT_EQ(cpu.rip, 0x200100u);
  EXPECT_EQ(g.U(0x2007ff, 1), 0x90u);
  EXPECT_EQ(g.U(0x200800, 8), 0u);
  EXPECT_EQ(g.U(0x200fff, 1), 0u);
  EXPECT_EQ(info.load_end, 0x201000u);
  EXPECT_FALSE(g.U(info.info_addr, 4) & (1 << 3));  // no modules
  // load_end_addr beyond the file is refused.
  PutLe(b, 0x54, 0x210000, 4);
  PutMbHeader(b, 0x40, 0x10003);
  EXPECT_THROW(LoadMultibootImage(g.mem, g.e820, b, "aout", "aout", {}, &cpu), ConfigError);
  // A header_addr/load_addr pair that starts before the file is refused.
  PutLe(b, 0x54, 0x200800, 4);
  PutLe(b, 0x50, 0x100000, 4);
  EXPECT_THROW(LoadMultibootImage(g.mem, g.e820, b, "aout", "aout", {}, &cpu), ConfigError);
}

TEST(Multiboot, Elf64Kernel) {
  Guest g;
  std::vector<uint8_t> b(0x200, 0);
  std::memcpy(b.data(), "\x7f" "ELF", 4);
  b[4] = 2;
  b[5] = 1;
  PutLe(b, 24, 0x300010, 8);  // e_entry
  PutLe(b, 32, 64, 8);        // e_phoff
  PutLe(b, 54, 56, 2);
  PutLe(b, 56, 1, 2);
  PutLe(b, 64, 1, 4);          // PT_LOAD
  PutLe(b, 72, 0, 8);          // p_offset
  PutLe(b, 80, 0x300000, 8);   // p_vaddr
  PutLe(b, 88, 0x300000, 8);   // p_paddr
  PutLe(b, 96, 0x200, 8);      // p_filesz
  PutLe(b, 104, 0x200, 8);     // p_memsz
  PutMbHeader(b, 0x100, 0);
  x86::CpuState cpu;
  auto info = LoadMultibootImage(g.mem, g.e820, b, "k64", "k64", {}, &cpu);
  EXPECT_EQ(info.entry, 0x300010u);
  EXPECT_EQ(g.U(0x300100, 4), kMultibootHeaderMagic);
  // A segment outside the file is refused.
  PutLe(b, 96, 0x10000, 8);
  PutLe(b, 104, 0x10000, 8);
  EXPECT_THROW(LoadMultibootImage(g.mem, g.e820, b, "k64", "k64", {}, &cpu), ConfigError);
  // A segment outside guest RAM is refused.
  PutLe(b, 96, 0x200, 8);
  PutLe(b, 88, 0xfffff000ull, 8);
  EXPECT_THROW(LoadMultibootImage(g.mem, g.e820, b, "k64", "k64", {}, &cpu), ConfigError);
}

TEST(Multiboot, MissingOrBadHeaderRefused) {
  Guest g;
  x86::CpuState cpu;
  auto bad = TinyElf32(false);
  try {
    LoadMultibootImage(g.mem, g.e820, bad, "bad.elf", "", {}, &cpu);
    FAIL() << "accepted a bad checksum";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.elf"), std::string::npos) << e.what();
  }
  auto none = TinyElf32();
  PutLe(none, 0x60, 0, 4);
  EXPECT_FALSE(FindMultibootHeader(none, "none").has_value());
  try {
    LoadMultibootImage(g.mem, g.e820, none, "none.elf", "", {}, &cpu);
    FAIL() << "accepted a kernel without a header";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("no multiboot header"), std::string::npos) << e.what();
  }
  // A header beyond the first 8 KiB does not count.
  std::vector<uint8_t> late(0x3000, 0);
  PutMbHeader(late, 0x2000, 0);
  EXPECT_FALSE(FindMultibootHeader(late, "late").has_value());
  // Required features we do not know are refused.
  auto req = TinyElf32();
  PutMbHeader(req, 0x60, 0x8);
  EXPECT_THROW(FindMultibootHeader(req, "req"), ConfigError);
}

TEST(Multiboot, ModuleSpecParsing) {
  auto m = ParseMultibootModules("a.bin x=1 y,b.bin,c,,d.bin");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].path, "a.bin");
  EXPECT_EQ(m[0].cmdline, "a.bin x=1 y");
  EXPECT_EQ(m[1].path, "b.bin");
  EXPECT_EQ(m[2].path, "c,d.bin");
  EXPECT_TRUE(ParseMultibootModules("").empty());
}

// Random corruption of the ELF and program headers, and of a.out address fields:
// every outcome is a load or a ConfigError (run under ASan to see overreads).
TEST(Multiboot, CorruptedImagesNeverCrash) {
  Guest g;
  auto corrupt = [](std::mt19937& rng) {
    auto k = TinyElf32();
    bool aout = rng() % 2;
    if (aout) {
      PutMbHeader(k, 0x60, 0x10003);
      PutLe(k, 0x6c, 0x100060, 4);
      PutLe(k, 0x70, 0x100000, 4);
      PutLe(k, 0x74, 0, 4);
      PutLe(k, 0x78, 0, 4);
      PutLe(k, 0x7c, 0x101000, 4);
      for (int j = 0; j < 2; j++) k[0x6c + rng() % 20] = uint8_t(rng());
    } else {
      for (int j = 0; j < 3; j++) k[rng() % 0x54] = uint8_t(rng());
    }
    if (rng() % 4 == 0) k.resize(rng() % k.size());
    return k;
  };
  test::ExpectLoadsAndRefusals(1500, 99, corrupt, [&](const std::vector<uint8_t>& k) {
    x86::CpuState cpu;
    LoadMultibootImage(g.mem, g.e820, k, "fuzz", "fuzz", {}, &cpu);
  });
}

}  // namespace
}  // namespace emu::hw
