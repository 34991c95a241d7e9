// Intel 8042 keyboard controller (data 0x60, status/command 0x64) with a PS/2
// keyboard on its first port (IRQ1) and a PS/2 mouse on the auxiliary port (IRQ12).
//
// The controller has one output buffer. It is refilled, in this order, from the
// controller's own replies, the keyboard (unless disabled by the command byte) and
// the mouse (likewise); reading port 0x60 empties it. With translation on (command
// byte bit 6) keyboard bytes are converted from scan code set 2 to set 1 as the
// real chip does. The output port drives A20 (bit 1, reported through the
// callback) and the CPU reset line (bit 0, active low -> MachineControl).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <utility>

#include "hw/core/device.h"
#include "hw/input/ps2.h"

namespace emu::hw {

class I8042 : public Device {
 public:
  // Any pointer may be null. `a20` is called when the output port's A20 bit
  // changes.
  I8042(MemoryRegion* io, IrqLine* kbd_irq, IrqLine* aux_irq, MachineControl* machine,
        std::function<void(bool)> a20);
  ~I8042() override;

  // Input from the UI (or tests). See Ps2Keyboard::KeyEvent and Ps2Mouse::Move.
  void KeyEvent(uint8_t set1_code, bool extended, bool pressed) {
    kbd_.KeyEvent(set1_code, extended, pressed);
  }
  void MouseEvent(int dx, int dy, int dz, uint8_t buttons) { mouse_.Move(dx, dy, dz, buttons); }
  Ps2Keyboard& keyboard() { return kbd_; }
  Ps2Mouse& mouse() { return mouse_; }

  bool a20() const { return outport_ & 2; }
  uint8_t command_byte() const { return ram_[0]; }

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  uint8_t ReadData();
  uint8_t ReadStatus() const;
  void WriteData(uint8_t v);
  void WriteCommand(uint8_t v);
  void WriteOutputPort(uint8_t v);
  void Reply(uint8_t b, bool aux = false);
  void Fill();
  void UpdateIrq();

  MemoryRegion* io_;
  IrqLine* kbd_irq_;
  IrqLine* aux_irq_;
  MachineControl* machine_;
  std::function<void(bool)> a20_cb_;
  Ps2Keyboard kbd_;
  Ps2Mouse mouse_;
  std::deque<std::pair<uint8_t, bool>> replies_;  // controller output: byte, from aux
  uint8_t ram_[32] = {};                          // ram_[0] is the command byte
  uint8_t out_ = 0;
  bool obf_ = false, out_aux_ = false;
  bool sys_flag_ = false;
  bool last_was_command_ = false;
  bool xlate_break_ = false;  // translation saw an F0 prefix
  uint8_t pending_ = 0;       // command waiting for its data byte
  uint8_t outport_ = 0;
  std::unique_ptr<MemoryRegion> data_mr_, cmd_mr_;
};

}  // namespace emu::hw
