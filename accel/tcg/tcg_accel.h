// The translator as an Accelerator: TcgAccelerator owns the TB cache shared by
// its vCPUs; each TcgVcpu owns its soft TLB, jump cache and x86 state and runs
// the find/translate/execute loop (cpu_loop.cpp).
//
// SMP: each vCPU may run on its own host thread, but only one executes guest
// code at a time (an execution lock, released every few thousand blocks and
// whenever Run() returns). This keeps the TB cache, code-page tracking and
// cross-vCPU TLB protection simple and race-free; it is not parallel.
#pragma once

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "accel/accel.h"
#include "accel/tcg/fair_lock.h"
#include "accel/tcg/interrupts.h"
#include "accel/tcg/softmmu.h"
#include "accel/tcg/tb_cache.h"
#include "hw/core/memory.h"

namespace emu::x86 {
class X86Cpu;
}

namespace emu::accel::tcg {

struct TcgOptions {
  bool singlestep = false;  // -singlestep: one guest instruction per block
  bool log_in_asm = false;  // -d in_asm: guest code as it is translated
  bool log_exec = false;    // -d exec: every block executed (disables chaining)
  bool log_cpu = false;     // -d cpu: registers before every block
  bool log_int = false;     // -d int: exceptions and interrupts
  bool log_op = false;      // -d op: IR of each new block as the front end built it
  bool log_op_opt = false;  // -d op_opt: the same after the passes
  bool log_out_asm = false; // -d out_asm: the compiled interpreter program
  std::FILE* log = stderr;  // -D file
  size_t code_budget = 64u << 20;  // bytes of translated code before a full flush
  int max_block_insns = 128;
  // Blocks run as native host code where the host allows (x86-64), else in the
  // portable interpreter (-accel tcg,backend=interp asks for it anywhere).
  bool native = true;
  size_t code_buffer_bytes = 256u << 20;  // native code before a full flush
  // -perfmap: native blocks are listed in /tmp/perf-<pid>.map ("addr size
  // tcg:<guest pc>"), the file perf reads to name JIT code.
  bool perf_map = false;
};

class TcgVcpu;

class TcgAccelerator : public Accelerator {
 public:
  // `memory` is the guest physical address space (RAM via HostPtr, everything
  // else through `bus`); both outlive the accelerator.
  TcgAccelerator(hw::AddressSpace* memory, CpuBus* bus, TcgOptions options = {});
  ~TcgAccelerator() override;
  std::string name() const override { return "tcg"; }
  std::unique_ptr<Vcpu> CreateVcpu(int index) override;

  // Internal (used by TcgVcpu).
  TbCache& cache() { return cache_; }
  FairLock& exec_lock() { return exec_lock_; }
  const TcgOptions& options() const { return options_; }
  std::FILE* perf_map() const { return perf_map_; }  // -perfmap, else nullptr
  hw::AddressSpace* memory() const { return memory_; }
  CpuBus* bus() const { return bus_; }
  uint64_t map_generation() const { return map_generation_.load(std::memory_order_acquire); }
  int num_vcpus() const { return num_vcpus_.load(); }
  void VcpuGone() { num_vcpus_--; }

 private:
  hw::AddressSpace* memory_;
  CpuBus* bus_;
  TcgOptions options_;
  std::unique_ptr<CodeBuffer> code_;  // before cache_, which refers to it
  TbCache cache_;
  FairLock exec_lock_;
  std::FILE* perf_map_ = nullptr;
  int listener_ = 0;
  std::atomic<uint64_t> map_generation_{0};
  std::atomic<int> num_vcpus_{0};
};

class TcgVcpu : public Vcpu {
 public:
  TcgVcpu(TcgAccelerator* accel, int index);
  ~TcgVcpu() override;

  RunResult Run() override;
  void Kick() override;
  void GetState(x86::CpuState& s) override;
  // The same without the execution lock, for the thread that calls Run(), between
  // two Run() calls: nobody else writes this vCPU's state then, and waiting for the
  // lock could deadlock with a vCPU that holds it and waits for the machine lock
  // (the monitor holds that one while it collects every vCPU's state).
  void GetStateFromOwnThread(x86::CpuState& s);
  void SetState(const x86::CpuState& s) override;
  int index() const override { return index_; }

  // The interrupt controller wiring (PIC now, LAPIC later). The source must
  // outlive the vCPU. InterruptRequest() is thread-safe: call it whenever the
  // source's Pending() may have changed to true.
  void SetInterruptSource(InterruptSource* source);
  void InterruptRequest();
  void RaiseNmi();
  // The A20 gate (port 0x92 / keyboard controller). Thread-safe request; applied
  // at the next block boundary.
  void SetA20(bool enabled);

  // Executes exactly one guest instruction (or takes one pending interrupt or
  // exception), then returns kStopped with detail "step"; other reasons as Run.
  // This is the KVM emulation fallback's entry: SetState, Step, GetState.
  RunResult Step();

  // LAPIC inter-processor signals, thread-safe requests applied at the next
  // block boundary: INIT resets the CPU into wait-for-SIPI (halted, interrupts
  // ignored); a startup IPI then starts it at vector * 4096 in real mode. The
  // machine should wake a halted vCPU's thread for them as for an interrupt.
  void RequestInit();
  void RequestSipi(uint8_t vector);
  bool waiting_for_sipi() const { return wait_sipi_.load(); }

  // For tests and the monitor.
  x86::X86Cpu& cpu() { return *cpu_; }
  SoftMmu& mmu() { return *mmu_; }
  uint64_t blocks_executed() const;

 private:
  friend struct CpuLoop;
  TcgAccelerator* accel_;
  int index_;
  std::unique_ptr<x86::X86Cpu> cpu_;
  std::unique_ptr<SoftMmu> mmu_;
  JumpCache jc_;
  std::unique_ptr<IndirectEntry[]> ind_table_{new IndirectEntry[1u << kIndirectBits]};
  std::atomic<bool> kick_{false};
  std::atomic<bool> nmi_{false};
  std::atomic<int> a20_request_{-1};
  std::atomic<bool> irq_hint_{true};
  std::atomic<bool> init_request_{false};
  std::atomic<int> sipi_request_{-1};
  std::atomic<bool> wait_sipi_{false};
  uint64_t seen_map_generation_ = 0;
  uint64_t seen_tlb_generation_ = 0;
  bool stepping_ = false;
};

}  // namespace emu::accel::tcg
