#include <gtest/gtest.h>

#include <map>
#include <string>

#include "hw/char/serial.h"
#include "hw/core/chardev.h"
#include "hw/devices.h"
#include "tests/hw/isa_fixture.h"

namespace emu::hw {
namespace {

using test::IsaBus;
using test::RecordingMachine;

class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() {
    RegisterBuiltinDevices(reg);
    ctx.io = &bus.io;
    ctx.io_root = bus.root.get();
    ctx.virtual_clock = &bus.clock;
    ctx.machine = &machine;
    ctx.isa_irq = [this](int n) { return &irqs[n]; };
    ctx.chardev = [this](const std::string& id) -> CharDev* {
      auto it = chardevs.find(id);
      return it == chardevs.end() ? nullptr : &it->second;
    };
  }
  std::unique_ptr<Device> Create(const std::string& name,
                                 std::map<std::string, std::string> props) {
    const DeviceRegistry::Entry* e = reg.Find(name);
    if (!e) throw std::runtime_error("no device " + name);
    Properties p(name, std::move(props));
    return e->factory(ctx, p);
  }
  std::string ErrorOf(const std::string& name, std::map<std::string, std::string> props) {
    try {
      Create(name, std::move(props));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  IsaBus bus;
  RecordingMachine machine;
  IrqLine irqs[16];
  std::map<std::string, BufferCharDev> chardevs;
  DeviceRegistry reg;
  DeviceContext ctx;
};

TEST_F(RegistryTest, ListsTheUserCreatableDevices) {
  std::vector<std::string> names;
  for (const auto* e : reg.List()) {
    names.push_back(e->name);
    EXPECT_FALSE(e->help.empty());
  }
  EXPECT_EQ(names, (std::vector<std::string>{"isa-debug-exit", "isa-debugcon", "isa-serial"}));
}

TEST_F(RegistryTest, DebugExitFromProperties) {
  auto d = Create("isa-debug-exit", {{"iobase", "0xf4"}, {"iosize", "0x04"}});
  bus.Out(0xf4, 0x31);
  EXPECT_EQ(machine.exit_status, 99);
  bus.Out(0xf7, 0x00);
  EXPECT_EQ(machine.exit_status, 1);
  auto dflt = Create("isa-debug-exit", {});
  bus.Out(0x501, 0x02);
  EXPECT_EQ(machine.exit_status, 5);
}

TEST_F(RegistryTest, UnknownPropertyIsRejected) {
  EXPECT_EQ(ErrorOf("isa-debug-exit", {{"iobse", "0xf4"}}),
            "isa-debug-exit: unknown property 'iobse'");
  EXPECT_EQ(ErrorOf("isa-serial", {{"chardve", "x"}}), "isa-serial: unknown property 'chardve'");
  // Nothing was placed by the failed attempts.
  EXPECT_EQ(bus.io.view().ranges.size(), 0u);
}

TEST_F(RegistryTest, BadValuesAreReported) {
  EXPECT_EQ(ErrorOf("isa-debug-exit", {{"iosize", "3"}}),
            "isa-debug-exit: iosize must be 1, 2 or 4, not 3");
  EXPECT_EQ(ErrorOf("isa-debug-exit", {{"iobase", "0x10000"}}),
            "isa-debug-exit: iobase=0x10000 is outside the I/O port space");
  EXPECT_EQ(ErrorOf("isa-debug-exit", {{"iobase", "banana"}}),
            "isa-debug-exit: property 'iobase' expects a number, not 'banana'");
  EXPECT_EQ(ErrorOf("isa-debugcon", {}), "isa-debugcon: property 'chardev' is required");
  EXPECT_EQ(ErrorOf("isa-debugcon", {{"chardev", "nope"}}),
            "isa-debugcon: no chardev with id 'nope'");
  EXPECT_EQ(ErrorOf("isa-serial", {{"index", "4"}}), "isa-serial: index must be 0-3 (COM1-COM4)");
}

TEST_F(RegistryTest, DebugconFromProperties) {
  chardevs["log"];
  auto d = Create("isa-debugcon", {{"iobase", "0x402"}, {"chardev", "log"}});
  bus.Out(0x402, 'k');
  EXPECT_EQ(chardevs["log"].out, "k");
  EXPECT_EQ(bus.In(0x402), 0xe9);
  // The same port twice is a user error, not a crash.
  std::string err = ErrorOf("isa-debugcon", {{"iobase", "0x402"}, {"chardev", "log"}});
  EXPECT_EQ(err.rfind("isa-debugcon: I/O port 0x402 is already in use", 0), 0u) << err;
}

TEST_F(RegistryTest, SerialFromProperties) {
  chardevs["s0"];
  chardevs["s1"];
  auto com2 = Create("isa-serial", {{"index", "1"}, {"chardev", "s1"}});
  bus.Out(0x2f8, 'A');
  EXPECT_EQ(chardevs["s1"].out, "A");
  bus.Out(0x2f8 + 4, 0x08);
  bus.Out(0x2f8 + 1, 0x02);
  EXPECT_TRUE(irqs[3].level());
  // Without placement the first free COM port is taken: COM1.
  auto auto1 = Create("isa-serial", {{"chardev", "s0"}});
  EXPECT_EQ(static_cast<Serial*>(auto1.get())->iobase(), 0x3f8);
  bus.Out(0x3f8, 'B');
  EXPECT_EQ(chardevs["s0"].out, "B");
  // Explicit iobase and irq.
  auto custom = Create("isa-serial", {{"iobase", "0x3e8"}, {"irq", "5"}});
  bus.Out(0x3e8 + 4, 0x08);
  bus.Out(0x3e8 + 1, 0x02);
  EXPECT_TRUE(irqs[5].level());
  EXPECT_EQ(ErrorOf("isa-serial", {{"index", "1"}}).rfind("isa-serial: I/O port 0x2f8", 0), 0u);
}

}  // namespace
}  // namespace emu::hw
