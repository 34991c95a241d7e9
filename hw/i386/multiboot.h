// Multiboot (version 1) kernels for -kernel, as the Multiboot Specification 0.6.96
// describes the boot loader's side: find the header in the first 8 KiB, load the
// ELF program headers (or the a.out-kludge address range), load modules, build
// the boot information structure, and enter in 32-bit protected mode with
// EAX = 0x2BADB002 and EBX = the information structure.
//
// Modules come from -initrd as QEMU takes them: "file1 args,file2 args" (",,"
// stands for a literal comma); each module's string is its whole spec.
//
// Placement: the information structure, strings and memory map go to the first
// page after the kernel's highest loaded byte, the modules after them, each page
// aligned; everything must lie in RAM below the end of low memory.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "hw/core/memory.h"
#include "hw/i386/e820.h"
#include "target-x86/cpu_state.h"

namespace emu::hw {

constexpr uint32_t kMultibootHeaderMagic = 0x1badb002;
constexpr uint32_t kMultibootBootMagic = 0x2badb002;
constexpr size_t kMultibootSearch = 8192;

struct MultibootHeader {
  size_t offset = 0;  // in the file
  uint32_t flags = 0;
  bool aout_kludge = false;  // flag bit 16: the address fields below are valid
  uint32_t header_addr = 0, load_addr = 0, load_end_addr = 0, bss_end_addr = 0, entry_addr = 0;
};

// Finds a header with a valid checksum. Returns nullopt when there is no header
// magic at all; throws ConfigError "kernel '<name>': ..." when the only headers
// found are broken (bad checksum, truncated) or demand unsupported features.
std::optional<MultibootHeader> FindMultibootHeader(const std::vector<uint8_t>& image,
                                                   const std::string& name);

struct MultibootModule {
  std::string path;     // file to load
  std::string cmdline;  // the module's string: the whole spec ("path args")
};
// Splits an -initrd value into modules ("a b,c" -> {a, "a b"}, {c, "c"}).
std::vector<MultibootModule> ParseMultibootModules(const std::string& spec);

struct MultibootBootInfo {
  uint64_t load_start = 0, load_end = 0;  // [lowest, highest) byte the kernel occupies
  uint64_t entry = 0;
  uint64_t info_addr = 0;                 // the multiboot information structure (EBX)
  std::vector<std::pair<uint64_t, uint64_t>> modules;  // [start, end) of each
};

struct MultibootModuleData {
  std::vector<uint8_t> data;
  std::string cmdline;
};

// Loads an image held in memory. `cmdline` is the kernel's full command line
// (QEMU passes "<kernel path> <-append>").
MultibootBootInfo LoadMultibootImage(AddressSpace& memory, const E820Map& e820,
                                     const std::vector<uint8_t>& kernel,
                                     const std::string& kernel_name, const std::string& cmdline,
                                     const std::vector<MultibootModuleData>& modules,
                                     x86::CpuState* cpu);

// Reads the kernel and the modules named by `initrd_spec`, then loads them.
MultibootBootInfo LoadMultiboot(AddressSpace& memory, const E820Map& e820,
                                const std::string& kernel_path, const std::string& append,
                                const std::string& initrd_spec, x86::CpuState* cpu);

}  // namespace emu::hw
