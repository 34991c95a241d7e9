#include "tools/emu-img/util.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace emu::tools {

void Error(const std::string& msg) { fprintf(stderr, "emu-img: %s\n", msg.c_str()); }

int Fail(const block::Status& s, const std::string& what) {
  Error(what + s.message());
  return 1;
}

OptionReader::OptionReader(int argc, char** argv, const char* shorts, const option* longs)
    : argc_(argc), argv_(argv), shorts_(shorts), longs_(longs) {
  optind = 1;  // each subcommand starts getopt afresh on its own argv
  opterr = 0;
}

int OptionReader::Next() {
  static const option kNone[] = {{nullptr, 0, nullptr, 0}};
  return getopt_long(argc_, argv_, shorts_, longs_ ? longs_ : kNone, nullptr);
}

int OptionReader::Bad(int c) const {
  if (c == '?' && optopt) {
    Error(std::string("invalid option -- '") + char(optopt) + "'");
  } else if (c == ':') {
    Error(std::string("option requires an argument -- '") + char(optopt) + "'");
  } else {
    Error(std::string("unrecognized option '") + argv_[optind - 1] + "'");
  }
  return 1;
}

bool CheckOutputFormat(const std::string& output) {
  if (output == "human" || output == "json") return true;
  Error("--output must be used with human or json as argument.");
  return false;
}

bool CheckFormat(const std::string& fmt) {
  if (block::FindFormat(fmt)) return true;
  Error("Unknown file format '" + fmt + "'");
  return false;
}

bool ParseOptions(const std::string& s, std::map<std::string, std::string>* out) {
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t comma = s.find(',', pos);
    std::string kv = s.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      if (eq == std::string::npos) {
        if (kv == "help" || kv == "?") {
          Error("Option help is not supported; see docs/block.md");
          return false;
        }
        Error("Invalid option list: parameter '" + kv + "' is missing a value");
        return false;
      }
      (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return true;
}

std::string HumanSize(uint64_t v) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int i = 0;
  double d = static_cast<double>(v);
  while (d >= 1024 && i < 6) {
    d /= 1024;
    i++;
  }
  char b[64];
  if (i == 0) snprintf(b, sizeof b, "%llu B", static_cast<unsigned long long>(v));
  else snprintf(b, sizeof b, "%0.3g %s", d, units[i]);
  return b;
}

bool ParseCache(const std::string& s, block::CacheMode* m) {
  if (s == "writeback") *m = block::CacheMode::kWriteback;
  else if (s == "writethrough") *m = block::CacheMode::kWritethrough;
  else if (s == "none" || s == "directsync") *m = block::CacheMode::kNone;
  else if (s == "unsafe") *m = block::CacheMode::kUnsafe;
  else return false;
  return true;
}

bool ReportOptions::Take(int c) {
  if (c == 'f') spec.format = optarg;
  else if (c == 'U') spec.force_share = true;
  else if (c == 'O') output = optarg;
  else return false;
  return true;
}

std::unique_ptr<BlockDriver> Open(const OpenSpec& s) {
  block::OpenOptions o;
  o.read_only = s.read_only;
  o.format = s.format;
  o.force_share = s.force_share;
  o.open_backing = s.open_backing;
  o.cache = s.cache;
  auto r = block::OpenImage(s.path, o);
  if (!r.ok()) {
    Error(r.status.message());
    return nullptr;
  }
  return std::move(r.value);
}

std::unique_ptr<BlockDriver> OpenOneImage(int argc, char** argv, OpenSpec* s) {
  if (optind != argc - 1) {
    Error("Expecting one image file name");
    return nullptr;
  }
  s->path = argv[optind];
  return Open(*s);
}

block::ImageOps* OpsOf(BlockDriver* d) { return dynamic_cast<block::ImageOps*>(d); }

block::Status ReadPadded(BlockDriver* d, uint64_t off, uint8_t* buf, uint64_t len) {
  uint64_t size = d->Size();
  uint64_t n = off >= size ? 0 : std::min(len, size - off);
  if (n) {
    block::Status s = d->Read(off, buf, n);
    if (!s.ok()) return s;
  }
  std::memset(buf + n, 0, len - n);
  return block::Status::Ok();
}

bool IsZero(const uint8_t* p, uint64_t len) {
  while (len && (reinterpret_cast<uintptr_t>(p) & 7)) {
    if (*p) return false;
    p++;
    len--;
  }
  const uint64_t* q = reinterpret_cast<const uint64_t*>(p);
  for (; len >= 8; len -= 8, q++)
    if (*q) return false;
  p = reinterpret_cast<const uint8_t*>(q);
  for (; len; len--, p++)
    if (*p) return false;
  return true;
}

}  // namespace emu::tools
