// OpenImage / CreateImage by path, temporary snapshot overlays, size parsing.
#include "block/image.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "block/file.h"
#include "block/qcow2/qcow2.h"

namespace emu::block {

std::string ResolveBackingPath(const std::string& image_path, const std::string& backing) {
  if (backing.empty() || backing[0] == '/') return backing;
  size_t slash = image_path.rfind('/');
  if (slash == std::string::npos) return backing;
  return image_path.substr(0, slash + 1) + backing;
}

bool ParseSize(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (errno != 0 || end == s.c_str() || v < 0 || std::isnan(v)) return false;
  std::string suf(end);
  double mul = 1;
  if (suf.empty() || suf == "b" || suf == "B") {
  } else if (suf.size() == 1) {
    const char* units = "kmgtpe";
    const char* u = std::strchr(units, std::tolower(static_cast<unsigned char>(suf[0])));
    if (!u) return false;
    mul = std::ldexp(1.0, 10 * static_cast<int>(u - units + 1));
  } else {
    return false;
  }
  double r = v * mul;
  if (r >= 18446744073709551616.0) return false;
  if (suf.empty() && std::floor(v) != v) return false;
  *out = static_cast<uint64_t>(r);
  return true;
}

Result<std::unique_ptr<BlockDriver>> OpenImageFile(std::unique_ptr<File> file,
                                                   const OpenOptions& opts) {
  const FormatInfo* fi = nullptr;
  if (!opts.format.empty()) {
    fi = FindFormat(opts.format);
    if (!fi) return {Status::Error(EINVAL, "Unknown driver '" + opts.format + "'")};
    if (fi->name != "raw") {
      const FormatInfo* probed = ProbeFormat(file.get());
      if (probed != fi)
        return {Status::Error(EINVAL, "Image '" + file->path() + "' is not in " + fi->name +
                                          " format (it looks like " + probed->name + ")")};
    }
  } else {
    fi = ProbeFormat(file.get());
  }
  return fi->open(std::move(file), opts);
}

namespace {

// -snapshot: a qcow2 overlay over `base` in /var/tmp, unlinked as soon as it is
// open so that nothing is left behind, whatever way the process ends.
Result<std::unique_ptr<BlockDriver>> AddSnapshotOverlay(std::unique_ptr<BlockDriver> base,
                                                        const std::string& base_path,
                                                        const OpenOptions& opts) {
  const char* dir = getenv("TMPDIR");
  std::string tmpl = std::string(dir && *dir ? dir : "/var/tmp") + "/emu-snapshot-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back(0);
  int fd = mkstemp(name.data());
  if (fd < 0) return {ErrnoStatus(errno, tmpl, "create the snapshot overlay")};
  close(fd);
  std::string path(name.data());
  CreateOptions c;
  c.size = base->Size();
  char* real = realpath(base_path.c_str(), nullptr);
  c.opts["backing_file"] = real ? real : base_path;
  free(real);
  c.opts["backing_fmt"] = base->format_name();
  Status s = Qcow2Format().create(path, c);
  if (!s.ok()) {
    unlink(path.c_str());
    return {s};
  }
  FileOpenOptions fo;
  fo.cache = opts.cache == CacheMode::kNone ? CacheMode::kWriteback : opts.cache;
  auto f = OpenHostFile(path, fo);
  unlink(path.c_str());
  if (!f.ok()) return {f.status};
  return Qcow2OpenWithBacking(std::move(f.value), opts, std::move(base));
}

}  // namespace

Result<std::unique_ptr<BlockDriver>> OpenImage(const std::string& path, const OpenOptions& opts) {
  if (!opts.format.empty() && !FindFormat(opts.format))
    return {Status::Error(EINVAL, "Unknown driver '" + opts.format + "'")};
  OpenOptions o = opts;
  if (opts.snapshot) o.read_only = true;
  o.snapshot = false;
  FileOpenOptions fo;
  fo.read_only = o.read_only;
  fo.cache = o.cache;
  fo.lock = o.lock;
  fo.force_share = o.force_share;
  auto f = OpenHostFile(path, fo);
  if (!f.ok()) return {f.status};
  auto d = OpenImageFile(std::move(f.value), o);
  if (!d.ok() || !opts.snapshot) return d;
  return AddSnapshotOverlay(std::move(d.value), path, opts);
}

Status CreateImage(const std::string& format, const std::string& path, const CreateOptions& c) {
  const FormatInfo* fi = FindFormat(format);
  if (!fi) return Status::Error(EINVAL, "Unknown file format '" + format + "'");
  if (!fi->create) return Status::Error(ENOTSUP, "Format '" + format + "' does not support image creation");
  return fi->create(path, c);
}

}  // namespace emu::block
