// The VMDK descriptor: a small text file (or a text area inside a sparse extent)
// naming the disk's extents, its content ID and the disk database (ddb.*).
//
//   # Disk DescriptorFile
//   version=1
//   CID=fffffffe
//   parentCID=ffffffff
//   createType="monolithicFlat"
//   RW 10240 FLAT "disk-flat.vmdk" 0
//   ddb.adapterType = "ide"
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "block/block_driver.h"

namespace emu::block::vmdk {

// The largest descriptor we read (real ones are a few hundred bytes).
inline constexpr uint64_t kMaxDescriptorBytes = 1 << 20;

struct ExtentDesc {
  enum Access { kRW, kRdOnly, kNoAccess } access = kRW;
  uint64_t sectors = 0;
  std::string type;  // SPARSE, FLAT, ZERO, VMFS, VMFSSPARSE, ...
  std::string file;  // as written, relative to the descriptor's folder
  uint64_t offset = 0;  // sectors, FLAT/VMFS only
};

struct Descriptor {
  int version = 1;
  uint32_t cid = 0;
  uint32_t parent_cid = 0xffffffff;
  std::string create_type;
  std::string parent_hint;  // parentFileNameHint
  std::vector<ExtentDesc> extents;
  std::vector<std::pair<std::string, std::string>> ddb;  // in file order, unquoted
};

// Parses descriptor text; errors name `path` and the offending line.
Result<Descriptor> ParseDescriptor(const std::string& text, const std::string& path);
// The text qemu-img writes for `d` (same layout, so byte-comparable).
std::string FormatDescriptor(const Descriptor& d);

// Whether the first bytes of a file look like a descriptor.
bool LooksLikeDescriptor(const uint8_t* p, size_t len);

}  // namespace emu::block::vmdk
