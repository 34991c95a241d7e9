// raw: the virtual disk is the file (or block device) byte for byte.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "block/file.h"
#include "block/image.h"

namespace emu::block {
namespace {

class RawDriver : public BlockDriver, public ImageOps {
 public:
  RawDriver(std::unique_ptr<File> f, bool probed) : f_(std::move(f)), probed_(probed) {}
  std::string format_name() const override { return "raw"; }
  uint64_t Size() const override { return f_->Size(); }
  Status Read(uint64_t off, void* buf, uint64_t len) override {
    if (!InRange(off, len)) return OutOfRange(off, len);
    return f_->PRead(off, buf, len);
  }
  Status Write(uint64_t off, const void* buf, uint64_t len) override {
    if (!InRange(off, len)) return OutOfRange(off, len);
    if (probed_ && off < kGuardBytes) {
      Status s = CheckHeaderWrite(off, buf, len);
      if (!s.ok()) return s;
    }
    return f_->PWrite(off, buf, len);
  }
  Status Flush() override { return f_->Flush(); }
  Status Discard(uint64_t off, uint64_t len) override {
    if (!InRange(off, len)) return OutOfRange(off, len);
    return f_->Discard(off, len);
  }
  Status BlockStatus(uint64_t off, uint64_t len, std::vector<Extent>* out) override {
    uint64_t end = off + len;
    while (off < end) {
      bool data = true;
      uint64_t n = 0;
      Status s = f_->Allocation(off, end - off, &data, &n);
      if (!s.ok()) return s;
      if (n == 0) n = end - off;
      out->push_back({off, n, data, !data, 0, off});
      off += n;
    }
    return Status::Ok();
  }
  bool read_only() const override { return f_->read_only(); }

  Status Resize(uint64_t new_size, bool allow_shrink) override {
    if (new_size < Size() && !allow_shrink)
      return Status::Error(EINVAL, "Use the --shrink option to shrink images");
    return f_->Truncate(new_size);
  }
  Status AllocatedInThisLayer(uint64_t off, uint64_t len, bool* alloc, uint64_t* pnum) override {
    return f_->Allocation(off, len, alloc, pnum);
  }

 private:
  // A raw image whose format was probed must not become something else: a
  // guest writing a qcow2 header (naming, say, /etc/shadow as backing file)
  // would otherwise change what the next probe opens.
  static constexpr uint64_t kGuardBytes = 4096;
  Status CheckHeaderWrite(uint64_t off, const void* buf, uint64_t len) {
    std::vector<uint8_t> head(kGuardBytes);
    Status s = f_->PRead(0, head.data(), head.size());
    if (!s.ok()) return s;
    uint64_t n = std::min(len, kGuardBytes - off);
    std::memcpy(head.data() + off, buf, n);
    auto probe = NewMemFile(std::move(head), f_->path(), true);
    const FormatInfo* fi = ProbeFormat(probe.get());
    if (fi->name != "raw")
      return Status::Error(EPERM, "Refusing a write that would make probed raw image '" + f_->path() +
                                      "' look like " + fi->name + " (name the format: format=raw)");
    return Status::Ok();
  }
  bool InRange(uint64_t off, uint64_t len) const { return off + len >= off && off + len <= Size(); }
  Status OutOfRange(uint64_t off, uint64_t len) const {
    return Status::Error(EINVAL, "Access of " + std::to_string(len) + " bytes at " +
                                     std::to_string(off) + " is past the end of '" + f_->path() + "'");
  }
  std::unique_ptr<File> f_;
  bool probed_;
};

Status CreateRaw(const std::string& path, const CreateOptions& c) {
  std::string prealloc = "off";
  for (const auto& [k, v] : c.opts) {
    if (k == "preallocation") {
      prealloc = v;
    } else if (k == "size") {
    } else {
      return Status::Error(EINVAL, "Invalid parameter '" + k + "'");
    }
  }
  if (prealloc != "off" && prealloc != "falloc" && prealloc != "full")
    return Status::Error(EINVAL, "Invalid preallocation mode: '" + prealloc + "'");
  if (c.size > (1ull << 63) - 1) return Status::Error(EFBIG, "Image size too large for raw");
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus(errno, path, "create");
  Status s;
  if (ftruncate(fd, static_cast<off_t>(c.size)) < 0) s = ErrnoStatus(errno, path, "resize");
  if (s.ok() && prealloc == "falloc" && c.size > 0) {
    int r = posix_fallocate(fd, 0, static_cast<off_t>(c.size));
    if (r != 0) s = ErrnoStatus(r, path, "preallocate");
  }
  if (s.ok() && prealloc == "full") {
    std::vector<uint8_t> zeros(1 << 20);
    for (uint64_t off = 0; off < c.size && s.ok();) {
      uint64_t n = std::min<uint64_t>(zeros.size(), c.size - off);
      ssize_t w = pwrite(fd, zeros.data(), n, static_cast<off_t>(off));
      if (w <= 0) {
        s = ErrnoStatus(w < 0 ? errno : ENOSPC, path, "preallocate");
        break;
      }
      off += static_cast<uint64_t>(w);
    }
  }
  close(fd);
  if (!s.ok()) unlink(path.c_str());
  return s;
}

}  // namespace

const FormatInfo& RawFormat() {
  static const FormatInfo info = {
      "raw",
      [](const uint8_t*, size_t, const std::string&) { return 1; },
      [](std::unique_ptr<File> f, const OpenOptions& o) -> Result<std::unique_ptr<BlockDriver>> {
        return {Status::Ok(), std::make_unique<RawDriver>(std::move(f), o.format.empty())};
      },
      CreateRaw,
  };
  return info;
}

}  // namespace emu::block
