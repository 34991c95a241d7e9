// emu-img check, commit, rebase.
#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "tools/emu-img/util.h"

namespace emu::tools {

int CmdCheck(int argc, char** argv) {
  ReportOptions args;
  std::string repair;
  bool quiet = false;
  static const option longs[] = {{"output", required_argument, nullptr, 'O'},
                                 {"repair", required_argument, nullptr, 'r'},
                                 {"force-share", no_argument, nullptr, 'U'},
                                 {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:r:qUT:", longs);
  for (int c; (c = reader.Next()) != -1;) {
    if (c == 'r') repair = optarg;
    else if (c == 'q') quiet = true;
    else if (c != 'T' && !args.Take(c)) return reader.Bad(c);
  }
  if (!CheckOutputFormat(args.output)) return 1;
  if (!repair.empty() && repair != "leaks" && repair != "all") {
    Error("Unknown option value for -r (expecting 'leaks' or 'all'): " + repair);
    return 1;
  }
  args.spec.read_only = repair.empty();
  auto d = OpenOneImage(argc, argv, &args.spec);
  if (!d) return 1;
  auto* ops = OpsOf(d.get());
  block::CheckResult r;
  block::Status s = ops ? ops->Check(!repair.empty(), repair == "all", &r)
                        : block::Status::Error(ENOTSUP, "This image format does not support checks");
  if (s.err() == ENOTSUP) {
    Error(s.message());
    return 63;
  }
  if (!s.ok()) return Fail(s, "Check failed: ");
  if (args.output == "json") {
    nlohmann::ordered_json j;
    j["image-end-offset"] = r.image_end_offset;
    if (r.compressed_clusters) j["compressed-clusters"] = r.compressed_clusters;
    j["total-clusters"] = r.total_clusters;
    j["check-errors"] = r.check_errors;
    if (r.leaks) j["leaks"] = r.leaks;
    if (r.corruptions) j["corruptions"] = r.corruptions;
    if (r.leaks_fixed) j["leaks-fixed"] = r.leaks_fixed;
    if (r.corruptions_fixed) j["corruptions-fixed"] = r.corruptions_fixed;
    j["allocated-clusters"] = r.allocated_clusters;
    j["filename"] = args.spec.path;
    j["format"] = d->format_name();
    if (r.fragmented_clusters) j["fragmented-clusters"] = r.fragmented_clusters;
    printf("%s\n", j.dump(4).c_str());
  } else if (!quiet) {
    for (const auto& m : r.messages) fprintf(stderr, "%s\n", m.c_str());
    if (r.leaks_fixed || r.corruptions_fixed) {
      printf("The following inconsistencies were found and repaired:\n\n");
      printf("    %lld leaked clusters\n    %lld corruptions\n\n", static_cast<long long>(r.leaks_fixed),
             static_cast<long long>(r.corruptions_fixed));
      printf("Double checking the fixed image now...\n");
    }
    if (!r.corruptions && !r.leaks && !r.check_errors) {
      printf("No errors were found on the image.\n");
    } else {
      if (r.corruptions)
        printf("\n%lld errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.\n",
               static_cast<long long>(r.corruptions));
      if (r.leaks)
        printf("\n%lld leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.\n",
               static_cast<long long>(r.leaks));
      if (r.check_errors)
        printf("\n%lld internal errors have occurred during the check.\n", static_cast<long long>(r.check_errors));
    }
    if (r.total_clusters) {
      auto pct = [&](uint64_t v) { return 100.0 * double(v) / double(r.total_clusters); };
      printf("%llu/%llu = %.2f%% allocated, %.2f%% fragmented, %.2f%% compressed clusters\n",
             static_cast<unsigned long long>(r.allocated_clusters),
             static_cast<unsigned long long>(r.total_clusters), pct(r.allocated_clusters),
             r.allocated_clusters ? 100.0 * double(r.fragmented_clusters) / double(r.allocated_clusters) : 0.0,
             r.allocated_clusters ? 100.0 * double(r.compressed_clusters) / double(r.allocated_clusters) : 0.0);
    }
    printf("Image end offset: %llu\n", static_cast<unsigned long long>(r.image_end_offset));
  }
  if (r.check_errors) return 1;
  if (r.corruptions) return 2;
  if (r.leaks) return 3;
  return 0;
}

int CmdCommit(int argc, char** argv) {
  OpenSpec top;
  top.read_only = false;
  top.open_backing = false;
  bool drop = false, quiet = false;
  std::string base;
  OptionReader reader(argc, argv, ":f:b:dpqt:r:");
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'f': top.format = optarg; break;
      case 'b': base = optarg; break;
      case 'd': drop = true; break;
      case 'q': quiet = true; break;
      case 'p': case 't': case 'r': break;
      default: return reader.Bad(c);
    }
  }
  auto d = OpenOneImage(argc, argv, &top);
  if (!d) return 1;
  auto* ops = OpsOf(d.get());
  block::ImageInfo info;
  if (ops) ops->GetInfo(&info);
  if (info.backing_file.empty()) {
    Error("Image '" + top.path + "' does not have a backing file");
    return 1;
  }
  if (!base.empty() && base != info.backing_file && base != info.backing_full) {
    Error("unimplemented: commit into a base other than the immediate backing file");
    return 1;
  }
  OpenSpec bs;
  bs.path = info.backing_full;
  bs.format = info.backing_format;
  bs.read_only = false;
  auto b = Open(bs);
  if (!b) return 1;
  uint64_t size = std::min(d->Size(), b->Size());
  if (d->Size() > b->Size()) {
    auto* bops = OpsOf(b.get());
    block::Status s = bops ? bops->Resize(d->Size(), false) : block::Status::Error(ENOTSUP, "resize unsupported");
    if (!s.ok()) return Fail(s, "Backing file is smaller than the image and cannot be grown: ");
    size = d->Size();
  }
  std::vector<uint8_t> buf;
  for (uint64_t off = 0; off < size;) {
    bool alloc = true;
    uint64_t n = 0;
    block::Status s = ops->AllocatedInThisLayer(off, size - off, &alloc, &n);
    if (!s.ok() || n == 0) return Fail(s, "Commit failed: ");
    if (alloc) {
      buf.resize(n);
      s = d->Read(off, buf.data(), n);
      if (s.ok()) s = b->Write(off, buf.data(), n);
      if (!s.ok()) return Fail(s, "Commit failed: ");
    }
    off += n;
  }
  block::Status s = b->Flush();
  if (s.ok() && !drop) s = ops->MakeEmpty();
  if (!s.ok()) return Fail(s, "Commit failed: ");
  if (!quiet) printf("Image committed.\n");
  return 0;
}

int CmdRebase(int argc, char** argv) {
  OpenSpec spec;
  spec.read_only = false;
  std::string backing, backing_fmt;
  bool have_b = false, unsafe = false, quiet = false;
  static const option longs[] = {{"force-share", no_argument, nullptr, 'U'}, {nullptr, 0, nullptr, 0}};
  OptionReader reader(argc, argv, ":f:b:F:upqt:T:U", longs);
  for (int c; (c = reader.Next()) != -1;) {
    switch (c) {
      case 'f': spec.format = optarg; break;
      case 'b': backing = optarg; have_b = true; break;
      case 'F': backing_fmt = optarg; break;
      case 'u': unsafe = true; break;
      case 'q': quiet = true; break;
      case 'p': case 't': case 'T': case 'U': break;
      default: return reader.Bad(c);
    }
  }
  (void)quiet;
  if (!have_b) {
    Error("Must specify backing file (-b) or use '-b \"\"' to remove it");
    return 1;
  }
  spec.open_backing = !unsafe;
  auto d = OpenOneImage(argc, argv, &spec);
  if (!d) return 1;
  auto* ops = OpsOf(d.get());
  if (!ops) {
    Error("This image format does not support backing files");
    return 1;
  }
  std::unique_ptr<BlockDriver> nb;
  if (!backing.empty()) {
    OpenSpec ns;
    ns.path = block::ResolveBackingPath(spec.path, backing);
    ns.format = backing_fmt;
    ns.force_share = true;
    nb = Open(ns);
    if (!nb) return 1;
    if (backing_fmt.empty()) backing_fmt = nb->format_name();
  }
  if (!unsafe) {
    // Copy into the image every cluster whose content would change.
    BlockDriver* old = ops->Backing();
    uint64_t size = d->Size();
    const uint64_t chunk = 64 * 1024;
    std::vector<uint8_t> a(chunk), b(chunk);
    for (uint64_t off = 0; off < size;) {
      bool alloc = true;
      uint64_t n = 0;
      block::Status s = ops->AllocatedInThisLayer(off, std::min(chunk, size - off), &alloc, &n);
      if (!s.ok() || !n) return Fail(s, "Could not rebase: ");
      if (!alloc) {
        s = old ? ReadPadded(old, off, a.data(), n) : (std::memset(a.data(), 0, n), block::Status::Ok());
        if (s.ok()) s = nb ? ReadPadded(nb.get(), off, b.data(), n) : (std::memset(b.data(), 0, n), block::Status::Ok());
        if (s.ok() && std::memcmp(a.data(), b.data(), n) != 0) s = d->Write(off, a.data(), n);
        if (!s.ok()) return Fail(s, "Could not rebase: ");
      }
      off += n;
    }
  }
  block::Status s = ops->SetBackingName(backing, backing_fmt);
  return s.ok() ? 0 : Fail(s, "Could not change the backing file to '" + backing + "': ");
}

}  // namespace emu::tools
