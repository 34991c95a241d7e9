// Opening and creating images by path, and the optional abilities a format may
// offer beyond BlockDriver (info, check, resize, snapshots, backing files).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "block/block_driver.h"
#include "block/format.h"

namespace emu::block {

// Every known format, in probe order (block/format.cpp holds the table).
const std::vector<const FormatInfo*>& AllFormats();
const FormatInfo* FindFormat(const std::string& name);  // nullptr if unknown

// The format whose probe scores highest for the first bytes of `f` (raw if none).
const FormatInfo* ProbeFormat(File* f);

// Opens an image by path: probes (or checks opts.format against the header),
// locks, opens the backing chain, and with opts.snapshot puts a temporary qcow2
// overlay on top (in /var/tmp, unlinked at once so it vanishes on exit).
Result<std::unique_ptr<BlockDriver>> OpenImage(const std::string& path, const OpenOptions& opts);
// Same over an already opened file (in-memory images for tests and fuzzing).
Result<std::unique_ptr<BlockDriver>> OpenImageFile(std::unique_ptr<File> file,
                                                   const OpenOptions& opts);

// Creates an image of `format` at `path`; unknown -o keys are refused by name.
Status CreateImage(const std::string& format, const std::string& path, const CreateOptions& c);

// Parses "10G", "512", "1.5M", "64k" as qemu-img does (binary suffixes).
bool ParseSize(const std::string& s, uint64_t* out);

struct SnapshotInfo {
  std::string id;
  std::string name;
  uint64_t vm_state_size = 0;
  uint32_t date_sec = 0;
  uint32_t date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint64_t icount = UINT64_MAX;  // absent
};

struct CheckResult {
  int64_t corruptions = 0, leaks = 0, check_errors = 0;
  int64_t corruptions_fixed = 0, leaks_fixed = 0;
  uint64_t image_end_offset = 0;
  uint64_t total_clusters = 0, allocated_clusters = 0, fragmented_clusters = 0,
           compressed_clusters = 0;
  std::vector<std::string> messages;  // one line per problem, as qemu-img prints them
};

// A value of the format-specific part of `info`; JSON-able.
struct InfoValue {
  enum Kind { kString, kInt, kBool, kJson } kind = kString;
  std::string s;  // kString: the text; kJson: a JSON value (nested lists/objects)
  int64_t i = 0;
  bool b = false;
  static InfoValue Str(std::string v) { return {kString, std::move(v), 0, false}; }
  static InfoValue Int(int64_t v) { return {kInt, "", v, false}; }
  static InfoValue Bool(bool v) { return {kBool, "", 0, v}; }
  // e.g. R"([{"virtual-size": 4194304, "filename": "x.vmdk"}])" for vmdk extents;
  // emu-img embeds it in --output=json and prints it nested like qemu-img.
  static InfoValue Json(std::string v) { return {kJson, std::move(v), 0, false}; }
};

struct ImageInfo {
  uint64_t cluster_size = 0;  // 0: the format has none
  std::string backing_file;   // as stored in the image
  std::string backing_full;   // resolved path
  std::string backing_format;
  bool dirty = false;
  bool has_dirty_flag = false;
  // Ordered key/value pairs of "format-specific" -> "data".
  std::vector<std::pair<std::string, InfoValue>> specific;
};

// Optional abilities; a driver implements the interface and overrides what it
// supports. Callers get it with dynamic_cast<ImageOps*>(driver).
class ImageOps {
 public:
  virtual ~ImageOps() = default;
  virtual void GetInfo(ImageInfo* info) {}
  // Returns ENOTSUP if the format has no consistency check.
  virtual Status Check(bool fix_leaks, bool fix_errors, CheckResult* r) {
    return Status::Error(ENOTSUP, "This image format does not support checks");
  }
  virtual Status Resize(uint64_t new_size, bool allow_shrink) {
    return Status::Error(ENOTSUP, "This image format does not support resize");
  }
  virtual Status ListSnapshots(std::vector<SnapshotInfo>* out) {
    return Status::Error(ENOTSUP, "This image format does not support snapshots");
  }
  virtual Status CreateSnapshot(const std::string& name) {
    return Status::Error(ENOTSUP, "This image format does not support snapshots");
  }
  virtual Status ApplySnapshot(const std::string& name_or_id) {
    return Status::Error(ENOTSUP, "This image format does not support snapshots");
  }
  virtual Status DeleteSnapshot(const std::string& name_or_id) {
    return Status::Error(ENOTSUP, "This image format does not support snapshots");
  }
  // Writes whole clusters compressed (convert -c). len must be cluster-aligned.
  virtual Status WriteCompressed(uint64_t off, const void* buf, uint64_t len) {
    return Status::Error(ENOTSUP, "This image format does not support compression");
  }
  virtual uint64_t CompressionGranularity() const { return 0; }
  // The backing file's driver, or nullptr.
  virtual BlockDriver* Backing() { return nullptr; }
  // Changes the backing file name in the header only (rebase -u, commit).
  virtual Status SetBackingName(const std::string& file, const std::string& fmt) {
    return Status::Error(ENOTSUP, "This image format does not support backing files");
  }
  // Replaces the opened backing driver (rebase after the data was copied).
  virtual void ReplaceBacking(std::unique_ptr<BlockDriver> b) {}
  // Applies -o key=value changes (amend); unknown keys are refused by name.
  virtual Status Amend(const std::map<std::string, std::string>& opts) {
    return Status::Error(ENOTSUP, "This image format does not support amend");
  }
  // Whether [off, off+len) is allocated in this layer only (no backing), for
  // commit and rebase; *pnum is how far the answer holds.
  virtual Status AllocatedInThisLayer(uint64_t off, uint64_t len, bool* alloc, uint64_t* pnum) {
    *alloc = true;
    *pnum = len;
    return Status::Ok();
  }
  // Empties the image (all clusters unallocated), for commit.
  virtual Status MakeEmpty() { return Status::Error(ENOTSUP, "make empty: unsupported"); }
};

// Resolves a backing file name relative to the folder of `image_path`.
std::string ResolveBackingPath(const std::string& image_path, const std::string& backing);

}  // namespace emu::block
