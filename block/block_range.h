// Walking a request over an image's blocks (clusters, grains), and building the
// allocation map out of per-block answers: what every format driver does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "block/block_driver.h"

namespace emu::block {

// The part of a request that falls into one block.
struct BlockPiece {
  uint64_t index;   // the block's number
  uint64_t in;      // byte offset inside the block
  uint64_t offset;  // byte offset in the image
  uint64_t done;    // bytes of the request before this piece (its place in the caller's buffer)
  uint64_t len;     // bytes in this piece
};

// Calls fn(const BlockPiece&) -> Status for [off, off + len) cut at multiples of
// `block_size`, in order; stops at and returns the first error.
template <typename Fn>
Status ForEachBlock(uint64_t off, uint64_t len, uint64_t block_size, Fn&& fn) {
  for (uint64_t done = 0; done < len;) {
    const uint64_t pos = off + done, in = pos % block_size;
    const BlockPiece piece{pos / block_size, in, pos, done, std::min(len - done, block_size - in)};
    if (Status s = fn(piece); !s.ok()) return s;
    done += piece.len;
  }
  return Status::Ok();
}

// Appends `e` to an allocation map, or lengthens the last extent when `e`
// continues it (adjacent, the same state, host offsets contiguous or both absent).
void AppendExtent(std::vector<Extent>* out, const Extent& e);

}  // namespace emu::block
