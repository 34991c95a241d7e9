// The C++ side of native code: its slow paths (each mirrors the interpreter's
// handler off the fast path, interp.cpp) and RunNative, which enters native
// code and takes over from it when it hands a block to the interpreter.
#include <cstring>

#include "accel/tcg/backend/interp/internal.h"
#include "accel/tcg/backend/x86_64/native.h"
#include "accel/tcg/backend/x86_64/runtime.h"
#include "accel/tcg/ir/eval.h"
#include "accel/tcg/softmmu.h"
#include "accel/tcg/tb_cache.h"

namespace emu::accel::tcg {

namespace native {

namespace {

void Put(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint64_t Get(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// After a store or helper set ctx->exit without an exception or a helper
// exit: if it rewrote its own block, the interpreter finishes the instruction;
// otherwise the block goes on but does not chain.
int64_t AfterExitSet(ExecContext* ctx, const InterpProgram* p, const InterpOp* o) {
  if (ctx->exit == ExitStatus::kStopAtInsn) {
    InterpStopAfterInsn(*p, *o);
    return kResumeBase + (o - p->ops.data()) + 1;
  }
  ctx->chain_budget = 0;
  return 0;
}

}  // namespace

int64_t LoadSlow(ExecContext* ctx, uint64_t va, const InterpProgram* p, const InterpOp* o) {
  InterpApplyPending(ctx->env, *p, o->x);
  ctx->insn_pc = o->pc;
  const uint64_t v = ctx->mmu->Load(ctx, va, interp::MemBytes(o->handler), o->aux);
  if (ctx->exit != ExitStatus::kNone) {
    if (ctx->exit == ExitStatus::kException) return -1;  // nothing written
    ctx->chain_budget = 0;
  }
  Put(ctx->env + o->d, v);
  if (interp::IsPostKind(o->handler)) Put(ctx->env + o->c, va + o->imm);
  return 0;
}

int64_t StoreSlow(ExecContext* ctx, uint64_t va, uint64_t data, const InterpProgram* p,
                  const InterpOp* o) {
  InterpApplyPending(ctx->env, *p, o->x);
  ctx->insn_pc = o->pc;
  ctx->cur_tb = p->owner;  // a store into code looks for the running block
  ctx->mmu->Store(ctx, va, data, interp::MemBytes(o->handler), o->aux);
  if (ctx->exit == ExitStatus::kNone) return 0;
  if (ctx->exit == ExitStatus::kException) return -1;
  return AfterExitSet(ctx, p, o);
}

int64_t AfterCallExit(ExecContext* ctx, uint64_t r, const InterpProgram* p, const InterpOp* o) {
  if (ctx->exit == ExitStatus::kException) return -1;  // the result is not written
  Put(ctx->env + o->d, r);
  if (ctx->exit == ExitStatus::kHelperExit) return -1;
  return AfterExitSet(ctx, p, o);
}

void Generic(uint8_t* env, const InterpOp* o) {
  Put(env + o->d, EvalValueOp(o->opc, o->type, o->aux, Get(env + o->a), Get(env + o->b),
                              Get(env + o->c)));
}

const void* ChainMiss(ExecContext* ctx, const InterpProgram* p, int slot) {
  const InterpProgram* n = InterpFarLink(ctx, p, slot);
  return n ? n->native : nullptr;
}

// The interpreter's inline cache of an indirect end's last two targets
// (InterpProgram::ind), shared with it.
const void* Indirect(ExecContext* ctx, const InterpProgram* p) {
  const bool cacheable = p->term.pc_off != kNoTemp && ctx->tlb_epoch && ctx->code_epoch;
  const uint64_t npc = cacheable ? Get(ctx->env + p->term.pc_off) : 0;
  if (cacheable) {
    const InterpProgram::IndirectTarget* t = InterpIndirectHit(ctx, *p, npc);
    if (t && t->native) return t->native;
  }
  const InterpProgram* n = InterpIndirectMiss(ctx, p, npc, cacheable);
  if (n && cacheable && ctx->ind_table && p->owner && n->native) {
    ctx->ind_table[IndirectHash(npc)] = IndirectEntry{npc, p->owner->key.cs_base, *ctx->tlb_epoch,
                                                      *ctx->code_epoch, p->owner->key.flags, n->native};
  }
  return n ? n->native : nullptr;
}

}  // namespace native

namespace {

struct NativeRet {
  int64_t r;
  const InterpProgram* p;  // the program that returned
};
using EntryFn = NativeRet (*)(uint8_t* env, ExecContext* ctx, const TlbEntry* tlb, const void* code);

}  // namespace

int RunNative(ExecContext* ctx, const InterpProgram& p, const CodeBuffer& buf) {
  const auto entry = reinterpret_cast<EntryFn>(const_cast<void*>(buf.entry_stub()));
  const void* code = p.native;
  for (;;) {
    const NativeRet ret = entry(ctx->env, ctx, ctx->mmu->tlb_row(0), code);
    ctx->cur_tb = ret.p->owner;
    if (ret.r < native::kResumeBase) return static_cast<int>(ret.r);
    // The block goes on in the interpreter from an op boundary; then the chain
    // continues natively where it can.
    const InterpProgram& q = *ret.p;
    const int slot = RunInterpAt(ctx, q, static_cast<uint32_t>(ret.r - native::kResumeBase));
    if (ctx->exit != ExitStatus::kNone || !ctx->chain_budget ||
        ctx->exit_request.load(std::memory_order_relaxed))
      return slot;
    const void* next = nullptr;
    if (slot >= 0) next = q.chain_native[slot] ? q.chain_native[slot] : native::ChainMiss(ctx, &q, slot);
    else if (q.term.kind == Terminal::Kind::kIndirect) next = native::Indirect(ctx, &q);
    if (!next) return slot;
    ctx->chain_budget--;
    code = next;
  }
}

}  // namespace emu::accel::tcg
