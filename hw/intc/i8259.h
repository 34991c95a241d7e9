// The PC's pair of 8259A programmable interrupt controllers (master at 0x20/0x21,
// slave at 0xa0/0xa1 cascaded on master IR2) plus the PIIX edge/level control
// registers (ELCR) at 0x4d0/0x4d1.
//
// Contract for the CPU side: INTR (intr()) is high while InterruptPending(); the
// CPU calls Acknowledge() when it takes the interrupt (the two INTA cycles) and
// gets the vector. With nothing pending Acknowledge() returns the spurious
// vector of IR7 (master base + 7), as the real chip does.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "hw/core/device.h"

namespace emu::hw {

class I8259 : public Device {
 public:
  // Registers the ports in `io` (the 64 KiB port-I/O root). `io` must outlive
  // the device.
  explicit I8259(MemoryRegion* io);
  ~I8259() override;

  // IRQ 0-15 inputs (devices drive their level; edges are latched here).
  IrqLine* input(int irq);
  // INTR output towards the CPU (connect a sink to it).
  IrqLine* intr() { return &intr_; }

  bool InterruptPending() const;
  int Acknowledge();

  // The vector bases programmed by ICW2 (for tests and the monitor).
  uint8_t vector_base(int chip) const { return chips_[chip & 1].vector_base; }
  uint8_t imr(int chip) const { return chips_[chip & 1].imr; }

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  struct Chip {
    uint8_t irr = 0, isr = 0, imr = 0;
    uint8_t levels = 0;     // current input pin levels
    uint8_t elcr = 0;       // 1 = level triggered (PIIX extension)
    uint8_t elcr_mask = 0;  // which ELCR bits are writable
    uint8_t lowest = 7;     // IR with the lowest priority (rotation)
    uint8_t vector_base = 0;
    uint8_t icw3 = 0;
    uint8_t init_step = 0;  // 0 = ready, 2..4 = expecting ICW2..ICW4
    bool icw4_needed = false, single = false, ltim = false;
    bool auto_eoi = false, rotate_aeoi = false, sfnm = false;
    bool special_mask = false, read_isr = false, poll = false;
  };

  void WriteCmd(int c, uint8_t v);
  void WriteData(int c, uint8_t v);
  uint8_t ReadCmd(int c);
  void SetPin(int c, int pin, bool level);
  bool IsLevel(const Chip& ch, int pin) const { return ch.ltim || (ch.elcr >> pin & 1); }
  // Highest-priority pending request of chip c that may interrupt now, or -1.
  int PendingIrq(int c) const;
  // Priority order: 0 = highest. Returns 8 for an empty mask.
  static int HighestInMask(const Chip& ch, uint8_t mask);
  void AckOn(int c, int pin);
  void Eoi(int c, int pin, bool rotate);
  void Update();

  std::array<Chip, 2> chips_;
  std::array<IrqLine, 16> inputs_;
  IrqLine intr_;
  MemoryRegion* io_;
  std::unique_ptr<MemoryRegion> master_, slave_, elcr_;
};

}  // namespace emu::hw
