// The VDI driver: dynamic (blocks allocated on first write, appended at the end
// of the data area) and static (all blocks preallocated) images.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "block/block_range.h"
#include "block/format.h"
#include "block/image.h"
#include "block/vdi/vdi_header.h"

namespace emu::block {
namespace {

using vdi::Header;

constexpr char kBanner[] = "<<< QEMU VM Virtual Disk Image >>>\n";

Status Err(int err, const std::string& msg) { return Status::Error(err, msg); }

bool AllZero(const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

class VdiDriver : public BlockDriver, public ImageOps {
 public:
  VdiDriver(std::unique_ptr<File> file, Header h, std::vector<uint32_t> bmap, bool ro)
      : file_(std::move(file)), h_(std::move(h)), bmap_(std::move(bmap)), ro_(ro) {
    next_block_ = 0;
    allocated_ = 0;
    for (uint32_t e : bmap_) {
      if (e < vdi::kZeroBlock) {
        next_block_ = std::max(next_block_, e + 1);
        allocated_++;
      }
    }
  }

  std::string format_name() const override { return "vdi"; }
  uint64_t Size() const override { return h_.disk_size; }
  bool read_only() const override { return ro_; }

  Status Read(uint64_t off, void* buf, uint64_t len) override {
    if (Status s = CheckRange(off, len); !s.ok()) return s;
    auto* p = static_cast<uint8_t*>(buf);
    return ForEachBlock(off, len, h_.block_size, [&](const BlockPiece& b) {
      uint32_t e = bmap_[b.index];
      if (e < vdi::kZeroBlock) return file_->PRead(DataOffset(e) + b.in, p + b.done, b.len);
      std::memset(p + b.done, 0, b.len);
      return Status::Ok();
    });
  }

  Status Write(uint64_t off, const void* buf, uint64_t len) override {
    if (ro_) return Err(EROFS, file_->path() + ": image is read-only");
    if (Status s = CheckRange(off, len); !s.ok()) return s;
    auto* p = static_cast<const uint8_t*>(buf);
    return ForEachBlock(off, len, h_.block_size, [&](const BlockPiece& b) {
      uint32_t e = bmap_[b.index];
      if (e < vdi::kZeroBlock) return file_->PWrite(DataOffset(e) + b.in, p + b.done, b.len);
      if (AllZero(p + b.done, b.len)) return Status::Ok();  // zeros into a block that reads as zeros change nothing
      return Allocate(uint32_t(b.index), b.in, p + b.done, b.len);
    });
  }

  Status Flush() override { return file_->Flush(); }

  Status BlockStatus(uint64_t off, uint64_t len, std::vector<Extent>* out) override {
    if (Status s = CheckRange(off, len); !s.ok()) return s;
    return ForEachBlock(off, len, h_.block_size, [&](const BlockPiece& b) {
      uint32_t e = bmap_[b.index];
      bool data = e < vdi::kZeroBlock;
      std::optional<uint64_t> host;
      if (data) host = DataOffset(e) + b.in;
      AppendExtent(out, {b.offset, b.len, data, !data, 0, host});
      return Status::Ok();
    });
  }

  void GetInfo(ImageInfo* info) override { info->cluster_size = h_.block_size; }

  // Open already refused maps that point outside the image or share blocks; what
  // is left to find is a header count that disagrees with the map.
  Status Check(bool fix_leaks, bool fix_errors, CheckResult* r) override {
    // No allocation statistics: qemu-img prints none for VDI either.
    if (h_.blocks_allocated != allocated_) {
      if (fix_errors && !ro_) {
        h_.blocks_allocated = allocated_;
        uint32_t a = allocated_;
        uint8_t cnt[4] = {uint8_t(a), uint8_t(a >> 8), uint8_t(a >> 16), uint8_t(a >> 24)};
        if (Status s = file_->PWrite(vdi::kOffBlocksAllocated, cnt, 4); !s.ok()) return s;
        r->corruptions_fixed++;
      } else {
        r->corruptions++;
        r->messages.push_back("ERROR: allocated blocks mismatch, header says " +
                              std::to_string(h_.blocks_allocated) + ", map has " +
                              std::to_string(allocated_));
      }
    }
    return Status::Ok();
  }

 private:
  uint64_t DataOffset(uint32_t e) const { return h_.offset_data + uint64_t(e) * h_.block_size; }

  Status CheckRange(uint64_t off, uint64_t len) const {
    if (off > h_.disk_size || len > h_.disk_size - off)
      return Err(EINVAL, file_->path() + ": access at " + std::to_string(off) + "+" +
                             std::to_string(len) + " beyond the disk size " +
                             std::to_string(h_.disk_size));
    return Status::Ok();
  }

  // First write into block `idx`: the whole block is appended (zeros around the
  // new bytes), then the map entry, then the header, so that a crash in between
  // leaves at worst an unreferenced block.
  Status Allocate(uint32_t idx, uint64_t in, const uint8_t* p, uint64_t n) {
    if (next_block_ >= h_.blocks_in_image)
      return Err(ENOSPC, file_->path() + ": no free block index left in the VDI image");
    std::vector<uint8_t> block(h_.block_size, 0);
    std::memcpy(block.data() + in, p, n);
    uint32_t e = next_block_;
    if (Status s = file_->PWrite(DataOffset(e), block.data(), block.size()); !s.ok()) return s;
    uint8_t le[4] = {uint8_t(e), uint8_t(e >> 8), uint8_t(e >> 16), uint8_t(e >> 24)};
    if (Status s = file_->PWrite(h_.offset_bmap + uint64_t(idx) * 4, le, 4); !s.ok()) return s;
    bmap_[idx] = e;
    next_block_++;
    allocated_++;
    h_.blocks_allocated = allocated_;
    // Only the changed fields are rewritten, so that a description or fields we do
    // not model survive.
    uint32_t a = allocated_;
    uint8_t cnt[4] = {uint8_t(a), uint8_t(a >> 8), uint8_t(a >> 16), uint8_t(a >> 24)};
    if (!modified_) {
      h_.uuid_modify = vdi::RandomUuid();  // the content changed since it was stamped
      if (Status s = file_->PWrite(vdi::kOffUuidModify, h_.uuid_modify.data(), 16); !s.ok())
        return s;
      modified_ = true;
    }
    return file_->PWrite(vdi::kOffBlocksAllocated, cnt, 4);
  }

  std::unique_ptr<File> file_;
  Header h_;
  std::vector<uint32_t> bmap_;
  bool ro_;
  bool modified_ = false;
  uint32_t next_block_;
  uint32_t allocated_;
};

int Probe(const uint8_t* header, size_t len, const std::string&) {
  if (len < 0x48) return 0;
  uint32_t sig = uint32_t(header[0x40]) | uint32_t(header[0x41]) << 8 |
                 uint32_t(header[0x42]) << 16 | uint32_t(header[0x43]) << 24;
  return sig == vdi::kSignature ? 100 : 0;
}

Result<std::unique_ptr<BlockDriver>> Open(std::unique_ptr<File> file, const OpenOptions& o) {
  Result<std::unique_ptr<BlockDriver>> r;
  const std::string& path = file->path();
  uint64_t fsize = file->Size();
  uint8_t buf[vdi::kHeaderBytes] = {};
  if (Status s = file->PRead(0, buf, sizeof buf); !s.ok()) {
    r.status = s;
    return r;
  }
  Result<Header> h = Header::Parse(buf, sizeof buf, fsize, path);
  if (!h.ok()) {
    r.status = h.status;
    return r;
  }
  std::vector<uint32_t> bmap(h.value.blocks_in_image);
  std::vector<uint8_t> raw(bmap.size() * 4);
  // (An empty map has no buffer to read into.)
  if (Status s = raw.empty() ? Status::Ok() : file->PRead(h.value.offset_bmap, raw.data(), raw.size());
      !s.ok()) {
    r.status = s;
    return r;
  }
  // Every map entry is checked now so that reads and writes can trust the map.
  std::vector<bool> used(h.value.blocks_in_image, false);
  for (size_t i = 0; i < bmap.size(); i++) {
    const uint8_t* q = &raw[i * 4];
    uint32_t e = uint32_t(q[0]) | uint32_t(q[1]) << 8 | uint32_t(q[2]) << 16 | uint32_t(q[3]) << 24;
    bmap[i] = e;
    if (e >= vdi::kZeroBlock) continue;
    std::string where = path + ": invalid VDI image: block map entry " + std::to_string(i);
    if (e >= h.value.blocks_in_image) {
      r.status = Err(EINVAL, where + " points to block " + std::to_string(e) + ", beyond the " +
                                 std::to_string(h.value.blocks_in_image) + " blocks of the image");
      return r;
    }
    if (used[e]) {
      r.status = Err(EINVAL, where + " points to block " + std::to_string(e) +
                                 ", which another entry already uses");
      return r;
    }
    used[e] = true;
    uint64_t end = h.value.offset_data + (uint64_t(e) + 1) * h.value.block_size;
    if (end > fsize) {
      r.status = Err(EINVAL, where + ": data of block " + std::to_string(e) +
                                 " extends past the end of the file (truncated image? " +
                                 std::to_string(fsize) + " bytes, need " + std::to_string(end) + ")");
      return r;
    }
  }
  bool ro = o.read_only || file->read_only();
  r.value = std::make_unique<VdiDriver>(std::move(file), std::move(h.value), std::move(bmap), ro);
  return r;
}

bool ParseBool(const std::string& v, bool* out) {
  if (v == "on" || v == "true" || v == "yes" || v == "1") return *out = true, true;
  if (v == "off" || v == "false" || v == "no" || v == "0") return *out = false, true;
  return false;
}

Status Create(const std::string& path, const CreateOptions& co) {
  bool is_static = false;
  for (const auto& [k, v] : co.opts) {
    if (k == "static") {
      if (!ParseBool(v, &is_static))
        return Err(EINVAL, "vdi: invalid value '" + v + "' for option static (use on/off)");
    } else if (k == "preallocation") {
      if (v == "off") continue;
      if (v != "metadata" && v != "full" && v != "falloc")
        return Err(EINVAL, "vdi: invalid preallocation mode '" + v + "'");
      is_static = true;  // a static VDI has every block present
    } else if (k != "size") {
      return Err(EINVAL, "vdi: unknown option '" + k + "' (vdi takes size, static)");
    }
  }
  uint64_t size = co.size;
  uint64_t blocks = (size + vdi::kBlockSize - 1) / vdi::kBlockSize;
  if (blocks > vdi::kMaxBlocks)
    return Err(EINVAL, "vdi: size " + std::to_string(size) + " is too large (at most " +
                           std::to_string(uint64_t(vdi::kMaxBlocks) * vdi::kBlockSize) + " bytes)");
  Header h;
  h.text = kBanner;
  h.image_type = is_static ? vdi::kTypeStatic : vdi::kTypeDynamic;
  h.offset_bmap = vdi::kHeaderBytes;
  uint64_t bmap_bytes = (blocks * 4 + 511) / 512 * 512;
  h.offset_data = uint32_t(vdi::kHeaderBytes + bmap_bytes);
  h.disk_size = size;
  h.blocks_in_image = uint32_t(blocks);
  h.blocks_allocated = is_static ? uint32_t(blocks) : 0;
  h.uuid_create = vdi::RandomUuid();
  h.uuid_modify = vdi::RandomUuid();

  std::vector<uint8_t> meta(h.offset_data, 0);
  h.Serialize(meta.data());
  for (uint64_t i = 0; i < blocks; i++) {
    uint32_t e = is_static ? uint32_t(i) : vdi::kUnallocated;
    for (int b = 0; b < 4; b++) meta[vdi::kHeaderBytes + i * 4 + b] = uint8_t(e >> (8 * b));
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Err(errno, path + ": cannot create: " + strerror(errno));
  Status st;
  size_t done = 0;
  while (done < meta.size()) {
    ssize_t w = ::pwrite(fd, meta.data() + done, meta.size() - done, off_t(done));
    if (w <= 0) {
      st = Err(errno ? errno : EIO, path + ": write failed: " + strerror(errno));
      break;
    }
    done += size_t(w);
  }
  // Static blocks are zeros: a sparse extension reads back the same.
  if (st.ok() && is_static &&
      ::ftruncate(fd, off_t(h.offset_data + blocks * vdi::kBlockSize)) != 0)
    st = Err(errno, path + ": cannot size the image: " + strerror(errno));
  if (st.ok() && ::fsync(fd) != 0) st = Err(errno, path + ": fsync failed: " + strerror(errno));
  ::close(fd);
  return st;
}

}  // namespace

const FormatInfo& VdiFormat() {
  static const FormatInfo info{"vdi", Probe, Open, Create};
  return info;
}

}  // namespace emu::block
