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

  // Segments.
  void LoadSegReal(int seg, uint16_t sel);
  // Protected-mode load with checks; false after recording #GP/#NP/#SS/#TS.
  bool LoadSegProt(int seg, uint16_t sel);
  bool LoadSeg(int seg, uint16_t sel);  // by current mode
  bool ReadDescriptor(uint16_t sel, uint64_t* lo, uint64_t* hi, int fault_vec);
  bool WriteDescriptorLow(uint16_t sel, uint64_t lo);
  static void DescToSeg(uint16_t sel, uint64_t lo, uint64_t hi, Segment* s);
  void UpdateCpl() { env.cpl = static_cast<uint8_t>(env.s.seg[CS].dpl()); }

  // Control registers / MSRs / CPUID.
  bool WriteCr(int cr, uint64_t v);  // false after recording #GP
  uint64_t ReadCr(int cr);
  bool WriteMsr(uint32_t msr, uint64_t v);
  bool ReadMsr(uint32_t msr, uint64_t* v);
  void Cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4]);
  uint64_t ReadTsc();
  void FlushTlb() {
    if (mmu_) mmu_->FlushAll();
    tlb_generation++;
  }
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
