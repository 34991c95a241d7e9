// An interrupt line from a device to an interrupt controller input.
// The sink decides what a level means (the PIC latches edges, the IOAPIC may be
// level triggered); with KVM's in-kernel irqchip the sink issues KVM_IRQ_LINE.
#pragma once

#include <functional>

namespace emu::hw {

class IrqLine {
 public:
  using Sink = std::function<void(bool level)>;
  IrqLine() = default;
  explicit IrqLine(Sink sink) : sink_(std::move(sink)) {}

  void Connect(Sink sink) { sink_ = std::move(sink); }
  bool connected() const { return static_cast<bool>(sink_); }
  void Set(bool level) {
    level_ = level;
    if (sink_) sink_(level);
  }
  void Raise() { Set(true); }
  void Lower() { Set(false); }
  void Pulse() {
    Set(true);
    Set(false);
  }
  bool level() const { return level_; }

 private:
  Sink sink_;
  bool level_ = false;
};

}  // namespace emu::hw
