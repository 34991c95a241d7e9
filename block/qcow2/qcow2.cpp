// qcow2: open, guest reads and writes through L1/L2, backing files, metadata
// writeback order.
#include "block/qcow2/qcow2.h"

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include "block/block_range.h"
#include "block/file.h"

namespace emu::block {

namespace {
// Cached L2 tables before a writeback is forced (bounds memory on big images).
constexpr size_t kMaxL2Cache = 512;
constexpr size_t kMaxRbCache = 256;
}  // namespace

Status Qcow2Image::Corrupt(const std::string& what) {
  // Writable v3 images get the corrupt bit, so that nobody writes to them
  // until `check -r all` had a look (reads still work).
  if (!ro_ && f_ && h_.version >= 3 && !(h_.incompatible & kIncCorrupt) && !l1_.empty()) {
    h_.incompatible |= kIncCorrupt;
    if (WriteHeaderFields().ok()) SyncFile();
    return Status::Error(EIO, Where() + " is corrupt: " + what + "; marked corrupt, repair with 'emu-img check -r all'");
  }
  return Status::Error(EIO, Where() + " is corrupt: " + what);
}

Result<std::unique_ptr<Qcow2Image>> Qcow2Image::Open(std::unique_ptr<File> f, const OpenOptions& o,
                                                     std::unique_ptr<BlockDriver> backing,
                                                     bool backing_given) {
  std::unique_ptr<Qcow2Image> q(new Qcow2Image());
  q->f_ = std::move(f);
  q->ro_ = o.read_only || q->f_->read_only();
  Status s = ReadQcow2Header(q->f_.get(), &q->h_);
  if (!s.ok()) return {s};
  s = q->Init(o);
  if (!s.ok()) return {s};
  if (backing_given) {
    q->backing_ = std::move(backing);
  } else if (!q->h_.backing_file.empty() && o.open_backing) {
    const std::string& path = q->f_->path();
    std::string bpath = ResolveBackingPath(path, q->h_.backing_file);
    std::vector<std::string> chain = o.chain;
    char* real = realpath(path.c_str(), nullptr);
    chain.push_back(real ? real : path);
    free(real);
    char* breal = realpath(bpath.c_str(), nullptr);
    std::string bkey = breal ? breal : bpath;
    free(breal);
    if (std::find(chain.begin(), chain.end(), bkey) != chain.end())
      return {Status::Error(ELOOP, "Backing file loop: '" + path + "' has backing file '" +
                                       q->h_.backing_file + "' which is already in its chain")};
    if (chain.size() > 64)
      return {Status::Error(ELOOP, "Backing chain of '" + path + "' is too deep (over 64 images)")};
    OpenOptions bo;
    bo.read_only = true;
    bo.cache = o.cache;
    bo.lock = o.lock;
    bo.force_share = o.force_share;
    bo.format = q->h_.backing_format;
    bo.chain = chain;
    bo.allowed_dirs = o.allowed_dirs;
    auto b = OpenImage(bpath, bo);
    if (!b.ok())
      return {Status::Error(b.status.err(), "Could not open backing file of '" + path + "': " +
                                                b.status.message())};
    q->backing_ = std::move(b.value);
  }
  return {Status::Ok(), std::move(q)};
}

Status Qcow2Image::Init(const OpenOptions& o) {
  cluster_bits_ = h_.cluster_bits;
  cluster_size_ = 1ull << cluster_bits_;
  ext_l2_ = h_.incompatible & kIncExtL2;
  l2_words_ = ext_l2_ ? 2 : 1;
  l2_entries_ = cluster_size_ / (8 * l2_words_);
  refcount_bits_ = 1u << h_.refcount_order;
  refblock_entries_ = cluster_size_ * 8 / refcount_bits_;
  if (ext_l2_ && cluster_size_ < 16384) return Corrupt("extended L2 entries need clusters of at least 16 KiB");
  if (h_.incompatible & kIncCorrupt) {
    // Readable, but writes are refused until `check -r all` repaired it.
  }
  // L1 table.
  l1_.assign(h_.l1_size, 0);
  if (h_.l1_size) {
    std::vector<uint8_t> raw(uint64_t(h_.l1_size) * 8);
    Status s = f_->PRead(h_.l1_table_offset, raw.data(), raw.size());
    if (!s.ok()) return s;
    for (uint32_t i = 0; i < h_.l1_size; i++) l1_[i] = Be64(&raw[i * 8]);
  }
  l1_alloc_entries_ = h_.l1_size;
  // Refcount table.
  uint64_t rt_entries = uint64_t(h_.refcount_table_clusters) * cluster_size_ / 8;
  std::vector<uint8_t> raw(rt_entries * 8);
  Status s = f_->PRead(h_.refcount_table_offset, raw.data(), raw.size());
  if (!s.ok()) return s;
  reftable_.resize(rt_entries);
  for (uint64_t i = 0; i < rt_entries; i++) reftable_[i] = Be64(&raw[i * 8]);
  end_cluster_ = (f_->Size() + cluster_size_ - 1) >> cluster_bits_;
  s = ReadSnapshotTable();
  if (!s.ok()) return s;
  // An image left dirty (lazy refcounts) has refcounts we can't trust: rebuild
  // them before writing anything.
  if ((h_.incompatible & kIncDirty) && !ro_) {
    CheckResult r;
    s = Check(true, true, &r);
    if (!s.ok()) return s;
    h_.incompatible &= ~uint64_t(kIncDirty);
    s = WriteHeaderFields();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Qcow2Image::~Qcow2Image() {
  if (ro_ || !f_) return;
  if (FlushMetadata().ok() && dirty_set_by_us_) {
    h_.incompatible &= ~uint64_t(kIncDirty);
    if (WriteHeaderFields().ok()) SyncFile();
  } else {
    SyncFile();
  }
}

Status Qcow2Image::WriteHeaderFields() {
  // Fixed fields only (extensions are rewritten by SetBackingName/Amend).
  uint8_t b[104];
  Status s = f_->PRead(0, b, sizeof b);
  if (!s.ok()) return s;
  PutBe64(b + 24, h_.size);
  PutBe32(b + 36, h_.l1_size);
  PutBe64(b + 40, h_.l1_table_offset);
  PutBe64(b + 48, h_.refcount_table_offset);
  PutBe32(b + 56, h_.refcount_table_clusters);
  PutBe32(b + 60, h_.nb_snapshots);
  PutBe64(b + 64, h_.snapshots_offset);
  size_t n = 72;
  if (h_.version >= 3) {
    PutBe64(b + 72, h_.incompatible);
    PutBe64(b + 80, h_.compatible);
    PutBe64(b + 88, h_.autoclear);
    n = 104;
  }
  return f_->PWrite(0, b, n);
}

Status Qcow2Image::BeginWrite() {
  if (ro_) return Status::Error(EROFS, Where() + " is opened read-only");
  if (h_.incompatible & kIncCorrupt)
    return Status::Error(EIO, Where() + " is marked corrupt; repair it with 'emu-img check -r all'");
  if (write_started_) return Status::Ok();
  write_started_ = true;
  bool hdr = false;
  // We don't keep persistent bitmaps up to date. Rather than only clearing the
  // autoclear bit (which the spec allows, but leaves the bitmap clusters
  // leaked), drop the bitmaps extension and free its clusters.
  if (h_.autoclear & kAutoclearBitmaps) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    Status s = BitmapRanges(f_.get(), h_, &ranges);
    Qcow2Header nh = h_;
    nh.autoclear = 0;
    std::erase_if(nh.other_exts, [](const auto& e) { return e.first == kExtBitmaps; });
    auto bytes = SerializeQcow2Header(nh);
    if (!bytes.ok()) return bytes.status;
    s = f_->PWrite(0, bytes.value.data(), bytes.value.size());
    if (s.ok()) s = SyncFile();
    if (!s.ok()) return s;
    h_ = nh;
    if (s.ok()) {
      for (const auto& [off, len] : ranges) {
        s = UpdateHostRefs(off, len, -1);
        if (!s.ok()) return s;
      }
    }
  }
  if (h_.autoclear) {
    h_.autoclear = 0;
    hdr = true;
  }
  if ((h_.compatible & kCompatLazyRefcounts) && !(h_.incompatible & kIncDirty)) {
    h_.incompatible |= kIncDirty;
    dirty_set_by_us_ = true;
    hdr = true;
  }
  if (hdr) {
    Status s = WriteHeaderFields();
    if (s.ok()) s = SyncFile();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Qcow2Image::CheckTableOffset(const char* what, uint64_t off) {
  const std::string name = what;
  if (off % cluster_size_) return Corrupt(name + " offset " + HexString(off) + " is not cluster aligned");
  if (off < cluster_size_) return Corrupt(name + " at " + HexString(off) + " overlaps the header");
  if (off + cluster_size_ > f_->Size()) return Corrupt(name + " offset " + HexString(off) + " is past the end of the file");
  return Status::Ok();
}

Qcow2Image::CompressedData Qcow2Image::DecodeCompressed(uint64_t entry) const {
  // Bits 0..x-1: host offset; x..61: additional 512-byte sectors (spec, "Compressed Clusters Descriptor").
  const uint32_t x = 62 - (cluster_bits_ - 8);
  const uint64_t host = entry & ((1ull << x) - 1);
  const uint64_t sectors = ((entry & ~kQcow2Copied & ~kQcow2Compressed) >> x) + 1;
  return {host, sectors * 512 - (host & 511)};
}

Status Qcow2Image::LoadL2(uint64_t l2_off, std::vector<uint64_t>** table) {
  auto it = l2_cache_.find(l2_off);
  if (it != l2_cache_.end()) {
    *table = &it->second.t;
    return Status::Ok();
  }
  if (Status s = CheckTableOffset("L2 table", l2_off); !s.ok()) return s;
  if (l2_cache_.size() >= kMaxL2Cache) {
    Status s = FlushMetadata();
    if (!s.ok()) return s;
    l2_cache_.clear();
  }
  std::vector<uint8_t> raw(cluster_size_);
  Status s = f_->PRead(l2_off, raw.data(), raw.size());
  if (!s.ok()) return s;
  L2Entry& e = l2_cache_[l2_off];
  e.t.resize(cluster_size_ / 8);
  for (size_t i = 0; i < e.t.size(); i++) e.t[i] = Be64(&raw[i * 8]);
  *table = &e.t;
  return Status::Ok();
}

Status Qcow2Image::Lookup(uint64_t vc, Mapping* m) {
  *m = Mapping();
  uint64_t l1i = vc / l2_entries_, l2i = vc % l2_entries_;
  if (l1i >= l1_.size()) return Status::Ok();
  uint64_t l2_off = l1_[l1i] & kQcow2OffsetMask;
  if (!l2_off) return Status::Ok();
  std::vector<uint64_t>* t;
  Status s = LoadL2(l2_off, &t);
  if (!s.ok()) return s;
  uint64_t e = (*t)[l2i * l2_words_];
  m->entry = e;
  if (ext_l2_) m->bitmap = (*t)[l2i * 2 + 1];
  if (e & kQcow2Compressed) {
    if (ext_l2_ && m->bitmap) return Corrupt("compressed cluster with a subcluster bitmap");
    CompressedData c = DecodeCompressed(e);
    m->kind = Kind::kCompressed;
    m->host = c.host;
    m->comp_size = c.len;
    if (c.host < cluster_size_ || c.host >= f_->Size())
      return Corrupt("compressed cluster at " + HexString(c.host) + " is outside the file");
    return Status::Ok();
  }
  uint64_t host = e & kQcow2OffsetMask;
  if (ext_l2_) {
    m->host = host;
    m->kind = host ? Kind::kNormal : Kind::kUnallocated;  // refined per subcluster
    if (host && host % cluster_size_) return Corrupt("data cluster offset " + HexString(host) + " is not cluster aligned");
    return Status::Ok();
  }
  if (e & kQcow2ZeroFlag && h_.version >= 3) {
    m->kind = Kind::kZero;
    m->host = host;
    return Status::Ok();
  }
  if (!host) return Status::Ok();
  if (host % cluster_size_) return Corrupt("data cluster offset " + HexString(host) + " is not cluster aligned");
  if (host < cluster_size_) return Corrupt("data cluster at " + HexString(host) + " overlaps the header");
  if (host >= f_->Size()) return Corrupt("data cluster offset " + HexString(host) + " is past the end of the file");
  m->kind = Kind::kNormal;
  m->host = host;
  return Status::Ok();
}

Status Qcow2Image::ReadFromBacking(uint64_t off, uint8_t* buf, uint64_t len) {
  if (!backing_) {
    std::memset(buf, 0, len);
    return Status::Ok();
  }
  uint64_t bsize = backing_->Size();
  uint64_t n = off >= bsize ? 0 : std::min(len, bsize - off);
  if (n) {
    Status s = backing_->Read(off, buf, n);
    if (!s.ok()) return s;
  }
  std::memset(buf + n, 0, len - n);
  return Status::Ok();
}

Status Qcow2Image::ReadCluster(uint64_t vc, const Mapping& m, uint64_t in, uint8_t* buf,
                               uint64_t len) {
  uint64_t voff = (vc << cluster_bits_) + in;
  if (ext_l2_ && m.kind != Kind::kCompressed) {
    uint64_t sc_size = cluster_size_ / 32;
    while (len) {
      uint64_t sc = in / sc_size;
      uint64_t n = std::min(len, (sc + 1) * sc_size - in);
      Status s;
      if (m.bitmap >> sc & 1) {
        if (!m.host) return Corrupt("allocated subcluster without a host cluster");
        s = f_->PRead(m.host + in, buf, n);
      } else if (m.bitmap >> (32 + sc) & 1) {
        std::memset(buf, 0, n);
      } else {
        s = ReadFromBacking(voff, buf, n);
      }
      if (!s.ok()) return s;
      in += n;
      voff += n;
      buf += n;
      len -= n;
    }
    return Status::Ok();
  }
  switch (m.kind) {
    case Kind::kUnallocated:
      return ReadFromBacking(voff, buf, len);
    case Kind::kZero:
      std::memset(buf, 0, len);
      return Status::Ok();
    case Kind::kNormal:
      return f_->PRead(m.host + in, buf, len);
    case Kind::kCompressed: {
      if (zcache_host_ != m.host) {
        std::vector<uint8_t> comp(m.comp_size);
        Status s = f_->PRead(m.host, comp.data(), comp.size());
        if (!s.ok()) return s;
        zcache_.resize(cluster_size_);
        zcache_host_ = UINT64_MAX;
        s = Qcow2Decompress(h_.compression_type, comp.data(), comp.size(), zcache_.data(),
                            cluster_size_);
        if (!s.ok()) return Corrupt("compressed cluster at " + HexString(m.host) + ": " + s.message());
        zcache_host_ = m.host;
      }
      std::memcpy(buf, zcache_.data() + in, len);
      return Status::Ok();
    }
  }
  return Status::Ok();
}

Status Qcow2Image::Read(uint64_t off, void* buf, uint64_t len) {
  if (off + len < off || off + len > h_.size)
    return Status::Error(EINVAL, "Read of " + std::to_string(len) + " bytes at " +
                                     std::to_string(off) + " is past the end of " + Where());
  auto* p = static_cast<uint8_t*>(buf);
  while (len) {
    uint64_t vc = off >> cluster_bits_, in = off & (cluster_size_ - 1);
    Mapping m;
    Status s = Lookup(vc, &m);
    if (!s.ok()) return s;
    // Merge a run of physically contiguous normal clusters into one read.
    uint64_t n = std::min(len, cluster_size_ - in);
    if (m.kind == Kind::kNormal && !ext_l2_) {
      while (n < len) {
        Mapping m2;
        if (!Lookup((off + n) >> cluster_bits_, &m2).ok() || m2.kind != Kind::kNormal ||
            m2.host != m.host + ((off + n) >> cluster_bits_ << cluster_bits_) - (vc << cluster_bits_))
          break;
        n = std::min(len, n + cluster_size_);
      }
      s = f_->PRead(m.host + in, p, n);
    } else {
      s = ReadCluster(vc, m, in, p, n);
    }
    if (!s.ok()) return s;
    off += n;
    p += n;
    len -= n;
  }
  return Status::Ok();
}

Status Qcow2Image::EnsureL1Size(uint64_t entries) {
  if (entries <= l1_.size() && entries <= l1_alloc_entries_) return Status::Ok();
  if (entries > (32u << 20) / 8) return Status::Error(EFBIG, Where() + ": L1 table would be too large");
  if (entries <= l1_alloc_entries_) {
    l1_.resize(entries, 0);
    h_.l1_size = static_cast<uint32_t>(entries);
    l1_dirty_ = true;
    return WriteHeaderFields();
  }
  // Move the L1 table to a bigger place: write it there, then switch the header.
  uint64_t new_entries = std::max<uint64_t>(entries, l1_.size() * 3 / 2);
  new_entries = std::min<uint64_t>(new_entries, (32u << 20) / 8);
  uint64_t clusters = (new_entries * 8 + cluster_size_ - 1) >> cluster_bits_;
  new_entries = std::max<uint64_t>(entries, std::min<uint64_t>(clusters * cluster_size_ / 8, (32u << 20) / 8));
  Status s = FlushMetadata();
  if (!s.ok()) return s;
  auto a = AllocClusters(clusters);
  if (!a.ok()) return a.status;
  uint64_t old_off = h_.l1_table_offset, old_clusters = (l1_alloc_entries_ * 8 + cluster_size_ - 1) >> cluster_bits_;
  l1_.resize(new_entries, 0);
  std::vector<uint8_t> raw(clusters * cluster_size_, 0);
  for (size_t i = 0; i < l1_.size(); i++) PutBe64(&raw[i * 8], l1_[i]);
  s = FlushMetadata();  // refcounts of the new table first
  if (s.ok()) s = f_->PWrite(a.value, raw.data(), raw.size());
  if (s.ok()) s = SyncFile();
  if (!s.ok()) return s;
  h_.l1_table_offset = a.value;
  h_.l1_size = static_cast<uint32_t>(entries);
  l1_.resize(entries);
  l1_alloc_entries_ = new_entries;
  l1_dirty_ = false;
  s = WriteHeaderFields();
  if (s.ok()) s = SyncFile();
  if (s.ok() && old_off && old_clusters) pending_decrements_.emplace_back(old_off, old_clusters);
  return s;
}

Status Qcow2Image::WriteL1() {
  std::vector<uint8_t> raw(l1_.size() * 8);
  for (size_t i = 0; i < l1_.size(); i++) PutBe64(&raw[i * 8], l1_[i]);
  return raw.empty() ? Status::Ok() : f_->PWrite(h_.l1_table_offset, raw.data(), raw.size());
}

Status Qcow2Image::GetL2ForWrite(uint64_t vc, std::vector<uint64_t>** table, uint64_t* l2_off) {
  uint64_t l1i = vc / l2_entries_;
  Status s = EnsureL1Size(l1i + 1);
  if (!s.ok()) return s;
  uint64_t e = l1_[l1i];
  uint64_t off = e & kQcow2OffsetMask;
  if (off && (e & kQcow2Copied)) {
    *l2_off = off;
    return LoadL2(off, table);
  }
  // New table, or copy-on-write of a table shared with a snapshot.
  std::vector<uint64_t> content(cluster_size_ / 8, 0);
  if (off) {
    std::vector<uint64_t>* old;
    s = LoadL2(off, &old);
    if (!s.ok()) return s;
    content = *old;
  }
  auto a = AllocClusters(1);
  if (!a.ok()) return a.status;
  if (l2_cache_.size() >= kMaxL2Cache) {
    s = FlushMetadata();
    if (!s.ok()) return s;
    l2_cache_.clear();
  }
  L2Entry& ne = l2_cache_[a.value];
  ne.t = std::move(content);
  ne.dirty = true;
  l1_[l1i] = a.value | kQcow2Copied;
  l1_dirty_ = true;
  if (off) pending_decrements_.emplace_back(off, 1);
  *l2_off = a.value;
  *table = &ne.t;
  return Status::Ok();
}

Status Qcow2Image::ReleaseEntry(uint64_t e) {
  if (e & kQcow2Compressed) {
    CompressedData c = DecodeCompressed(e);
    uint64_t first = c.host >> cluster_bits_;
    uint64_t last = (c.host + c.len - 1) >> cluster_bits_;
    for (uint64_t c = first; c <= last; c++) pending_decrements_.emplace_back(c << cluster_bits_, 1);
    return Status::Ok();
  }
  uint64_t host = e & kQcow2OffsetMask;
  if (host) pending_decrements_.emplace_back(host, 1);
  return Status::Ok();
}

Status Qcow2Image::SetL2Entry(uint64_t vc, uint64_t entry, uint64_t bitmap) {
  std::vector<uint64_t>* t;
  uint64_t l2_off;
  Status s = GetL2ForWrite(vc, &t, &l2_off);
  if (!s.ok()) return s;
  uint64_t l2i = vc % l2_entries_;
  uint64_t old = (*t)[l2i * l2_words_];
  (*t)[l2i * l2_words_] = entry;
  if (ext_l2_) (*t)[l2i * 2 + 1] = bitmap;
  l2_cache_[l2_off].dirty = true;
  if ((old & kQcow2OffsetMask) != (entry & kQcow2OffsetMask) || (old & kQcow2Compressed))
    s = ReleaseEntry(old);
  return s;
}

// Extended L2: allocation and zero state per 1/32 of a cluster. Writes touch
// whole subclusters (old content under the new bytes); a cluster that is
// compressed or shared with a snapshot is copied whole.
Status Qcow2Image::WriteClusterExt(uint64_t vc, uint64_t in, const uint8_t* buf, uint64_t len,
                                   const Mapping& m) {
  uint64_t sc = cluster_size_ / 32;
  uint64_t a0 = in / sc * sc, a1 = (in + len + sc - 1) / sc * sc;
  uint64_t covered = 0;
  for (uint64_t i = a0 / sc; i < a1 / sc; i++) covered |= 1ull << i;
  bool l1_copied = l1_[vc / l2_entries_] & kQcow2Copied;
  Status s;
  if (m.kind == Kind::kCompressed || (m.host && !((m.entry & kQcow2Copied) && l1_copied))) {
    std::vector<uint8_t> full(cluster_size_);
    s = ReadCluster(vc, m, 0, full.data(), cluster_size_);
    if (!s.ok()) return s;
    std::memcpy(full.data() + in, buf, len);
    auto a = AllocClusters(1);
    if (!a.ok()) return a.status;
    s = f_->PWrite(a.value, full.data(), cluster_size_);
    if (!s.ok()) return s;
    return SetL2Entry(vc, a.value | kQcow2Copied, 0xffffffffull);
  }
  std::vector<uint8_t> part(a1 - a0);
  if (a0 != in || a1 != in + len) {
    s = ReadCluster(vc, m, a0, part.data(), part.size());
    if (!s.ok()) return s;
  }
  std::memcpy(part.data() + (in - a0), buf, len);
  uint64_t host = m.host;
  if (!host) {
    auto a = AllocClusters(1);
    if (!a.ok()) return a.status;
    host = a.value;
  }
  s = f_->PWrite(host + a0, part.data(), part.size());
  if (!s.ok()) return s;
  uint64_t bitmap = ((m.bitmap & 0xffffffffull) | covered) | (((m.bitmap >> 32) & ~covered) << 32);
  if (host != m.host || bitmap != m.bitmap) return SetL2Entry(vc, host | kQcow2Copied, bitmap);
  return Status::Ok();
}

Status Qcow2Image::WriteCluster(uint64_t vc, uint64_t in, const uint8_t* buf, uint64_t len) {
  Mapping m;
  Status s = Lookup(vc, &m);
  if (!s.ok()) return s;
  if (ext_l2_) return WriteClusterExt(vc, in, buf, len, m);
  if (m.kind == Kind::kNormal && (m.entry & kQcow2Copied)) {
    uint64_t l1e = l1_[vc / l2_entries_];
    if (l1e & kQcow2Copied) return f_->PWrite(m.host + in, buf, len);
  }
  // Allocate: build the whole cluster (old content under the new bytes).
  std::vector<uint8_t> full;
  const uint8_t* data = buf;
  if (len != cluster_size_) {
    full.resize(cluster_size_);
    s = ReadCluster(vc, m, 0, full.data(), cluster_size_);
    if (!s.ok()) return s;
    std::memcpy(full.data() + in, buf, len);
    data = full.data();
  }
  if (m.kind == Kind::kNormal && !(m.entry & kQcow2Copied)) {
    // Shared with a snapshot: maybe we are the last user after all.
    uint64_t rc = 0;
    s = GetRefcount(m.host >> cluster_bits_, &rc);
    if (!s.ok()) return s;
    if (rc == 1 && (l1_[vc / l2_entries_] & kQcow2Copied)) {
      s = f_->PWrite(m.host, data, cluster_size_);
      if (!s.ok()) return s;
      return SetL2Entry(vc, m.host | kQcow2Copied);
    }
  }
  auto a = AllocClusters(1);
  if (!a.ok()) return a.status;
  s = f_->PWrite(a.value, data, cluster_size_);
  if (!s.ok()) return s;
  return SetL2Entry(vc, a.value | kQcow2Copied);
}

Status Qcow2Image::Write(uint64_t off, const void* buf, uint64_t len) {
  if (off + len < off || off + len > h_.size)
    return Status::Error(EINVAL, "Write of " + std::to_string(len) + " bytes at " +
                                     std::to_string(off) + " is past the end of " + Where());
  Status s = BeginWrite();
  if (!s.ok()) return s;
  const auto* p = static_cast<const uint8_t*>(buf);
  s = ForEachBlock(off, len, cluster_size_,
                   [&](const BlockPiece& b) { return WriteCluster(b.index, b.in, p + b.done, b.len); });
  if (!s.ok()) return s;
  if (l2_cache_.size() > kMaxL2Cache || rb_cache_.size() > kMaxRbCache ||
      pending_decrements_.size() > 65536)
    return FlushMetadata();
  return Status::Ok();
}

Status Qcow2Image::FlushMetadata() {
  if (ro_) return Status::Ok();
  bool l2_dirty = l1_dirty_;
  for (auto& [o, e] : l2_cache_) l2_dirty |= e.dirty;
  bool rb_dirty = reftable_dirty_;
  for (auto& [i, b] : rb_cache_) rb_dirty |= b.dirty;
  if (!l2_dirty && !rb_dirty && pending_decrements_.empty()) return Status::Ok();
  // 1. New refcounts (blocks, then the table that points to them).
  auto write_refcounts = [&]() -> Status {
    for (auto& [idx, b] : rb_cache_) {
      if (!b.dirty) continue;
      Status s = f_->PWrite(reftable_[idx], b.b.data(), b.b.size());
      if (!s.ok()) return s;
      b.dirty = false;
    }
    if (reftable_dirty_) {
      std::vector<uint8_t> raw(uint64_t(h_.refcount_table_clusters) * cluster_size_, 0);
      for (size_t i = 0; i < reftable_.size(); i++) PutBe64(&raw[i * 8], reftable_[i]);
      Status s = f_->PWrite(h_.refcount_table_offset, raw.data(), raw.size());
      if (!s.ok()) return s;
      if (reftable_moved_) {
        s = SyncFile();
        if (s.ok()) s = WriteHeaderFields();
        if (!s.ok()) return s;
        reftable_moved_ = false;
      }
      reftable_dirty_ = false;
    }
    return Status::Ok();
  };
  Status s = write_refcounts();
  if (!s.ok()) return s;
  // 2. Barrier, then the mapping that uses those clusters (L2 before L1).
  if (l2_dirty) {
    s = SyncFile();
    if (!s.ok()) return s;
    for (auto& [o, e] : l2_cache_) {
      if (!e.dirty) continue;
      std::vector<uint8_t> raw(cluster_size_);
      for (size_t i = 0; i < e.t.size(); i++) PutBe64(&raw[i * 8], e.t[i]);
      s = f_->PWrite(o, raw.data(), raw.size());
      if (!s.ok()) return s;
      e.dirty = false;
    }
    if (l1_dirty_) {
      s = SyncFile();
      if (s.ok()) s = WriteL1();
      if (!s.ok()) return s;
      l1_dirty_ = false;
    }
  }
  // 3. Barrier, then drop the references that the mapping no longer holds.
  if (!pending_decrements_.empty()) {
    s = SyncFile();
    if (!s.ok()) return s;
    auto pend = std::move(pending_decrements_);
    pending_decrements_.clear();
    for (auto& [host, n] : pend)
      for (int64_t i = 0; i < n; i++) {
        s = AddRef((host >> cluster_bits_) + i, -1);
        if (!s.ok()) return s;
      }
    s = write_refcounts();
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Qcow2Image::Flush() {
  if (ro_) return Status::Ok();
  Status s = FlushMetadata();
  if (s.ok()) s = SyncFile();
  return s;
}

Status Qcow2Image::Discard(uint64_t off, uint64_t len) {
  if (off + len < off || off + len > h_.size) return Status::Error(EINVAL, "Discard past the end of " + Where());
  Status s = BeginWrite();
  if (!s.ok()) return s;
  uint64_t first = (off + cluster_size_ - 1) >> cluster_bits_;
  uint64_t end = (off + len) >> cluster_bits_;
  if (off + len == h_.size) end = (h_.size + cluster_size_ - 1) >> cluster_bits_;
  for (uint64_t vc = first; vc < end; vc++) {
    Mapping m;
    s = Lookup(vc, &m);
    if (!s.ok()) return s;
    if (ext_l2_) {
      uint64_t bm = backing_ ? (0xffffffffull << 32) : 0;
      if (m.entry == 0 && m.bitmap == bm) continue;
      s = SetL2Entry(vc, 0, bm);
      if (!s.ok()) return s;
      continue;
    }
    if (m.kind == Kind::kUnallocated && !backing_) continue;
    // With a backing file an unallocated cluster would show the backing data.
    uint64_t e = (backing_ && h_.version >= 3) ? kQcow2ZeroFlag : 0;
    if (backing_ && h_.version < 3) continue;  // can't express zeros in v2: keep the data
    if (m.entry == e) continue;
    s = SetL2Entry(vc, e);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Qcow2Image::WriteZeroes(uint64_t off, uint64_t len) {
  if (off + len < off || off + len > h_.size) return Status::Error(EINVAL, "Write past the end of " + Where());
  Status s = BeginWrite();
  if (!s.ok()) return s;
  return ForEachBlock(off, len, cluster_size_, [&](const BlockPiece& b) {
    bool whole = b.in == 0 && (b.len == cluster_size_ || b.offset + b.len == h_.size);
    if (!whole || (h_.version < 3 && backing_)) {
      std::vector<uint8_t> z(b.len, 0);
      return WriteCluster(b.index, b.in, z.data(), b.len);
    }
    Mapping m;
    if (Status ls = Lookup(b.index, &m); !ls.ok()) return ls;
    if (ext_l2_) {
      if (m.entry != 0 || m.bitmap != (0xffffffffull << 32)) return SetL2Entry(b.index, 0, 0xffffffffull << 32);
    } else if (!(m.kind == Kind::kZero && !m.host) && !(m.kind == Kind::kUnallocated && !backing_)) {
      return SetL2Entry(b.index, h_.version >= 3 ? kQcow2ZeroFlag : 0);
    }
    return Status::Ok();
  });
}

Result<std::unique_ptr<BlockDriver>> Qcow2OpenWithBacking(std::unique_ptr<File> f,
                                                          const OpenOptions& o,
                                                          std::unique_ptr<BlockDriver> backing) {
  bool given = backing != nullptr;
  auto r = Qcow2Image::Open(std::move(f), o, std::move(backing), given);
  if (!r.ok()) return {r.status};
  return {Status::Ok(), std::move(r.value)};
}

const FormatInfo& Qcow2Format() {
  static const FormatInfo info = {
      "qcow2",
      [](const uint8_t* h, size_t len, const std::string&) {
        // Magic alone decides: the driver then names what else is wrong.
        return len >= 4 && Be32(h) == kQcow2Magic ? 100 : 0;
      },
      [](std::unique_ptr<File> f, const OpenOptions& o) {
        return Qcow2OpenWithBacking(std::move(f), o, nullptr);
      },
      CreateQcow2,
  };
  return info;
}

}  // namespace emu::block
