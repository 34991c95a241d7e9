#include "hw/intc/apic.h"

#include <gtest/gtest.h>

#include "hw/intc/i8259.h"
#include "tests/hw/apic_fixture.h"
#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::ApicRig;

ApicMessage Fixed(uint8_t vector, uint8_t dest, bool level = false) {
  ApicMessage m;
  m.vector = vector;
  m.dest = dest;
  m.level = level;
  return m;
}

TEST(LapicTest, RegisterDefaults) {
  ApicRig r(2);
  EXPECT_EQ(r.Rd(0, Lapic::kId), 0x00000000u);
  EXPECT_EQ(r.Rd(1, Lapic::kId), 0x01000000u);  // the window is per CPU
  EXPECT_EQ(r.Rd(0, Lapic::kVersionReg), 0x00050014u);
  EXPECT_EQ(r.Rd(0, Lapic::kSvr), 0xffu);
  EXPECT_EQ(r.Rd(0, Lapic::kDfr), 0xffffffffu);
  EXPECT_EQ(r.Rd(0, Lapic::kLdr), 0u);
  EXPECT_EQ(r.Rd(0, Lapic::kTpr), 0u);
  EXPECT_EQ(r.Rd(0, Lapic::kPpr), 0u);
  EXPECT_EQ(r.Rd(0, Lapic::kLvtTimer), 0x10000u);
  EXPECT_EQ(r.Rd(0, Lapic::kLvtLint0), 0x700u);  // BSP: virtual wire
  EXPECT_EQ(r.Rd(1, Lapic::kLvtLint0), 0x10000u);
  EXPECT_EQ(r.Rd(0, Lapic::kLvtLint1), 0x10000u);
  EXPECT_EQ(r.Rd(0, Lapic::kLvtError), 0x10000u);
  EXPECT_EQ(r.Rd(0, Lapic::kTimerDivide), 0u);
  EXPECT_EQ(r.bus.lapic(0)->apic_base(), 0xfee00900u);
  EXPECT_EQ(r.bus.lapic(1)->apic_base(), 0xfee00800u);
  // Only aligned dword accesses are decoded.
  r.cpu = 1;
  EXPECT_EQ(r.mem.ReadN(Lapic::kDefaultBase + Lapic::kId + 3, 1), 0u);
  // Software-enabling keeps the spurious vector; DFR's reserved bits read 1.
  r.Wr(0, Lapic::kSvr, 0x1ef);
  EXPECT_EQ(r.Rd(0, Lapic::kSvr), 0x1efu);
  r.Wr(0, Lapic::kDfr, 0);
  EXPECT_EQ(r.Rd(0, Lapic::kDfr), 0x0fffffffu);
}

TEST(LapicTest, TprMasksByPriorityClass) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  r.SoftwareEnable(0);
  r.Wr(0, Lapic::kTpr, 0x50);
  EXPECT_EQ(r.bus.Deliver(Fixed(0x45, 0)), 1);
  EXPECT_TRUE(l->irr(0x45));
  EXPECT_FALSE(l->InterruptPending());
  EXPECT_FALSE(l->MaybePending());
  EXPECT_EQ(r.Rd(0, Lapic::kPpr), 0x50u);
  l->SetTpr(0x40);  // same class as the vector: still held
  EXPECT_FALSE(l->InterruptPending());
  int kicks = r.kicks[0];
  l->SetTpr(0x3f);
  EXPECT_TRUE(l->InterruptPending());
  EXPECT_TRUE(l->MaybePending());
  EXPECT_GT(r.kicks[0], kicks);
  EXPECT_EQ(l->tpr(), 0x3f);
  EXPECT_EQ(r.Rd(0, Lapic::kTpr), 0x3fu);
}

TEST(LapicTest, AcknowledgeAndNestedEoiOrder) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  r.SoftwareEnable(0);
  r.bus.Deliver(Fixed(0x45, 0));
  ASSERT_TRUE(l->InterruptPending());
  EXPECT_EQ(l->Acknowledge(), 0x45);
  EXPECT_FALSE(l->irr(0x45));
  EXPECT_TRUE(l->isr(0x45));
  EXPECT_EQ(r.Rd(0, Lapic::kPpr), 0x40u);
  EXPECT_EQ(r.Rd(0, Lapic::kIsr + 0x20), 1u << 5);  // vector 0x45 = word 2, bit 5
  // A lower class waits; a higher one nests.
  r.bus.Deliver(Fixed(0x35, 0));
  EXPECT_FALSE(l->InterruptPending());
  r.bus.Deliver(Fixed(0x61, 0));
  ASSERT_TRUE(l->InterruptPending());
  EXPECT_EQ(l->Acknowledge(), 0x61);
  EXPECT_EQ(r.Rd(0, Lapic::kPpr), 0x60u);
  // EOI ends the highest in service first.
  r.Wr(0, Lapic::kEoi, 0);
  EXPECT_FALSE(l->isr(0x61));
  EXPECT_TRUE(l->isr(0x45));
  EXPECT_FALSE(l->InterruptPending());
  r.Wr(0, Lapic::kEoi, 0);
  EXPECT_FALSE(l->isr(0x45));
  ASSERT_TRUE(l->InterruptPending());
  EXPECT_EQ(l->Acknowledge(), 0x35);
  r.Wr(0, Lapic::kEoi, 0);
  EXPECT_EQ(l->Acknowledge(), -1);
}

TEST(LapicTest, LevelEoiIsBroadcastEdgeIsNot) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  std::vector<int> eois;
  r.bus.SetEoiListener([&](uint8_t v) { eois.push_back(v); });
  r.SoftwareEnable(0);
  r.bus.Deliver(Fixed(0x50, 0, true));
  EXPECT_TRUE(l->tmr(0x50));
  EXPECT_EQ(l->Acknowledge(), 0x50);
  r.Wr(0, Lapic::kEoi, 0);
  ASSERT_EQ(eois.size(), 1u);
  EXPECT_EQ(eois[0], 0x50);
  r.bus.Deliver(Fixed(0x50, 0, false));
  EXPECT_FALSE(l->tmr(0x50));
  EXPECT_EQ(l->Acknowledge(), 0x50);
  r.Wr(0, Lapic::kEoi, 0);
  EXPECT_EQ(eois.size(), 1u);
}

TEST(LapicTest, OneShotTimerForEveryDivide) {
  const uint32_t codes[] = {0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa, 0xb};
  const int64_t divides[] = {2, 4, 8, 16, 32, 64, 128, 1};
  for (int i = 0; i < 8; i++) {
    SCOPED_TRACE(i);
    ApicRig r(1);
    Lapic* l = r.bus.lapic(0);
    r.SoftwareEnable(0);
    r.StartTimer(0, codes[i], 0x31, 1000);  // one-shot, vector 0x31
    EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 1000u);
    r.RunTo(500 * divides[i]);
    EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 500u);
    r.RunTo(1000 * divides[i] - 1);
    EXPECT_FALSE(l->irr(0x31));
    EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 1u);
    r.RunTo(1000 * divides[i]);
    EXPECT_TRUE(l->irr(0x31));
    EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 0u);
    EXPECT_EQ(l->Acknowledge(), 0x31);
    r.Wr(0, Lapic::kEoi, 0);
    r.RunTo(3000 * divides[i]);  // one-shot: no second interrupt
    EXPECT_FALSE(l->irr(0x31));
    EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 0u);
  }
}

TEST(LapicTest, PeriodicTimer) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  r.SoftwareEnable(0);
  r.StartTimer(0, 0x3, 0x20000 | 0xec, 625);  // divide by 16; periodic, vector 0xec; 10 us per period
  int fired = 0;
  for (int64_t t = 10000; t <= 50000; t += 10000) {
    r.RunTo(t - 1);
    EXPECT_FALSE(l->irr(0xec)) << t;
    r.RunTo(t);
    ASSERT_TRUE(l->irr(0xec)) << t;
    EXPECT_EQ(l->Acknowledge(), 0xec);
    r.Wr(0, Lapic::kEoi, 0);
    fired++;
  }
  EXPECT_EQ(fired, 5);
  r.RunTo(55000);
  EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 625u - 5000u / 16);
  // Writing 0 stops it.
  r.Wr(0, Lapic::kTimerInitial, 0);
  r.RunTo(200000);
  EXPECT_FALSE(l->irr(0xec));
  EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 0u);
}

TEST(LapicTest, MaskedTimerCountsWithoutInterrupt) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  r.SoftwareEnable(0);
  r.StartTimer(0, 0xb, 0x10000 | 0x20000 | 0x40, 100);  // divide by 1
  r.RunTo(250);
  EXPECT_FALSE(l->irr(0x40));
  EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 50u);
  // Unmasked, the next period end interrupts.
  r.Wr(0, Lapic::kLvtTimer, 0x20000 | 0x40);
  r.RunTo(299);
  EXPECT_FALSE(l->irr(0x40));
  r.RunTo(300);
  EXPECT_TRUE(l->irr(0x40));
}

TEST(LapicTest, SoftwareDisabledAndSpuriousVector) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  // Power-on: software-disabled, fixed messages are discarded.
  EXPECT_EQ(r.bus.Deliver(Fixed(0x40, 0)), 0);
  EXPECT_FALSE(l->InterruptPending());
  EXPECT_EQ(l->Acknowledge(), -1);
  r.Wr(0, Lapic::kSvr, 0x1cf);  // enabled, spurious vector 0xcf
  r.Wr(0, Lapic::kLvtTimer, 0x30);
  EXPECT_EQ(r.Rd(0, Lapic::kLvtTimer), 0x30u);
  r.bus.Deliver(Fixed(0x40, 0));
  ASSERT_TRUE(l->InterruptPending());
  // The TPR rose between the CPU's check and its INTA: the spurious vector, and
  // nothing goes in service.
  l->SetTpr(0x40);
  EXPECT_EQ(l->Acknowledge(), 0xcf);
  EXPECT_FALSE(l->isr(0x40));
  EXPECT_TRUE(l->irr(0x40));
  // Disabling masks every LVT and keeps them masked.
  r.Wr(0, Lapic::kSvr, 0x0cf);
  EXPECT_EQ(r.Rd(0, Lapic::kLvtTimer), 0x10030u);
  r.Wr(0, Lapic::kLvtTimer, 0x31);
  EXPECT_EQ(r.Rd(0, Lapic::kLvtTimer), 0x10031u);
  // Held IRR content is still delivered.
  l->SetTpr(0);
  EXPECT_EQ(l->Acknowledge(), 0x40);
}

TEST(LapicTest, ExtIntThroughLint0WithRealPic) {
  test::IsaBus isa;
  I8259 pic(isa.root.get());
  ApicRig r(2);
  r.bus.SetExtIntAck([&] { return pic.Acknowledge(); });
  pic.intr()->Connect([&](bool level) { r.bus.SetExtIntLevel(level); });
  const uint8_t init[] = {0x11, 0x30, 0x04, 0x01};
  isa.Out(0x20, init[0]);
  for (int i = 1; i < 4; i++) isa.Out(0x21, init[i]);
  isa.Out(0xa0, 0x11);
  isa.Out(0xa1, 0x38);
  isa.Out(0xa1, 0x02);
  isa.Out(0xa1, 0x01);
  isa.Out(0x21, 0x00);
  isa.Out(0xa1, 0x00);
  Lapic* bsp = r.bus.lapic(0);
  Lapic* ap = r.bus.lapic(1);
  // Power-on virtual wire: the BSP sees the PIC, the AP's LINT0 is masked.
  pic.input(1)->Raise();
  EXPECT_TRUE(bsp->InterruptPending());
  EXPECT_FALSE(ap->InterruptPending());
  EXPECT_EQ(bsp->Acknowledge(), 0x31);
  EXPECT_FALSE(bsp->InterruptPending());
  isa.Out(0x20, 0x20);
  // ExtINT ignores the TPR.
  r.SoftwareEnable(0);
  r.Wr(0, Lapic::kLvtLint0, 0x700);
  bsp->SetTpr(0xf0);
  pic.input(8)->Raise();
  EXPECT_TRUE(bsp->InterruptPending());
  EXPECT_EQ(bsp->Acknowledge(), 0x38);
  isa.Out(0xa0, 0x20);
  isa.Out(0x20, 0x20);
  // Masked LINT0: nothing.
  r.Wr(0, Lapic::kLvtLint0, 0x10700);
  pic.input(3)->Raise();
  EXPECT_FALSE(bsp->InterruptPending());
  // A hardware-disabled LAPIC passes INTR straight through.
  ap->SetApicBase(0xfee00000);
  EXPECT_FALSE(ap->hw_enabled());
  EXPECT_TRUE(ap->InterruptPending());
  EXPECT_EQ(ap->Acknowledge(), 0x33);
  EXPECT_EQ(r.Rd(1, Lapic::kId), 0u);  // its window is not decoded
  ap->SetApicBase(0xfee00800);
  EXPECT_EQ(r.Rd(1, Lapic::kId), 0x01000000u);
  EXPECT_EQ(r.Rd(1, Lapic::kLvtLint0), 0x10000u);
}

TEST(LapicTest, Lint1Nmi) {
  ApicRig r(1);
  r.SoftwareEnable(0);
  r.Wr(0, Lapic::kLvtLint1, 0x400);
  r.bus.lapic(0)->SetLint1(true);
  r.bus.lapic(0)->SetLint1(false);
  EXPECT_EQ(r.nmis[0], 1);
  r.Wr(0, Lapic::kLvtLint1, 0x10400);
  r.bus.lapic(0)->SetLint1(true);
  EXPECT_EQ(r.nmis[0], 1);
}

TEST(LapicTest, FixedIpiPhysicalAndLogical) {
  ApicRig r(3);
  for (int i = 0; i < 3; i++) r.SoftwareEnable(i);
  // Physical destination 1.
  int kicks = r.kicks[1];
  r.Ipi(0, 1, 0x4041);
  EXPECT_TRUE(r.bus.lapic(1)->irr(0x41));
  EXPECT_FALSE(r.bus.lapic(0)->irr(0x41));
  EXPECT_FALSE(r.bus.lapic(2)->irr(0x41));
  EXPECT_GT(r.kicks[1], kicks);
  EXPECT_EQ(r.Rd(0, Lapic::kIcrLo) & 0x1000, 0u);  // delivery status idle
  EXPECT_EQ(r.Rd(0, Lapic::kIcrHi), 0x01000000u);
  // Logical flat: LDR bit per CPU.
  for (int i = 0; i < 3; i++) r.Wr(i, Lapic::kLdr, (1u << i) << 24);
  r.Ipi(0, 0x06, 0x4842);
  EXPECT_FALSE(r.bus.lapic(0)->irr(0x42));
  EXPECT_TRUE(r.bus.lapic(1)->irr(0x42));
  EXPECT_TRUE(r.bus.lapic(2)->irr(0x42));
  // Logical cluster: cluster 1 member bit 2 is CPU 2.
  for (int i = 0; i < 3; i++) r.Wr(i, Lapic::kDfr, 0x0fffffff);
  r.Wr(1, Lapic::kLdr, 0x11000000);
  r.Wr(2, Lapic::kLdr, 0x12000000);
  r.Wr(0, Lapic::kLdr, 0x21000000);
  r.Ipi(0, 0x12, 0x4843);
  EXPECT_FALSE(r.bus.lapic(0)->irr(0x43));
  EXPECT_FALSE(r.bus.lapic(1)->irr(0x43));
  EXPECT_TRUE(r.bus.lapic(2)->irr(0x43));
  // Broadcast 0xff in physical mode.
  r.Ipi(1, 0xff, 0x4044);
  for (int i = 0; i < 3; i++) EXPECT_TRUE(r.bus.lapic(i)->irr(0x44)) << i;
}

TEST(LapicTest, ShorthandsAndLowestPriority) {
  ApicRig r(3);
  for (int i = 0; i < 3; i++) r.SoftwareEnable(i);
  r.Ipi(1, 0, 0x44051);  // self
  EXPECT_TRUE(r.bus.lapic(1)->irr(0x51));
  EXPECT_FALSE(r.bus.lapic(0)->irr(0x51));
  r.Ipi(1, 0, 0xc4052);  // all excluding self
  EXPECT_TRUE(r.bus.lapic(0)->irr(0x52));
  EXPECT_FALSE(r.bus.lapic(1)->irr(0x52));
  EXPECT_TRUE(r.bus.lapic(2)->irr(0x52));
  r.Ipi(1, 0, 0x84053);  // all including self
  for (int i = 0; i < 3; i++) EXPECT_TRUE(r.bus.lapic(i)->irr(0x53)) << i;
  // Lowest priority goes to the target with the lowest priority.
  for (int i = 0; i < 3; i++) r.Wr(i, Lapic::kLdr, (1u << i) << 24);
  r.bus.lapic(0)->SetTpr(0x20);
  r.bus.lapic(1)->SetTpr(0x30);
  r.bus.lapic(2)->SetTpr(0x10);
  r.Ipi(0, 0x03, 0x4954);  // logical CPUs 0 and 1, lowest priority
  EXPECT_TRUE(r.bus.lapic(0)->irr(0x54));
  EXPECT_FALSE(r.bus.lapic(1)->irr(0x54));
  EXPECT_FALSE(r.bus.lapic(2)->irr(0x54));
}

TEST(LapicTest, InitSipiNmiAndErrors) {
  ApicRig r(2);
  r.SoftwareEnable(0);
  r.SoftwareEnable(1);
  r.Wr(1, Lapic::kTpr, 0x20);
  r.Ipi(0, 1, 0xc500);  // INIT, level, assert
  EXPECT_EQ(r.inits[1], 1);
  EXPECT_EQ(r.inits[0], 0);
  EXPECT_EQ(r.Rd(1, Lapic::kTpr), 0u);  // INIT reset the LAPIC
  EXPECT_EQ(r.Rd(1, Lapic::kSvr), 0xffu);
  EXPECT_EQ(r.Rd(1, Lapic::kId), 0x01000000u);  // but not its ID
  r.Ipi(0, 1, 0x8500);                          // INIT level de-assert: ignored
  EXPECT_EQ(r.inits[1], 1);
  r.Ipi(0, 1, 0x4608);  // start-up at 0x8000
  r.Ipi(0, 1, 0x4609);  // the CPU decides whether a second one matters
  ASSERT_EQ(r.sipis[1].size(), 2u);
  EXPECT_EQ(r.sipis[1][0], 0x08);
  EXPECT_EQ(r.sipis[1][1], 0x09);
  EXPECT_TRUE(r.sipis[0].empty());
  r.Ipi(0, 1, 0x4400);  // NMI
  EXPECT_EQ(r.nmis[1], 1);
  // Illegal vector: send error latched into ESR by the next ESR write.
  r.Wr(0, Lapic::kLvtError, 0xfe);
  r.Ipi(0, 1, 0x4005);
  EXPECT_EQ(r.Rd(0, Lapic::kEsr), 0u);
  r.Wr(0, Lapic::kEsr, 0);
  EXPECT_EQ(r.Rd(0, Lapic::kEsr), 0x20u);
  EXPECT_TRUE(r.bus.lapic(0)->irr(0xfe));  // the error LVT fired
  r.Wr(0, Lapic::kEsr, 0);
  EXPECT_EQ(r.Rd(0, Lapic::kEsr), 0u);
  // Board reset: power-on state again.
  r.SoftwareEnable(1);
  r.bus.Reset();
  EXPECT_EQ(r.Rd(1, Lapic::kSvr), 0xffu);
}

TEST(LapicTest, ApicBaseMsr) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  r.SoftwareEnable(0);
  r.bus.Deliver(Fixed(0x70, 0));
  l->SetApicBase(0xfee00000);  // disable (BSP bit is read-only)
  EXPECT_EQ(l->apic_base(), 0xfee00100u);
  EXPECT_FALSE(l->irr(0x70));                   // state lost
  EXPECT_EQ(r.bus.Deliver(Fixed(0x70, 0)), 0);  // off the bus
  l->SetApicBase(0xfee00800);
  EXPECT_EQ(l->apic_base(), 0xfee00900u);
  EXPECT_EQ(r.Rd(0, Lapic::kSvr), 0xffu);
}

TEST(LapicTest, TscDeadlineMode) {
  ApicRig r(1);
  Lapic* l = r.bus.lapic(0);
  r.SoftwareEnable(0);
  l->SetTscDeadlineNs(5000);  // not in TSC-deadline mode: ignored
  EXPECT_EQ(l->tsc_deadline_ns(), 0);
  r.Wr(0, Lapic::kLvtTimer, 0x40000 | 0x41);
  l->SetTscDeadlineNs(5000);
  EXPECT_EQ(l->tsc_deadline_ns(), 5000);
  r.Wr(0, Lapic::kTimerInitial, 100);  // ignored in this mode
  EXPECT_EQ(r.Rd(0, Lapic::kTimerInitial), 0u);
  EXPECT_EQ(r.Rd(0, Lapic::kTimerCurrent), 0u);
  r.RunTo(4999);
  EXPECT_FALSE(l->irr(0x41));
  r.RunTo(5000);
  EXPECT_TRUE(l->irr(0x41));
  EXPECT_EQ(l->tsc_deadline_ns(), 0);
  EXPECT_EQ(l->Acknowledge(), 0x41);
  r.Wr(0, Lapic::kEoi, 0);
  l->SetTscDeadlineNs(100);  // in the past: at once
  EXPECT_TRUE(l->irr(0x41));
  EXPECT_EQ(l->Acknowledge(), 0x41);
  r.Wr(0, Lapic::kEoi, 0);
  l->SetTscDeadlineNs(8000);
  l->SetTscDeadlineNs(0);  // disarm
  r.RunTo(9000);
  EXPECT_FALSE(l->irr(0x41));
  // Leaving the mode disarms.
  l->SetTscDeadlineNs(12000);
  r.Wr(0, Lapic::kLvtTimer, 0x41);
  EXPECT_EQ(l->tsc_deadline_ns(), 0);
  r.RunTo(20000);
  EXPECT_FALSE(l->irr(0x41));
}

TEST(LapicTest, SaveLoadRoundTrip) {
  ApicRig a(1);
  Lapic* la = a.bus.lapic(0);
  a.SoftwareEnable(0);
  a.Wr(0, Lapic::kLdr, 0x04000000);
  a.bus.Deliver(Fixed(0x61, 0));
  EXPECT_EQ(la->Acknowledge(), 0x61);
  a.bus.Deliver(Fixed(0x52, 0, true));
  a.StartTimer(0, 0xb, 0x20000 | 0x70, 1000);
  a.RunTo(2500);
  StateWriter w;
  la->SaveState(w);
  ApicRig b(1);
  b.clock.Set(2500);
  StateReader rd(w.data());
  Lapic* lb = b.bus.lapic(0);
  lb->LoadState(rd);
  for (uint32_t reg :
       {0x20u, 0x80u, 0xa0u, 0xd0u, 0xe0u, 0xf0u, 0x320u, 0x350u, 0x380u, 0x390u, 0x3e0u})
    EXPECT_EQ(b.Rd(0, reg), a.Rd(0, reg)) << std::hex << reg;
  EXPECT_TRUE(lb->isr(0x61));
  EXPECT_TRUE(lb->irr(0x52));
  EXPECT_TRUE(lb->tmr(0x52));
  EXPECT_EQ(b.Rd(0, Lapic::kTimerCurrent), 500u);
  b.RunTo(3000);  // the restored periodic timer keeps its grid
  EXPECT_TRUE(lb->irr(0x70));
}

}  // namespace
}  // namespace emu::hw
