// The POST diagnostic port (0x80). Firmware writes progress codes there for a POST
// card on the LPC bus, and operating systems write to it as a short I/O delay
// (Linux's outb_p). On the chipsets we model a read returns the last byte written.
// Without a device the writes would be accesses to nothing (and noise under
// -d guest_errors).
#pragma once

#include <memory>

#include "hw/core/device.h"

namespace emu::hw {

class PostPort : public Device {
 public:
  static constexpr uint16_t kPort = 0x80;
  explicit PostPort(MemoryRegion* io);
  ~PostPort() override;

  uint8_t last() const { return value_; }

  void Reset() override { value_ = 0; }
  void SaveState(StateWriter& w) const override { w.U8(value_); }
  void LoadState(StateReader& r) override { value_ = r.U8(); }

 private:
  MemoryRegion* io_;
  uint8_t value_ = 0;
  std::unique_ptr<MemoryRegion> mr_;
};

}  // namespace emu::hw
