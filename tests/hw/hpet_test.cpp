#include "hw/timer/hpet.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>

#include "hw/i386/pc.h"
#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::EdgeCounter;

constexpr uint64_t kBase = Hpet::kDefaultBase;
constexpr uint32_t kTimerCfg(int n) { return 0x100 + 0x20 * n; }
constexpr uint32_t kTimerCmp(int n) { return 0x108 + 0x20 * n; }

class HpetTest : public ::testing::Test {
 protected:
  HpetTest()
      : hpet(
            root.get(), &clock, [this](int gsi) { return &pins[size_t(gsi)]; }, &legacy0,
            &legacy8) {
    for (auto& p : pins) counters.emplace_back(&p);
  }
  uint64_t Rd(uint32_t reg) { return mem.ReadN(kBase + reg, 8); }
  uint32_t Rd32(uint32_t reg) { return uint32_t(mem.ReadN(kBase + reg, 4)); }
  void Wr(uint32_t reg, uint64_t v) { mem.WriteN(kBase + reg, v, 8); }
  void Wr32(uint32_t reg, uint32_t v) { mem.WriteN(kBase + reg, v, 4); }
  // Moves the clock to `ns`, running every timer at its deadline on the way.
  void RunTo(int64_t ns) { test::RunClockTo(clock, ns); }

  Clock clock{Clock::Type::kVirtual, true};
  std::unique_ptr<MemoryRegion> root = MemoryRegion::Container("system", 1ull << 32);
  AddressSpace mem{"memory", root.get()};
  std::array<IrqLine, 24> pins;
  std::deque<EdgeCounter> counters;
  IrqLine legacy0, legacy8;
  EdgeCounter legacy0_edges{&legacy0}, legacy8_edges{&legacy8};
  Hpet hpet;
};

TEST_F(HpetTest, CapabilitiesAndCounterRate) {
  EXPECT_EQ(Rd(0x000), 0x009896808086a201ull);
  EXPECT_EQ(Rd32(0x000), 0x8086a201u);
  EXPECT_EQ(Rd32(0x004), 10000000u);  // fs per tick: 100 MHz
  EXPECT_EQ(Rd(0x010), 0u);
  for (int n = 0; n < 3; n++) {
    EXPECT_EQ(Rd(kTimerCfg(n)), 0x00f0000000000030ull) << n;
    EXPECT_EQ(Rd(kTimerCmp(n)), ~0ull) << n;
  }
  // Halted counter does not move.
  RunTo(1000000);
  EXPECT_EQ(Rd(0x0f0), 0u);
  Wr(0x010, 1);
  RunTo(2000000);
  EXPECT_EQ(Rd(0x0f0), 100000u);  // 1 ms at 100 MHz
  EXPECT_EQ(Rd32(0x0f0), 100000u);
  Wr(0x010, 0);
  RunTo(3000000);
  EXPECT_EQ(Rd(0x0f0), 100000u);
  // Writes while halted; the high dword too.
  Wr32(0x0f4, 1);
  EXPECT_EQ(Rd(0x0f0), 0x1000186a0ull);
  Wr(0x0f0, 0);
  Wr(0x010, 1);
  RunTo(3000005);
  EXPECT_EQ(Rd(0x0f0), 0u);
  RunTo(3000010);
  EXPECT_EQ(Rd(0x0f0), 1u);
}

TEST_F(HpetTest, OneShotComparatorRoutedToIoapicPin) {
  Wr(kTimerCfg(2), (20u << 9) | Hpet::kTnEnable);  // edge, GSI 20
  Wr(kTimerCmp(2), 5000);                          // 50 us
  Wr(0x010, 1);
  RunTo(49999);
  EXPECT_EQ(counters[20].edges, 0);
  RunTo(50000);
  EXPECT_EQ(counters[20].edges, 1);
  RunTo(100000000);  // 64-bit: no wrap within any run
  EXPECT_EQ(counters[20].edges, 1);
  // A route outside Tn_INT_ROUTE_CAP is not driven.
  Wr(kTimerCfg(2), (5u << 9) | Hpet::kTnEnable);
  Wr(kTimerCmp(2), Rd(0x0f0) + 10);
  RunTo(100000200);
  EXPECT_EQ(counters[5].edges, 0);
  // 32-bit mode: a comparator in the past matches after the 32-bit wrap.
  Wr(kTimerCfg(2), (21u << 9) | Hpet::kTnEnable | Hpet::kTn32Bit);
  uint64_t now = Rd(0x0f0);
  Wr(kTimerCmp(2), now - 1);
  int64_t t0 = clock.Now();
  RunTo(t0 + (int64_t(0xffffffff) - 2) * 10);
  EXPECT_EQ(counters[21].edges, 0);
  RunTo(t0 + int64_t(0xffffffff) * 10);
  EXPECT_EQ(counters[21].edges, 1);
  EXPECT_EQ(Rd(kTimerCmp(2)) >> 32, 0u);
}

TEST_F(HpetTest, PeriodicInLegacyModeLikeLinux) {
  Wr(0x010, 3);  // enable, legacy replacement
  // Linux's hpet_set_periodic: VAL_SET write of the first expiry, then the period.
  uint32_t cmp = Rd32(0x0f0) + 1000;
  Wr32(kTimerCfg(0), Hpet::kTnEnable | Hpet::kTnPeriodic | Hpet::kTnValSet | Hpet::kTn32Bit);
  Wr32(kTimerCmp(0), cmp);
  Wr32(kTimerCmp(0), 1000);
  EXPECT_EQ(Rd32(kTimerCfg(0)) & Hpet::kTnValSet, 0u);  // cleared by the write
  for (int i = 1; i <= 5; i++) {
    RunTo(i * 10000 - 1);
    EXPECT_EQ(legacy0_edges.edges, i - 1) << i;
    RunTo(i * 10000);
    EXPECT_EQ(legacy0_edges.edges, i) << i;
  }
  EXPECT_EQ(counters[0].edges + counters[2].edges, 0);  // legacy, not the route field
  // Timer 1 goes to IRQ8 in legacy mode.
  Wr(kTimerCfg(1), Hpet::kTnEnable);
  Wr(kTimerCmp(1), Rd(0x0f0) + 300);
  RunTo(clock.Now() + 3000);
  EXPECT_EQ(legacy8_edges.edges, 1);
  RunTo(95000);
  EXPECT_EQ(legacy0_edges.edges, 9);
  EXPECT_EQ(Rd32(kTimerCmp(0)), cmp + 9 * 1000);
  // A late callback coalesces the missed periods; the next expiry stays on the grid.
  clock.Set(200000);
  clock.RunExpired();
  EXPECT_EQ(legacy0_edges.edges, 10);
  EXPECT_EQ(Rd32(kTimerCmp(0)), cmp + 20 * 1000);
}

TEST_F(HpetTest, LevelInterruptHeldUntilStatusCleared) {
  Wr(kTimerCfg(2), (22u << 9) | Hpet::kTnEnable | Hpet::kTnLevel);
  Wr(kTimerCmp(2), 100);
  Wr(0x010, 1);
  RunTo(1000);
  EXPECT_TRUE(pins[22].level());
  EXPECT_EQ(Rd(0x020), 4u);
  Wr(0x020, 1);  // other bits: no effect
  EXPECT_TRUE(pins[22].level());
  Wr(0x020, 4);
  EXPECT_FALSE(pins[22].level());
  EXPECT_EQ(Rd(0x020), 0u);
  // Interrupts disabled: the status still records the match, the line stays low.
  Wr(kTimerCfg(2), (22u << 9) | Hpet::kTnLevel);
  Wr(kTimerCmp(2), Rd(0x0f0) + 100);
  RunTo(clock.Now() + 2000);
  EXPECT_EQ(Rd(0x020), 4u);
  EXPECT_FALSE(pins[22].level());
  hpet.Reset();
  EXPECT_EQ(Rd(0x020), 0u);
  EXPECT_EQ(Rd(0x010), 0u);
}

TEST_F(HpetTest, SaveLoadRoundTrip) {
  Wr(kTimerCfg(2), (20u << 9) | Hpet::kTnEnable);
  Wr(kTimerCmp(2), 5000);
  Wr(0x010, 1);
  RunTo(20000);
  StateWriter w;
  hpet.SaveState(w);
  std::array<IrqLine, 24> pins2;
  EdgeCounter edges(&pins2[20]);
  IrqLine l0, l8;
  Hpet other(
      nullptr, &clock, [&](int gsi) { return &pins2[size_t(gsi)]; }, &l0, &l8);
  StateReader r(w.data());
  other.LoadState(r);
  EXPECT_EQ(other.Read64(0x0f0), hpet.Read64(0x0f0));
  EXPECT_EQ(other.Read64(kTimerCfg(2)), hpet.Read64(kTimerCfg(2)));
  RunTo(50000);
  EXPECT_EQ(edges.edges, 1);
  EXPECT_EQ(other.Read64(0x0f0), 5000u);
}

TEST(PcHpet, LegacyModeReplacesThePitOnIoapicPin2) {
  test::RecordingMachine machine;
  Clock clock(Clock::Type::kVirtual, true);
  PcOptions o;
  PcBoard board(o, &clock, &machine);
  ASSERT_NE(board.hpet(), nullptr);
  AddressSpace& mem = board.memory();
  mem.WriteN(0xfee000f0, 0x1ff, 4);
  mem.WriteN(0xfee00350, 0x10700, 4);  // LINT0 masked
  mem.WriteN(0xfec00000, 0x14, 4);     // pin 2: vector 0x30, fixed, edge
  mem.WriteN(0xfec00010, 0x30, 4);
  Lapic* bsp = board.lapic(0);
  mem.WriteN(kBase + 0x010, 3, 8);  // HPET on, legacy replacement
  board.isa_irq(0)->Raise();        // the PIT is cut off
  board.isa_irq(0)->Lower();
  EXPECT_FALSE(bsp->irr(0x30));
  mem.WriteN(kBase + kTimerCfg(0), Hpet::kTnEnable, 8);
  mem.WriteN(kBase + kTimerCmp(0), 1000, 8);
  clock.Set(10000);
  clock.RunExpired();
  EXPECT_TRUE(bsp->irr(0x30));
  EXPECT_EQ(bsp->Acknowledge(), 0x30);
  mem.WriteN(0xfee000b0, 0, 4);
  // Leaving legacy mode gives IRQ0 back to the PIT.
  mem.WriteN(kBase + 0x010, 1, 8);
  board.isa_irq(0)->Raise();
  EXPECT_TRUE(bsp->irr(0x30));
}

}  // namespace
}  // namespace emu::hw
