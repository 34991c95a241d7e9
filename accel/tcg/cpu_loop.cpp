// The vCPU loop: interrupts at block boundaries, find or translate the block
// for the current state, run it (following chained jumps), and turn every way
// it can stop into the next step: an exception to deliver, a halt, a request
// from another thread.
#include <chrono>
#include <cinttypes>
#include <thread>

#include "accel/tcg/ir/passes/passes.h"
#include "accel/tcg/ir/print.h"
#include "accel/tcg/profile.h"
#include "accel/tcg/tcg_accel.h"
#include "hw/core/log.h"
#include "target-x86/disas.h"
#include "target-x86/helpers/x86_cpu.h"
#include "target-x86/ir_names.h"
#include "target-x86/translate/translator.h"
#include "target-x86/translate/tx.h"

namespace emu::accel::tcg {

using x86::CpuState;
using x86::X86Cpu;

namespace {

void DumpCpu(std::FILE* f, X86Cpu& cpu) {
  const CpuState& s = cpu.env.s;
  static const char* const kNames[16] = {"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
                                         "R8",  "R9",  "R10", "R11", "R12", "R13", "R14", "R15"};
  for (int i = 0; i < 16; i++)
    std::fprintf(f, "%s=%016" PRIx64 "%s", kNames[i], s.regs[i], i % 4 == 3 ? "\n" : " ");
  std::fprintf(f, "RIP=%016" PRIx64 " RFL=%08" PRIx64 " CPL=%u HLT=%d\n", s.rip,
               x86::ComputeEflags(cpu.env), cpu.env.cpl, s.halted);
  static const char* const kSegs[6] = {"ES", "CS", "SS", "DS", "FS", "GS"};
  for (int i = 0; i < 6; i++)
    std::fprintf(f, "%s =%04x %016" PRIx64 " %08x %04x\n", kSegs[i], s.seg[i].selector,
                 s.seg[i].base, s.seg[i].limit, s.seg[i].attr);
  std::fprintf(f, "CR0=%08" PRIx64 " CR2=%016" PRIx64 " CR3=%016" PRIx64 " CR4=%08" PRIx64
                  " EFER=%" PRIx64 "\n",
               s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
}

struct TraceCtx {
  std::FILE* f;
};

void TraceInsn(void* opaque, uint64_t pc, const uint8_t* bytes, unsigned len, unsigned bits) {
  auto* t = static_cast<TraceCtx*>(opaque);
  if (!t->f) return;  // outside the -dfilter ranges
  x86::CpuMode m = bits == 64 ? x86::CpuMode::k64 : bits == 32 ? x86::CpuMode::k32 : x86::CpuMode::k16;
  std::fputs(x86::Disassemble(bytes, len, pc, m, 1).c_str(), t->f);
}

// A block found by virtual pc (jump cache) is the right one only while its
// pages still map where they did when it was translated: TLB flushes (every CR3
// write) no longer clear the jump cache, so this is checked on every hit. A page
// missing from the TLB counts as a mismatch (the slow path fills it).
inline bool StillMapped(const SoftMmu& mmu, const TranslationBlock* tb) {
  int mmu_idx = ((tb->key.flags & x86::kTbCplMask) >> x86::kTbCplShift) == 3 ? 1 : 0;
  uint64_t pa;
  if (!mmu.CodePhysCached(tb->key.pc, mmu_idx, &pa) || pa != tb->key.phys_pc) return false;
  if (tb->phys_page2 != ~0ull &&
      (!mmu.CodePhysCached((tb->key.pc & kPageMask) + kPageSize, mmu_idx, &pa) ||
       (pa & kPageMask) != tb->phys_page2))
    return false;
  return true;
}

}  // namespace

struct CpuLoop {
  static RunResult Run(TcgVcpu& v);
  static const InterpProgram* ChainMiss(ExecContext* ctx, const InterpProgram* from, int slot);
};

// The interpreter's way past a block end it has no chain for (ExecContext::
// chain_miss): a direct jump to another page or to a block not translated when
// this one was linked, or an indirect jump (RET, JMP/CALL through a register).
// Both keep CS and the mode, so the jump cache answers; a direct jump within the
// page is linked for next time.
const InterpProgram* CpuLoop::ChainMiss(ExecContext* ctx, const InterpProgram* from, int slot) {
  TcgVcpu& v = *static_cast<TcgVcpu*>(ctx->chain_opaque);
  auto* tb = const_cast<TranslationBlock*>(from->owner);
  if (!tb || (tb->key.flags & x86::kTbOneInsn)) return nullptr;
  X86Cpu& cpu = *v.cpu_;
  uint64_t npc;
  if (slot < 0) {
    uint64_t rip = cpu.env.s.rip;
    bool c64 = (tb->key.flags & x86::kTbCodeMask) == x86::kTbCode64;
    npc = c64 ? rip : ((tb->key.cs_base + rip) & 0xffffffffu);
  } else {
    npc = tb->prog.term.targets[slot];
  }
  TcgAccelerator& acc = *v.accel_;
  TranslationBlock* n = v.jc_.Find(npc, tb->key.cs_base, tb->key.flags, acc.cache().generation());
  if (!n || !StillMapped(*v.mmu_, n)) return nullptr;
  if (slot >= 0 && (tb->key.pc & kPageMask) == (n->key.pc & kPageMask) &&
      cpu.tlb_generation == v.seen_tlb_generation_)
    acc.cache().Link(tb, slot, n);
  return &n->prog;
}

RunResult TcgVcpu::Run() { return CpuLoop::Run(*this); }

RunResult CpuLoop::Run(TcgVcpu& v) {
  TcgAccelerator& acc = *v.accel_;
  const TcgOptions& opt = acc.options();
  X86Cpu& cpu = *v.cpu_;
  x86::X86Env& env = cpu.env;
  CpuState& s = env.s;
  ExecContext& ctx = cpu.ctx;
  // How the interpreter continues past an unlinked block end, and what its
  // inline caches check: the same for this whole run.
  ctx.chain_miss = &CpuLoop::ChainMiss;
  ctx.chain_opaque = &v;
  ctx.ind_table = v.ind_table_.get();
  ctx.code_epoch = acc.cache().epoch();
  std::unique_lock<FairLock> lock(acc.exec_lock());
  static TraceCtx trace{nullptr};
  if (opt.log_in_asm) {
    trace.f = opt.log;
    x86::SetInsnTrace(TraceInsn, &trace);
  }
  TranslationBlock* last_tb = nullptr;
  int last_slot = -1;
  unsigned since_yield = 0;
  TcgProfile* const prof = TcgProfile::Get();
  bool requests = true;  // check every request flag on entry
  for (;;) {
    // Requests from other threads: each sets its flag, then exit_request, so the
    // flags only need a look (atomic exchanges) after exit_request was seen.
    if (ctx.exit_request.exchange(0, std::memory_order_acq_rel)) requests = true;
    if (requests && v.kick_.exchange(false, std::memory_order_acq_rel)) {
      ctx.exit_request.store(0);
      return {ExitReason::kStopped, {}};
    }
    if (cpu.event == x86::CpuEvent::kShutdown) {
      cpu.event = x86::CpuEvent::kNone;
      return {ExitReason::kShutdown, cpu.event_detail};
    }
    if (cpu.event == x86::CpuEvent::kError) {
      cpu.event = x86::CpuEvent::kNone;
      return {ExitReason::kError, cpu.event_detail};
    }
    if (requests && v.init_request_.exchange(false)) {
      // INIT: power-on state except the APIC base, then wait for a SIPI.
      uint64_t apic_base = s.apic_base;
      s.ResetToPowerOn();
      s.apic_base = apic_base;
      x86::SetEflags(env, s.rflags);
      env.cpl = 0;
      env.exc_vector = -1;
      cpu.FlushTlb();
      s.halted = true;
      v.wait_sipi_.store(true);
      last_tb = nullptr;
    }
    int sipi = requests ? v.sipi_request_.exchange(-1) : -1;
    if (sipi >= 0 && v.wait_sipi_.load()) {
      v.wait_sipi_.store(false);
      s.halted = false;
      s.seg[x86::CS].selector = static_cast<uint16_t>(sipi << 8);
      s.seg[x86::CS].base = static_cast<uint64_t>(sipi) << 12;
      s.rip = 0;
      last_tb = nullptr;
    }
    if (v.wait_sipi_.load()) return {ExitReason::kHalt, {}};
    int a20 = requests ? v.a20_request_.exchange(-1) : -1;
    if (a20 >= 0) {
      uint64_t mask = a20 ? ~0ull : ~(1ull << 20);
      if (mask != env.a20_mask) {
        env.a20_mask = mask;
        hw::Log(hw::LogMask::kMmu, "mmu: TLB flush: A20 gate %s", a20 ? "on" : "off");
        cpu.FlushTlb();
      }
    }
    uint64_t mg = acc.map_generation();
    if (mg != v.seen_map_generation_) {
      v.seen_map_generation_ = mg;
      hw::Log(hw::LogMask::kMmu, "mmu: TLB flush: the guest memory map changed");
      cpu.FlushTlb();
    }
    if (cpu.tlb_generation != v.seen_tlb_generation_) {
      if (prof) prof->tlb_generation_changes++;
      v.seen_tlb_generation_ = cpu.tlb_generation;
      last_tb = nullptr;  // the jump cache stays: hits are checked (StillMapped)
    }
    // Interrupts at the block boundary.
    if (!s.interrupt_shadow) {
      if ((requests && v.nmi_.exchange(false)) || s.nmi_pending) {
        s.nmi_pending = false;
        if (opt.log_int) std::fprintf(opt.log, "tcg: NMI at %04x:%" PRIx64 "\n", s.seg[x86::CS].selector, s.rip);
        cpu.TakeInterrupt(x86::kNMI);
        last_tb = nullptr;
        if (v.stepping_) return {ExitReason::kStopped, "step"};
        continue;
      }
      // The source is only asked after InterruptRequest() (it may take the machine
      // lock). The hint is cleared before asking, so a request racing with a
      // "nothing pending" answer sets it again; it stays set while IF is clear.
      bool ask = (s.rflags & x86::kFlagIF) && cpu.irq_source &&
                 v.irq_hint_.load(std::memory_order_relaxed) && v.irq_hint_.exchange(false);
      if (ask && cpu.irq_source->Pending()) {
        v.irq_hint_.store(true);  // more may be pending after this one
        int vec = cpu.irq_source->Acknowledge();
        if (vec >= 0) {
          if (opt.log_int)
            std::fprintf(opt.log, "tcg: interrupt 0x%02x at %04x:%" PRIx64 "\n", vec,
                         s.seg[x86::CS].selector, s.rip);
          cpu.TakeInterrupt(vec);
          if (prof) prof->interrupts++;
          last_tb = nullptr;
          if (v.stepping_) return {ExitReason::kStopped, "step"};
          continue;
        }
      }
    }
    requests = false;
    if (s.halted) return {ExitReason::kHalt, {}};
    // Let other vCPUs in now and then.
    if (++since_yield >= 4096) {
      since_yield = 0;
      if (acc.num_vcpus() > 1) {
        // FairLock is FIFO: a waiting vCPU gets the lock before we do again.
        lock.unlock();
        lock.lock();
        last_tb = nullptr;
        continue;
      }
    }
    // Find the block.
    uint32_t flags = x86::ComputeTbFlags(env);
    bool shadow = s.interrupt_shadow;
    if (shadow || opt.singlestep || v.stepping_) flags |= x86::kTbOneInsn;
    uint64_t cs_base = s.seg[x86::CS].base;
    bool code64 = (flags & x86::kTbCodeMask) == x86::kTbCode64;
    uint64_t pc = code64 ? s.rip : ((cs_base + s.rip) & 0xffffffffu);
    TranslationBlock* tb = v.jc_.Find(pc, cs_base, flags, acc.cache().generation());
    if (tb && !StillMapped(*v.mmu_, tb)) tb = nullptr;
    if (prof) {
      prof->dispatch++;
      (tb ? prof->jc_hit : prof->jc_miss)++;
    }
    if (!tb) {
      uint64_t phys = 0;
      int mmu_idx = env.cpl == 3 ? 1 : 0;
      if (!v.mmu_->TranslateCode(&ctx, pc, mmu_idx, &phys)) {
        ctx.insn_pc = s.rip;
        if (opt.log_int)
          std::fprintf(opt.log, "tcg: exception %d (fetch) at %" PRIx64 "\n", env.exc_vector, s.rip);
        cpu.DeliverPendingException();
        last_tb = nullptr;
        if (v.stepping_) return {ExitReason::kStopped, "step"};
        continue;
      }
      TbKey key{pc, phys, cs_base, flags};
      tb = acc.cache().Lookup(key);
      if (tb && tb->phys_page2 != ~0ull) {
        // Its last instruction straddles into the next page: that page must map
        // where it did (fill the TLB for it; a fault there is the translator's to
        // report, so forget it and retranslate).
        uint64_t p2 = 0;
        if (!v.mmu_->TranslateCode(&ctx, (pc & kPageMask) + kPageSize, mmu_idx, &p2)) {
          ctx.exit = ExitStatus::kNone;
          env.exc_vector = -1;
          tb = nullptr;
        } else if ((p2 & kPageMask) != tb->phys_page2) {
          tb = nullptr;  // retranslate
        }
      }
      if (prof && tb) prof->hash_hit++;
      if (!tb) {
        auto t0 = std::chrono::steady_clock::now();
        if (acc.cache().OverBudget()) {
          acc.cache().FlushAll();
          last_tb = nullptr;
        }
        Block blk;
        const bool show = hw::LogInRange(pc);  // -dfilter
        trace.f = show ? opt.log : nullptr;
        if (opt.log_in_asm && show)
          std::fprintf(opt.log, "IN: %04x:%" PRIx64 "\n", s.seg[x86::CS].selector, s.rip);
        ctx.insn_pc = s.rip;
        x86::TranslateResult tr = x86::TranslateBlock(&cpu, pc, cs_base, flags, opt.max_block_insns, &blk);
        if (!tr.ok) {
          if (opt.log_int)
            std::fprintf(opt.log, "tcg: exception %d (fetch) at %" PRIx64 "\n", env.exc_vector, s.rip);
          cpu.DeliverPendingException();
          last_tb = nullptr;
          if (v.stepping_) return {ExitReason::kStopped, "step"};
          continue;
        }
        if (opt.log_op && show) std::fputs(PrintBlock(blk, "OP:", x86::X86IrNames()).c_str(), opt.log);
        RunPasses(blk);
        if (opt.log_op_opt && show)
          std::fputs(PrintBlock(blk, "OP after passes:", x86::X86IrNames()).c_str(), opt.log);
        auto nt = std::make_unique<TranslationBlock>();
        nt->key = key;
        nt->size = blk.guest_size;
        nt->insns = blk.guest_insns;
        nt->phys_page2 = tr.phys_page2;
        if (!CompileInterp(blk, &nt->prog, ctx.frame_offset))
          return {ExitReason::kError, "tcg: block too large for the interpreter"};
        if (opt.log_out_asm && show) {
          std::fprintf(opt.log, "OUT: pc=0x%" PRIx64 " (%zu interpreter ops)\n", pc, nt->prog.ops.size());
          std::fputs(PrintInterp(nt->prog, ctx.frame_offset, x86::X86IrNames()).c_str(), opt.log);
        }
        if (prof) {
          std::vector<uint8_t> bytes(blk.guest_size);
          for (uint32_t i = 0; i < blk.guest_size; i++)
            bytes[i] = static_cast<uint8_t>(v.mmu_->PhysRead(phys + i, 1));
          x86::CpuMode m = (flags & x86::kTbCodeMask) == x86::kTbCode64   ? x86::CpuMode::k64
                           : (flags & x86::kTbCodeMask) == x86::kTbCode32 ? x86::CpuMode::k32
                                                                          : x86::CpuMode::k16;
          nt->profile_text = std::make_unique<std::string>(
              x86::Disassemble(bytes.data(), bytes.size(), pc, m) +
              PrintBlock(blk, "", x86::X86IrNames()) + " ---- interpreter:\n" +
              PrintInterp(nt->prog, ctx.frame_offset, x86::X86IrNames()));
          prof->translations++;
          prof->translate_ns += static_cast<uint64_t>(
              std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
                  .count());
        }
        tb = acc.cache().Insert(std::move(nt));
        // Profiles count interpreter ops: under EMU_TCG_PROFILE blocks stay interpreted.
        if (CodeBuffer* code = acc.cache().code(); code && !prof) {
          CompileNative(&tb->prog, code, ctx.frame_offset);
          if (std::FILE* pm = acc.perf_map(); pm && tb->prog.native) {
            std::fprintf(pm, "%" PRIxPTR " %x tcg:0x%" PRIx64 "\n",
                         reinterpret_cast<uintptr_t>(tb->prog.native), tb->prog.native_bytes, pc);
            std::fflush(pm);  // perf may read it while emu still runs
          }
          if (opt.log_out_asm && show && tb->prog.native) {
            std::fprintf(opt.log, "OUT: host code at %p (%u bytes)\n", tb->prog.native,
                         tb->prog.native_bytes);
            std::fputs(x86::Disassemble(static_cast<const uint8_t*>(tb->prog.native),
                                        tb->prog.native_bytes,
                                        reinterpret_cast<uintptr_t>(tb->prog.native),
                                        x86::CpuMode::k64)
                           .c_str(),
                       opt.log);
          }
        }
      }
      v.jc_.Put(tb);
    }
    // A one-instruction block (the instruction after STI or MOV SS, -singlestep)
    // is never linked: it must come back here so that an interrupt held off by the
    // shadow or by IF=0 is taken right after it. Linked, the chain would run on
    // and the interrupt could wait until some later return with IF set -- a BSP
    // looping through schedule() with interrupts mostly off never took its timer
    // interrupt again (Linux -smp 2 hung in the AP's delay calibration).
    if (last_tb && last_slot >= 0 && !opt.log_exec && !last_tb->invalid &&
        !(last_tb->key.flags & x86::kTbOneInsn) &&
        (last_tb->key.pc & kPageMask) == (tb->key.pc & kPageMask))
      acc.cache().Link(last_tb, last_slot, tb);
    if (shadow) s.interrupt_shadow = false;
    if ((opt.log_cpu || opt.log_exec) && hw::LogInRange(tb->key.pc)) {
      if (opt.log_cpu) DumpCpu(opt.log, cpu);
      if (opt.log_exec)
        std::fprintf(opt.log, "Trace %d: [%016" PRIx64 "/%08x] %04x:%" PRIx64 "\n", v.index_,
                     tb->key.pc, flags, s.seg[x86::CS].selector, s.rip);
    }
    // Run it and what it chains to.
    // The interpreter follows chained jumps by itself; with several vCPUs it
    // returns every 4096 blocks so that a spin loop (an AP spinning, a BSP
    // waiting for one) lets the others in. Tracing, stepping and profiling see
    // every block.
    const bool one_block = opt.log_exec || opt.log_cpu || v.stepping_ || prof;
    const bool smp = acc.num_vcpus() > 1;
    const uint64_t chain_start = ctx.blocks;
    int slot;
    for (;;) {
      ctx.cur_tb = tb;
      if (prof) tb->exec_count++;
      ctx.chain_budget = one_block ? 0 : smp ? 4096 : ~0u;
      slot = tb->prog.native ? RunNative(&ctx, tb->prog, *acc.cache().code())
                             : RunInterp(&ctx, tb->prog);
      tb = const_cast<TranslationBlock*>(ctx.cur_tb);  // the last block it ran
      if (ctx.exit != ExitStatus::kNone || one_block) break;
      if (slot < 0) {
        // Indirect jumps (RET, JMP/CALL through registers) keep CS and the mode:
        // look the target up in the jump cache without a trip through the loop.
        if (tb->prog.term.kind != Terminal::Kind::kIndirect || (tb->key.flags & x86::kTbOneInsn) ||
            ctx.exit_request.load(std::memory_order_relaxed))
          break;
        bool c64 = (tb->key.flags & x86::kTbCodeMask) == x86::kTbCode64;
        uint64_t npc = c64 ? s.rip : ((tb->key.cs_base + s.rip) & 0xffffffffu);
        TranslationBlock* n = v.jc_.Find(npc, tb->key.cs_base, tb->key.flags, acc.cache().generation());
        if (n && !StillMapped(*v.mmu_, n)) n = nullptr;
        if (prof) (n ? prof->indirect_hit : prof->indirect_miss)++;
        if (!n) break;
        tb = n;
        continue;
      }
      if (ctx.exit_request.load(std::memory_order_relaxed)) break;
      // A spin loop runs as chained blocks: leave the chain now and then so that
      // the outer loop lets the other vCPUs in (an AP spinning or a BSP waiting for
      // one would otherwise starve the other).
      if (smp && ctx.blocks - chain_start >= 4096) {
        since_yield = 4095;
        break;
      }
      TranslationBlock* n = tb->next[slot];
      if (!n) {
        // Not chained (another page, or not translated when this one was linked):
        // a direct jump keeps CS and the mode, so the jump cache can answer.
        if (tb->key.flags & x86::kTbOneInsn) break;
        n = v.jc_.Find(tb->prog.term.targets[slot], tb->key.cs_base, tb->key.flags,
                       acc.cache().generation());
        if (n && !StillMapped(*v.mmu_, n)) n = nullptr;
        if (prof) (n ? prof->direct_jc_hit : prof->direct_jc_miss)++;
        if (!n) break;
        if ((tb->key.pc & kPageMask) == (n->key.pc & kPageMask) &&
            cpu.tlb_generation == v.seen_tlb_generation_)
          acc.cache().Link(tb, slot, n);
      } else if (prof) {
        prof->chained++;
      }
      tb = n;
    }
    ctx.cur_tb = nullptr;
    last_tb = nullptr;
    last_slot = -1;
    bool stepped = v.stepping_;
    if (prof) (ctx.exit == ExitStatus::kException ? prof->exits_exception : prof->exits_other)++;
    switch (ctx.exit) {
      case ExitStatus::kNone:
        last_tb = tb;
        last_slot = slot;
        break;
      case ExitStatus::kException:
        if (opt.log_int)
          std::fprintf(opt.log, "tcg: exception %d error %x at %04x:%" PRIx64 "\n", env.exc_vector,
                       env.exc_error, s.seg[x86::CS].selector, ctx.insn_pc);
        cpu.DeliverPendingException();
        break;
      case ExitStatus::kStopAtInsn:
        if (slot == -2) s.rip = ctx.insn_pc;  // else the terminal already stored rip
        ctx.exit = ExitStatus::kNone;
        break;
      case ExitStatus::kHelperExit:
        ctx.exit = ExitStatus::kNone;
        break;
    }
    if (stepped) return {ExitReason::kStopped, "step"};
  }
}

}  // namespace emu::accel::tcg
