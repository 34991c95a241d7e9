// Direct Linux boot (-kernel/-initrd/-append) by the x86 boot protocol
// (Documentation/x86/boot.rst): the bzImage's protected-mode kernel goes to
// 0x100000, the initrd as high as allowed, then a zero page (struct boot_params)
// with the setup header, command line, e820 map and RSDP address, and a CPU state
// for the 64-bit entry (startup_64, long mode with identity paging) or the 32-bit
// protected-mode entry. The real-mode setup code is never run.
//
// Guest memory used besides the kernel and initrd (see also boot_cpu.h):
//   0x10000  zero page (4 KiB)
//   0x20000  command line
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/core/memory.h"
#include "hw/i386/e820.h"
#include "target-x86/cpu_state.h"

namespace emu::hw {

constexpr uint64_t kLinuxZeroPage = 0x10000;
constexpr uint64_t kLinuxCmdline = 0x20000;
constexpr uint64_t kLinuxCmdlineMax = 0x70000;  // the area ends below 0x90000
constexpr uint64_t kLinuxDefaultLoadAddr = 0x100000;

// Setup-header fields (boot.rst "The real-mode kernel header"), as read from the
// image; every offset read is bounded by the file size.
struct LinuxSetupHeader {
  uint8_t setup_sects = 0;   // 0 means 4
  uint32_t syssize = 0;      // protected-mode size in 16-byte units
  uint16_t version = 0;      // boot protocol, e.g. 0x020f
  uint8_t loadflags = 0;
  uint32_t initrd_addr_max = 0;
  uint32_t kernel_alignment = 0;
  bool relocatable = false;
  uint16_t xloadflags = 0;
  uint32_t cmdline_size = 0;
  uint64_t pref_address = 0;
  uint32_t init_size = 0;
  size_t header_end = 0;     // 0x202 + byte at 0x201: end of the header to copy

  size_t setup_size() const { return size_t((setup_sects ? setup_sects : 4) + 1) * 512; }
  bool has_64bit_entry() const { return xloadflags & 1; }  // XLF_KERNEL_64

  // Throws ConfigError "kernel '<name>': <problem>" for a malformed or unsupported
  // image (not a bzImage, protocol older than 2.06, truncated, fields that point
  // outside the file).
  static LinuxSetupHeader Parse(const std::vector<uint8_t>& image, const std::string& name);
};

struct LinuxBootOptions {
  std::string cmdline;
  bool entry64 = true;          // false: 32-bit protected-mode entry at code32_start
  // With entry64, a kernel without a 64-bit entry (XLF_KERNEL_64; 32-bit kernels,
  // memtest86+ ia32) is entered through its 32-bit entry instead of refused.
  bool fallback_to_32bit = true;
  uint64_t acpi_rsdp_addr = 0;  // boot_params.acpi_rsdp_addr (0: none)
  bool use_pref_address = false;  // load at pref_address instead of 0x100000
  bool vga_text = true;         // describe an 80x25 VGA text console in screen_info
};

struct LinuxBootInfo {
  LinuxSetupHeader header;
  uint64_t kernel_addr = 0, kernel_size = 0;
  uint64_t initrd_addr = 0, initrd_size = 0;
  uint64_t cmdline_addr = 0, zero_page = 0;
  uint64_t entry = 0;
  bool entry64 = false;  // which entry `entry` is
};

// Loads an image held in memory. `e820` is the guest's map (its RAM entries bound
// where things may go; ACPI areas are avoided). Throws ConfigError naming
// `kernel_name`/`initrd_name` when something does not fit or is malformed.
LinuxBootInfo LoadLinuxImage(AddressSpace& memory, const E820Map& e820,
                             const std::vector<uint8_t>& kernel, const std::string& kernel_name,
                             const std::vector<uint8_t>& initrd, const std::string& initrd_name,
                             const LinuxBootOptions& options, x86::CpuState* cpu);

// Reads the files and loads them (initrd_path may be empty).
LinuxBootInfo LoadLinux(AddressSpace& memory, const E820Map& e820, const std::string& kernel_path,
                        const std::string& initrd_path, const LinuxBootOptions& options,
                        x86::CpuState* cpu);

// True when the file starts like a Linux bzImage ("HdrS" at 0x202), so that the
// machine can choose between this loader and multiboot.
bool LooksLikeLinuxKernel(const std::vector<uint8_t>& image);

}  // namespace emu::hw
