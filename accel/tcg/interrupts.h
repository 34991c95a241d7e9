// How an interrupt controller feeds a TCG vCPU. Device threads call
// TcgVcpu::InterruptRequest() when the controller's output changes (it sets an
// atomic flag and kicks the running loop); the vCPU then asks the source at the
// next instruction boundary where interrupts are enabled.
#pragma once

namespace emu::accel::tcg {

class InterruptSource {
 public:
  virtual ~InterruptSource() = default;
  // True when a maskable interrupt is waiting (the INTR line is high).
  virtual bool Pending() = 0;
  // INTA cycle: returns the vector (0-255), or -1 if the request went away.
  virtual int Acknowledge() = 0;
};

}  // namespace emu::accel::tcg
