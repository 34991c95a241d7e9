#include "hw/input/i8042.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::EdgeCounter;
using test::IsaBus;
using test::RecordingMachine;

class KbcTest : public ::testing::Test {
 protected:
  KbcTest()
      : kbd_edges(&irq1),
        aux_edges(&irq12),
        kbc(bus.root.get(), &irq1, &irq12, &machine, [this](bool on) { a20.push_back(on); }) {}
  void Cmd(uint8_t c) { bus.Out(0x64, c); }
  void Data(uint8_t d) { bus.Out(0x60, d); }
  uint8_t Status() { return bus.In(0x64); }
  // Reads everything in the output buffer.
  std::vector<uint8_t> Drain() {
    std::vector<uint8_t> v;
    while (Status() & 1) v.push_back(bus.In(0x60));
    return v;
  }
  using Bytes = std::vector<uint8_t>;
  Bytes Send(uint8_t d) {
    Data(d);
    return Drain();
  }
  Bytes SendAux(uint8_t d) {
    Cmd(0xd4);
    Data(d);
    return Drain();
  }

  IsaBus bus;
  IrqLine irq1, irq12;
  EdgeCounter kbd_edges, aux_edges;
  RecordingMachine machine;
  std::vector<bool> a20;
  I8042 kbc;
};

TEST_F(KbcTest, SelfTestAndInterfaceTests) {
  EXPECT_EQ(Status() & 0x01, 0);
  Cmd(0xaa);
  EXPECT_EQ(Status() & 0x0d, 0x0d);  // OBF, system flag, last write was a command
  EXPECT_EQ(bus.In(0x60), 0x55);
  EXPECT_EQ(Status() & 0x01, 0);
  Cmd(0xab);
  EXPECT_EQ(Drain(), Bytes{0x00});
  Cmd(0xa9);
  EXPECT_EQ(Drain(), Bytes{0x00});
}

TEST_F(KbcTest, CommandByte) {
  Cmd(0x20);
  EXPECT_EQ(Drain(), Bytes{0x65});
  Cmd(0x60);
  Data(0x47);
  EXPECT_EQ(kbc.command_byte(), 0x47);
  Cmd(0x20);
  EXPECT_EQ(Drain(), Bytes{0x47});
  Cmd(0xad);  // disable keyboard -> bit 4
  Cmd(0xa7);  // disable aux -> bit 5
  Cmd(0x20);
  EXPECT_EQ(Drain(), Bytes{0x77});
  Cmd(0xae);
  Cmd(0xa8);
  Cmd(0x20);
  EXPECT_EQ(Drain(), Bytes{0x47});
}

TEST_F(KbcTest, KeyboardResetAndIdentify) {
  Data(0xff);
  EXPECT_EQ(Drain(), (Bytes{0xfa, 0xaa}));
  Data(0xf2);  // translated (command byte bit 6): 0x83 comes out as 0x41
  EXPECT_EQ(Drain(), (Bytes{0xfa, 0xab, 0x41}));
  Cmd(0x60);
  Data(0x05);  // translation off
  Data(0xf2);
  EXPECT_EQ(Drain(), (Bytes{0xfa, 0xab, 0x83}));
  // The host waits for each reply: a new command flushes unread keyboard output.
  EXPECT_EQ(Send(0xf5), Bytes{0xfa});
  EXPECT_EQ(Send(0xed), Bytes{0xfa});
  EXPECT_EQ(Send(0x07), Bytes{0xfa});
  EXPECT_EQ(kbc.keyboard().leds(), 7);
  EXPECT_FALSE(kbc.keyboard().scanning());
  Data(0xf0);
  Data(0x00);
  EXPECT_EQ(Drain(), (Bytes{0xfa, 0xfa, 0x02}));
  EXPECT_EQ(Send(0xf3), Bytes{0xfa});
  EXPECT_EQ(Send(0x20), Bytes{0xfa});
  EXPECT_EQ(Send(0xf4), Bytes{0xfa});
  EXPECT_EQ(Send(0xee), Bytes{0xee});
  Data(0x12);  // not a command
  EXPECT_EQ(Drain(), Bytes{0xfe});
}

TEST_F(KbcTest, ScanCodesTranslatedAndRaw) {
  kbc.KeyEvent(0x1e, false, true);  // 'A'
  kbc.KeyEvent(0x1e, false, false);
  kbc.KeyEvent(0x1d, true, true);  // right Ctrl
  kbc.KeyEvent(0x1d, true, false);
  EXPECT_EQ(Drain(), (Bytes{0x1e, 0x9e, 0xe0, 0x1d, 0xe0, 0x9d}));
  Cmd(0x60);
  Data(0x01);  // no translation: set 2 on the wire
  kbc.KeyEvent(0x1e, false, true);
  kbc.KeyEvent(0x1e, false, false);
  kbc.KeyEvent(0x48, true, false);  // Up released
  kbc.KeyEvent(0x5b, true, true);   // left Windows
  EXPECT_EQ(Drain(), (Bytes{0x1c, 0xf0, 0x1c, 0xe0, 0xf0, 0x75, 0xe0, 0x1f}));
  // Scan code set 1 chosen by the host.
  Data(0xf0);
  Data(0x01);
  Drain();
  kbc.KeyEvent(0x10, false, false);
  EXPECT_EQ(Drain(), Bytes{0x90});
}

TEST_F(KbcTest, TranslationTableIsTheInverse) {
  for (int c = 1; c <= 0x58; c++) {
    if (c == 0x55) continue;  // no key
    Cmd(0x60);
    Data(0x01);
    kbc.KeyEvent(uint8_t(c), false, true);
    std::vector<uint8_t> raw = Drain();
    ASSERT_EQ(raw.size(), 1u) << c;
    Cmd(0x60);
    Data(0x41);
    kbc.KeyEvent(uint8_t(c), false, true);
    EXPECT_EQ(Drain(), Bytes{uint8_t(c)}) << c;
  }
}

TEST_F(KbcTest, Irq1FollowsOutputBufferAndCommandByte) {
  kbc.KeyEvent(0x02, false, true);
  EXPECT_TRUE(irq1.level());
  kbc.KeyEvent(0x02, false, false);
  bus.In(0x60);
  EXPECT_TRUE(irq1.level());  // next byte loaded: a fresh edge
  EXPECT_EQ(kbd_edges.edges, 2);
  bus.In(0x60);
  EXPECT_FALSE(irq1.level());
  Cmd(0x60);
  Data(0x64);  // keyboard interrupt off
  kbc.KeyEvent(0x03, false, true);
  EXPECT_FALSE(irq1.level());
  EXPECT_EQ(Status() & 1, 1);
  // Keyboard disabled in the command byte: bytes wait inside the keyboard.
  Drain();
  Cmd(0xad);
  kbc.KeyEvent(0x04, false, true);
  EXPECT_EQ(Status() & 1, 0);
  Cmd(0xae);
  EXPECT_EQ(Drain(), Bytes{0x04});
}

TEST_F(KbcTest, ResetCommandsRequestReset) {
  Cmd(0xfe);
  EXPECT_EQ(machine.resets, 1);
  Cmd(0xff);  // pulses nothing
  EXPECT_EQ(machine.resets, 1);
  Cmd(0xd1);
  Data(0xde);  // output port with bit 0 (reset, active low) clear
  EXPECT_EQ(machine.resets, 2);
}

TEST_F(KbcTest, A20ThroughOutputPort) {
  EXPECT_TRUE(kbc.a20());
  Cmd(0xd1);
  Data(0xc1);
  EXPECT_EQ(a20, std::vector<bool>{false});
  EXPECT_FALSE(kbc.a20());
  Cmd(0xd0);
  EXPECT_EQ(Drain(), Bytes{0xc1});
  Cmd(0xd1);
  Data(0xc3);
  EXPECT_EQ(a20, (std::vector<bool>{false, true}));
  Cmd(0xdd);
  Cmd(0xdf);
  EXPECT_EQ(a20, (std::vector<bool>{false, true, false, true}));
  EXPECT_EQ(machine.resets, 0);
}

TEST_F(KbcTest, WriteToOutputBuffers) {
  Cmd(0xd2);
  Data(0x33);
  EXPECT_EQ(Status() & 0x21, 0x01);
  EXPECT_EQ(bus.In(0x60), 0x33);
  Cmd(0xd3);
  Data(0x44);
  EXPECT_EQ(Status() & 0x21, 0x21);
  EXPECT_EQ(bus.In(0x60), 0x44);
}

TEST_F(KbcTest, MouseProbeAndPackets) {
  Cmd(0xa8);
  Cmd(0x60);
  Data(0x47);  // both interrupts on
  Cmd(0xd4);
  Data(0xff);
  EXPECT_EQ(Status() & 0x21, 0x21);  // from the aux device
  EXPECT_EQ(Drain(), (Bytes{0xfa, 0xaa, 0x00}));
  Cmd(0xd4);
  Data(0xf2);
  EXPECT_EQ(Drain(), (Bytes{0xfa, 0x00}));
  // Moves are not reported until enabled.
  kbc.MouseEvent(5, 5, 0, 0);
  EXPECT_EQ(Status() & 1, 0);
  Cmd(0xd4);
  Data(0xf4);
  EXPECT_EQ(Drain(), Bytes{0xfa});
  aux_edges.edges = 0;
  kbc.MouseEvent(10, -3, 0, 1);
  EXPECT_TRUE(irq12.level());
  EXPECT_FALSE(irq1.level());
  EXPECT_EQ(Drain(), (Bytes{0x08 | 0x20 | 0x01, 10, 0xfd}));
  EXPECT_EQ(aux_edges.edges, 3);
  // Status request.
  Cmd(0xd4);
  Data(0xe9);
  EXPECT_EQ(Drain(), (Bytes{0xfa, 0x20 | 0x04, 0x02, 100}));
  // IntelliMouse knock: 200, 100, 80 -> ID 3 and 4-byte packets.
  for (uint8_t rate : {200, 100, 80}) {
    EXPECT_EQ(SendAux(0xf3), Bytes{0xfa});
    EXPECT_EQ(SendAux(rate), Bytes{0xfa});
  }
  EXPECT_EQ(SendAux(0xf2), (Bytes{0xfa, 0x03}));
  kbc.MouseEvent(0, 0, 1, 0);
  EXPECT_EQ(Drain(), (Bytes{0x08, 0, 0, 0xff}));
  // Disable.
  Cmd(0xd4);
  Data(0xf5);
  Drain();
  kbc.MouseEvent(1, 1, 0, 0);
  EXPECT_EQ(Status() & 1, 0);
}

// The order of Linux's i8042 probe: self test, CTR read/write, AUX loopback and its
// IRQ12 test, then atkbd's GETID on the keyboard.
TEST_F(KbcTest, LinuxI8042Probe) {
  Drain();
  Cmd(0xaa);
  EXPECT_EQ(Drain(), Bytes{0x55});
  Cmd(0x20);
  Bytes ctr = Drain();
  ASSERT_EQ(ctr.size(), 1u);
  uint8_t c = uint8_t(ctr[0] & ~0x03);  // interrupts off while probing
  Cmd(0x60);
  Data(c);
  // AUX loopback: the byte comes back as if from the mouse.
  Cmd(0xd3);
  Data(0x5a);
  EXPECT_EQ(Status() & 0x21, 0x21);
  EXPECT_EQ(Drain(), Bytes{0x5a});
  // Toggling the AUX port disable bit sticks.
  Cmd(0x60);
  Data(c | 0x20);
  Cmd(0x20);
  EXPECT_EQ(Drain(), Bytes{uint8_t(c | 0x20)});
  Cmd(0x60);
  Data(uint8_t(c & ~0x20));
  Cmd(0x20);
  EXPECT_EQ(Drain(), Bytes{uint8_t(c & ~0x20)});
  // AUX IRQ test: with the AUX interrupt on, a looped byte raises IRQ12.
  Cmd(0x60);
  Data(uint8_t((c & ~0x20) | 0x02));
  Cmd(0xd3);
  Data(0xa5);
  EXPECT_TRUE(irq12.level());
  EXPECT_EQ(bus.In(0x60), 0xa5);
  EXPECT_FALSE(irq12.level());
  // atkbd with the keyboard interrupt on.
  Cmd(0x60);
  Data(uint8_t(c | 0x01));
  EXPECT_EQ(Send(0xf5), Bytes{0xfa});
  EXPECT_EQ(Send(0xf2), (Bytes{0xfa, 0xab, 0x41}));
  EXPECT_EQ(Send(0xf4), Bytes{0xfa});
  EXPECT_GE(kbd_edges.edges, 5);
}

TEST_F(KbcTest, SaveAndLoadKeepsDeviceModes) {
  Cmd(0xa8);
  Cmd(0x60);
  Data(0x07);  // interrupts on, no translation
  EXPECT_EQ(SendAux(0xf4), Bytes{0xfa});
  EXPECT_EQ(Send(0xed), Bytes{0xfa});
  EXPECT_EQ(Send(0x02), Bytes{0xfa});
  kbc.KeyEvent(0x1e, false, false);  // F0 1C: one byte waits in the keyboard
  StateWriter w;
  kbc.SaveState(w);
  kbc.Reset();
  EXPECT_FALSE(kbc.mouse().reporting());
  StateReader r(w.data());
  kbc.LoadState(r);
  EXPECT_EQ(kbc.command_byte(), 0x07);
  EXPECT_TRUE(kbc.mouse().reporting());
  EXPECT_EQ(kbc.keyboard().leds(), 2);
  EXPECT_EQ(Drain(), (Bytes{0xf0, 0x1c}));
  kbc.MouseEvent(1, 1, 0, 0);
  EXPECT_EQ(Drain(), (Bytes{0x08, 1, 1}));
}

}  // namespace
}  // namespace emu::hw
