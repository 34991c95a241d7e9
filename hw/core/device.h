// Device base class, -device properties and the device registry.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "hw/core/clock.h"
#include "hw/core/irq.h"
#include "hw/core/memory.h"

namespace emu::hw {

class CharDev;

// Serialized device state (savevm/migration). Plain little-endian fields.
class StateWriter {
 public:
  void U8(uint8_t v) { Put(&v, 1); }
  void U16(uint16_t v) { Put(&v, 2); }
  void U32(uint32_t v) { Put(&v, 4); }
  void U64(uint64_t v) { Put(&v, 8); }
  void Bytes(const void* p, size_t n) { Put(p, n); }
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  void Put(const void* p, size_t n) {
    auto* b = static_cast<const uint8_t*>(p);
    data_.insert(data_.end(), b, b + n);
  }
  std::vector<uint8_t> data_;
};

class StateReader {
 public:
  explicit StateReader(const std::vector<uint8_t>& d) : data_(d) {}
  uint8_t U8() { return Get<uint8_t>(); }
  uint16_t U16() { return Get<uint16_t>(); }
  uint32_t U32() { return Get<uint32_t>(); }
  uint64_t U64() { return Get<uint64_t>(); }
  void Bytes(void* p, size_t n);

 private:
  template <typename T>
  T Get() {
    T v;
    Bytes(&v, sizeof v);
    return v;
  }
  const std::vector<uint8_t>& data_;
  size_t pos_ = 0;
};

class Device {
 public:
  explicit Device(std::string name) : name_(std::move(name)) {}
  virtual ~Device() = default;
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  // Puts the device in its power-on state (also on guest reboot).
  virtual void Reset() {}
  virtual void SaveState(StateWriter&) const {}
  virtual void LoadState(StateReader&) {}
  const std::string& name() const { return name_; }

 private:
  std::string name_;
};

// A user error in a -device line or another user-supplied value; the message
// names the offending thing and main() turns it into "emu: <message>" + exit 1.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// key=value properties of one -device (or -chardev, -drive ...) option.
class Properties {
 public:
  Properties() = default;
  Properties(std::string owner, std::map<std::string, std::string> values)
      : owner_(std::move(owner)), values_(std::move(values)) {}

  bool Has(const std::string& key) const { return values_.count(key) != 0; }
  std::string GetString(const std::string& key, const std::string& def = "");
  // Accepts decimal, 0x-hex and 0-octal; throws ConfigError naming the key.
  uint64_t GetUint(const std::string& key, uint64_t def);
  // on/off, yes/no, true/false, 1/0.
  bool GetBool(const std::string& key, bool def);
  // Throws ConfigError for a property nobody asked for (catches typos).
  void CheckAllUsed() const;
  const std::string& owner() const { return owner_; }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  std::string owner_;
  std::map<std::string, std::string> values_;
  std::map<std::string, bool> used_;
};

// What the machine offers to devices it creates: buses, interrupts, clocks and
// the ability to end or reset the machine.
class MachineControl {
 public:
  virtual ~MachineControl() = default;
  // Ends emu with this process exit status (isa-debug-exit, ACPI poweroff -> 0).
  virtual void RequestExit(int status) = 0;
  // Guest-initiated reset (keyboard controller, port 0xcf9, triple fault).
  virtual void RequestReset() = 0;
  // Guest power-off (ACPI S5). Ends emu with status 0 unless the machine was told
  // to stay up (-no-shutdown).
  virtual void RequestPowerOff() { RequestExit(0); }
};

struct DeviceContext {
  AddressSpace* memory = nullptr;
  AddressSpace* io = nullptr;            // 64 KiB port space
  MemoryRegion* io_root = nullptr;       // where port regions are added
  MemoryRegion* memory_root = nullptr;   // where MMIO regions are added
  std::function<IrqLine*(int)> isa_irq;  // ISA IRQ 0-15
  Clock* virtual_clock = nullptr;
  MachineControl* machine = nullptr;
  // Finds a chardev by its -chardev id (nullptr if there is none).
  std::function<CharDev*(const std::string&)> chardev;
};

class DeviceRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Device>(DeviceContext&, Properties&)>;
  struct Entry {
    std::string name;
    std::string help;  // one line, shown by -device help
    Factory factory;
  };
  void Register(std::string name, std::string help, Factory f);
  const Entry* Find(const std::string& name) const;
  std::vector<const Entry*> List() const;  // sorted by name

 private:
  std::map<std::string, Entry> entries_;
};

}  // namespace emu::hw
