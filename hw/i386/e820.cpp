#include "hw/i386/e820.h"

#include <algorithm>
#include <stdexcept>

namespace emu::hw {

PcRamLayout PcRamLayout::For(uint64_t ram_size) {
  PcRamLayout l;
  uint64_t low_max = ram_size >= kPcLowMemMax ? kPcLowMemLarge : kPcLowMemMax;
  l.below_4g = std::min(ram_size, low_max);
  l.above_4g = ram_size - l.below_4g;
  return l;
}

void E820Map::Set(uint64_t addr, uint64_t size, uint32_t type) {
  if (size == 0) return;
  if (addr + size < addr) throw std::logic_error("e820: range wraps around");
  uint64_t end = addr + size;
  std::vector<E820Entry> out;
  for (const auto& e : entries_) {
    uint64_t e_end = e.addr + e.size;
    if (e_end <= addr || e.addr >= end) {
      out.push_back(e);
      continue;
    }
    if (e.addr < addr) out.push_back({e.addr, addr - e.addr, e.type});
    if (e_end > end) out.push_back({end, e_end - end, e.type});
  }
  out.push_back({addr, size, type});
  std::sort(out.begin(), out.end(),
            [](const E820Entry& a, const E820Entry& b) { return a.addr < b.addr; });
  entries_.clear();
  for (const auto& e : out) {
    if (!entries_.empty()) {
      auto& last = entries_.back();
      if (last.type == e.type && last.addr + last.size == e.addr) {
        last.size += e.size;
        continue;
      }
    }
    entries_.push_back(e);
  }
}

std::vector<uint8_t> E820Map::Serialize() const {
  std::vector<uint8_t> out(entries_.size() * 20);
  uint8_t* p = out.data();
  for (const auto& e : entries_) {
    for (int i = 0; i < 8; i++) p[i] = uint8_t(e.addr >> (8 * i));
    for (int i = 0; i < 8; i++) p[8 + i] = uint8_t(e.size >> (8 * i));
    for (int i = 0; i < 4; i++) p[16 + i] = uint8_t(e.type >> (8 * i));
    p += 20;
  }
  return out;
}

uint64_t E820Map::RamEndFrom(uint64_t addr) const {
  for (const auto& e : entries_)
    if (e.type == kE820Ram && addr >= e.addr && addr - e.addr < e.size) return e.addr + e.size;
  return 0;
}

E820Map BuildPcE820(uint64_t ram_size, uint64_t acpi_size) {
  PcRamLayout l = PcRamLayout::For(ram_size);
  if (l.below_4g < 2 * kPcHighMemStart)
    throw std::invalid_argument("e820: a PC needs at least 2 MiB of RAM");
  E820Map m;
  m.Set(0, kPcEbdaStart, kE820Ram);
  m.Set(kPcEbdaStart, 0xa0000 - kPcEbdaStart, kE820Reserved);
  m.Set(kPcBiosAreaStart, kPcHighMemStart - kPcBiosAreaStart, kE820Reserved);
  m.Set(kPcHighMemStart, l.below_4g - kPcHighMemStart, kE820Ram);
  if (acpi_size) {
    uint64_t base = AcpiRamArea(ram_size, acpi_size);
    m.Set(base, l.below_4g - base, kE820Acpi);
  }
  if (l.above_4g) m.Set(k4GiB, l.above_4g, kE820Ram);
  return m;
}

uint64_t AcpiRamArea(uint64_t ram_size, uint64_t size) {
  PcRamLayout l = PcRamLayout::For(ram_size);
  if (size > l.below_4g - 2 * kPcHighMemStart)
    throw std::invalid_argument("e820: ACPI area larger than low RAM");
  return (l.below_4g - size) & ~0xfffull;
}

}  // namespace emu::hw
