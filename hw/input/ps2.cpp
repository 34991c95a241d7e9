#include "hw/input/ps2.h"

#include <algorithm>
#include <array>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
constexpr uint8_t kAck = 0xfa, kResend = 0xfe, kBatOk = 0xaa;

// Scan code set 1 make code -> set 2 make code, for codes 0x00-0x58. The
// E0-prefixed keys reuse the same low byte, except the Windows/menu keys.
constexpr uint8_t kSet1ToSet2[0x59] = {
    0x00, 0x76, 0x16, 0x1e, 0x26, 0x25, 0x2e, 0x36,  // 00-07: Esc 1-6
    0x3d, 0x3e, 0x46, 0x45, 0x4e, 0x55, 0x66, 0x0d,  // 08-0f: 7-0 - = BS Tab
    0x15, 0x1d, 0x24, 0x2d, 0x2c, 0x35, 0x3c, 0x43,  // 10-17: Q-I
    0x44, 0x4d, 0x54, 0x5b, 0x5a, 0x14, 0x1c, 0x1b,  // 18-1f: O P [ ] Enter Ctrl A S
    0x23, 0x2b, 0x34, 0x33, 0x3b, 0x42, 0x4b, 0x4c,  // 20-27: D-L ;
    0x52, 0x0e, 0x12, 0x5d, 0x1a, 0x22, 0x21, 0x2a,  // 28-2f: ' ` LShift \ Z X C V
    0x32, 0x31, 0x3a, 0x41, 0x49, 0x4a, 0x59, 0x7c,  // 30-37: B N M , . / RShift KP*
    0x11, 0x29, 0x58, 0x05, 0x06, 0x04, 0x0c, 0x03,  // 38-3f: Alt Space Caps F1-F5
    0x0b, 0x83, 0x0a, 0x01, 0x09, 0x77, 0x7e, 0x6c,  // 40-47: F6-F10 NumLk ScrLk KP7
    0x75, 0x7d, 0x7b, 0x6b, 0x73, 0x74, 0x79, 0x69,  // 48-4f: KP8 KP9 KP- KP4-6 KP+ KP1
    0x72, 0x7a, 0x70, 0x71, 0x84, 0x00, 0x61, 0x78,  // 50-57: KP2 KP3 KP0 KP. SysRq - 102nd F11
    0x07,                                            // 58: F12
};

std::array<uint8_t, 256> BuildSet2ToSet1() {
  std::array<uint8_t, 256> t{};
  for (int i = 1; i < 0x59; i++)
    if (kSet1ToSet2[i]) t[kSet1ToSet2[i]] = uint8_t(i);
  t[0x1f] = 0x5b, t[0x27] = 0x5c, t[0x2f] = 0x5d;  // the E0-prefixed Windows/menu keys
  return t;
}
}  // namespace

uint8_t Ps2Device::Pop() {
  if (queue_.empty()) return 0;
  uint8_t b = queue_.front();
  queue_.pop_front();
  return b;
}

bool Ps2Device::Push(std::initializer_list<uint8_t> bytes) {
  if (queue_.size() + bytes.size() > capacity_) return false;
  queue_.insert(queue_.end(), bytes.begin(), bytes.end());
  return true;
}

void Ps2Device::SaveState(StateWriter& w) const {
  w.U16(uint16_t(queue_.size()));
  for (uint8_t b : queue_) w.U8(b);
}

void Ps2Device::LoadState(StateReader& r) {
  queue_.clear();
  size_t n = r.U16();
  for (size_t i = 0; i < n; i++) {
    uint8_t b = r.U8();
    if (queue_.size() < capacity_) queue_.push_back(b);
  }
}

// ---- keyboard ----

void Ps2Keyboard::SaveState(StateWriter& w) const {
  Ps2Device::SaveState(w);
  w.U8(pending_), w.U8(scanning_), w.U8(uint8_t(set_)), w.U8(leds_), w.U8(typematic_);
  w.U8(last_sent_);
}

void Ps2Keyboard::LoadState(StateReader& r) {
  Ps2Device::LoadState(r);
  pending_ = r.U8(), scanning_ = r.U8() & 1, set_ = r.U8() == 1 ? 1 : 2, leds_ = r.U8() & 7;
  typematic_ = r.U8() & 0x7f, last_sent_ = r.U8();
}

uint8_t Ps2Keyboard::TranslateToSet1(uint8_t set2) {
  static const std::array<uint8_t, 256> table = BuildSet2ToSet1();
  return table[set2];
}

void Ps2Keyboard::Reset() {
  Clear();
  pending_ = 0;
  scanning_ = true;
  set_ = 2;
  leds_ = 0;
  typematic_ = 0x2b;
}

void Ps2Keyboard::Write(uint8_t b) {
  if (pending_) {
    uint8_t cmd = pending_;
    pending_ = 0;
    switch (cmd) {
      case 0xed:
        leds_ = b & 7;
        Push({kAck});
        break;
      case 0xf3:
        typematic_ = b & 0x7f;
        Push({kAck});
        break;
      case 0xf0:
        if (b == 0) {
          Push({kAck, uint8_t(set_)});
        } else if (b == 1 || b == 2) {
          set_ = b;
          Push({kAck});
        } else {
          Log(LogMask::kUnimp, "ps2 keyboard: unimplemented: scan code set %u", b);
          Push({kResend});
        }
        break;
    }
    last_sent_ = kAck;
    Notify();
    return;
  }
  Clear();  // a command flushes the keyboard's output buffer
  switch (b) {
    case 0xed:
    case 0xf3:
    case 0xf0:
      pending_ = b;
      Push({kAck});
      break;
    case 0xee:
      Push({0xee});
      break;
    case 0xf2:
      Push({kAck, 0xab, 0x83});
      break;
    case 0xf4:
      scanning_ = true;
      Push({kAck});
      break;
    case 0xf5:  // disable scanning and restore defaults
      scanning_ = false;
      typematic_ = 0x2b;
      leds_ = 0;
      Push({kAck});
      break;
    case 0xf6:
      typematic_ = 0x2b;
      leds_ = 0;
      Push({kAck});
      break;
    case 0xf7:
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0xfc:
    case 0xfd:
      Push({kAck});  // set-3 key attributes: accepted, no effect in sets 1/2
      break;
    case 0xfe:
      Push({last_sent_});
      break;
    case 0xff:
      Reset();
      Push({kAck, kBatOk});
      break;
    default:
      Log(LogMask::kGuestErrors, "ps2 keyboard: unknown command 0x%02x (answered Resend)", b);
      Push({kResend});
      break;
  }
  last_sent_ = b == 0xfe ? last_sent_ : kAck;
  Notify();
}

void Ps2Keyboard::KeyEvent(uint8_t code, bool extended, bool pressed) {
  if (!scanning_ || code == 0 || code >= 0x80) return;
  if (set_ == 1) {
    uint8_t c = uint8_t(code | (pressed ? 0 : 0x80));
    if (extended ? Push({0xe0, c}) : Push({c})) Notify();
    return;
  }
  uint8_t c2 = 0;
  if (extended && code >= 0x5b && code <= 0x5d)
    c2 = uint8_t(0x1f + (code - 0x5b) * 8);  // LWin 1f, RWin 27, Menu 2f
  else if (code < sizeof kSet1ToSet2)
    c2 = kSet1ToSet2[code];
  if (!c2) return;  // no such key
  bool ok;
  if (extended)
    ok = pressed ? Push({0xe0, c2}) : Push({0xe0, 0xf0, c2});
  else
    ok = pressed ? Push({c2}) : Push({0xf0, c2});
  if (ok) Notify();
}

void Ps2Keyboard::InjectBytes(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; i++) Push({data[i]});
  Notify();
}

// ---- mouse ----

void Ps2Mouse::SaveState(StateWriter& w) const {
  Ps2Device::SaveState(w);
  w.U8(pending_), w.U8(reporting_), w.U8(remote_), w.U8(scaling21_), w.U8(rate_);
  w.U8(resolution_), w.U8(id_), w.U8(buttons_), w.Bytes(rate_hist_, sizeof rate_hist_);
  w.U32(uint32_t(dx_)), w.U32(uint32_t(dy_)), w.U32(uint32_t(dz_)), w.U8(last_sent_);
}

void Ps2Mouse::LoadState(StateReader& r) {
  Ps2Device::LoadState(r);
  pending_ = r.U8(), reporting_ = r.U8() & 1, remote_ = r.U8() & 1, scaling21_ = r.U8() & 1;
  rate_ = r.U8(), resolution_ = r.U8() & 3, id_ = r.U8() == 3 ? 3 : 0, buttons_ = r.U8() & 7;
  r.Bytes(rate_hist_, sizeof rate_hist_);
  dx_ = std::clamp(int(int32_t(r.U32())), -4096, 4096);
  dy_ = std::clamp(int(int32_t(r.U32())), -4096, 4096);
  dz_ = std::clamp(int(int32_t(r.U32())), -64, 64);
  last_sent_ = r.U8();
}

void Ps2Mouse::SetDefaults() {
  rate_ = 100;
  resolution_ = 2;
  scaling21_ = false;
  reporting_ = false;
  remote_ = false;
  dx_ = dy_ = dz_ = 0;
}

void Ps2Mouse::Reset() {
  Clear();
  pending_ = 0;
  id_ = 0;
  buttons_ = 0;
  std::fill(std::begin(rate_hist_), std::end(rate_hist_), 0);
  SetDefaults();
}

void Ps2Mouse::SendPacket() {
  int dx = std::clamp(dx_, -256, 255), dy = std::clamp(dy_, -256, 255);
  bool xo = dx != dx_, yo = dy != dy_;
  int dz = std::clamp(dz_, -8, 7);
  uint8_t b0 = uint8_t(0x08 | (buttons_ & 7) | (dx < 0 ? 0x10 : 0) | (dy < 0 ? 0x20 : 0) |
                       (xo ? 0x40 : 0) | (yo ? 0x80 : 0));
  bool ok = id_ == 3 ? Push({b0, uint8_t(dx), uint8_t(dy), uint8_t(-dz)})
                     : Push({b0, uint8_t(dx), uint8_t(dy)});
  if (ok) dx_ = dy_ = dz_ = 0;
}

void Ps2Mouse::Move(int dx, int dy, int dz, uint8_t buttons) {
  buttons_ = buttons & 7;
  if (!reporting_ && !remote_) return;  // a disabled stream-mode mouse keeps no counts
  // Saturate the accumulators: a remote-mode host may never read them.
  dx_ = std::clamp(dx_ + std::clamp(dx, -4096, 4096), -4096, 4096);
  dy_ = std::clamp(dy_ + std::clamp(dy, -4096, 4096), -4096, 4096);
  dz_ = std::clamp(dz_ + std::clamp(dz, -64, 64), -64, 64);
  if (reporting_ && !remote_) {
    SendPacket();
    Notify();
  }
}

void Ps2Mouse::Write(uint8_t b) {
  if (pending_) {
    uint8_t cmd = pending_;
    pending_ = 0;
    if (cmd == 0xf3) {
      rate_ = b;
      rate_hist_[0] = rate_hist_[1], rate_hist_[1] = rate_hist_[2], rate_hist_[2] = b;
      // The IntelliMouse knock: rates 200, 100, 80 switch on the wheel.
      if (rate_hist_[0] == 200 && rate_hist_[1] == 100 && rate_hist_[2] == 80) id_ = 3;
    } else {  // 0xe8
      resolution_ = b & 3;
    }
    Push({kAck});
    last_sent_ = kAck;
    Notify();
    return;
  }
  Clear();
  switch (b) {
    case 0xe6:  // scaling 1:1
    case 0xe7:  // scaling 2:1
      scaling21_ = b == 0xe7;
      Push({kAck});
      break;
    case 0xe8:
    case 0xf3:
      pending_ = b;
      Push({kAck});
      break;
    case 0xe9: {
      uint8_t st =
          uint8_t((remote_ ? 0x40 : 0) | (reporting_ ? 0x20 : 0) | (scaling21_ ? 0x10 : 0) |
                  (buttons_ & 1 ? 4 : 0) | (buttons_ & 4 ? 2 : 0) | (buttons_ & 2 ? 1 : 0));
      Push({kAck, st, resolution_, rate_});
      break;
    }
    case 0xea:  // stream mode
    case 0xf0:  // remote mode
      remote_ = b == 0xf0;
      Push({kAck});
      break;
    case 0xeb:
      Push({kAck});
      SendPacket();
      break;
    case 0xec:
      Push({kAck});
      break;  // reset wrap mode: we never enter it
    case 0xf2:
      Push({kAck, id_});
      break;
    case 0xf4:  // enabling also resets the movement counters
      reporting_ = true;
      dx_ = dy_ = dz_ = 0;
      Push({kAck});
      break;
    case 0xf5:
      reporting_ = false;
      Push({kAck});
      break;
    case 0xf6:
      SetDefaults();
      Push({kAck});
      break;
    case 0xfe:
      Push({last_sent_});
      break;
    case 0xff:
      Reset();
      Push({kAck, kBatOk, 0x00});
      break;
    default:
      if (b == 0xee)
        Log(LogMask::kUnimp, "ps2 mouse: unimplemented: wrap mode (answered Resend)");
      else
        Log(LogMask::kGuestErrors, "ps2 mouse: unknown command 0x%02x (answered Resend)", b);
      Push({kResend});
      break;
  }
  last_sent_ = kAck;
  Notify();
}

}  // namespace emu::hw
