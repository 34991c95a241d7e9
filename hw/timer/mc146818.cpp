#include "hw/timer/mc146818.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
constexpr int kRegA = 0x0a, kRegB = 0x0b, kRegC = 0x0c, kRegD = 0x0d;
constexpr int kCentury = 0x32;
// Years 1900-2199: what the century byte can express, and RtcNs() cannot overflow.
constexpr int64_t kMinSec = -2208988800LL, kMaxSec = 7258118399LL;
constexpr uint8_t kSet = 0x80, kPie = 0x40, kAie = 0x20, kUie = 0x10, k24h = 0x02, kBinary = 0x04;
constexpr uint8_t kPf = 0x40, kAf = 0x20, kUf = 0x10, kIrqf = 0x80;

// The time and date registers (seconds, minutes, hours, day of week, day,
// month, year, century); the alarm bytes in between are plain RAM.
bool IsClockField(uint8_t i) {
  return i == 0 || i == 2 || i == 4 || (i >= 6 && i <= 9) || i == kCentury;
}

int64_t FloorDiv(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }
int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

// Proleptic Gregorian calendar <-> days since 1970-01-01 (March-based years, so
// the leap day is the last day of the year).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = FloorDiv(y, 400);
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  int64_t era = FloorDiv(z, 146097);
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = int(doy - (153 * mp + 2) / 5 + 1);
  *m = int(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

// 32.768 kHz time-base cycles elapsed at virtual time `ns`.
int64_t Cycles32k(int64_t ns) { return int64_t(static_cast<__int128>(ns) * 32768 / kNsPerSec); }
int64_t CyclesToNs(int64_t cycles) {
  return int64_t((static_cast<__int128>(cycles) * kNsPerSec + 32767) / 32768);
}
}  // namespace

Mc146818::Mc146818(MemoryRegion* io, Clock* clock, IrqLine* irq8, std::optional<int64_t> base_unix)
    : Device("mc146818"),
      clock_(clock),
      irq_(irq8),
      io_(io),
      update_timer_(clock, [this] { OnUpdateEnded(); }),
      periodic_timer_(clock, [this] {
        UpdatePeriodicFlag();
        UpdateIrq();
        ArmPeriodicTimer();
      }) {
  base_sec_ = base_unix ? *base_unix : int64_t(std::time(nullptr));
  base_sec_ = std::clamp<int64_t>(base_sec_, kMinSec, kMaxSec);
  anchor_ns_ = clock_->Now();
  cmos_[kRegA] = 0x26;  // 32.768 kHz time base, 1024 Hz periodic rate
  cmos_[kRegB] = k24h;
  cmos_[kRegD] = 0x80;  // valid RAM and time (battery good)
  MmioOps ops;
  ops.min_size = ops.max_size = 1;
  ops.read = [this](uint64_t off, unsigned) -> uint64_t {
    // The index port is write-only; firmware reads it anyway (to keep the NMI
    // mask bit), so this is not logged as a guest error.
    return off == 0 ? 0xff : Read(index_);
  };
  ops.write = [this](uint64_t off, uint64_t v, unsigned) {
    if (off == 0) {
      index_ = v & 0x7f;
      nmi_masked_ = v & 0x80;
    } else {
      Write(index_, uint8_t(v));
    }
  };
  mr_ = MemoryRegion::Mmio("rtc", 2, ops);
  io_->AddSubregion(0x70, mr_.get());
  RefreshTime();
  Reset();
}

Mc146818::~Mc146818() { io_->RemoveSubregion(mr_.get()); }

void Mc146818::Reset() {
  // The RESET pin clears the interrupt enables and flags; time and RAM survive.
  cmos_[kRegB] &= uint8_t(~(kPie | kAie | kUie | 0x08));
  cmos_[kRegC] = 0;
  int64_t cyc = PeriodCycles();
  last_period_ = cyc ? Cycles32k(clock_->Now()) / cyc : 0;
  UpdateIrq();
  ArmUpdateTimer();
  ArmPeriodicTimer();
}

int64_t Mc146818::RtcNs() const {
  if (Halted()) return base_sec_ * kNsPerSec;  // the divider chain is held in reset
  return base_sec_ * kNsPerSec + (clock_->Now() - anchor_ns_);
}

int64_t Mc146818::UnixTime() const { return FloorDiv(RtcNs(), kNsPerSec); }

bool Mc146818::Uip() const {
  if ((cmos_[kRegB] & kSet) || Halted()) return false;  // updates are inhibited
  int64_t phase = FloorMod(RtcNs(), kNsPerSec);
  return phase >= kNsPerSec - kUipBeforeNs || phase < kUpdateNs;
}

uint8_t Mc146818::Encode(int v) const {
  if (cmos_[kRegB] & kBinary) return uint8_t(v);
  return uint8_t((v / 10) << 4 | v % 10);
}

int Mc146818::Decode(uint8_t v) const {
  if (cmos_[kRegB] & kBinary) return v;
  return (v >> 4) * 10 + (v & 0xf);
}

void Mc146818::RefreshTime() {
  if (cmos_[kRegB] & kSet) return;  // the guest owns the registers while SET
  int64_t s = UnixTime();
  int64_t days = FloorDiv(s, 86400);
  int sod = int(s - days * 86400);
  int64_t y;
  int m, d;
  CivilFromDays(days, &y, &m, &d);
  cmos_[0] = Encode(sod % 60);
  cmos_[2] = Encode(sod / 60 % 60);
  int h = sod / 3600;
  if (cmos_[kRegB] & k24h) {
    cmos_[4] = Encode(h);
  } else {
    int h12 = h % 12 ? h % 12 : 12;
    cmos_[4] = uint8_t(Encode(h12) | (h >= 12 ? 0x80 : 0));
  }
  cmos_[6] = Encode(int(FloorMod(days + 4, 7)) + 1);  // 1970-01-01 was a Thursday; Sunday = 1
  cmos_[7] = Encode(d);
  cmos_[8] = Encode(m);
  cmos_[9] = Encode(int(FloorMod(y, 100)));
  cmos_[kCentury] = Encode(int(FloorDiv(y, 100)) % 100);
}

void Mc146818::CommitTime() {
  // Guest-written fields may be anything: clamp each into its range.
  int sec = std::clamp(Decode(cmos_[0]), 0, 59);
  int min = std::clamp(Decode(cmos_[2]), 0, 59);
  int hour;
  if (cmos_[kRegB] & k24h) {
    hour = std::clamp(Decode(cmos_[4]), 0, 23);
  } else {
    hour = std::clamp(Decode(cmos_[4] & 0x7f), 1, 12) % 12 + (cmos_[4] & 0x80 ? 12 : 0);
  }
  int day = std::clamp(Decode(cmos_[7]), 1, 31);
  int month = std::clamp(Decode(cmos_[8]), 1, 12);
  int year = std::clamp(Decode(cmos_[9]), 0, 99);
  int century = Decode(cmos_[kCentury]);
  if (century < 19 || century > 21) century = 20;
  int64_t days = DaysFromCivil(century * 100 + year, month, day);
  base_sec_ = days * 86400 + hour * 3600 + min * 60 + sec;
}

int64_t Mc146818::PeriodCycles() const {
  int rs = cmos_[kRegA] & 0xf;
  if (rs == 0) return 0;
  if (rs <= 2) return 64 << rs;  // 256 Hz and 128 Hz quirks of the 32.768 kHz base
  return int64_t(1) << (rs - 1);
}

void Mc146818::UpdatePeriodicFlag() {
  int64_t cyc = PeriodCycles();
  if (!cyc || Halted()) return;
  int64_t idx = Cycles32k(clock_->Now()) / cyc;
  if (idx > last_period_) {
    cmos_[kRegC] |= kPf;
    last_period_ = idx;
  }
}

void Mc146818::UpdateIrq() {
  uint8_t flags = cmos_[kRegC] & (kPf | kAf | kUf);
  bool irqf = (flags & cmos_[kRegB] & (kPie | kAie | kUie)) != 0;
  cmos_[kRegC] = uint8_t(flags | (irqf ? kIrqf : 0));
  if (irq_ && irq_->level() != irqf) irq_->Set(irqf);
}

void Mc146818::ArmUpdateTimer() {
  if (Halted()) {
    update_timer_.Del();
    return;
  }
  int64_t delta = kUpdateNs - FloorMod(RtcNs(), kNsPerSec);
  if (delta <= 0) delta += kNsPerSec;
  update_timer_.Mod(clock_->Now() + delta);
}

void Mc146818::ArmPeriodicTimer() {
  periodic_timer_.Del();
  int64_t cyc = PeriodCycles();
  // Without PIE nobody waits for the edge: PF is computed when register C is read.
  if (!cyc || !(cmos_[kRegB] & kPie) || Halted()) return;
  periodic_timer_.Mod(CyclesToNs((last_period_ + 1) * cyc));
}

void Mc146818::OnUpdateEnded() {
  if (!(cmos_[kRegB] & kSet)) {
    RefreshTime();
    uint8_t flags = kUf;
    bool match = true;
    for (int reg : {0, 2, 4}) {
      uint8_t alarm = cmos_[reg + 1];
      if ((alarm & 0xc0) == 0xc0) continue;  // "don't care"
      if (alarm != cmos_[reg]) match = false;
    }
    if (match) flags |= kAf;
    cmos_[kRegC] |= flags;
    UpdateIrq();
  }
  ArmUpdateTimer();
}

uint8_t Mc146818::Read(uint8_t i) {
  if (IsClockField(i)) {
    RefreshTime();
    return cmos_[i];
  }
  switch (i) {
    case kRegA:
      return uint8_t((cmos_[kRegA] & 0x7f) | (Uip() ? 0x80 : 0));
    case kRegC: {
      UpdatePeriodicFlag();
      UpdateIrq();
      uint8_t v = cmos_[kRegC];
      cmos_[kRegC] = 0;
      UpdateIrq();
      return v;
    }
    case kRegD:
      return 0x80;
    default:
      return cmos_[i];
  }
}

void Mc146818::Write(uint8_t i, uint8_t v) {
  if (IsClockField(i) && !(cmos_[kRegB] & kSet)) {
    // Setting a field while running keeps the position within the second.
    int64_t phase = FloorMod(RtcNs(), kNsPerSec);
    RefreshTime();
    cmos_[i] = v;
    CommitTime();
    anchor_ns_ = clock_->Now() - phase;
    ArmUpdateTimer();
    return;
  }
  switch (i) {
    case kRegA: {
      UpdatePeriodicFlag();
      bool was_halted = Halted();
      int64_t now_sec = UnixTime();
      uint8_t old_dv = cmos_[kRegA] & 0x70, dv = v & 0x70;
      cmos_[kRegA] = v & 0x7f;
      if (dv != old_dv && dv != 0x20 && dv != 0x60 && dv != 0x70)
        LogUnimplemented("mc146818:divider",
                         "mc146818: unimplemented: divider setting 0x%02x, clock stopped", dv);
      if (!was_halted && Halted())
        base_sec_ = now_sec;  // stopped on the current second
      else if (was_halted && !Halted())
        anchor_ns_ = clock_->Now() - kNsPerSec / 2;  // the first update comes 500 ms later
      if (int64_t cyc = PeriodCycles()) last_period_ = Cycles32k(clock_->Now()) / cyc;
      UpdateIrq();
      ArmUpdateTimer();
      ArmPeriodicTimer();
      break;
    }
    case kRegB: {
      bool was_set = cmos_[kRegB] & kSet, set = v & kSet;
      if (set && !was_set) RefreshTime();  // freeze the current time for the guest to edit
      if (set) v &= uint8_t(~kUie);
      cmos_[kRegB] = v;
      if (was_set && !set) {
        CommitTime();
        anchor_ns_ = clock_->Now();  // the next update comes one second later
      }
      UpdatePeriodicFlag();
      UpdateIrq();
      ArmUpdateTimer();
      ArmPeriodicTimer();
      break;
    }
    case kRegC:
    case kRegD:
      Log(LogMask::kGuestErrors, "mc146818: write 0x%02x to read-only register %c", v,
          i == kRegC ? 'C' : 'D');
      break;
    default:
      cmos_[i] = v;
      break;
  }
}

void Mc146818::UpdateChecksum() {
  unsigned sum = 0;
  for (int i = 0x10; i <= 0x2d; i++) sum += cmos_[i];
  cmos_[0x2e] = uint8_t(sum >> 8);
  cmos_[0x2f] = uint8_t(sum);
}

void Mc146818::SetMemorySize(uint64_t below_4g, uint64_t above_4g) {
  constexpr uint64_t kMiB = 1 << 20;
  auto put16 = [this](int lo, uint64_t v) {
    v = std::min<uint64_t>(v, 0xffff);
    cmos_[lo] = uint8_t(v);
    cmos_[lo + 1] = uint8_t(v >> 8);
  };
  put16(0x15, 640);
  uint64_t ext_kib = below_4g > kMiB ? (below_4g - kMiB) / 1024 : 0;
  put16(0x17, ext_kib);
  put16(0x30, ext_kib);
  put16(0x34, below_4g > 16 * kMiB ? (below_4g - 16 * kMiB) / 65536 : 0);
  uint64_t high = std::min<uint64_t>(above_4g / 65536, 0xffffff);
  cmos_[0x5b] = uint8_t(high);
  cmos_[0x5c] = uint8_t(high >> 8);
  cmos_[0x5d] = uint8_t(high >> 16);
  UpdateChecksum();
}

void Mc146818::SetBootOrder(const std::string& order) {
  if (order.size() > 3) throw ConfigError("boot order '" + order + "': at most 3 devices");
  uint8_t codes[3] = {0, 0, 0};
  // BIOS boot device codes 1..4: floppy, hard disk, CD-ROM, network.
  static const std::string kDevices = "acdn";
  for (size_t i = 0; i < order.size(); i++) {
    size_t code = kDevices.find(order[i]);
    if (code == std::string::npos)
      throw ConfigError(std::string("boot order: unknown device '") + order[i] + "'");
    codes[i] = uint8_t(code + 1);
  }
  cmos_[0x3d] = uint8_t(codes[0] | codes[1] << 4);
  cmos_[0x38] = uint8_t((cmos_[0x38] & 0x0f) | codes[2] << 4);
}

void Mc146818::SetEquipment(uint8_t value) {
  cmos_[0x14] = value;
  UpdateChecksum();
}

void Mc146818::SaveState(StateWriter& w) const {
  w.Bytes(cmos_.data(), cmos_.size());
  w.U8(index_), w.U8(nmi_masked_);
  w.U64(uint64_t(base_sec_)), w.U64(uint64_t(anchor_ns_)), w.U64(uint64_t(last_period_));
}

void Mc146818::LoadState(StateReader& r) {
  r.Bytes(cmos_.data(), cmos_.size());
  index_ = r.U8() & 0x7f, nmi_masked_ = r.U8() & 1;
  base_sec_ = int64_t(r.U64()), anchor_ns_ = int64_t(r.U64()), last_period_ = int64_t(r.U64());
  base_sec_ = std::clamp<int64_t>(base_sec_, kMinSec, kMaxSec);
  UpdateIrq();
  ArmUpdateTimer();
  ArmPeriodicTimer();
}

}  // namespace emu::hw
