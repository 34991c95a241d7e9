#include "hw/intc/apic.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "hw/core/log.h"

namespace emu::hw {

namespace {

constexpr uint32_t kLvtMasked = 1u << 16;
constexpr uint32_t kLvtRemoteIrr = 1u << 14;
constexpr uint32_t kLvtLevel = 1u << 15;
// LVT indices (the Reg enum has the register offsets of the same names).
constexpr int kIdxTimer = 0, kIdxLint0 = 3, kIdxLint1 = 4, kIdxError = 5;
// Writable bits of each LVT entry (timer, thermal, perf, LINT0, LINT1, error).
constexpr uint32_t kLvtWritable[6] = {0x700ff, 0x107ff, 0x107ff, 0x1a7ff, 0x1a7ff, 0x100ff};
// ESR bits.
constexpr uint32_t kEsrSendIllegalVector = 1u << 5;
constexpr uint32_t kEsrReceiveIllegalVector = 1u << 6;
constexpr uint32_t kEsrIllegalRegister = 1u << 7;

void Unimplemented(const char* what) {
  LogUnimplemented(std::string("lapic:") + what, "lapic: unimplemented: %s", what);
}

}  // namespace

Lapic::Lapic(ApicBus* bus, Clock* clock, int index, uint8_t apic_id)
    : Device("lapic"),
      bus_(bus),
      clock_(clock),
      index_(index),
      initial_id_(apic_id),
      id_(uint32_t(apic_id) << 24),
      timer_(clock, [this] { OnTimer(); }) {
  Reset();
}

Lapic::~Lapic() = default;

int Lapic::Highest(const Bits& b) {
  for (int i = 7; i >= 0; i--)
    if (b[i]) return i * 32 + 31 - __builtin_clz(b[i]);
  return -1;
}

void Lapic::Reset() {
  apic_base_ = kDefaultBase | kBaseEnable | (index_ == 0 ? kBaseBsp : 0);
  id_ = uint32_t(initial_id_) << 24;
  ResetRegisters(true);
  // Virtual wire, as an MP-spec BIOS leaves it: the PIC reaches the BSP.
  if (bsp()) lvt_[kIdxLint0] = 0x700;
  Update();
}

void Lapic::ResetRegisters(bool power_on) {
  if (power_on) id_ = uint32_t(initial_id_) << 24;
  tpr_ = ldr_ = 0;
  dfr_ = 0xffffffff;
  svr_ = 0xff;
  esr_ = esr_pending_ = 0;
  icr_lo_ = icr_hi_ = 0;
  lvt_.fill(kLvtMasked);
  irr_ = {};
  isr_ = {};
  tmr_ = {};
  timer_initial_ = timer_divide_ = 0;
  timer_running_ = false;
  tsc_deadline_ns_ = 0;
  timer_.Del();
  extint_msg_ = false;
}

uint32_t Lapic::ppr() const {
  int isrv = Highest(isr_);
  if (isrv < 0) isrv = 0;
  if ((tpr_ >> 4) >= uint32_t(isrv >> 4)) return tpr_ & 0xff;
  return uint32_t(isrv) & 0xf0;
}

uint32_t Lapic::Apr() const {
  int isrv = std::max(Highest(isr_), 0), irrv = std::max(Highest(irr_), 0);
  uint32_t t = tpr_ >> 4;
  if (t >= uint32_t(irrv >> 4) && t > uint32_t(isrv >> 4)) return tpr_ & 0xff;
  return std::max({tpr_ & 0xf0, uint32_t(isrv) & 0xf0, uint32_t(irrv) & 0xf0});
}

bool Lapic::ExtIntPending() const {
  if (!hw_enabled()) return lint0_;
  if (extint_msg_) return true;
  uint32_t l = lvt_[kIdxLint0];
  return lint0_ && ((l >> 8) & 7) == ApicMessage::kExtInt && !(l & kLvtMasked);
}

bool Lapic::InterruptPending() const {
  if (ExtIntPending()) return true;
  int v = Highest(irr_);
  return v >= 0 && uint32_t(v >> 4) > (ppr() >> 4);
}

void Lapic::Update() {
  bool p = InterruptPending();
  pending_hint_.store(p, std::memory_order_release);
  if (p && kick) kick();
}

int Lapic::Acknowledge() {
  if (ExtIntPending()) {
    extint_msg_ = false;
    int v = bus_->ExtIntAcknowledge();
    Update();
    return v;
  }
  int v = Highest(irr_);
  if (v < 0) return -1;
  if (uint32_t(v >> 4) <= (ppr() >> 4)) return int(svr_ & 0xff);  // spurious: ISR untouched
  ClearBit(irr_, v);
  SetBit(isr_, v);
  Update();
  return v;
}

void Lapic::SetTpr(uint8_t tpr) {
  tpr_ = tpr;
  Update();
}

void Lapic::SetApicBase(uint64_t value) {
  if ((value & 0x000ffffffffff000ull) != kDefaultBase) Unimplemented("LAPIC relocation");
  if (value & (1u << 10)) Unimplemented("x2APIC mode (APIC_BASE bit 10)");
  bool was = hw_enabled(), en = (value & kBaseEnable) != 0;
  apic_base_ = kDefaultBase | (apic_base_ & kBaseBsp) | (en ? kBaseEnable : 0);
  if (was && !en) ResetRegisters(false);
  Update();
}

bool Lapic::MatchesPhysical(uint8_t dest) const { return dest == 0xff || dest == id(); }

bool Lapic::MatchesLogical(uint8_t dest) const {
  if (dest == 0xff) return true;
  uint8_t l = uint8_t(ldr_ >> 24);
  switch (dfr_ >> 28) {
    case 0xf:  // flat: one bit per APIC
      return (l & dest) != 0;
    case 0x0:  // cluster: high nibble cluster (15 = all clusters), low nibble members
      return ((dest >> 4) == 0xf || (dest >> 4) == (l >> 4)) && (dest & l & 0xf) != 0;
    default:
      return false;
  }
}

bool Lapic::AcceptFixed(uint8_t vector, bool level) {
  if (vector < 16) {
    RaiseError(kEsrReceiveIllegalVector);
    return false;
  }
  SetBit(irr_, vector);
  if (level)
    SetBit(tmr_, vector);
  else
    ClearBit(tmr_, vector);
  Update();
  return true;
}

bool Lapic::Accept(const ApicMessage& m) {
  if (!hw_enabled()) return false;  // off the bus
  switch (m.mode) {
    case ApicMessage::kFixed:
    case ApicMessage::kLowestPriority:
      if (!sw_enabled()) return false;
      return AcceptFixed(m.vector, m.level);
    case ApicMessage::kNmi:
      if (on_nmi) on_nmi();
      return true;
    case ApicMessage::kInit:
      if (!m.assert) return true;  // INIT level de-assert: nothing to do on this APIC
      ResetRegisters(false);
      Update();
      if (on_init) on_init();
      return true;
    case ApicMessage::kStartup:
      if (on_sipi) on_sipi(m.vector);
      return true;
    case ApicMessage::kExtInt:
      extint_msg_ = true;
      Update();
      return true;
    case ApicMessage::kSmi:
      Unimplemented("SMI delivery");
      return false;
    default:
      return false;
  }
}

void Lapic::RaiseError(uint32_t bit) {
  if (LogEnabled(LogMask::kGuestErrors))
    Log(LogMask::kGuestErrors, "lapic %d: error: %s", id(),
        bit == kEsrIllegalRegister        ? "illegal register address"
        : bit == kEsrSendIllegalVector    ? "sent an illegal vector (< 16)"
        : bit == kEsrReceiveIllegalVector ? "received an illegal vector (< 16)"
                                          : "other");
  esr_pending_ |= bit;
  DeliverLvt(kIdxError);
}

void Lapic::DeliverLvt(int i) {
  uint32_t l = lvt_[size_t(i)];
  if (l & kLvtMasked) return;
  int mode = (i == kIdxTimer || i == kIdxError) ? 0 : (l >> 8) & 7;
  uint8_t vec = uint8_t(l);
  switch (mode) {
    case ApicMessage::kFixed: {
      bool level = (i == kIdxLint0 || i == kIdxLint1) && (l & kLvtLevel);
      if (level && (l & kLvtRemoteIrr)) return;  // still in service: wait for the EOI
      if (vec < 16) {
        if (i != kIdxError) RaiseError(kEsrReceiveIllegalVector);
        return;
      }
      AcceptFixed(vec, level);
      if (level) lvt_[size_t(i)] |= kLvtRemoteIrr;
      break;
    }
    case ApicMessage::kNmi:
      if (on_nmi) on_nmi();
      break;
    case ApicMessage::kSmi:
      Unimplemented("SMI delivery");
      break;
    case ApicMessage::kInit: {
      ApicMessage m;
      m.mode = ApicMessage::kInit;
      Accept(m);
      break;
    }
    default:
      break;  // ExtINT is a level seen by ExtIntPending(); others are reserved
  }
}

void Lapic::SetLint0(bool level) {
  bool rising = level && !lint0_;
  lint0_ = level;
  if (hw_enabled()) {
    uint32_t l = lvt_[kIdxLint0];
    if (rising || (level && (l & kLvtLevel))) DeliverLvt(kIdxLint0);
  }
  Update();
}

void Lapic::SetLint1(bool level) {
  bool rising = level && !lint1_;
  lint1_ = level;
  if (!hw_enabled()) {
    if (rising && on_nmi) on_nmi();  // the plain NMI pin
    return;
  }
  uint32_t l = lvt_[kIdxLint1];
  if (rising || (level && (l & kLvtLevel))) DeliverLvt(kIdxLint1);
  Update();
}

void Lapic::Eoi() {
  int v = Highest(isr_);
  if (v < 0) return;
  ClearBit(isr_, v);
  // Level-triggered LINT inputs: the EOI ends their remote IRR.
  for (int i : {kIdxLint0, kIdxLint1}) {
    uint32_t& l = lvt_[size_t(i)];
    if ((l & kLvtRemoteIrr) && uint8_t(l) == v) {
      l &= ~kLvtRemoteIrr;
      if (i == kIdxLint0 ? lint0_ : lint1_) DeliverLvt(i);
    }
  }
  if (Test(tmr_, v)) bus_->BroadcastEoi(uint8_t(v));
  Update();
}

void Lapic::SendIpi() {
  ApicMessage m;
  m.vector = uint8_t(icr_lo_);
  m.mode = uint8_t((icr_lo_ >> 8) & 7);
  m.logical = (icr_lo_ >> 11) & 1;
  m.assert = (icr_lo_ >> 14) & 1;
  bool level = (icr_lo_ >> 15) & 1;
  int shorthand = (icr_lo_ >> 18) & 3;
  m.dest = uint8_t(icr_hi_ >> 24);
  if (m.mode == ApicMessage::kInit && !m.assert && level) return;  // INIT level de-assert
  if ((m.mode == ApicMessage::kFixed || m.mode == ApicMessage::kLowestPriority) && m.vector < 16) {
    RaiseError(kEsrSendIllegalVector);
    return;
  }
  m.level = level && (m.mode == ApicMessage::kFixed || m.mode == ApicMessage::kLowestPriority);
  m.assert = true;
  bus_->SendIpi(index_, shorthand, m);
}

void Lapic::WriteSvr(uint32_t value) {
  svr_ = value & 0x3ff;  // vector, enable, focus checking (no EOI-broadcast suppression)
  if (!sw_enabled())
    for (uint32_t& l : lvt_) l |= kLvtMasked;
  Update();
}

void Lapic::WriteLvt(int i, uint32_t value) {
  uint32_t& l = lvt_[size_t(i)];
  int old_mode = TimerMode();
  uint32_t keep = (i == kIdxLint0 || i == kIdxLint1) ? (l & kLvtRemoteIrr) : 0;
  l = (value & kLvtWritable[i] & ~kLvtRemoteIrr) | keep;
  if (!sw_enabled()) l |= kLvtMasked;  // cannot be unmasked while software-disabled
  if (i == kIdxTimer) {
    if ((old_mode == kModeTscDeadline) != (TimerMode() == kModeTscDeadline)) {
      // Entering or leaving TSC-deadline mode disarms the timer.
      timer_running_ = false;
      tsc_deadline_ns_ = 0;
    }
    if (TimerMode() == 3) Unimplemented("reserved LAPIC timer mode 3 (one-shot)");
    ArmTimer();
  } else if (i == kIdxLint0 || i == kIdxLint1) {
    bool pin = i == kIdxLint0 ? lint0_ : lint1_;
    if (pin && (l & kLvtLevel)) DeliverLvt(i);  // a held level input now unmasked
  }
  Update();
}

// --- timer ---

int Lapic::Divide() const {
  uint32_t d = ((timer_divide_ >> 1) & 4) | (timer_divide_ & 3);
  return 1 << ((d + 1) & 7);  // 000 -> 2 ... 110 -> 128, 111 -> 1
}

uint32_t Lapic::CurrentCount() const {
  if (!timer_running_ || timer_initial_ == 0 || TimerMode() == kModeTscDeadline) return 0;
  int64_t ticks = (clock_->Now() - timer_start_) / Divide();
  if (ticks < 0) ticks = 0;
  if (TimerMode() == 1) return timer_initial_ - uint32_t(ticks % timer_initial_);
  return ticks >= int64_t(timer_initial_) ? 0 : timer_initial_ - uint32_t(ticks);
}

void Lapic::StartTimer(int64_t now) {
  timer_start_ = now;
  timer_running_ = timer_initial_ != 0;
  ArmTimer();
}

void Lapic::ArmTimer() {
  if (TimerMode() == kModeTscDeadline) {
    if (tsc_deadline_ns_)
      timer_.Mod(tsc_deadline_ns_);
    else
      timer_.Del();
    return;
  }
  if (!timer_running_) {
    timer_.Del();
    return;
  }
  int64_t period = int64_t(timer_initial_) * Divide();
  if (TimerMode() == 1) {
    int64_t k = (clock_->Now() - timer_start_) / period + 1;
    if (k < 1) k = 1;
    timer_.Mod(timer_start_ + k * period);
  } else {
    timer_.Mod(timer_start_ + period);
  }
}

void Lapic::SetTscDeadlineNs(int64_t deadline_ns) {
  if (TimerMode() != kModeTscDeadline) return;  // the MSR ignores writes then
  tsc_deadline_ns_ = deadline_ns > 0 ? deadline_ns : 0;
  if (tsc_deadline_ns_ && tsc_deadline_ns_ <= clock_->Now()) {
    tsc_deadline_ns_ = 0;  // already passed: interrupt at once
    DeliverLvt(kIdxTimer);
  }
  ArmTimer();
}

void Lapic::OnTimer() {
  if (TimerMode() == kModeTscDeadline) {
    if (tsc_deadline_ns_ && clock_->Now() >= tsc_deadline_ns_) {
      tsc_deadline_ns_ = 0;
      DeliverLvt(kIdxTimer);
    }
    return;
  }
  if (!timer_running_) return;
  // Periods missed by a late callback are coalesced into one interrupt.
  if (TimerMode() != 1) timer_running_ = false;
  DeliverLvt(kIdxTimer);
  ArmTimer();
}

// --- registers ---

uint32_t Lapic::ReadReg(uint32_t off) {
  if (off >= kIsr && off < kIsr + 0x80) return isr_[(off - kIsr) / 16];
  if (off >= kTmr && off < kTmr + 0x80) return tmr_[(off - kTmr) / 16];
  if (off >= kIrr && off < kIrr + 0x80) return irr_[(off - kIrr) / 16];
  if (off >= kLvtTimer && off <= kLvtError) return lvt_[(off - kLvtTimer) / 16];
  switch (off) {
    case kId:
      return id_;
    case kVersionReg:
      return kVersion;
    case kTpr:
      return tpr_;
    case kApr:
      return Apr();
    case kPpr:
      return ppr();
    case kEoi:
      return 0;
    case kRrd:
      return 0;
    case kLdr:
      return ldr_;
    case kDfr:
      return dfr_;
    case kSvr:
      return svr_;
    case kEsr:
      return esr_;
    case kIcrLo:
      return icr_lo_;  // delivery status always idle: IPIs complete at once
    case kIcrHi:
      return icr_hi_;
    case kTimerInitial:
      return timer_initial_;
    case kTimerCurrent:
      return CurrentCount();
    case kTimerDivide:
      return timer_divide_;
    default:
      RaiseError(kEsrIllegalRegister);
      return 0;
  }
}

void Lapic::WriteReg(uint32_t off, uint32_t v) {
  if (off >= kLvtTimer && off <= kLvtError) {
    WriteLvt(int((off - kLvtTimer) / 16), v);
    return;
  }
  // Read-only registers ignore writes.
  if ((off >= kIsr && off < kIrr + 0x80) || off == kVersionReg || off == kApr || off == kPpr ||
      off == kRrd || off == kTimerCurrent)
    return;
  switch (off) {
    case kId:
      id_ = v & 0xff000000;
      break;
    case kTpr:
      SetTpr(uint8_t(v));
      break;
    case kEoi:
      Eoi();
      break;
    case kLdr:
      ldr_ = v & 0xff000000;
      break;
    case kDfr:
      dfr_ = (v & 0xf0000000) | 0x0fffffff;
      break;
    case kSvr:
      WriteSvr(v);
      break;
    case kEsr:  // latches the errors seen since the last write
      esr_ = esr_pending_;
      esr_pending_ = 0;
      break;
    case kIcrLo:
      icr_lo_ = v & 0x000ccfff;
      SendIpi();
      break;
    case kIcrHi:
      icr_hi_ = v & 0xff000000;
      break;
    case kTimerInitial:
      if (TimerMode() == kModeTscDeadline) break;  // ignored in TSC-deadline mode
      timer_initial_ = v;
      StartTimer(clock_->Now());
      break;
    case kTimerDivide: {
      int64_t now = clock_->Now();
      if (timer_running_) {  // keep the count where it is, continue at the new rate
        int64_t ticks = (now - timer_start_) / Divide();
        timer_divide_ = v & 0xb;
        timer_start_ = now - ticks * Divide();
        ArmTimer();
      } else {
        timer_divide_ = v & 0xb;
      }
      break;
    }
    default:
      RaiseError(kEsrIllegalRegister);
      break;
  }
}

// --- state ---

void Lapic::SaveState(StateWriter& w) const {
  w.U32(id_), w.U64(apic_base_), w.U32(tpr_), w.U32(ldr_), w.U32(dfr_), w.U32(svr_);
  w.U32(esr_), w.U32(esr_pending_), w.U32(icr_lo_), w.U32(icr_hi_);
  for (uint32_t l : lvt_) w.U32(l);
  for (const Bits* b : {&irr_, &isr_, &tmr_})
    for (uint32_t v : *b) w.U32(v);
  w.U32(timer_initial_), w.U32(timer_divide_), w.U64(uint64_t(timer_start_));
  w.U64(uint64_t(tsc_deadline_ns_));
  w.U8(uint8_t(timer_running_ | lint0_ << 1 | lint1_ << 2 | extint_msg_ << 3));
}

void Lapic::LoadState(StateReader& r) {
  id_ = r.U32() & 0xff000000;
  uint64_t base = r.U64();
  apic_base_ = kDefaultBase | (apic_base_ & kBaseBsp) | (base & kBaseEnable);
  tpr_ = r.U32() & 0xff, ldr_ = r.U32() & 0xff000000;
  dfr_ = (r.U32() & 0xf0000000) | 0x0fffffff;
  svr_ = r.U32() & 0x3ff;
  esr_ = r.U32() & 0xe0, esr_pending_ = r.U32() & 0xe0;
  icr_lo_ = r.U32() & 0x000ccfff, icr_hi_ = r.U32() & 0xff000000;
  for (size_t i = 0; i < lvt_.size(); i++) lvt_[i] = r.U32() & (kLvtWritable[i] | kLvtRemoteIrr);
  for (Bits* b : {&irr_, &isr_, &tmr_})
    for (uint32_t& v : *b) v = r.U32();
  timer_initial_ = r.U32(), timer_divide_ = r.U32() & 0xb;
  timer_start_ = int64_t(r.U64());
  tsc_deadline_ns_ = std::max<int64_t>(int64_t(r.U64()), 0);
  uint8_t f = r.U8();
  timer_running_ = (f & 1) && timer_initial_ != 0;
  lint0_ = f & 2, lint1_ = f & 4, extint_msg_ = f & 8;
  ArmTimer();
  Update();
}

// --- bus ---

ApicBus::ApicBus(int cpus, Clock* clock) {
  if (cpus < 1 || cpus > 255) throw std::invalid_argument("apic: cpu count out of range");
  for (int i = 0; i < cpus; i++)
    lapics_.push_back(std::make_unique<Lapic>(this, clock, i, uint8_t(i)));
}

ApicBus::~ApicBus() = default;

void ApicBus::Reset() {
  for (auto& l : lapics_) l->Reset();
}

void ApicBus::SetExtIntLevel(bool level) {
  for (auto& l : lapics_) l->SetLint0(level);
}

int ApicBus::Deliver(const ApicMessage& m) {
  std::vector<Lapic*> targets;
  for (auto& l : lapics_)
    if (m.logical ? l->MatchesLogical(m.dest) : l->MatchesPhysical(m.dest))
      targets.push_back(l.get());
  if (m.mode == ApicMessage::kLowestPriority && targets.size() > 1) {
    // Arbitration: the enabled target with the lowest processor priority, ties to
    // the lowest index (no focus processor).
    Lapic* best = nullptr;
    for (Lapic* l : targets) {
      if (!l->hw_enabled() || !l->sw_enabled()) continue;
      if (!best || l->ppr() < best->ppr()) best = l;
    }
    targets.assign(1, best ? best : targets.front());
  }
  int accepted = 0;
  for (Lapic* l : targets) accepted += l->Accept(m) ? 1 : 0;
  return accepted;
}

int ApicBus::SendIpi(int from, int shorthand, const ApicMessage& m) {
  if (shorthand == 0) return Deliver(m);
  if (shorthand == 1) return lapic(from)->Accept(m) ? 1 : 0;
  int accepted = 0;
  for (auto& l : lapics_) {
    if (shorthand == 3 && l->index() == from) continue;
    accepted += l->Accept(m) ? 1 : 0;
  }
  return accepted;
}

std::unique_ptr<MemoryRegion> ApicBus::CreateMmioRegion(std::function<int()> current_cpu) {
  auto pick = [this, current_cpu](uint64_t off, unsigned size) -> Lapic* {
    int cpu = current_cpu ? current_cpu() : 0;
    if (cpu < 0 || cpu >= num_cpus()) {
      Log(LogMask::kGuestErrors, "lapic: access from outside a vCPU (cpu %d) ignored", cpu);
      return nullptr;
    }
    if (size != 4 || (off & 15) != 0) {
      Log(LogMask::kGuestErrors,
          "lapic %d: %u-byte access at offset 0x%03x ignored (registers take aligned 32-bit "
          "accesses)",
          cpu, size, unsigned(off));
      return nullptr;
    }
    Lapic* l = lapic(cpu);
    return l->hw_enabled() ? l : nullptr;  // a disabled LAPIC does not decode its window
  };
  MmioOps ops;
  ops.min_size = 1;
  ops.max_size = 4;
  ops.read = [pick](uint64_t off, unsigned size) -> uint64_t {
    Lapic* l = pick(off, size);
    return l ? l->ReadReg(uint32_t(off)) : 0;
  };
  ops.write = [pick](uint64_t off, uint64_t v, unsigned size) {
    if (Lapic* l = pick(off, size)) l->WriteReg(uint32_t(off), uint32_t(v));
  };
  return MemoryRegion::Mmio("lapic", 0x1000, ops);
}

}  // namespace emu::hw
