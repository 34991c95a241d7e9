// VDI (VirtualBox Disk Image) header, version 1.1, as laid out on disk.
//
// Layout (little endian): a 64-byte text banner, signature 0xbeda107f, version
// 0x00010001, the header size, image type (1 dynamic, 2 static), flags, a 256-byte
// description, the offsets of the block map and of the data area, a legacy
// geometry, the disk size, block size and counts, and four UUIDs (create, modify,
// link, parent). Parse() checks every field against the file it came from so
// that the driver can trust the numbers afterwards.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "block/block_driver.h"

namespace emu::block::vdi {

inline constexpr uint32_t kSignature = 0xbeda107f;
inline constexpr uint32_t kVersion11 = 0x00010001;
inline constexpr uint32_t kHeaderSize11 = 0x180;  // bytes from offset 0x40 ... as written by qemu
inline constexpr uint32_t kTypeDynamic = 1;
inline constexpr uint32_t kTypeStatic = 2;
inline constexpr uint32_t kBlockSize = 1u << 20;
inline constexpr uint32_t kUnallocated = 0xffffffff;
inline constexpr uint32_t kZeroBlock = 0xfffffffe;  // discarded: reads as zeros
inline constexpr size_t kHeaderBytes = 0x200;       // header area before the block map
inline constexpr size_t kOffBlocksAllocated = 0x184;  // fields the driver updates in place
inline constexpr size_t kOffUuidModify = 0x198;
// Just under 2^30 blocks of 1 MiB (about 1 PiB): the largest disk we create or open.
inline constexpr uint32_t kMaxBlocks = 0x3fffffff;

using Uuid = std::array<uint8_t, 16>;

struct Header {
  std::string text;  // banner, up to 64 bytes
  uint32_t signature = kSignature;
  uint32_t version = kVersion11;
  uint32_t header_size = kHeaderSize11;
  uint32_t image_type = kTypeDynamic;
  uint32_t image_flags = 0;
  uint32_t offset_bmap = 0;
  uint32_t offset_data = 0;
  uint32_t cylinders = 0, heads = 0, sectors = 0, sector_size = 512;
  uint64_t disk_size = 0;
  uint32_t block_size = kBlockSize;
  uint32_t block_extra = 0;
  uint32_t blocks_in_image = 0;
  uint32_t blocks_allocated = 0;
  Uuid uuid_create{}, uuid_modify{}, uuid_link{}, uuid_parent{};

  // Bytes [0, kHeaderBytes) of the image.
  void Serialize(uint8_t out[kHeaderBytes]) const;
  // Decodes and validates against `file_size`; the message names `path`.
  static Result<Header> Parse(const uint8_t* buf, size_t len, uint64_t file_size,
                              const std::string& path);
};

// A random (version 4) UUID.
Uuid RandomUuid();

}  // namespace emu::block::vdi
