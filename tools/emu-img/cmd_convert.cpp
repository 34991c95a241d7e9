// emu-img convert, compare, map.
#include <getopt.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tools/emu-img/util.h"

namespace emu::tools {

namespace {

class Progress {
 public:
  explicit Progress(bool on) : on_(on) { Show(0); }
  void Show(double pct) {
    if (!on_) return;
    if (pct - last_ < 1.0 && pct < 100.0 && last_ >= 0) return;
    last_ = pct;
    printf("    (%.2f/100%%)\r", pct);
    fflush(stdout);
  }
  void Done() {
    if (on_) printf("    (100.00/100%%)\n");
  }

 private:
  bool on_;
  double last_ = -1;
};

}  // namespace

int CmdConvert(int argc, char** argv) {
  std::string src_fmt, out_fmt = "raw", backing, backing_fmt;
  std::map<std::string, std::string> opts;
  bool compress = false, no_create = false, progress = false, quiet = false, force_share = false;
  uint64_t sparse = 4096;
  block::CacheMode cache = block::CacheMode::kUnsafe, src_cache = block::CacheMode::kWriteback;
  static const option longs[] = {{"force-share", no_argument, nullptr, 'U'},
                                 {"target-is-zero", no_argument, nullptr, 'Z'},
                                 {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:O:B:F:o:cnpqS:t:T:Um:W", longs);
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'f': src_fmt = optarg; break;
      case 'O': out_fmt = optarg; break;
      case 'B': backing = optarg; break;
      case 'F': backing_fmt = optarg; break;
      case 'o': if (!ParseOptions(optarg, &opts)) return 1; break;
      case 'c': compress = true; break;
      case 'n': no_create = true; break;
      case 'p': progress = true; break;
      case 'q': quiet = true; break;
      case 'S':
        if (!block::ParseSize(optarg, &sparse)) {
          Error("Invalid buffer size for sparse output specified");
          return 1;
        }
        break;
      case 't':
        if (!ParseCache(optarg, &cache)) {
          Error(std::string("Invalid cache option: ") + optarg);
          return 1;
        }
        break;
      case 'T':
        if (!ParseCache(optarg, &src_cache)) {
          Error(std::string("Invalid source cache option: ") + optarg);
          return 1;
        }
        break;
      case 'U': force_share = true; break;
      case 'm': case 'W': case 'Z': break;
      default: return reader.Bad(c);
    }
  }
  if (quiet) progress = false;
  if (argc - optind < 2) {
    Error("Expecting image file name");
    return 1;
  }
  std::string out_path = argv[argc - 1];
  if (!CheckFormat(out_fmt)) return 1;
  if (!src_fmt.empty() && !block::FindFormat(src_fmt)) {
    Error("Unknown driver '" + src_fmt + "'");
    return 1;
  }
  std::vector<std::unique_ptr<BlockDriver>> srcs;
  uint64_t total = 0;
  for (int i = optind; i < argc - 1; i++) {
    OpenSpec s;
    s.path = argv[i];
    s.format = src_fmt;
    s.force_share = force_share;
    s.cache = src_cache;
    auto d = Open(s);
    if (!d) return 1;
    total += d->Size();
    srcs.push_back(std::move(d));
  }
  if (!backing.empty()) opts["backing_file"] = backing;
  if (!backing_fmt.empty()) opts["backing_fmt"] = backing_fmt;
  if (compress && out_fmt == "raw") {
    Error("Compression not supported for this file format");
    return 1;
  }
  if (!no_create) {
    block::CreateOptions co;
    co.size = total;
    co.opts = opts;
    block::Status s = block::CreateImage(out_fmt, out_path, co);
    if (!s.ok()) return Fail(s, out_path + ": ");
  }
  OpenSpec os;
  os.path = out_path;
  os.format = out_fmt;
  os.read_only = false;
  os.cache = cache;
  auto out = Open(os);
  if (!out) return 1;
  if (out->Size() < total) {
    Error("Output image '" + out_path + "' is too small (" + std::to_string(out->Size()) +
          " bytes, need " + std::to_string(total) + ")");
    return 1;
  }
  auto* out_ops = OpsOf(out.get());
  BlockDriver* out_backing = out_ops ? out_ops->Backing() : nullptr;
  uint64_t gran = 0;
  if (compress) {
    gran = out_ops ? out_ops->CompressionGranularity() : 0;
    if (!gran) {
      Error("Compression not supported for this file format");
      return 1;
    }
  }
  // Fresh images without a backing file read as zeros: zero blocks are skipped.
  bool target_zero = !no_create && !out_backing;
  uint64_t chunk = 2 << 20;
  if (gran) chunk = std::max<uint64_t>(gran, chunk / gran * gran);
  // -S 0: no sparse detection, every byte is written (fully allocated output).
  bool no_sparse = sparse == 0;
  if (no_sparse) sparse = chunk;
  std::vector<uint8_t> buf(chunk), bbuf;
  Progress prog(progress);
  uint64_t dst = 0;
  for (auto& src : srcs) {
    uint64_t size = src->Size();
    uint64_t off = 0;
    while (off < size) {
      uint64_t n = std::min(chunk, size - off);
      // Whole-chunk zero per the allocation map: nothing to read.
      std::vector<block::Extent> ext;
      bool all_zero = false;
      if (src->BlockStatus(off, n, &ext).ok() && !ext.empty()) {
        uint64_t first_len = ext[0].length;
        if (!ext[0].data && ext[0].zero) n = std::min(n, first_len), all_zero = true;
        else if (first_len < n && ext.size() > 1) n = std::min(n, first_len);
        if (gran && n % gran && off + n < size) {
          n = std::min(size - off, (n + gran - 1) / gran * gran);
          all_zero = false;
        }
      }
      block::Status s;
      if (all_zero && no_sparse) {
        std::memset(buf.data(), 0, n);
        all_zero = false;
      }
      if (!all_zero) {
        s = src->Read(off, buf.data(), n);
        if (!s.ok()) return Fail(s, "error while reading at byte " + std::to_string(off) + ": ");
      }
      // Write in units of `sparse` bytes (or clusters when compressing),
      // skipping zeros the target already has.
      uint64_t unit = gran ? gran : sparse;
      for (uint64_t p = 0; p < n;) {
        uint64_t m = std::min(unit, n - p);
        // Extend over the following non-zero units: one write (or one batch
        // of clusters compressed in parallel).
        if (!out_backing && !all_zero && (no_sparse || !IsZero(buf.data() + p, m))) {
          while (p + m < n && (no_sparse || !IsZero(buf.data() + p + m, std::min(unit, n - p - m))))
            m += std::min(unit, n - p - m);
        }
        uint64_t p0 = p;
        p += m;
        uint64_t at = dst + off + p0;
        bool zero = all_zero || (!no_sparse && IsZero(buf.data() + p0, m));
        if (out_backing && !zero) {
          bbuf.resize(m);
          if (ReadPadded(out_backing, at, bbuf.data(), m).ok() && std::memcmp(bbuf.data(), buf.data() + p0, m) == 0)
            continue;
        }
        if (zero) {
          if (target_zero) continue;
          if (out_backing) {
            bbuf.resize(m);
            if (ReadPadded(out_backing, at, bbuf.data(), m).ok() && IsZero(bbuf.data(), m)) continue;
          }
          s = out->WriteZeroes(at, m);
        } else if (gran) {
          if (m % gran && at + gran <= out->Size()) {
            // Source ends inside a cluster of a larger target: pad with zeros.
            std::memset(buf.data() + p0 + m, 0, gran - m % gran);
            m += gran - m % gran;
          }
          s = out_ops->WriteCompressed(at, buf.data() + p0, m);
        } else {
          s = out->Write(at, buf.data() + p0, m);
        }
        if (!s.ok()) return Fail(s, "error while writing at byte " + std::to_string(at) + ": ");
      }
      off += n;
      prog.Show(100.0 * double(dst + off) / double(std::max<uint64_t>(total, 1)));
    }
    dst += size;
  }
  block::Status s = out->Flush();
  if (!s.ok()) return Fail(s, "error while flushing '" + out_path + "': ");
  prog.Done();
  return 0;
}

int CmdCompare(int argc, char** argv) {
  OpenSpec a, b;
  bool strict = false, quiet = false;
  static const option longs[] = {{"force-share", no_argument, nullptr, 'U'}, {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:F:sqpUT:", longs);
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'f': a.format = optarg; break;
      case 'F': b.format = optarg; break;
      case 's': strict = true; break;
      case 'q': quiet = true; break;
      case 'U': a.force_share = b.force_share = true; break;
      case 'p': case 'T': break;
      default: reader.Bad(c); return 2;
    }
  }
  if (optind != argc - 2) {
    Error("Expecting two image file names");
    return 2;
  }
  a.path = argv[optind];
  b.path = argv[optind + 1];
  if (b.format.empty()) b.format = a.format;
  auto da = Open(a);
  if (!da) return 2;
  auto db = Open(b);
  if (!db) return 2;
  uint64_t sa = da->Size(), sb = db->Size();
  if (strict && sa != sb) {
    if (!quiet) printf("Strict mode: Image size mismatch!\n");
    return 1;
  }
  uint64_t size = std::max(sa, sb);
  const uint64_t chunk = 1 << 20;
  std::vector<uint8_t> ba(chunk), bb(chunk);
  for (uint64_t off = 0; off < size; off += chunk) {
    uint64_t n = std::min(chunk, size - off);
    block::Status s = ReadPadded(da.get(), off, ba.data(), n);
    if (!s.ok()) {
      Error("Error while reading offset " + std::to_string(off) + " of " + a.path + ": " + s.message());
      return 2;
    }
    s = ReadPadded(db.get(), off, bb.data(), n);
    if (!s.ok()) {
      Error("Error while reading offset " + std::to_string(off) + " of " + b.path + ": " + s.message());
      return 2;
    }
    if (std::memcmp(ba.data(), bb.data(), n) != 0) {
      uint64_t i = 0;
      while (ba[i] == bb[i]) i++;
      i &= ~uint64_t(511);
      if (!quiet) printf("Content mismatch at offset %llu!\n", static_cast<unsigned long long>(off + i));
      return 1;
    }
  }
  if (strict) {
    // Strict mode also compares allocation: an allocated range vs a hole.
    std::vector<block::Extent> ea, eb;
    if (da->BlockStatus(0, sa, &ea).ok() && db->BlockStatus(0, sb, &eb).ok()) {
      auto alloc_at = [](const std::vector<block::Extent>& v, uint64_t off) {
        for (const auto& e : v)
          if (off >= e.offset && off < e.offset + e.length) return e.present && (e.data || e.depth == 0);
        return false;
      };
      for (const auto& e : ea)
        for (uint64_t o = e.offset; o < e.offset + e.length; o += 65536)
          if (alloc_at(ea, o) != alloc_at(eb, o)) {
            if (!quiet) printf("Strict mode: Offset %llu allocation mismatch!\n", static_cast<unsigned long long>(o));
            return 1;
          }
    }
  }
  if (!quiet) printf("Images are identical.\n");
  return 0;
}

int CmdMap(int argc, char** argv) {
  ReportOptions args;
  static const option longs[] = {{"output", required_argument, nullptr, 'O'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:U", longs);
  for (int c; (c = reader.Next()) != -1;) {
    if (!args.Take(c)) return reader.Bad(c);
  }
  if (!CheckOutputFormat(args.output)) return 1;
  auto d = OpenOneImage(argc, argv, &args.spec);
  if (!d) return 1;
  std::vector<block::Extent> ext;
  block::Status s = d->BlockStatus(0, d->Size(), &ext);
  if (!s.ok()) return Fail(s);
  if (args.output == "json") {
    printf("[");
    for (size_t i = 0; i < ext.size(); i++) {
      const auto& e = ext[i];
      printf("%s{ \"start\": %llu, \"length\": %llu, \"depth\": %d, \"present\": %s, \"zero\": %s, \"data\": %s",
             i ? ",\n" : "", static_cast<unsigned long long>(e.offset),
             static_cast<unsigned long long>(e.length), e.depth, e.present ? "true" : "false",
             e.zero ? "true" : "false", e.data ? "true" : "false");
      if (e.host_offset) printf(", \"offset\": %llu", static_cast<unsigned long long>(*e.host_offset));
      printf("}");
    }
    printf("]\n");
  } else {
    // The file of each depth: the image, then its backing chain.
    std::vector<std::string> files = {args.spec.path};
    for (BlockDriver* cur = d.get(); cur;) {
      auto* ops = OpsOf(cur);
      if (!ops || !ops->Backing()) break;
      block::ImageInfo info;
      ops->GetInfo(&info);
      files.push_back(info.backing_full);
      cur = ops->Backing();
    }
    printf("%-16s%-16s%-16s%s\n", "Offset", "Length", "Mapped to", "File");
    for (const auto& e : ext) {
      if (e.data && !e.host_offset) {
        Error("File contains external, encrypted or compressed clusters.");
        return 1;
      }
      if (!e.data || !e.host_offset) continue;
      const std::string& file = size_t(e.depth) < files.size() ? files[e.depth] : args.spec.path;
      printf("%#-16llx%#-16llx%#-16llx%s\n", static_cast<unsigned long long>(e.offset),
             static_cast<unsigned long long>(e.length), static_cast<unsigned long long>(*e.host_offset),
             file.c_str());
    }
  }
  return 0;
}

}  // namespace emu::tools
