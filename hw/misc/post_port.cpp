#include "hw/misc/post_port.h"

namespace emu::hw {

PostPort::PostPort(MemoryRegion* io) : Device("post-port"), io_(io) {
  MmioOps ops;
  ops.min_size = ops.max_size = 1;
  ops.read = [this](uint64_t, unsigned) -> uint64_t { return value_; };
  ops.write = [this](uint64_t, uint64_t v, unsigned) { value_ = uint8_t(v); };
  mr_ = MemoryRegion::Mmio("post-port", 1, ops);
  io_->AddSubregion(kPort, mr_.get());
}

PostPort::~PostPort() { io_->RemoveSubregion(mr_.get()); }

}  // namespace emu::hw
