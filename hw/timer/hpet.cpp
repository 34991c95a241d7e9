#include "hw/timer/hpet.h"

#include <climits>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
constexpr uint64_t kClkPeriodFs = 10000000;  // 10 ns
// Tn capability bits: periodic capable, 64-bit capable; route cap in 63:32.
constexpr uint64_t kTnCaps = (1u << 4) | (1u << 5) | (uint64_t(Hpet::kRouteCap) << 32);
// Writable Tn config bits: type, enable, periodic, val-set, 32-bit mode, route.
constexpr uint64_t kTnWritable = 0x3f4e;
}  // namespace

Hpet::Hpet(MemoryRegion* memory_root, Clock* clock, std::function<IrqLine*(int)> ioapic_pin,
           IrqLine* legacy0, IrqLine* legacy8, uint64_t base)
    : Device("hpet"),
      root_(memory_root),
      clock_(clock),
      ioapic_pin_(std::move(ioapic_pin)),
      legacy0_(legacy0),
      legacy8_(legacy8) {
  for (int n = 0; n < kTimers; n++)
    timers_[size_t(n)] = std::make_unique<Timer>(clock_, [this, n] { Fire(n); });
  MmioOps ops;
  ops.min_size = 4;
  ops.max_size = 8;
  ops.aligned = true;
  ops.read = [this](uint64_t off, unsigned size) -> uint64_t {
    uint64_t v = Read64(uint32_t(off & ~7ull));
    return size == 8 ? v : (v >> ((off & 4) * 8)) & 0xffffffffu;
  };
  ops.write = [this](uint64_t off, uint64_t v, unsigned size) {
    if (size == 8) {
      Write64(uint32_t(off), v);
      return;
    }
    unsigned shift = unsigned(off & 4) * 8;
    Write64(uint32_t(off & ~7ull), v << shift, 0xffffffffull << shift);
  };
  mmio_ = MemoryRegion::Mmio("hpet", 0x400, ops);
  if (root_) root_->AddSubregion(base, mmio_.get(), 1);
  Reset();
}

Hpet::~Hpet() {
  if (root_) root_->RemoveSubregion(mmio_.get());
}

void Hpet::Reset() {
  bool was_legacy = legacy_mode();
  config_ = 0;
  status_ = 0;
  counter_base_ = 0;
  ns_base_ = clock_->Now();
  for (int n = 0; n < kTimers; n++) {
    Tn& t = tn_[size_t(n)];
    t.config = 0;
    t.cmp = ~0ull;
    t.period = 0;
    timers_[size_t(n)]->Del();
  }
  if (was_legacy && on_legacy_change) on_legacy_change(false);
  for (int n = 0; n < kTimers; n++) UpdateOutput(n);
}

void Hpet::SaveState(StateWriter& w) const {
  w.U64(config_), w.U64(status_), w.U64(counter_base_), w.U64(uint64_t(ns_base_));
  for (const Tn& t : tn_) w.U64(t.config), w.U64(t.cmp), w.U64(t.period);
}

void Hpet::LoadState(StateReader& r) {
  bool was_legacy = legacy_mode();
  config_ = r.U64() & 3, status_ = r.U64() & ((1u << kTimers) - 1);
  counter_base_ = r.U64(), ns_base_ = int64_t(r.U64());
  for (Tn& t : tn_) {
    t.config = r.U64() & kTnWritable;
    t.cmp = r.U64(), t.period = r.U64();
  }
  if (legacy_mode() != was_legacy && on_legacy_change) on_legacy_change(legacy_mode());
  for (int n = 0; n < kTimers; n++) {
    UpdateOutput(n);
    Arm(n);
  }
}

uint64_t Hpet::Counter() const {
  if (!enabled()) return counter_base_;
  return counter_base_ + uint64_t((clock_->Now() - ns_base_) / kTickNs);
}

uint64_t Hpet::Width(int n) const {
  return (tn_[size_t(n)].config & kTn32Bit) ? 0xffffffffull : ~0ull;
}

IrqLine* Hpet::Route(int n) const {
  if (legacy_mode() && n == 0) return legacy0_;
  if (legacy_mode() && n == 1) return legacy8_;
  int route = int((tn_[size_t(n)].config >> 9) & 31);
  if (!((kRouteCap >> route) & 1) || !ioapic_pin_) return nullptr;
  return ioapic_pin_(route);
}

void Hpet::UpdateOutput(int n) {
  Tn& t = tn_[size_t(n)];
  IrqLine* line = Route(n);
  bool level = enabled() && (t.config & kTnEnable) && (t.config & kTnLevel) && ((status_ >> n) & 1);
  if (t.out && t.out != line && t.out_level) {
    t.out->Lower();
    t.out_level = false;
  }
  t.out = line;
  if (!line) {
    t.out_level = false;
    return;
  }
  if (level != t.out_level) {
    t.out_level = level;
    line->Set(level);
  }
}

// Arms timer n for the next virtual time at which the counter equals its
// comparator. `after_match`: the comparator just matched, so equality now means
// the next wrap.
static bool NextMatch(uint64_t counter, uint64_t cmp, uint64_t mask, bool after_match,
                      uint64_t* delta) {
  uint64_t d = (cmp - counter) & mask;
  if (d == 0 && after_match) {
    if (mask == ~0ull) return false;  // 64-bit: the wrap is centuries away
    d = mask + 1;
  }
  *delta = d;
  return true;
}

void Hpet::Arm(int n) {
  Timer* timer = timers_[size_t(n)].get();
  timer->Del();
  if (!enabled()) return;
  Tn& t = tn_[size_t(n)];
  uint64_t now_count = Counter();
  uint64_t delta;
  if (!NextMatch(now_count, t.cmp, Width(n), false, &delta)) return;
  uint64_t ticks = (now_count - counter_base_) + delta;  // from ns_base_
  if (delta > uint64_t(INT64_MAX / kTickNs / 4) || ticks > uint64_t(INT64_MAX / kTickNs / 2))
    return;  // beyond any run
  timer->Mod(ns_base_ + int64_t(ticks) * kTickNs);
}

void Hpet::Fire(int n) {
  Tn& t = tn_[size_t(n)];
  if (!enabled()) return;
  if (t.config & kTnLevel) {
    status_ |= 1ull << n;
    UpdateOutput(n);
  } else if ((t.config & kTnEnable)) {
    if (IrqLine* line = Route(n)) line->Pulse();
  }
  uint64_t mask = Width(n);
  uint64_t cur = Counter() & mask;
  if ((t.config & kTnPeriodic) && (t.period & mask) != 0) {
    uint64_t period = t.period & mask;
    uint64_t late = (cur - t.cmp) & mask;  // ticks since the match
    t.cmp = (t.cmp + (late / period + 1) * period) & mask;
    Arm(n);
    return;
  }
  // One-shot: the next match is after the counter wraps.
  uint64_t delta;
  Timer* timer = timers_[size_t(n)].get();
  if (!NextMatch(cur, t.cmp, mask, true, &delta) || delta > uint64_t(INT64_MAX / kTickNs / 4))
    return;
  timer->Mod(clock_->Now() + int64_t(delta) * kTickNs);
}

uint64_t Hpet::Read64(uint32_t reg) {
  switch (reg) {
    case kCap:
      return kBlockId | (kClkPeriodFs << 32);
    case kConfig:
      return config_;
    case kStatus:
      return status_;
    case kCounter:
      return Counter();
    default:
      break;
  }
  if (reg >= kTimer0 && reg < kTimer0 + 0x20 * kTimers) {
    int n = int((reg - kTimer0) / 0x20);
    const Tn& t = tn_[size_t(n)];
    switch ((reg - kTimer0) % 0x20) {
      case 0x00:
        return t.config | kTnCaps;
      case 0x08:
        return t.cmp & Width(n);
      default:
        return 0;  // FSB route: no FSB delivery
    }
  }
  Log(LogMask::kGuestErrors, "hpet: read of offset 0x%03x, which has no register", reg);
  return 0;
}

void Hpet::Write64(uint32_t reg, uint64_t value, uint64_t mask) {
  value &= mask;
  switch (reg) {
    case kConfig: {
      uint64_t next = ((config_ & ~mask) | value) & 3;
      bool was_enabled = enabled(), was_legacy = legacy_mode();
      uint64_t count = Counter();
      config_ = next;
      if (enabled() != was_enabled) {  // the counter stops or restarts where it is
        counter_base_ = count;
        ns_base_ = clock_->Now();
      }
      if (legacy_mode() != was_legacy && on_legacy_change) on_legacy_change(legacy_mode());
      for (int n = 0; n < kTimers; n++) {
        UpdateOutput(n);
        Arm(n);
      }
      return;
    }
    case kStatus:  // write 1 to clear a level-triggered timer's status
      status_ &= ~(value & ((1u << kTimers) - 1));
      for (int n = 0; n < kTimers; n++) UpdateOutput(n);
      return;
    case kCounter:  // software should halt the counter first; allowed anyway
      counter_base_ = (Counter() & ~mask) | value;
      ns_base_ = clock_->Now();
      for (int n = 0; n < kTimers; n++) Arm(n);
      return;
    default:
      break;
  }
  if (reg >= kTimer0 && reg < kTimer0 + 0x20 * kTimers)
    WriteTimer(int((reg - kTimer0) / 0x20), (reg - kTimer0) % 0x20, value, mask);
  else
    Log(LogMask::kGuestErrors, "hpet: write 0x%llx to offset 0x%03x, which is %s",
        static_cast<unsigned long long>(value), reg, reg == kCap ? "read-only" : "not a register");
}

void Hpet::WriteTimer(int n, uint32_t sub, uint64_t value, uint64_t mask) {
  Tn& t = tn_[size_t(n)];
  if (sub == 0x00) {
    uint64_t next = ((t.config & ~mask) | value) & kTnWritable;
    if (!(next & kTnLevel)) status_ &= ~(1ull << n);
    t.config = next;
    if (next & kTn32Bit) {
      t.cmp &= 0xffffffffu;
      t.period &= 0xffffffffu;
    }
  } else if (sub == 0x08) {
    // Periodic: a write sets the period, and the comparator too while Tn_VAL_SET
    // is set (which the write clears). One-shot: the comparator.
    bool periodic = t.config & kTnPeriodic;
    if (!periodic || (t.config & kTnValSet)) t.cmp = ((t.cmp & ~mask) | value) & Width(n);
    if (periodic) t.period = ((t.period & ~mask) | value) & Width(n);
    // A 64-bit comparator written as two dwords keeps VAL_SET until the high one.
    if ((t.config & kTn32Bit) || (mask >> 32)) t.config &= ~kTnValSet;
  } else {  // the capabilities say there is no FSB delivery
    Log(LogMask::kGuestErrors, "hpet: timer %d: write to the FSB route register (no FSB delivery)",
        n);
    return;
  }
  UpdateOutput(n);
  Arm(n);
}

}  // namespace emu::hw
