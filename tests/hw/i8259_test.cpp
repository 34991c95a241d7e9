#include "hw/intc/i8259.h"

#include <gtest/gtest.h>

#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::IsaBus;

class PicTest : public ::testing::Test {
 protected:
  PicTest() : pic(bus.root.get()) {
    pic.intr()->Connect([this](bool level) { intr = level; });
  }

  // The sequence Linux's init_8259A() (and SeaBIOS) issue, vectors 0x30/0x38.
  void InitLikeLinux(uint8_t icw4 = 0x01) {
    bus.Out(0x21, 0xff);
    bus.Out(0xa1, 0xff);
    bus.Out(0x20, 0x11);  // ICW1: edge, cascade, ICW4 needed
    bus.Out(0x21, 0x30);  // ICW2: vector base
    bus.Out(0x21, 0x04);  // ICW3: slave on IR2
    bus.Out(0x21, icw4);  // ICW4: 8086 mode
    bus.Out(0xa0, 0x11);
    bus.Out(0xa1, 0x38);
    bus.Out(0xa1, 0x02);  // slave id 2
    bus.Out(0xa1, icw4);
    bus.Out(0x21, 0x00);  // unmask all
    bus.Out(0xa1, 0x00);
  }
  uint8_t MasterIsr() {
    bus.Out(0x20, 0x0b);
    uint8_t v = bus.In(0x20);
    bus.Out(0x20, 0x0a);
    return v;
  }
  uint8_t SlaveIsr() {
    bus.Out(0xa0, 0x0b);
    uint8_t v = bus.In(0xa0);
    bus.Out(0xa0, 0x0a);
    return v;
  }
  void Eoi() { bus.Out(0x20, 0x20); }
  void SlaveEoi() { bus.Out(0xa0, 0x20); }

  IsaBus bus;
  I8259 pic;
  bool intr = false;
};

TEST_F(PicTest, InitSequenceProgramsVectorsAndMasks) {
  InitLikeLinux();
  EXPECT_EQ(pic.vector_base(0), 0x30);
  EXPECT_EQ(pic.vector_base(1), 0x38);
  bus.Out(0x21, 0xfb);
  bus.Out(0xa1, 0xff);
  EXPECT_EQ(bus.In(0x21), 0xfb);
  EXPECT_EQ(bus.In(0xa1), 0xff);
  EXPECT_FALSE(pic.InterruptPending());
  EXPECT_FALSE(intr);
}

TEST_F(PicTest, PrioritiesAndNonSpecificEoi) {
  InitLikeLinux();
  pic.input(3)->Raise();
  pic.input(1)->Raise();
  EXPECT_TRUE(intr);
  EXPECT_EQ(bus.In(0x20), 0x0a);  // IRR (default read)
  EXPECT_EQ(pic.Acknowledge(), 0x31);
  EXPECT_EQ(MasterIsr(), 0x02);
  // IRQ3 has lower priority than the in-service IRQ1.
  EXPECT_FALSE(pic.InterruptPending());
  // IRQ0 has higher priority and nests.
  pic.input(0)->Raise();
  EXPECT_TRUE(pic.InterruptPending());
  EXPECT_EQ(pic.Acknowledge(), 0x30);
  EXPECT_EQ(MasterIsr(), 0x03);
  Eoi();  // clears the highest in service: IRQ0
  EXPECT_EQ(MasterIsr(), 0x02);
  EXPECT_FALSE(pic.InterruptPending());
  Eoi();
  EXPECT_TRUE(pic.InterruptPending());
  EXPECT_EQ(pic.Acknowledge(), 0x33);
  Eoi();
  EXPECT_FALSE(pic.InterruptPending());
  EXPECT_FALSE(intr);
}

TEST_F(PicTest, CascadeThroughSlave) {
  InitLikeLinux();
  pic.input(10)->Raise();
  EXPECT_TRUE(intr);
  EXPECT_EQ(pic.Acknowledge(), 0x3a);
  EXPECT_EQ(MasterIsr(), 0x04);
  EXPECT_EQ(SlaveIsr(), 0x04);
  // A master IRQ below IR2 in priority waits; IRQ1 above it nests.
  pic.input(4)->Raise();
  EXPECT_FALSE(pic.InterruptPending());
  pic.input(1)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x31);
  Eoi();
  SlaveEoi();
  Eoi();
  EXPECT_EQ(SlaveIsr(), 0);
  EXPECT_EQ(pic.Acknowledge(), 0x34);
}

TEST_F(PicTest, SpecificEoi) {
  InitLikeLinux();
  pic.input(5)->Raise();
  pic.input(6)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x35);
  bus.Out(0x20, 0x60 | 6);  // specific EOI for a level not in service: no effect on IRQ5
  EXPECT_EQ(MasterIsr(), 0x20);
  bus.Out(0x20, 0x60 | 5);
  EXPECT_EQ(MasterIsr(), 0x00);
  EXPECT_EQ(pic.Acknowledge(), 0x36);
}

TEST_F(PicTest, MaskedEdgeIsLatchedUntilUnmasked) {
  InitLikeLinux();
  bus.Out(0x21, 0x10);
  pic.input(4)->Pulse();
  EXPECT_FALSE(pic.InterruptPending());
  EXPECT_EQ(bus.In(0x20) & 0x10, 0x10);  // visible in IRR
  bus.Out(0x21, 0x00);
  EXPECT_TRUE(pic.InterruptPending());
  EXPECT_EQ(pic.Acknowledge(), 0x34);
}

TEST_F(PicTest, EdgeVersusLevelViaElcr) {
  InitLikeLinux();
  // Edge: one request per rising edge, even if the line stays high.
  pic.input(9)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x39);
  SlaveEoi();
  Eoi();
  EXPECT_FALSE(pic.InterruptPending());
  pic.input(9)->Lower();
  // Level (ELCR bit 1 of 0x4d1 = IRQ9): requests again while the line is high.
  bus.Out(0x4d1, 0x02);
  EXPECT_EQ(bus.In(0x4d1), 0x02);
  pic.input(9)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x39);
  SlaveEoi();
  Eoi();
  EXPECT_TRUE(pic.InterruptPending());
  EXPECT_EQ(pic.Acknowledge(), 0x39);
  SlaveEoi();
  Eoi();
  pic.input(9)->Lower();
  EXPECT_FALSE(pic.InterruptPending());
  // IRQ0-2, 8 and 13 cannot be made level triggered.
  bus.Out(0x4d0, 0xff);
  bus.Out(0x4d1, 0xff);
  EXPECT_EQ(bus.In(0x4d0), 0xf8);
  EXPECT_EQ(bus.In(0x4d1), 0xde);
}

TEST_F(PicTest, SpuriousIrq7WhenTheRequestGoesAway) {
  InitLikeLinux();
  bus.Out(0x4d0, 0x20);  // IRQ5 level triggered
  pic.input(5)->Raise();
  EXPECT_TRUE(intr);
  pic.input(5)->Lower();
  EXPECT_FALSE(intr);
  EXPECT_EQ(pic.Acknowledge(), 0x37);
  EXPECT_EQ(MasterIsr(), 0x00);  // a spurious IRQ7 sets no ISR bit
}

TEST_F(PicTest, PollMode) {
  InitLikeLinux();
  bus.Out(0x21, 0xff);  // polling works with interrupts masked off at the CPU, not the PIC
  bus.Out(0x21, 0x00);
  pic.input(6)->Raise();
  bus.Out(0x20, 0x0c);  // OCW3: poll
  EXPECT_EQ(bus.In(0x20), 0x86);
  EXPECT_EQ(MasterIsr(), 0x40);  // the poll read acknowledged IRQ6
  bus.Out(0x20, 0x0c);
  EXPECT_EQ(bus.In(0x20), 0x00);  // nothing else pending
}

TEST_F(PicTest, AutoEoi) {
  InitLikeLinux(0x03);
  pic.input(3)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x33);
  EXPECT_EQ(MasterIsr(), 0x00);
  pic.input(4)->Raise();
  EXPECT_TRUE(pic.InterruptPending());
}

TEST_F(PicTest, RotateOnNonSpecificEoi) {
  InitLikeLinux();
  pic.input(1)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x31);
  bus.Out(0x20, 0xa0);  // rotate on non-specific EOI: IRQ1 becomes lowest priority
  pic.input(1)->Lower();
  pic.input(1)->Raise();
  pic.input(3)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x33);
  Eoi();
  EXPECT_EQ(pic.Acknowledge(), 0x31);
}

TEST_F(PicTest, SpecialMaskModeLetsLowerLevelsIn) {
  InitLikeLinux();
  pic.input(3)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x33);
  pic.input(5)->Raise();
  EXPECT_FALSE(pic.InterruptPending());
  bus.Out(0x21, 0x08);  // mask the in-service level
  bus.Out(0x20, 0x68);  // OCW3: set special mask mode
  EXPECT_TRUE(pic.InterruptPending());
  EXPECT_EQ(pic.Acknowledge(), 0x35);
  bus.Out(0x20, 0x48);  // leave special mask mode
}

TEST_F(PicTest, SaveAndLoadState) {
  InitLikeLinux();
  pic.input(3)->Raise();
  EXPECT_EQ(pic.Acknowledge(), 0x33);
  StateWriter w;
  pic.SaveState(w);
  pic.Reset();
  EXPECT_EQ(pic.vector_base(0), 0);
  StateReader r(w.data());
  pic.LoadState(r);
  EXPECT_EQ(pic.vector_base(0), 0x30);
  EXPECT_EQ(MasterIsr(), 0x08);
}

}  // namespace
}  // namespace emu::hw
