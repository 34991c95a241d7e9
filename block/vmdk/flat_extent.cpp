// FLAT/VMFS extents (a plain file, from a sector offset) and ZERO extents.
#include <cerrno>
#include <algorithm>
#include <cstring>

#include "block/vmdk/extent.h"

namespace emu::block::vmdk {

Status ExtentIO::WriteZeroes(uint64_t off, uint64_t len) {
  std::vector<uint8_t> zeros(std::min<uint64_t>(len, 1 << 20), 0);
  while (len > 0) {
    uint64_t n = std::min<uint64_t>(len, zeros.size());
    if (Status s = Write(off, zeros.data(), n); !s.ok()) return s;
    off += n;
    len -= n;
  }
  return Status::Ok();
}

namespace {

class FlatExtent : public ExtentIO {
 public:
  FlatExtent(std::unique_ptr<File> f, uint64_t base) : f_(std::move(f)), base_(base) {}
  const std::string& path() const override { return f_->path(); }
  // A flat file shorter than its extent reads as zeros past its end (File's rule).
  Status Read(uint64_t off, void* buf, uint64_t len) override {
    return f_->PRead(base_ + off, buf, len);
  }
  Status Write(uint64_t off, const void* buf, uint64_t len) override {
    return f_->PWrite(base_ + off, buf, len);
  }
  Status Flush() override { return f_->Flush(); }
  Status BlockStatus(uint64_t off, uint64_t len, uint64_t base,
                     std::vector<Extent>* out) override {
    out->push_back({base + off, len, true, false, 0, base_ + off});
    return Status::Ok();
  }

 private:
  std::unique_ptr<File> f_;
  uint64_t base_;
};

class ZeroExtent : public ExtentIO {
 public:
  explicit ZeroExtent(std::string name) : name_(std::move(name)) {}
  const std::string& path() const override { return name_; }
  Status Read(uint64_t, void* buf, uint64_t len) override {
    std::memset(buf, 0, len);
    return Status::Ok();
  }
  Status Write(uint64_t, const void*, uint64_t) override {
    return Status::Error(EROFS, name_ + ": cannot write to a ZERO extent");
  }
  Status Flush() override { return Status::Ok(); }
  Status BlockStatus(uint64_t off, uint64_t len, uint64_t base,
                     std::vector<Extent>* out) override {
    out->push_back({base + off, len, false, true, 0, std::nullopt});
    return Status::Ok();
  }

 private:
  std::string name_;
};

}  // namespace

std::unique_ptr<ExtentIO> NewFlatExtent(std::unique_ptr<File> f, uint64_t base_bytes) {
  return std::make_unique<FlatExtent>(std::move(f), base_bytes);
}

std::unique_ptr<ExtentIO> NewZeroExtent(std::string name) {
  return std::make_unique<ZeroExtent>(std::move(name));
}

}  // namespace emu::block::vmdk
