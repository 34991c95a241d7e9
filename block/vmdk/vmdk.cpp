// The VMDK driver: a disk made of extents in order, described either by the
// descriptor embedded in a monolithic sparse file or by a separate descriptor
// file naming extent files in the same folder.
#include <limits.h>
#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "block/file.h"
#include "block/format.h"
#include "block/vmdk/descriptor.h"
#include "block/vmdk/extent.h"
#include "block/vmdk/le.h"
#include "block/vmdk/vmdk_create.h"

namespace emu::block {
namespace {

using vmdk::Descriptor;
using vmdk::ExtentDesc;
using vmdk::ExtentIO;
using vmdk::kSector;

// Where the descriptor text lives, so that the CID can be renewed on first write.
struct DescLocation {
  std::unique_ptr<File> file;  // descriptor file; null: embedded in the first extent
  std::string text;            // as read, up to the first NUL
  uint64_t offset = 0;         // embedded: byte offset and reserved size in the extent
  uint64_t area = 0;
};

// Whether t[b, e), without surrounding blanks, is `key` (as the parser trims keys).
bool KeyIs(const std::string& t, size_t b, size_t e, const char* key) {
  while (b < e && (t[b] == ' ' || t[b] == '\t' || t[b] == '\r')) b++;
  while (e > b && (t[e - 1] == ' ' || t[e - 1] == '\t' || t[e - 1] == '\r')) e--;
  return t.compare(b, e - b, key) == 0;
}

struct Part {
  uint64_t start = 0, size = 0;  // bytes of the virtual disk
  ExtentDesc::Access access = ExtentDesc::kRW;
  std::unique_ptr<ExtentIO> io;  // null for NOACCESS
};

class VmdkDriver : public BlockDriver, public ImageOps {
 public:
  VmdkDriver(std::string path, Descriptor desc, DescLocation loc, std::vector<Part> parts, bool ro)
      : path_(std::move(path)),
        desc_(std::move(desc)),
        loc_(std::move(loc)),
        parts_(std::move(parts)),
        ro_(ro) {
    for (const Part& p : parts_) size_ += p.size;
  }

  std::string format_name() const override { return "vmdk"; }
  uint64_t Size() const override { return size_; }
  bool read_only() const override { return ro_; }

  Status Read(uint64_t off, void* buf, uint64_t len) override {
    return ForEach(off, len, false, [&](Part& p, uint64_t in, uint64_t n, uint64_t done) {
      return p.io->Read(in, static_cast<uint8_t*>(buf) + done, n);
    });
  }

  Status Write(uint64_t off, const void* buf, uint64_t len) override {
    if (ro_) return Status::Error(EROFS, path_ + ": image is read-only");
    if (!cid_renewed_) {
      if (Status s = RenewCid(); !s.ok()) return s;
    }
    return ForEach(off, len, true, [&](Part& p, uint64_t in, uint64_t n, uint64_t done) {
      return p.io->Write(in, static_cast<const uint8_t*>(buf) + done, n);
    });
  }

  Status WriteZeroes(uint64_t off, uint64_t len) override {
    if (ro_) return Status::Error(EROFS, path_ + ": image is read-only");
    if (!cid_renewed_) {
      if (Status s = RenewCid(); !s.ok()) return s;
    }
    return ForEach(off, len, true, [&](Part& p, uint64_t in, uint64_t n, uint64_t) {
      return p.io->WriteZeroes(in, n);
    });
  }

  Status Flush() override {
    for (Part& p : parts_)
      if (p.io) {
        if (Status s = p.io->Flush(); !s.ok()) return s;
      }
    return Status::Ok();
  }

  Status BlockStatus(uint64_t off, uint64_t len, std::vector<Extent>* out) override {
    return ForEach(off, len, false, [&](Part& p, uint64_t in, uint64_t n, uint64_t) {
      return p.io->BlockStatus(in, n, p.start, out);
    });
  }

  void GetInfo(ImageInfo* info) override {
    for (const Part& p : parts_)
      if (p.io && p.io->grain_bytes()) {
        info->cluster_size = p.io->grain_bytes();
        break;
      }
    info->specific.emplace_back("cid", InfoValue::Int(desc_.cid));
    info->specific.emplace_back("parent-cid", InfoValue::Int(desc_.parent_cid));
    info->specific.emplace_back("create-type", InfoValue::Str(desc_.create_type));
  }

  uint64_t CompressionGranularity() const override {
    uint64_t g = 0;
    for (const Part& p : parts_) {
      if (!p.io) continue;
      if (!p.io->compressed()) return 0;
      g = std::max(g, p.io->grain_bytes());
    }
    return g;
  }

  // Stream-optimized extents compress every grain anyway.
  Status WriteCompressed(uint64_t off, const void* buf, uint64_t len) override {
    if (!CompressionGranularity())
      return Status::Error(ENOTSUP, path_ + ": compressed writes need a streamOptimized VMDK");
    return Write(off, buf, len);
  }

  Status Check(bool fix_leaks, bool fix_errors, CheckResult* r) override {
    if (fix_leaks || fix_errors)
      return Status::Error(ENOTSUP, "unimplemented: repairing VMDK images");
    for (Part& p : parts_)
      if (p.io) p.io->Check(r);
    return Status::Ok();
  }

 private:
  // A changed disk gets a new content ID, so that images made on top of the old
  // content (whose parentCID names it) are recognised as stale. Only the value of
  // the CID line the parser used (the last one) changes; every write stays inside
  // the descriptor file or the embedded descriptor's reserved area.
  Status RenewCid() {
    cid_renewed_ = true;
    const std::string& t = loc_.text;
    size_t vbeg = std::string::npos, vend = 0;
    for (size_t pos = 0; pos < t.size();) {
      size_t nl = std::min(t.find('\n', pos), t.size());
      size_t eq = t.find('=', pos);
      if (eq < nl && KeyIs(t, pos, eq, "CID")) {
        vbeg = t.find_first_not_of(" \t", eq + 1);
        if (vbeg > nl) vbeg = nl;
        vend = t.find_last_not_of(" \t\r", nl - 1);
        vend = vend == std::string::npos || vend < vbeg ? vbeg : vend + 1;
      }
      pos = nl + 1;
    }
    if (vbeg == std::string::npos) return Status::Ok();  // no CID line: nothing to renew
    uint32_t cid = std::random_device{}();
    while (cid == desc_.cid || cid == 0xffffffff) cid++;
    char v[16];
    snprintf(v, sizeof v, "%x", cid);
    std::string nt = t.substr(0, vbeg) + v + t.substr(vend);
    if (loc_.file) {
      if (Status s = loc_.file->PWrite(0, nt.data(), nt.size()); !s.ok()) return s;
      // Anything after the text (a shorter old text, NUL padding and what follows
      // it) would otherwise be appended to the new text.
      if (loc_.file->Size() > nt.size()) {
        if (Status s = loc_.file->Truncate(nt.size()); !s.ok()) return s;
      }
    } else {
      File* f = parts_.empty() || !parts_[0].io ? nullptr : parts_[0].io->file();
      if (!f || loc_.area == 0) return Status::Ok();
      // The text must stay NUL-terminated inside its reserved area.
      if (nt.size() >= loc_.area)
        return Status::Error(ENOSPC, path_ + ": the embedded VMDK descriptor (" +
                                         std::to_string(loc_.area) +
                                         " bytes reserved) has no room for a new CID");
      std::string padded = nt;
      padded.resize(std::min<uint64_t>(std::max(nt.size(), t.size()) + 1, loc_.area), '\0');
      if (Status s = f->PWrite(loc_.offset, padded.data(), padded.size()); !s.ok()) return s;
    }
    loc_.text = nt;
    desc_.cid = cid;
    return Status::Ok();
  }

  template <typename Fn>
  Status ForEach(uint64_t off, uint64_t len, bool write, Fn fn) {
    if (off > size_ || len > size_ - off)
      return Status::Error(EINVAL, path_ + ": access at " + std::to_string(off) + "+" +
                                       std::to_string(len) + " beyond the disk size " +
                                       std::to_string(size_));
    // First part whose end lies past `off`.
    auto it = std::upper_bound(parts_.begin(), parts_.end(), off,
                               [](uint64_t o, const Part& p) { return o < p.start + p.size; });
    uint64_t done = 0;
    while (len > 0 && it != parts_.end()) {
      Part& p = *it;
      uint64_t in = off - p.start, n = std::min(len, p.size - in);
      if (!p.io)
        return Status::Error(EACCES, path_ + ": extent at byte " + std::to_string(p.start) +
                                         " is NOACCESS");
      if (write && p.access == ExtentDesc::kRdOnly)
        return Status::Error(EROFS, path_ + ": extent " + p.io->path() + " is RDONLY");
      if (Status s = fn(p, in, n, done); !s.ok()) return s;
      off += n;
      len -= n;
      done += n;
      ++it;
    }
    return Status::Ok();
  }

  std::string path_;
  Descriptor desc_;
  DescLocation loc_;
  std::vector<Part> parts_;
  bool ro_;
  bool cid_renewed_ = false;
  uint64_t size_ = 0;
};

std::string Dirname(const std::string& p) {
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return p.substr(0, slash);
}

bool RealPath(const std::string& p, std::string* out) {
  char buf[PATH_MAX];
  if (!realpath(p.c_str(), buf)) return false;
  *out = buf;
  return true;
}

bool Inside(const std::string& real, const std::string& dir) {
  if (dir == "/") return true;
  return real.size() > dir.size() && real.compare(0, dir.size(), dir) == 0 && real[dir.size()] == '/';
}

// Where extent `name` of `image` is, refusing anything outside the image's own
// folder (after symlinks) unless the user listed the target folder.
Result<std::string> ResolveExtent(const std::string& image, const std::string& name,
                                  const OpenOptions& o) {
  Result<std::string> r;
  std::string real_image, dir;
  if (name.empty()) {
    r.status = Status::Error(EINVAL, image + ": VMDK extent with an empty file name");
    return r;
  }
  if (!RealPath(image, &real_image)) {
    r.status = Status::Error(ENOENT, image + ": cannot locate the image's folder to open extent '" +
                                         name + "'");
    return r;
  }
  dir = Dirname(real_image);
  std::string candidate = name[0] == '/' ? name : dir + "/" + name;
  std::string real;
  if (!RealPath(candidate, &real)) {
    r.status = Status::Error(errno ? errno : ENOENT, image + ": cannot open extent '" + name +
                                                         "': " + std::strerror(errno ? errno : ENOENT));
    return r;
  }
  bool ok = Inside(real, dir);
  for (const std::string& a : o.allowed_dirs) {
    std::string ra;
    if (!ok && RealPath(a, &ra)) ok = real == ra || Inside(real, ra);
  }
  if (!ok) {
    r.status = Status::Error(
        EPERM, image + ": refusing extent '" + name + "': " +
                   (name[0] == '/' ? "absolute path '" : "it resolves to '") + real +
                   "', outside the image's folder " + dir + " (allow the folder explicitly to use it)");
    return r;
  }
  r.value = real;
  return r;
}

int Probe(const uint8_t* header, size_t len, const std::string&) {
  if (len >= 4 && (vmdk::Ld32(header) == vmdk::kMagic || vmdk::Ld32(header) == vmdk::kCowdMagic))
    return 100;
  if (vmdk::LooksLikeDescriptor(header, len)) return 100;
  return 0;
}

using OpenResult = Result<std::unique_ptr<BlockDriver>>;

// An open that failed with `s`.
OpenResult Failed(Status s) {
  OpenResult r;
  r.status = std::move(s);
  return r;
}

Status CheckNoParent(const Descriptor& d, const std::string& path) {
  if (!d.parent_hint.empty())
    return Status::Error(ENOTSUP, path + ": unimplemented: VMDK images with a parent ('" +
                                      d.parent_hint + "')");
  return Status::Ok();
}

// Reads and parses the descriptor text at [off, off + len) of `file`; a parent link is refused.
Status LoadDescriptor(File* file, uint64_t off, uint64_t len, std::string* text, Descriptor* desc) {
  text->assign(len, '\0');
  if (Status s = file->PRead(off, text->data(), len); !s.ok()) return s;
  Result<Descriptor> d = vmdk::ParseDescriptor(*text, file->path());
  if (!d.ok()) return d.status;
  if (Status s = CheckNoParent(d.value, file->path()); !s.ok()) return s;
  *desc = std::move(d.value);
  return Status::Ok();
}

OpenResult OpenMonolithic(std::unique_ptr<File> file, bool ro) {
  OpenResult r;
  std::string path = file->path();
  Descriptor desc;
  DescLocation loc;
  desc.create_type = "monolithicSparse";
  uint8_t hdr[kSector];
  if (Status s = file->PRead(0, hdr, kSector); !s.ok()) return Failed(s);
  uint64_t doff = vmdk::Ld64(hdr + 28), dsize = vmdk::Ld64(hdr + 36);
  uint64_t fsize = file->Size();
  bool cowd = vmdk::Ld32(hdr) == vmdk::kCowdMagic;  // a bare ESX sparse file: no descriptor
  if (cowd) desc.create_type = "vmfsSparse";
  if (!cowd && dsize > 0 && dsize <= vmdk::kMaxDescriptorBytes / kSector && doff <= fsize / kSector &&
      doff * kSector + dsize * kSector <= fsize) {
    std::string text;
    if (Status s = LoadDescriptor(file.get(), doff * kSector, dsize * kSector, &text, &desc); !s.ok())
      return Failed(s);
    loc.text = text.substr(0, text.find('\0'));
    loc.offset = doff * kSector;
    loc.area = dsize * kSector;
  }
  vmdk::SparseHeader h;
  Result<std::unique_ptr<ExtentIO>> e = vmdk::OpenSparseExtent(std::move(file), ro, &h);
  if (!e.ok()) return Failed(e.status);
  if (loc.area) {
    // The descriptor is rewritten in place (new CID on first write): its area
    // must not share sectors with the header, the grain directories or grains.
    uint64_t a = doff, b = doff + dsize, gd = (h.gd_entries() * 4 + kSector - 1) / kSector;
    auto overlaps = [&](uint64_t s, uint64_t n) { return n && s < b && a < s + n; };
    const char* what = nullptr;
    if (overlaps(0, 1)) what = "the header";
    else if (overlaps(h.gd_offset, gd)) what = "the grain directory";
    else if (h.redundant() && overlaps(h.rgd_offset, gd)) what = "the redundant grain directory";
    else if (h.overhead && b > h.overhead) what = "the grains (it ends past the overhead)";
    if (what)
      return Failed(Status::Error(EINVAL, path + ": invalid VMDK sparse extent: embedded descriptor at sectors " +
                                              std::to_string(a) + ".." + std::to_string(b - 1) + " overlaps " + what));
  }
  std::vector<Part> parts(1);
  parts[0].size = h.capacity * kSector;
  parts[0].io = std::move(e.value);
  r.value = std::make_unique<VmdkDriver>(path, std::move(desc), std::move(loc), std::move(parts), ro);
  return r;
}

OpenResult OpenDescriptor(std::unique_ptr<File> file, const OpenOptions& o, bool ro) {
  OpenResult r;
  std::string path = file->path();
  uint64_t fsize = file->Size();
  if (fsize > vmdk::kMaxDescriptorBytes)
    return Failed(Status::Error(EINVAL, path + ": VMDK descriptor file of " + std::to_string(fsize) +
                                            " bytes is too large"));
  std::string text;
  Descriptor desc;
  if (Status s = LoadDescriptor(file.get(), 0, fsize, &text, &desc); !s.ok()) return Failed(s);
  const std::string& ct = desc.create_type;
  if (ct == "fullDevice" || ct == "partitionedDevice" || ct.rfind("vmfsRaw", 0) == 0 ||
      ct == "vmfsRDM" || ct == "vmfsPassthroughRawDeviceMap")
    return Failed(Status::Error(ENOTSUP, path + ": unimplemented: VMDK raw device mapping ('" + ct + "')"));
  if (desc.extents.empty()) return Failed(Status::Error(EINVAL, path + ": invalid VMDK descriptor: no extents"));
  std::vector<Part> parts;
  uint64_t start = 0, total = 0;
  for (const ExtentDesc& ed : desc.extents) {
    auto fail = [&](int err, const std::string& why) {
      return Failed(Status::Error(err, path + ": extent '" + ed.file + "': " + why));
    };
    if (ed.sectors > vmdk::kMaxSectors - total)
      return fail(EINVAL, "the extents add up to more than 64 TiB");
    total += ed.sectors;
    Part p;
    p.start = start;
    p.size = ed.sectors * kSector;
    p.access = ed.access;
    start += p.size;
    if (ed.sectors == 0) continue;
    if (ed.access == ExtentDesc::kNoAccess) {
      parts.push_back(std::move(p));
      continue;
    }
    if (ed.type == "ZERO") {
      p.io = vmdk::NewZeroExtent(path);
      parts.push_back(std::move(p));
      continue;
    }
    bool sparse = ed.type == "SPARSE" || ed.type == "VMFSSPARSE";
    if (!sparse && ed.type != "FLAT" && ed.type != "VMFS")
      return fail(ENOTSUP, "unimplemented: extent type " + ed.type);
    Result<std::string> rp = ResolveExtent(path, ed.file, o);
    if (!rp.ok()) return Failed(rp.status);
    bool ext_ro = ro || ed.access == ExtentDesc::kRdOnly;
    FileOpenOptions fo;
    fo.read_only = ext_ro;
    fo.cache = o.cache;
    fo.lock = o.lock;
    Result<std::unique_ptr<File>> f = OpenHostFile(rp.value, fo);
    if (!f.ok()) return Failed(f.status);
    if (sparse) {
      vmdk::SparseHeader h;
      Result<std::unique_ptr<ExtentIO>> e = vmdk::OpenSparseExtent(std::move(f.value), ext_ro, &h);
      if (!e.ok()) return Failed(e.status);
      if (h.cowd != (ed.type == "VMFSSPARSE"))
        return fail(EINVAL, "the descriptor says " + ed.type + " but the file is a " +
                                (h.cowd ? "COWD (VMFSSPARSE)" : "hosted sparse (KDMV)") +
                                " extent");
      if (h.capacity < ed.sectors)
        return fail(EINVAL, "the descriptor gives " + std::to_string(ed.sectors) +
                                " sectors but the sparse extent holds only " +
                                std::to_string(h.capacity));
      p.io = std::move(e.value);
    } else {
      if (ed.offset > vmdk::kMaxSectors) return fail(EINVAL, "offset out of range");
      p.io = vmdk::NewFlatExtent(std::move(f.value), ed.offset * kSector);
    }
    parts.push_back(std::move(p));
  }
  DescLocation loc;
  loc.text = text.substr(0, text.find('\0'));
  loc.file = std::move(file);
  r.value = std::make_unique<VmdkDriver>(path, std::move(desc), std::move(loc), std::move(parts), ro);
  return r;
}

OpenResult Open(std::unique_ptr<File> file, const OpenOptions& o) {
  uint8_t head[4096] = {};
  uint64_t n = std::min<uint64_t>(sizeof head, file->Size());
  if (Status s = file->PRead(0, head, n); !s.ok()) return Failed(s);
  bool ro = o.read_only || file->read_only();
  if (n >= 4 && (vmdk::Ld32(head) == vmdk::kMagic || vmdk::Ld32(head) == vmdk::kCowdMagic))
    return OpenMonolithic(std::move(file), ro);
  if (vmdk::LooksLikeDescriptor(head, n)) return OpenDescriptor(std::move(file), o, ro);
  return Failed(Status::Error(EINVAL, file->path() + ": not a VMDK image (no KDMV or COWD magic and "
                                                     "no descriptor text)"));
}

}  // namespace

const FormatInfo& VmdkFormat() {
  static const FormatInfo info{"vmdk", Probe, Open, vmdk::CreateVmdk};
  return info;
}

}  // namespace emu::block
