// One KVM virtual CPU: the KVM_RUN loop, exits routed to the CpuBus, kicks from
// other threads, and CpuState conversion (kvm_state.cpp).
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "accel/accel.h"
#include "accel/kvm/kvm_sys.h"

namespace emu::accel {

class KvmAccelerator;

class KvmVcpu : public Vcpu {
 public:
  KvmVcpu(KvmAccelerator* accel, int index);
  ~KvmVcpu() override;

  // Runs until halt (only without the in-kernel irqchip), shutdown, error, debug exit
  // or a Kick. Port I/O and MMIO exits are served through the CpuBus and do not return.
  RunResult Run() override;
  // Makes the current Run() return kStopped soon; if the vCPU is not inside Run(), the
  // next Run() returns kStopped at once (so a kick is never lost). Thread-safe, and
  // callable from the vCPU's own thread (e.g. from a CpuBus callback).
  void Kick() override;
  void GetState(x86::CpuState& s) override;
  void SetState(const x86::CpuState& s) override;
  // SetState writing only what differs from `before` (a state GetState returned):
  // the emulation fallback's way back, a few ioctls instead of a dozen, and no
  // rewrite of pending events that changed in the kernel meanwhile.
  void SetChangedState(const x86::CpuState& s, const x86::CpuState& before);
  // GetState right after Run()'s KVM_RUN returned with an exit (the emulation
  // fallback): registers, segments and events come from kvm_run (KVM_CAP_SYNC_REGS)
  // instead of ioctls.
  void GetStateAtExit(x86::CpuState& s);
  int index() const override { return index_; }

  int fd() const { return fd_; }
  // KVM_MP_STATE_* (in-kernel LAPIC): e.g. to see whether an AP is still waiting for SIPI.
  uint32_t mp_state();
  // For the gdbstub: with single_step every instruction, with sw_breakpoints every
  // INT3 (the gdbstub writes them into guest memory) makes Run() return kDebug with
  // "exception <vector> at <pc>" in the detail. Both false turns debugging off.
  void SetGuestDebug(bool single_step, bool sw_breakpoints);
  // A one-line summary of the registers, for error messages.
  std::string DumpRegs();

  // For the emulation fallback (kvm_fallback.h), on the vCPU's thread:
  // the bytes of the instruction KVM failed to emulate, when KVM reported them;
  bool kick_pending() const { return kick_.load(); }
  bool single_stepping() const { return single_step_; }
  std::vector<uint8_t> FailedInstructionBytes() const;
  // and the in-kernel LAPIC's registers (KVM_GET/SET_LAPIC). WriteLapic takes only
  // registers whose write is a plain store and returns false for the others.
  uint32_t ReadLapic(uint32_t offset);
  bool WriteLapic(uint32_t offset, uint32_t value);

 private:
  void Configure();  // CPUID and MP state of a new vCPU
  RunResult RunLoop();
  RunResult Stopped();  // consumes the kick
  // nullopt: handled (emulation fallback), keep running.
  std::optional<RunResult> HandleInternalError();
  void GetStateFrom(x86::CpuState& s, const kvm_regs& r, const kvm_sregs& sr,
                    const kvm_vcpu_events& e);
  void SetStateParts(const x86::CpuState& s, const x86::CpuState* before);
  void SetSregs(const x86::CpuState& s);
  void SetRegs(const x86::CpuState& s);
  void SetMsrs(x86::CpuState& s, const x86::CpuState* before);
  void GetFpu(x86::FpuState& f);
  void SetFpu(const x86::FpuState& f);
  void InjectUserInterrupt();
  void HandleIo();
  void HandleMmio();
  void ThrowErrno(const char* what);
  uint64_t LinearPc();  // CS base + RIP, for kDebug details

  KvmAccelerator* accel_;
  int index_;
  int fd_ = -1;
  kvm_run* run_ = nullptr;
  size_t run_size_ = 0;

  bool sync_regs_ = false;
  bool single_step_ = false, sw_breakpoints_ = false;  // SetGuestDebug  // kvm_run.s.regs is filled at every exit
  uint64_t last_tsc_read_ = 0;  // by GetState, see SetState
  bool tsc_read_valid_ = false;

  std::mutex kick_mu_;
  std::atomic<bool> kick_{false};
  bool in_run_ = false;  // under kick_mu_
  pthread_t thread_{};   // valid while in_run_
};

}  // namespace emu::accel
