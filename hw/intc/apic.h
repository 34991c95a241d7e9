// The xAPIC local APIC (one per vCPU) and the APIC bus that connects the local
// APICs with each other (IPIs) and with the I/O APIC, written from the Intel SDM
// vol. 3 chapter 10. Used by the translator; KVM has its own in-kernel irqchip.
//
// Timer: the APIC bus clock is 1 GHz, so one bus tick is one virtual-clock
// nanosecond and a timer count of N with divide D lasts N*D ns. Nothing ticks:
// the current count is computed from the virtual clock when read, and a Timer
// is armed for the next expiry. TSC-deadline mode (LVT timer mode 2) works when
// the CPU feeds IA32_TSC_DEADLINE writes through SetTscDeadlineNs(); CPUID may
// advertise it only then.
//
// PIC INTR / LINT0 rule (virtual wire). The 8259's INTR output is wired to LINT0
// of every local APIC (SetExtIntLevel on the bus). It is an ExtINT request for a
// LAPIC -- InterruptPending() true, Acknowledge() runs the PIC's INTA -- when
//   (a) the LAPIC is hardware-disabled (APIC_BASE bit 11 clear): the pin is the
//       CPU's plain INTR, and LINT1 its plain NMI; or
//   (b) LVT LINT0 has delivery mode ExtINT and is not masked.
// The power-on state (Reset()) is what an MP-spec BIOS leaves: the BSP's LVT
// LINT0 is ExtINT unmasked (0x700), everything else as the SDM's reset values
// (all other LVTs masked, SVR 0xff = software-disabled). So the PIC reaches the
// BSP from power-on, and a kernel that finds LINT0 unmasked keeps virtual wire.
// INIT and hardware-disable return to the SDM's reset values (LINT0 masked).
// ExtINT is level sensitive and bypasses the TPR/PPR priority check. An ExtINT
// message from the I/O APIC (or an ExtINT IPI) latches one request that the
// next Acknowledge() takes from the PIC.
//
// Software-disabled (SVR bit 8 clear): fixed and lowest-priority messages are
// discarded; IRR/ISR content is kept and still delivered; NMI, INIT and
// start-up are accepted; all LVT mask bits are set and stay set.
//
// Machine contract (translator): per vCPU i, the CPU's interrupt source is
// lapic(i): Pending() -> InterruptPending(), INTA -> Acknowledge(), both under
// the machine lock; kick -> wake vCPU i (InterruptRequest + unpark a halted
// thread), on_init / on_sipi / on_nmi -> the CPU's INIT, start-up and NMI
// requests (also unparking). A halted vCPU re-checks InterruptPending() before
// sleeping. WRMSR/RDMSR 0x1b -> SetApicBase()/apic_base(), CR8 -> SetTpr()/tpr()
// (CR8 = TPR >> 4), MSR 0x6e0 -> SetTscDeadlineNs() if CPUID offers it. The
// per-CPU window needs current_cpu() to name the calling vCPU. The board, not
// the machine, connects the PIC's INTR (to every LINT0).
//
// Threading: every call (MMIO, CPU side, I/O APIC, timers) happens under the
// machine lock. The callbacks (kick, on_init, on_sipi, on_nmi) are invoked with
// that lock held and must not take it. MaybePending() alone may be called
// without the lock.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "hw/core/device.h"

namespace emu::hw {

class ApicBus;

// One interrupt message on the APIC bus (from the I/O APIC or an ICR write).
struct ApicMessage {
  enum Mode : uint8_t {
    kFixed = 0,
    kLowestPriority = 1,
    kSmi = 2,
    kNmi = 4,
    kInit = 5,
    kStartup = 6,
    kExtInt = 7,
  };
  uint8_t vector = 0;
  uint8_t mode = kFixed;
  bool logical = false;  // destination mode: physical APIC ID or logical (LDR/DFR)
  uint8_t dest = 0;      // 0xff: broadcast
  bool level = false;    // trigger mode: level (sets TMR, EOI is broadcast)
  bool assert = true;    // INIT with assert clear is the "level de-assert" (ignored)
};

class Lapic : public Device {
 public:
  static constexpr uint64_t kBusHz = 1000000000;  // 1 ns per bus tick
  static constexpr uint64_t kDefaultBase = 0xfee00000;
  static constexpr uint64_t kBaseBsp = 1u << 8;
  static constexpr uint64_t kBaseEnable = 1u << 11;
  static constexpr uint32_t kVersion = 0x00050014;  // 6 LVT entries, integrated APIC

  // Register offsets in the 4 KiB window.
  enum Reg : uint32_t {
    kId = 0x20,
    kVersionReg = 0x30,
    kTpr = 0x80,
    kApr = 0x90,
    kPpr = 0xa0,
    kEoi = 0xb0,
    kRrd = 0xc0,
    kLdr = 0xd0,
    kDfr = 0xe0,
    kSvr = 0xf0,
    kIsr = 0x100,
    kTmr = 0x180,
    kIrr = 0x200,
    kEsr = 0x280,
    kLvtCmci = 0x2f0,
    kIcrLo = 0x300,
    kIcrHi = 0x310,
    kLvtTimer = 0x320,
    kLvtThermal = 0x330,
    kLvtPerf = 0x340,
    kLvtLint0 = 0x350,
    kLvtLint1 = 0x360,
    kLvtError = 0x370,
    kTimerInitial = 0x380,
    kTimerCurrent = 0x390,
    kTimerDivide = 0x3e0,
  };

  Lapic(ApicBus* bus, Clock* clock, int index, uint8_t apic_id);
  ~Lapic() override;

  // --- CPU side ---
  // A fixed interrupt is deliverable (highest IRR class above the PPR class) or
  // an ExtINT request is pending (see the LINT0 rule above). The CPU still
  // checks RFLAGS.IF and the interrupt shadow itself.
  bool InterruptPending() const;
  // Lock-free, exact as of the last state change (every change updates it).
  bool MaybePending() const { return pending_hint_.load(std::memory_order_acquire); }
  // INTA: ExtINT first (returns the PIC's vector), else moves the highest IRR
  // vector to ISR and returns it. Returns the spurious vector (SVR[7:0]) when
  // IRR holds only vectors masked by the PPR (the TPR rose since the CPU saw
  // InterruptPending()), -1 when nothing at all was requested.
  int Acknowledge();
  // CR8 reads and writes: CR8 = TPR[7:4].
  void SetTpr(uint8_t tpr);
  uint8_t tpr() const { return uint8_t(tpr_); }
  // IA32_APIC_BASE (MSR 0x1b). Bit 8 (BSP) is read-only; the base stays
  // 0xfee00000 (relocation is logged as unimplemented); bit 10 (x2APIC) is not
  // supported (logged, ignored). Clearing bit 11 hardware-disables the LAPIC
  // and resets its registers (except the ID); setting it again re-enables it.
  void SetApicBase(uint64_t value);
  uint64_t apic_base() const { return apic_base_; }
  bool hw_enabled() const { return (apic_base_ & kBaseEnable) != 0; }
  // IA32_TSC_DEADLINE (MSR 0x6e0) writes, converted by the CPU to virtual-clock
  // ns: 0 disarms, a time already passed interrupts at once. Ignored unless the
  // LVT timer is in TSC-deadline mode. tsc_deadline_ns() is 0 once the timer
  // fired or was disarmed (RDMSR then reads 0; otherwise the value written).
  void SetTscDeadlineNs(int64_t deadline_ns);
  int64_t tsc_deadline_ns() const { return tsc_deadline_ns_; }
  bool sw_enabled() const { return (svr_ & 0x100) != 0; }

  // Set by the machine; each may be empty.
  std::function<void()> kick;     // InterruptPending() may have become true
  std::function<void()> on_init;  // INIT received (LAPIC already reset)
  // Every start-up IPI received; the CPU ignores it unless it waits for SIPI
  // (APs from power-on, and after INIT).
  std::function<void(uint8_t vector)> on_sipi;
  std::function<void()> on_nmi;  // NMI (IPI, LVT or LINT1)

  // --- pins and bus ---
  void SetLint0(bool level);
  void SetLint1(bool level);
  // Accepts a message already routed to this LAPIC; returns false when it was
  // discarded (disabled LAPIC, illegal vector, SMI).
  bool Accept(const ApicMessage& m);
  // Whether a destination (as in ApicMessage) selects this LAPIC.
  bool MatchesPhysical(uint8_t dest) const;
  bool MatchesLogical(uint8_t dest) const;

  // --- registers ---
  uint32_t ReadReg(uint32_t offset);
  void WriteReg(uint32_t offset, uint32_t value);

  int index() const { return index_; }
  uint8_t id() const { return uint8_t(id_ >> 24); }
  bool bsp() const { return (apic_base_ & kBaseBsp) != 0; }
  // For tests and the monitor.
  bool irr(int v) const { return Test(irr_, v); }
  bool isr(int v) const { return Test(isr_, v); }
  bool tmr(int v) const { return Test(tmr_, v); }
  uint32_t ppr() const;

  // Power-on state (board reset).
  void Reset() override;
  // The timer's base time is saved as virtual-clock time: restore with the clock.
  void SaveState(StateWriter& w) const override;
  void LoadState(StateReader& r) override;

 private:
  using Bits = std::array<uint32_t, 8>;
  static bool Test(const Bits& b, int v) { return (b[v >> 5] >> (v & 31)) & 1; }
  static void SetBit(Bits& b, int v) { b[v >> 5] |= 1u << (v & 31); }
  static void ClearBit(Bits& b, int v) { b[v >> 5] &= ~(1u << (v & 31)); }
  static int Highest(const Bits& b);  // -1 if empty

  // Registers to the SDM reset values; keeps the ID (INIT) unless power_on.
  void ResetRegisters(bool power_on);
  bool ExtIntPending() const;
  // Puts a fixed vector into IRR (TMR per trigger); false if refused.
  bool AcceptFixed(uint8_t vector, bool level);
  void DeliverLvt(int lvt_index);
  void RaiseError(uint32_t bit);
  void Eoi();
  void SendIpi();
  void WriteLvt(int i, uint32_t value);
  void WriteSvr(uint32_t value);
  uint32_t Apr() const;
  // Pending state changed: refresh the hint and kick the CPU when pending.
  void Update();

  // LAPIC timer.
  int Divide() const;
  static constexpr int kModeTscDeadline = 2;
  int TimerMode() const { return (lvt_[0] >> 17) & 3; }  // 0 one-shot, 1 periodic
  uint32_t CurrentCount() const;
  void StartTimer(int64_t now);  // from the initial count at `now`
  void ArmTimer();
  void OnTimer();

  ApicBus* bus_;
  Clock* clock_;
  int index_;
  uint8_t initial_id_;
  uint32_t id_;  // register value, ID in bits 31:24
  uint64_t apic_base_ = 0;
  uint32_t tpr_ = 0, ldr_ = 0, dfr_ = 0xffffffff, svr_ = 0xff;
  uint32_t esr_ = 0, esr_pending_ = 0;
  uint32_t icr_lo_ = 0, icr_hi_ = 0;
  // LVT: timer, thermal, perf, LINT0, LINT1, error.
  std::array<uint32_t, 6> lvt_{};
  Bits irr_{}, isr_{}, tmr_{};
  uint32_t timer_initial_ = 0, timer_divide_ = 0;
  int64_t timer_start_ = 0;  // virtual time at which the count was timer_initial_
  bool timer_running_ = false;
  int64_t tsc_deadline_ns_ = 0;
  Timer timer_;
  bool lint0_ = false, lint1_ = false;
  bool extint_msg_ = false;  // ExtINT message latched
  std::atomic<bool> pending_hint_{false};
};

class ApicBus {
 public:
  // Creates `cpus` LAPICs with APIC IDs 0..cpus-1; index 0 is the BSP.
  ApicBus(int cpus, Clock* clock);
  ~ApicBus();

  int num_cpus() const { return int(lapics_.size()); }
  Lapic* lapic(int index) { return lapics_.at(size_t(index)).get(); }

  // The per-CPU LAPIC window (4 KiB, map it at 0xfee00000): an access reaches
  // the LAPIC of current_cpu() (the accessing vCPU's index). Accesses are
  // 32-bit at 16-byte aligned offsets; others read 0 / are ignored (-d guest_errors).
  std::unique_ptr<MemoryRegion> CreateMmioRegion(std::function<int()> current_cpu);

  // Routes a message to the LAPICs it names; `from` is the sender's index for
  // the lowest-priority tie break (-1: I/O APIC). Returns how many accepted.
  int Deliver(const ApicMessage& m);
  // ICR shorthands: 0 none (use m's destination), 1 self, 2 all incl. self,
  // 3 all excl. self.
  int SendIpi(int from, int shorthand, const ApicMessage& m);

  // The 8259's INTR output (to every LINT0) and its INTA for ExtINT.
  void SetExtIntLevel(bool level);
  void SetExtIntAck(std::function<int()> ack) { extint_ack_ = std::move(ack); }
  int ExtIntAcknowledge() { return extint_ack_ ? extint_ack_() : -1; }

  // Level-triggered EOI broadcast to the I/O APIC(s) (set by the board).
  void SetEoiListener(std::function<void(uint8_t vector)> fn) { eoi_listener_ = std::move(fn); }
  void BroadcastEoi(uint8_t vector) {
    if (eoi_listener_) eoi_listener_(vector);
  }

  void Reset();

 private:
  std::vector<std::unique_ptr<Lapic>> lapics_;
  std::function<int()> extint_ack_;
  std::function<void(uint8_t)> eoi_listener_;
};

}  // namespace emu::hw
