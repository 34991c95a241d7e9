// VMDK creation. Sparse extents get the layout qemu-img gives them: header,
// 20 sectors reserved for a descriptor, the redundant grain directory and its
// grain tables, then the grain directory and its tables, padded to a grain; every
// grain table is preallocated so that writes only append grains.
#include "block/vmdk/vmdk_create.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <vector>

#include "block/vmdk/descriptor.h"
#include "block/vmdk/le.h"
#include "block/vmdk/sparse_header.h"

namespace emu::block::vmdk {
namespace {

constexpr uint64_t kGrainSectors = 128;  // 64 KiB grains
constexpr uint32_t kGtes = 512;
constexpr uint64_t kDescSectors = 20;
constexpr uint64_t kSplitSectors = uint64_t(4) << 20;  // 2 GiB per extent in twoGbMaxExtent*

Status Errno(const std::string& path, const std::string& what) {
  int e = errno ? errno : EIO;
  return Status::Error(e, path + ": " + what + ": " + std::strerror(e));
}

Status WriteAll(int fd, const std::string& path, uint64_t off, const void* buf, uint64_t len) {
  const auto* p = static_cast<const uint8_t*>(buf);
  while (len > 0) {
    ssize_t w = ::pwrite(fd, p, len, off_t(off));
    if (w <= 0) return Errno(path, "write failed");
    p += w;
    off += uint64_t(w);
    len -= uint64_t(w);
  }
  return Status::Ok();
}

// Creates `path` holding `bytes` at offset 0, `size` bytes long (the rest sparse zeros).
Status WriteFile(const std::string& path, const std::vector<std::pair<uint64_t, std::vector<uint8_t>>>& chunks,
                 uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno(path, "cannot create");
  Status s;
  for (const auto& [off, data] : chunks) {
    s = WriteAll(fd, path, off, data.data(), data.size());
    if (!s.ok()) break;
  }
  if (s.ok() && ::ftruncate(fd, off_t(size)) != 0) s = Errno(path, "cannot set the file size");
  if (s.ok() && ::fsync(fd) != 0) s = Errno(path, "fsync failed");
  ::close(fd);
  return s;
}

struct SparseLayout {
  SparseHeader h;
  uint64_t gd_sectors, gt_sectors;
};

SparseLayout Layout(uint64_t capacity, bool stream, bool zeroed_grain) {
  SparseLayout l;
  SparseHeader& h = l.h;
  h.capacity = capacity;
  h.grain_size = kGrainSectors;
  h.num_gtes = kGtes;
  h.desc_offset = 1;
  h.desc_size = kDescSectors;
  uint64_t gts = h.gd_entries();
  l.gd_sectors = (gts * 4 + kSector - 1) / kSector;
  l.gt_sectors = gts * (kGtes * 4 / kSector);
  h.rgd_offset = 1 + kDescSectors;
  h.gd_offset = h.rgd_offset + l.gd_sectors + l.gt_sectors;
  uint64_t end = h.gd_offset + l.gd_sectors + l.gt_sectors;
  h.overhead = (end + kGrainSectors - 1) / kGrainSectors * kGrainSectors;
  h.flags = kFlagNewlineTest | kFlagRedundantGd;
  h.version = 1;
  if (zeroed_grain) {
    h.flags |= kFlagZeroedGrainGte;
    h.version = 2;
  }
  if (stream) {
    h.flags |= kFlagCompressed | kFlagMarkers;
    h.version = 3;
    h.compress = kCompressDeflate;
  }
  return l;
}

// A sparse extent file; `desc` (may be empty) goes into its descriptor area.
Status CreateSparse(const std::string& path, uint64_t capacity, const std::string& desc,
                    bool stream, bool zeroed_grain) {
  SparseLayout l = Layout(capacity, stream, zeroed_grain);
  const SparseHeader& h = l.h;
  if (desc.size() > kDescSectors * kSector)
    return Status::Error(EINVAL, path + ": descriptor too long for the extent");
  std::vector<std::pair<uint64_t, std::vector<uint8_t>>> chunks;
  std::vector<uint8_t> head((1 + kDescSectors) * kSector, 0);
  h.Serialize(head.data());
  std::memcpy(head.data() + kSector, desc.data(), desc.size());
  chunks.emplace_back(0, std::move(head));
  uint64_t n = h.gd_entries();
  for (uint64_t dir : {h.rgd_offset, h.gd_offset}) {
    std::vector<uint8_t> gd(l.gd_sectors * kSector, 0);
    uint64_t first_gt = dir + l.gd_sectors;
    for (uint64_t i = 0; i < n; i++) St32(&gd[i * 4], uint32_t(first_gt + i * (kGtes * 4 / kSector)));
    chunks.emplace_back(dir * kSector, std::move(gd));
  }
  return WriteFile(path, chunks, h.overhead * kSector);
}

bool ParseBool(const std::string& v, bool* out) {
  if (v == "on" || v == "true" || v == "yes") return *out = true, true;
  if (v == "off" || v == "false" || v == "no") return *out = false, true;
  return false;
}

// "dir/disk.vmdk" + "-f001" -> "disk-f001.vmdk" (the name as written in the descriptor).
std::string ExtentName(const std::string& path, const std::string& suffix) {
  size_t slash = path.rfind('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  size_t dot = base.rfind('.');
  if (dot == std::string::npos || dot == 0) return base + suffix;
  return base.substr(0, dot) + suffix + base.substr(dot);
}

std::string Folder(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

}  // namespace

Status CreateVmdk(const std::string& path, const CreateOptions& co) {
  std::string subformat = "monolithicSparse", adapter = "ide", hw = "4", tools = "2147483647";
  bool zeroed = false, compat6 = false, hw_given = false;
  for (const auto& [k, v] : co.opts) {
    if (k == "size") continue;
    if (k == "subformat") {
      subformat = v;
    } else if (k == "adapter_type") {
      adapter = v;
    } else if (k == "hwversion") {
      hw = v;
      hw_given = v != "undefined";
    } else if (k == "toolsversion") {
      tools = v;
    } else if (k == "zeroed_grain" || k == "compat6") {
      if (!ParseBool(v, k == "compat6" ? &compat6 : &zeroed))
        return Status::Error(EINVAL, "vmdk: invalid value '" + v + "' for " + k + " (use on/off)");
    } else if (k == "preallocation") {
      if (v != "off")
        return Status::Error(ENOTSUP, "vmdk: unimplemented: preallocation=" + v);
    } else if (k == "backing_file" || k == "backing_fmt") {
      return Status::Error(ENOTSUP, "vmdk: unimplemented: backing files for VMDK");
    } else {
      return Status::Error(EINVAL, "vmdk: unknown option '" + k + "'");
    }
  }
  if (hw == "undefined") hw = "4";
  if (compat6) {
    if (hw_given) return Status::Error(EINVAL, "vmdk: compat6 cannot be used with hwversion");
    hw = "6";
  }
  if (hw.empty() || hw.size() > 8 || hw.find_first_not_of("0123456789") != std::string::npos)
    return Status::Error(EINVAL, "vmdk: invalid hwversion '" + hw + "'");
  if (tools.empty() || tools.size() > 10 || tools.find_first_not_of("0123456789") != std::string::npos)
    return Status::Error(EINVAL, "vmdk: invalid toolsversion '" + tools + "'");
  int heads;
  if (adapter == "ide") heads = 16;
  else if (adapter == "lsilogic" || adapter == "buslogic" || adapter == "legacyESX") heads = 255;
  else
    return Status::Error(EINVAL, "vmdk: unknown adapter_type '" + adapter +
                                     "' (ide, lsilogic, buslogic or legacyESX)");
  bool sparse, split = false, stream = false;
  if (subformat == "monolithicSparse") sparse = true;
  else if (subformat == "monolithicFlat") sparse = false;
  else if (subformat == "twoGbMaxExtentSparse") sparse = split = true;
  else if (subformat == "twoGbMaxExtentFlat") sparse = !(split = true);
  else if (subformat == "streamOptimized") sparse = stream = true;
  else
    return Status::Error(EINVAL, "vmdk: unknown subformat '" + subformat +
                                     "' (monolithicSparse, monolithicFlat, twoGbMaxExtentSparse, "
                                     "twoGbMaxExtentFlat, streamOptimized)");
  if (stream && zeroed)
    return Status::Error(EINVAL, "vmdk: zeroed_grain does not apply to streamOptimized");
  uint64_t sectors = (co.size + kSector - 1) / kSector;
  if (co.size > kMaxSectors * kSector)
    return Status::Error(EINVAL, "vmdk: size " + std::to_string(co.size) +
                                     " is too large (at most 64 TiB)");

  Descriptor d;
  d.cid = std::random_device{}();
  d.create_type = subformat;
  bool monolithic_sparse = subformat == "monolithicSparse" || stream;
  std::vector<std::pair<std::string, uint64_t>> files;  // extent file name, sectors
  if (monolithic_sparse) {
    files.emplace_back(ExtentName(path, ""), sectors);
  } else if (!split) {
    files.emplace_back(ExtentName(path, "-flat"), sectors);
  } else {
    uint64_t left = sectors;
    int idx = 1;
    do {
      char sfx[16];
      snprintf(sfx, sizeof sfx, "-%c%03d", sparse ? 's' : 'f', idx++);
      uint64_t n = std::min(left, kSplitSectors);
      files.emplace_back(ExtentName(path, sfx), n);
      left -= n;
    } while (left > 0);
  }
  for (const auto& [name, n] : files) {
    ExtentDesc e;
    e.sectors = n;
    e.type = sparse ? "SPARSE" : "FLAT";
    e.file = name;
    d.extents.push_back(e);
  }
  uint64_t cyl = sectors / (uint64_t(heads) * 63);
  d.ddb = {{"ddb.virtualHWVersion", hw},
           {"ddb.geometry.cylinders", std::to_string(cyl)},
           {"ddb.geometry.heads", std::to_string(heads)},
           {"ddb.geometry.sectors", "63"},
           {"ddb.adapterType", adapter},
           {"ddb.toolsVersion", tools}};
  std::string text = FormatDescriptor(d);
  if (monolithic_sparse) return CreateSparse(path, sectors, text, stream, zeroed);

  std::string dir = Folder(path);
  for (const auto& [name, n] : files) {
    Status s = sparse ? CreateSparse(dir + name, n, "", false, zeroed)
                      : WriteFile(dir + name, {}, n * kSector);
    if (!s.ok()) return s;
  }
  std::vector<uint8_t> bytes(text.begin(), text.end());
  return WriteFile(path, {{0, bytes}}, bytes.size());
}

}  // namespace emu::block::vmdk
