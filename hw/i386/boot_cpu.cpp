#include "hw/i386/boot_cpu.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "hw/core/device.h"

namespace emu::hw {

namespace {

// GDT descriptors: base 0, limit 0xfffff with 4 KiB granularity.
constexpr uint64_t kCode32 = 0x00cf9b000000ffffull;  // execute/read, D=1
constexpr uint64_t kCode64 = 0x00af9b000000ffffull;  // execute/read, L=1
constexpr uint64_t kData = 0x00cf93000000ffffull;    // read/write, B=1

// Hidden-part attributes in CpuState's layout (descriptor bits 40-47, 52-55).
constexpr uint16_t kAttrCode32 = 0xc09b;
constexpr uint16_t kAttrCode64 = 0xa09b;
constexpr uint16_t kAttrData = 0xc093;

void WriteGdt(AddressSpace& memory, bool long_mode) {
  uint64_t gdt[4] = {0, 0, long_mode ? kCode64 : kCode32, kData};
  uint8_t bytes[sizeof gdt];
  for (size_t i = 0; i < 4; i++)
    for (int b = 0; b < 8; b++) bytes[i * 8 + b] = uint8_t(gdt[i] >> (8 * b));
  LoadIntoRam(memory, kBootGdtAddr, bytes, sizeof bytes, "boot GDT");
}

void SetSegments(x86::CpuState& cpu, uint16_t code_attr) {
  for (int s = 0; s < x86::kNumSegs; s++) {
    auto& seg = cpu.seg[s];
    seg.selector = kBootDs;
    seg.base = 0;
    seg.limit = 0xffffffff;
    seg.attr = kAttrData;
  }
  cpu.seg[x86::CS].selector = kBootCs;
  cpu.seg[x86::CS].attr = code_attr;
  cpu.gdtr.base = kBootGdtAddr;
  cpu.gdtr.limit = 4 * 8 - 1;
  cpu.idtr.base = 0;
  cpu.idtr.limit = 0;
  cpu.rflags = 0x2;  // interrupts off
  // Firmware would have enabled the MTRRs with write-back as the default type;
  // with them off all memory is uncached (and a KVM guest crawls).
  cpu.mtrr_def_type = 0xc06;
  cpu.regs[x86::RSP] = kBootStackTop;
}

}  // namespace

std::vector<uint8_t> ReadWholeFile(const std::string& path, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ConfigError("cannot open " + what + " '" + path + "': " + std::strerror(errno));
  std::vector<uint8_t> data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) throw ConfigError("cannot read " + what + " '" + path + "'");
  return data;
}

bool IsGuestRam(AddressSpace& memory, uint64_t addr, uint64_t len) {
  if (len == 0) return true;
  if (addr + len < addr) return false;
  const FlatView& v = memory.view();
  for (uint64_t cur = addr, end = addr + len; cur < end;) {
    const FlatRange* r = v.Find(cur);
    if (!r || !r->is_ram() || r->region->read_only()) return false;
    cur = r->start + r->size;
    if (cur == 0) break;
  }
  return true;
}

void LoadIntoRam(AddressSpace& memory, uint64_t addr, const uint8_t* data, uint64_t len,
                 const std::string& what, uint64_t zero_len) {
  if (len + zero_len < len || !IsGuestRam(memory, addr, len + zero_len)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " (0x%llx bytes at 0x%llx) does not fit in guest RAM",
                  (unsigned long long)(len + zero_len), (unsigned long long)addr);
    throw ConfigError(what + buf);
  }
  if (len) memory.Write(addr, data, len);
  static const uint8_t kZero[4096] = {};
  for (uint64_t done = 0; done < zero_len;) {
    uint64_t n = std::min<uint64_t>(sizeof kZero, zero_len - done);
    memory.Write(addr + len + done, kZero, n);
    done += n;
  }
}

void SetupFlat32(AddressSpace& memory, x86::CpuState& cpu, uint64_t entry) {
  WriteGdt(memory, false);
  SetSegments(cpu, kAttrCode32);
  cpu.cr0 = x86::kCr0PE | x86::kCr0ET | x86::kCr0NE;
  cpu.cr3 = 0;
  cpu.cr4 = 0;
  cpu.efer = 0;
  cpu.rip = entry;
}

void SetupLongMode(AddressSpace& memory, x86::CpuState& cpu, uint64_t entry) {
  WriteGdt(memory, true);
  SetSegments(cpu, kAttrCode64);
  // PML4[0] -> PDPT; PDPT[0..3] -> PD0..PD3; PDi[j] maps 2 MiB page i*512+j.
  constexpr uint64_t kPresentRw = 0x3, kLarge = 0x80;
  std::vector<uint8_t> pt(6 * 4096, 0);
  auto put = [&](size_t off, uint64_t v) {
    for (int b = 0; b < 8; b++) pt[off + b] = uint8_t(v >> (8 * b));
  };
  put(0, (kBootPageTableAddr + 0x1000) | kPresentRw);
  for (uint64_t i = 0; i < 4; i++) {
    put(0x1000 + i * 8, (kBootPageTableAddr + 0x2000 + i * 0x1000) | kPresentRw);
    for (uint64_t j = 0; j < 512; j++)
      put(0x2000 + i * 0x1000 + j * 8, ((i * 512 + j) << 21) | kPresentRw | kLarge);
  }
  LoadIntoRam(memory, kBootPageTableAddr, pt.data(), pt.size(), "boot page tables");
  cpu.cr0 = x86::kCr0PE | x86::kCr0ET | x86::kCr0NE | x86::kCr0PG;
  cpu.cr3 = kBootPageTableAddr;
  cpu.cr4 = x86::kCr4PAE;
  cpu.efer = x86::kEferLME | x86::kEferLMA;
  cpu.rip = entry;
}

}  // namespace emu::hw
