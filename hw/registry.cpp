// Factories of the devices a user can add with -device NAME,key=value,...
#include <cstdio>
#include <string>

#include "hw/char/serial.h"
#include "hw/core/chardev.h"
#include "hw/devices.h"
#include "hw/misc/debug_exit.h"
#include "hw/misc/debugcon.h"

namespace emu::hw {

namespace {

std::string Hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

uint16_t GetPort(Properties& p, const std::string& key, uint64_t def, uint64_t size) {
  uint64_t v = p.GetUint(key, def);
  if (v + size > 0x10000)
    throw ConfigError(p.owner() + ": " + key + "=" + Hex(v) + " is outside the I/O port space");
  return uint16_t(v);
}

CharDev* GetChardev(DeviceContext& ctx, Properties& p, bool required) {
  if (!p.Has("chardev")) {
    if (required) throw ConfigError(p.owner() + ": property 'chardev' is required");
    return nullptr;
  }
  std::string id = p.GetString("chardev");
  CharDev* c = ctx.chardev ? ctx.chardev(id) : nullptr;
  if (!c) throw ConfigError(p.owner() + ": no chardev with id '" + id + "'");
  return c;
}

void NeedIo(const DeviceContext& ctx, const Properties& p) {
  if (!ctx.io_root) throw ConfigError(p.owner() + ": this machine has no ISA I/O ports");
}

// Port clashes are detected when the region is placed; report them as a user error.
template <typename F>
std::unique_ptr<Device> Place(const Properties& p, uint64_t iobase, F make) {
  try {
    return make();
  } catch (const std::logic_error& e) {
    throw ConfigError(p.owner() + ": I/O port " + Hex(iobase) + " is already in use (" + e.what() +
                      ")");
  }
}

std::unique_ptr<Device> MakeDebugExit(DeviceContext& ctx, Properties& p) {
  NeedIo(ctx, p);
  uint64_t size = p.GetUint("iosize", DebugExit::kDefaultIosize);
  if (size != 1 && size != 2 && size != 4)
    throw ConfigError(p.owner() + ": iosize must be 1, 2 or 4, not " + std::to_string(size));
  uint16_t base = GetPort(p, "iobase", DebugExit::kDefaultIobase, size);
  p.CheckAllUsed();
  return Place(p, base, [&] {
    return std::make_unique<DebugExit>(ctx.io_root, ctx.machine, base, uint16_t(size));
  });
}

std::unique_ptr<Device> MakeDebugCon(DeviceContext& ctx, Properties& p) {
  NeedIo(ctx, p);
  uint16_t base = GetPort(p, "iobase", DebugCon::kDefaultIobase, 1);
  CharDev* chr = GetChardev(ctx, p, true);
  p.CheckAllUsed();
  return Place(p, base, [&] { return std::make_unique<DebugCon>(ctx.io_root, chr, base); });
}

std::unique_ptr<Device> MakeSerial(DeviceContext& ctx, Properties& p) {
  NeedIo(ctx, p);
  if (!ctx.virtual_clock) throw ConfigError(p.owner() + ": this machine has no clock");
  bool explicit_index = p.Has("index");
  uint64_t index = p.GetUint("index", 0);
  if (index > 3) throw ConfigError(p.owner() + ": index must be 0-3 (COM1-COM4)");
  bool explicit_base = p.Has("iobase");
  uint16_t base = GetPort(p, "iobase", Serial::ComPort(int(index)).iobase, 8);
  uint64_t irq = p.GetUint("irq", uint64_t(Serial::ComPort(int(index)).irq));
  if (irq > 15) throw ConfigError(p.owner() + ": irq must be 0-15");
  CharDev* chr = GetChardev(ctx, p, false);
  p.CheckAllUsed();
  auto make = [&](uint16_t b, int i) {
    IrqLine* line = ctx.isa_irq ? ctx.isa_irq(i) : nullptr;
    return std::make_unique<Serial>(ctx.io_root, ctx.virtual_clock, b, line, chr);
  };
  if (!explicit_index && !explicit_base && !p.Has("irq")) {
    // No placement given: take the first free COM port.
    for (int i = 0; i < 4; i++) {
      try {
        return make(Serial::ComPort(i).iobase, Serial::ComPort(i).irq);
      } catch (const std::logic_error&) {
      }
    }
    throw ConfigError(p.owner() + ": COM1-COM4 are all in use");
  }
  return Place(p, base, [&] { return make(base, int(irq)); });
}

}  // namespace

void RegisterBuiltinDevices(DeviceRegistry& r) {
  r.Register("isa-debug-exit",
             "write v to exit emu with status (v << 1) | 1 (iobase=0x501, iosize=2)",
             MakeDebugExit);
  r.Register("isa-debugcon", "debug console port, reads 0xe9 (iobase=0xe9, chardev=ID)",
             MakeDebugCon);
  r.Register("isa-serial", "16550A UART (index=0-3 for COM1-4, or iobase=, irq=; chardev=ID)",
             MakeSerial);
}

}  // namespace emu::hw
