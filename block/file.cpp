#include "block/file.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace emu::block {

Status ErrnoStatus(int err, const std::string& path, const std::string& what) {
  return Status::Error(err, "Could not " + what + " '" + path + "': " + std::strerror(err));
}

namespace {

// O_DIRECT needs buffers, offsets and lengths aligned to the logical block size;
// 4 KiB covers every device we meet.
constexpr uint64_t kDirectAlign = 4096;

// Lock bytes compatible with QEMU's scheme, so that emu and qemu refuse each
// other too: a shared lock on 100+perm says "I use perm", one on 200+perm says
// "I don't let others use perm". perm 0 = consistent read, 1 = write.
constexpr off_t kLockPermBase = 100;
constexpr off_t kLockSharedBase = 200;

struct flock OneByteLock(short type, off_t byte) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  return fl;
}

bool LockHeldByOther(int fd, off_t byte) {
  struct flock fl = OneByteLock(F_WRLCK, byte);
  if (fcntl(fd, F_OFD_GETLK, &fl) < 0) return false;  // locking unsupported: don't block
  return fl.l_type != F_UNLCK;
}

bool TakeSharedLock(int fd, off_t byte) {
  struct flock fl = OneByteLock(F_RDLCK, byte);
  if (fcntl(fd, F_OFD_SETLK, &fl) == 0) return true;
  return errno != EAGAIN && errno != EACCES;  // other errors: fs without locks
}

class HostFile : public File {
 public:
  HostFile(int fd, std::string path, bool ro, CacheMode cache, bool blockdev)
      : fd_(fd), path_(std::move(path)), ro_(ro), cache_(cache), blockdev_(blockdev) {}
  ~HostFile() override { close(fd_); }

  Status PRead(uint64_t off, void* buf, uint64_t len) override {
    if (cache_ == CacheMode::kNone && !Aligned(off, buf, len)) return BounceRead(off, buf, len);
    return RawRead(off, static_cast<uint8_t*>(buf), len);
  }

  Status PWrite(uint64_t off, const void* buf, uint64_t len) override {
    if (ro_) return Status::Error(EROFS, "'" + path_ + "' is opened read-only");
    Status s = (cache_ == CacheMode::kNone && !Aligned(off, buf, len))
                   ? BounceWrite(off, buf, len)
                   : RawWrite(off, static_cast<const uint8_t*>(buf), len);
    if (s.ok() && cache_ == CacheMode::kWritethrough) s = SyncNow();
    return s;
  }

  Status Flush() override {
    if (ro_ || cache_ == CacheMode::kUnsafe) return Status::Ok();
    return SyncNow();
  }

  Status Truncate(uint64_t size) override {
    if (ro_) return Status::Error(EROFS, "'" + path_ + "' is opened read-only");
    if (blockdev_) {
      if (size <= Size()) return Status::Ok();
      return Status::Error(ENOSPC, "Cannot grow block device '" + path_ + "'");
    }
    if (ftruncate(fd_, static_cast<off_t>(size)) < 0) return ErrnoStatus(errno, path_, "resize");
    return Status::Ok();
  }

  uint64_t Size() override {
    if (blockdev_) {
      uint64_t sz = 0;
      if (ioctl(fd_, BLKGETSIZE64, &sz) == 0) return sz;
    }
    struct stat st;
    if (fstat(fd_, &st) < 0) return 0;
    return static_cast<uint64_t>(st.st_size);
  }

  uint64_t AllocatedBytes() override {
    struct stat st;
    if (fstat(fd_, &st) < 0) return 0;
    return blockdev_ ? Size() : static_cast<uint64_t>(st.st_blocks) * 512;
  }

  Status Discard(uint64_t off, uint64_t len) override {
    if (ro_) return Status::Error(EROFS, "'" + path_ + "' is opened read-only");
    if (blockdev_) {
      uint64_t range[2] = {off, len};
      ioctl(fd_, BLKDISCARD, range);  // advisory: failure is not an error
      return Status::Ok();
    }
    fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(off),
              static_cast<off_t>(len));
    return Status::Ok();
  }

  Status Allocation(uint64_t off, uint64_t len, bool* data, uint64_t* pnum) override {
    *data = true;
    *pnum = len;
    if (blockdev_) return Status::Ok();
    uint64_t size = Size();
    if (off >= size) {  // past EOF reads as zeros
      *data = false;
      return Status::Ok();
    }
    off_t d = lseek(fd_, static_cast<off_t>(off), SEEK_DATA);
    if (d < 0) {
      if (errno == ENXIO) {  // no data after off: hole to EOF
        *data = false;
      }
      return Status::Ok();  // EINVAL etc: fs without SEEK_DATA, all data
    }
    if (static_cast<uint64_t>(d) > off) {
      *data = false;
      *pnum = std::min<uint64_t>(len, static_cast<uint64_t>(d) - off);
      return Status::Ok();
    }
    off_t h = lseek(fd_, static_cast<off_t>(off), SEEK_HOLE);
    if (h > static_cast<off_t>(off)) *pnum = std::min<uint64_t>(len, static_cast<uint64_t>(h) - off);
    return Status::Ok();
  }

  const std::string& path() const override { return path_; }
  bool read_only() const override { return ro_; }

 private:
  static bool Aligned(uint64_t off, const void* buf, uint64_t len) {
    return off % kDirectAlign == 0 && len % kDirectAlign == 0 &&
           reinterpret_cast<uintptr_t>(buf) % kDirectAlign == 0;
  }

  Status SyncNow() {
    if (fdatasync(fd_) < 0) return ErrnoStatus(errno, path_, "flush");
    return Status::Ok();
  }

  Status RawRead(uint64_t off, uint8_t* p, uint64_t len) {
    while (len > 0) {
      ssize_t n = pread(fd_, p, len, static_cast<off_t>(off));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, path_, "read");
      }
      if (n == 0) {  // past EOF
        std::memset(p, 0, len);
        return Status::Ok();
      }
      p += n;
      off += n;
      len -= n;
    }
    return Status::Ok();
  }

  Status RawWrite(uint64_t off, const uint8_t* p, uint64_t len) {
    while (len > 0) {
      ssize_t n = pwrite(fd_, p, len, static_cast<off_t>(off));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOSPC)
          return Status::Error(ENOSPC, "No space left on device writing '" + path_ + "'");
        return ErrnoStatus(errno, path_, "write");
      }
      p += n;
      off += n;
      len -= n;
    }
    return Status::Ok();
  }

  struct Bounce {
    uint8_t* p = nullptr;
    ~Bounce() { std::free(p); }
  };

  Status BounceRead(uint64_t off, void* buf, uint64_t len) {
    uint64_t a0 = off / kDirectAlign * kDirectAlign;
    uint64_t a1 = (off + len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    Bounce b;
    if (posix_memalign(reinterpret_cast<void**>(&b.p), kDirectAlign, a1 - a0) != 0)
      return Status::Error(ENOMEM, "out of memory for an O_DIRECT bounce buffer");
    Status s = RawRead(a0, b.p, a1 - a0);
    if (!s.ok()) return s;
    std::memcpy(buf, b.p + (off - a0), len);
    return Status::Ok();
  }

  // Read-modify-write of the aligned blocks around [off, off+len). Callers that
  // write concurrently to one block must serialize (the aio pool does).
  Status BounceWrite(uint64_t off, const void* buf, uint64_t len) {
    uint64_t a0 = off / kDirectAlign * kDirectAlign;
    uint64_t a1 = (off + len + kDirectAlign - 1) / kDirectAlign * kDirectAlign;
    Bounce b;
    if (posix_memalign(reinterpret_cast<void**>(&b.p), kDirectAlign, a1 - a0) != 0)
      return Status::Error(ENOMEM, "out of memory for an O_DIRECT bounce buffer");
    uint64_t old_size = Size();
    Status s = RawRead(a0, b.p, a1 - a0);
    if (!s.ok()) return s;
    std::memcpy(b.p + (off - a0), buf, len);
    s = RawWrite(a0, b.p, a1 - a0);
    if (!s.ok()) return s;
    // Keep the file size byte-exact: the aligned write may have extended it.
    if (!blockdev_ && a1 > old_size && off + len < a1)
      if (ftruncate(fd_, static_cast<off_t>(std::max(old_size, off + len))) < 0)
        return ErrnoStatus(errno, path_, "resize");
    return Status::Ok();
  }

  int fd_;
  std::string path_;
  bool ro_;
  CacheMode cache_;
  bool blockdev_;
};

class MemFile : public File {
 public:
  MemFile(std::vector<uint8_t> d, std::string name, bool ro)
      : data_(std::move(d)), name_(std::move(name)), ro_(ro) {}
  Status PRead(uint64_t off, void* buf, uint64_t len) override {
    auto* p = static_cast<uint8_t*>(buf);
    if (off >= data_.size()) {
      std::memset(p, 0, len);
      return Status::Ok();
    }
    uint64_t n = std::min<uint64_t>(len, data_.size() - off);
    std::memcpy(p, data_.data() + off, n);
    std::memset(p + n, 0, len - n);
    return Status::Ok();
  }
  Status PWrite(uint64_t off, const void* buf, uint64_t len) override {
    if (ro_) return Status::Error(EROFS, "'" + name_ + "' is read-only");
    if (off + len < off || off + len > kMaxMem)
      return Status::Error(ENOSPC, "No space left on device writing '" + name_ + "'");
    if (off + len > data_.size()) data_.resize(off + len);
    std::memcpy(data_.data() + off, buf, len);
    return Status::Ok();
  }
  Status Flush() override { return Status::Ok(); }
  Status Truncate(uint64_t size) override {
    if (size > kMaxMem) return Status::Error(ENOSPC, "No space left on device in '" + name_ + "'");
    data_.resize(size);
    return Status::Ok();
  }
  uint64_t Size() override { return data_.size(); }
  const std::string& path() const override { return name_; }
  bool read_only() const override { return ro_; }

 private:
  // Bounds what a hostile image can make a fuzz target allocate.
  static constexpr uint64_t kMaxMem = 256ull << 20;
  std::vector<uint8_t> data_;
  std::string name_;
  bool ro_;
};

}  // namespace

Result<std::unique_ptr<File>> OpenHostFile(const std::string& path, const FileOpenOptions& o) {
  int flags = (o.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  if (o.create) flags |= O_CREAT | O_TRUNC;
  if (o.cache == CacheMode::kNone) flags |= O_DIRECT;
  int fd = open(path.c_str(), flags, 0644);
  if (fd < 0) {
    int e = errno;
    if (e == EINVAL && o.cache == CacheMode::kNone)
      return {Status::Error(e, "cache=none: the file system of '" + path +
                                   "' does not support O_DIRECT")};
    if (e == ENOENT) return {Status::Error(e, "Could not open '" + path + "': No such file or directory")};
    return {ErrnoStatus(e, path, "open")};
  }
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    return {ErrnoStatus(e, path, "stat")};
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    return {Status::Error(EISDIR, "Could not open '" + path + "': Is a directory")};
  }
  bool blockdev = S_ISBLK(st.st_mode);
  if (o.lock && !o.force_share) {
    if (!o.read_only) {
      if (LockHeldByOther(fd, kLockPermBase + 1) || LockHeldByOther(fd, kLockSharedBase + 1)) {
        close(fd);
        return {Status::Error(EAGAIN, "Failed to get \"write\" lock: is another process using "
                                      "the image [" + path + "]?")};
      }
      TakeSharedLock(fd, kLockPermBase + 0);
      TakeSharedLock(fd, kLockPermBase + 1);
      TakeSharedLock(fd, kLockSharedBase + 1);
    } else {
      if (LockHeldByOther(fd, kLockPermBase + 1)) {
        close(fd);
        return {Status::Error(EAGAIN, "Failed to get shared \"write\" lock: is another process "
                                      "using the image [" + path + "]?")};
      }
      TakeSharedLock(fd, kLockPermBase + 0);
      TakeSharedLock(fd, kLockSharedBase + 1);
    }
  }
  return {Status::Ok(), std::make_unique<HostFile>(fd, path, o.read_only, o.cache, blockdev)};
}

std::unique_ptr<File> NewMemFile(std::vector<uint8_t> data, std::string name, bool read_only) {
  return std::make_unique<MemFile>(std::move(data), std::move(name), read_only);
}

}  // namespace emu::block
