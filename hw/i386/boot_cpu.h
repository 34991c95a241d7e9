// Helpers shared by the direct-boot loaders (Linux, multiboot): loading bytes
// into guest RAM with bounds checks, reading whole files, and the initial CPU
// state of a protected-mode or long-mode entry.
//
// Low memory used by the loaders (below the EBDA, above the real-mode IVT/BDA):
//   0x1000        GDT: 0x10 = flat code (__BOOT_CS), 0x18 = flat data (__BOOT_DS)
//   0x2000-0x7fff identity page tables for the low 4 GiB (long mode only)
//   0x10000       stack top (grows down; the entry code may replace it)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/core/memory.h"
#include "target-x86/cpu_state.h"

namespace emu::hw {

constexpr uint64_t kBootGdtAddr = 0x1000;
constexpr uint64_t kBootPageTableAddr = 0x2000;  // PML4, PDPT, 4 PDs
constexpr uint64_t kBootStackTop = 0x10000;
constexpr uint16_t kBootCs = 0x10;
constexpr uint16_t kBootDs = 0x18;

// Reads a whole file; throws ConfigError "<what> '<path>': <reason>".
std::vector<uint8_t> ReadWholeFile(const std::string& path, const std::string& what);

// True when [addr, addr+len) is writable guest RAM (no wrap, no MMIO, no ROM).
bool IsGuestRam(AddressSpace& memory, uint64_t addr, uint64_t len);

// Copies `len` bytes to guest RAM at `addr` and zeroes `zero_len` more after them.
// Throws ConfigError naming `what` when the range is not RAM.
void LoadIntoRam(AddressSpace& memory, uint64_t addr, const uint8_t* data, uint64_t len,
                 const std::string& what, uint64_t zero_len = 0);

// 32-bit protected mode, paging off: flat 4 GiB CS (0x10) and DS/ES/FS/GS/SS
// (0x18), GDT at kBootGdtAddr, interrupts off, rip = entry.
void SetupFlat32(AddressSpace& memory, x86::CpuState& cpu, uint64_t entry);

// 64-bit mode: like SetupFlat32 but with a 64-bit CS, PAE paging on through
// identity page tables (2 MiB pages) covering the low 4 GiB, EFER.LME/LMA.
void SetupLongMode(AddressSpace& memory, x86::CpuState& cpu, uint64_t entry);

}  // namespace emu::hw
