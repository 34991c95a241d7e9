#include "hw/misc/port92.h"

namespace emu::hw {

Port92::Port92(MemoryRegion* io, MachineControl* machine, std::function<void(bool)> a20)
    : Device("port92"), io_(io), machine_(machine), a20_(std::move(a20)) {
  MmioOps ops;
  ops.min_size = ops.max_size = 1;
  ops.read = [this](uint64_t, unsigned) -> uint64_t { return value_; };
  ops.write = [this](uint64_t, uint64_t v, unsigned) {
    uint8_t old = value_;
    value_ = uint8_t(v & 0x0a);
    if (((old ^ value_) & 2) && a20_) a20_(value_ & 2);
    if ((v & 1) && machine_) machine_->RequestReset();
  };
  mr_ = MemoryRegion::Mmio("port92", 1, ops);
  io_->AddSubregion(0x92, mr_.get());
}

Port92::~Port92() { io_->RemoveSubregion(mr_.get()); }

void Port92::Reset() { value_ = 0; }

}  // namespace emu::hw
