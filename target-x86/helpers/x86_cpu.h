// The runtime side of one x86 vCPU under the translator: guest state, the page
// walk the soft TLB calls, and the architectural operations too complex for IR
// (exception/interrupt delivery, segment loads, control registers, MSRs, CPUID).
// Helpers called from translated code reach it through ExecContext::cpu.
#pragma once

#include <cstdint>
#include <string>

#include "accel/accel.h"
#include "accel/tcg/exec_context.h"
#include "accel/tcg/interrupts.h"
#include "accel/tcg/softmmu.h"
#include "target-x86/translate/env.h"

namespace emu::x86 {

enum Exc : int {
  kDE = 0, kDB = 1, kNMI = 2, kBP = 3, kOF = 4, kBR = 5, kUD = 6, kNM = 7, kDF = 8,
  kTS = 10, kNP = 11, kSS = 12, kGP = 13, kPF = 14, kMF = 16, kAC = 17, kMC = 18, kXM = 19,
};

// Why the vCPU loop must stop (beyond exceptions, which it handles itself).
enum class CpuEvent : uint8_t { kNone, kHalt, kShutdown, kError };

class X86Cpu : public accel::tcg::PageWalker {
 public:
  X86Cpu();
  void Attach(accel::tcg::SoftMmu* mmu, accel::CpuBus* bus) {
    mmu_ = mmu;
    bus_ = bus;
    ctx.mmu = mmu;
  }

  X86Env env;
  // The interpreter's per-vCPU temps, addressed from env (ExecContext::
  // frame_offset): must stay right after env.
  alignas(8) uint8_t interp_frame[accel::tcg::kInterpFrameBytes];
  accel::tcg::ExecContext ctx;
  CpuEvent event = CpuEvent::kNone;
  std::string event_detail;
  uint64_t tlb_generation = 0;  // bumped on every TLB flush (jump caches follow)
  uint64_t tsc_base_ns = 0;
  uint64_t tsc_offset = 0;      // TSC = host ns since tsc_base_ns + tsc_offset
  void WriteTsc(uint64_t v) { tsc_offset = v - (ReadTsc() - tsc_offset); }

  accel::tcg::SoftMmu* mmu() { return mmu_; }
  accel::CpuBus* bus() { return bus_; }

  // Guest memory for helpers. Return false after recording a fault.
  bool Read(uint64_t lin, unsigned size, uint64_t* v, int mmu_idx);
  bool Write(uint64_t lin, uint64_t v, unsigned size, int mmu_idx);
  int mmu_idx() const { return env.cpl == 3 ? 1 : 0; }

  // Records an exception for delivery (ctx.exit = kException).
  void Raise(int vector, uint32_t error = 0, bool has_error = false);
  void RaiseSoft(int vector, uint64_t next_rip);
  // Delivers the recorded exception with rip = ctx.insn_pc (faults) or
  // exc_next_rip (software interrupts). Handles #DF and triple faults.
  void DeliverPendingException();
  // Delivers an interrupt/exception now; return address `ret_rip`. Returns false
  // if delivery itself faulted (the new exception is recorded).
  bool DoInterrupt(int vector, bool soft, bool has_error, uint32_t error, uint64_t ret_rip);
  // External interrupt at an instruction boundary (rip is current).
  void TakeInterrupt(int vector);

  // PageWalker:
  bool Walk(uint64_t vaddr, accel::tcg::Access acc, int mmu_idx, uint64_t* paddr,
            unsigned* prot, uint64_t* page_size) override;
  unsigned WatchProt(uint64_t vaddr) override;
  void WatchHit(accel::tcg::ExecContext* ctx, uint64_t vaddr, unsigned size,
                accel::tcg::Access acc) override;
  // An access to I/O port range [port, port+size) while CR4.DE and DR7 enable a
  // breakpoint: I/O breakpoints (R/W = 10) it matches become pending trap hits.
  // Returns true when one matched.
  bool IoBreakpointHit(uint16_t port, unsigned size);

  // Segments.
  void LoadSegReal(int seg, uint16_t sel);
  // Protected-mode load with checks; false after recording #GP/#NP/#SS/#TS.
  // `fault_vec` replaces #GP for type/privilege errors (#TS during a task switch).
  bool LoadSegProt(int seg, uint16_t sel, int fault_vec = kGP);
  bool LoadSeg(int seg, uint16_t sel);  // by current mode
  bool ReadDescriptor(uint16_t sel, uint64_t* lo, uint64_t* hi, int fault_vec);
  bool WriteDescriptorLow(uint16_t sel, uint64_t lo);
  static void DescToSeg(uint16_t sel, uint64_t lo, uint64_t hi, Segment* s);
  void UpdateCpl() { env.cpl = static_cast<uint8_t>(env.s.seg[CS].dpl()); }
  // Checks shared by far RET and IRET (SDM: "return to same/outer privilege
  // level"): the return CS, the outer SS, and data segments the outer level may
  // not use. False after recording the fault.
  bool CheckReturnCs(uint16_t sel, Segment* cs);
  bool CheckReturnSs(uint16_t sel, unsigned rpl, bool to64, Segment* ss);
  void NullInaccessibleDataSegs(unsigned new_cpl);
  // Reads the stack upward from rSP without committing (far RET, IRET).
  struct StackPops {
    StackPops(X86Cpu* c, unsigned operand_size);
    bool Pop(uint64_t* v);  // false after recording a fault
    X86Cpu* cpu;
    unsigned os, sp_size;
    bool code64;
    uint64_t mask, sp;
  };

  // Hardware task switch (task.cpp). `sel` names the new TSS; `ret_eip` is saved
  // as the old task's EIP; `error` >= 0 is pushed on the new task's stack.
  enum class TaskReason { kJmp, kCall, kIret, kInt };
  bool TaskSwitch(uint16_t sel, TaskReason why, uint64_t ret_eip, int64_t error);
  // Set when a task switch failed after committing: the fault is delivered in the
  // new task as a new event (not combined into #DF with the one that switched).
  bool fault_in_new_task = false;

  // Debug registers (debug.cpp).
  // Enabled instruction breakpoints matching linear `lin` (bits 0-3).
  unsigned ExecBreakpoints(uint64_t lin) const;
  void WriteDr(unsigned n, uint64_t v);
  // RF only suppresses an instruction breakpoint at the next instruction: drop it
  // when that instruction has none (called after IRET and task switches).
  void SettleRf();
  unsigned pending_data_hits = 0;  // data breakpoints hit by the current instruction

  // Control registers / MSRs / CPUID.
  bool WriteCr(int cr, uint64_t v);  // false after recording #GP
  uint64_t ReadCr(int cr);
  bool WriteMsr(uint32_t msr, uint64_t v);
  bool ReadMsr(uint32_t msr, uint64_t* v);
  void Cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4]);
  uint64_t ReadTsc();
  // Every TLB entry of every PCID, global ones included.
  void FlushTlb() {
    if (mmu_) {
      mmu_->SetWatching(DataBreakpointsEnabled());  // DR7 may have changed (SetState)
      mmu_->FlushAll();
      mmu_->SwitchContext(Pcid());  // SetState may have brought another CR3
    }
    tlb_generation++;
  }
  // After a CR3 load: the TLB entries of its PCID, which lose their non-global
  // translations unless `keep` (MOV to CR3 with bit 63 set).
  void SwitchAddressSpace(bool keep) {
    if (mmu_) {
      mmu_->SwitchContext(Pcid());
      if (!keep) mmu_->FlushContext(true);
    }
    tlb_generation++;
  }
  // The current PCID (CR3[11:0] with CR4.PCIDE, else 0).
  uint64_t Pcid() const { return (env.s.cr4 & kCr4PCIDE) ? env.s.cr3 & 0xfff : 0; }
  bool DataBreakpointsEnabled() const;
  void FlushTlbPage(uint64_t lin) {
    if (mmu_) mmu_->FlushPage(lin);
    tlb_generation++;
  }
  // Reads a physical address (for the page walker and debug).
  uint64_t PhysRead(uint64_t pa, unsigned size) { return mmu_->PhysRead(pa & env.a20_mask, size); }
  void PhysWrite(uint64_t pa, uint64_t v, unsigned size) { mmu_->PhysWrite(pa & env.a20_mask, v, size); }

  // Stack helpers for interrupt delivery / far calls (SS:SP given explicitly).
  bool PushAt(uint64_t ss_base, uint64_t* sp, unsigned sp_size, uint64_t v, unsigned size,
              int mmu_idx);

  int apic_id_ = 0;
  // The translator executes in program order, with no predictor or buffer to
  // leak from: CPUID and IA32_ARCH_CAPABILITIES say it is not affected by the
  // speculative-execution bugs (cpuid_msr.cpp). False when the translator only
  // steps instructions for KVM (accel/kvm/kvm_fallback.cpp), whose guest runs on
  // the host's speculating CPU: there the speculation MSRs #GP as before.
  bool nonspeculative = true;
  // Guest-visible interrupt pin state.
  accel::tcg::InterruptSource* irq_source = nullptr;

 private:
  accel::tcg::SoftMmu* mmu_ = nullptr;
  accel::CpuBus* bus_ = nullptr;
  int delivering_ = 0;        // nesting for #DF / triple fault
  int first_vector_ = -1;
};

inline X86Cpu* CpuOf(accel::tcg::ExecContext* ctx) { return static_cast<X86Cpu*>(ctx->cpu); }

}  // namespace emu::x86
