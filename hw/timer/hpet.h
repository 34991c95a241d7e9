// IA-PC High Precision Event Timer (spec 1.0a) at 0xfed00000: a 64-bit main
// counter at 100 MHz (10 ns per tick, COUNTER_CLK_PERIOD = 10^7 fs) and three
// comparators, each periodic-capable and 64-bit capable (32-bit mode on
// request), edge or level interrupts, no FSB (MSI) delivery.
//
// Capabilities low dword 0x8086a201 (vendor 8086, legacy route capable, 64-bit
// counter, 3 timers, revision 1) -- the ACPI HPET table's block ID.
//
// Nothing ticks: the counter is computed from the virtual clock, and each
// comparator arms a Timer for the virtual time its match happens. A comparator
// matches when the counter (low 32 bits in 32-bit mode) equals it, so a value
// in the past fires only after the counter wraps (32-bit: ~43 s; 64-bit:
// never). Periodic comparators advance by their period after each match; matches
// missed by a late callback are coalesced into one interrupt.
//
// Routing: in legacy replacement mode (LEG_RT_CNF) timer 0 drives `legacy0`
// (ISA IRQ0 / GSI 2) and timer 1 `legacy8` (IRQ8 / GSI 8); the board then cuts
// the PIT and RTC off those lines (on_legacy_change tells it). Otherwise a timer
// drives the I/O APIC input its route field names, if Tn_INT_ROUTE_CAP allows
// it (GSI 20-23 here, which no ISA device uses).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>

#include "hw/core/device.h"

namespace emu::hw {

class Hpet : public Device {
 public:
  static constexpr int kTimers = 3;
  static constexpr uint64_t kDefaultBase = 0xfed00000;
  static constexpr int64_t kTickNs = 10;  // 100 MHz
  static constexpr uint32_t kBlockId = 0x8086a201;
  static constexpr uint32_t kRouteCap = 0x00f00000;  // GSI 20-23

  // Register offsets.
  enum Reg : uint32_t {
    kCap = 0x000,
    kConfig = 0x010,
    kStatus = 0x020,
    kCounter = 0x0f0,
    kTimer0 = 0x100,  // + 0x20 * n: config/capability, +0x08 comparator, +0x10 FSB route
  };
  // Tn config bits.
  static constexpr uint64_t kTnLevel = 1u << 1, kTnEnable = 1u << 2, kTnPeriodic = 1u << 3,
                            kTnValSet = 1u << 6, kTn32Bit = 1u << 8;

  // `ioapic_pin(gsi)` gives the I/O APIC input for a routed timer (may return
  // null). `memory_root` (null: not mapped), `clock` and the lines must
  // outlive the device.
  Hpet(MemoryRegion* memory_root, Clock* clock, std::function<IrqLine*(int gsi)> ioapic_pin,
       IrqLine* legacy0, IrqLine* legacy8, uint64_t base = kDefaultBase);
  ~Hpet() override;

  bool enabled() const { return (config_ & 1) != 0; }
  bool legacy_mode() const { return (config_ & 2) != 0; }
  // Called when LEG_RT_CNF changes, before the HPET drives the legacy lines.
  std::function<void(bool legacy)> on_legacy_change;

  uint64_t Read64(uint32_t reg);
  void Write64(uint32_t reg, uint64_t value, uint64_t write_mask = ~0ull);
  uint64_t Counter() const;
  MemoryRegion* mmio() { return mmio_.get(); }

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  struct Tn {
    uint64_t config = 0, cmp = 0, period = 0;
    IrqLine* out = nullptr;  // line currently driven (level mode)
    bool out_level = false;
  };
  uint64_t Width(int n) const;  // counter mask for timer n
  IrqLine* Route(int n) const;
  void UpdateOutput(int n);  // level lines follow status/enable/route
  void Arm(int n);
  void Fire(int n);
  void WriteTimer(int n, uint32_t reg, uint64_t value, uint64_t mask);

  MemoryRegion* root_;
  Clock* clock_;
  std::function<IrqLine*(int)> ioapic_pin_;
  IrqLine* legacy0_;
  IrqLine* legacy8_;
  std::unique_ptr<MemoryRegion> mmio_;
  uint64_t config_ = 0;
  uint64_t status_ = 0;
  uint64_t counter_base_ = 0;  // counter value at ns_base_ (or frozen value)
  int64_t ns_base_ = 0;
  std::array<Tn, kTimers> tn_;
  std::array<std::unique_ptr<Timer>, kTimers> timers_;
};

}  // namespace emu::hw
