// port 0x92, isa-debug-exit and isa-debugcon.
#include <gtest/gtest.h>

#include <vector>

#include "hw/core/chardev.h"
#include "hw/misc/debug_exit.h"
#include "hw/misc/debugcon.h"
#include "hw/misc/port92.h"
#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::IsaBus;
using test::RecordingMachine;

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

}  // namespace
}  // namespace emu::hw
