// Hosted sparse extents: a grain directory (GD) points to grain tables (GTs),
// whose entries (GTEs) give the sector of each grain. Plain extents are written
// in place and grow by appending grains; stream-optimized extents hold deflate-
// compressed grains, each behind a marker, and are written by appending only.
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "block/block_range.h"
#include "block/vmdk/extent.h"
#include "block/vmdk/le.h"

namespace emu::block::vmdk {
namespace {

constexpr uint32_t kGteZero = 1;  // "zeroed grain" when kFlagZeroedGrainGte is set
constexpr size_t kMaxCachedGts = 256;
constexpr uint64_t kMarkerBytes = 12;  // lba (8) + size (4) before compressed data

bool AllZero(const uint8_t* p, uint64_t n) {
  for (uint64_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

class SparseExtent : public ExtentIO {
 public:
  SparseExtent(std::unique_ptr<File> f, SparseHeader h, bool ro)
      : f_(std::move(f)), h_(h), ro_(ro), grain_bytes_(h.grain_size * kSector) {}

  ~SparseExtent() override {
    if (!ro_) (void)Flush();  // commits a pending compressed grain and the end marker
  }

  const std::string& path() const override { return f_->path(); }
  File* file() override { return f_.get(); }
  uint64_t grain_bytes() const override { return grain_bytes_; }
  bool compressed() const override { return h_.compressed(); }

  Status Init(bool gd_at_end) {
    append_allowed_ = !gd_at_end;
    uint64_t fsize = f_->Size();
    if (Status s = LoadDir(h_.gd_offset, &gd_, fsize, "grain directory"); !s.ok()) return s;
    if (h_.redundant()) {
      if (Status s = LoadDir(h_.rgd_offset, &rgd_, fsize, "redundant grain directory"); !s.ok())
        return s;
    }
    next_sector_ = (fsize + kSector - 1) / kSector;
    if (h_.compressed() && h_.markers() && fsize >= kSector) {
      // A stream ends with an end-of-stream marker (a zero sector); new grains
      // replace it and a new one is written at the next flush.
      uint8_t last[kSector];
      if (Status s = f_->PRead(fsize - kSector, last, kSector); !s.ok()) return s;
      if (fsize % kSector == 0 && AllZero(last, kSector)) next_sector_--;
    }
    next_sector_ = std::max(next_sector_, h_.overhead);
    return Status::Ok();
  }

  Status Read(uint64_t off, void* buf, uint64_t len) override {
    auto* p = static_cast<uint8_t*>(buf);
    return ForEachBlock(off, len, grain_bytes_, [&](const BlockPiece& b) {
      if (h_.compressed()) {
        if (Status s = LoadCur(b.index); !s.ok()) return s;
        std::memcpy(p + b.done, cur_.data() + b.in, b.len);
        return Status::Ok();
      }
      uint32_t gte = 0;
      if (Status s = Lookup(b.index, &gte); !s.ok()) return s;
      if (gte != 0 && !IsZeroGte(gte)) return f_->PRead(uint64_t(gte) * kSector + b.in, p + b.done, b.len);
      std::memset(p + b.done, 0, b.len);
      return Status::Ok();
    });
  }

  Status Write(uint64_t off, const void* buf, uint64_t len) override {
    if (ro_) return Status::Error(EROFS, path() + ": image is read-only");
    if (h_.compressed() && !append_allowed_)
      return Status::Error(ENOTSUP, path() + ": unimplemented: writing to a stream-optimized "
                                             "extent whose grain directory is in the footer");
    auto* p = static_cast<const uint8_t*>(buf);
    return ForEachBlock(off, len, grain_bytes_, [&](const BlockPiece& b) {
      return h_.compressed() ? WriteCompressed(b.index, b.in, p + b.done, b.len)
                             : WritePlain(b.index, b.in, p + b.done, b.len);
    });
  }

  // With zeroed-grain entries, whole grains become "reads as zeros" without data.
  Status WriteZeroes(uint64_t off, uint64_t len) override {
    if (!(h_.flags & kFlagZeroedGrainGte) || h_.compressed()) return ExtentIO::WriteZeroes(off, len);
    if (ro_) return Status::Error(EROFS, path() + ": image is read-only");
    return ForEachBlock(off, len, grain_bytes_, [&](const BlockPiece& b) {
      return b.len == grain_bytes_ ? SetGte(b.index, kGteZero) : ExtentIO::WriteZeroes(b.offset, b.len);
    });
  }

  Status Flush() override {
    if (ro_) return Status::Ok();
    if (Status s = CommitCur(); !s.ok()) return s;
    if (stream_dirty_) {
      uint8_t eos[kSector] = {};  // end-of-stream marker: sector count 0, size 0, type 0
      if (Status s = f_->PWrite(next_sector_ * kSector, eos, kSector); !s.ok()) return s;
      stream_dirty_ = false;
    }
    return f_->Flush();
  }

  Status BlockStatus(uint64_t off, uint64_t len, uint64_t base,
                     std::vector<Extent>* out) override {
    return ForEachBlock(off, len, grain_bytes_, [&](const BlockPiece& b) {
      uint32_t gte = 0;
      if (Status s = Lookup(b.index, &gte); !s.ok()) return s;
      bool pending = h_.compressed() && cur_dirty_ && cur_grain_ == b.index;
      bool data = pending || (gte != 0 && !IsZeroGte(gte));
      std::optional<uint64_t> host;
      if (data && !h_.compressed()) host = uint64_t(gte) * kSector + b.in;
      // Unallocated grains are in no layer (qemu-img map: "present": false);
      // zeroed-grain entries are present zeros.
      bool present = data || gte != 0;
      AppendExtent(out, {base + b.offset, b.len, data, !data, 0, host, present});
      return Status::Ok();
    });
  }

  void Check(CheckResult* r) override {
    for (uint64_t i = 0; i < gd_.size(); i++) {
      if (!gd_[i]) continue;
      const std::vector<uint32_t>* gt;
      if (Status s = LoadGt(i, &gt); !s.ok()) {
        r->corruptions++;
        r->messages.push_back("ERROR: " + s.message());
        continue;
      }
      // Entries were validated by LoadGt; qemu-img prints no statistics for VMDK,
      // so none are collected here.
    }
  }

 private:
  bool IsZeroGte(uint32_t gte) const {
    return gte == kGteZero && (h_.flags & kFlagZeroedGrainGte);
  }

  Status Bad(const std::string& what) const {
    return Status::Error(EINVAL, path() + ": invalid VMDK sparse extent: " + what);
  }

  uint64_t GtBytes() const { return uint64_t(h_.num_gtes) * 4; }
  uint64_t GtSectors() const { return (GtBytes() + kSector - 1) / kSector; }

  Status LoadDir(uint64_t sector, std::vector<uint32_t>* dir, uint64_t fsize, const char* what) {
    uint64_t n = h_.gd_entries();
    dir->clear();
    if (n == 0) return Status::Ok();  // an empty disk
    std::vector<uint8_t> raw(n * 4);
    if (Status s = f_->PRead(sector * kSector, raw.data(), raw.size()); !s.ok()) return s;
    dir->resize(n);
    for (uint64_t i = 0; i < n; i++) {
      uint32_t e = Ld32(&raw[i * 4]);
      (*dir)[i] = e;
      if (e == 0) continue;
      if (uint64_t(e) * kSector + GtBytes() > fsize)
        return Bad(std::string(what) + " entry " + std::to_string(i) + " points to a grain table at sector " +
                   std::to_string(e) + ", outside the file (" + std::to_string(fsize) + " bytes)");
    }
    return Status::Ok();
  }

  // The grain table of directory entry `i` (nullptr if not allocated), loaded and
  // validated on first use.
  Status LoadGt(uint64_t i, const std::vector<uint32_t>** out) {
    *out = nullptr;
    if (i >= gd_.size()) return Bad("grain beyond the capacity");
    if (gd_[i] == 0) return Status::Ok();
    auto it = gt_cache_.find(i);
    if (it != gt_cache_.end()) {
      *out = &it->second;
      return Status::Ok();
    }
    std::vector<uint8_t> raw(GtBytes());
    if (Status s = f_->PRead(uint64_t(gd_[i]) * kSector, raw.data(), raw.size()); !s.ok()) return s;
    std::vector<uint32_t> gt(h_.num_gtes);
    uint64_t fsize = f_->Size();
    for (uint32_t k = 0; k < h_.num_gtes; k++) {
      uint32_t e = Ld32(&raw[k * 4]);
      gt[k] = e;
      if (e == 0 || IsZeroGte(e)) continue;
      uint64_t need = h_.compressed() ? kMarkerBytes : grain_bytes_;
      if (e < h_.overhead && h_.overhead > 0)
        return Bad("grain table " + std::to_string(i) + " entry " + std::to_string(k) +
                   " points to sector " + std::to_string(e) + ", inside the metadata (overhead " +
                   std::to_string(h_.overhead) + " sectors)");
      if (uint64_t(e) * kSector + need > fsize)
        return Bad("grain table " + std::to_string(i) + " entry " + std::to_string(k) +
                   " points to sector " + std::to_string(e) + ", past the end of the file (" +
                   std::to_string(fsize) + " bytes)");
    }
    if (gt_cache_.size() >= kMaxCachedGts) gt_cache_.clear();
    auto [pos, ok] = gt_cache_.emplace(i, std::move(gt));
    *out = &pos->second;
    return Status::Ok();
  }

  Status Lookup(uint64_t g, uint32_t* gte) {
    const std::vector<uint32_t>* gt;
    if (Status s = LoadGt(g / h_.num_gtes, &gt); !s.ok()) return s;
    *gte = gt ? (*gt)[g % h_.num_gtes] : 0;
    return Status::Ok();
  }

  // Appends a zeroed grain table and points directory entry `i` of `dir` at it.
  Status AllocateGt(std::vector<uint32_t>* dir, uint64_t dir_sector, uint64_t i) {
    std::vector<uint8_t> zeros(GtSectors() * kSector, 0);
    uint64_t sector = next_sector_;
    if (sector + GtSectors() > 0xffffffffu) return Status::Error(EFBIG, path() + ": extent is full");
    if (Status s = f_->PWrite(sector * kSector, zeros.data(), zeros.size()); !s.ok()) return s;
    next_sector_ += GtSectors();
    uint8_t le[4];
    St32(le, uint32_t(sector));
    if (Status s = f_->PWrite(dir_sector * kSector + i * 4, le, 4); !s.ok()) return s;
    (*dir)[i] = uint32_t(sector);
    return Status::Ok();
  }

  // Points grain `g` at `value` in the grain table and in its redundant copy.
  Status SetGte(uint64_t g, uint32_t value) {
    uint64_t i = g / h_.num_gtes, k = g % h_.num_gtes;
    if (gd_[i] == 0) {
      if (Status s = AllocateGt(&gd_, h_.gd_offset, i); !s.ok()) return s;
      gt_cache_.erase(i);
    }
    if (h_.redundant() && rgd_[i] == 0) {
      if (Status s = AllocateGt(&rgd_, h_.rgd_offset, i); !s.ok()) return s;
    }
    const std::vector<uint32_t>* gt;
    if (Status s = LoadGt(i, &gt); !s.ok()) return s;
    uint8_t le[4];
    St32(le, value);
    if (Status s = f_->PWrite(uint64_t(gd_[i]) * kSector + k * 4, le, 4); !s.ok()) return s;
    if (h_.redundant()) {
      if (Status s = f_->PWrite(uint64_t(rgd_[i]) * kSector + k * 4, le, 4); !s.ok()) return s;
    }
    gt_cache_[i][k] = value;
    return Status::Ok();
  }

  Status WritePlain(uint64_t g, uint64_t in, const uint8_t* p, uint64_t n) {
    uint32_t gte = 0;
    if (Status s = Lookup(g, &gte); !s.ok()) return s;
    if (gte != 0 && !IsZeroGte(gte)) return f_->PWrite(uint64_t(gte) * kSector + in, p, n);
    if (AllZero(p, n)) return Status::Ok();  // an unallocated grain already reads as zeros
    uint64_t sector = next_sector_;
    if (sector + h_.grain_size > 0xffffffffu)
      return Status::Error(EFBIG, path() + ": extent is full (grain offsets are 32-bit)");
    std::vector<uint8_t> grain(grain_bytes_, 0);
    std::memcpy(grain.data() + in, p, n);
    // Data first, then the table entry: a crash leaves an unreferenced grain at worst.
    if (Status s = f_->PWrite(sector * kSector, grain.data(), grain.size()); !s.ok()) return s;
    next_sector_ += h_.grain_size;
    if (Status s = SetGte(g, uint32_t(sector)); !s.ok()) return s;
    if (h_.cowd) {
      // ESX finds the next free sector in the header rather than from the file size.
      uint8_t le[4];
      St32(le, uint32_t(next_sector_));
      return f_->PWrite(kCowdFreeSectorOffset, le, 4);
    }
    return Status::Ok();
  }

  // Makes `cur_` hold grain `g` uncompressed (committing the previous one).
  Status LoadCur(uint64_t g) {
    if (cur_grain_ == g) return Status::Ok();
    if (Status s = CommitCur(); !s.ok()) return s;
    cur_grain_ = UINT64_MAX;
    cur_.assign(grain_bytes_, 0);
    uint32_t gte = 0;
    if (Status s = Lookup(g, &gte); !s.ok()) return s;
    if (gte != 0 && !IsZeroGte(gte)) {
      if (Status s = Inflate(g, gte); !s.ok()) return s;
    }
    cur_grain_ = g;
    return Status::Ok();
  }

  Status Inflate(uint64_t g, uint32_t gte) {
    uint64_t off = uint64_t(gte) * kSector;
    uint64_t fsize = f_->Size();
    uint64_t max_csize = grain_bytes_ + grain_bytes_ / 2 + 4096;  // deflate's worst case is far less
    uint64_t csize;
    if (h_.markers()) {
      uint8_t m[kMarkerBytes];
      if (Status s = f_->PRead(off, m, sizeof m); !s.ok()) return s;
      uint64_t lba = Ld64(m);
      csize = Ld32(m + 8);
      if (lba != g * h_.grain_size)
        return Bad("grain marker at sector " + std::to_string(gte) + " is for sector " +
                   std::to_string(lba) + ", the grain table says " +
                   std::to_string(g * h_.grain_size));
      if (csize == 0 || csize > max_csize || off + kMarkerBytes + csize > fsize)
        return Bad("compressed grain at sector " + std::to_string(gte) + " has a bad size " +
                   std::to_string(csize));
      off += kMarkerBytes;
    } else {
      csize = std::min(max_csize, fsize - std::min(fsize, off));
      if (csize == 0) return Bad("compressed grain at sector " + std::to_string(gte) + " is empty");
    }
    std::vector<uint8_t> cbuf(csize);
    if (Status s = f_->PRead(off, cbuf.data(), csize); !s.ok()) return s;
    z_stream z{};
    if (inflateInit(&z) != Z_OK) return Status::Error(ENOMEM, "zlib: inflateInit failed");
    z.next_in = cbuf.data();
    z.avail_in = uInt(csize);
    z.next_out = cur_.data();
    z.avail_out = uInt(grain_bytes_);
    int rc = inflate(&z, Z_FINISH);
    inflateEnd(&z);
    if (rc != Z_STREAM_END)
      return Bad("compressed grain at sector " + std::to_string(gte) +
                 " does not inflate to one grain (zlib error " + std::to_string(rc) + ")");
    return Status::Ok();
  }

  Status WriteCompressed(uint64_t g, uint64_t in, const uint8_t* p, uint64_t n) {
    if (cur_grain_ != g) {
      uint32_t gte = 0;
      if (Status s = Lookup(g, &gte); !s.ok()) return s;
      if ((gte == 0 || IsZeroGte(gte)) && AllZero(p, n)) return Status::Ok();
      if (Status s = LoadCur(g); !s.ok()) return s;
    }
    std::memcpy(cur_.data() + in, p, n);
    cur_dirty_ = true;
    return Status::Ok();
  }

  // Compresses the pending grain and appends it (marker, data, padding to a sector).
  Status CommitCur() {
    if (!cur_dirty_) return Status::Ok();
    z_stream z{};
    if (deflateInit(&z, Z_DEFAULT_COMPRESSION) != Z_OK)
      return Status::Error(ENOMEM, "zlib: deflateInit failed");
    uLong bound = deflateBound(&z, uLong(grain_bytes_));
    uint64_t hdr = h_.markers() ? kMarkerBytes : 0;
    std::vector<uint8_t> out((hdr + bound + kSector - 1) / kSector * kSector + kSector, 0);
    z.next_in = cur_.data();
    z.avail_in = uInt(grain_bytes_);
    z.next_out = out.data() + hdr;
    z.avail_out = uInt(bound);
    int rc = deflate(&z, Z_FINISH);
    uint64_t csize = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) return Status::Error(EIO, path() + ": zlib deflate failed");
    if (h_.markers()) {
      St64(out.data(), cur_grain_ * h_.grain_size);
      St32(out.data() + 8, uint32_t(csize));
    }
    uint64_t total = (hdr + csize + kSector - 1) / kSector * kSector;
    uint64_t sector = next_sector_;
    if (sector + total / kSector > 0xffffffffu)
      return Status::Error(EFBIG, path() + ": extent is full (grain offsets are 32-bit)");
    if (Status s = f_->PWrite(sector * kSector, out.data(), total); !s.ok()) return s;
    next_sector_ += total / kSector;
    stream_dirty_ = true;
    cur_dirty_ = false;
    return SetGte(cur_grain_, uint32_t(sector));
  }

  std::unique_ptr<File> f_;
  SparseHeader h_;
  bool ro_;
  uint64_t grain_bytes_;
  bool append_allowed_ = true;
  std::vector<uint32_t> gd_, rgd_;
  std::map<uint64_t, std::vector<uint32_t>> gt_cache_;
  uint64_t next_sector_ = 0;
  // Stream-optimized: the grain last read or being written, uncompressed.
  uint64_t cur_grain_ = UINT64_MAX;
  std::vector<uint8_t> cur_;
  bool cur_dirty_ = false;
  bool stream_dirty_ = false;  // grains appended since the last end-of-stream marker
};

}  // namespace

Result<std::unique_ptr<ExtentIO>> OpenSparseExtent(std::unique_ptr<File> f, bool read_only,
                                                   SparseHeader* header) {
  Result<std::unique_ptr<ExtentIO>> r;
  const std::string path = f->path();
  uint64_t fsize = f->Size();
  if (fsize < kSector) {
    r.status = Status::Error(EINVAL, path + ": invalid VMDK sparse extent: file too short (" +
                                         std::to_string(fsize) + " bytes)");
    return r;
  }
  uint8_t buf[kCowdHeaderBytes];
  if (Status s = f->PRead(0, buf, sizeof buf); !s.ok()) {
    r.status = s;
    return r;
  }
  Result<SparseHeader> h = Ld32(buf) == kCowdMagic ? SparseHeader::ParseCowd(buf, path)
                                                   : SparseHeader::Parse(buf, path);
  if (!h.ok()) {
    r.status = h.status;
    return r;
  }
  bool gd_at_end = h.value.gd_offset == kGdAtEnd;
  if (gd_at_end) {
    // Stream written in one pass: the real header is the footer, behind a footer
    // marker, just before the end-of-stream marker.
    uint8_t tail[3 * kSector];
    if (fsize < 4 * kSector || fsize % kSector != 0) {
      r.status = Status::Error(EINVAL, path + ": invalid VMDK stream: no room for a footer");
      return r;
    }
    if (Status s = f->PRead(fsize - 3 * kSector, tail, sizeof tail); !s.ok()) {
      r.status = s;
      return r;
    }
    if (Ld32(tail + 8) != 0 || Ld32(tail + 12) != kMarkerFooter) {
      r.status = Status::Error(EINVAL, path + ": invalid VMDK stream: grain directory is at the "
                                              "end but no footer marker precedes the last sectors");
      return r;
    }
    h = SparseHeader::Parse(tail + kSector, path);
    if (!h.ok()) {
      r.status = h.status;
      return r;
    }
    if (h.value.gd_offset == kGdAtEnd) {
      r.status = Status::Error(EINVAL, path + ": invalid VMDK stream: the footer does not "
                                              "locate the grain directory either");
      return r;
    }
  }
  if (Status s = h.value.CheckLayout(fsize, path); !s.ok()) {
    r.status = s;
    return r;
  }
  if (header) *header = h.value;
  auto ext = std::make_unique<SparseExtent>(std::move(f), h.value, read_only);
  if (Status s = ext->Init(gd_at_end); !s.ok()) {
    r.status = s;
    return r;
  }
  r.value = std::move(ext);
  return r;
}

}  // namespace emu::block::vmdk
