// Shared body of the VDI and VMDK fuzz targets: open an in-memory image with one
// format's driver, then read, query and write a little of it. The name of the
// memory file points nowhere, so a descriptor can never reach host files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "block/file.h"
#include "block/format.h"

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
  // Start, middle and end of the disk: touches the first tables and the last.
  for (uint64_t off : {uint64_t(0), n / 2, n > buf.size() ? n - buf.size() : 0}) {
    uint64_t len = std::min<uint64_t>(buf.size(), n - std::min(n, off));
    (void)d->Read(off, buf.data(), len);
    std::vector<Extent> ex;
    (void)d->BlockStatus(off, len, &ex);
  }
  if (n >= 512) {
    std::fill(buf.begin(), buf.begin() + 512, 0xa5);
    (void)d->Write(n / 3 / 512 * 512, buf.data(), 512);
    (void)d->Read(n / 3 / 512 * 512, buf.data(), 512);
    (void)d->Flush();
  }
}

}  // namespace emu::block::fuzz
