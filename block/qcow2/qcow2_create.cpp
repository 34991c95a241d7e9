// qcow2 image creation: header, refcount table and blocks, empty L1.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "block/file.h"
#include "block/qcow2/qcow2.h"

namespace emu::block {

Status CreateQcow2(const std::string& path, const CreateOptions& c) {
  Qcow2Header h;
  uint64_t cs = 65536;
  std::string prealloc = "off";
  bool lazy = false, ext_l2 = false;
  uint32_t refcount_bits = 16;
  std::string compression = "zlib";
  for (const auto& [k, v] : c.opts) {
    if (k == "compat") {
      if (v == "1.1" || v == "v3") h.version = 3;
      else if (v == "0.10" || v == "v2") h.version = 2;
      else return Status::Error(EINVAL, "Invalid compatibility level: '" + v + "'");
    } else if (k == "cluster_size") {
      if (!ParseSize(v, &cs) || cs < 512 || cs > (2u << 20) || (cs & (cs - 1)))
        return Status::Error(EINVAL, "Cluster size must be a power of two between 512 and 2048k");
    } else if (k == "backing_file") {
      h.backing_file = v;
    } else if (k == "backing_fmt") {
      h.backing_format = v;
    } else if (k == "preallocation") {
      if (v != "off" && v != "metadata" && v != "falloc" && v != "full")
        return Status::Error(EINVAL, "Invalid preallocation mode: '" + v + "'");
      prealloc = v;
    } else if (k == "lazy_refcounts") {
      if (v != "on" && v != "off") return Status::Error(EINVAL, "Invalid value for lazy_refcounts: '" + v + "'");
      lazy = v == "on";
    } else if (k == "extended_l2") {
      if (v != "on" && v != "off") return Status::Error(EINVAL, "Invalid value for extended_l2: '" + v + "'");
      ext_l2 = v == "on";
    } else if (k == "compression_type") {
      if (v != "zlib" && v != "zstd") return Status::Error(EINVAL, "Invalid compression_type: '" + v + "'");
      compression = v;
    } else if (k == "refcount_bits") {
      uint64_t b = 0;
      if (!ParseSize(v, &b) || b < 1 || b > 64 || (b & (b - 1)))
        return Status::Error(EINVAL, "Refcount width must be a power of two and may not exceed 64 bits");
      refcount_bits = static_cast<uint32_t>(b);
    } else if (k == "size") {
    } else if (k == "encryption" || k == "encrypt.format" || k == "data_file") {
      return Status::Error(ENOTSUP, "unimplemented: qcow2 option '" + k + "'");
    } else {
      return Status::Error(EINVAL, "Invalid parameter '" + k + "'");
    }
  }
  if (h.version < 3) {
    if (lazy) return Status::Error(EINVAL, "Lazy refcounts only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
    if (refcount_bits != 16) return Status::Error(EINVAL, "Different refcount widths than 16 bits require compatibility level 1.1 or above (use compat=1.1 or greater)");
    if (compression != "zlib") return Status::Error(EINVAL, "Compression type selection is only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
    if (ext_l2) return Status::Error(EINVAL, "Extended L2 entries are only supported with compatibility level 1.1 and above (use compat=1.1 or greater)");
  }
  if (ext_l2 && cs < 16384) return Status::Error(EINVAL, "Extended L2 entries are only supported with cluster sizes of at least 16384 bytes");
  uint64_t size = c.size;
  if (!h.backing_file.empty()) {
    // The backing file must exist (and tells the size and format if not given).
    OpenOptions bo;
    bo.read_only = true;
    bo.force_share = true;
    bo.format = h.backing_format;
    bo.open_backing = true;
    std::string bpath = ResolveBackingPath(path, h.backing_file);
    auto b = OpenImage(bpath, bo);
    if (!b.ok()) {
      if (size == 0 || h.backing_format.empty())
        return Status::Error(b.status.err(), "Could not open backing file: " + b.status.message());
    } else {
      if (size == 0) size = b.value->Size();
      if (h.backing_format.empty()) h.backing_format = b.value->format_name();
    }
    if (prealloc != "off")
      return Status::Error(EINVAL, "Backing file and preallocation cannot be used at the same time");
  } else if (!h.backing_format.empty()) {
    return Status::Error(EINVAL, "Backing format cannot be used without backing file");
  }
  size = (size + 511) & ~uint64_t(511);
  uint32_t cluster_bits = static_cast<uint32_t>(__builtin_ctzll(cs));
  uint64_t l2_entries = cs / (ext_l2 ? 16 : 8);
  uint64_t l1_size = (size + cs * l2_entries - 1) / (cs * l2_entries);
  if (size > (1ull << 62) || l1_size * 8 > (32u << 20))
    return Status::Error(EFBIG, "Image size is too large for qcow2 with cluster_size " + std::to_string(cs) +
                                    " (try a larger cluster size)");
  uint64_t per = cs * 8 / refcount_bits;
  uint64_t l1c = (l1_size * 8 + cs - 1) / cs;
  uint64_t tc = 1, nb = 1;
  for (int i = 0; i < 16; i++) {
    uint64_t m = 1 + tc + nb + l1c;
    uint64_t nb2 = (m + per - 1) / per;
    uint64_t tc2 = (nb2 * 8 + cs - 1) / cs;
    if (nb2 == nb && tc2 == tc) break;
    nb = nb2;
    tc = tc2;
  }
  uint64_t meta = 1 + tc + nb + l1c;
  h.cluster_bits = cluster_bits;
  h.size = size;
  h.l1_size = static_cast<uint32_t>(l1_size);
  h.refcount_table_offset = cs;
  h.refcount_table_clusters = static_cast<uint32_t>(tc);
  h.l1_table_offset = (1 + tc + nb) * cs;
  h.refcount_order = static_cast<uint32_t>(__builtin_ctz(refcount_bits));
  if (lazy) h.compatible |= kCompatLazyRefcounts;
  if (ext_l2) h.incompatible |= kIncExtL2;
  if (compression == "zstd") {
    h.compression_type = 1;
    h.incompatible |= kIncCompression;
  }
  auto hdr = SerializeQcow2Header(h);
  if (!hdr.ok()) return hdr.status;
  std::vector<uint8_t> img(meta * cs, 0);
  std::memcpy(img.data(), hdr.value.data(), cs);
  for (uint64_t b = 0; b < nb; b++) PutBe64(&img[cs + b * 8], (1 + tc + b) * cs);
  for (uint64_t cl = 0; cl < meta; cl++) {
    uint8_t* blk = &img[(1 + tc + cl / per) * cs];
    uint64_t i = cl % per;
    if (refcount_bits >= 8) {
      uint32_t bytes = refcount_bits / 8;
      blk[i * bytes + bytes - 1] = 1;
    } else {
      uint32_t pb = 8 / refcount_bits;
      blk[i / pb] |= uint8_t(1u << ((i % pb) * refcount_bits));
    }
  }
  FileOpenOptions fo;
  fo.create = true;
  fo.lock = false;
  auto f = OpenHostFile(path, fo);
  if (!f.ok()) return f.status;
  Status s = f.value->PWrite(0, img.data(), img.size());
  if (s.ok()) s = f.value->Flush();
  f.value.reset();
  if (!s.ok()) {
    unlink(path.c_str());
    return s;
  }
  if (prealloc != "off") {
    OpenOptions o;
    o.format = "qcow2";
    o.open_backing = false;
    o.lock = false;
    auto f = OpenHostFile(path, {});
    if (!f.ok()) return f.status;
    auto q = Qcow2Image::Open(std::move(f.value), o, nullptr, true);
    if (!q.ok()) return q.status;
    s = q.value->Preallocate(prealloc);
    q.value.reset();
    if (!s.ok()) {
      unlink(path.c_str());
      return s;
    }
  }
  return Status::Ok();
}

}  // namespace emu::block
