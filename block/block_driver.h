// The block layer's driver interface: a disk image seen as bytes.
//
// Every format (raw, qcow2, vdi, vmdk) implements BlockDriver over a File (which
// may itself be another driver's file, or an in-memory buffer in tests and fuzz
// targets). Offsets and lengths are in bytes of the *virtual* disk. Errors are
// returned as Status values with a message naming the image and the problem; a
// corrupt image is refused at Open or reported at the access, never crashed on.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace emu::block {

// Result of an operation: ok, or an errno-style code with a user-grade message.
class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Error(int err, std::string msg) { return Status(err, std::move(msg)); }
  bool ok() const { return err_ == 0; }
  int err() const { return err_; }  // positive errno (EIO, EINVAL, ENOSPC, ...)
  const std::string& message() const { return msg_; }

 private:
  Status(int err, std::string msg) : err_(err), msg_(std::move(msg)) {}
  int err_ = 0;
  std::string msg_;
};

template <typename T>
struct Result {
  Status status;
  T value{};
  bool ok() const { return status.ok(); }
};

// A byte-addressed backing store: a host file (fd), or memory.
class File {
 public:
  virtual ~File() = default;
  virtual Status PRead(uint64_t off, void* buf, uint64_t len) = 0;  // short read past EOF: zeros
  virtual Status PWrite(uint64_t off, const void* buf, uint64_t len) = 0;
  virtual Status Flush() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual uint64_t Size() = 0;
  virtual Status Discard(uint64_t off, uint64_t len) { return Status::Ok(); }
  // Sparse-awareness: sets *data to whether [off, off+*pnum) holds data (false =
  // a hole reading as zeros), *pnum <= len. Default: everything is data.
  virtual Status Allocation(uint64_t off, uint64_t len, bool* data, uint64_t* pnum) {
    *data = true;
    *pnum = len;
    return Status::Ok();
  }
  // Bytes the file really occupies on the host (st_blocks), for `info`.
  virtual uint64_t AllocatedBytes() { return Size(); }
  virtual const std::string& path() const = 0;
  virtual bool read_only() const = 0;
};

enum class CacheMode { kWriteback, kWritethrough, kNone, kUnsafe };

struct OpenOptions {
  bool read_only = false;
  CacheMode cache = CacheMode::kWriteback;
  bool lock = true;               // fcntl OFD lock: refuse a second writer
  std::string format;             // "" = probe (raw is never allowed to name a backing file)
  bool open_backing = true;
  // Folders besides the image's own from which extents/backing files may be opened.
  std::vector<std::string> allowed_dirs;
  // Added by the block core (block/image.h):
  bool snapshot = false;          // -snapshot: temporary qcow2 overlay in /var/tmp
  bool force_share = false;       // emu-img -U: take no locks, ignore others' locks
  // Real paths of the images above this one in a backing chain (loop detection).
  std::vector<std::string> chain;
};

// Allocation state of a range, for `map` and `convert`'s sparse detection.
struct Extent {
  uint64_t offset;
  uint64_t length;
  bool data;        // allocated in this layer (or below, see depth)
  bool zero;        // reads as zeros
  int depth;        // 0 = this image, 1 = its backing file, ...
  std::optional<uint64_t> host_offset;
  bool present = true;  // false: allocated in no layer of the chain (qemu-img map's "present")
};

class BlockDriver {
 public:
  virtual ~BlockDriver() = default;
  virtual std::string format_name() const = 0;
  virtual uint64_t Size() const = 0;  // virtual disk size in bytes
  virtual Status Read(uint64_t off, void* buf, uint64_t len) = 0;
  virtual Status Write(uint64_t off, const void* buf, uint64_t len) = 0;
  virtual Status Flush() = 0;
  virtual Status Discard(uint64_t off, uint64_t len) { return Status::Ok(); }
  virtual Status WriteZeroes(uint64_t off, uint64_t len);
  // Allocation map of [off, off+len); default: all data.
  virtual Status BlockStatus(uint64_t off, uint64_t len, std::vector<Extent>* out);
  virtual bool read_only() const = 0;
};

}  // namespace emu::block
