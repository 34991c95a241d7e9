// The header of a hosted sparse extent ("KDMV", VMware Virtual Disk Format 1.1,
// section "Hosted Sparse Extent Header"), 512 bytes at sector 0 and, for
// stream-optimized extents whose grain directory is written last, again as a
// footer near the end of the file.
#pragma once

#include <cstdint>
#include <string>

#include "block/block_driver.h"

namespace emu::block::vmdk {

inline constexpr uint32_t kMagic = 0x564d444b;  // "KDMV" read as little endian
// ESX sparse extents (VMFSSPARSE): "COWD", a 2048-byte header, fixed 4096-entry
// grain tables, one grain directory, and a free-sector pointer we keep current.
inline constexpr uint32_t kCowdMagic = 0x44574f43;
inline constexpr uint64_t kCowdHeaderBytes = 2048;
inline constexpr uint32_t kCowdGtes = 4096;
inline constexpr uint64_t kCowdFreeSectorOffset = 28;
inline constexpr uint64_t kSector = 512;
inline constexpr uint64_t kGdAtEnd = ~uint64_t(0);

// Header flag bits.
inline constexpr uint32_t kFlagNewlineTest = 1u << 0;
inline constexpr uint32_t kFlagRedundantGd = 1u << 1;
inline constexpr uint32_t kFlagZeroedGrainGte = 1u << 2;
inline constexpr uint32_t kFlagCompressed = 1u << 16;
inline constexpr uint32_t kFlagMarkers = 1u << 17;

inline constexpr uint16_t kCompressDeflate = 1;

// Bounds on what we accept: 64 TiB of disk (VMware's own limit is 62 TB), grains
// of at most 32 MiB, grain tables of at most 4096 entries, a grain directory of at
// most 64 MiB in memory.
inline constexpr uint64_t kMaxSectors = uint64_t(1) << 37;
inline constexpr uint64_t kMaxGrainSectors = uint64_t(1) << 16;
inline constexpr uint32_t kMaxGtes = 4096;
inline constexpr uint64_t kMaxGdBytes = uint64_t(64) << 20;

// Marker types of stream-optimized extents (a marker with size 0 is metadata).
inline constexpr uint32_t kMarkerEos = 0;
inline constexpr uint32_t kMarkerGt = 1;
inline constexpr uint32_t kMarkerGd = 2;
inline constexpr uint32_t kMarkerFooter = 3;

struct SparseHeader {
  uint32_t version = 1;
  uint32_t flags = kFlagNewlineTest | kFlagRedundantGd;
  uint64_t capacity = 0;     // sectors
  uint64_t grain_size = 128;  // sectors
  uint64_t desc_offset = 0;  // sectors
  uint64_t desc_size = 0;    // sectors
  uint32_t num_gtes = 512;
  uint64_t rgd_offset = 0;  // sectors
  uint64_t gd_offset = 0;   // sectors
  uint64_t overhead = 0;    // sectors
  uint8_t unclean = 0;
  uint16_t compress = 0;
  bool cowd = false;  // came from a COWD header

  bool compressed() const { return flags & kFlagCompressed; }
  bool markers() const { return flags & kFlagMarkers; }
  bool redundant() const { return (flags & kFlagRedundantGd) && rgd_offset != 0; }
  uint64_t grains() const { return (capacity + grain_size - 1) / grain_size; }
  uint64_t gd_entries() const { return (grains() + num_gtes - 1) / num_gtes; }

  void Serialize(uint8_t out[kSector]) const;
  // Decodes the 512 bytes and checks the fields that do not depend on where the
  // grain directory is (a stream-optimized header may say "at the end").
  static Result<SparseHeader> Parse(const uint8_t* buf, const std::string& path);
  // The same fields from a COWD header (kCowdHeaderBytes at `buf`).
  static Result<SparseHeader> ParseCowd(const uint8_t* buf, const std::string& path);
  // Checks the offsets against the file size, once the real gd_offset is known.
  Status CheckLayout(uint64_t file_size, const std::string& path) const;
};

}  // namespace emu::block::vmdk
