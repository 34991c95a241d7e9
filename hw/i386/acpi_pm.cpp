#include "hw/i386/acpi_pm.h"

#include <cstdio>

#include "hw/core/log.h"

namespace emu::hw {

namespace {

// The 16-bit registers of the block, by offset.
constexpr uint16_t kRegPm1Sts = 0x00, kRegPm1En = 0x02, kRegPm1Cnt = 0x04, kRegTimer = 0x08;
constexpr uint16_t kRegGpeSts = kAcpiGpe0Offset, kRegGpeEn = kAcpiGpe0Offset + 2;
constexpr uint64_t kTimerPeriodBit = 1ull << 23;  // TMR_STS is set when bit 23 toggles

}  // namespace

AcpiPm::AcpiPm(Clock* clock, IrqLine* sci, MachineControl* machine)
    : Device("acpi-pm"),
      clock_(clock),
      sci_(sci),
      machine_(machine),
      overflow_timer_(clock, [this] { OnOverflow(); }) {
  Reset();
}

AcpiPm::~AcpiPm() {
  if (!io_root_) return;
  if (pm_region_) io_root_->RemoveSubregion(pm_region_.get());
  if (reset_region_) io_root_->RemoveSubregion(reset_region_.get());
}

void AcpiPm::MapPorts(MemoryRegion* io_root, uint16_t base, bool reset_port) {
  io_root_ = io_root;
  MmioOps ops;
  ops.min_size = 1;
  ops.max_size = 4;
  ops.read = [this](uint64_t off, unsigned size) { return Read(off, size); };
  ops.write = [this](uint64_t off, uint64_t v, unsigned size) { Write(off, v, size); };
  pm_region_ = MemoryRegion::Mmio("acpi-pm", kAcpiPmSize, ops);
  io_root->AddSubregion(base, pm_region_.get());
  if (!reset_port) return;
  MmioOps rops;
  rops.min_size = 1;
  rops.max_size = 1;
  rops.read = [this](uint64_t, unsigned) -> uint64_t { return reset_control_; };
  rops.write = [this](uint64_t, uint64_t v, unsigned) { WriteResetControl(uint8_t(v)); };
  reset_region_ = MemoryRegion::Mmio("reset-control", 1, rops);
  // Above a PCI host's 0xcf8-0xcff window if one is mapped there.
  io_root->AddSubregion(kResetControlPort, reset_region_.get(), 1);
}

uint64_t AcpiPm::Ticks() const {
  int64_t now = clock_->Now();
  if (now < 0) now = 0;
  return uint64_t((unsigned __int128)uint64_t(now) * kPmTimerHz / kNsPerSec);
}

uint32_t AcpiPm::TimerValue() const { return uint32_t(Ticks() & 0xffffff); }

uint64_t AcpiPm::Read(uint64_t offset, unsigned size) {
  uint64_t v = 0;
  for (unsigned i = 0; i < size; i++) {
    uint64_t o = offset + i;
    uint64_t reg = 0;
    unsigned shift = 0;
    if (o >= kRegTimer && o < kRegTimer + 4) {
      reg = TimerValue();
      shift = unsigned(o - kRegTimer) * 8;
    } else {
      switch (o & ~1ull) {
        case kRegPm1Sts:
          OnOverflow();  // bring TMR_STS up to date
          reg = pm1_sts_;
          break;
        case kRegPm1En: reg = pm1_en_; break;
        case kRegPm1Cnt: reg = pm1_cnt_; break;
        case kRegGpeSts: reg = gpe_sts_; break;
        case kRegGpeEn: reg = gpe_en_; break;
        default: reg = 0; break;
      }
      shift = unsigned(o & 1) * 8;
    }
    v |= ((reg >> shift) & 0xff) << (8 * i);
  }
  return v;
}

void AcpiPm::Write(uint64_t offset, uint64_t value, unsigned size) {
  // Group the written bytes by 16-bit register; `mask` says which bits were written
  // (a byte write to a write-1-to-clear register leaves the other byte alone).
  bool hit = false;
  for (uint16_t reg : {kRegPm1Sts, kRegPm1En, kRegPm1Cnt, kRegGpeSts, kRegGpeEn}) {
    uint16_t v = 0, mask = 0;
    for (unsigned i = 0; i < size; i++) {
      uint64_t o = offset + i;
      if (o < reg || o >= reg + 2u) continue;
      unsigned sh = unsigned(o - reg) * 8;
      v |= uint16_t(((value >> (8 * i)) & 0xff) << sh);
      mask |= uint16_t(0xff << sh);
    }
    if (!mask) continue;
    hit = true;
    switch (reg) {
      case kRegPm1Sts:
        pm1_sts_ &= uint16_t(~(v & mask));
        break;
      case kRegPm1En:
        pm1_en_ = uint16_t((pm1_en_ & ~mask) | (v & mask));
        ArmOverflowTimer();
        break;
      case kRegPm1Cnt: {
        uint16_t cnt = uint16_t((pm1_cnt_ & ~mask) | (v & mask));
        pm1_cnt_ = uint16_t(cnt & ~kPm1SlpEn);  // SLP_EN is write-only
        if (cnt & kPm1SlpEn) {
          unsigned typ = (cnt >> 10) & 7;
          if (typ == kSlpTypS5) {
            if (machine_) machine_->RequestPowerOff();
          } else {
            LogUnimplemented("acpi-pm:sleep",
                             "acpi-pm: unimplemented: sleep type %u (only S5 soft-off)", typ);
          }
        }
        break;
      }
      case kRegGpeSts:
        gpe_sts_ &= uint16_t(~(v & mask));
        break;
      case kRegGpeEn:
        gpe_en_ = uint16_t((gpe_en_ & ~mask) | (v & mask));
        break;
    }
  }
  if (!hit)
    Log(LogMask::kGuestErrors, "acpi-pm: %u-byte write 0x%llx to offset 0x%02x, which is %s", size,
        static_cast<unsigned long long>(value), unsigned(offset),
        offset >= kRegTimer && offset < kRegTimer + 4u ? "the read-only PM timer"
                                                      : "not a register");
  UpdateSci();
}

void AcpiPm::WriteResetControl(uint8_t value) {
  // Bit 2 (RST_CPU) starts the reset; bits 1 (SYS_RST, hard) and 3 (full) only
  // qualify it, so 0x06 and 0x0e both reset. The bit reads back as 0.
  reset_control_ = uint8_t(value & ~0x04);
  if ((value & 0x04) && machine_) machine_->RequestReset();
}

void AcpiPm::PressPowerButton() {
  pm1_sts_ |= kPm1PwrBtnSts;
  UpdateSci();
}

void AcpiPm::SetGpeStatus(uint16_t bits) {
  gpe_sts_ |= bits;
  UpdateSci();
}

void AcpiPm::UpdateSci() {
  constexpr uint16_t kEvents = kPm1TmrSts | kPm1GblSts | kPm1PwrBtnSts | kPm1RtcSts;
  bool level = (pm1_cnt_ & kPm1SciEn) &&
               ((pm1_sts_ & pm1_en_ & kEvents) || (gpe_sts_ & gpe_en_));
  if (sci_ && level != sci_->level()) sci_->Set(level);
}

// The timer's overflow bit: TMR_STS is set whenever bit 23 of the counter has
// toggled since we last looked; an armed Timer makes that happen on time when the
// guest enabled the interrupt.
void AcpiPm::OnOverflow() {
  uint64_t period = Ticks() / kTimerPeriodBit;
  if (period != last_period_) {
    last_period_ = period;
    pm1_sts_ |= kPm1TmrSts;
    UpdateSci();
  }
  ArmOverflowTimer();
}

void AcpiPm::ArmOverflowTimer() {
  if (!(pm1_en_ & kPm1TmrSts)) {
    overflow_timer_.Del();
    return;
  }
  uint64_t next_tick = (Ticks() / kTimerPeriodBit + 1) * kTimerPeriodBit;
  // Round up so that the timer never fires just before the toggle.
  uint64_t ns = uint64_t(((unsigned __int128)next_tick * kNsPerSec + kPmTimerHz - 1) / kPmTimerHz);
  overflow_timer_.Mod(int64_t(ns));
}

void AcpiPm::Reset() {
  pm1_sts_ = 0;
  pm1_en_ = 0;
  pm1_cnt_ = kPm1SciEn;  // ACPI-only hardware: no SMI_CMD handshake
  gpe_sts_ = 0;
  gpe_en_ = 0;
  reset_control_ = 0;
  last_period_ = Ticks() / kTimerPeriodBit;
  overflow_timer_.Del();
  UpdateSci();
}

void AcpiPm::SaveState(StateWriter& w) const {
  w.U16(pm1_sts_);
  w.U16(pm1_en_);
  w.U16(pm1_cnt_);
  w.U16(gpe_sts_);
  w.U16(gpe_en_);
  w.U8(reset_control_);
  w.U64(last_period_);
}

void AcpiPm::LoadState(StateReader& r) {
  pm1_sts_ = r.U16();
  pm1_en_ = r.U16();
  pm1_cnt_ = r.U16();
  gpe_sts_ = r.U16();
  gpe_en_ = r.U16();
  reset_control_ = r.U8();
  last_period_ = r.U64();
  ArmOverflowTimer();
  UpdateSci();
}

}  // namespace emu::hw
