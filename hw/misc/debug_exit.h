// isa-debug-exit: a write of value v to its ports ends emu with exit status
// (v << 1) | 1, so that a test guest can report success or failure and never be
// mistaken for a clean exit 0.
#pragma once

#include <cstdint>
#include <memory>

#include "hw/core/device.h"

namespace emu::hw {

class DebugExit : public Device {
 public:
  static constexpr uint16_t kDefaultIobase = 0x501;
  static constexpr uint16_t kDefaultIosize = 2;

  // `iosize` must be 1, 2 or 4 and the range must fit below 0x10000 (throws
  // ConfigError otherwise).
  DebugExit(MemoryRegion* io, MachineControl* machine, uint16_t iobase = kDefaultIobase,
            uint16_t iosize = kDefaultIosize);
  ~DebugExit() override;

 private:
  MemoryRegion* io_;
  MachineControl* machine_;
  std::unique_ptr<MemoryRegion> mr_;
};

}  // namespace emu::hw
