// qcow2: compressed writes, allocation map, and the emu-img operations
// (info, resize, backing file changes, amend, commit helpers).
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "block/block_range.h"
#include "block/qcow2/qcow2.h"

namespace emu::block {

Status Qcow2Image::WriteCompressed(uint64_t off, const void* buf, uint64_t len) {
  if (off % cluster_size_ || off + len > h_.size ||
      (len % cluster_size_ && off + len <= (h_.size - 1) / cluster_size_ * cluster_size_))
    return Status::Error(EINVAL, "Compressed writes must cover whole clusters");
  Status s = BeginWrite();
  if (!s.ok()) return s;
  const auto* p = static_cast<const uint8_t*>(buf);
  // Compress all clusters first, on several threads; allocation and writes
  // stay serial and in order.
  uint64_t ncl = (len + cluster_size_ - 1) / cluster_size_;
  std::vector<std::vector<uint8_t>> comps(ncl);
  std::vector<char> good(ncl, 0);
  auto work = [&](uint64_t first, uint64_t step) {
    std::vector<uint8_t> pad;
    for (uint64_t k = first; k < ncl; k += step) {
      const uint8_t* src = p + k * cluster_size_;
      uint64_t n = std::min(cluster_size_, len - k * cluster_size_);
      if (n < cluster_size_) {
        pad.assign(cluster_size_, 0);
        std::memcpy(pad.data(), src, n);
        src = pad.data();
      }
      good[k] = Qcow2Compress(h_.compression_type, src, cluster_size_, &comps[k]) &&
                comps[k].size() < cluster_size_ - 512;
    }
  };
  uint64_t nthreads = std::min<uint64_t>(ncl, std::max(1u, std::min(8u, std::thread::hardware_concurrency())));
  if (nthreads <= 1) {
    work(0, 1);
  } else {
    std::vector<std::thread> th;
    for (uint64_t t = 0; t < nthreads; t++) th.emplace_back(work, t, nthreads);
    for (auto& t : th) t.join();
  }
  std::vector<uint8_t> full;
  for (uint64_t done = 0, k = 0; done < len; done += cluster_size_, k++) {
    uint64_t vc = (off + done) >> cluster_bits_;
    uint64_t n = std::min(cluster_size_, len - done);
    const uint8_t* src = p + done;
    if (n < cluster_size_) {
      full.assign(cluster_size_, 0);
      std::memcpy(full.data(), src, n);
      src = full.data();
    }
    if (!good[k]) {
      s = WriteCluster(vc, 0, src, cluster_size_);
      if (!s.ok()) return s;
      continue;
    }
    const std::vector<uint8_t>& comp = comps[k];
    uint64_t host;
    if (compress_cursor_ && (compress_cursor_ & (cluster_size_ - 1)) + comp.size() <= cluster_size_) {
      host = compress_cursor_;
      s = AddRef(host >> cluster_bits_, 1);
      if (!s.ok()) return s;
    } else {
      auto a = AllocClusters(1);
      if (!a.ok()) return a.status;
      host = a.value;
    }
    compress_cursor_ = host + comp.size();
    if ((compress_cursor_ & (cluster_size_ - 1)) == 0) compress_cursor_ = 0;
    s = f_->PWrite(host, comp.data(), comp.size());
    if (!s.ok()) return s;
    uint32_t x = 62 - (cluster_bits_ - 8);
    uint64_t extra = ((host + comp.size() - 1) >> 9) - (host >> 9);
    s = SetL2Entry(vc, kQcow2Compressed | extra << x | host);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Qcow2Image::BlockStatus(uint64_t off, uint64_t len, std::vector<Extent>* out) {
  uint64_t end = std::min(off + len, h_.size);
  auto push = [&](const Extent& e) { AppendExtent(out, e); };
  while (off < end) {
    uint64_t vc = off >> cluster_bits_, in = off & (cluster_size_ - 1);
    uint64_t n = std::min(end - off, cluster_size_ - in);
    Mapping m;
    Status s = Lookup(vc, &m);
    if (!s.ok()) return s;
    auto unallocated = [&](uint64_t o, uint64_t len) -> Status {
      if (!backing_) {
        push({o, len, false, true, 0, std::nullopt, false});
        return Status::Ok();
      }
      std::vector<Extent> sub;
      uint64_t bsize = backing_->Size();
      uint64_t bn = o >= bsize ? 0 : std::min(len, bsize - o);
      if (bn) {
        Status bs = backing_->BlockStatus(o, bn, &sub);
        if (!bs.ok()) return bs;
      }
      for (Extent e : sub) {
        e.depth += 1;
        push(e);
      }
      if (bn < len) push({o + bn, len - bn, false, true, 1, std::nullopt, false});
      return Status::Ok();
    };
    if (ext_l2_ && m.kind != Kind::kCompressed) {
      uint64_t sc = cluster_size_ / 32;
      for (uint64_t p = in; p < in + n;) {
        uint64_t i = p / sc;
        uint64_t q = std::min(in + n, (i + 1) * sc);
        uint64_t o = (vc << cluster_bits_) + p;
        if (m.bitmap >> i & 1) push({o, q - p, true, false, 0, m.host + p});
        else if (m.bitmap >> (32 + i) & 1)
          push({o, q - p, false, true, 0, m.host ? std::optional<uint64_t>(m.host + p) : std::nullopt});
        else if (!(s = unallocated(o, q - p)).ok()) return s;
        p = q;
      }
    } else if (m.kind == Kind::kUnallocated) {
      s = unallocated(off, n);
      if (!s.ok()) return s;
    } else if (m.kind == Kind::kZero) {
      push({off, n, false, true, 0, m.host ? std::optional<uint64_t>(m.host + in) : std::nullopt});
    } else if (m.kind == Kind::kCompressed) {
      push({off, n, true, false, 0, std::nullopt});
    } else {
      push({off, n, true, false, 0, m.host + in});
    }
    off += n;
  }
  return Status::Ok();
}

Status Qcow2Image::AllocatedInThisLayer(uint64_t off, uint64_t len, bool* alloc, uint64_t* pnum) {
  uint64_t vc = off >> cluster_bits_;
  Mapping m;
  Status s = Lookup(vc, &m);
  if (!s.ok()) return s;
  *alloc = m.kind != Kind::kUnallocated;
  *pnum = std::min(len, cluster_size_ - (off & (cluster_size_ - 1)));
  return Status::Ok();
}

Status Qcow2Image::MakeEmpty() {
  Status s = BeginWrite();
  if (!s.ok()) return s;
  uint64_t clusters = (h_.size + cluster_size_ - 1) >> cluster_bits_;
  for (uint64_t vc = 0; vc < clusters; vc++) {
    Mapping m;
    s = Lookup(vc, &m);
    if (!s.ok()) return s;
    if (m.entry || m.bitmap) s = SetL2Entry(vc, 0);
    if (!s.ok()) return s;
  }
  return Flush();
}

void Qcow2Image::GetInfo(ImageInfo* info) {
  info->cluster_size = cluster_size_;
  info->backing_file = h_.backing_file;
  info->backing_full = ResolveBackingPath(f_->path(), h_.backing_file);
  info->backing_format = h_.backing_format;
  info->has_dirty_flag = true;
  info->dirty = h_.incompatible & kIncDirty;
  auto& d = info->specific;
  d.emplace_back("compat", InfoValue::Str(h_.version >= 3 ? "1.1" : "0.10"));
  if (h_.version >= 3) {
    d.emplace_back("compression-type", InfoValue::Str(h_.compression_type ? "zstd" : "zlib"));
    d.emplace_back("lazy-refcounts", InfoValue::Bool(h_.compatible & kCompatLazyRefcounts));
  } else {
    d.emplace_back("compression-type", InfoValue::Str("zlib"));
  }
  if (h_.autoclear & kAutoclearBitmaps) {
    std::string list = BitmapListJson();
    if (!list.empty()) d.emplace_back("bitmaps", InfoValue::Json(list));
  }
  d.emplace_back("refcount-bits", InfoValue::Int(refcount_bits_));
  if (h_.version >= 3) {
    d.emplace_back("corrupt", InfoValue::Bool(h_.incompatible & kIncCorrupt));
    d.emplace_back("extended-l2", InfoValue::Bool(ext_l2_));
  }
}

Status Qcow2Image::Resize(uint64_t new_size, bool allow_shrink) {
  Status s = BeginWrite();
  if (!s.ok()) return s;
  if (new_size % 512) return Status::Error(EINVAL, "Image size must be a multiple of 512 bytes");
  if (new_size < h_.size) {
    if (!allow_shrink) return Status::Error(EINVAL, "Use the --shrink option to shrink images");
    if (!snaps_.empty()) return Status::Error(ENOTSUP, "Can't shrink an image with internal snapshots");
    uint64_t first = (new_size + cluster_size_ - 1) >> cluster_bits_;
    uint64_t last = (h_.size + cluster_size_ - 1) >> cluster_bits_;
    for (uint64_t vc = first; vc < last; vc++) {
      Mapping m;
      s = Lookup(vc, &m);
      if (!s.ok()) return s;
      if (m.entry) s = SetL2Entry(vc, 0);
      if (!s.ok()) return s;
    }
    // A partial last cluster keeps stale bytes past the end; zero them so that a
    // later grow shows zeros.
    if (new_size % cluster_size_) {
      uint64_t tail = cluster_size_ - new_size % cluster_size_;
      uint64_t save = h_.size;
      s = WriteZeroes(new_size, std::min(tail, save - new_size));
      if (!s.ok()) return s;
    }
  } else {
    uint64_t l1 = (new_size + cluster_size_ * l2_entries_ - 1) / (cluster_size_ * l2_entries_);
    if (l1 > (32u << 20) / 8) return Status::Error(EFBIG, "Image size too large for qcow2 with this cluster size");
    s = EnsureL1Size(std::max<uint64_t>(l1, l1_.size()));
    if (!s.ok()) return s;
  }
  s = Flush();
  if (!s.ok()) return s;
  h_.size = new_size;
  s = WriteHeaderFields();
  if (s.ok()) s = SyncFile();
  return s;
}

Status Qcow2Image::SetBackingName(const std::string& file, const std::string& fmt) {
  if (ro_) return Status::Error(EROFS, Where() + " is opened read-only");
  if (file.size() > 1023) return Status::Error(EINVAL, "Backing file name too long");
  Status s = Flush();
  if (!s.ok()) return s;
  // Re-read the current header so that nothing else is lost.
  Qcow2Header cur;
  s = ReadQcow2Header(f_.get(), &cur);
  if (!s.ok()) return s;
  h_.backing_file = file;
  h_.backing_format = file.empty() ? "" : fmt;
  h_.other_exts = cur.other_exts;
  auto hdr = SerializeQcow2Header(h_);
  if (!hdr.ok()) return hdr.status;
  // Keep the tail of the header cluster as it was after our header bytes? The
  // spec reserves the first cluster for the header; write it whole.
  s = f_->PWrite(0, hdr.value.data(), hdr.value.size());
  if (s.ok()) s = SyncFile();
  return s;
}

Status Qcow2Image::Amend(const std::map<std::string, std::string>& opts) {
  if (ro_) return Status::Error(EROFS, Where() + " is opened read-only");
  Status s = Flush();
  if (!s.ok()) return s;
  Qcow2Header nh = h_;
  for (const auto& [k, v] : opts) {
    if (k == "compat") {
      if (v == "1.1" || v == "v3") {
        nh.version = 3;
      } else if (v == "0.10" || v == "v2") {
        if (h_.version >= 3) {
          if (h_.incompatible & ~uint64_t(kIncDirty)) return Status::Error(ENOTSUP, "Cannot downgrade an image using incompatible features to compat=0.10");
          if (h_.refcount_order != 4) return Status::Error(ENOTSUP, "compat=0.10 requires refcount_bits=16");
          // v2 has no zero flag: materialize zero clusters first.
          uint64_t clusters = (h_.size + cluster_size_ - 1) >> cluster_bits_;
          for (uint64_t vc = 0; vc < clusters; vc++) {
            Mapping m;
            s = Lookup(vc, &m);
            if (!s.ok()) return s;
            if (m.kind == Kind::kZero) {
              std::vector<uint8_t> z(cluster_size_, 0);
              s = SetL2Entry(vc, 0);
              if (s.ok() && backing_) s = WriteCluster(vc, 0, z.data(), cluster_size_);
              if (!s.ok()) return s;
            }
          }
          s = Flush();
          if (!s.ok()) return s;
        }
        nh.version = 2;
        nh.compatible = nh.autoclear = 0;
        nh.incompatible = 0;
      } else {
        return Status::Error(EINVAL, "Invalid compatibility level: '" + v + "'");
      }
    } else if (k == "lazy_refcounts") {
      if (v == "on") nh.compatible |= kCompatLazyRefcounts;
      else if (v == "off") nh.compatible &= ~kCompatLazyRefcounts;
      else return Status::Error(EINVAL, "Invalid value for lazy_refcounts: '" + v + "'");
    } else if (k == "backing_file" || k == "backing_fmt") {
    } else {
      return Status::Error(ENOTSUP, "Changing option '" + k + "' is not supported by amend");
    }
  }
  if (nh.version < 3 && (nh.compatible & kCompatLazyRefcounts))
    return Status::Error(EINVAL, "Lazy refcounts only supported with compatibility level 1.1 and above");
  if (opts.count("backing_file")) nh.backing_file = opts.at("backing_file");
  if (opts.count("backing_fmt")) nh.backing_format = opts.at("backing_fmt");
  Qcow2Header cur;
  s = ReadQcow2Header(f_.get(), &cur);
  if (!s.ok()) return s;
  nh.other_exts = cur.other_exts;
  auto hdr = SerializeQcow2Header(nh);
  if (!hdr.ok()) return hdr.status;
  s = f_->PWrite(0, hdr.value.data(), hdr.value.size());
  if (s.ok()) s = SyncFile();
  if (s.ok()) h_ = nh;
  return s;
}

Status Qcow2Image::Preallocate(const std::string& mode) {
  Status s = BeginWrite();
  if (!s.ok()) return s;
  uint64_t nclusters = (h_.size + cluster_size_ - 1) >> cluster_bits_;
  std::vector<uint8_t> zeros(mode == "metadata" ? 0 : std::min<uint64_t>(cluster_size_ * 32, 4 << 20), 0);
  for (uint64_t vc = 0; vc < nclusters;) {
    uint64_t run = std::min(nclusters - vc, l2_entries_ - vc % l2_entries_);
    std::vector<uint64_t>* t;
    uint64_t l2_off;
    s = GetL2ForWrite(vc, &t, &l2_off);  // the table before its data clusters
    if (!s.ok()) return s;
    auto a = AllocClusters(run);
    if (!a.ok()) return a.status;
    for (uint64_t done = 0; !zeros.empty() && done < run * cluster_size_; done += zeros.size()) {
      s = f_->PWrite(a.value + done, zeros.data(), std::min<uint64_t>(zeros.size(), run * cluster_size_ - done));
      if (!s.ok()) return s;
    }
    for (uint64_t i = 0; i < run; i++) {
      s = SetL2Entry(vc + i, (a.value + (i << cluster_bits_)) | kQcow2Copied, ext_l2_ ? 0xffffffffull : 0);
      if (!s.ok()) return s;
    }
    vc += run;
  }
  s = FlushMetadata();
  if (!s.ok()) return s;
  // metadata: the data clusters stay holes, but inside the file.
  uint64_t end = end_cluster_ << cluster_bits_;
  if (f_->Size() < end) s = f_->Truncate(end);
  if (s.ok()) s = Flush();
  return s;
}

// The persistent bitmaps as `info` lists them: [{"flags": [...], "name", "granularity"}].
std::string Qcow2Image::BitmapListJson() {
  for (const auto& [type, d] : h_.other_exts) {
    if (type != kExtBitmaps || d.size() < 24) continue;
    uint32_t nb = Be32(&d[0]);
    uint64_t dir_size = Be64(&d[8]), dir_off = Be64(&d[16]);
    if (dir_size > (1u << 20) || dir_off + dir_size > f_->Size()) return "";
    std::vector<uint8_t> dir(dir_size);
    if (!f_->PRead(dir_off, dir.data(), dir.size()).ok()) return "";
    std::string out = "[";
    uint64_t pos = 0;
    for (uint32_t b = 0; b < nb && pos + 24 <= dir.size(); b++) {
      uint32_t flags = Be32(&dir[pos + 12]);
      uint8_t gran = dir[pos + 17];
      uint16_t name_len = Be16(&dir[pos + 18]);
      uint32_t extra = Be32(&dir[pos + 20]);
      if (pos + 24 + uint64_t(extra) + name_len > dir.size() || gran > 63) return "";
      std::string name(reinterpret_cast<const char*>(&dir[pos + 24 + extra]), name_len);
      std::string esc;
      for (char c : name) {
        if (c == '"' || c == '\\') esc += '\\';
        if (static_cast<unsigned char>(c) >= 0x20) esc += c;
      }
      std::string fl;
      if (flags & 1) fl += "\"in-use\"";
      if (flags & 2) fl += std::string(fl.empty() ? "" : ",") + "\"auto\"";
      out += std::string(b ? "," : "") + "{\"flags\":[" + fl + "],\"name\":\"" + esc +
             "\",\"granularity\":" + std::to_string(1ull << gran) + "}";
      pos += (24 + uint64_t(extra) + name_len + 7) & ~7ull;
    }
    return out + "]";
  }
  return "";
}

}  // namespace emu::block
