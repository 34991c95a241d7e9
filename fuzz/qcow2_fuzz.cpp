// libFuzzer target: qcow2 header, extensions, L1/L2/refcount tables, snapshot
// table and compressed clusters on an in-memory image: open, read, map, check,
// write, check again. Backing files are never opened.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "block/file.h"
#include "block/image.h"
#include "fuzz/fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace emu::block;
  OpenOptions o;
  o.lock = false;
  o.open_backing = false;
  o.format = "qcow2";
  auto r = OpenImageFile(NewMemFile(std::vector<uint8_t>(data, data + size), "fuzz.qcow2"), o);
  if (!r.ok()) return 0;
  BlockDriver* d = r.value.get();
  auto* ops = dynamic_cast<ImageOps*>(d);
  uint64_t n = d->Size();
  std::vector<uint8_t> buf(256 * 1024);
  fuzz::ReadAndMapEnds(d, buf);
  CheckResult cr;
  if (ops) {
    (void)ops->Check(false, false, &cr);
    std::vector<SnapshotInfo> snaps;
    (void)ops->ListSnapshots(&snaps);
    ImageInfo info;
    ops->GetInfo(&info);
  }
  if (n >= 4096) {
    std::fill(buf.begin(), buf.begin() + 4096, 0x5a);
    (void)d->Write(n / 3 / 512 * 512, buf.data(), 4096);
    (void)d->Flush();
    (void)d->Read(n / 3 / 512 * 512, buf.data(), 4096);
    if (ops) (void)ops->Check(true, true, &cr);
  }
  return 0;
}
