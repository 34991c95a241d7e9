// Intel 8254 programmable interval timer at ports 0x40-0x43 (1.193182 MHz), plus
// the PC's System Control Port B at 0x61 (channel 2 gate, speaker enable, OUT2
// and the refresh toggle).
//
// Nothing ticks: every counter is a (base tick, base value) pair and its value or
// OUT level is computed from the virtual clock when read. Channel 0's rising OUT
// edges are delivered to IRQ0 by a Timer armed for the next edge (periodic modes
// pulse the line; modes 0/1 hold it at the OUT level). Edges missed while the timer
// callback was late are coalesced, as the PIC would coalesce them.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "hw/core/device.h"

namespace emu::hw {

class I8254 : public Device {
 public:
  static constexpr int64_t kFreqHz = 1193182;

  // `irq0` may be null (no interrupt output). `io` and `clock` must outlive the
  // device.
  I8254(MemoryRegion* io, Clock* clock, IrqLine* irq0);
  ~I8254() override;

  // GATE inputs. Channels 0 and 1 are tied high on a PC; channel 2's gate is bit 0
  // of port 0x61.
  void SetGate(int channel, bool level);
  bool Out(int channel);
  // Port 0x61 bit 1: the speaker sees OUT2 only while this is set.
  bool speaker_data_enabled() const { return (port61_ & 2) != 0; }
  // The current reload value of a channel, in input clock ticks (for the monitor).
  uint32_t reload(int channel) const { return ch_[channel].reload; }

  void Reset() override;
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

  static int64_t NsToTick(int64_t ns);
  static int64_t TickToNs(int64_t tick);  // first ns at which NsToTick() >= tick

 private:
  struct Channel {
    uint8_t mode = 0, rw = 3;
    bool bcd = false;
    bool gate = true;
    uint32_t reload = 0x10000;    // N, 1..65536 (1..10000 in BCD)
    bool loaded = false;          // a count was written since the control word
    bool counting = false;        // the counter is decrementing
    int64_t base_tick = 0;        // the counter holds base_value at base_tick
    uint32_t base_value = 0;      // 0 stands for the full modulus
    uint32_t frozen = 0;          // counter value while not counting
    bool out_frozen = true;       // OUT while not counting
    bool tc_done = false;         // modes 0/1/4/5: terminal count already reached
    bool reload_pending = false;  // modes 2/3: new N takes effect at period end
    uint32_t next_reload = 0;
    int64_t switch_tick = 0;
    int64_t null_until = 0;  // NULL COUNT in the status byte until this tick
    bool write_hi = false;   // lo/hi access: next write is the high byte
    uint8_t write_lo = 0;
    bool read_hi = false;
    bool count_latched = false;
    uint16_t latched = 0;
    bool status_latched = false;
    uint8_t status = 0;
  };

  uint32_t Modulus(const Channel& c) const { return c.bcd ? 10000 : 0x10000; }
  int64_t NowTick() const { return NsToTick(clock_->Now()); }
  void Sync(Channel& c, int64_t t);
  uint32_t CountAt(Channel& c, int64_t t);
  bool OutAt(Channel& c, int64_t t);
  int64_t NextEdge(Channel& c, int64_t t);
  void Start(Channel& c, int64_t t, uint32_t value);
  void Freeze(Channel& c, int64_t t);
  uint16_t Display(const Channel& c, uint32_t v) const;

  void WriteControl(uint8_t v);
  void WriteCounter(int n, uint8_t v);
  void LoadCount(int n, uint16_t raw);
  uint8_t ReadCounter(int n);
  void Latch(int n);
  void LatchStatus(int n);
  void Changed(int n);  // re-evaluates IRQ0 after channel n changed
  void OnTimer();

  Clock* clock_;
  IrqLine* irq0_;
  MemoryRegion* io_;
  std::array<Channel, 3> ch_;
  uint8_t port61_ = 0;  // bits 0-3 as written
  Timer timer_;
  std::unique_ptr<MemoryRegion> pit_, port61_mr_;
};

}  // namespace emu::hw
