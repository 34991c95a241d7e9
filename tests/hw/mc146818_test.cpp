#include "hw/timer/mc146818.h"

#include <gtest/gtest.h>

#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::EdgeCounter;
using test::IsaBus;

constexpr int64_t kBase = 1709251198;  // 2024-02-29 23:59:58 UTC, a Thursday
constexpr int64_t kMs = 1000000, kUs = 1000;

class RtcTest : public ::testing::Test {
 protected:
  RtcTest() : edges(&irq8), rtc(bus.root.get(), &bus.clock, &irq8, kBase) {}
  uint8_t Cmos(uint8_t i) {
    bus.Out(0x70, i);
    return bus.In(0x71);
  }
  void SetCmos(uint8_t i, uint8_t v) {
    bus.Out(0x70, i);
    bus.Out(0x71, v);
  }

  IsaBus bus;
  IrqLine irq8;
  EdgeCounter edges;
  Mc146818 rtc;
};

TEST_F(RtcTest, ReadsTimeInBcd) {
  EXPECT_EQ(Cmos(0x0b), 0x02);  // 24 h, BCD
  EXPECT_EQ(Cmos(0), 0x58);
  EXPECT_EQ(Cmos(2), 0x59);
  EXPECT_EQ(Cmos(4), 0x23);
  EXPECT_EQ(Cmos(6), 5);  // Thursday, Sunday = 1
  EXPECT_EQ(Cmos(7), 0x29);
  EXPECT_EQ(Cmos(8), 0x02);
  EXPECT_EQ(Cmos(9), 0x24);
  EXPECT_EQ(Cmos(0x32), 0x20);
  // Two seconds later it is March 1st, a Friday.
  bus.Advance(2 * kNsPerSec, 10 * kMs);
  EXPECT_EQ(Cmos(0), 0x00);
  EXPECT_EQ(Cmos(4), 0x00);
  EXPECT_EQ(Cmos(7), 0x01);
  EXPECT_EQ(Cmos(8), 0x03);
  EXPECT_EQ(Cmos(6), 6);
  EXPECT_EQ(Cmos(0x0d), 0x80);
}

TEST_F(RtcTest, ReadsTimeInBinaryAnd12Hour) {
  SetCmos(0x0b, 0x06);  // binary, 24 h
  EXPECT_EQ(Cmos(0), 58);
  EXPECT_EQ(Cmos(4), 23);
  EXPECT_EQ(Cmos(9), 24);
  SetCmos(0x0b, 0x04);  // binary, 12 h
  EXPECT_EQ(Cmos(4), 0x80 | 11);
  SetCmos(0x0b, 0x00);  // BCD, 12 h
  EXPECT_EQ(Cmos(4), 0x80 | 0x11);
  bus.Advance(2 * kNsPerSec, 10 * kMs);
  EXPECT_EQ(Cmos(4), 0x12);  // midnight is 12 AM
}

TEST_F(RtcTest, SettingTheTimeWithSetBit) {
  SetCmos(0x0b, 0x82);  // SET: updates stop, the guest writes the fields
  SetCmos(0, 0x30);
  SetCmos(2, 0x15);
  SetCmos(4, 0x10);
  SetCmos(7, 0x04);
  SetCmos(8, 0x07);
  SetCmos(9, 0x99);
  SetCmos(0x32, 0x19);
  EXPECT_EQ(Cmos(0x0a) & 0x80, 0);  // no UIP while SET
  bus.Advance(3 * kNsPerSec, 10 * kMs);
  EXPECT_EQ(Cmos(0), 0x30);  // frozen
  SetCmos(0x0b, 0x02);
  EXPECT_EQ(rtc.UnixTime(), 931083330);  // 1999-07-04 10:15:30
  bus.Advance(kNsPerSec + 10 * kMs, 10 * kMs);
  EXPECT_EQ(Cmos(0), 0x31);
  EXPECT_EQ(Cmos(9), 0x99);
  EXPECT_EQ(Cmos(0x32), 0x19);
}

TEST_F(RtcTest, UipWindowAroundEachUpdate) {
  // The base time sits exactly on a second boundary at virtual time 0.
  for (int64_t s = 1; s <= 3; s++) {
    int64_t b = s * kNsPerSec;
    bus.RunTo(b - Mc146818::kUipBeforeNs - 1, kMs);
    EXPECT_EQ(Cmos(0x0a) & 0x80, 0) << s;
    bus.RunTo(b - Mc146818::kUipBeforeNs, kUs);
    EXPECT_EQ(Cmos(0x0a) & 0x80, 0x80) << s;
    bus.RunTo(b + Mc146818::kUpdateNs - 1, kUs);
    EXPECT_EQ(Cmos(0x0a) & 0x80, 0x80) << s;
    bus.RunTo(b + Mc146818::kUpdateNs, kUs);
    EXPECT_EQ(Cmos(0x0a) & 0x80, 0) << s;
    EXPECT_EQ(Cmos(0x0a), 0x26);
  }
}

TEST_F(RtcTest, PeriodicInterruptAtProgrammedRate) {
  SetCmos(0x0a, 0x26);  // 1024 Hz
  SetCmos(0x0b, 0x42);  // PIE
  int handled = 0;
  int64_t end = kNsPerSec;
  while (bus.clock.Now() < end) {
    bus.Advance(100 * kUs, 100 * kUs);
    if (irq8.level()) {
      EXPECT_EQ(Cmos(0x0c) & 0xc0, 0xc0);
      handled++;
      EXPECT_FALSE(irq8.level());
    }
  }
  EXPECT_NEAR(handled, 1024, 1);
  EXPECT_NEAR(edges.edges, 1024, 1);
  // 2 Hz.
  SetCmos(0x0a, 0x2f);
  edges.edges = 0;
  for (int i = 0; i < 100; i++) {
    bus.Advance(10 * kMs, 10 * kMs);
    if (irq8.level()) Cmos(0x0c);
  }
  EXPECT_EQ(edges.edges, 2);
}

TEST_F(RtcTest, UpdateEndedInterrupt) {
  // The base time sits on a second boundary at virtual time 0, so the first update
  // cycle ends 1984 us later.
  SetCmos(0x0b, 0x12);  // UIE
  bus.RunTo(Mc146818::kUpdateNs - 1, kUs);
  EXPECT_FALSE(irq8.level());
  bus.RunTo(Mc146818::kUpdateNs, kUs);
  EXPECT_TRUE(irq8.level());
  EXPECT_EQ(Cmos(0x0c) & 0xb0, 0x90);  // IRQF + UF (PF follows the 1024 Hz rate too)
  EXPECT_FALSE(irq8.level());
  EXPECT_EQ(Cmos(0x0c) & 0xb0, 0x00);
  bus.RunTo(kNsPerSec + Mc146818::kUpdateNs - 1, kUs);
  EXPECT_FALSE(irq8.level());
  bus.RunTo(kNsPerSec + Mc146818::kUpdateNs, kUs);
  EXPECT_TRUE(irq8.level());
  bus.RunTo(5 * kNsPerSec, kMs);
  EXPECT_EQ(edges.edges, 2);  // later updates find the flag still set
}

TEST_F(RtcTest, AlarmFiresOnMatch) {
  SetCmos(0x01, 0x01);  // 00:00:01 on March 1st, 3 seconds after the base
  SetCmos(0x03, 0x00);
  SetCmos(0x05, 0x00);
  SetCmos(0x0b, 0x22);  // AIE
  bus.RunTo(3 * kNsPerSec, kMs);
  EXPECT_FALSE(irq8.level());
  bus.RunTo(3 * kNsPerSec + 3 * kMs, kMs);
  EXPECT_TRUE(irq8.level());
  EXPECT_EQ(Cmos(0x0c) & 0xb0, 0xb0);  // IRQF, AF and UF (UF without UIE does not interrupt)
  bus.RunTo(6 * kNsPerSec, kMs);
  EXPECT_FALSE(irq8.level());
  // "Don't care" in all three: every second.
  SetCmos(0x01, 0xc0);
  SetCmos(0x03, 0xc0);
  SetCmos(0x05, 0xc0);
  Cmos(0x0c);
  edges.edges = 0;
  for (int i = 0; i < 300; i++) {
    bus.Advance(10 * kMs, kMs);
    if (irq8.level()) Cmos(0x0c);
  }
  EXPECT_EQ(edges.edges, 3);
}

TEST_F(RtcTest, RegisterCReadClearsFlags) {
  bus.Advance(10 * kMs, kMs);
  // PF (and UF) are set even with the interrupts off, but IRQF is not.
  EXPECT_EQ(Cmos(0x0c), 0x50);
  EXPECT_EQ(Cmos(0x0c), 0x00);
  EXPECT_EQ(edges.edges, 0);
}

TEST_F(RtcTest, NmiMaskBitAndPlainCmos) {
  bus.Out(0x70, 0x80 | 0x40);
  EXPECT_TRUE(rtc.nmi_masked());
  bus.Out(0x71, 0x5a);
  bus.Out(0x70, 0x40);
  EXPECT_FALSE(rtc.nmi_masked());
  EXPECT_EQ(bus.In(0x71), 0x5a);
  EXPECT_EQ(rtc.GetByte(0x40), 0x5a);
}

TEST_F(RtcTest, MemorySizeFields) {
  rtc.SetMemorySize(32ull << 20, 0);
  EXPECT_EQ(Cmos(0x15) | Cmos(0x16) << 8, 640);
  EXPECT_EQ(Cmos(0x17) | Cmos(0x18) << 8, 31 * 1024);
  EXPECT_EQ(Cmos(0x30) | Cmos(0x31) << 8, 31 * 1024);
  EXPECT_EQ(Cmos(0x34) | Cmos(0x35) << 8, 16 * 16);
  EXPECT_EQ(Cmos(0x5b) | Cmos(0x5c) << 8 | Cmos(0x5d) << 16, 0);
  unsigned sum = 0;
  for (int i = 0x10; i <= 0x2d; i++) sum += Cmos(uint8_t(i));
  EXPECT_EQ(Cmos(0x2e) << 8 | Cmos(0x2f), int(sum));
  rtc.SetMemorySize(128ull << 20, 0);
  EXPECT_EQ(Cmos(0x17) | Cmos(0x18) << 8, 0xffff);  // at most 64 MiB fit
  EXPECT_EQ(Cmos(0x34) | Cmos(0x35) << 8, 112 * 16);
  // 3.5 GiB below 4 GiB, 2 GiB above.
  rtc.SetMemorySize(3584ull << 20, 2048ull << 20);
  EXPECT_EQ(Cmos(0x17) | Cmos(0x18) << 8, 0xffff);
  EXPECT_EQ(Cmos(0x34) | Cmos(0x35) << 8, (3584 - 16) * 16);
  EXPECT_EQ(Cmos(0x5b) | Cmos(0x5c) << 8 | Cmos(0x5d) << 16, 2048 * 16);
}

TEST_F(RtcTest, BootOrderAndEquipment) {
  rtc.SetBootOrder("dcn");
  EXPECT_EQ(Cmos(0x3d), 0x23);
  EXPECT_EQ(Cmos(0x38) >> 4, 4);
  EXPECT_THROW(rtc.SetBootOrder("cx"), ConfigError);
  rtc.SetEquipment(0x06);
  EXPECT_EQ(Cmos(0x14), 0x06);
}

TEST_F(RtcTest, DividerResetStopsTheClock) {
  bus.RunTo(kNsPerSec / 4, kMs);
  SetCmos(0x0a, 0x66);  // divider chain in reset
  Cmos(0x0c);           // flags from before the stop
  bus.Advance(5 * kNsPerSec, 10 * kMs);
  EXPECT_EQ(Cmos(0), 0x58);
  EXPECT_EQ(Cmos(0x0a), 0x66);      // never UIP
  EXPECT_EQ(Cmos(0x0c) & 0x50, 0);  // no updates, no periodic flag
  SetCmos(0x0a, 0x26);
  bus.Advance(kNsPerSec / 2 - 10 * kMs, kMs);
  EXPECT_EQ(Cmos(0), 0x58);
  bus.Advance(20 * kMs, kMs);
  EXPECT_EQ(Cmos(0), 0x59);  // first update half a second after the restart
}

TEST_F(RtcTest, SaveAndLoad) {
  rtc.SetByte(0x50, 0x77);
  StateWriter w;
  rtc.SaveState(w);
  rtc.SetByte(0x50, 0);
  StateReader r(w.data());
  rtc.LoadState(r);
  EXPECT_EQ(Cmos(0x50), 0x77);
  EXPECT_EQ(Cmos(0), 0x58);
}

}  // namespace
}  // namespace emu::hw
