// The interpreter's run loop: one handler per kind (handlers.def), operands
// read and written as 8-byte values at byte offsets from env (the guest state
// and, after it, the vCPU's frame of temps). The host is assumed
// little-endian: a narrow value is the low bytes of its 8-byte slot.
#include <cstring>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/backend/interp/internal.h"
#include "accel/tcg/ir/eval.h"
#include "accel/tcg/softmmu.h"

namespace emu::accel::tcg {

namespace {

using namespace interp;

inline uint64_t Get(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
inline void Put(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }

// An address add with write-back: to = a + imm, returning it (a is read once:
// `to` may be the same slot).
inline uint64_t Pre(uint8_t* base, uint32_t a, uint64_t imm, uint32_t to) {
  const uint64_t v = Get(base + a) + imm;
  Put(base + to, v);
  return v;
}

// Sign-extends the low `bits` of v (shift form: no branch on the width).
inline int64_t Sx(uint64_t v, unsigned bits) {
  return static_cast<int64_t>(v << (64 - bits)) >> (64 - bits);
}

const char* const kNames[] = {
#define INTERP_HANDLER(name) #name,
#include "accel/tcg/backend/interp/handlers.def"
#undef INTERP_HANDLER
};

// Dispatch: with GCC/Clang, direct threading through handler addresses stored
// in the ops (one indirect jump per handler predicts far better than a single
// switch); any other compiler gets the same handlers in a switch.
#if defined(__GNUC__) && !defined(EMU_INTERP_SWITCH)
#define INTERP_THREADED 1
#endif

#if defined(__GNUC__)
#define INTERP_LIKELY(x) __builtin_expect(!!(x), 1)
#else
#define INTERP_LIKELY(x) (x)
#endif

}  // namespace

// The running block wrote to its own code (its TB was invalidated): finish this
// instruction, then stop. The block never runs again, so the first op of the
// next instruction becomes a stop -- the terminal itself when that instruction
// is only the terminal (a Jcc). At the block's end nothing needs patching: the
// end op does not chain once ctx->exit is set (see `budget` in Run).
void InterpStopAfterInsn(const InterpProgram& p, const InterpOp& cur) {
  const InterpStop& st = p.stops[cur.y];
  if (!st.insn) return;
  InterpOp& target = const_cast<InterpOp&>(p.ops[st.op]);
  const void* const* labels = interp::Labels();
  if (labels) target.h = labels[k_stop];
  else target.kind = k_stop;
  target.pc = st.pc;
  target.x = static_cast<uint16_t>(st.pending);
}

namespace {

// The run loop. Called once with ctx == nullptr to publish its label table.
// Starts at op `start` of p (0: the block's entry).
int Run(ExecContext* ctx, const InterpProgram* p, const void* const** table, uint32_t start = 0) {
#ifdef INTERP_THREADED
  static const void* const kLabels[] = {
#define INTERP_HANDLER(name) &&L_##name,
#include "accel/tcg/backend/interp/handlers.def"
#undef INTERP_HANDLER
  };
  if (!ctx) {
    *table = kLabels;
    return 0;
  }
#define CASE(name) L_##name:
#define DISPATCH() goto* o->h
#else
  if (!ctx) {
    *table = nullptr;
    return 0;
  }
#define CASE(name) case k_##name:
#define DISPATCH() goto dispatch
#endif
#define NEXT() \
  do {         \
    ++o;       \
    DISPATCH(); \
  } while (0)
  uint8_t* const base = ctx->env;
  SoftMmu* const mmu = ctx->mmu;
#define A Get(base + o->a)
#define B Get(base + o->b)
#define C Get(base + o->c)
#define SET(v) Put(base + o->d, (v))
  auto stop_after_insn = [&](const InterpOp* cur) { InterpStopAfterInsn(*p, *cur); };
  const InterpOp* o;
  int slot;
  // Kept in registers while blocks chain; ctx sees them whenever something
  // else can look (slow paths, helpers, the return).
  // Zero once anything sets ctx->exit (slow paths, helpers): the end of the
  // block then returns instead of chaining, with one test per block.
  uint32_t budget = ctx->exit == ExitStatus::kNone ? ctx->chain_budget : 0;
  uint64_t blocks = 0;
#define SYNC() (ctx->cur_tb = p->owner)
#define RETURN(v)                  \
  do {                             \
    SYNC();                        \
    ctx->blocks += blocks;         \
    ctx->chain_budget = budget;    \
    return (v);                    \
  } while (0)
  o = p->ops.data() + start;
  goto enter_at_o;
enter:
  o = p->ops.data();
enter_at_o:
  blocks++;
#ifdef INTERP_THREADED
  DISPATCH();
#else
dispatch:
  switch (o->kind) {
#endif
  CASE(mov) SET(A & o->mask); NEXT();
  CASE(movi) SET(o->imm); NEXT();
  CASE(mov2) SET(A); Put(base + o->c, B); NEXT();
  CASE(movi2) SET(o->imm); Put(base + o->c, o->mask); NEXT();
  CASE(put8) base[o->d] = base[o->a]; NEXT();
  CASE(put16) std::memcpy(base + o->d, base + o->a, 2); NEXT();
  CASE(put32) std::memcpy(base + o->d, base + o->a, 4); NEXT();
  CASE(puti8) base[o->d] = static_cast<uint8_t>(o->imm); NEXT();
  CASE(puti16) std::memcpy(base + o->d, &o->imm, 2); NEXT();
  CASE(puti32) std::memcpy(base + o->d, &o->imm, 4); NEXT();
  CASE(add) SET((A + B) & o->mask); NEXT();
  CASE(add_ri) SET((A + o->imm) & o->mask); NEXT();
  CASE(sub) SET((A - B) & o->mask); NEXT();
  CASE(sub_ri) SET((A - o->imm) & o->mask); NEXT();
  CASE(mul) SET((A * B) & o->mask); NEXT();
  CASE(mul_ri) SET((A * o->imm) & o->mask); NEXT();
  CASE(and) SET(A & B & o->mask); NEXT();
  CASE(and_ri) SET(A & o->imm); NEXT();  // imm already masked
  CASE(or) SET((A | B) & o->mask); NEXT();
  CASE(or_ri) SET((A | o->imm) & o->mask); NEXT();
  CASE(xor) SET((A ^ B) & o->mask); NEXT();
  CASE(xor_ri) SET((A ^ o->imm) & o->mask); NEXT();
  // Shifts: register counts are taken modulo the width (imm = width - 1);
  // immediate counts arrive reduced.
  CASE(shl) SET((A << (B & o->imm)) & o->mask); NEXT();
  CASE(shl_ri) SET((A << o->imm) & o->mask); NEXT();
  CASE(shr) SET((A & o->mask) >> (B & o->imm)); NEXT();
  CASE(shr_ri) SET((A & o->mask) >> o->imm); NEXT();
  CASE(sar) SET(static_cast<uint64_t>(Sx(A, o->aux) >> (B & o->imm)) & o->mask); NEXT();
  CASE(sar_ri) SET(static_cast<uint64_t>(Sx(A, o->aux) >> o->imm) & o->mask); NEXT();
  CASE(not) SET(~A & o->mask); NEXT();
  CASE(neg) SET((0 - A) & o->mask); NEXT();
  CASE(sext) SET(static_cast<uint64_t>(Sx(A, o->aux)) & o->mask); NEXT();
  CASE(select) SET((A ? B : C) & o->mask); NEXT();
  CASE(generic) SET(EvalValueOp(o->opc, o->type, o->aux, A, B, C)); NEXT();
  // setcond: register-immediate forms compare with an immediate already masked
  // (unsigned) or sign-extended (signed) to the width.
  CASE(set_eq) SET(((A ^ B) & o->mask) == 0); NEXT();
  CASE(set_ne) SET(((A ^ B) & o->mask) != 0); NEXT();
  CASE(set_ltu) SET((A & o->mask) < (B & o->mask)); NEXT();
  CASE(set_leu) SET((A & o->mask) <= (B & o->mask)); NEXT();
  CASE(set_gtu) SET((A & o->mask) > (B & o->mask)); NEXT();
  CASE(set_geu) SET((A & o->mask) >= (B & o->mask)); NEXT();
  CASE(set_lt) SET(Sx(A, o->aux) < Sx(B, o->aux)); NEXT();
  CASE(set_le) SET(Sx(A, o->aux) <= Sx(B, o->aux)); NEXT();
  CASE(set_gt) SET(Sx(A, o->aux) > Sx(B, o->aux)); NEXT();
  CASE(set_ge) SET(Sx(A, o->aux) >= Sx(B, o->aux)); NEXT();
  CASE(set_eq_ri) SET((A & o->mask) == o->imm); NEXT();
  CASE(set_ne_ri) SET((A & o->mask) != o->imm); NEXT();
  CASE(set_ltu_ri) SET((A & o->mask) < o->imm); NEXT();
  CASE(set_leu_ri) SET((A & o->mask) <= o->imm); NEXT();
  CASE(set_gtu_ri) SET((A & o->mask) > o->imm); NEXT();
  CASE(set_geu_ri) SET((A & o->mask) >= o->imm); NEXT();
  CASE(set_lt_ri) SET(Sx(A, o->aux) < static_cast<int64_t>(o->imm)); NEXT();
  CASE(set_le_ri) SET(Sx(A, o->aux) <= static_cast<int64_t>(o->imm)); NEXT();
  CASE(set_gt_ri) SET(Sx(A, o->aux) > static_cast<int64_t>(o->imm)); NEXT();
  CASE(set_ge_ri) SET(Sx(A, o->aux) >= static_cast<int64_t>(o->imm)); NEXT();
  // Guest memory: the soft-TLB hit inline, everything else through SoftMmu. The
  // result is written only once the access succeeded (its destination may be a
  // guest register).
#define LD_MEM_POST(bytes, T, VA, POST)                                                 \
  {                                                                                    \
    const uint64_t va = (VA);                                                          \
    const TlbEntry& e = mmu->tlb_row(o->aux)[(va >> kPageBits) & (kTlbSize - 1)];      \
    if (INTERP_LIKELY(e.tag[0] == (va & kPageMask) &&                                  \
                      (va & (kPageSize - 1)) <= kPageSize - (bytes))) {                \
      T v;                                                                             \
      std::memcpy(&v, reinterpret_cast<const uint8_t*>(va + e.addend), bytes);        \
      SET(v);                                                                          \
      POST;                                                                            \
      NEXT();                                                                          \
    }                                                                                  \
    if (o->x) InterpApplyPending(base, *p, o->x); /* env exact for the slow path */                \
    ctx->insn_pc = o->pc; /* page walks may look at the instruction */               \
    uint64_t v = mmu->Load(ctx, va, bytes, o->aux);                                    \
    if (ctx->exit != ExitStatus::kNone) {                                              \
      if (ctx->exit == ExitStatus::kException) RETURN(-1);                              \
      budget = 0; /* no chaining past this block */                                   \
    }                                                                                  \
    SET(v);                                                                            \
    POST;                                                                              \
    NEXT();                                                                            \
  }
#define LD_MEM(bytes, T, VA) LD_MEM_POST(bytes, T, VA, (void)0)
#define ST_MEM(bytes, T, VA)                                                           \
  {                                                                                    \
    const uint64_t va = (VA);                                                          \
    const uint64_t data = C;                                                           \
    const TlbEntry& e = mmu->tlb_row(o->aux)[(va >> kPageBits) & (kTlbSize - 1)];      \
    if (INTERP_LIKELY(e.tag[1] == (va & kPageMask) &&                                  \
                      (va & (kPageSize - 1)) <= kPageSize - (bytes))) {                \
      T v = static_cast<T>(data);                                                      \
      std::memcpy(reinterpret_cast<uint8_t*>(va + e.addend), &v, bytes);              \
      NEXT();                                                                          \
    }                                                                                  \
    if (o->x) InterpApplyPending(base, *p, o->x);                                                     \
    ctx->insn_pc = o->pc;                                                              \
    SYNC(); /* a store into code looks for the running block */                      \
    mmu->Store(ctx, va, data, bytes, o->aux);                                          \
    if (ctx->exit != ExitStatus::kNone) {                                              \
      if (ctx->exit == ExitStatus::kException) RETURN(-1);                              \
      if (ctx->exit == ExitStatus::kStopAtInsn) stop_after_insn(o);                    \
      budget = 0;                                                                      \
    }                                                                                  \
    NEXT();                                                                            \
  }
  CASE(ld8) LD_MEM(1, uint8_t, A)
  CASE(ld16) LD_MEM(2, uint16_t, A)
  CASE(ld32) LD_MEM(4, uint32_t, A)
  CASE(ld64) LD_MEM(8, uint64_t, A)
  CASE(ld8_ri) LD_MEM(1, uint8_t, A + o->imm)
  CASE(ld16_ri) LD_MEM(2, uint16_t, A + o->imm)
  CASE(ld32_ri) LD_MEM(4, uint32_t, A + o->imm)
  CASE(ld64_ri) LD_MEM(8, uint64_t, A + o->imm)
  CASE(ld8_rr) LD_MEM(1, uint8_t, A + B)
  CASE(ld16_rr) LD_MEM(2, uint16_t, A + B)
  CASE(ld32_rr) LD_MEM(4, uint32_t, A + B)
  CASE(ld64_rr) LD_MEM(8, uint64_t, A + B)
  CASE(ld8_rs) LD_MEM(1, uint8_t, A + (B << o->imm))
  CASE(ld16_rs) LD_MEM(2, uint16_t, A + (B << o->imm))
  CASE(ld32_rs) LD_MEM(4, uint32_t, A + (B << o->imm))
  CASE(ld64_rs) LD_MEM(8, uint64_t, A + (B << o->imm))
  CASE(st8) ST_MEM(1, uint8_t, A)
  CASE(st16) ST_MEM(2, uint16_t, A)
  CASE(st32) ST_MEM(4, uint32_t, A)
  CASE(st64) ST_MEM(8, uint64_t, A)
  CASE(st8_ri) ST_MEM(1, uint8_t, A + o->imm)
  CASE(st16_ri) ST_MEM(2, uint16_t, A + o->imm)
  CASE(st32_ri) ST_MEM(4, uint32_t, A + o->imm)
  CASE(st64_ri) ST_MEM(8, uint64_t, A + o->imm)
  CASE(st8_rr) ST_MEM(1, uint8_t, A + B)
  CASE(st16_rr) ST_MEM(2, uint16_t, A + B)
  CASE(st32_rr) ST_MEM(4, uint32_t, A + B)
  CASE(st64_rr) ST_MEM(8, uint64_t, A + B)
  CASE(st8_rs) ST_MEM(1, uint8_t, A + (B << o->imm))
  CASE(st16_rs) ST_MEM(2, uint16_t, A + (B << o->imm))
  CASE(st32_rs) ST_MEM(4, uint32_t, A + (B << o->imm))
  CASE(st64_rs) ST_MEM(8, uint64_t, A + (B << o->imm))
  // An add of an immediate fused with the access that uses or follows it; the
  // write-back happens where the add was (before the access, or after it).
#define PRE(to) Pre(base, o->a, o->imm, (to))
  CASE(ld8_pre) LD_MEM(1, uint8_t, PRE(o->b))
  CASE(ld16_pre) LD_MEM(2, uint16_t, PRE(o->b))
  CASE(ld32_pre) LD_MEM(4, uint32_t, PRE(o->b))
  CASE(ld64_pre) LD_MEM(8, uint64_t, PRE(o->b))
  CASE(st8_pre) ST_MEM(1, uint8_t, PRE(o->d))
  CASE(st16_pre) ST_MEM(2, uint16_t, PRE(o->d))
  CASE(st32_pre) ST_MEM(4, uint32_t, PRE(o->d))
  CASE(st64_pre) ST_MEM(8, uint64_t, PRE(o->d))
#undef PRE
  CASE(ld8_post) LD_MEM_POST(1, uint8_t, A, Put(base + o->c, va + o->imm))
  CASE(ld16_post) LD_MEM_POST(2, uint16_t, A, Put(base + o->c, va + o->imm))
  CASE(ld32_post) LD_MEM_POST(4, uint32_t, A, Put(base + o->c, va + o->imm))
  CASE(ld64_post) LD_MEM_POST(8, uint64_t, A, Put(base + o->c, va + o->imm))
#undef LD_MEM
#undef LD_MEM_POST
#undef ST_MEM
  CASE(call)
    ctx->insn_pc = o->pc;  // helpers read the pc of their instruction
    SYNC();
    SET(reinterpret_cast<HelperFn>(o->imm)(ctx, A, B, C));
    if (ctx->exit != ExitStatus::kNone) budget = 0;
    NEXT();
  CASE(call_exit) {
    ctx->insn_pc = o->pc;
    SYNC();
    uint64_t r = reinterpret_cast<HelperFn>(o->imm)(ctx, A, B, C);
    if (INTERP_LIKELY(ctx->exit == ExitStatus::kNone)) {
      SET(r);
      NEXT();
    }
    if (ctx->exit == ExitStatus::kException) RETURN(-1);  // the result is not written
    SET(r);
    if (ctx->exit == ExitStatus::kHelperExit) RETURN(-1);
    if (ctx->exit == ExitStatus::kStopAtInsn) stop_after_insn(o);
    budget = 0;
    NEXT();
  }
  CASE(stop)
    if (o->x) InterpApplyPending(base, *p, o->x);
    ctx->insn_pc = o->pc;  // the state is that before this instruction
    RETURN(-2);
  // Compare and branch: the terminal's condition computed in place.
#define TAIL()                                                                         \
  do {                                                                                 \
    const InterpTail* tl = p->tail;                                                    \
    Put(base + tl[0].dst, (Get(base + tl[0].src) & tl[0].mask) | tl[0].val);          \
    Put(base + tl[1].dst, (Get(base + tl[1].src) & tl[1].mask) | tl[1].val);          \
  } while (0)
  CASE(br_eq) slot = ((A ^ B) & o->mask) == 0 ? 0 : 1; goto take_br;
  CASE(br_ne) slot = ((A ^ B) & o->mask) != 0 ? 0 : 1; goto take_br;
  CASE(br_ltu) slot = (A & o->mask) < (B & o->mask) ? 0 : 1; goto take_br;
  CASE(br_leu) slot = (A & o->mask) <= (B & o->mask) ? 0 : 1; goto take_br;
  CASE(br_gtu) slot = (A & o->mask) > (B & o->mask) ? 0 : 1; goto take_br;
  CASE(br_geu) slot = (A & o->mask) >= (B & o->mask) ? 0 : 1; goto take_br;
  CASE(br_lt) slot = Sx(A, o->aux) < Sx(B, o->aux) ? 0 : 1; goto take_br;
  CASE(br_le) slot = Sx(A, o->aux) <= Sx(B, o->aux) ? 0 : 1; goto take_br;
  CASE(br_gt) slot = Sx(A, o->aux) > Sx(B, o->aux) ? 0 : 1; goto take_br;
  CASE(br_ge) slot = Sx(A, o->aux) >= Sx(B, o->aux) ? 0 : 1; goto take_br;
  CASE(br_eq_ri) slot = (A & o->mask) == o->imm ? 0 : 1; goto take_br;
  CASE(br_ne_ri) slot = (A & o->mask) != o->imm ? 0 : 1; goto take_br;
  CASE(br_ltu_ri) slot = (A & o->mask) < o->imm ? 0 : 1; goto take_br;
  CASE(br_leu_ri) slot = (A & o->mask) <= o->imm ? 0 : 1; goto take_br;
  CASE(br_gtu_ri) slot = (A & o->mask) > o->imm ? 0 : 1; goto take_br;
  CASE(br_geu_ri) slot = (A & o->mask) >= o->imm ? 0 : 1; goto take_br;
  CASE(br_lt_ri) slot = Sx(A, o->aux) < static_cast<int64_t>(o->imm) ? 0 : 1; goto take_br;
  CASE(br_le_ri) slot = Sx(A, o->aux) <= static_cast<int64_t>(o->imm) ? 0 : 1; goto take_br;
  CASE(br_gt_ri) slot = Sx(A, o->aux) > static_cast<int64_t>(o->imm) ? 0 : 1; goto take_br;
  CASE(br_ge_ri) slot = Sx(A, o->aux) >= static_cast<int64_t>(o->imm) ? 0 : 1; goto take_br;
  CASE(end_goto) TAIL(); slot = 0; goto take;
  CASE(end_branch) slot = A ? 0 : 1; goto take_br;
  CASE(end_indirect) TAIL(); goto indirect;
  CASE(end) TAIL(); RETURN(-1);
#ifndef INTERP_THREADED
    default: RETURN(-1);
  }
#endif
take_br:
  TAIL();  // after the compare: the compiler keeps its operands out of the tail
take:
  if (p->term.pc_off != kNoTemp) Put(base + p->term.pc_off, p->term.pc_vals[slot]);
  if (budget && !ctx->exit_request.load(std::memory_order_relaxed)) {
    const InterpProgram* n = p->chain[slot];
    if (INTERP_LIKELY(n != nullptr)) {
      o = p->chain_op[slot];
      budget--;
      p = n;
      goto enter_at_o;
    }
    n = InterpFarLink(ctx, p, slot);
    if (n) {
      budget--;
      p = n;
      goto enter;
    }
  }
  RETURN(slot);
indirect:
  if (budget && !ctx->exit_request.load(std::memory_order_relaxed)) {
    // The inline cache: one of the last two targets, reached by the same vCPU
    // with nothing changed that could make it a different block.
    const bool cacheable = p->term.pc_off != kNoTemp && ctx->tlb_epoch && ctx->code_epoch;
    const uint64_t npc = cacheable ? Get(base + p->term.pc_off) : 0;
    if (cacheable) {
      if (const InterpProgram::IndirectTarget* t = InterpIndirectHit(ctx, *p, npc)) {
        o = t->op;
        budget--;
        p = t->next;
        goto enter_at_o;
      }
    }
    if (const InterpProgram* n = InterpIndirectMiss(ctx, p, npc, cacheable)) {
      budget--;
      p = n;
      goto enter;
    }
  }
  RETURN(-1);
#undef CASE
#undef NEXT
#undef DISPATCH
#undef A
#undef B
#undef C
#undef SET
#undef SYNC
#undef RETURN
#undef TAIL
}

}  // namespace

const void* const* interp::Labels() {
  static const void* const* table = [] {
    const void* const* tab = nullptr;
    Run(nullptr, nullptr, &tab);
    return tab;
  }();
  return table;
}

int RunInterp(ExecContext* ctx, const InterpProgram& p) { return Run(ctx, &p, nullptr); }

void InterpApplyPending(uint8_t* env, const InterpProgram& p, uint32_t idx1) {
  if (!idx1) return;
  for (const InterpPending* s = &p.pending[idx1 - 1];; ++s) {
    std::memcpy(env + s->dst, s->is_imm ? reinterpret_cast<const uint8_t*>(&s->imm) : env + s->src,
                s->bytes);
    if (s->last) break;
  }
}

const InterpProgram* InterpIndirectMiss(ExecContext* ctx, const InterpProgram* p, uint64_t npc,
                                        bool cacheable) {
  if (!ctx->chain_miss) return nullptr;
  const InterpProgram* n = ctx->chain_miss(ctx, p, -1);
  if (n && cacheable) {
    p->ind[1] = p->ind[0];  // the most recent first
    p->ind[0] = InterpProgram::IndirectTarget{npc, *ctx->tlb_epoch, *ctx->code_epoch, ctx, n,
                                              n->ops.data(), n->native};
  }
  return n;
}

const InterpProgram* InterpFarLink(ExecContext* ctx, const InterpProgram* p, int slot) {
  InterpProgram::IndirectTarget& f = p->far[slot];
  const bool cacheable = ctx->tlb_epoch && ctx->code_epoch;
  // A direct jump's target pc is fixed: the same vCPU with the same TLB
  // generation (no flush, CR3 load or INVLPG since) maps it to the same
  // physical page, and the same code epoch means that block is still valid.
  if (cacheable && f.next && f.ctx == ctx && f.tlb == *ctx->tlb_epoch && f.code == *ctx->code_epoch)
    return f.next;
  if (!ctx->chain_miss) return nullptr;
  const InterpProgram* n = ctx->chain_miss(ctx, p, slot);
  if (n && cacheable)
    f = InterpProgram::IndirectTarget{p->term.targets[slot], *ctx->tlb_epoch, *ctx->code_epoch, ctx,
                                      n, n->ops.data(), n->native};
  return n;
}

int RunInterpAt(ExecContext* ctx, const InterpProgram& p, uint32_t op) {
  const uint32_t budget = ctx->chain_budget;
  ctx->chain_budget = 0;
  const uint64_t blocks = ctx->blocks;
  const int slot = Run(ctx, &p, nullptr, op);
  ctx->blocks = blocks;  // the caller counted this block when it entered it
  ctx->chain_budget = budget;
  return slot;
}

const char* InterpHandlerName(unsigned handler) {
  return handler < kKindCount ? kNames[handler] : "?";
}

}  // namespace emu::accel::tcg
