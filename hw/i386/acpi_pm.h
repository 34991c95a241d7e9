// The power-management function of a PIIX4-style south bridge, as ACPI sees it
// through the FADT (ACPI spec, "ACPI Hardware Specification" -- fixed hardware):
//
//   base+0x00  PM1 status  (16-bit, write 1 to clear)   TMR, GBL, PWRBTN, RTC, WAK
//   base+0x02  PM1 enable  (16-bit)
//   base+0x04  PM1 control (16-bit) SCI_EN, SLP_TYP (bits 10-12), SLP_EN (bit 13)
//   base+0x08  PM timer    (32-bit read, 24 bits of a 3.579545 MHz counter)
//   base+0x0c  GPE0 status (16-bit, write 1 to clear), base+0x0e GPE0 enable
//   0xcf9      reset control: writing 0x06 or 0x0e resets the machine
//
// SCI (IRQ 9 by default) is asserted while any enabled status bit is set.
// Writing SLP_EN with SLP_TYP = kSlpTypS5 (soft off; 0 on PIIX4) powers the
// machine off: MachineControl::RequestExit(0).
//
// The FADT advertises SMI_CMD = 0 (ACPI-only hardware), so SCI_EN reads as 1
// from reset.
#pragma once

#include <cstdint>
#include <memory>

#include "hw/core/device.h"

namespace emu::hw {

constexpr uint16_t kAcpiPmBase = 0x600;
constexpr uint16_t kAcpiPmSize = 0x40;
constexpr uint16_t kAcpiGpe0Offset = 0x0c;  // GPE0 block: 2 bytes status, 2 enable
constexpr uint8_t kAcpiGpe0Len = 4;
constexpr uint16_t kResetControlPort = 0xcf9;
constexpr uint8_t kSlpTypS5 = 0;  // PIIX4 SUS_TYP 000 = soft off
constexpr uint64_t kPmTimerHz = 3579545;

// PM1 status/enable bits.
constexpr uint16_t kPm1TmrSts = 1 << 0;
constexpr uint16_t kPm1GblSts = 1 << 5;
constexpr uint16_t kPm1PwrBtnSts = 1 << 8;
constexpr uint16_t kPm1RtcSts = 1 << 10;
constexpr uint16_t kPm1WakSts = 1 << 15;
// PM1 control bits.
constexpr uint16_t kPm1SciEn = 1 << 0;
constexpr uint16_t kPm1SlpEn = 1 << 13;

class AcpiPm : public Device {
 public:
  // `sci` is the SCI line (ISA IRQ 9), `clock` the virtual clock.
  AcpiPm(Clock* clock, IrqLine* sci, MachineControl* machine);
  ~AcpiPm() override;

  // Maps the PM block at `base` (0x40 ports) and, when `reset_port` is true, its
  // own one-byte region at 0xcf9. A PCI host bridge that owns 0xcf8-0xcff must
  // instead forward byte writes at 0xcf9 to WriteResetControl() (a 32-bit
  // config-address write to 0xcf8 must not reach the reset register).
  void MapPorts(MemoryRegion* io_root, uint16_t base = kAcpiPmBase, bool reset_port = true);

  uint64_t Read(uint64_t offset, unsigned size);
  void Write(uint64_t offset, uint64_t value, unsigned size);
  uint8_t ReadResetControl() const { return reset_control_; }
  void WriteResetControl(uint8_t value);

  // The 24-bit PM timer value now.
  uint32_t TimerValue() const;
  // Event sources: the power button sets PWRBTN_STS (guest ACPI shuts down).
  void PressPowerButton();
  void SetGpeStatus(uint16_t bits);

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  uint64_t Ticks() const;
  void UpdateSci();
  void ArmOverflowTimer();
  void OnOverflow();

  Clock* clock_;
  IrqLine* sci_;
  MachineControl* machine_;
  Timer overflow_timer_;
  uint16_t pm1_sts_ = 0, pm1_en_ = 0, pm1_cnt_ = kPm1SciEn;
  uint16_t gpe_sts_ = 0, gpe_en_ = 0;
  uint8_t reset_control_ = 0;
  uint64_t last_period_ = 0;  // counter / 2^23 when TMR_STS was last updated
  MemoryRegion* io_root_ = nullptr;
  std::unique_ptr<MemoryRegion> pm_region_, reset_region_;
};

}  // namespace emu::hw
