// emu-img measure, bench.
#include <getopt.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tools/emu-img/util.h"

namespace emu::tools {

int CmdMeasure(int argc, char** argv) {
  OpenSpec spec;
  std::string out_fmt = "raw", output = "human";
  std::map<std::string, std::string> opts;
  uint64_t size = 0;
  bool have_size = false;
  static const option longs[] = {{"output", required_argument, nullptr, 'J'},
                                 {"size", required_argument, nullptr, 'z'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:O:o:l:U", longs);
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'f': spec.format = optarg; break;
      case 'O': out_fmt = optarg; break;
      case 'o': if (!ParseOptions(optarg, &opts)) return 1; break;
      case 'J': output = optarg; break;
      case 'z':
        if (!block::ParseSize(optarg, &size)) {
          Error("Invalid image size specified");
          return 1;
        }
        have_size = true;
        break;
      case 'U': spec.force_share = true; break;
      case 'l': break;
      default: return reader.Bad(c);
    }
  }
  if (!CheckFormat(out_fmt)) return 1;
  if (have_size == (optind < argc)) {
    Error("Either --size N or one filename must be specified.");
    return 1;
  }
  uint64_t allocated = 0;  // --size: an empty image
  bool src_qcow2 = false;
  if (!have_size) {
    spec.path = argv[optind];
    auto d = Open(spec);
    if (!d) return 1;
    size = d->Size();
    src_qcow2 = d->format_name() == "qcow2";
    std::vector<block::Extent> ext;
    allocated = 0;
    if (d->BlockStatus(0, size, &ext).ok()) {
      for (const auto& e : ext)
        if (e.data) allocated += e.length;
    } else {
      allocated = size;
    }
  }
  size = (size + 511) / 512 * 512;  // images are whole sectors
  allocated = std::min(size, (allocated + 511) / 512 * 512);
  uint64_t required = 0, full = 0;
  if (out_fmt == "qcow2") {
    uint64_t cs = 65536;
    if (opts.count("cluster_size")) block::ParseSize(opts["cluster_size"], &cs);
    if (cs < 512 || (cs & (cs - 1))) cs = 65536;
    // As qemu-img: L2 tables for the whole disk, and a refcount structure
    // sized for the fully allocated image, in both numbers.
    uint64_t vclusters = (size + cs - 1) / cs;
    uint64_t l2 = (vclusters + cs / 8 - 1) / (cs / 8);
    uint64_t l1 = (l2 * 8 + cs - 1) / cs;
    uint64_t meta = 1 + l1 + l2;
    uint64_t full_clusters = meta + vclusters;
    uint64_t per = cs / 2, rb = 1, rt = 1;
    for (int i = 0; i < 16; i++) {
      uint64_t rb2 = (full_clusters + rb + rt + per - 1) / per;
      uint64_t rt2 = (rb2 * 8 + cs - 1) / cs;
      if (rb2 == rb && rt2 == rt) break;
      rb = rb2;
      rt = rt2;
    }
    required = (meta + (allocated + cs - 1) / cs + rb + rt) * cs;
    full = (full_clusters + rb + rt) * cs;
  } else {
    required = allocated;
    full = size;
  }
  if (output == "json") {
    nlohmann::ordered_json j;
    if (src_qcow2 && out_fmt == "qcow2") j["bitmaps"] = 0;
    j["required"] = required;
    j["fully-allocated"] = full;
    printf("%s\n", j.dump(4).c_str());
  } else {
    printf("required size: %llu\nfully allocated size: %llu\n", static_cast<unsigned long long>(required),
           static_cast<unsigned long long>(full));
    if (src_qcow2 && out_fmt == "qcow2") printf("bitmaps size: 0\n");
  }
  return 0;
}

int CmdBench(int argc, char** argv) {
  OpenSpec spec;
  uint64_t count = 75000, bufsize = 4096, offset = 0, step = 0;
  int depth = 64;
  bool write = false, flush = false;
  int pattern = 0;
  static const option longs[] = {{"pattern", required_argument, nullptr, 'P'},
                                 {"flush-interval", required_argument, nullptr, 'I'},
                                 {"no-drain", no_argument, nullptr, 'D'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":c:d:f:ni:o:qs:S:t:wU", longs);
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'c': count = strtoull(optarg, nullptr, 0); break;
      case 'd': depth = atoi(optarg); break;
      case 'f': spec.format = optarg; break;
      case 'n': spec.cache = block::CacheMode::kNone; break;
      case 'o': block::ParseSize(optarg, &offset); break;
      case 's': block::ParseSize(optarg, &bufsize); break;
      case 'S': block::ParseSize(optarg, &step); break;
      case 't':
        if (!ParseCache(optarg, &spec.cache)) {
          Error(std::string("Invalid cache mode: ") + optarg);
          return 1;
        }
        break;
      case 'w': write = true; break;
      case 'P': pattern = atoi(optarg); break;
      case 'I': flush = true; break;
      case 'i': case 'q': case 'D': case 'U': break;
      default: return reader.Bad(c);
    }
  }
  if (optind != argc - 1) {
    Error("Expecting one image file name");
    return 1;
  }
  if (!bufsize || bufsize > (64u << 20)) {
    Error("Invalid buffer size specified");
    return 1;
  }
  if (!step) step = bufsize;
  spec.path = argv[optind];
  spec.read_only = !write;
  auto d = Open(spec);
  if (!d) return 1;
  printf("Sending %llu %s requests, %llu bytes each, %d in parallel (starting at offset %llu, step size %llu)\n",
         static_cast<unsigned long long>(count), write ? "write" : "read",
         static_cast<unsigned long long>(bufsize), depth, static_cast<unsigned long long>(offset),
         static_cast<unsigned long long>(step));
  std::vector<uint8_t> buf(bufsize, static_cast<uint8_t>(pattern));
  auto t0 = std::chrono::steady_clock::now();
  uint64_t off = offset;
  for (uint64_t i = 0; i < count; i++) {
    if (off + bufsize > d->Size()) off = offset;
    block::Status s = write ? d->Write(off, buf.data(), bufsize) : d->Read(off, buf.data(), bufsize);
    if (!s.ok()) return Fail(s, "Failed request: ");
    off += step;
  }
  if (write || flush) d->Flush();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  printf("Run completed in %.3f seconds.\n", secs);
  return 0;
}

}  // namespace emu::tools
