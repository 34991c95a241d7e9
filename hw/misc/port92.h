// System Control Port A (0x92): fast A20 gate (bit 1) and fast reset (bit 0).
#pragma once

#include <functional>
#include <memory>

#include "hw/core/device.h"

namespace emu::hw {

class Port92 : public Device {
 public:
  // `a20` is told the new gate state whenever bit 1 changes; `machine` gets the
  // reset request when bit 0 goes from 0 to 1. Either may be null.
  Port92(MemoryRegion* io, MachineControl* machine, std::function<void(bool)> a20);
  ~Port92() override;

  bool a20() const { return value_ & 2; }

  void Reset() override;
  void SaveState(StateWriter& w) const override { w.U8(value_); }
  void LoadState(StateReader& r) override { value_ = r.U8() & 0x0a; }

 private:
  MemoryRegion* io_;
  MachineControl* machine_;
  std::function<void(bool)> a20_;
  uint8_t value_ = 0;  // bit 1 A20, bit 3 CMOS lock; bit 0 reads back 0 after the reset
  std::unique_ptr<MemoryRegion> mr_;
};

}  // namespace emu::hw
