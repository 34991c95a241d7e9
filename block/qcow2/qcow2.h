// qcow2 (versions 2 and 3), written from the qcow2 specification
// (docs/interop/qcow2.txt): header and extensions, two-level L1/L2 mapping,
// refcounts, compressed clusters, backing files, internal snapshots.
//
// Crash safety: data is written before the L2 entry that points to it, new
// refcounts are on disk (with a flush barrier) before the L2/L1 entries that use
// them, and refcount decrements are applied only after the entries that dropped
// the reference are on disk. A crash therefore leaves at worst leaked clusters.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "block/block_driver.h"
#include "block/image.h"

namespace emu::block {

constexpr uint32_t kQcow2Magic = 0x514649fb;  // "QFI\xfb"
constexpr uint64_t kQcow2OffsetMask = 0x00fffffffffffe00ull;  // bits 9-55
constexpr uint64_t kQcow2Copied = 1ull << 63;
constexpr uint64_t kQcow2Compressed = 1ull << 62;
constexpr uint64_t kQcow2ZeroFlag = 1ull;

enum Qcow2Incompat : uint64_t {
  kIncDirty = 1, kIncCorrupt = 2, kIncDataFile = 4, kIncCompression = 8, kIncExtL2 = 16,
};
constexpr uint64_t kCompatLazyRefcounts = 1;
constexpr uint64_t kAutoclearBitmaps = 1;

constexpr uint32_t kExtEnd = 0;
constexpr uint32_t kExtBackingFormat = 0xe2792aca;
constexpr uint32_t kExtFeatureNames = 0x6803f857;
constexpr uint32_t kExtBitmaps = 0x23852875;

struct Qcow2Header {
  uint32_t version = 3;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible = 0, compatible = 0, autoclear = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = 112;
  uint8_t compression_type = 0;  // 0 zlib, 1 zstd
  std::string backing_file;
  std::string backing_format;
  // Extensions we don't interpret, kept as they are when the header is rewritten.
  std::vector<std::pair<uint32_t, std::vector<uint8_t>>> other_exts;
  bool has_feature_names = false;
};

// Reads and validates the header of `f`; errors name the file and the field.
Status ReadQcow2Header(File* f, Qcow2Header* h);
// The first cluster's bytes: header, extensions, backing file name.
Result<std::vector<uint8_t>> SerializeQcow2Header(const Qcow2Header& h);

// A number in hexadecimal for messages: "0x1f0000", or "1f0000" without the
// prefix (qemu-img check's spelling of some fields).
std::string HexString(uint64_t v, bool with_prefix = true);

// Big-endian helpers.
inline uint64_t Be64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = v << 8 | p[i];
  return v;
}
inline uint32_t Be32(const uint8_t* p) {
  return uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
}
inline uint16_t Be16(const uint8_t* p) { return uint16_t(p[0] << 8 | p[1]); }
inline void PutBe64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = uint8_t(v);
}
inline void PutBe32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8) p[i] = uint8_t(v);
}
inline void PutBe16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}

struct Qcow2Snapshot {
  uint64_t l1_table_offset = 0;
  uint32_t l1_size = 0;
  std::string id, name;
  uint32_t date_sec = 0, date_nsec = 0;
  uint64_t vm_clock_nsec = 0;
  uint32_t vm_state_size = 0;
  std::vector<uint8_t> extra;  // extra data, preserved as read
  uint64_t disk_size = 0;      // from extra data (or the image size)
  uint64_t icount = UINT64_MAX;
};

// The (offset, length) ranges used by persistent bitmaps (bitmaps extension).
Status BitmapRanges(File* f, const Qcow2Header& h, std::vector<std::pair<uint64_t, uint64_t>>* out);

// Compression of one cluster. Returns false if it does not shrink.
bool Qcow2Compress(int type, const uint8_t* in, size_t len, std::vector<uint8_t>* out);
Status Qcow2Decompress(int type, const uint8_t* in, size_t in_len, uint8_t* out, size_t out_len);

class Qcow2Image : public BlockDriver, public ImageOps {
 public:
  static Result<std::unique_ptr<Qcow2Image>> Open(std::unique_ptr<File> f, const OpenOptions& o,
                                                  std::unique_ptr<BlockDriver> backing,
                                                  bool backing_given);
  ~Qcow2Image() override;

  // BlockDriver
  std::string format_name() const override { return "qcow2"; }
  uint64_t Size() const override { return h_.size; }
  Status Read(uint64_t off, void* buf, uint64_t len) override;
  Status Write(uint64_t off, const void* buf, uint64_t len) override;
  Status Flush() override;
  Status Discard(uint64_t off, uint64_t len) override;
  Status WriteZeroes(uint64_t off, uint64_t len) override;
  Status BlockStatus(uint64_t off, uint64_t len, std::vector<Extent>* out) override;
  bool read_only() const override { return ro_; }

  // ImageOps
  void GetInfo(ImageInfo* info) override;
  Status Check(bool fix_leaks, bool fix_errors, CheckResult* r) override;
  Status Resize(uint64_t new_size, bool allow_shrink) override;
  Status ListSnapshots(std::vector<SnapshotInfo>* out) override;
  Status CreateSnapshot(const std::string& name) override;
  Status ApplySnapshot(const std::string& name_or_id) override;
  Status DeleteSnapshot(const std::string& name_or_id) override;
  Status WriteCompressed(uint64_t off, const void* buf, uint64_t len) override;
  uint64_t CompressionGranularity() const override { return cluster_size_; }
  BlockDriver* Backing() override { return backing_.get(); }
  Status SetBackingName(const std::string& file, const std::string& fmt) override;
  void ReplaceBacking(std::unique_ptr<BlockDriver> b) override { backing_ = std::move(b); }
  Status Amend(const std::map<std::string, std::string>& opts) override;
  Status AllocatedInThisLayer(uint64_t off, uint64_t len, bool* alloc, uint64_t* pnum) override;
  Status MakeEmpty() override;

  // preallocation=metadata|falloc|full on a new image: every cluster gets a
  // host cluster; metadata leaves the data as holes, falloc/full write zeros.
  Status Preallocate(const std::string& mode);

  const Qcow2Header& header() const { return h_; }
  File* file() { return f_.get(); }

 private:
  Qcow2Image() = default;
  friend class Qcow2Checker;

  // What a guest cluster maps to.
  enum class Kind { kUnallocated, kZero, kNormal, kCompressed };
  struct Mapping {
    Kind kind = Kind::kUnallocated;
    uint64_t host = 0;        // cluster offset, or byte offset of compressed data
    uint64_t comp_size = 0;   // compressed: bytes to read
    uint64_t entry = 0;       // raw L2 entry
    uint64_t bitmap = 0;      // extended L2: subcluster bitmap
  };

  Status Init(const OpenOptions& o);
  std::string Where() const { return "qcow2 image '" + f_->path() + "'"; }
  Status Corrupt(const std::string& what);
  // A metadata cluster (`what`: "L2 table", "refcount block") is aligned,
  // past the header and inside the file; Corrupt() otherwise.
  Status CheckTableOffset(const char* what, uint64_t off);
  // Where a compressed L2 entry's data is: its host byte offset and the bytes
  // to read (whole sectors, counted from the one holding the offset).
  struct CompressedData {
    uint64_t host, len;
  };
  CompressedData DecodeCompressed(uint64_t entry) const;

  // L1/L2
  Status LoadL2(uint64_t l2_off, std::vector<uint64_t>** table);
  Status Lookup(uint64_t vcluster, Mapping* m);
  Status GetL2ForWrite(uint64_t vcluster, std::vector<uint64_t>** table, uint64_t* l2_off);
  Status ReadCluster(uint64_t vcluster, const Mapping& m, uint64_t in_off, uint8_t* buf,
                     uint64_t len);
  Status ReadFromBacking(uint64_t off, uint8_t* buf, uint64_t len);
  Status WriteCluster(uint64_t vcluster, uint64_t in_off, const uint8_t* buf, uint64_t len);
  // Sets an L2 entry (and, with extended L2, its subcluster bitmap); the old
  // target's reference is dropped after the new mapping is on disk.
  Status SetL2Entry(uint64_t vcluster, uint64_t entry, uint64_t bitmap = 0);
  Status WriteClusterExt(uint64_t vcluster, uint64_t in_off, const uint8_t* buf, uint64_t len,
                         const Mapping& m);
  Status ReleaseEntry(uint64_t entry);
  Status EnsureL1Size(uint64_t entries);
  Status WriteL1();
  Status BeginWrite();  // dirty bit for lazy refcounts, refuse corrupt images

  // Refcounts (qcow2_refcount.cpp)
  Status LoadRefBlock(uint64_t block_index, std::vector<uint8_t>** blk, bool create);
  Status GetRefcount(uint64_t cluster, uint64_t* rc);
  Status SetRefcount(uint64_t cluster, uint64_t rc);
  Status AddRef(uint64_t cluster, int64_t delta);
  Status UpdateHostRefs(uint64_t host_off, uint64_t len, int64_t delta);  // clusters spanned
  Result<uint64_t> AllocClusters(uint64_t n);  // host offset of n contiguous clusters, rc=1
  Status GrowRefcountTable(uint64_t min_blocks);
  Status FlushMetadata();   // the ordered writeback described at the top
  Status SyncFile() { return f_->Flush(); }
  uint64_t RefcountMax() const;

  // Snapshots (qcow2_snapshot.cpp)
  Status ReadSnapshotTable();
  Status WriteSnapshotTable(const std::vector<Qcow2Snapshot>& snaps);
  Status ReadL1At(uint64_t off, uint32_t size, std::vector<uint64_t>* l1);
  Status AdjustTreeRefs(const std::vector<uint64_t>& l1, int64_t delta);
  Status UpdateCopiedFlags();
  int FindSnapshot(const std::string& name_or_id) const;
  // BeginWrite, then the snapshot `key` names (its index in snaps_) and its L1 table.
  Status SnapshotToChange(const std::string& key, int* index, std::vector<uint64_t>* l1);
  Status WriteHeaderFields();  // rewrites the fixed header fields we change
  std::string BitmapListJson();

  std::unique_ptr<File> f_;
  std::unique_ptr<BlockDriver> backing_;
  Qcow2Header h_;
  bool ro_ = false;
  bool ext_l2_ = false;
  uint32_t cluster_bits_ = 16;
  uint64_t cluster_size_ = 65536;
  uint64_t l2_entries_ = 8192;      // entries per L2 table
  uint32_t l2_words_ = 1;           // 64-bit words per entry (2 with extended L2)
  uint64_t refblock_entries_ = 0;   // refcounts per refcount block
  uint32_t refcount_bits_ = 16;
  std::vector<uint64_t> l1_;        // in memory, host byte order
  uint64_t l1_alloc_entries_ = 0;   // entries the on-disk L1 has room for
  bool l1_dirty_ = false;
  std::vector<uint64_t> reftable_;
  bool reftable_dirty_ = false;
  bool reftable_moved_ = false;
  std::vector<uint64_t> old_reftable_clusters_;  // to free after the move is on disk
  struct L2Entry {
    std::vector<uint64_t> t;
    bool dirty = false;
  };
  std::map<uint64_t, L2Entry> l2_cache_;
  struct RefBlock {
    std::vector<uint8_t> b;
    bool dirty = false;
  };
  std::map<uint64_t, RefBlock> rb_cache_;  // by block index
  std::vector<std::pair<uint64_t, int64_t>> pending_decrements_;  // host offset, clusters
  uint64_t end_cluster_ = 0;   // first cluster past everything allocated
  uint64_t free_hint_ = 0;
  uint64_t compress_cursor_ = 0;  // byte offset of free space in the last compressed cluster
  std::vector<Qcow2Snapshot> snaps_;
  bool dirty_set_by_us_ = false;
  bool write_started_ = false;
  // Last decompressed cluster (sequential reads of compressed images).
  uint64_t zcache_host_ = UINT64_MAX;
  std::vector<uint8_t> zcache_;
};

// Opens a qcow2 image over `f` with an already opened backing driver (used by
// -snapshot overlays); `backing` may be null to open the chain from the header.
Result<std::unique_ptr<BlockDriver>> Qcow2OpenWithBacking(std::unique_ptr<File> f,
                                                          const OpenOptions& o,
                                                          std::unique_ptr<BlockDriver> backing);

Status CreateQcow2(const std::string& path, const CreateOptions& c);

}  // namespace emu::block
