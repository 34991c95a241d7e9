// qcow2 internal snapshots: the snapshot table, create/apply/delete with the
// refcount updates they imply, and the COPIED flags that follow refcounts.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <set>

#include "block/qcow2/qcow2.h"

namespace emu::block {

Status Qcow2Image::ReadSnapshotTable() {
  snaps_.clear();
  if (!h_.nb_snapshots) return Status::Ok();
  uint64_t fsize = f_->Size();
  uint64_t pos = h_.snapshots_offset;
  uint64_t total = 0;
  for (uint32_t i = 0; i < h_.nb_snapshots; i++) {
    uint8_t e[40];
    if (pos + 40 > fsize) return Corrupt("snapshot table runs past the end of the file");
    Status s = f_->PRead(pos, e, 40);
    if (!s.ok()) return s;
    Qcow2Snapshot sn;
    sn.l1_table_offset = Be64(e);
    sn.l1_size = Be32(e + 8);
    uint16_t id_len = Be16(e + 12), name_len = Be16(e + 14);
    sn.date_sec = Be32(e + 16);
    sn.date_nsec = Be32(e + 20);
    sn.vm_clock_nsec = Be64(e + 24);
    sn.vm_state_size = Be32(e + 32);
    uint32_t extra = Be32(e + 36);
    if (extra > 1024) return Corrupt("snapshot " + std::to_string(i) + " has too much extra data");
    uint64_t raw_len = 40 + uint64_t(extra) + id_len + name_len;
    uint64_t len = (raw_len + 7) & ~7ull;  // the padding may lie past the end of the file
    total += len;
    if (total > (64u << 20)) return Corrupt("snapshot table is larger than 64 MiB");
    if (pos + raw_len > fsize) return Corrupt("snapshot table runs past the end of the file");
    std::vector<uint8_t> rest(len - 40);
    s = f_->PRead(pos + 40, rest.data(), rest.size());
    if (!s.ok()) return s;
    sn.extra.assign(rest.begin(), rest.begin() + extra);
    sn.disk_size = h_.size;
    if (extra >= 16) sn.disk_size = Be64(&sn.extra[8]);
    if (extra >= 24) sn.icount = Be64(&sn.extra[16]);
    sn.id.assign(reinterpret_cast<char*>(&rest[extra]), id_len);
    sn.name.assign(reinterpret_cast<char*>(&rest[extra + id_len]), name_len);
    if (sn.l1_size > (32u << 20) / 8) return Corrupt("snapshot '" + sn.name + "' has an L1 table that is too large");
    if (sn.l1_size && (sn.l1_table_offset % cluster_size_ || sn.l1_table_offset + uint64_t(sn.l1_size) * 8 > fsize))
      return Corrupt("snapshot '" + sn.name + "' L1 table is outside the file");
    snaps_.push_back(std::move(sn));
    pos += len;
  }
  return Status::Ok();
}

Status Qcow2Image::WriteSnapshotTable(const std::vector<Qcow2Snapshot>& snaps) {
  std::vector<uint8_t> t;
  for (const auto& sn : snaps) {
    std::vector<uint8_t> extra = sn.extra;
    if (extra.size() < 16) extra.resize(16, 0);
    PutBe64(&extra[8], sn.disk_size);
    uint64_t start = t.size();
    t.resize(start + 40, 0);
    uint8_t* e = &t[start];
    PutBe64(e, sn.l1_table_offset);
    PutBe32(e + 8, sn.l1_size);
    PutBe16(e + 12, static_cast<uint16_t>(sn.id.size()));
    PutBe16(e + 14, static_cast<uint16_t>(sn.name.size()));
    PutBe32(e + 16, sn.date_sec);
    PutBe32(e + 20, sn.date_nsec);
    PutBe64(e + 24, sn.vm_clock_nsec);
    PutBe32(e + 32, sn.vm_state_size);
    PutBe32(e + 36, static_cast<uint32_t>(extra.size()));
    t.insert(t.end(), extra.begin(), extra.end());
    t.insert(t.end(), sn.id.begin(), sn.id.end());
    t.insert(t.end(), sn.name.begin(), sn.name.end());
    t.resize((t.size() + 7) & ~size_t(7), 0);
  }
  uint64_t new_off = 0;
  uint64_t clusters = (t.size() + cluster_size_ - 1) >> cluster_bits_;
  if (clusters) {
    auto a = AllocClusters(clusters);
    if (!a.ok()) return a.status;
    new_off = a.value;
    t.resize(clusters * cluster_size_, 0);
    Status s = FlushMetadata();
    if (s.ok()) s = f_->PWrite(new_off, t.data(), t.size());
    if (s.ok()) s = SyncFile();
    if (!s.ok()) return s;
  }
  uint64_t old_off = h_.snapshots_offset;
  uint64_t old_len = 0;
  for (const auto& sn : snaps_) {
    old_len += (40 + std::max<size_t>(sn.extra.size(), 0) + sn.id.size() + sn.name.size() + 7) & ~7ull;
  }
  h_.snapshots_offset = new_off;
  h_.nb_snapshots = static_cast<uint32_t>(snaps.size());
  Status s = WriteHeaderFields();
  if (s.ok()) s = SyncFile();
  if (!s.ok()) return s;
  if (old_off && old_len) {
    uint64_t oc = (old_len + cluster_size_ - 1) >> cluster_bits_;
    for (uint64_t i = 0; i < oc; i++) {
      s = AddRef((old_off >> cluster_bits_) + i, -1);
      if (!s.ok()) return s;
    }
  }
  snaps_ = snaps;
  return FlushMetadata();
}

Status Qcow2Image::ReadL1At(uint64_t off, uint32_t size, std::vector<uint64_t>* l1) {
  std::vector<uint8_t> raw(uint64_t(size) * 8);
  Status s = size ? f_->PRead(off, raw.data(), raw.size()) : Status::Ok();
  if (!s.ok()) return s;
  l1->resize(size);
  for (uint32_t i = 0; i < size; i++) (*l1)[i] = Be64(&raw[i * 8]);
  return Status::Ok();
}

Status Qcow2Image::AdjustTreeRefs(const std::vector<uint64_t>& l1, int64_t delta) {
  for (uint64_t e1 : l1) {
    uint64_t l2_off = e1 & kQcow2OffsetMask;
    if (!l2_off) continue;
    std::vector<uint64_t>* t;
    Status s = LoadL2(l2_off, &t);
    if (!s.ok()) return s;
    std::vector<uint64_t> copy = *t;  // LoadL2 below may evict
    for (uint64_t i = 0; i < l2_entries_; i++) {
      uint64_t e = copy[i * l2_words_];
      if (e & kQcow2Compressed) {
        CompressedData c = DecodeCompressed(e);
        s = UpdateHostRefs(c.host, c.len, delta);
      } else if (e & kQcow2OffsetMask) {
        s = AddRef((e & kQcow2OffsetMask) >> cluster_bits_, delta);
      }
      if (!s.ok()) return s;
    }
    s = AddRef(l2_off >> cluster_bits_, delta);
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

Status Qcow2Image::UpdateCopiedFlags() {
  std::set<uint64_t> tables;
  for (size_t i = 0; i < l1_.size(); i++) {
    uint64_t l2_off = l1_[i] & kQcow2OffsetMask;
    if (!l2_off) continue;
    uint64_t rc;
    Status s = GetRefcount(l2_off >> cluster_bits_, &rc);
    if (!s.ok()) return s;
    uint64_t ne = rc == 1 ? (l1_[i] | kQcow2Copied) : (l1_[i] & ~kQcow2Copied);
    if (ne != l1_[i]) {
      l1_[i] = ne;
      l1_dirty_ = true;
    }
    tables.insert(l2_off);
  }
  for (uint64_t l2_off : tables) {
    std::vector<uint64_t>* t;
    Status s = LoadL2(l2_off, &t);
    if (!s.ok()) return s;
    bool dirty = false;
    for (uint64_t j = 0; j < l2_entries_; j++) {
      uint64_t& e = (*t)[j * l2_words_];
      if (e & kQcow2Compressed) continue;
      uint64_t host = e & kQcow2OffsetMask;
      if (!host) continue;
      uint64_t rc;
      s = GetRefcount(host >> cluster_bits_, &rc);
      if (!s.ok()) return s;
      uint64_t n = rc == 1 ? (e | kQcow2Copied) : (e & ~kQcow2Copied);
      if (n != e) {
        e = n;
        dirty = true;
      }
    }
    if (dirty) l2_cache_[l2_off].dirty = true;
  }
  return Status::Ok();
}

int Qcow2Image::FindSnapshot(const std::string& key) const {
  for (size_t i = 0; i < snaps_.size(); i++)
    if (snaps_[i].id == key) return static_cast<int>(i);
  for (size_t i = 0; i < snaps_.size(); i++)
    if (snaps_[i].name == key) return static_cast<int>(i);
  return -1;
}

Status Qcow2Image::ListSnapshots(std::vector<SnapshotInfo>* out) {
  for (const auto& sn : snaps_) {
    SnapshotInfo i;
    i.id = sn.id;
    i.name = sn.name;
    i.vm_state_size = sn.vm_state_size;
    if (sn.extra.size() >= 8) i.vm_state_size = Be64(&sn.extra[0]);
    i.date_sec = sn.date_sec;
    i.date_nsec = sn.date_nsec;
    i.vm_clock_nsec = sn.vm_clock_nsec;
    i.icount = sn.icount;
    out->push_back(i);
  }
  return Status::Ok();
}

Status Qcow2Image::CreateSnapshot(const std::string& name) {
  Status s = BeginWrite();
  if (!s.ok()) return s;
  if (name.empty() || name.size() > 65535) return Status::Error(EINVAL, "Invalid snapshot name");
  for (const auto& sn : snaps_)
    if (sn.name == name) return Status::Error(EEXIST, "Snapshot '" + name + "' already exists in '" + f_->path() + "'");
  s = FlushMetadata();
  if (!s.ok()) return s;
  // Copy of the active L1.
  Qcow2Snapshot sn;
  sn.l1_size = static_cast<uint32_t>(l1_.size());
  if (!l1_.empty()) {
    uint64_t clusters = (l1_.size() * 8 + cluster_size_ - 1) >> cluster_bits_;
    auto a = AllocClusters(clusters);
    if (!a.ok()) return a.status;
    sn.l1_table_offset = a.value;
  }
  s = AdjustTreeRefs(l1_, +1);
  if (!s.ok()) return s;
  s = FlushMetadata();
  if (!s.ok()) return s;
  if (!l1_.empty()) {
    std::vector<uint8_t> raw(((l1_.size() * 8 + cluster_size_ - 1) >> cluster_bits_) << cluster_bits_, 0);
    for (size_t i = 0; i < l1_.size(); i++) PutBe64(&raw[i * 8], l1_[i] & ~kQcow2Copied);
    s = f_->PWrite(sn.l1_table_offset, raw.data(), raw.size());
    if (!s.ok()) return s;
  }
  uint64_t max_id = 0;
  for (const auto& o : snaps_) max_id = std::max<uint64_t>(max_id, strtoull(o.id.c_str(), nullptr, 10));
  sn.id = std::to_string(max_id + 1);
  sn.name = name;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  sn.date_sec = static_cast<uint32_t>(ts.tv_sec);
  sn.date_nsec = static_cast<uint32_t>(ts.tv_nsec);
  sn.disk_size = h_.size;
  sn.extra.assign(16, 0);
  std::vector<Qcow2Snapshot> ns = snaps_;
  ns.push_back(sn);
  s = UpdateCopiedFlags();
  if (s.ok()) s = FlushMetadata();
  if (s.ok()) s = SyncFile();
  if (s.ok()) s = WriteSnapshotTable(ns);
  if (s.ok()) s = Flush();
  return s;
}

Status Qcow2Image::SnapshotToChange(const std::string& key, int* index, std::vector<uint64_t>* l1) {
  Status s = BeginWrite();
  if (!s.ok()) return s;
  *index = FindSnapshot(key);
  if (*index < 0) return Status::Error(ENOENT, "Can't find the snapshot '" + key + "' in '" + f_->path() + "'");
  return ReadL1At(snaps_[*index].l1_table_offset, snaps_[*index].l1_size, l1);
}

Status Qcow2Image::ApplySnapshot(const std::string& key) {
  int i;
  std::vector<uint64_t> sl1;
  Status s = SnapshotToChange(key, &i, &sl1);
  if (!s.ok()) return s;
  const Qcow2Snapshot sn = snaps_[i];
  s = FlushMetadata();
  if (!s.ok()) return s;
  // References of the snapshot's tree first, then switch, then drop the old tree.
  s = AdjustTreeRefs(sl1, +1);
  if (!s.ok()) return s;
  std::vector<uint64_t> old = l1_;
  s = FlushMetadata();
  if (!s.ok()) return s;
  s = EnsureL1Size(sl1.size());
  if (!s.ok()) return s;
  l1_.assign(l1_.size(), 0);
  for (size_t k = 0; k < sl1.size(); k++) l1_[k] = sl1[k] & ~kQcow2Copied;
  h_.l1_size = static_cast<uint32_t>(sl1.size());
  l1_.resize(sl1.size());
  l1_dirty_ = true;
  s = FlushMetadata();
  if (s.ok()) s = SyncFile();
  if (s.ok() && sn.disk_size != h_.size) {
    h_.size = sn.disk_size;
  }
  if (s.ok()) s = WriteHeaderFields();
  if (s.ok()) s = SyncFile();
  if (!s.ok()) return s;
  s = AdjustTreeRefs(old, -1);
  if (s.ok()) s = UpdateCopiedFlags();
  if (s.ok()) s = Flush();
  zcache_host_ = UINT64_MAX;
  return s;
}

Status Qcow2Image::DeleteSnapshot(const std::string& key) {
  int i;
  std::vector<uint64_t> sl1;
  Status s = SnapshotToChange(key, &i, &sl1);
  if (!s.ok()) return s;
  const Qcow2Snapshot sn = snaps_[i];
  std::vector<Qcow2Snapshot> ns = snaps_;
  ns.erase(ns.begin() + i);
  s = Flush();
  if (s.ok()) s = WriteSnapshotTable(ns);
  if (!s.ok()) return s;
  s = AdjustTreeRefs(sl1, -1);
  if (!s.ok()) return s;
  uint64_t clusters = (uint64_t(sn.l1_size) * 8 + cluster_size_ - 1) >> cluster_bits_;
  for (uint64_t c = 0; c < clusters; c++) {
    s = AddRef((sn.l1_table_offset >> cluster_bits_) + c, -1);
    if (!s.ok()) return s;
  }
  s = UpdateCopiedFlags();
  if (s.ok()) s = Flush();
  return s;
}

}  // namespace emu::block
