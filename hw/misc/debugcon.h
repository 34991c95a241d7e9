// isa-debugcon: a one-port console (Bochs' port 0xe9 hack; SeaBIOS logs to 0x402).
// Bytes written go to the CharDev; reads return 0xe9 so that software can detect
// the port.
#pragma once

#include <cstdint>
#include <memory>

#include "hw/core/chardev.h"
#include "hw/core/device.h"

namespace emu::hw {

class DebugCon : public Device {
 public:
  static constexpr uint16_t kDefaultIobase = 0xe9;
  static constexpr uint8_t kReadback = 0xe9;

  // `chr` may be null (output dropped); it must outlive the device.
  DebugCon(MemoryRegion* io, CharDev* chr, uint16_t iobase = kDefaultIobase);
  ~DebugCon() override;

 private:
  MemoryRegion* io_;
  CharDev* chr_;
  std::unique_ptr<MemoryRegion> mr_;
};

}  // namespace emu::hw
