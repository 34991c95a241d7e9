// PS/2 keyboard and mouse as they sit behind the i8042 controller: each takes
// bytes from the host (commands and arguments) and queues bytes for it (replies,
// scan codes, movement packets). Enough of both for the probes of SeaBIOS and of
// Linux's atkbd and psmouse (plain PS/2 and IntelliMouse wheel).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>

#include "hw/core/device.h"

namespace emu::hw {

class Ps2Device {
 public:
  virtual ~Ps2Device() = default;
  // A byte sent by the host through the controller.
  virtual void Write(uint8_t b) = 0;
  virtual void Reset() = 0;
  virtual void SaveState(StateWriter& w) const;
  virtual void LoadState(StateReader& r);

  bool HasData() const { return !queue_.empty(); }
  uint8_t Pop();
  // Called after bytes were queued (the controller refills its output buffer).
  void SetNotify(std::function<void()> fn) { notify_ = std::move(fn); }

 protected:
  // Queues bytes as one unit; drops them all if they do not fit.
  bool Push(std::initializer_list<uint8_t> bytes);
  void Clear() { queue_.clear(); }
  void Notify() {
    if (notify_) notify_();
  }
  size_t capacity_ = 16;

 private:
  std::deque<uint8_t> queue_;
  std::function<void()> notify_;
};

class Ps2Keyboard : public Ps2Device {
 public:
  Ps2Keyboard() { capacity_ = 64; }
  void Write(uint8_t b) override;
  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

  // A key press or release given as its scan code set 1 ("XT") make code,
  // `extended` for the E0-prefixed keys. Sent in the keyboard's current set (set 2
  // unless the host chose set 1); the controller translates back to set 1 when its
  // translation bit is on. Dropped while scanning is disabled or the queue is full.
  void KeyEvent(uint8_t set1_code, bool extended, bool pressed);
  // Raw bytes queued as if the keyboard had sent them.
  void InjectBytes(const uint8_t* data, size_t len);

  int scancode_set() const { return set_; }
  uint8_t leds() const { return leds_; }
  bool scanning() const { return scanning_; }

  // Set 2 -> set 1 translation of the 8042 (0 for bytes it does not map).
  static uint8_t TranslateToSet1(uint8_t set2);

 private:
  uint8_t pending_ = 0;  // command waiting for its argument
  bool scanning_ = true;
  int set_ = 2;
  uint8_t leds_ = 0;
  uint8_t typematic_ = 0x2b;
  uint8_t last_sent_ = 0;
};

class Ps2Mouse : public Ps2Device {
 public:
  Ps2Mouse() { capacity_ = 256; }
  void Write(uint8_t b) override;
  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

  // Relative movement (dy > 0 is up, dz > 0 wheel up) and the button state
  // (bit 0 left, bit 1 right, bit 2 middle). Sent as packets in stream mode with
  // reporting enabled; accumulated for READ DATA in remote mode.
  void Move(int dx, int dy, int dz, uint8_t buttons);

  uint8_t id() const { return id_; }
  bool reporting() const { return reporting_; }
  int sample_rate() const { return rate_; }

 private:
  void SetDefaults();
  void SendPacket();

  uint8_t pending_ = 0;
  bool reporting_ = false, remote_ = false, scaling21_ = false;
  uint8_t rate_ = 100, resolution_ = 2, id_ = 0, buttons_ = 0;
  uint8_t rate_hist_[3] = {0, 0, 0};
  int dx_ = 0, dy_ = 0, dz_ = 0;
  uint8_t last_sent_ = 0;
};

}  // namespace emu::hw
