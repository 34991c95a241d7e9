#include "block/vmdk/descriptor.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace emu::block::vmdk {
namespace {

std::string Trim(const std::string& s) {
  size_t a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  size_t b = s.find_last_not_of(" \t\r");
  return s.substr(a, b - a + 1);
}

std::string Unquote(const std::string& s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') return s.substr(1, s.size() - 2);
  return s;
}

bool ParseU64(const std::string& s, uint64_t* out, int base = 10) {
  if (s.empty() || s.size() > 20) return false;
  char* end = nullptr;
  errno = 0;
  unsigned long long v = strtoull(s.c_str(), &end, base);
  if (errno || *end || s[0] == '-' || s[0] == '+') return false;
  *out = v;
  return true;
}

// "RW 10240 FLAT "name with spaces.vmdk" 0"
bool ParseExtentLine(const std::string& line, ExtentDesc* e, std::string* why) {
  // The file name is quoted and comes last (bar the offset): split around it.
  size_t q1 = line.find('"');
  std::vector<std::string> words;
  std::string head = line.substr(0, q1);
  for (size_t p = 0; p < head.size();) {
    size_t a = head.find_first_not_of(" \t", p);
    if (a == std::string::npos) break;
    size_t b = head.find_first_of(" \t", a);
    if (b == std::string::npos) b = head.size();
    words.push_back(head.substr(a, b - a));
    p = b;
  }
  if (words.size() != 3) {
    *why = "expected ACCESS SECTORS TYPE \"file\" [offset]";
    return false;
  }
  const std::string& a = words[0];
  if (a == "RW") e->access = ExtentDesc::kRW;
  else if (a == "RDONLY") e->access = ExtentDesc::kRdOnly;
  else if (a == "NOACCESS") e->access = ExtentDesc::kNoAccess;
  else {
    *why = "unknown access '" + a + "'";
    return false;
  }
  if (!ParseU64(words[1], &e->sectors)) {
    *why = "bad sector count '" + words[1].substr(0, 24) + "'";
    return false;
  }
  e->type = words[2];
  if (e->type == "ZERO" && q1 == std::string::npos) return true;
  if (q1 == std::string::npos) {
    *why = "missing quoted file name";
    return false;
  }
  size_t q2 = line.find('"', q1 + 1);
  if (q2 == std::string::npos) {
    *why = "unterminated file name";
    return false;
  }
  e->file = line.substr(q1 + 1, q2 - q1 - 1);
  std::string rest = Trim(line.substr(q2 + 1));
  if (!rest.empty()) {
    uint64_t off;
    if (!ParseU64(rest, &off)) {
      *why = "bad extent offset '" + rest.substr(0, 24) + "'";
      return false;
    }
    e->offset = off;
  }
  return true;
}

}  // namespace

bool LooksLikeDescriptor(const uint8_t* p, size_t len) {
  static const char kSig[] = "# Disk DescriptorFile";
  std::string s(reinterpret_cast<const char*>(p), std::min<size_t>(len, 4096));
  if (s.compare(0, sizeof kSig - 1, kSig) == 0) return true;
  // Some tools omit the comment line; a createType= plus an extent is enough.
  return s.find("\ncreateType=") != std::string::npos && s.find("version=") != std::string::npos &&
         s.find('\0') == std::string::npos;
}

Result<Descriptor> ParseDescriptor(const std::string& all, const std::string& path) {
  Result<Descriptor> r;
  // An embedded descriptor is padded with NULs to its reserved size.
  const std::string text = all.substr(0, all.find('\0'));
  Descriptor& d = r.value;
  size_t pos = 0;
  int lineno = 0;
  bool saw_version = false;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = Trim(text.substr(pos, nl - pos));
    pos = nl + 1;
    lineno++;
    if (line.empty() || line[0] == '#') continue;
    auto fail = [&](const std::string& why) {
      r.status = Status::Error(EINVAL, path + ": invalid VMDK descriptor, line " +
                                           std::to_string(lineno) + ": " + why);
      return r;
    };
    if (line.rfind("RW ", 0) == 0 || line.rfind("RDONLY ", 0) == 0 ||
        line.rfind("NOACCESS ", 0) == 0) {
      ExtentDesc e;
      std::string why;
      if (!ParseExtentLine(line, &e, &why)) return fail(why);
      if (d.extents.size() >= 4096) return fail("too many extents");
      d.extents.push_back(e);
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string::npos) return fail("unrecognized line '" + line.substr(0, 60) + "'");
    std::string key = Trim(line.substr(0, eq)), val = Unquote(Trim(line.substr(eq + 1)));
    uint64_t v;
    if (key == "version") {
      if (!ParseU64(val, &v) || v < 1 || v > 3) return fail("unsupported version '" + val + "'");
      d.version = int(v);
      saw_version = true;
    } else if (key == "CID") {
      if (!ParseU64(val, &v, 16) || v > 0xffffffffu) return fail("bad CID '" + val + "'");
      d.cid = uint32_t(v);
    } else if (key == "parentCID") {
      if (!ParseU64(val, &v, 16) || v > 0xffffffffu) return fail("bad parentCID '" + val + "'");
      d.parent_cid = uint32_t(v);
    } else if (key == "createType") {
      d.create_type = val;
    } else if (key == "parentFileNameHint") {
      d.parent_hint = val;
    } else if (key.rfind("ddb.", 0) == 0) {
      d.ddb.emplace_back(key, val);
    }
    // Other keys (encoding, isNativeSnapshot, ...) do not change how data is read.
  }
  if (!saw_version && d.create_type.empty()) {
    r.status = Status::Error(EINVAL, path + ": invalid VMDK descriptor: no version or createType");
  }
  return r;
}

std::string FormatDescriptor(const Descriptor& d) {
  char buf[64];
  std::string s = "# Disk DescriptorFile\nversion=" + std::to_string(d.version) + "\n";
  snprintf(buf, sizeof buf, "CID=%x\nparentCID=%x\n", d.cid, d.parent_cid);  // unpadded, as qemu-img
  s += buf;
  s += "createType=\"" + d.create_type + "\"\n";
  if (!d.parent_hint.empty()) s += "parentFileNameHint=\"" + d.parent_hint + "\"\n";
  s += "\n# Extent description\n";
  for (const ExtentDesc& e : d.extents) {
    static const char* kAccess[] = {"RW", "RDONLY", "NOACCESS"};
    s += std::string(kAccess[e.access]) + " " + std::to_string(e.sectors) + " " + e.type;
    if (!e.file.empty()) s += " \"" + e.file + "\"";
    if (e.type == "FLAT" || e.type == "VMFS") s += " " + std::to_string(e.offset);
    s += "\n";
  }
  s += "\n# The Disk Data Base\n#DDB\n\n";
  for (const auto& [k, v] : d.ddb) s += k + " = \"" + v + "\"\n";
  return s;
}

}  // namespace emu::block::vmdk
