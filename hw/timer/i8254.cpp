#include "hw/timer/i8254.h"

#include <climits>

#include "hw/core/log.h"

namespace emu::hw {

namespace {
// DRAM refresh request period on a PC/AT: port 0x61 bit 4 toggles every 15.085 us.
constexpr int64_t kRefreshNs = 15085;

uint32_t FromBcd(uint16_t v) {
  uint32_t r = 0;
  for (int shift = 12; shift >= 0; shift -= 4) r = r * 10 + ((v >> shift) & 0xf);
  return r % 10000;  // nibbles above 9 are guest garbage: keep the result in range
}

uint16_t ToBcd(uint32_t v) {
  uint16_t r = 0;
  for (int i = 0; i < 4; i++, v /= 10) r |= uint16_t((v % 10) << (4 * i));
  return r;
}
}  // namespace

int64_t I8254::NsToTick(int64_t ns) {
  return int64_t(static_cast<__int128>(ns) * kFreqHz / kNsPerSec);
}

int64_t I8254::TickToNs(int64_t tick) {
  return int64_t((static_cast<__int128>(tick) * kNsPerSec + kFreqHz - 1) / kFreqHz);
}

I8254::I8254(MemoryRegion* io, Clock* clock, IrqLine* irq0)
    : Device("i8254"), clock_(clock), irq0_(irq0), io_(io), timer_(clock, [this] { OnTimer(); }) {
  MmioOps ops;
  ops.min_size = ops.max_size = 1;
  ops.read = [this](uint64_t off, unsigned) -> uint64_t {
    if (off < 3) return ReadCounter(int(off));
    Log(LogMask::kGuestErrors, "i8254: read of the write-only control register (port 0x43)");
    return 0xff;
  };
  ops.write = [this](uint64_t off, uint64_t v, unsigned) {
    if (off < 3)
      WriteCounter(int(off), uint8_t(v));
    else
      WriteControl(uint8_t(v));
  };
  pit_ = MemoryRegion::Mmio("pit", 4, ops);

  MmioOps p61;
  p61.min_size = p61.max_size = 1;
  p61.read = [this](uint64_t, unsigned) -> uint64_t {
    bool refresh = (clock_->Now() / kRefreshNs) & 1;
    return (port61_ & 0x0f) | (refresh ? 0x10 : 0) | (Out(2) ? 0x20 : 0);
  };
  p61.write = [this](uint64_t, uint64_t v, unsigned) {
    port61_ = uint8_t(v & 0x0f);
    SetGate(2, v & 1);
  };
  port61_mr_ = MemoryRegion::Mmio("port61", 1, p61);
  io_->AddSubregion(0x40, pit_.get());
  io_->AddSubregion(0x61, port61_mr_.get());
  Reset();
}

I8254::~I8254() {
  io_->RemoveSubregion(pit_.get());
  io_->RemoveSubregion(port61_mr_.get());
}

void I8254::Reset() {
  for (int i = 0; i < 3; i++) {
    ch_[i] = Channel{};
    ch_[i].gate = i != 2;
  }
  port61_ = 0;
  timer_.Del();
  if (irq0_) irq0_->Lower();
}

// Applies a deferred mode 2/3 reload once its period boundary has passed.
void I8254::Sync(Channel& c, int64_t t) {
  if (c.reload_pending && t >= c.switch_tick) {
    c.reload_pending = false;
    c.reload = c.next_reload;
    c.base_tick = c.switch_tick;
    c.base_value = c.reload % Modulus(c);
  }
}

uint32_t I8254::CountAt(Channel& c, int64_t t) {
  Sync(c, t);
  if (!c.counting || t < c.base_tick) return c.frozen;
  int64_t e = t - c.base_tick;
  uint32_t mod = Modulus(c), n = c.reload;
  switch (c.mode) {
    case 2:
      return uint32_t(n - e % n) % mod;
    case 3: {
      // Decrements by two; the high half lasts (N+1)/2 ticks, the low half N/2.
      int64_t ph = e % n, hi = (n + 1) / 2;
      int64_t v = int64_t(n & ~1u) - 2 * (ph < hi ? ph : ph - hi);
      return uint32_t(v < 0 ? 0 : v) % mod;
    }
    default:
      return uint32_t((c.base_value + mod - uint32_t(e % mod)) % mod);
  }
}

bool I8254::OutAt(Channel& c, int64_t t) {
  Sync(c, t);
  if (!c.counting || t < c.base_tick) return c.out_frozen;
  int64_t e = t - c.base_tick;
  uint32_t mod = Modulus(c), n = c.reload;
  int64_t z = c.base_value ? c.base_value : mod;  // ticks until the counter reaches 0
  switch (c.mode) {
    case 0:
    case 1:
      return c.tc_done || e >= z;
    case 2:
      return n < 2 || e % n != n - 1;  // low for the one tick at count 1
    case 3:
      return e % n < (n + 1) / 2;
    default:  // 4, 5: one low strobe at count 0
      return c.tc_done || e != z;
  }
}

// The first tick after `t` at which OUT rises, or -1.
int64_t I8254::NextEdge(Channel& c, int64_t t) {
  Sync(c, t);
  if (!c.counting) return -1;
  int64_t z = c.base_value ? c.base_value : Modulus(c);
  int64_t edge = -1;
  switch (c.mode) {
    case 0:
    case 1:
      if (!c.tc_done && c.base_tick + z > t) edge = c.base_tick + z;
      break;
    case 2:
    case 3: {
      int64_t e = t - c.base_tick, n = c.reload;
      edge = c.base_tick + (e < 0 ? n : (e / n + 1) * n);
      if (c.reload_pending && edge >= c.switch_tick) edge = c.switch_tick;
      break;
    }
    default:
      if (!c.tc_done && c.base_tick + z + 1 > t) edge = c.base_tick + z + 1;
      break;
  }
  return edge;
}

// Loads `value` into the counting element at the next clock and runs it if the
// gate allows.
void I8254::Start(Channel& c, int64_t t, uint32_t value) {
  c.base_tick = t + 1;
  c.base_value = value % Modulus(c);
  c.tc_done = false;
  c.reload_pending = false;
  c.null_until = c.base_tick;
  bool gate_stops = !c.gate && (c.mode == 0 || c.mode == 2 || c.mode == 3 || c.mode == 4);
  c.counting = !gate_stops;
  if (gate_stops) {
    c.frozen = c.base_value;
    c.out_frozen = c.mode != 0;
  }
}

void I8254::Freeze(Channel& c, int64_t t) {
  c.frozen = CountAt(c, t);
  bool out = OutAt(c, t);
  int64_t e = t - c.base_tick;
  int64_t z = c.base_value ? c.base_value : Modulus(c);
  if (c.counting && e >= 0) c.tc_done = c.tc_done || (c.mode == 0 || c.mode == 1 ? e >= z : e > z);
  c.out_frozen = out;
  c.counting = false;
}

void I8254::SetGate(int n, bool level) {
  Channel& c = ch_[n];
  if (c.gate == level) return;
  int64_t t = NowTick();
  Sync(c, t);
  c.gate = level;
  switch (c.mode) {
    case 0:
    case 4:  // gate low suspends counting, high resumes it
      if (!c.loaded) break;
      if (!level) {
        Freeze(c, t);
      } else {
        bool done = c.tc_done;
        Start(c, t, c.frozen);
        c.tc_done = done;
      }
      break;
    case 1:
    case 5:  // a rising gate (re)triggers the one-shot
      if (level && c.loaded) Start(c, t, c.reload);
      break;
    default:  // 2, 3: gate low forces OUT high and stops; rising reloads
      if (!c.loaded) break;
      if (!level) {
        Freeze(c, t);
        c.out_frozen = true;
      } else {
        Start(c, t, c.reload);
      }
      break;
  }
  Changed(n);
}

bool I8254::Out(int n) { return OutAt(ch_[n], NowTick()); }

uint16_t I8254::Display(const Channel& c, uint32_t v) const {
  return c.bcd ? ToBcd(v % 10000) : uint16_t(v);
}

void I8254::Latch(int n) {
  Channel& c = ch_[n];
  if (c.count_latched) return;  // a pending latch is kept until read
  c.latched = Display(c, CountAt(c, NowTick()));
  c.count_latched = true;
}

void I8254::LatchStatus(int n) {
  Channel& c = ch_[n];
  if (c.status_latched) return;
  int64_t t = NowTick();
  c.status = uint8_t((OutAt(c, t) ? 0x80 : 0) | (t < c.null_until ? 0x40 : 0) | c.rw << 4 |
                     c.mode << 1 | (c.bcd ? 1 : 0));
  c.status_latched = true;
}

void I8254::WriteControl(uint8_t v) {
  int sel = v >> 6;
  if (sel == 3) {  // read-back command
    for (int n = 0; n < 3; n++) {
      if (!(v & (2 << n))) continue;
      if (!(v & 0x20)) Latch(n);
      if (!(v & 0x10)) LatchStatus(n);
    }
    return;
  }
  int rw = (v >> 4) & 3;
  if (rw == 0) {
    Latch(sel);
    return;
  }
  Channel& c = ch_[sel];
  int64_t t = NowTick();
  c.frozen = CountAt(c, t);
  int mode = (v >> 1) & 7;
  c.mode = uint8_t(mode > 5 ? mode - 4 : mode);  // 6 and 7 are aliases of 2 and 3
  c.rw = uint8_t(rw);
  c.bcd = v & 1;
  c.loaded = c.counting = false;
  c.tc_done = c.reload_pending = false;
  c.out_frozen = c.mode != 0;
  c.null_until = INT64_MAX;
  c.write_hi = c.read_hi = false;
  c.count_latched = c.status_latched = false;
  Changed(sel);
}

void I8254::WriteCounter(int n, uint8_t v) {
  Channel& c = ch_[n];
  switch (c.rw) {
    case 1:
      LoadCount(n, v);
      break;
    case 2:
      LoadCount(n, uint16_t(v << 8));
      break;
    default:
      if (!c.write_hi) {
        c.write_lo = v;
        c.write_hi = true;
        if (c.mode == 0) {  // the first byte stops the count and drops OUT
          Freeze(c, NowTick());
          c.out_frozen = false;
          c.tc_done = false;
          Changed(n);
        }
      } else {
        c.write_hi = false;
        LoadCount(n, uint16_t(c.write_lo | v << 8));
      }
      break;
  }
}

void I8254::LoadCount(int n, uint16_t raw) {
  Channel& c = ch_[n];
  uint32_t v = c.bcd ? FromBcd(raw) : raw;
  uint32_t count = v ? v : Modulus(c);
  int64_t t = NowTick();
  Sync(c, t);
  bool was_running = c.loaded && c.counting;
  uint32_t old = c.reload;
  c.reload = count;
  switch (c.mode) {
    case 0:
    case 4:
      Start(c, t, count);
      break;
    case 1:
    case 5:  // waits for a gate trigger
      if (!c.loaded) {
        c.out_frozen = true;
        c.null_until = INT64_MAX;
      }
      break;
    default:
      if (c.reload_pending) {
        c.reload = old;  // still inside the period that ends at switch_tick
        c.next_reload = count;
      } else if (was_running) {
        // The new count is used from the end of the current period.
        int64_t e = t - c.base_tick;
        c.reload = old;
        c.reload_pending = true;
        c.next_reload = count;
        c.switch_tick = c.base_tick + (e < 0 ? old : (e / old + 1) * old);
        c.null_until = c.switch_tick;
      } else {
        Start(c, t, count);
      }
      break;
  }
  c.loaded = true;
  Changed(n);
}

uint8_t I8254::ReadCounter(int n) {
  Channel& c = ch_[n];
  if (c.status_latched) {
    c.status_latched = false;
    return c.status;
  }
  uint16_t v = c.count_latched ? c.latched : Display(c, CountAt(c, NowTick()));
  uint8_t out;
  switch (c.rw) {
    case 1:
      out = uint8_t(v);
      c.count_latched = false;
      break;
    case 2:
      out = uint8_t(v >> 8);
      c.count_latched = false;
      break;
    default:
      if (!c.read_hi) {
        out = uint8_t(v);
        c.read_hi = true;
      } else {
        out = uint8_t(v >> 8);
        c.read_hi = false;
        c.count_latched = false;
      }
      break;
  }
  return out;
}

void I8254::Changed(int n) {
  if (n != 0 || !irq0_) return;
  Channel& c = ch_[0];
  int64_t t = NowTick();
  timer_.Del();
  if (c.mode <= 1) {
    bool out = OutAt(c, t);
    if (out != irq0_->level()) irq0_->Set(out);
  }
  int64_t edge = NextEdge(c, t);
  if (edge >= 0) timer_.Mod(TickToNs(edge));
}

void I8254::OnTimer() {
  Channel& c = ch_[0];
  int64_t t = NowTick();
  Sync(c, t);
  if (c.mode <= 1) {
    if (OutAt(c, t) && !irq0_->level()) irq0_->Raise();
  } else {
    irq0_->Pulse();  // OUT's rising edge; edge-triggered inputs latch it
  }
  int64_t edge = NextEdge(c, t);
  if (edge >= 0) timer_.Mod(TickToNs(edge));
}

void I8254::SaveState(StateWriter& w) const {
  for (const Channel& c : ch_) {
    w.U8(c.mode), w.U8(c.rw), w.U8(c.bcd), w.U8(c.gate), w.U32(c.reload), w.U8(c.loaded);
    w.U8(c.counting), w.U64(uint64_t(c.base_tick)), w.U32(c.base_value), w.U32(c.frozen);
    w.U8(c.out_frozen), w.U8(c.tc_done), w.U8(c.reload_pending), w.U32(c.next_reload);
    w.U64(uint64_t(c.switch_tick)), w.U64(uint64_t(c.null_until)), w.U8(c.write_hi);
    w.U8(c.write_lo), w.U8(c.read_hi), w.U8(c.count_latched), w.U16(c.latched);
    w.U8(c.status_latched), w.U8(c.status);
  }
  w.U8(port61_);
}

void I8254::LoadState(StateReader& r) {
  for (Channel& c : ch_) {
    c.mode = r.U8() % 6, c.rw = r.U8() & 3, c.bcd = r.U8() & 1, c.gate = r.U8() & 1;
    c.rw = c.rw ? c.rw : 3;
    // Bound the reload value: it is a divisor.
    c.reload = r.U32(), c.loaded = r.U8() & 1;
    if (c.reload == 0 || c.reload > Modulus(c)) c.reload = Modulus(c);
    c.counting = r.U8() & 1, c.base_tick = int64_t(r.U64()), c.base_value = r.U32() % Modulus(c);
    c.frozen = r.U32() % Modulus(c);
    c.out_frozen = r.U8() & 1, c.tc_done = r.U8() & 1, c.reload_pending = r.U8() & 1;
    c.next_reload = r.U32();
    if (c.next_reload == 0 || c.next_reload > Modulus(c)) c.next_reload = Modulus(c);
    c.switch_tick = int64_t(r.U64()), c.null_until = int64_t(r.U64());
    c.write_hi = r.U8() & 1, c.write_lo = r.U8(), c.read_hi = r.U8() & 1;
    c.count_latched = r.U8() & 1, c.latched = r.U16(), c.status_latched = r.U8() & 1;
    c.status = r.U8();
  }
  port61_ = r.U8() & 0x0f;
  Changed(0);
}

}  // namespace emu::hw
