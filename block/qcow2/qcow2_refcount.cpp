// qcow2 refcounts: the two-level refcount table/blocks, cluster allocation.
//
// New clusters come from free holes (single clusters) or the end of the file.
// A missing refcount block is placed at the allocation point itself, so it
// always describes either itself or a cluster whose block already exists.
#include <algorithm>
#include <cerrno>
#include <cstring>

#include "block/qcow2/qcow2.h"

namespace emu::block {

namespace {
uint64_t GetEntry(const std::vector<uint8_t>& b, uint64_t i, uint32_t bits) {
  if (bits >= 8) {
    uint32_t bytes = bits / 8;
    uint64_t v = 0;
    for (uint32_t k = 0; k < bytes; k++) v = v << 8 | b[i * bytes + k];
    return v;
  }
  uint32_t per = 8 / bits;
  return (b[i / per] >> ((i % per) * bits)) & ((1u << bits) - 1);
}

void SetEntry(std::vector<uint8_t>& b, uint64_t i, uint32_t bits, uint64_t v) {
  if (bits >= 8) {
    uint32_t bytes = bits / 8;
    for (int k = static_cast<int>(bytes) - 1; k >= 0; k--, v >>= 8) b[i * bytes + k] = uint8_t(v);
    return;
  }
  uint32_t per = 8 / bits, shift = (i % per) * bits;
  uint8_t mask = uint8_t(((1u << bits) - 1) << shift);
  b[i / per] = uint8_t((b[i / per] & ~mask) | ((v << shift) & mask));
}
}  // namespace

uint64_t Qcow2Image::RefcountMax() const {
  return refcount_bits_ == 64 ? UINT64_MAX : (1ull << refcount_bits_) - 1;
}

Status Qcow2Image::LoadRefBlock(uint64_t idx, std::vector<uint8_t>** blk, bool create) {
  *blk = nullptr;
  auto it = rb_cache_.find(idx);
  if (it != rb_cache_.end()) {
    *blk = &it->second.b;
    return Status::Ok();
  }
  if (idx >= reftable_.size() || reftable_[idx] == 0) {
    if (!create) return Status::Ok();
    return Status::Error(EIO, "internal: refcount block " + std::to_string(idx) + " missing");
  }
  uint64_t off = reftable_[idx];
  if (off & ~kQcow2OffsetMask) off &= kQcow2OffsetMask;  // reserved bits
  if (Status s = CheckTableOffset("refcount block", off); !s.ok()) return s;
  if (rb_cache_.size() >= 4096) {
    Status s = FlushMetadata();
    if (!s.ok()) return s;
    for (auto i = rb_cache_.begin(); i != rb_cache_.end();) i = i->second.dirty ? std::next(i) : rb_cache_.erase(i);
  }
  RefBlock& r = rb_cache_[idx];
  r.b.assign(cluster_size_, 0);
  Status s = f_->PRead(off, r.b.data(), cluster_size_);
  if (!s.ok()) {
    rb_cache_.erase(idx);
    return s;
  }
  *blk = &r.b;
  return Status::Ok();
}

Status Qcow2Image::GetRefcount(uint64_t cluster, uint64_t* rc) {
  std::vector<uint8_t>* b;
  Status s = LoadRefBlock(cluster / refblock_entries_, &b, false);
  if (!s.ok()) return s;
  *rc = b ? GetEntry(*b, cluster % refblock_entries_, refcount_bits_) : 0;
  return Status::Ok();
}

Status Qcow2Image::SetRefcount(uint64_t cluster, uint64_t rc) {
  uint64_t idx = cluster / refblock_entries_;
  std::vector<uint8_t>* b;
  Status s = LoadRefBlock(idx, &b, false);
  if (!s.ok()) return s;
  if (!b) {
    if (rc == 0) return Status::Ok();
    return Status::Error(EIO, Where() + ": internal: no refcount block for cluster " + std::to_string(cluster));
  }
  SetEntry(*b, cluster % refblock_entries_, refcount_bits_, rc);
  rb_cache_[idx].dirty = true;
  if (rc == 0 && cluster < free_hint_) free_hint_ = cluster;
  return Status::Ok();
}

Status Qcow2Image::AddRef(uint64_t cluster, int64_t delta) {
  uint64_t rc = 0;
  Status s = GetRefcount(cluster, &rc);
  if (!s.ok()) return s;
  if (delta < 0 && rc < uint64_t(-delta))
    return Corrupt("refcount of cluster " + std::to_string(cluster) + " would drop below zero");
  if (delta > 0 && RefcountMax() - rc < uint64_t(delta))
    return Status::Error(ERANGE, Where() + ": refcount of cluster " + std::to_string(cluster) + " would overflow");
  if (delta > 0 && rc == 0) {
    // Clusters past the known end (e.g. preallocated by another tool).
    std::vector<uint8_t>* b;
    s = LoadRefBlock(cluster / refblock_entries_, &b, false);
    if (!s.ok()) return s;
    if (!b) return Corrupt("cluster " + std::to_string(cluster) + " is referenced but has no refcount block");
  }
  if (delta < 0 && rc + delta == 0 && compress_cursor_ >> cluster_bits_ == cluster) compress_cursor_ = 0;
  return SetRefcount(cluster, rc + delta);
}

Status Qcow2Image::UpdateHostRefs(uint64_t host_off, uint64_t len, int64_t delta) {
  if (!len) return Status::Ok();
  for (uint64_t c = host_off >> cluster_bits_; c <= (host_off + len - 1) >> cluster_bits_; c++) {
    Status s = AddRef(c, delta);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Qcow2Image::GrowRefcountTable(uint64_t min_blocks) {
  uint64_t old_entries = reftable_.size();
  uint64_t want = std::max<uint64_t>({min_blocks + 1, old_entries * 2,
                                      (end_cluster_ + 1024) / refblock_entries_ + 2});
  uint64_t tc = (want * 8 + cluster_size_ - 1) >> cluster_bits_;
  if (tc * cluster_size_ > (8u << 20)) return Status::Error(EFBIG, Where() + ": refcount table would exceed 8 MiB");
  uint64_t old_off = h_.refcount_table_offset, old_tc = h_.refcount_table_clusters;
  reftable_.resize(tc * cluster_size_ / 8, 0);
  auto a = AllocClusters(tc);
  if (!a.ok()) return a.status;
  h_.refcount_table_offset = a.value;
  h_.refcount_table_clusters = static_cast<uint32_t>(tc);
  reftable_dirty_ = true;
  reftable_moved_ = true;
  if (old_off) pending_decrements_.emplace_back(old_off, old_tc);
  return Status::Ok();
}

Result<uint64_t> Qcow2Image::AllocClusters(uint64_t n) {
  if (n == 1) {
    // Reuse a free cluster inside the existing refcount blocks.
    for (uint64_t c = std::max<uint64_t>(free_hint_, 1); c < end_cluster_;) {
      uint64_t idx = c / refblock_entries_;
      if (idx >= reftable_.size() || reftable_[idx] == 0) {
        c = (idx + 1) * refblock_entries_;
        continue;
      }
      uint64_t rc;
      Status s = GetRefcount(c, &rc);
      if (!s.ok()) return {s};
      if (rc == 0) {
        s = SetRefcount(c, 1);
        if (!s.ok()) return {s};
        free_hint_ = c + 1;
        return {Status::Ok(), c << cluster_bits_};
      }
      c++;
    }
    free_hint_ = end_cluster_;
  }
  for (int guard = 0; guard < 1000000; guard++) {
    uint64_t e = std::max<uint64_t>(end_cluster_, 1);
    if ((e + n) << cluster_bits_ >> cluster_bits_ != e + n || ((e + n) << cluster_bits_) > (1ull << 56))
      return {Status::Error(EFBIG, Where() + ": image file would be too large")};
    bool restart = false;
    {
      // The end may be in use after all (refcounts past the end of the file).
      uint64_t rc = 0;
      Status s = GetRefcount(e, &rc);
      if (!s.ok()) return {s};
      if (rc) {
        end_cluster_ = e + 1;
        continue;
      }
    }
    for (uint64_t c = e; c < e + n && !restart; c = (c / refblock_entries_ + 1) * refblock_entries_) {
      uint64_t idx = c / refblock_entries_;
      if (idx >= reftable_.size()) {
        Status s = GrowRefcountTable(idx + 1);
        if (!s.ok()) return {s};
        restart = true;
      } else if (reftable_[idx] == 0) {
        // New block at cluster e; it counts itself if it covers e, otherwise
        // e's own block exists (e was checked first).
        reftable_[idx] = e << cluster_bits_;
        reftable_dirty_ = true;
        RefBlock& r = rb_cache_[idx];
        r.b.assign(cluster_size_, 0);
        r.dirty = true;
        end_cluster_ = e + 1;
        Status s = SetRefcount(e, 1);
        if (!s.ok()) return {s};
        restart = true;
      }
    }
    if (restart) continue;
    for (uint64_t c = e; c < e + n; c++) {
      uint64_t rc;
      Status s = GetRefcount(c, &rc);
      if (!s.ok()) return {s};
      if (rc) {
        end_cluster_ = c + 1;
        restart = true;
        break;
      }
    }
    if (restart) continue;
    for (uint64_t c = e; c < e + n; c++) {
      Status s = SetRefcount(c, 1);
      if (!s.ok()) return {s};
    }
    end_cluster_ = e + n;
    return {Status::Ok(), e << cluster_bits_};
  }
  return {Status::Error(EIO, Where() + ": cluster allocation did not converge")};
}

}  // namespace emu::block
