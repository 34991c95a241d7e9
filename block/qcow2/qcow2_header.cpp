// qcow2 header and header extensions: parsing with every field bounded, and
// serialization of the first cluster.
#include <cerrno>
#include <cstring>

#include "block/qcow2/qcow2.h"

namespace emu::block {
namespace {

Status Bad(File* f, const std::string& what) {
  return Status::Error(EINVAL, "qcow2 image '" + f->path() + "': " + what);
}

// Names of incompatible features, for refusing images that use ones we lack.
const char* IncompatName(int bit) {
  switch (bit) {
    case 0: return "dirty bit";
    case 1: return "corrupt bit";
    case 2: return "external data file";
    case 3: return "compression type";
    case 4: return "extended L2 entries";
    default: return nullptr;
  }
}

}  // namespace

std::string HexString(uint64_t v, bool with_prefix) {
  char b[32];
  snprintf(b, sizeof b, with_prefix ? "0x%llx" : "%llx", static_cast<unsigned long long>(v));
  return b;
}

Status ReadQcow2Header(File* f, Qcow2Header* h) {
  uint64_t fsize = f->Size();
  if (fsize < 72) return Bad(f, "file too short for a qcow2 header (" + std::to_string(fsize) + " bytes)");
  uint8_t b[4096] = {};
  uint64_t n = std::min<uint64_t>(fsize, sizeof b);
  Status s = f->PRead(0, b, n);
  if (!s.ok()) return s;
  if (Be32(b) != kQcow2Magic) return Bad(f, "bad magic (not a qcow2 image)");
  h->version = Be32(b + 4);
  if (h->version != 2 && h->version != 3)
    return Bad(f, "unsupported qcow2 version " + std::to_string(h->version));
  h->backing_file_offset = Be64(b + 8);
  h->backing_file_size = Be32(b + 16);
  h->cluster_bits = Be32(b + 20);
  h->size = Be64(b + 24);
  h->crypt_method = Be32(b + 32);
  h->l1_size = Be32(b + 36);
  h->l1_table_offset = Be64(b + 40);
  h->refcount_table_offset = Be64(b + 48);
  h->refcount_table_clusters = Be32(b + 56);
  h->nb_snapshots = Be32(b + 60);
  h->snapshots_offset = Be64(b + 64);
  if (h->version == 3) {
    if (fsize < 104) return Bad(f, "file too short for a version 3 header");
    h->incompatible = Be64(b + 72);
    h->compatible = Be64(b + 80);
    h->autoclear = Be64(b + 88);
    h->refcount_order = Be32(b + 96);
    h->header_length = Be32(b + 100);
    if (h->header_length < 104) return Bad(f, "header_length " + std::to_string(h->header_length) + " is too small");
    if (h->header_length > 4096 || h->header_length > fsize)
      return Bad(f, "header_length " + std::to_string(h->header_length) + " is too large");
    if (h->header_length % 8) return Bad(f, "header_length is not a multiple of 8");
    h->compression_type = h->header_length > 104 ? b[104] : 0;
  } else {
    h->incompatible = h->compatible = h->autoclear = 0;
    h->refcount_order = 4;
    h->header_length = 72;
    h->compression_type = 0;
  }
  if (h->cluster_bits < 9 || h->cluster_bits > 21)
    return Bad(f, "unsupported cluster size 2^" + std::to_string(h->cluster_bits) +
                      " (must be 512 B to 2 MiB)");
  uint64_t cs = 1ull << h->cluster_bits;
  if (h->header_length > cs) return Bad(f, "header_length exceeds the cluster size");
  if (h->refcount_order > 6) return Bad(f, "refcount_order " + std::to_string(h->refcount_order) + " is invalid (0-6)");
  if (h->crypt_method != 0) return Bad(f, "encrypted images are not supported (crypt_method " + std::to_string(h->crypt_method) + ")");
  uint64_t unknown = h->incompatible & ~uint64_t(kIncDirty | kIncCorrupt | kIncCompression | kIncExtL2);
  if (unknown) {
    for (int bit = 0; bit < 64; bit++)
      if (unknown >> bit & 1) {
        const char* name = IncompatName(bit);
        return Bad(f, std::string("unsupported incompatible feature: ") +
                          (name ? name : ("bit " + std::to_string(bit)).c_str()));
      }
  }
  if ((h->incompatible & kIncCompression) ? h->compression_type > 1 : h->compression_type != 0)
    return Bad(f, "unknown compression type " + std::to_string(h->compression_type));
  if (h->size > (1ull << 62)) return Bad(f, "virtual size " + std::to_string(h->size) + " is too large");
  // Metadata locations: aligned and inside the file.
  auto check_range = [&](uint64_t off, uint64_t len, const char* what) -> Status {
    if (off % cs) return Bad(f, std::string(what) + " offset " + HexString(off) + " is not cluster aligned");
    if (off == 0 && len) return Bad(f, std::string(what) + " overlaps the header");
    if (off + len < off || off + len > fsize)
      return Bad(f, std::string(what) + " at " + HexString(off) + " (" + std::to_string(len) +
                        " bytes) is past the end of the file");
    return Status::Ok();
  };
  if (h->l1_size > (32u << 20) / 8) return Bad(f, "l1_size " + std::to_string(h->l1_size) + " is too large");
  uint64_t l2_entries = cs / ((h->incompatible & kIncExtL2) ? 16 : 8);
  uint64_t need_l1 = (h->size + cs * l2_entries - 1) / (cs * l2_entries);
  if (h->l1_size < need_l1) return Bad(f, "l1_size " + std::to_string(h->l1_size) + " is too small for the virtual size");
  if (h->l1_size) {
    s = check_range(h->l1_table_offset, uint64_t(h->l1_size) * 8, "L1 table");
    if (!s.ok()) return s;
  }
  if (h->refcount_table_clusters == 0) return Bad(f, "refcount_table_clusters is 0");
  if (uint64_t(h->refcount_table_clusters) * cs > (8u << 20))
    return Bad(f, "refcount_table_clusters " + std::to_string(h->refcount_table_clusters) + " is too large");
  s = check_range(h->refcount_table_offset, uint64_t(h->refcount_table_clusters) * cs, "refcount table");
  if (!s.ok()) return s;
  if (h->nb_snapshots > 65536) return Bad(f, "nb_snapshots " + std::to_string(h->nb_snapshots) + " is too large");
  if (h->nb_snapshots) {
    s = check_range(h->snapshots_offset, uint64_t(h->nb_snapshots) * 40, "snapshot table");
    if (!s.ok()) return s;
  }
  // Overlap of the L1 and refcount tables.
  if (h->l1_size) {
    uint64_t a0 = h->l1_table_offset, a1 = a0 + uint64_t(h->l1_size) * 8;
    uint64_t b0 = h->refcount_table_offset, b1 = b0 + uint64_t(h->refcount_table_clusters) * cs;
    if (a0 < b1 && b0 < a1) return Bad(f, "L1 table overlaps the refcount table");
  }
  // Backing file name.
  h->backing_file.clear();
  if (h->backing_file_offset) {
    if (h->backing_file_size > 1023 || h->backing_file_size == 0)
      return Bad(f, "backing_file_size " + std::to_string(h->backing_file_size) + " is invalid");
    if (h->backing_file_offset + h->backing_file_size > std::min<uint64_t>(cs, fsize) ||
        h->backing_file_offset < h->header_length)
      return Bad(f, "backing file name at " + HexString(h->backing_file_offset) + " is outside the header cluster");
    h->backing_file.assign(h->backing_file_size, '\0');
    s = f->PRead(h->backing_file_offset, h->backing_file.data(), h->backing_file_size);
    if (!s.ok()) return s;
  }
  // Header extensions: between the header and the backing file name (or the
  // end of the first cluster).
  uint64_t pos = h->header_length;
  uint64_t end = std::min<uint64_t>({cs, fsize, sizeof b});
  if (h->backing_file_offset && h->backing_file_offset < end) end = h->backing_file_offset;
  h->other_exts.clear();
  h->backing_format.clear();
  h->has_feature_names = false;
  while (pos + 8 <= end) {
    uint32_t type = Be32(b + pos);
    uint32_t len = Be32(b + pos + 4);
    pos += 8;
    if (type == kExtEnd) break;
    if (len > end - pos) return Bad(f, "header extension " + HexString(type) + " is larger than the header cluster");
    const uint8_t* d = b + pos;
    if (type == kExtBackingFormat) {
      h->backing_format.assign(reinterpret_cast<const char*>(d), len);
    } else if (type == kExtFeatureNames) {
      h->has_feature_names = true;  // regenerated when we rewrite the header
    } else {
      // Bitmaps and unknown extensions: not interpreted; kept on rewrite.
      h->other_exts.emplace_back(type, std::vector<uint8_t>(d, d + len));
    }
    pos += (uint64_t(len) + 7) & ~7ull;
  }
  return Status::Ok();
}

Result<std::vector<uint8_t>> SerializeQcow2Header(const Qcow2Header& h) {
  uint64_t cs = 1ull << h.cluster_bits;
  std::vector<uint8_t> b(cs, 0);
  PutBe32(&b[0], kQcow2Magic);
  PutBe32(&b[4], h.version);
  PutBe32(&b[20], h.cluster_bits);
  PutBe64(&b[24], h.size);
  PutBe32(&b[32], h.crypt_method);
  PutBe32(&b[36], h.l1_size);
  PutBe64(&b[40], h.l1_table_offset);
  PutBe64(&b[48], h.refcount_table_offset);
  PutBe32(&b[56], h.refcount_table_clusters);
  PutBe32(&b[60], h.nb_snapshots);
  PutBe64(&b[64], h.snapshots_offset);
  uint64_t pos = 72;
  if (h.version >= 3) {
    PutBe64(&b[72], h.incompatible);
    PutBe64(&b[80], h.compatible);
    PutBe64(&b[88], h.autoclear);
    PutBe32(&b[96], h.refcount_order);
    PutBe32(&b[100], 112);
    b[104] = h.compression_type;
    pos = 112;
  }
  auto add_ext = [&](uint32_t type, const uint8_t* d, size_t len) -> bool {
    uint64_t need = 8 + ((len + 7) & ~size_t(7));
    if (pos + need + 8 > cs) return false;
    PutBe32(&b[pos], type);
    PutBe32(&b[pos + 4], static_cast<uint32_t>(len));
    if (len) std::memcpy(&b[pos + 8], d, len);
    pos += need;
    return true;
  };
  bool ok = true;
  if (!h.backing_format.empty())
    ok &= add_ext(kExtBackingFormat, reinterpret_cast<const uint8_t*>(h.backing_format.data()),
                  h.backing_format.size());
  if (h.version >= 3) {
    // Feature name table: lets tools name features they don't know.
    static const struct { uint8_t type, bit; const char* name; } names[] = {
        {0, 0, "dirty bit"}, {0, 1, "corrupt bit"}, {0, 2, "external data file"},
        {0, 3, "compression type"}, {0, 4, "extended L2 entries"},
        {1, 0, "lazy refcounts"}, {2, 0, "bitmaps"}, {2, 1, "raw external data"}};
    std::vector<uint8_t> t(sizeof names / sizeof names[0] * 48, 0);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
      t[i * 48] = names[i].type;
      t[i * 48 + 1] = names[i].bit;
      std::strncpy(reinterpret_cast<char*>(&t[i * 48 + 2]), names[i].name, 46);
    }
    if (cs >= 4096) ok &= add_ext(kExtFeatureNames, t.data(), t.size());
  }
  for (const auto& [type, d] : h.other_exts) ok &= add_ext(type, d.data(), d.size());
  pos += 8;  // end-of-extensions marker (zeros)
  if (!h.backing_file.empty()) {
    if (pos + h.backing_file.size() > cs) ok = false;
    else {
      std::memcpy(&b[pos], h.backing_file.data(), h.backing_file.size());
      PutBe64(&b[8], pos);
      PutBe32(&b[16], static_cast<uint32_t>(h.backing_file.size()));
    }
  }
  if (!ok) return {Status::Error(EINVAL, "qcow2 header, extensions and backing file name do not fit in one cluster")};
  return {Status::Ok(), std::move(b)};
}

}  // namespace emu::block
