#include "block/block_range.h"

namespace emu::block {

void AppendExtent(std::vector<Extent>* out, const Extent& e) {
  if (!out->empty()) {
    Extent& b = out->back();
    const bool host_contiguous = b.host_offset.has_value() == e.host_offset.has_value() &&
                                 (!e.host_offset || *b.host_offset + b.length == *e.host_offset);
    if (b.offset + b.length == e.offset && b.data == e.data && b.zero == e.zero && b.depth == e.depth &&
        b.present == e.present && host_contiguous) {
      b.length += e.length;
      return;
    }
  }
  out->push_back(e);
}

}  // namespace emu::block
