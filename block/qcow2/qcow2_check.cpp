// qcow2 consistency check and repair: recompute every cluster's references
// from the metadata, compare with the stored refcounts, rebuild them if asked.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>

#include "block/qcow2/qcow2.h"

namespace emu::block {

namespace {
constexpr uint64_t kMaxCheckClusters = 1ull << 26;  // 256 MiB of counters
}  // namespace

Status BitmapRanges(File* f, const Qcow2Header& h, std::vector<std::pair<uint64_t, uint64_t>>* out) {
  uint64_t cs = 1ull << h.cluster_bits, cmask = cs - 1, fsize = f->Size();
  for (const auto& [type, d] : h.other_exts) {
    if (type != kExtBitmaps || d.size() < 24) continue;
    uint32_t nb = Be32(&d[0]);
    uint64_t dir_size = Be64(&d[8]), dir_off = Be64(&d[16]);
    if (dir_size > (64u << 20) || (dir_off & cmask) || dir_off + dir_size > fsize)
      return Status::Error(EINVAL, "bitmap directory at " + HexString(dir_off) + " is invalid");
    out->emplace_back(dir_off, dir_size);
    std::vector<uint8_t> dir(dir_size);
    Status s = f->PRead(dir_off, dir.data(), dir.size());
    if (!s.ok()) return s;
    uint64_t pos = 0;
    for (uint32_t b = 0; b < nb && pos + 24 <= dir.size(); b++) {
      uint64_t toff = Be64(&dir[pos]);
      uint32_t tsize = Be32(&dir[pos + 8]);
      uint16_t name_len = Be16(&dir[pos + 18]);
      uint32_t extra = Be32(&dir[pos + 20]);
      pos += (24 + uint64_t(extra) + name_len + 7) & ~7ull;
      if ((toff & cmask) || uint64_t(tsize) * 8 > (64u << 20) || toff + uint64_t(tsize) * 8 > fsize)
        return Status::Error(EINVAL, "bitmap table at " + HexString(toff) + " is invalid");
      if (!tsize) continue;
      out->emplace_back(toff, uint64_t(tsize) * 8);
      std::vector<uint8_t> tab(uint64_t(tsize) * 8);
      s = f->PRead(toff, tab.data(), tab.size());
      if (!s.ok()) return s;
      for (uint32_t k = 0; k < tsize; k++) {
        uint64_t off = Be64(&tab[k * 8]) & kQcow2OffsetMask;
        if (off) out->emplace_back(off, cs);
      }
    }
  }
  return Status::Ok();
}

Status Qcow2Image::Check(bool fix_leaks, bool fix_errors, CheckResult* r) {
  *r = CheckResult();
  if (!ro_) {
    Status s = FlushMetadata();
    if (!s.ok()) return s;
  }
  uint64_t fsize = f_->Size();
  uint64_t ncl = (fsize + cluster_size_ - 1) >> cluster_bits_;
  if (ncl > kMaxCheckClusters) return Status::Error(EFBIG, Where() + " is too large to check");
  std::vector<uint32_t> ref(ncl, 0);
  auto err = [&](const std::string& m) {
    r->corruptions++;
    r->messages.push_back(m);
  };
  auto inc_n = [&](uint64_t off, uint64_t len, const char* what, uint64_t n) {
    if (!len) return;
    for (uint64_t c = off >> cluster_bits_; c <= (off + len - 1) >> cluster_bits_; c++) {
      if (c >= ncl) {
        err(std::string("ERROR ") + what + " at offset " + HexString(off) + " is past the end of the image file");
        return;
      }
      ref[c] = static_cast<uint32_t>(std::min<uint64_t>(UINT32_MAX, ref[c] + n));
    }
  };
  auto inc = [&](uint64_t off, uint64_t len, const char* what) { inc_n(off, len, what, 1); };
  uint64_t cmask = cluster_size_ - 1;
  // Every L1 reference to an L2 table counts once for the table and once for
  // each cluster the table maps, so tables are walked once, with their number
  // of references (hostile images pointing all L1 entries at one table stay
  // cheap to check).
  std::map<uint64_t, uint64_t> l2_refs;      // L2 offset -> references from all L1s
  std::map<uint64_t, uint64_t> active_refs;  // same, from the active L1 only
  auto collect = [&](const std::vector<uint64_t>& l1, bool active) {
    for (size_t i = 0; i < l1.size(); i++) {
      uint64_t l2_off = l1[i] & kQcow2OffsetMask;
      if (!l2_off) continue;
      if (l2_off & cmask) {
        err("ERROR l2_offset=" + HexString(l2_off, false) + ": Table is not cluster aligned; L1 entry corrupted");
        continue;
      }
      if (l2_off + cluster_size_ > fsize) {
        err("ERROR l2_offset=" + HexString(l2_off, false) + ": L2 table is past the end of the image file");
        continue;
      }
      l2_refs[l2_off]++;
      if (active) active_refs[l2_off]++;
    }
  };
  auto walk_tables = [&]() {
    uint64_t prev_host = 0;
    for (const auto& [l2_off, n] : l2_refs) {
      inc_n(l2_off, cluster_size_, "L2 table", n);
      std::vector<uint64_t>* t;
      Status s = LoadL2(l2_off, &t);
      if (!s.ok()) {
        r->check_errors++;
        continue;
      }
      std::vector<uint64_t> copy = *t;
      auto it = active_refs.find(l2_off);
      uint64_t act = it == active_refs.end() ? 0 : it->second;
      for (uint64_t j = 0; j < l2_entries_; j++) {
        uint64_t e = copy[j * l2_words_];
        if (e & kQcow2Compressed) {
          CompressedData c = DecodeCompressed(e);
          if (e & kQcow2Copied) err("ERROR: coffset=" + HexString(c.host) + ": Compressed cluster has the COPIED flag set");
          inc_n(c.host, c.len, "compressed cluster", n);
          r->allocated_clusters += act;
          r->compressed_clusters += act;
          r->fragmented_clusters += act;  // compressed clusters count as fragmented (as qemu-img)
          continue;
        }
        uint64_t host = e & kQcow2OffsetMask;
        if (!host) continue;
        if (host & cmask) {
          err("ERROR offset=" + HexString(host, false) + ": Cluster is not properly aligned; L2 entry corrupted");
          continue;
        }
        inc_n(host, cluster_size_, "data cluster", n);
        bool zero = (e & kQcow2ZeroFlag) && h_.version >= 3 && !ext_l2_;
        if (act && !zero) {
          r->allocated_clusters += act;
          if (prev_host && host != prev_host + cluster_size_) r->fragmented_clusters++;
          prev_host = host;
        }
      }
    }
  };

  inc(0, cluster_size_, "header");
  inc(h_.l1_table_offset, uint64_t(h_.l1_size) * 8, "L1 table");
  collect(l1_, true);
  // Snapshots.
  if (h_.nb_snapshots) {
    uint64_t len = 0;
    for (const auto& sn : snaps_) len += (40 + sn.extra.size() + sn.id.size() + sn.name.size() + 7) & ~7ull;
    inc(h_.snapshots_offset, len, "snapshot table");
    for (const auto& sn : snaps_) {
      if (sn.l1_table_offset & cmask) {
        err("ERROR snapshot '" + sn.name + "' L1 table is not cluster aligned");
        continue;
      }
      inc(sn.l1_table_offset, uint64_t(sn.l1_size) * 8, "snapshot L1 table");
      std::vector<uint64_t> sl1;
      Status s = ReadL1At(sn.l1_table_offset, sn.l1_size, &sl1);
      if (!s.ok()) {
        r->check_errors++;
        continue;
      }
      collect(sl1, false);
    }
  }
  walk_tables();
  // Persistent dirty bitmaps (not interpreted, but their clusters are in use
  // while the autoclear bit says the extension is valid).
  if (h_.autoclear & kAutoclearBitmaps) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges;
    Status s = BitmapRanges(f_.get(), h_, &ranges);
    if (!s.ok()) err("ERROR " + s.message());
    for (const auto& [off, len] : ranges) inc(off, len, "bitmap metadata");
  }
  // References without the refcount structure itself (what a rebuild needs).
  std::vector<uint32_t> data_ref = ref;
  inc(h_.refcount_table_offset, uint64_t(h_.refcount_table_clusters) * cluster_size_, "refcount table");
  for (size_t i = 0; i < reftable_.size(); i++) {
    uint64_t off = reftable_[i] & kQcow2OffsetMask;
    if (!off) continue;
    if (off & cmask) {
      err("ERROR refcount block " + std::to_string(i) + " is not cluster aligned; refcount table entry corrupted");
      continue;
    }
    if (off >= fsize) {
      err("ERROR refcount block " + std::to_string(i) + " is outside the image");
      continue;
    }
    inc(off, cluster_size_, "refcount block");
  }
  // Compare with the stored refcounts.
  uint64_t highest = 0;
  std::vector<uint64_t> leaked;
  for (uint64_t c = 0; c < ncl; c++) {
    uint64_t stored = 0;
    Status s = GetRefcount(c, &stored);
    if (!s.ok()) {
      r->check_errors++;
      r->messages.push_back("ERROR " + s.message());
      break;
    }
    if (ref[c] || stored) highest = c;
    if (stored > ref[c]) {
      r->leaks++;
      leaked.push_back(c);
      r->messages.push_back("Leaked cluster " + std::to_string(c) + " refcount=" + std::to_string(stored) +
                            " reference=" + std::to_string(ref[c]));
    } else if (stored < ref[c]) {
      err("ERROR cluster " + std::to_string(c) + " refcount=" + std::to_string(stored) +
          " reference=" + std::to_string(ref[c]));
    }
  }
  // COPIED flags of the active tables follow the refcounts.
  for (size_t i = 0; i < l1_.size(); i++) {
    uint64_t l2_off = l1_[i] & kQcow2OffsetMask;
    if (!l2_off || (l2_off & cmask) || l2_off + cluster_size_ > fsize) continue;
    uint64_t rc = 0;
    if (!GetRefcount(l2_off >> cluster_bits_, &rc).ok()) continue;
    if ((rc == 1) != bool(l1_[i] & kQcow2Copied))
      err("ERROR OFLAG_COPIED L2 cluster: l1_index=" + std::to_string(i) + " l1_entry=" + HexString(l1_[i], false) +
          " refcount=" + std::to_string(rc));
  }
  for (const auto& [l2_off, n] : active_refs) {
    std::vector<uint64_t>* t;
    uint64_t rc = 0;
    if (!LoadL2(l2_off, &t).ok()) continue;
    for (uint64_t j = 0; j < l2_entries_; j++) {
      uint64_t e = (*t)[j * l2_words_];
      if (e & kQcow2Compressed) continue;
      uint64_t host = e & kQcow2OffsetMask;
      if (!host || (host & cmask)) continue;
      if (!GetRefcount(host >> cluster_bits_, &rc).ok()) continue;
      if ((rc == 1) != bool(e & kQcow2Copied))
        err("ERROR OFLAG_COPIED data cluster: l2_entry=" + HexString(e, false) + " refcount=" + std::to_string(rc));
    }
  }
  r->image_end_offset = (highest + 1) << cluster_bits_;
  r->total_clusters = (h_.size + cluster_size_ - 1) >> cluster_bits_;

  bool do_rebuild = fix_errors && r->corruptions;
  bool do_leaks = fix_leaks && r->leaks && !do_rebuild;
  if (!do_rebuild && fix_errors && !r->corruptions && (h_.incompatible & kIncCorrupt) && !ro_) {
    // Marked corrupt, but nothing is wrong (any more): clear the mark.
    h_.incompatible &= ~uint64_t(kIncCorrupt);
    Status s = WriteHeaderFields();
    if (s.ok()) s = SyncFile();
    if (!s.ok()) return s;
  }
  if (!do_rebuild && !do_leaks) return Status::Ok();
  if (ro_) return Status::Error(EROFS, Where() + " is opened read-only; cannot repair");
  int64_t leaks0 = r->leaks, corr0 = r->corruptions;
  if (do_leaks) {
    for (uint64_t c : leaked) {
      Status s = SetRefcount(c, ref[c]);
      if (!s.ok()) return s;
    }
    Status s = Flush();
    if (!s.ok()) return s;
  } else {
    // Rebuild the refcount structure after the end of the file.
    Status s = Flush();
    if (!s.ok()) return s;
    uint64_t per = refblock_entries_;
    uint64_t e = ncl;
    uint64_t tc = 1, nb = 1;
    for (int it = 0; it < 16; it++) {
      uint64_t total = e + tc + nb;
      uint64_t nb2 = (total + per - 1) / per;
      uint64_t tc2 = (nb2 * 8 + cluster_size_ - 1) >> cluster_bits_;
      if (nb2 == nb && tc2 == tc) break;
      nb = nb2;
      tc = tc2;
    }
    if (tc * cluster_size_ > (8u << 20)) return Status::Error(EFBIG, Where() + ": refcount table too large to rebuild");
    uint64_t maxv = RefcountMax();
    std::vector<uint8_t> blocks(nb * cluster_size_, 0);
    auto set = [&](uint64_t c, uint64_t v) {
      v = std::min(v, maxv);
      uint64_t bi = c / per, i = c % per;
      std::vector<uint8_t> tmp;
      uint8_t* b = &blocks[bi * cluster_size_];
      if (refcount_bits_ >= 8) {
        uint32_t bytes = refcount_bits_ / 8;
        for (int k = static_cast<int>(bytes) - 1; k >= 0; k--, v >>= 8) b[i * bytes + k] = uint8_t(v);
      } else {
        uint32_t pb = 8 / refcount_bits_, shift = (i % pb) * refcount_bits_;
        uint8_t mask = uint8_t(((1u << refcount_bits_) - 1) << shift);
        b[i / pb] = uint8_t((b[i / pb] & ~mask) | ((v << shift) & mask));
      }
    };
    for (uint64_t c = 0; c < ncl; c++)
      if (data_ref[c]) set(c, data_ref[c]);
    for (uint64_t c = e; c < e + tc + nb; c++) set(c, 1);
    std::vector<uint8_t> table(tc * cluster_size_, 0);
    for (uint64_t bi = 0; bi < nb; bi++) PutBe64(&table[bi * 8], (e + tc + bi) << cluster_bits_);
    s = f_->PWrite((e + tc) << cluster_bits_, blocks.data(), blocks.size());
    if (s.ok()) s = f_->PWrite(e << cluster_bits_, table.data(), table.size());
    if (s.ok()) s = SyncFile();
    if (!s.ok()) return s;
    h_.refcount_table_offset = e << cluster_bits_;
    h_.refcount_table_clusters = static_cast<uint32_t>(tc);
    if (h_.incompatible & kIncCorrupt) h_.incompatible &= ~uint64_t(kIncCorrupt);
    s = WriteHeaderFields();
    if (s.ok()) s = SyncFile();
    if (!s.ok()) return s;
    reftable_.assign(tc * cluster_size_ / 8, 0);
    for (uint64_t bi = 0; bi < nb; bi++) reftable_[bi] = (e + tc + bi) << cluster_bits_;
    rb_cache_.clear();
    pending_decrements_.clear();
    reftable_dirty_ = reftable_moved_ = false;
    end_cluster_ = e + tc + nb;
    free_hint_ = 0;
    compress_cursor_ = 0;
    s = UpdateCopiedFlags();
    if (s.ok()) s = Flush();
    if (!s.ok()) return s;
  }
  CheckResult again;
  Status s = Check(false, false, &again);
  if (!s.ok()) return s;
  again.leaks_fixed = std::max<int64_t>(0, leaks0 - again.leaks);
  again.corruptions_fixed = std::max<int64_t>(0, corr0 - again.corruptions);
  std::vector<std::string> msgs = r->messages;
  *r = again;
  msgs.insert(msgs.end(), again.messages.begin(), again.messages.end());
  r->messages = msgs;
  return Status::Ok();
}

}  // namespace emu::block
