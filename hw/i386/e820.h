// The PC's physical memory map (BIOS INT 15h E820 style) for a given RAM size.
//
// RAM below 4 GiB ends where the PCI hole begins: at 3.5 GiB (0xe0000000) for
// smaller machines, and at 3 GiB when the machine has 3.5 GiB or more -- the rest
// of RAM is moved above 4 GiB. Low RAM has the usual holes of a PC: the EBDA at
// 0x9fc00, VGA memory and option ROMs at 0xa0000-0xeffff, the BIOS at 0xf0000.
//
// One map is serialized two ways with the same 20-byte entry layout
// {u64 addr, u64 size, u32 type}, little-endian: as fw_cfg's "etc/e820" file for
// SeaBIOS, and as boot_params.e820_table for a directly booted Linux.
#pragma once

#include <cstdint>
#include <vector>

namespace emu::hw {

enum E820Type : uint32_t {
  kE820Ram = 1,
  kE820Reserved = 2,
  kE820Acpi = 3,  // ACPI tables, reclaimable once read
  kE820Nvs = 4,
  kE820Unusable = 5,
};

struct E820Entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  bool operator==(const E820Entry&) const = default;
};

constexpr uint64_t kPcEbdaStart = 0x9fc00;       // 1 KiB extended BIOS data area
constexpr uint64_t kPcBiosAreaStart = 0xf0000;   // system BIOS (reserved)
constexpr uint64_t kPcHighMemStart = 0x100000;   // 1 MiB
constexpr uint64_t kPcLowMemMax = 0xe0000000;    // start of the PCI hole
constexpr uint64_t kPcLowMemLarge = 0xc0000000;  // RAM below 4 GiB on >= 3.5 GiB machines
constexpr uint64_t k4GiB = 1ull << 32;

// How a RAM size splits around the PCI hole.
struct PcRamLayout {
  uint64_t below_4g;  // RAM at [0, below_4g)
  uint64_t above_4g;  // RAM at [4 GiB, 4 GiB + above_4g)
  static PcRamLayout For(uint64_t ram_size);
};

class E820Map {
 public:
  // Marks [addr, addr+size) as `type`, replacing whatever the range was before
  // (entries are split as needed). Adjacent entries of one type are merged.
  void Set(uint64_t addr, uint64_t size, uint32_t type);
  const std::vector<E820Entry>& entries() const { return entries_; }
  // 20 bytes per entry, little-endian.
  std::vector<uint8_t> Serialize() const;
  // End of the RAM entry that contains `addr` (0 when addr is not RAM).
  uint64_t RamEndFrom(uint64_t addr) const;

 private:
  std::vector<E820Entry> entries_;  // sorted, non-overlapping
};

// The full PC map: RAM [0, EBDA), EBDA reserved, BIOS area reserved, RAM from
// 1 MiB to the top of low RAM, RAM above 4 GiB. When `acpi_size` is non-zero the
// last `acpi_size` bytes of low RAM are typed ACPI (tables placed there for a
// directly booted kernel; see AcpiRamArea()).
E820Map BuildPcE820(uint64_t ram_size, uint64_t acpi_size = 0);

// Where a directly booted guest's ACPI tables go: the top `size` bytes of low RAM.
uint64_t AcpiRamArea(uint64_t ram_size, uint64_t size);

}  // namespace emu::hw
