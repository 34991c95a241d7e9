// Scaffolding for the LAPIC/IOAPIC tests: an ApicBus with its per-CPU window at
// 0xfee00000 in a memory space, a manual virtual clock and recorded callbacks.
#pragma once

#include <memory>
#include <vector>

#include "hw/core/clock.h"
#include "hw/core/memory.h"
#include "hw/intc/apic.h"
#include "tests/hw/isa_fixture.h"

namespace emu::hw::test {

struct ApicRig {
  explicit ApicRig(int cpus) : bus(cpus, &clock) {
    window = bus.CreateMmioRegion([this] { return cpu; });
    root->AddSubregion(Lapic::kDefaultBase, window.get(), 1);
    kicks.resize(size_t(cpus));
    inits.resize(size_t(cpus));
    nmis.resize(size_t(cpus));
    sipis.resize(size_t(cpus));
    for (int i = 0; i < cpus; i++) {
      Lapic* l = bus.lapic(i);
      l->kick = [this, i] { kicks[size_t(i)]++; };
      l->on_init = [this, i] { inits[size_t(i)]++; };
      l->on_nmi = [this, i] { nmis[size_t(i)]++; };
      l->on_sipi = [this, i](uint8_t v) { sipis[size_t(i)].push_back(v); };
    }
  }
  ~ApicRig() { root->RemoveSubregion(window.get()); }

  // 32-bit register access from vCPU `c`.
  uint32_t Rd(int c, uint32_t reg) {
    cpu = c;
    return uint32_t(mem.ReadN(Lapic::kDefaultBase + reg, 4));
  }
  void Wr(int c, uint32_t reg, uint32_t v) {
    cpu = c;
    mem.WriteN(Lapic::kDefaultBase + reg, v, 4);
  }
  void SoftwareEnable(int c) { Wr(c, Lapic::kSvr, 0x1ff); }
  // Programs CPU c's timer: divide configuration, LVT entry, then the initial
  // count (which starts it).
  void StartTimer(int c, uint32_t divide, uint32_t lvt, uint32_t initial) {
    Wr(c, Lapic::kTimerDivide, divide);
    Wr(c, Lapic::kLvtTimer, lvt);
    Wr(c, Lapic::kTimerInitial, initial);
  }
  void Ipi(int from, uint8_t dest, uint32_t icr_lo) {
    Wr(from, Lapic::kIcrHi, uint32_t(dest) << 24);
    Wr(from, Lapic::kIcrLo, icr_lo);
  }
  // Moves the virtual clock to `ns`, running timers at every deadline on the way.
  void RunTo(int64_t ns) { RunClockTo(clock, ns); }

  Clock clock{Clock::Type::kVirtual, true};
  ApicBus bus;
  std::unique_ptr<MemoryRegion> root = MemoryRegion::Container("system", 1ull << 32);
  AddressSpace mem{"memory", root.get()};
  std::unique_ptr<MemoryRegion> window;
  int cpu = 0;
  std::vector<int> kicks, inits, nmis;
  std::vector<std::vector<uint8_t>> sipis;
};

}  // namespace emu::hw::test
