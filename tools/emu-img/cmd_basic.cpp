// emu-img create, info, resize, snapshot, amend.
#include <getopt.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>

#include "tools/emu-img/util.h"

namespace emu::tools {

using Json = nlohmann::ordered_json;

int CmdCreate(int argc, char** argv) {
  std::string fmt = "raw", backing, backing_fmt;
  std::map<std::string, std::string> opts;
  bool quiet = false;
  OptionReader reader(argc, argv, ":f:o:b:F:uq");
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'f': fmt = optarg; break;
      case 'o': if (!ParseOptions(optarg, &opts)) return 1; break;
      case 'b': backing = optarg; break;
      case 'F': backing_fmt = optarg; break;
      case 'u': break;
      case 'q': quiet = true; break;
      default: return reader.Bad(c);
    }
  }
  if (optind >= argc) {
    Error("Expecting image file name");
    return 1;
  }
  std::string path = argv[optind++];
  block::CreateOptions co;
  if (!backing.empty()) opts["backing_file"] = backing;
  if (!backing_fmt.empty()) opts["backing_fmt"] = backing_fmt;
  if (optind < argc) {
    std::string s = argv[optind++];
    if (!block::ParseSize(s, &co.size)) {
      Error("Invalid image size specified. You may use k, M, G, T, P or E suffixes for");
      Error("kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.");
      return 1;
    }
  } else if (opts.count("size")) {
    if (!block::ParseSize(opts["size"], &co.size)) {
      Error("Invalid image size specified");
      return 1;
    }
  } else if (!opts.count("backing_file")) {
    Error("Image creation needs a size parameter");
    return 1;
  }
  if (optind < argc) {
    Error(std::string("Unexpected argument: ") + argv[optind]);
    return 1;
  }
  opts.erase("size");
  if (!CheckFormat(fmt)) return 1;
  co.opts = opts;
  if (!quiet) {
    // The same line as qemu-img (scripts grep it): defaults spelled out for qcow2.
    uint64_t shown = co.size;
    if (!shown && opts.count("backing_file")) {
      // Not Open(): a backing file that does not open is CreateImage's error to report.
      block::OpenOptions bo;
      bo.read_only = true;
      bo.force_share = true;
      bo.format = opts.count("backing_fmt") ? opts["backing_fmt"] : "";
      auto bd = block::OpenImage(block::ResolveBackingPath(path, opts["backing_file"]), bo);
      if (bd.ok()) shown = bd.value->Size();
    }
    std::string line = "Formatting '" + path + "', fmt=" + fmt;
    auto opt = [&](const char* k, const char* def) {
      if (opts.count(k)) line += std::string(" ") + k + "=" + opts[k];
      else if (def) line += std::string(" ") + k + "=" + def;
    };
    std::string sz = " size=" + std::to_string(shown);
    if (fmt == "qcow2") {
      uint64_t cs;
      if (opts.count("cluster_size") && block::ParseSize(opts["cluster_size"], &cs))
        opts["cluster_size"] = std::to_string(cs);
      opt("cluster_size", "65536");
      opt("extended_l2", "off");
      opt("preallocation", nullptr);
      opt("compression_type", "zlib");
      line += sz;
      opt("backing_file", nullptr);
      opt("backing_fmt", nullptr);
      opt("compat", nullptr);
      opt("lazy_refcounts", "off");
      opt("refcount_bits", "16");
    } else {
      line += sz;
      for (const auto& [k, v] : opts) line += " " + k + "=" + v;
    }
    printf("%s\n", line.c_str());
    fflush(stdout);
  }
  block::Status s = block::CreateImage(fmt, path, co);
  return s.ok() ? 0 : Fail(s, path + ": ");
}

namespace {

Json InfoJson(BlockDriver* d, const std::string& path, const std::string& fmt, uint64_t actual) {
  Json j;
  block::ImageInfo info;
  auto* ops = OpsOf(d);
  if (ops) ops->GetInfo(&info);
  std::vector<block::SnapshotInfo> snaps;
  if (ops && ops->ListSnapshots(&snaps).ok() && !snaps.empty()) {
    Json a = Json::array();
    for (const auto& s : snaps) {
      Json o;
      if (s.icount != UINT64_MAX) o["icount"] = s.icount;
      o["vm-clock-nsec"] = s.vm_clock_nsec % 1000000000ull;
      o["name"] = s.name;
      o["date-sec"] = s.date_sec;
      o["date-nsec"] = s.date_nsec;
      o["vm-clock-sec"] = s.vm_clock_nsec / 1000000000ull;
      o["id"] = s.id;
      o["vm-state-size"] = s.vm_state_size;
      a.push_back(o);
    }
    j["snapshots"] = a;
  }
  if (!info.backing_file.empty() && !info.backing_format.empty())
    j["backing-filename-format"] = info.backing_format;
  j["virtual-size"] = d->Size();
  j["filename"] = path;
  if (info.cluster_size) j["cluster-size"] = info.cluster_size;
  j["format"] = fmt;
  j["actual-size"] = actual;
  if (!info.specific.empty()) {
    Json data;
    for (const auto& [k, v] : info.specific) {
      if (v.kind == block::InfoValue::kString) data[k] = v.s;
      else if (v.kind == block::InfoValue::kInt) data[k] = v.i;
      else if (v.kind == block::InfoValue::kJson) data[k] = Json::parse(v.s, nullptr, false);
      else data[k] = v.b;
    }
    j["format-specific"] = {{"type", fmt}, {"data", data}};
  }
  if (!info.backing_file.empty()) {
    j["full-backing-filename"] = info.backing_full;
    j["backing-filename"] = info.backing_file;
  }
  j["dirty-flag"] = info.dirty;
  return j;
}

uint64_t ActualSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) < 0) return 0;
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

// Nested values as qemu-img prints them: "key: value", lists as "[i]:".
void PrintNested(const Json& v, int indent) {
  auto scalar = [](const Json& x) { return x.is_string() ? x.get<std::string>() : x.dump(); };
  auto line = [&](const std::string& label, const Json& x) {
    if (x.is_object() || x.is_array()) {
      printf("%*s%s:\n", indent, "", label.c_str());
      PrintNested(x, indent + 4);
    } else {
      printf("%*s%s: %s\n", indent, "", label.c_str(), scalar(x).c_str());
    }
  };
  if (v.is_array()) {
    for (size_t i = 0; i < v.size(); i++) line("[" + std::to_string(i) + "]", v[i]);
    return;
  }
  for (const auto& [k, x] : v.items()) {
    std::string key = k;
    for (char& ch : key)
      if (ch == '-') ch = ' ';
    line(key, x);
  }
}

// The "Snapshot list:" table of info and snapshot -l, from InfoJson's "snapshots".
void PrintSnapshots(const Json& snapshots) {
  printf("Snapshot list:\n");
  printf("%-10s%-17s%8s%20s%13s%11s\n", "ID", "TAG", "VM SIZE", "DATE", "VM CLOCK", "ICOUNT");
  for (const auto& s : snapshots) {
    time_t t = s["date-sec"].get<int64_t>();
    struct tm tm;
    localtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M:%S", &tm);
    uint64_t secs = s["vm-clock-sec"], ns = s["vm-clock-nsec"];
    char clk[96];
    snprintf(clk, sizeof clk, "%02llu:%02llu:%02llu.%03llu", static_cast<unsigned long long>(secs / 3600),
             static_cast<unsigned long long>(secs / 60 % 60), static_cast<unsigned long long>(secs % 60),
             static_cast<unsigned long long>(ns / 1000000));
    std::string icount = s.contains("icount") ? std::to_string(s["icount"].get<uint64_t>()) : "";
    printf("%-9s %-16s %8s %19s %12s %10s\n", s["id"].get<std::string>().c_str(),
           s["name"].get<std::string>().c_str(), HumanSize(s["vm-state-size"]).c_str(), date, clk,
           icount.c_str());
  }
}

void PrintHuman(const Json& j) {
  printf("image: %s\n", j["filename"].get<std::string>().c_str());
  printf("file format: %s\n", j["format"].get<std::string>().c_str());
  uint64_t vs = j["virtual-size"];
  printf("virtual size: %s (%llu bytes)\n", HumanSize(vs).c_str(), static_cast<unsigned long long>(vs));
  printf("disk size: %s\n", HumanSize(j["actual-size"]).c_str());
  if (j.contains("cluster-size")) printf("cluster_size: %llu\n", static_cast<unsigned long long>(j["cluster-size"].get<uint64_t>()));
  if (j.contains("backing-filename")) {
    std::string b = j["backing-filename"], full = j["full-backing-filename"];
    if (b != full) printf("backing file: %s (actual path: %s)\n", b.c_str(), full.c_str());
    else printf("backing file: %s\n", b.c_str());
    if (j.contains("backing-filename-format"))
      printf("backing file format: %s\n", j["backing-filename-format"].get<std::string>().c_str());
  }
  if (j.contains("snapshots")) PrintSnapshots(j["snapshots"]);
  if (j.contains("format-specific")) {
    printf("Format specific information:\n");
    PrintNested(j["format-specific"]["data"], 4);
  }
}

}  // namespace

int CmdInfo(int argc, char** argv) {
  ReportOptions args;
  bool chain = false;
  static const option longs[] = {{"output", required_argument, nullptr, 'O'},
                                 {"backing-chain", no_argument, nullptr, 'B'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:U", longs);
  for (int c; (c = reader.Next()) != -1;) {
    if (c == 'B') chain = true;
    else if (!args.Take(c)) return reader.Bad(c);
  }
  if (!CheckOutputFormat(args.output)) return 1;
  auto d = OpenOneImage(argc, argv, &args.spec);
  if (!d) return 1;
  Json all = Json::array();
  BlockDriver* cur = d.get();
  std::string path = args.spec.path;
  while (cur) {
    all.push_back(InfoJson(cur, path, cur->format_name(), ActualSize(path)));
    if (!chain) break;
    auto* ops = OpsOf(cur);
    block::ImageInfo info;
    if (ops) ops->GetInfo(&info);
    cur = ops ? ops->Backing() : nullptr;
    path = info.backing_full;
  }
  if (args.output == "json") {
    printf("%s\n", (chain ? all : all[0]).dump(4).c_str());
  } else {
    for (size_t i = 0; i < all.size(); i++) {
      if (i) printf("\n");
      PrintHuman(all[i]);
    }
  }
  return 0;
}

int CmdResize(int argc, char** argv) {
  OpenSpec spec;
  spec.read_only = false;
  bool shrink = false, quiet = false;
  // A negative size looks like an option: take the last argument out first.
  const bool minus = argc >= 2 && argv[argc - 1][0] == '-' && argv[argc - 1][1] >= '0' && argv[argc - 1][1] <= '9';
  std::string sz;
  if (minus) sz = argv[--argc];
  static const option longs[] = {{"shrink", no_argument, nullptr, 'S'}, {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:q", longs);
  for (int c; (c = reader.Next()) != -1;) {
    if (c == 'f') spec.format = optarg;
    else if (c == 'q') quiet = true;
    else if (c == 'S') shrink = true;
    else return reader.Bad(c);
  }
  if (optind != argc - (minus ? 1 : 2)) {
    Error("Expecting image file name and size");
    return 1;
  }
  spec.path = argv[optind];
  if (!minus) sz = argv[optind + 1];
  auto d = Open(spec);
  if (!d) return 1;
  const char sign = minus ? '-' : sz[0] == '+' ? '+' : 0;
  uint64_t n;
  if (!block::ParseSize(sign ? sz.substr(1) : sz, &n)) {
    Error("Invalid image size specified");
    return 1;
  }
  if (sign == '-' && n > d->Size()) {
    Error("New image size must be positive");
    return 1;
  }
  uint64_t target = sign == '+' ? d->Size() + n : sign == '-' ? d->Size() - n : n;
  auto* ops = OpsOf(d.get());
  block::Status s = ops ? ops->Resize(target, shrink) : block::Status::Error(ENOTSUP, "resize unsupported");
  if (!s.ok()) return Fail(s);
  if (!quiet) printf("Image resized.\n");
  return 0;
}

int CmdSnapshot(int argc, char** argv) {
  OpenSpec spec;
  char action = 0;
  std::string name;
  OptionReader reader(argc, argv, ":la:c:d:f:Uq");
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'l': case 'a': case 'c': case 'd':
        if (action) {
          Error("Cannot mix '-l', '-a', '-c', '-d'");
          return 1;
        }
        action = static_cast<char>(c);
        if (optarg) name = optarg;
        break;
      case 'f': spec.format = optarg; break;
      case 'U': spec.force_share = true; break;
      case 'q': break;
      default: return reader.Bad(c);
    }
  }
  if (!action) action = 'l';
  spec.read_only = action == 'l';
  auto d = OpenOneImage(argc, argv, &spec);
  if (!d) return 1;
  auto* ops = OpsOf(d.get());
  if (!ops) {
    Error("This image format does not support snapshots");
    return 1;
  }
  block::Status s;
  if (action == 'l') {
    std::vector<block::SnapshotInfo> snaps;
    s = ops->ListSnapshots(&snaps);
    if (s.ok() && !snaps.empty()) PrintSnapshots(InfoJson(d.get(), spec.path, d->format_name(), 0)["snapshots"]);
  } else if (action == 'c') {
    s = ops->CreateSnapshot(name);
  } else if (action == 'a') {
    s = ops->ApplySnapshot(name);
  } else {
    s = ops->DeleteSnapshot(name);
  }
  return s.ok() ? 0 : Fail(s);
}

int CmdAmend(int argc, char** argv) {
  OpenSpec spec;
  spec.read_only = false;
  std::map<std::string, std::string> opts;
  bool have_opts = false;
  static const option longs[] = {{"force", no_argument, nullptr, 'F'}, {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:o:pqt:", longs);
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'f': spec.format = optarg; break;
      case 'o': if (!ParseOptions(optarg, &opts)) return 1; have_opts = true; break;
      case 'p': case 'q': case 'F': case 't': break;
      default: return reader.Bad(c);
    }
  }
  if (!have_opts) {
    Error("Must specify options (-o)");
    return 1;
  }
  auto d = OpenOneImage(argc, argv, &spec);
  if (!d) return 1;
  auto* ops = OpsOf(d.get());
  block::Status s = ops ? ops->Amend(opts) : block::Status::Error(ENOTSUP, "amend unsupported");
  return s.ok() ? 0 : Fail(s);
}

}  // namespace emu::tools
