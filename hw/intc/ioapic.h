// 82093AA-style I/O APIC with 24 redirection entries (map it at 0xfec00000).
//
// Registers: IOREGSEL at +0x00 (index), IOWIN at +0x10 (data), and the EOI
// register at +0x40 that later (version 0x20) parts have. The version register
// reads 0x00170011 (24 entries, version 0x11), so guests use the LAPIC's EOI
// broadcast, but a write to +0x40 works too. Index 0 is the ID (bits 27:24),
// 1 the version, 2 the arbitration ID, 0x10+2n / 0x11+2n entry n low/high.
//
// Inputs are logical levels (true = asserted) for ISA and PCI lines alike: the
// polarity bit is kept for the guest but not applied, because the board's lines
// are not electrical. Edge entries send one message per rising edge while
// unmasked (an edge while masked is lost). Level entries send a message while the
// line is asserted, unmasked and remote IRR is clear; the LAPIC's acceptance of a
// fixed/lowest-priority message sets remote IRR, a matching EOI (broadcast or
// the EOI register) clears it and re-sends if the line is still asserted.
// Switching an entry to edge clears its remote IRR (Linux relies on this to
// clear a stuck one). Delivery is immediate, so delivery status reads 0.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "hw/core/device.h"
#include "hw/intc/apic.h"

namespace emu::hw {

class Ioapic : public Device {
 public:
  static constexpr int kPins = 24;
  static constexpr uint64_t kDefaultBase = 0xfec00000;
  static constexpr uint32_t kVersion = 0x00170011;

  // Maps its 4 KiB window at `base` in `memory_root` (null: not mapped; tests
  // may use mmio() directly). `bus` delivers the messages; both must outlive
  // the device.
  Ioapic(ApicBus* bus, MemoryRegion* memory_root, uint64_t base = kDefaultBase);
  ~Ioapic() override;

  IrqLine* input(int pin);
  // Level-triggered EOI for `vector` (the LAPIC's EOI broadcast).
  void Eoi(uint8_t vector);

  uint8_t id() const { return id_; }
  uint64_t entry(int pin) const { return redir_.at(size_t(pin)); }
  MemoryRegion* mmio() { return mmio_.get(); }

  uint32_t ReadData();
  void WriteData(uint32_t value);

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  void SetPin(int pin, bool level);
  void Service(int pin);  // sends a level entry's message if due
  bool Send(int pin);     // one message; true when some LAPIC accepted it

  ApicBus* bus_;
  MemoryRegion* root_;
  std::unique_ptr<MemoryRegion> mmio_;
  std::array<IrqLine, kPins> inputs_;
  std::array<uint64_t, kPins> redir_{};
  uint32_t levels_ = 0;  // current input levels
  uint8_t id_ = 0;
  uint8_t regsel_ = 0;
};

}  // namespace emu::hw
