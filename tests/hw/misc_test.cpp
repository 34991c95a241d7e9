// port 0x92, isa-debug-exit and isa-debugcon.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "hw/char/serial.h"
#include "hw/core/chardev.h"
#include "hw/input/i8042.h"
#include "hw/intc/i8259.h"
#include "hw/misc/debug_exit.h"
#include "hw/misc/debugcon.h"
#include "hw/misc/port92.h"
#include "hw/misc/post_port.h"
#include "hw/timer/i8254.h"
#include "hw/timer/mc146818.h"
#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::IsaBus;
using test::RecordingMachine;

TEST(PostPort, LatchesTheLastCode) {
  IsaBus bus;
  PostPort p(bus.root.get());
  EXPECT_EQ(bus.In(0x80), 0x00);
  bus.Out(0x80, 0x5a);
  EXPECT_EQ(bus.In(0x80), 0x5a);
  EXPECT_EQ(p.last(), 0x5a);
  p.Reset();
  EXPECT_EQ(bus.In(0x80), 0x00);
}

TEST(Port92, A20AndFastReset) {
  IsaBus bus;
  RecordingMachine machine;
  std::vector<bool> a20;
  Port92 p(bus.root.get(), &machine, [&](bool on) { a20.push_back(on); });
  EXPECT_EQ(bus.In(0x92), 0x00);
  bus.Out(0x92, 0x02);
  EXPECT_EQ(a20, std::vector<bool>{true});
  EXPECT_EQ(bus.In(0x92), 0x02);
  EXPECT_TRUE(p.a20());
  bus.Out(0x92, 0x02);  // no change, no callback
  EXPECT_EQ(a20.size(), 1u);
  EXPECT_EQ(machine.resets, 0);
  bus.Out(0x92, 0x03);  // fast reset
  EXPECT_EQ(machine.resets, 1);
  EXPECT_EQ(bus.In(0x92), 0x02);  // bit 0 does not stick
  bus.Out(0x92, 0x00);
  EXPECT_EQ(a20, (std::vector<bool>{true, false}));
}

TEST(DebugExit, StatusIsValueShiftedOr1) {
  IsaBus bus;
  RecordingMachine machine;
  DebugExit dev(bus.root.get(), &machine);
  bus.Out(0x501, 0x31);
  EXPECT_EQ(machine.exits, 1);
  EXPECT_EQ(machine.exit_status, 99);
  bus.Out(0x501, 0x00);
  EXPECT_EQ(machine.exit_status, 1);
  bus.io.WriteN(0x501, 0x0002, 2);  // a 16-bit write of 2
  EXPECT_EQ(machine.exit_status, 5);
  bus.Out(0x502, 0x10);  // the second port of the default 2-byte range
  EXPECT_EQ(machine.exit_status, 0x21);
  EXPECT_EQ(bus.In(0x503), 0xff);  // not ours
  EXPECT_EQ(machine.exits, 4);
}

TEST(DebugExit, CustomIobaseAndBadSize) {
  IsaBus bus;
  RecordingMachine machine;
  DebugExit dev(bus.root.get(), &machine, 0xf4, 1);
  bus.Out(0xf4, 0x10);
  EXPECT_EQ(machine.exit_status, 0x21);
  bus.Out(0xf5, 0x10);
  EXPECT_EQ(machine.exits, 1);
  EXPECT_THROW(DebugExit(bus.root.get(), &machine, 0x600, 3), ConfigError);
  EXPECT_THROW(DebugExit(bus.root.get(), &machine, 0xffff, 2), ConfigError);
}

TEST(DebugCon, BytesToChardevAndReadback) {
  IsaBus bus;
  BufferCharDev out;
  DebugCon con(bus.root.get(), &out);
  for (char c : std::string("SeaBIOS\n")) bus.Out(0xe9, uint8_t(c));
  EXPECT_EQ(out.out, "SeaBIOS\n");
  EXPECT_EQ(bus.In(0xe9), 0xe9);
  BufferCharDev log;
  DebugCon fw(bus.root.get(), &log, 0x402);
  bus.Out(0x402, 'x');
  EXPECT_EQ(log.out, "x");
  EXPECT_EQ(bus.In(0x402), 0xe9);
  EXPECT_EQ(out.out, "SeaBIOS\n");
}

// Guest-controlled register traffic must never crash a device or leave it in a
// state that breaks later accesses (run under ASan/UBSan to make this bite).
TEST(IsaDevices, SurviveRandomPortTraffic) {
  IsaBus bus;
  RecordingMachine machine;
  BufferCharDev chr;
  I8259 pic(bus.root.get());
  I8254 pit(bus.root.get(), &bus.clock, pic.input(0));
  Mc146818 rtc(bus.root.get(), &bus.clock, pic.input(8), 0);
  Serial uart(bus.root.get(), &bus.clock, 0x3f8, pic.input(4), &chr);
  I8042 kbc(bus.root.get(), pic.input(1), pic.input(12), &machine, nullptr);
  Port92 p92(bus.root.get(), &machine, nullptr);
  const uint16_t ports[] = {0x20,  0x21,  0xa0,  0xa1,  0x4d0, 0x4d1, 0x40,  0x41,
                            0x42,  0x43,  0x61,  0x70,  0x71,  0x3f8, 0x3f9, 0x3fa,
                            0x3fb, 0x3fc, 0x3fd, 0x3fe, 0x3ff, 0x60,  0x64,  0x92};
  std::mt19937 rng(12345);
  for (int i = 0; i < 200000; i++) {
    uint16_t port = ports[rng() % std::size(ports)];
    if (rng() & 1)
      bus.Out(port, uint8_t(rng()));
    else
      bus.In(port);
    if (i % 64 == 0) {
      bus.clock.Step(int64_t(rng() % 2000000));
      bus.clock.RunExpired();
      uint8_t b = uint8_t(rng());
      chr.Deliver(&b, 1);
      kbc.KeyEvent(uint8_t(rng() % 0x80), rng() & 1, rng() & 1);
      kbc.MouseEvent(int(rng() % 2001) - 1000, int(rng() % 2001) - 1000, 0, uint8_t(rng()));
    }
    if (pic.InterruptPending()) {
      int v = pic.Acknowledge();
      EXPECT_GE(v, 0);
      EXPECT_LE(v, 255);
    }
  }
  // Still working: re-initialize the PIC and take one interrupt.
  for (uint8_t v : {0x11, 0x20, 0x04, 0x01}) bus.Out(v == 0x11 ? 0x20 : 0x21, v);
  for (uint8_t v : {0x11, 0x28, 0x02, 0x01}) bus.Out(v == 0x11 ? 0xa0 : 0xa1, v);
  bus.Out(0x4d0, 0);
  bus.Out(0x4d1, 0);
  bus.Out(0x21, 0xfd);
  bus.Out(0xa1, 0xff);
  pic.input(1)->Lower();
  pic.input(1)->Raise();
  EXPECT_TRUE(pic.InterruptPending());
  EXPECT_EQ(pic.Acknowledge(), 0x21);
}

}  // namespace
}  // namespace emu::hw
