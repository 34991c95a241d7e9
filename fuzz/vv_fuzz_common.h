// Shared body of the VDI and VMDK fuzz targets: open an in-memory image with one
// format's driver, then read, query and write a little of it. The name of the
// memory file points nowhere, so a descriptor can never reach host files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "block/file.h"
#include "block/format.h"
#include "fuzz/fuzz_common.h"

namespace emu::block::fuzz {

inline void OpenAndExercise(const FormatInfo& fmt, const uint8_t* data, size_t size) {
  fmt.probe(data, std::min<size_t>(size, 4096), "fuzz");
  OpenOptions o;
  o.lock = false;
  auto r = fmt.open(NewMemFile(std::vector<uint8_t>(data, data + size), "/nonexistent/fuzz-image"), o);
  if (!r.ok()) return;
  BlockDriver* d = r.value.get();
  uint64_t n = d->Size();
  std::vector<uint8_t> buf(64 * 1024);
  ReadAndMapEnds(d, buf);
  if (n >= 512) {
    std::fill(buf.begin(), buf.begin() + 512, 0xa5);
    (void)d->Write(n / 3 / 512 * 512, buf.data(), 512);
    (void)d->Read(n / 3 / 512 * 512, buf.data(), 512);
    (void)d->Flush();
  }
}

}  // namespace emu::block::fuzz
