// File backends: host files and block devices (pread/pwrite, sparse-aware,
// OFD-locked, with cache modes) and an in-memory file for tests and fuzzing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "block/block_driver.h"

namespace emu::block {

struct FileOpenOptions {
  bool read_only = false;
  CacheMode cache = CacheMode::kWriteback;
  bool lock = true;
  bool force_share = false;
  bool create = false;  // O_CREAT|O_TRUNC (image creation)
};

// Opens a host file or block device. Errors name the file: missing file,
// permission denied, lock held by another process, O_DIRECT unsupported.
Result<std::unique_ptr<File>> OpenHostFile(const std::string& path, const FileOpenOptions& o);

// A growable buffer; `name` is what error messages call it.
std::unique_ptr<File> NewMemFile(std::vector<uint8_t> data = {}, std::string name = "memory",
                                 bool read_only = false);

// Formats a Status message "path: what: strerror".
Status ErrnoStatus(int err, const std::string& path, const std::string& what);

}  // namespace emu::block
