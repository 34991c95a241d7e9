// The "etc/table-loader" command list firmware (SeaBIOS) runs to install ACPI
// tables it received as fw_cfg files: allocate each file in guest memory, patch
// pointers between files with the final addresses, then fix checksums.
//
// Each command is 128 bytes, little-endian: u32 command, then
//   1 ALLOCATE     char file[56]; u32 align; u8 zone (1 = high memory, 2 = F segment)
//   2 ADD_POINTER  char dest[56]; char src[56]; u32 offset; u8 size
//                  (the size-byte value at dest+offset holds an offset into src;
//                   the loader adds src's address to it)
//   3 ADD_CHECKSUM char file[56]; u32 offset; u32 start; u32 length
//                  (byte at offset -= sum of bytes [start, start+length))
//
// Execute() does the same in-process, so a directly booted guest gets tables
// produced by exactly the code path SeaBIOS sees.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace emu::hw {

class BiosLinker {
 public:
  enum Zone : uint8_t { kZoneHigh = 1, kZoneFseg = 2 };
  enum Command : uint32_t { kAllocate = 1, kAddPointer = 2, kAddChecksum = 3 };

  void Allocate(const std::string& file, uint32_t align, Zone zone);
  void AddPointer(const std::string& dest, uint32_t offset, uint8_t size, const std::string& src);
  void AddChecksum(const std::string& file, uint32_t offset, uint32_t start, uint32_t length);

  std::vector<uint8_t> Serialize() const;

  // Chooses a guest address for a file being allocated.
  using Placer = std::function<uint64_t(const std::string& file, uint32_t align, Zone zone,
                                        size_t size)>;
  // Runs the commands over `files` (patched in place) and returns each file's
  // address. Throws std::runtime_error on a command that names an unknown file
  // or points outside one.
  std::map<std::string, uint64_t> Execute(std::map<std::string, std::vector<uint8_t>>& files,
                                          const Placer& place) const;

 private:
  struct Cmd {
    Command command;
    std::string file, src;
    uint32_t align_or_offset = 0;
    uint32_t start = 0, length = 0;
    uint8_t zone_or_size = 0;
  };
  std::vector<Cmd> cmds_;
};

}  // namespace emu::hw
