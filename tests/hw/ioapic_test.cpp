#include "hw/intc/ioapic.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "hw/i386/pc.h"
#include "tests/hw/apic_fixture.h"
#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

class IoapicTest : public ::testing::Test {
 protected:
  IoapicTest() : rig(2), io(&rig.bus, rig.root.get()) {
    rig.bus.SetEoiListener([this](uint8_t v) { io.Eoi(v); });
    rig.SoftwareEnable(0);
    rig.SoftwareEnable(1);
  }
  uint32_t Reg(uint8_t index) {
    rig.mem.WriteN(Ioapic::kDefaultBase, index, 4);
    return uint32_t(rig.mem.ReadN(Ioapic::kDefaultBase + 0x10, 4));
  }
  void SetReg(uint8_t index, uint32_t v) {
    rig.mem.WriteN(Ioapic::kDefaultBase, index, 4);
    rig.mem.WriteN(Ioapic::kDefaultBase + 0x10, v, 4);
  }
  void Route(int pin, uint32_t low, uint8_t dest) {
    SetReg(uint8_t(0x11 + 2 * pin), uint32_t(dest) << 24);
    SetReg(uint8_t(0x10 + 2 * pin), low);
  }
  Lapic* L(int i) { return rig.bus.lapic(i); }
  void Eoi(int cpu) { rig.Wr(cpu, Lapic::kEoi, 0); }

  test::ApicRig rig;
  Ioapic io;
};

TEST_F(IoapicTest, IdVersionArbitrationAndDefaults) {
  EXPECT_EQ(Reg(0x00), 0u);
  EXPECT_EQ(Reg(0x01), 0x00170011u);
  SetReg(0x00, 0x0a000000);
  EXPECT_EQ(Reg(0x00), 0x0a000000u);
  EXPECT_EQ(Reg(0x02), 0x0a000000u);
  SetReg(0x01, 0);  // read-only
  EXPECT_EQ(Reg(0x01), 0x00170011u);
  for (int pin = 0; pin < 24; pin++) EXPECT_EQ(Reg(uint8_t(0x10 + 2 * pin)), 0x10000u) << pin;
  // Read-only bits (delivery status, remote IRR) ignore writes.
  SetReg(0x10, 0x1ffff);
  EXPECT_EQ(Reg(0x10), 0x1afffu);
  SetReg(0x11, 0xffffffff);
  EXPECT_EQ(Reg(0x11), 0xff000000u);
  io.Reset();
  EXPECT_EQ(Reg(0x00), 0u);
  EXPECT_EQ(Reg(0x10), 0x10000u);
}

TEST_F(IoapicTest, EdgePinReachesTheNamedLapic) {
  Route(4, 0x34, 1);  // fixed, physical, edge, unmasked
  io.input(4)->Raise();
  EXPECT_TRUE(L(1)->irr(0x34));
  EXPECT_FALSE(L(0)->irr(0x34));
  EXPECT_FALSE(L(1)->tmr(0x34));
  EXPECT_EQ(L(1)->Acknowledge(), 0x34);
  io.input(4)->Raise();  // no new edge
  EXPECT_FALSE(L(1)->irr(0x34));
  io.input(4)->Lower();
  io.input(4)->Raise();
  EXPECT_TRUE(L(1)->irr(0x34));
  // Logical destination.
  rig.Wr(0, Lapic::kLdr, 0x01000000);
  rig.Wr(1, Lapic::kLdr, 0x02000000);
  Route(5, 0x800 | 0x35, 0x01);
  io.input(5)->Raise();
  EXPECT_TRUE(L(0)->irr(0x35));
  EXPECT_FALSE(L(1)->irr(0x35));
}

TEST_F(IoapicTest, MaskedPinLosesEdges) {
  Route(3, 0x10000 | 0x33, 0);
  io.input(3)->Raise();
  EXPECT_FALSE(L(0)->irr(0x33));
  Route(3, 0x33, 0);  // unmasked while high: the edge is gone
  EXPECT_FALSE(L(0)->irr(0x33));
  io.input(3)->Lower();
  io.input(3)->Raise();
  EXPECT_TRUE(L(0)->irr(0x33));
}

TEST_F(IoapicTest, LevelPinRemoteIrrAndRedelivery) {
  Route(9, 0x8000 | 0x39, 0);  // level, active high
  io.input(9)->Raise();
  EXPECT_TRUE(L(0)->irr(0x39));
  EXPECT_TRUE(L(0)->tmr(0x39));
  EXPECT_TRUE(Reg(0x10 + 18) & 0x4000);  // remote IRR
  EXPECT_EQ(L(0)->Acknowledge(), 0x39);
  // Still asserted: nothing new until the EOI.
  io.input(9)->Raise();
  EXPECT_FALSE(L(0)->irr(0x39));
  Eoi(0);  // the broadcast clears remote IRR and the line is still high
  EXPECT_TRUE(L(0)->irr(0x39));
  EXPECT_TRUE(Reg(0x10 + 18) & 0x4000);
  EXPECT_EQ(L(0)->Acknowledge(), 0x39);
  io.input(9)->Lower();
  Eoi(0);
  EXPECT_FALSE(L(0)->irr(0x39));
  EXPECT_FALSE(Reg(0x10 + 18) & 0x4000);
  // Masked while asserted, delivered on unmask.
  Route(9, 0x18000 | 0x39, 0);
  io.input(9)->Raise();
  EXPECT_FALSE(L(0)->irr(0x39));
  Route(9, 0x8000 | 0x39, 0);
  EXPECT_TRUE(L(0)->irr(0x39));
  EXPECT_EQ(L(0)->Acknowledge(), 0x39);
  // The version 0x20 EOI register also ends it; the line was lowered meanwhile.
  io.input(9)->Lower();
  rig.mem.WriteN(Ioapic::kDefaultBase + 0x40, 0x39, 4);
  EXPECT_FALSE(Reg(0x10 + 18) & 0x4000);
  // Switching to edge clears a stuck remote IRR.
  io.input(9)->Raise();
  EXPECT_TRUE(Reg(0x10 + 18) & 0x4000);
  Route(9, 0x10000 | 0x39, 0);
  EXPECT_FALSE(Reg(0x10 + 18) & 0x4000);
}

TEST_F(IoapicTest, NmiAndExtIntModes) {
  Route(7, 0x400, 1);  // NMI to CPU 1
  io.input(7)->Raise();
  EXPECT_EQ(rig.nmis[1], 1);
  int acks = 0;
  rig.bus.SetExtIntAck([&] {
    acks++;
    return 0x20;
  });
  Route(0, 0x700, 1);  // ExtINT: the vector comes from the PIC
  io.input(0)->Raise();
  EXPECT_TRUE(L(1)->InterruptPending());
  EXPECT_EQ(L(1)->Acknowledge(), 0x20);
  EXPECT_EQ(acks, 1);
  EXPECT_FALSE(L(1)->InterruptPending());
}

TEST_F(IoapicTest, SaveLoadRoundTrip) {
  SetReg(0x00, 0x05000000);
  Route(9, 0x8000 | 0x39, 1);
  io.input(9)->Raise();
  StateWriter w;
  io.SaveState(w);
  test::ApicRig rig2(2);
  Ioapic other(&rig2.bus, nullptr);
  StateReader r(w.data());
  other.LoadState(r);
  EXPECT_EQ(other.id(), 5);
  EXPECT_EQ(other.entry(9), io.entry(9));
  EXPECT_TRUE(other.entry(9) & 0x4000);  // remote IRR travels with it
}

TEST(PcApicWiring, IsaIrqReachesIoapicAndPic) {
  test::RecordingMachine machine;
  Clock clock(Clock::Type::kVirtual, true);
  PcOptions o;
  o.cpus = 2;
  o.bios = "/usr/share/seabios/bios.bin";
  int cpu = 0;
  o.current_cpu = [&] { return cpu; };
  PcBoard board(o, &clock, &machine);
  ASSERT_NE(board.apic(), nullptr);
  ASSERT_NE(board.ioapic(), nullptr);
  ASSERT_EQ(board.apic()->num_cpus(), 2);
  AddressSpace& mem = board.memory();
  cpu = 1;
  EXPECT_EQ(mem.ReadN(0xfee00020, 4), 0x01000000u);
  cpu = 0;
  EXPECT_EQ(mem.ReadN(0xfee00020, 4), 0u);
  mem.WriteN(0xfee000f0, 0x1ff, 4);
  mem.WriteN(0xfee00350, 0x10700, 4);  // LINT0 masked: only I/O APIC messages here
  auto route = [&](int pin, uint32_t low) {
    mem.WriteN(0xfec00000, 0x11 + 2 * pin, 4);
    mem.WriteN(0xfec00010, 0, 4);
    mem.WriteN(0xfec00000, 0x10 + 2 * pin, 4);
    mem.WriteN(0xfec00010, low, 4);
  };
  route(0, 0x20);
  route(2, 0x30);
  route(4, 0x34);
  Lapic* bsp = board.lapic(0);
  board.io().WriteN(0x21, 0xff, 1);  // PIC masked: its INTR (pin 0) stays low
  board.isa_irq(0)->Raise();         // IRQ0 -> GSI2
  EXPECT_TRUE(bsp->irr(0x30));
  EXPECT_FALSE(bsp->irr(0x20));
  board.io().WriteN(0x21, 0x00, 1);  // now the PIC's INTR rises: pin 0
  EXPECT_TRUE(bsp->irr(0x20));
  board.isa_irq(4)->Raise();
  EXPECT_TRUE(bsp->irr(0x34));
  // The PIC saw IRQ0 as well (still uninitialized, its IRR reads back).
  EXPECT_EQ(board.io().ReadN(0x20, 1) & 0x11, 0x11u);
  // Level EOI path through the board: SCI (IRQ9) level-triggered.
  route(9, 0x8000 | 0x39);
  board.isa_irq(9)->Raise();
  EXPECT_TRUE(bsp->irr(0x39));
  board.isa_irq(9)->Lower();
  while (bsp->InterruptPending()) {
    int v = bsp->Acknowledge();
    if (v == 0x39) mem.WriteN(0xfee000b0, 0, 4);
  }
  mem.WriteN(0xfec00000, 0x10 + 18, 4);
  EXPECT_EQ(mem.ReadN(0xfec00010, 4) & 0x4000, 0u);
  // Board reset: LAPICs and I/O APIC back to power-on (Reset() reloads the BIOS).
  if (FILE* f = std::fopen(o.bios.c_str(), "rb")) {
    std::fclose(f);
    board.Reset();
    EXPECT_EQ(mem.ReadN(0xfee000f0, 4), 0xffu);
    EXPECT_EQ(mem.ReadN(0xfee00350, 4), 0x700u);
    mem.WriteN(0xfec00000, 0x14, 4);
    EXPECT_EQ(mem.ReadN(0xfec00010, 4), 0x10000u);
  } else {
    std::printf("skipping the board reset part: no %s\n", o.bios.c_str());
  }
}

}  // namespace
}  // namespace emu::hw
