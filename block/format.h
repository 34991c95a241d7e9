// Image formats: probing, opening and creating. Each format provides one
// FormatInfo; block/format.cpp (owned by the block core) keeps the table.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "block/block_driver.h"

namespace emu::block {

struct CreateOptions {
  uint64_t size = 0;
  // -o key=value pairs as qemu-img takes them (cluster_size, compat, subformat, ...).
  std::map<std::string, std::string> opts;
};

struct FormatInfo {
  std::string name;  // "raw", "qcow2", "vdi", "vmdk"
  // Score 0..100 that `header` (the first bytes of the file, up to 4 KiB) is this
  // format; raw answers 1 for anything.
  std::function<int(const uint8_t* header, size_t len, const std::string& path)> probe;
  std::function<Result<std::unique_ptr<BlockDriver>>(std::unique_ptr<File>, const OpenOptions&)>
      open;
  std::function<Status(const std::string& path, const CreateOptions&)> create;
};

// Per-format descriptors (defined in each format's folder).
const FormatInfo& RawFormat();
const FormatInfo& Qcow2Format();
const FormatInfo& VdiFormat();
const FormatInfo& VmdkFormat();

}  // namespace emu::block
