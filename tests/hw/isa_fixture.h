// Shared scaffolding for the ISA device tests: a 64 KiB port space, a manual
// virtual clock and a MachineControl that records requests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>

#include "hw/core/clock.h"
#include "hw/core/device.h"
#include "hw/core/memory.h"

namespace emu::hw::test {

struct RecordingMachine : MachineControl {
  void RequestExit(int status) override {
    exits++;
    exit_status = status;
  }
  void RequestReset() override { resets++; }
  int exits = 0, exit_status = -1, resets = 0;
};

// Counts rising edges of an IrqLine.
struct EdgeCounter {
  explicit EdgeCounter(IrqLine* line) {
    line->Connect([this](bool level) {
      if (level && !last) edges++;
      last = level;
    });
  }
  int edges = 0;
  bool last = false;
};

// Moves a manual clock to `ns`, running every timer at its own deadline on the
// way (exact, where IsaBus::RunTo steps).
inline void RunClockTo(Clock& clock, int64_t ns) {
  for (;;) {
    int64_t next = clock.NextDeadline();
    if (next > ns) break;
    clock.Set(std::max(next, clock.Now()));
    clock.RunExpired();
  }
  clock.Set(ns);
  clock.RunExpired();
}

struct IsaBus {
  std::unique_ptr<MemoryRegion> root = MemoryRegion::Container("io", 0x10000);
  AddressSpace io{"io", root.get()};
  Clock clock{Clock::Type::kVirtual, true};

  void Out(uint16_t port, uint8_t v) { io.WriteN(port, v, 1); }
  uint8_t In(uint16_t port) { return uint8_t(io.ReadN(port, 1)); }
  // Moves the clock to `ns` in steps of at most `step`, running timers on the way.
  void RunTo(int64_t ns, int64_t step = 100000) {
    while (clock.Now() < ns) {
      clock.Step(std::min(step, ns - clock.Now()));
      clock.RunExpired();
    }
  }
  void Advance(int64_t ns, int64_t step = 100000) { RunTo(clock.Now() + ns, step); }
};

}  // namespace emu::hw::test
