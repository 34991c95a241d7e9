// What every image fuzz target does with an opened image, whatever the format.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "block/block_driver.h"

namespace emu::block::fuzz {

// Reads and maps buf.size() bytes at the start, middle and end of the disk:
// touches the first tables and the last.
inline void ReadAndMapEnds(BlockDriver* d, std::vector<uint8_t>& buf) {
  uint64_t n = d->Size();
  for (uint64_t off : {uint64_t(0), n / 2, n > buf.size() ? n - buf.size() : 0}) {
    uint64_t len = std::min<uint64_t>(buf.size(), n - std::min(n, off));
    (void)d->Read(off, buf.data(), len);
    std::vector<Extent> ex;
    (void)d->BlockStatus(off, len, &ex);
  }
}

}  // namespace emu::block::fuzz
