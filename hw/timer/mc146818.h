// Motorola MC146818 real-time clock with 128 bytes of CMOS RAM, index port 0x70
// (bit 7 masks NMI), data port 0x71, interrupt on IRQ8.
//
// Time is base time + elapsed virtual time; registers 0-9 (and the century byte
// 0x32) are regenerated from it on read in the format selected by register B
// (BCD/binary, 12/24 h). An update cycle happens at every second boundary: UIP is
// set from 244 us before it until the update ends 1984 us after it, and the
// update-ended and alarm flags are raised at its end. The periodic flag follows
// the rate select of register A.
//
// The machine fills the firmware fields (memory size, boot order, equipment)
// through the setters below before the guest runs.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "hw/core/device.h"

namespace emu::hw {

class Mc146818 : public Device {
 public:
  static constexpr int kUipBeforeNs = 244000;  // UIP rises this long before an update
  static constexpr int kUpdateNs = 1984000;    // duration of the update cycle

  // `base_unix`: the UTC time (seconds since 1970) the clock shows at the moment
  // of creation; host UTC when omitted. `irq8` may be null.
  Mc146818(MemoryRegion* io, Clock* clock, IrqLine* irq8,
           std::optional<int64_t> base_unix = std::nullopt);
  ~Mc146818() override;

  // Raw CMOS access for the machine (no time regeneration, no side effects).
  void SetByte(int index, uint8_t value) { cmos_[index & 0x7f] = value; }
  uint8_t GetByte(int index) const { return cmos_[index & 0x7f]; }
  // Fills 0x15/0x16 (base memory), 0x17/0x18 and 0x30/0x31 (KiB above 1 MiB),
  // 0x34/0x35 (64 KiB units above 16 MiB) and 0x5b-0x5d (64 KiB units above
  // 4 GiB, read by SeaBIOS), then updates the checksum.
  void SetMemorySize(uint64_t below_4g_bytes, uint64_t above_4g_bytes);
  // "cdn"-style order (a floppy, c disk, d CD-ROM, n network), at most three
  // letters: SeaBIOS reads them from 0x3d and the high nibble of 0x38. Throws
  // ConfigError for another letter.
  void SetBootOrder(const std::string& order);
  void SetEquipment(uint8_t value);  // 0x14, then updates the checksum
  // Sum of 0x10-0x2d stored big-endian in 0x2e/0x2f.
  void UpdateChecksum();

  bool nmi_masked() const { return nmi_masked_; }
  // Current RTC time in seconds since 1970 (UTC as far as the guest knows).
  int64_t UnixTime() const;

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  int64_t RtcNs() const;  // RTC time in ns since 1970
  // Divider bits other than 010 (32.768 kHz, running) stop the clock.
  bool Halted() const { return (cmos_[0x0a] & 0x70) != 0x20; }
  bool Uip() const;
  uint8_t Encode(int v) const;  // binary or BCD per register B
  int Decode(uint8_t v) const;
  void RefreshTime();  // registers 0-9 and 0x32 from the current time
  void CommitTime();   // registers -> base time (after the guest set them)
  uint8_t Read(uint8_t index);
  void Write(uint8_t index, uint8_t v);
  void UpdatePeriodicFlag();
  void UpdateIrq();
  void ArmUpdateTimer();
  void ArmPeriodicTimer();
  void OnUpdateEnded();
  int64_t PeriodCycles() const;  // period in 32.768 kHz cycles, 0 = off

  Clock* clock_;
  IrqLine* irq_;
  MemoryRegion* io_;
  std::array<uint8_t, 128> cmos_{};
  uint8_t index_ = 0;
  bool nmi_masked_ = false;
  int64_t base_sec_ = 0;  // RTC seconds at virtual time anchor_ns_
  int64_t anchor_ns_ = 0;
  int64_t last_period_ = 0;  // periodic-interrupt period index last accounted for
  Timer update_timer_, periodic_timer_;
  std::unique_ptr<MemoryRegion> mr_;
};

}  // namespace emu::hw
