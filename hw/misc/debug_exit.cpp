#include "hw/misc/debug_exit.h"

#include <string>

namespace emu::hw {

DebugExit::DebugExit(MemoryRegion* io, MachineControl* machine, uint16_t iobase, uint16_t iosize)
    : Device("isa-debug-exit"), io_(io), machine_(machine) {
  if (iosize != 1 && iosize != 2 && iosize != 4)
    throw ConfigError("isa-debug-exit: iosize must be 1, 2 or 4, not " + std::to_string(iosize));
  if (uint32_t(iobase) + iosize > 0x10000) throw ConfigError("isa-debug-exit: ports beyond 0xffff");
  MmioOps ops;
  ops.min_size = 1;
  ops.max_size = iosize;
  ops.read = [](uint64_t, unsigned size) -> uint64_t { return ~uint64_t(0); };
  ops.write = [this](uint64_t, uint64_t v, unsigned) {
    if (machine_) machine_->RequestExit(int((v << 1) | 1));
  };
  mr_ = MemoryRegion::Mmio("isa-debug-exit", iosize, ops);
  io_->AddSubregion(iobase, mr_.get());
}

DebugExit::~DebugExit() { io_->RemoveSubregion(mr_.get()); }

}  // namespace emu::hw
