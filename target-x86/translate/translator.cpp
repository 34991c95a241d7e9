// The block loop: fetch, decode, dispatch to the per-family translate functions.
#include "target-x86/translate/translator.h"

#include <cstdio>
#include <mutex>

#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

using accel::tcg::kPageMask;
using accel::tcg::kPageSize;

struct Table {
  TranslateFn fn[static_cast<size_t>(Mnemonic::kCount) + 1] = {};
  Table() {
    RegisterAlu(fn);
    RegisterShift(fn);
    RegisterMulDiv(fn);
    RegisterBcd(fn);
    RegisterBit(fn);
    RegisterString(fn);
    RegisterControl(fn);
    RegisterStack(fn);
    RegisterSystem(fn);
    RegisterMisc(fn);
    RegisterSse(fn);
    RegisterSseFp(fn);
  }
};

const Table& Dispatch() {
  static const Table t;
  return t;
}

InsnTraceFn g_trace = nullptr;
void* g_trace_opaque = nullptr;

// Fetches up to `n` bytes at linear `pc` without crossing into the next page
// unless `cross`; returns how many were read (stops at a fault when cross).
unsigned Fetch(X86Cpu* cpu, uint64_t pc, uint8_t* buf, unsigned n, int mmu_idx) {
  auto* mmu = cpu->mmu();
  for (unsigned i = 0; i < n; i++) {
    buf[i] = static_cast<uint8_t>(mmu->Fetch(&cpu->ctx, pc + i, 1, mmu_idx));
    if (cpu->ctx.exit == accel::tcg::ExitStatus::kException) return i;
  }
  return n;
}

}  // namespace

void SetInsnTrace(InsnTraceFn fn, void* opaque) {
  g_trace = fn;
  g_trace_opaque = opaque;
}

TranslateResult TranslateBlock(X86Cpu* cpu, uint64_t pc, uint64_t cs_base, uint32_t flags,
                               int max_insns, accel::tcg::Block* out) {
  TranslateResult res;
  Builder b(out);
  out->guest_pc = pc;
  const CpuMode mode = (flags & kTbCodeMask) == kTbCode64   ? CpuMode::k64
                       : (flags & kTbCodeMask) == kTbCode32 ? CpuMode::k32
                                                            : CpuMode::k16;
  const int mmu_idx = ((flags & kTbCplMask) >> kTbCplShift) == 3 ? 1 : 0;
  const bool is64 = mode == CpuMode::k64;
  if (flags & kTbOneInsn) max_insns = 1;
  int64_t cc_op = -1;  // unknown at block entry
  uint64_t lin = pc;
  const uint64_t page = pc & kPageMask;
  uint64_t eip = lin - cs_base;
  if (!is64) eip &= mode == CpuMode::k16 ? 0xffff : 0xffffffff;
  for (int n = 0;; n++) {
    uint8_t buf[16] = {};
    unsigned in_page = static_cast<unsigned>(kPageSize - (lin & (kPageSize - 1)));
    unsigned avail = in_page < 15 ? in_page : 15;
    unsigned got = Fetch(cpu, lin, buf, avail, mmu_idx);
    if (got < avail) {  // only possible for MMIO fetch faults: treat like a fetch fault
      if (n == 0) return res;
      cpu->ctx.exit = accel::tcg::ExitStatus::kNone;
      b.StEnv(Type::kI64, X86_OFF(s.rip), b.Const(eip));
      b.Goto(lin);
      break;
    }
    DecodedInst d;
    DecodeStatus st = Decode(buf, avail, mode, &d);
    bool straddles = false;
    if (st == DecodeStatus::kNeedMoreBytes && avail < 15) {
      // The instruction continues on the next page: fetch it (may fault).
      unsigned more = Fetch(cpu, lin + avail, buf + avail, 15 - avail, mmu_idx);
      if (more == 0) {
        if (n == 0) return res;  // #PF on the second page for the first instruction
        cpu->ctx.exit = accel::tcg::ExitStatus::kNone;
        cpu->env.exc_vector = -1;
        b.StEnv(Type::kI64, X86_OFF(s.rip), b.Const(eip));
        b.Goto(lin);
        break;
      }
      // A fault beyond the bytes we need is harmless: forget it.
      cpu->ctx.exit = accel::tcg::ExitStatus::kNone;
      cpu->env.exc_vector = -1;
      st = Decode(buf, avail + more, mode, &d);
      if (st == DecodeStatus::kOk && d.length > avail) {
        straddles = true;
        uint64_t pa2 = 0;
        if (!cpu->mmu()->TranslateCode(&cpu->ctx, lin + avail, mmu_idx, &pa2)) {
          if (n == 0) return res;
          cpu->ctx.exit = accel::tcg::ExitStatus::kNone;
          cpu->env.exc_vector = -1;
          b.StEnv(Type::kI64, X86_OFF(s.rip), b.Const(eip));
          b.Goto(lin);
          break;
        }
        res.phys_page2 = pa2 & kPageMask;
      }
    }
    b.InsnStart(eip);
    out->guest_insns++;
    if (flags & (kTbDebugData | (~0u << kTbDebugExecShift))) {
      // Breakpoints enabled (see helpers/debug.cpp): data traps of the previous
      // instruction, then an instruction breakpoint at this one.
      if (flags & kTbDebugData) b.Call(HelperDebugData, accel::tcg::kHelperMayExit);
      if (cpu->ExecBreakpoints(lin))
        b.Call(HelperDebugInsn, accel::tcg::kHelperMayExit, b.Const(lin));
    }
    Tx tx(b, d, cpu, flags, cs_base, eip, cc_op);
    if (st == DecodeStatus::kOk) {
      if (g_trace) g_trace(g_trace_opaque, lin, buf, d.length, tx.code_bits());
      TranslateFn fn = Dispatch().fn[static_cast<size_t>(d.mnemonic)];
      if (!fn || !fn(tx)) {
        if (!tx.end_block) {
          tx.Call(HelperUnimplemented, tx.C(static_cast<uint64_t>(d.mnemonic)));
          b.Exit();
          tx.end_block = true;
        }
      }
    } else if (st == DecodeStatus::kGeneralProtection) {
      d.length = 15;
      tx.Gp0();
    } else {
      if (d.length == 0) d.length = 1;
      tx.Ud();
    }
    uint64_t len = d.length;
    out->guest_size = static_cast<uint32_t>(lin + len - pc);
    if (tx.end_block && tx.direct_jump && !(flags & kTbTf) && !straddles && n + 1 < max_insns) {
      // A direct JMP/CALL forward within the page: the block goes on at the
      // target (one block change less). Forward only, so the block's bytes stay
      // one range from pc (the skipped ones included: a write there invalidates
      // it too) and translation ends.
      const uint64_t target = is64 ? tx.jump_eip + cs_base : ((tx.jump_eip + cs_base) & 0xffffffffu);
      if (target >= lin + len && (target & kPageMask) == page) {
        out->term = accel::tcg::Terminal{};
        eip = tx.jump_eip;
        lin = target;
        continue;
      }
    }
    if (tx.end_block) break;
    eip = tx.Mask(eip + len);
    lin += len;
    if (flags & kTbTf) {
      // Single-step trap after the instruction.
      b.StEnv(Type::kI64, X86_OFF(s.rip), b.Const(eip));
      b.InsnStart(eip);
      b.Call(HelperDebugStep, accel::tcg::kHelperMayExit);
      b.Exit();
      break;
    }
    if (n + 1 >= max_insns || straddles || (lin & kPageMask) != page) {
      b.Goto(is64 ? lin : (lin & 0xffffffffu));
      b.SetTerminalPc(X86_OFF(s.rip), eip);
      break;
    }
  }
  return res.ok = true, res;
}

}  // namespace emu::x86
