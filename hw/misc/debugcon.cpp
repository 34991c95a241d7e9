#include "hw/misc/debugcon.h"

namespace emu::hw {

DebugCon::DebugCon(MemoryRegion* io, CharDev* chr, uint16_t iobase)
    : Device("isa-debugcon"), io_(io), chr_(chr) {
  MmioOps ops;
  ops.min_size = ops.max_size = 1;  // wider writes arrive as bytes, low byte first
  ops.read = [](uint64_t, unsigned) -> uint64_t { return kReadback; };
  ops.write = [this](uint64_t, uint64_t v, unsigned) {
    uint8_t b = uint8_t(v);
    if (chr_) chr_->Write(&b, 1);
  };
  mr_ = MemoryRegion::Mmio("isa-debugcon", 1, ops);
  io_->AddSubregion(iobase, mr_.get());
}

DebugCon::~DebugCon() { io_->RemoveSubregion(mr_.get()); }

}  // namespace emu::hw
