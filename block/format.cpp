// The table of image formats and header probing.
#include <algorithm>
#include <vector>

#include "block/image.h"

namespace emu::block {

const std::vector<const FormatInfo*>& AllFormats() {
  // VDI/VMDK join the table when their folders are built (see block/meson.build).
  static const std::vector<const FormatInfo*> table = {
      &Qcow2Format(),
#ifdef EMU_BLOCK_HAVE_VDI
      &VdiFormat(),
#endif
#ifdef EMU_BLOCK_HAVE_VMDK
      &VmdkFormat(),
#endif
      &RawFormat(),
  };
  return table;
}

const FormatInfo* FindFormat(const std::string& name) {
  for (const FormatInfo* f : AllFormats())
    if (f->name == name) return f;
  return nullptr;
}

const FormatInfo* ProbeFormat(File* f) {
  uint8_t hdr[4096] = {};
  size_t len = static_cast<size_t>(std::min<uint64_t>(sizeof hdr, f->Size()));
  if (!f->PRead(0, hdr, len).ok()) len = 0;
  const FormatInfo* best = &RawFormat();
  int best_score = 0;
  for (const FormatInfo* fi : AllFormats()) {
    if (!fi->probe) continue;
    int score = fi->probe(hdr, len, f->path());
    if (score > best_score) {
      best_score = score;
      best = fi;
    }
  }
  return best;
}

}  // namespace emu::block
