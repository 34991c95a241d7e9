#include "block/block_driver.h"

#include <algorithm>
#include <vector>

namespace emu::block {

Status BlockDriver::WriteZeroes(uint64_t off, uint64_t len) {
  std::vector<uint8_t> zeros(std::min<uint64_t>(len, 1 << 20));
  while (len > 0) {
    uint64_t n = std::min<uint64_t>(len, zeros.size());
    Status s = Write(off, zeros.data(), n);
    if (!s.ok()) return s;
    off += n;
    len -= n;
  }
  return Status::Ok();
}

Status BlockDriver::BlockStatus(uint64_t off, uint64_t len, std::vector<Extent>* out) {
  out->push_back({off, len, true, false, 0, std::nullopt});
  return Status::Ok();
}

}  // namespace emu::block
