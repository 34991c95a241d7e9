#include "hw/input/i8042.h"

#include <cstdio>
#include <string>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
// Command byte bits.
constexpr uint8_t kCtrKbdInt = 0x01, kCtrAuxInt = 0x02, kCtrSys = 0x04;
constexpr uint8_t kCtrKbdOff = 0x10, kCtrAuxOff = 0x20, kCtrXlate = 0x40;
// Status register bits.
constexpr uint8_t kStObf = 0x01, kStSys = 0x04, kStCmd = 0x08, kStUnlocked = 0x10, kStAuxObf = 0x20;
// A BIOS-like command byte: keyboard interrupt on, mouse off, translation on.
constexpr uint8_t kPowerOnCtr = kCtrKbdInt | kCtrSys | kCtrAuxOff | kCtrXlate;
constexpr uint8_t kPowerOnOutport = 0xc3;  // reset inactive, A20 on, clock/data high
}  // namespace

I8042::I8042(MemoryRegion* io, IrqLine* kbd_irq, IrqLine* aux_irq, MachineControl* machine,
             std::function<void(bool)> a20)
    : Device("i8042"),
      io_(io),
      kbd_irq_(kbd_irq),
      aux_irq_(aux_irq),
      machine_(machine),
      a20_cb_(std::move(a20)) {
  kbd_.SetNotify([this] { Fill(); });
  mouse_.SetNotify([this] { Fill(); });
  MmioOps data;
  data.min_size = data.max_size = 1;
  data.read = [this](uint64_t, unsigned) -> uint64_t { return ReadData(); };
  data.write = [this](uint64_t, uint64_t v, unsigned) { WriteData(uint8_t(v)); };
  MmioOps cmd;
  cmd.min_size = cmd.max_size = 1;
  cmd.read = [this](uint64_t, unsigned) -> uint64_t { return ReadStatus(); };
  cmd.write = [this](uint64_t, uint64_t v, unsigned) { WriteCommand(uint8_t(v)); };
  data_mr_ = MemoryRegion::Mmio("i8042-data", 1, data);
  cmd_mr_ = MemoryRegion::Mmio("i8042-cmd", 1, cmd);
  io_->AddSubregion(0x60, data_mr_.get());
  io_->AddSubregion(0x64, cmd_mr_.get());
  Reset();
}

I8042::~I8042() {
  io_->RemoveSubregion(data_mr_.get());
  io_->RemoveSubregion(cmd_mr_.get());
}

void I8042::Reset() {
  kbd_.Reset();
  mouse_.Reset();
  replies_.clear();
  for (uint8_t& b : ram_) b = 0;
  ram_[0] = kPowerOnCtr;
  obf_ = out_aux_ = false;
  sys_flag_ = false;
  last_was_command_ = false;
  xlate_break_ = false;
  pending_ = 0;
  outport_ = kPowerOnOutport;  // the machine owns the A20 state at reset; no callback
  UpdateIrq();
}

void I8042::UpdateIrq() {
  bool kbd = obf_ && !out_aux_ && (ram_[0] & kCtrKbdInt);
  bool aux = obf_ && out_aux_ && (ram_[0] & kCtrAuxInt);
  if (kbd_irq_ && kbd_irq_->level() != kbd) kbd_irq_->Set(kbd);
  if (aux_irq_ && aux_irq_->level() != aux) aux_irq_->Set(aux);
}

void I8042::Fill() {
  if (!obf_) {
    if (!replies_.empty()) {
      out_ = replies_.front().first;
      out_aux_ = replies_.front().second;
      replies_.pop_front();
      obf_ = true;
    } else if (!(ram_[0] & kCtrKbdOff)) {
      while (kbd_.HasData()) {
        uint8_t b = kbd_.Pop();
        if (ram_[0] & kCtrXlate) {
          if (b == 0xf0) {  // break prefix: folded into bit 7 of the next code
            xlate_break_ = true;
            continue;
          }
          uint8_t t = Ps2Keyboard::TranslateToSet1(b);
          if (t || b < 0x80) b = t;  // bytes >= 0x80 without a mapping pass through
          if (xlate_break_) b |= 0x80;
          xlate_break_ = false;
        }
        out_ = b;
        out_aux_ = false;
        obf_ = true;
        break;
      }
    }
    if (!obf_ && !(ram_[0] & kCtrAuxOff) && mouse_.HasData()) {
      out_ = mouse_.Pop();
      out_aux_ = true;
      obf_ = true;
    }
  }
  UpdateIrq();
}

void I8042::Reply(uint8_t b, bool aux) {
  replies_.emplace_back(b, aux);
  if (replies_.size() > 16) replies_.pop_front();  // bounded: the guest is not reading
  Fill();
}

uint8_t I8042::ReadStatus() const {
  return uint8_t((obf_ ? kStObf : 0) | (obf_ && out_aux_ ? kStAuxObf : 0) |
                 (sys_flag_ ? kStSys : 0) | (last_was_command_ ? kStCmd : 0) | kStUnlocked);
}

uint8_t I8042::ReadData() {
  uint8_t v = out_;
  if (obf_) {
    obf_ = false;
    UpdateIrq();  // drop the line so that a next byte makes a fresh edge
    Fill();
  }
  return v;
}

void I8042::WriteOutputPort(uint8_t v) {
  uint8_t old = outport_;
  outport_ = v;
  if (((old ^ v) & 2) && a20_cb_) a20_cb_(v & 2);
  if (!(v & 1) && machine_) machine_->RequestReset();  // bit 0 drives RESET, active low
}

void I8042::WriteCommand(uint8_t v) {
  last_was_command_ = true;
  pending_ = 0;
  if (v >= 0x20 && v <= 0x3f) {
    Reply(ram_[v & 0x1f]);
    return;
  }
  if (v >= 0x60 && v <= 0x7f) {
    pending_ = v;
    return;
  }
  if (v >= 0xf0) {  // pulse output port bits 0-3 low where the command has 0s
    if (!(v & 1) && machine_) machine_->RequestReset();
    return;
  }
  switch (v) {
    case 0xa7:
      ram_[0] |= kCtrAuxOff;
      break;
    case 0xa8:
      ram_[0] &= uint8_t(~kCtrAuxOff);
      break;
    case 0xa9:
      Reply(0x00);
      break;  // aux interface test: no error
    case 0xaa:
      sys_flag_ = true;
      Reply(0x55);
      break;
    case 0xab:
      Reply(0x00);
      break;  // keyboard interface test: no error
    case 0xad:
      ram_[0] |= kCtrKbdOff;
      break;
    case 0xae:
      ram_[0] &= uint8_t(~kCtrKbdOff);
      break;
    case 0xc0:
      Reply(0x80);
      break;  // input port: keyboard not inhibited
    case 0xd0: {
      uint8_t p = uint8_t((outport_ & ~0x30) | (obf_ && !out_aux_ ? 0x10 : 0) |
                          (obf_ && out_aux_ ? 0x20 : 0));
      Reply(p);
      break;
    }
    case 0xd1:
    case 0xd2:
    case 0xd3:
    case 0xd4:
      pending_ = v;
      break;
    case 0xdd:
      WriteOutputPort(outport_ & uint8_t(~2));
      break;
    case 0xdf:
      WriteOutputPort(outport_ | 2);
      break;
    case 0xe0:
      Reply(0x00);
      break;  // test inputs
    default:
      LogUnimplemented("i8042:" + std::to_string(v),
                       "i8042: unimplemented controller command 0x%02x", v);
      break;
  }
  Fill();
}

void I8042::WriteData(uint8_t v) {
  last_was_command_ = false;
  uint8_t cmd = pending_;
  pending_ = 0;
  if (cmd >= 0x60 && cmd <= 0x7f) {
    ram_[cmd & 0x1f] = v;
    if (cmd == 0x60) sys_flag_ = v & kCtrSys;
  } else if (cmd == 0xd1) {
    WriteOutputPort(v);
  } else if (cmd == 0xd2) {
    Reply(v, false);
  } else if (cmd == 0xd3) {
    Reply(v, true);
  } else if (cmd == 0xd4) {
    mouse_.Write(v);
  } else {
    kbd_.Write(v);
  }
  Fill();
}

void I8042::SaveState(StateWriter& w) const {
  w.Bytes(ram_, sizeof ram_);
  w.U8(out_), w.U8(obf_), w.U8(out_aux_), w.U8(sys_flag_), w.U8(last_was_command_);
  w.U8(pending_), w.U8(outport_), w.U8(xlate_break_);
  w.U8(uint8_t(replies_.size()));
  for (const auto& [b, aux] : replies_) w.U8(b), w.U8(aux);
  kbd_.SaveState(w);
  mouse_.SaveState(w);
}

void I8042::LoadState(StateReader& r) {
  r.Bytes(ram_, sizeof ram_);
  out_ = r.U8(), obf_ = r.U8() & 1, out_aux_ = r.U8() & 1, sys_flag_ = r.U8() & 1;
  last_was_command_ = r.U8() & 1, pending_ = r.U8(), outport_ = r.U8();
  xlate_break_ = r.U8() & 1;
  replies_.clear();
  for (int n = r.U8(); n > 0; n--) {
    uint8_t b = r.U8();
    bool aux = r.U8() & 1;
    if (replies_.size() < 16) replies_.emplace_back(b, aux);
  }
  kbd_.LoadState(r);
  mouse_.LoadState(r);
  UpdateIrq();
}

}  // namespace emu::hw
