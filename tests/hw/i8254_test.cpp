#include "hw/timer/i8254.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::EdgeCounter;
using test::IsaBus;

class PitTest : public ::testing::Test {
 protected:
  PitTest() : edges(&irq0), pit(bus.root.get(), &bus.clock, &irq0) {}
  static int64_t Tick(int64_t t) { return I8254::TickToNs(t); }
  void Program(int ch, uint8_t mode_bits, uint16_t count) {
    bus.Out(0x43, uint8_t(ch << 6 | 0x30 | mode_bits));
    bus.Out(uint16_t(0x40 + ch), uint8_t(count));
    bus.Out(uint16_t(0x40 + ch), uint8_t(count >> 8));
  }
  uint16_t ReadCount(int ch) {
    uint8_t lo = bus.In(uint16_t(0x40 + ch));
    return uint16_t(lo | bus.In(uint16_t(0x40 + ch)) << 8);
  }

  IsaBus bus;
  IrqLine irq0;
  EdgeCounter edges;
  I8254 pit;
};

TEST_F(PitTest, TickConversionRoundTrips) {
  for (int64_t t : {0LL, 1LL, 1193181LL, 1193182LL, 123456789LL}) {
    EXPECT_EQ(I8254::NsToTick(I8254::TickToNs(t)), t);
    EXPECT_EQ(I8254::NsToTick(I8254::TickToNs(t) - 1), t - 1 < 0 ? 0 : t - 1);
  }
  EXPECT_EQ(I8254::NsToTick(kNsPerSec), I8254::kFreqHz);
}

TEST_F(PitTest, Mode2CountZeroGives18Hz) {
  Program(0, 0x04, 0);  // mode 2, count 65536
  bus.RunTo(kNsPerSec);
  EXPECT_EQ(edges.edges, 18);  // 1193182 / 65536 = 18.2
}

TEST_F(PitTest, Mode3Count1193Gives1000Hz) {
  Program(0, 0x06, 1193);  // mode 3 (square wave)
  bus.RunTo(kNsPerSec);
  EXPECT_EQ(edges.edges, 1000);
}

TEST_F(PitTest, Mode2Count1193Gives1000Hz) {
  Program(0, 0x04, 1193);
  bus.RunTo(kNsPerSec);
  EXPECT_EQ(edges.edges, 1000);
}

TEST_F(PitTest, Mode0OneShot) {
  Program(0, 0x00, 1000);
  EXPECT_FALSE(irq0.level());
  // OUT goes high N+1 clocks after the count is written.
  bus.RunTo(Tick(1000), 1000);
  EXPECT_FALSE(irq0.level());
  bus.RunTo(Tick(1001), 1000);
  EXPECT_TRUE(irq0.level());
  bus.RunTo(kNsPerSec / 10);
  EXPECT_TRUE(irq0.level());
  EXPECT_EQ(edges.edges, 1);
  // Writing the first byte of a new count drops OUT.
  bus.Out(0x40, 0x10);
  EXPECT_FALSE(irq0.level());
  bus.Out(0x40, 0x00);
  bus.Advance(Tick(20));
  EXPECT_TRUE(irq0.level());
  EXPECT_EQ(edges.edges, 2);
}

TEST_F(PitTest, Mode4SoftwareStrobeAsLinuxOneShot) {
  Program(0, 0x08, 100);  // mode 4, as Linux's i8253 clockevent in one-shot mode
  bus.RunTo(Tick(100), 100);
  EXPECT_EQ(edges.edges, 0);
  bus.RunTo(Tick(102), 100);
  EXPECT_EQ(edges.edges, 1);
  bus.RunTo(kNsPerSec / 10);
  EXPECT_EQ(edges.edges, 1);  // one strobe per count written
  bus.Out(0x40, 50);
  bus.Out(0x40, 0);
  bus.Advance(Tick(60), 100);
  EXPECT_EQ(edges.edges, 2);
}

TEST_F(PitTest, CounterLatchHoldsTheValue) {
  Program(0, 0x04, 10000);
  bus.RunTo(Tick(1000), 1000);
  bus.Out(0x43, 0x00);  // latch channel 0
  bus.RunTo(Tick(3000), 1000);
  EXPECT_EQ(ReadCount(0), 10000 - 999);
  EXPECT_EQ(ReadCount(0), 10000 - 2999);  // latch released: live value
}

TEST_F(PitTest, ReadBackStatusAndCount) {
  Program(0, 0x04, 10000);
  // Right after the write the count is not loaded yet: NULL COUNT.
  bus.Out(0x43, 0xe2);  // read-back, status only, channel 0
  EXPECT_EQ(bus.In(0x40), 0x80 | 0x40 | 0x30 | 0x04);
  bus.RunTo(Tick(501), 1000);
  bus.Out(0x43, 0xc2);  // read-back, count and status
  bus.RunTo(Tick(900), 1000);
  EXPECT_EQ(bus.In(0x40), 0x80 | 0x30 | 0x04);
  EXPECT_EQ(ReadCount(0), 10000 - 500);
  // Status of a mode 0 counter before its terminal count: OUT low.
  Program(1, 0x00, 50);
  bus.Advance(Tick(10), 1000);
  bus.Out(0x43, 0xe4);
  EXPECT_EQ(bus.In(0x41), 0x30);
}

TEST_F(PitTest, LowOnlyAndHighOnlyAccess) {
  bus.Out(0x43, 0x14);  // channel 0, low byte only, mode 2
  bus.Out(0x40, 200);
  bus.RunTo(Tick(11), 1000);
  EXPECT_EQ(bus.In(0x40), 190);
  bus.Out(0x43, 0x24);  // high byte only
  bus.Out(0x40, 0x02);  // count 0x200
  bus.RunTo(Tick(11 + 1 + 16), 1000);
  EXPECT_EQ(bus.In(0x40), 0x01);  // 0x200 - 16 = 0x1f0
}

TEST_F(PitTest, BcdCounting) {
  Program(0, 0x05, 0x1000);  // mode 2, BCD, 1000 decimal
  bus.RunTo(Tick(101), 1000);
  EXPECT_EQ(ReadCount(0), 0x0900);
  bus.RunTo(kNsPerSec);
  EXPECT_EQ(edges.edges, 1193);
}

TEST_F(PitTest, Mode2NewCountStartsAtPeriodEnd) {
  std::vector<int64_t> at;
  irq0.Connect([&](bool level) {
    if (level) at.push_back(I8254::NsToTick(bus.clock.Now()));
  });
  Program(0, 0x04, 1000);
  bus.RunTo(Tick(500), 1000);
  bus.Out(0x40, uint8_t(2000 & 0xff));
  bus.Out(0x40, uint8_t(2000 >> 8));
  bus.RunTo(Tick(5100), 100);
  ASSERT_EQ(at.size(), 3u);
  EXPECT_EQ(at[0], 1001);
  EXPECT_EQ(at[1], 3001);
  EXPECT_EQ(at[2], 5001);
}

TEST_F(PitTest, Channel2GateAndOutViaPort61) {
  bus.Out(0x61, 0x00);  // gate low
  Program(2, 0x00, 100);
  EXPECT_EQ(bus.In(0x61) & 0x21, 0x00);
  bus.Advance(Tick(300), 1000);
  EXPECT_EQ(bus.In(0x61) & 0x20, 0x00);  // not counting while the gate is low
  bus.Out(0x43, 0x80);                   // latch channel 2
  EXPECT_EQ(ReadCount(2), 100);
  bus.Out(0x61, 0x01);  // gate high: counting resumes
  EXPECT_EQ(bus.In(0x61) & 0x01, 0x01);
  bus.Advance(Tick(50), 1000);
  EXPECT_EQ(bus.In(0x61) & 0x20, 0x00);
  bus.Advance(Tick(60), 1000);
  EXPECT_EQ(bus.In(0x61) & 0x20, 0x20);
  EXPECT_EQ(edges.edges, 0);  // channel 2 has no IRQ
  // Speaker enable bit and mode 3 tone on OUT2.
  bus.Out(0x61, 0x03);
  EXPECT_TRUE(pit.speaker_data_enabled());
  Program(2, 0x06, 1000);
  int64_t t0 = bus.clock.Now();
  int high = 0;
  for (int i = 0; i < 1000; i++) {
    bus.RunTo(t0 + Tick(i + 1) + 1, 1000);
    high += (bus.In(0x61) >> 5) & 1;
  }
  EXPECT_NEAR(high, 500, 2);
}

TEST_F(PitTest, Mode1RetriggeredByGate) {
  bus.Out(0x61, 0x00);
  Program(2, 0x02, 100);  // mode 1
  EXPECT_TRUE(pit.Out(2));
  bus.Out(0x61, 0x01);  // rising gate triggers
  bus.Advance(Tick(2), 1000);
  EXPECT_FALSE(pit.Out(2));
  bus.Advance(Tick(100), 1000);
  EXPECT_TRUE(pit.Out(2));
}

TEST_F(PitTest, RefreshBitToggles) {
  uint8_t a = bus.In(0x61) & 0x10;
  bus.Advance(15085, 15085);
  uint8_t b = bus.In(0x61) & 0x10;
  EXPECT_NE(a, b);
}

TEST_F(PitTest, SaveAndLoadKeepsTheCount) {
  Program(0, 0x04, 10000);
  bus.RunTo(Tick(1001), 1000);
  StateWriter w;
  pit.SaveState(w);
  pit.Reset();
  StateReader r(w.data());
  pit.LoadState(r);
  EXPECT_EQ(ReadCount(0), 9000);
  bus.RunTo(kNsPerSec / 100);
  EXPECT_GE(edges.edges, 1);
}

}  // namespace
}  // namespace emu::hw
