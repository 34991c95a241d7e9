#include "accel/tcg/backend/interp/interp.h"

#include <algorithm>
#include <cstring>

#include "accel/tcg/ir/eval.h"
#include "accel/tcg/softmmu.h"

namespace emu::accel::tcg {

namespace {

// Handler kinds: one per (op, width) or (setcond, condition) where a shared
// handler would branch on it. Order: the label table in Run follows it.
#define INTERP_HANDLERS(X)                                                                  \
  X(mov) X(add) X(sub) X(mul) X(and) X(or) X(xor) X(shl) X(shr) X(sar) X(not) X(neg)       \
  X(zext) X(sext) X(select)                                                                 \
  X(eq) X(ne) X(ltu) X(leu) X(gtu) X(geu) X(lt) X(le) X(gt) X(ge)                           \
  X(generic)                                                                                \
  X(ld_env8) X(ld_env16) X(ld_env32) X(ld_env64) X(st_env8) X(st_env16) X(st_env32)        \
  X(st_env64) X(ld_env64x2) X(st_env64x2)                                                   \
  X(ld_mem8) X(ld_mem16) X(ld_mem32) X(ld_mem64) X(st_mem8) X(st_mem16) X(st_mem32)        \
  X(st_mem64)                                                                               \
  X(call) X(call_exit) X(stop) X(end)

enum Kind : uint16_t {
#define X(n) kH_##n,
  INTERP_HANDLERS(X)
#undef X
  kHandlerCount
};

uint16_t KindOf(const Op& o) {
  const unsigned w = static_cast<unsigned>(o.type);  // 0..3 = 8..64 bits
  switch (o.opc) {
    case Opcode::k_mov: return kH_mov;
    case Opcode::k_add: return kH_add;
    case Opcode::k_sub: return kH_sub;
    case Opcode::k_mul: return kH_mul;
    case Opcode::k_and: return kH_and;
    case Opcode::k_or: return kH_or;
    case Opcode::k_xor: return kH_xor;
    case Opcode::k_shl: return kH_shl;
    case Opcode::k_shr: return kH_shr;
    case Opcode::k_sar: return kH_sar;
    case Opcode::k_not: return kH_not;
    case Opcode::k_neg: return kH_neg;
    case Opcode::k_zext: return kH_zext;
    case Opcode::k_sext: return kH_sext;
    case Opcode::k_select: return kH_select;
    case Opcode::k_setcond: return static_cast<uint16_t>(kH_eq + o.aux);
    case Opcode::k_ld_env: return static_cast<uint16_t>(kH_ld_env8 + w);
    case Opcode::k_st_env: return static_cast<uint16_t>(kH_st_env8 + w);
    case Opcode::k_ld_mem: return static_cast<uint16_t>(kH_ld_mem8 + w);
    case Opcode::k_st_mem: return static_cast<uint16_t>(kH_st_mem8 + w);
    case Opcode::k_call: return (o.aux & kHelperMayExit) ? kH_call_exit : kH_call;
    default: return kH_generic;
  }
}

// Sign-extends the low `bits` of v (shift form: no branch on the width).
inline int64_t Sx(uint64_t v, unsigned bits) {
  return static_cast<int64_t>(v << (64 - bits)) >> (64 - bits);
}

// The run loop. Called once with ctx == nullptr to publish its label table.
int Run(ExecContext* ctx, const InterpProgram* p, uint64_t* t, const void* const** table);

const void* const* Labels() {
  static const void* const* table = [] {
    const void* const* tab = nullptr;
    Run(nullptr, nullptr, nullptr, &tab);
    return tab;
  }();
  return table;
}

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

int Run(ExecContext* ctx, const InterpProgram* p, uint64_t* t, const void* const** table) {
#ifdef INTERP_THREADED
  static const void* const kLabels[] = {
#define X(n) &&L_##n,
      INTERP_HANDLERS(X)
#undef X
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
#define CASE(name) case kH_##name:
#define DISPATCH() goto dispatch
#endif
#define NEXT() \
  do {         \
    ++o;       \
    DISPATCH(); \
  } while (0)
  uint8_t* const env = ctx->env;
  SoftMmu* const mmu = ctx->mmu;
  const bool own_frame = !t;
  // The running block wrote to its own code (its TB was invalidated): finish this
  // instruction, then stop. The block never runs again, so the first op of the
  // next instruction becomes a stop (the end op stops by itself: no chaining
  // while ctx->exit is set).
  auto stop_after_insn = [&](const InterpOp* cur) {
    const InterpStop& st = p->stops[cur->y];
    if (st.op + 1 >= p->ops.size()) return;
    InterpOp& target = const_cast<InterpOp&>(p->ops[st.op]);
#ifdef INTERP_THREADED
    target.h = kLabels[kH_stop];
#else
    target.kind = kH_stop;
#endif
    target.imm = st.pc;
    target.x = static_cast<uint16_t>(st.pending);
  };
  // Stores the passes delayed past this point (Block::pending_stores).
  auto apply_pending = [&](uint32_t idx1) {
    for (const InterpPending* s = &p->pending[idx1 - 1];; ++s) {
      std::memcpy(env + s->offset, &t[s->temp], s->bytes);  // little-endian host
      if (s->last) break;
    }
  };
  const InterpOp* o;
  int slot;
enter:
  if (own_frame) t = p->frame.data();
  o = p->ops.data();
  ctx->blocks++;
#ifdef INTERP_THREADED
  DISPATCH();
#else
dispatch:
  switch (o->kind) {
#endif
  CASE(mov) t[o->d] = t[o->a] & o->imm; NEXT();
  CASE(add) t[o->d] = (t[o->a] + t[o->b]) & o->imm; NEXT();
  CASE(sub) t[o->d] = (t[o->a] - t[o->b]) & o->imm; NEXT();
  CASE(mul) t[o->d] = (t[o->a] * t[o->b]) & o->imm; NEXT();
  CASE(and) t[o->d] = t[o->a] & t[o->b] & o->imm; NEXT();
  CASE(or) t[o->d] = (t[o->a] | t[o->b]) & o->imm; NEXT();
  CASE(xor) t[o->d] = (t[o->a] ^ t[o->b]) & o->imm; NEXT();
  CASE(shl) t[o->d] = (t[o->a] << (t[o->b] & (Bits(o->type) - 1))) & o->imm; NEXT();
  CASE(shr) t[o->d] = (t[o->a] & o->imm) >> (t[o->b] & (Bits(o->type) - 1)); NEXT();
  CASE(sar) {
    unsigned bits = Bits(o->type);
    t[o->d] = static_cast<uint64_t>(Sx(t[o->a], bits) >> (t[o->b] & (bits - 1))) & o->imm;
    NEXT();
  }
  CASE(not) t[o->d] = ~t[o->a] & o->imm; NEXT();
  CASE(neg) t[o->d] = (0 - t[o->a]) & o->imm; NEXT();
  CASE(zext) t[o->d] = t[o->a] & Mask(static_cast<Type>(o->aux)) & o->imm; NEXT();
  CASE(sext)
    t[o->d] = static_cast<uint64_t>(Sx(t[o->a], Bits(static_cast<Type>(o->aux)))) & o->imm;
    NEXT();
  CASE(select) t[o->d] = (t[o->a] ? t[o->b] : t[o->c]) & o->imm; NEXT();
  CASE(eq) t[o->d] = ((t[o->a] ^ t[o->b]) & o->imm) == 0; NEXT();
  CASE(ne) t[o->d] = ((t[o->a] ^ t[o->b]) & o->imm) != 0; NEXT();
  CASE(ltu) t[o->d] = (t[o->a] & o->imm) < (t[o->b] & o->imm); NEXT();
  CASE(leu) t[o->d] = (t[o->a] & o->imm) <= (t[o->b] & o->imm); NEXT();
  CASE(gtu) t[o->d] = (t[o->a] & o->imm) > (t[o->b] & o->imm); NEXT();
  CASE(geu) t[o->d] = (t[o->a] & o->imm) >= (t[o->b] & o->imm); NEXT();
  CASE(lt) t[o->d] = Sx(t[o->a], Bits(o->type)) < Sx(t[o->b], Bits(o->type)); NEXT();
  CASE(le) t[o->d] = Sx(t[o->a], Bits(o->type)) <= Sx(t[o->b], Bits(o->type)); NEXT();
  CASE(gt) t[o->d] = Sx(t[o->a], Bits(o->type)) > Sx(t[o->b], Bits(o->type)); NEXT();
  CASE(ge) t[o->d] = Sx(t[o->a], Bits(o->type)) >= Sx(t[o->b], Bits(o->type)); NEXT();
  CASE(generic)
    t[o->d] = EvalValueOp(o->opc, o->type, o->aux, t[o->a], t[o->b], t[o->c]);
    NEXT();
  CASE(ld_env8) t[o->d] = env[o->imm]; NEXT();
  CASE(ld_env16) { uint16_t v; std::memcpy(&v, env + o->imm, 2); t[o->d] = v; NEXT(); }
  CASE(ld_env32) { uint32_t v; std::memcpy(&v, env + o->imm, 4); t[o->d] = v; NEXT(); }
  CASE(ld_env64) std::memcpy(&t[o->d], env + o->imm, 8); NEXT();
  CASE(st_env8) env[o->imm] = static_cast<uint8_t>(t[o->a]); NEXT();
  CASE(st_env16) { uint16_t w = static_cast<uint16_t>(t[o->a]); std::memcpy(env + o->imm, &w, 2); NEXT(); }
  CASE(st_env32) { uint32_t w = static_cast<uint32_t>(t[o->a]); std::memcpy(env + o->imm, &w, 4); NEXT(); }
  CASE(st_env64) std::memcpy(env + o->imm, &t[o->a], 8); NEXT();
  // Two adjacent 64-bit env accesses in one op (second: temp b, offset c).
  CASE(ld_env64x2)
    std::memcpy(&t[o->d], env + o->imm, 8);
    std::memcpy(&t[o->b], env + o->c, 8);
    NEXT();
  CASE(st_env64x2)
    std::memcpy(env + o->imm, &t[o->a], 8);
    std::memcpy(env + o->c, &t[o->b], 8);
    NEXT();
  // Guest memory: the soft-TLB hit inline, everything else through SoftMmu.
#define LD_MEM(bytes, T)                                                               \
  {                                                                                    \
    uint64_t va = t[o->a];                                                             \
    const TlbEntry& e = mmu->tlb_row(o->aux)[(va >> kPageBits) & (kTlbSize - 1)];      \
    if (INTERP_LIKELY(e.tag[0] == (va & kPageMask) &&                                  \
                      (va & (kPageSize - 1)) <= kPageSize - (bytes))) {                \
      T v;                                                                             \
      std::memcpy(&v, reinterpret_cast<const uint8_t*>(va + e.addend), bytes);        \
      t[o->d] = v;                                                                     \
      NEXT();                                                                          \
    }                                                                                  \
    if (o->x) apply_pending(o->x); /* env exact for the slow path */                \
    ctx->insn_pc = o->imm; /* page walks may look at the instruction */              \
    t[o->d] = mmu->Load(ctx, va, bytes, o->aux);                                       \
    if (ctx->exit == ExitStatus::kException) return -1;                                \
    NEXT();                                                                            \
  }
#define ST_MEM(bytes, T)                                                               \
  {                                                                                    \
    uint64_t va = t[o->a];                                                             \
    const TlbEntry& e = mmu->tlb_row(o->aux)[(va >> kPageBits) & (kTlbSize - 1)];      \
    if (INTERP_LIKELY(e.tag[1] == (va & kPageMask) &&                                  \
                      (va & (kPageSize - 1)) <= kPageSize - (bytes))) {                \
      T v = static_cast<T>(t[o->b]);                                                   \
      std::memcpy(reinterpret_cast<uint8_t*>(va + e.addend), &v, bytes);              \
      NEXT();                                                                          \
    }                                                                                  \
    if (o->x) apply_pending(o->x);                                                     \
    ctx->insn_pc = o->imm;                                                             \
    mmu->Store(ctx, va, t[o->b], bytes, o->aux);                                       \
    if (ctx->exit != ExitStatus::kNone) {                                              \
      if (ctx->exit == ExitStatus::kException) return -1;                              \
      if (ctx->exit == ExitStatus::kStopAtInsn) stop_after_insn(o);                    \
    }                                                                                  \
    NEXT();                                                                            \
  }
  CASE(ld_mem8) LD_MEM(1, uint8_t)
  CASE(ld_mem16) LD_MEM(2, uint16_t)
  CASE(ld_mem32) LD_MEM(4, uint32_t)
  CASE(ld_mem64) LD_MEM(8, uint64_t)
  CASE(st_mem8) ST_MEM(1, uint8_t)
  CASE(st_mem16) ST_MEM(2, uint16_t)
  CASE(st_mem32) ST_MEM(4, uint32_t)
  CASE(st_mem64) ST_MEM(8, uint64_t)
#undef LD_MEM
#undef ST_MEM
  CASE(call)
    ctx->insn_pc = t[o->x];  // helpers read the pc of their instruction
    t[o->d] = reinterpret_cast<HelperFn>(o->imm)(ctx, t[o->a], t[o->b], t[o->c]);
    NEXT();
  CASE(call_exit)
    ctx->insn_pc = t[o->x];
    t[o->d] = reinterpret_cast<HelperFn>(o->imm)(ctx, t[o->a], t[o->b], t[o->c]);
    if (ctx->exit != ExitStatus::kNone) {
      if (ctx->exit == ExitStatus::kException || ctx->exit == ExitStatus::kHelperExit) return -1;
      if (ctx->exit == ExitStatus::kStopAtInsn) stop_after_insn(o);
    }
    NEXT();
  CASE(stop)
    if (o->x) apply_pending(o->x);
    ctx->insn_pc = o->imm;  // the state is that before this instruction
    return -2;
  CASE(end)
    switch (p->term.kind) {
      case Terminal::Kind::kGoto: slot = 0; break;
      case Terminal::Kind::kBranch: slot = t[p->term.cond] ? 0 : 1; break;
      case Terminal::Kind::kIndirect: slot = -1; break;
      default: return -1;
    }
    if (slot >= 0 && p->term.pc_off != kNoTemp)
      std::memcpy(env + p->term.pc_off, &p->term.pc_vals[slot], 8);
    if (ctx->chain_budget && ctx->exit == ExitStatus::kNone &&
        !ctx->exit_request.load(std::memory_order_relaxed)) {
      const InterpProgram* n = slot >= 0 ? p->chain[slot] : nullptr;
      if (!n && ctx->chain_miss) n = ctx->chain_miss(ctx, p, slot);
      if (n) {
        ctx->chain_budget--;
        p = n;
        ctx->cur_tb = p->owner;
        goto enter;
      }
    }
    return slot;
#ifndef INTERP_THREADED
    default: return -1;
  }
#endif
#undef CASE
#undef NEXT
#undef DISPATCH
}

}  // namespace

bool CompileInterp(const Block& b, InterpProgram* out) {
  // Renumber: used constants first, then the other temps in order of appearance.
  std::vector<uint32_t> map(b.num_temps, kNoTemp);
  out->consts.clear();
  out->ops.clear();
  auto note_const = [&](uint32_t t) {
    if (t != kNoTemp && b.is_const[t] && map[t] == kNoTemp) {
      map[t] = static_cast<uint32_t>(out->consts.size());
      out->consts.push_back(b.const_val[t]);
    }
  };
  out->stops.clear();
  out->pending.clear();
  for (const Op& o : b.ops) {
    note_const(o.a);
    note_const(o.b);
    if (HasPendingStores(o)) {
      for (const EnvStore& s : b.pending_stores[o.c]) note_const(s.temp);
    } else {
      note_const(o.c);
    }
  }
  note_const(b.term.cond);
  // The pcs of instructions that call helpers, as constants (calls set insn_pc).
  std::vector<std::pair<uint64_t, uint16_t>> pc_consts;
  auto pc_const = [&](uint64_t pc) -> uint16_t {
    for (auto& [v, idx] : pc_consts)
      if (v == pc) return idx;
    auto idx = static_cast<uint16_t>(out->consts.size());
    out->consts.push_back(pc);
    pc_consts.emplace_back(pc, idx);
    return idx;
  };
  {
    uint64_t pc = 0;
    for (const Op& o : b.ops) {
      if (o.opc == Opcode::k_insn_start) pc = o.imm;
      if (o.opc == Opcode::k_call) pc_const(pc);
    }
  }
  uint32_t next = static_cast<uint32_t>(out->consts.size());
  auto num = [&](uint32_t t) -> uint16_t {
    if (t == kNoTemp) return 0;
    if (map[t] == kNoTemp) map[t] = next++;
    return static_cast<uint16_t>(map[t]);
  };
  const void* const* labels = Labels();
  // Flattens one pending-store list; returns 1 + its index (0 when none).
  auto pending = [&](const Op& o) -> uint32_t {
    if (!HasPendingStores(o) || b.pending_stores[o.c].empty()) return 0;
    auto idx1 = static_cast<uint32_t>(out->pending.size() + 1);
    for (const EnvStore& s : b.pending_stores[o.c])
      out->pending.push_back(InterpPending{s.offset, num(s.temp), static_cast<uint8_t>(Bytes(s.type)), 0});
    out->pending.back().last = 1;
    return idx1;
  };
  auto finish = [&](InterpOp& io) {
    if (labels) io.h = labels[io.kind];
  };
  out->ops.reserve(b.ops.size() + 1);
  // Instruction boundaries cost nothing at run time: memory ops carry their
  // instruction's pc (precise faults), calls a temp with it (helpers read
  // insn_pc), and stores and calls the place to stop at if they rewrite the
  // running block (InterpProgram::stops, resolved at the next boundary).
  uint64_t cur_pc = 0;
  std::vector<uint16_t> unresolved;
  size_t stop_target = ~size_t{0};  // an op index some stop points at
  // Pairs adjacent 64-bit env loads or stores into one op (half the dispatches
  // for the register write-back at block ends) unless a stop points between.
  auto pair_with_last = [&](const InterpOp& io) {
    if (out->ops.empty() || out->ops.size() == stop_target || io.imm > 0xffff) return false;
    InterpOp& last = out->ops.back();
    if (io.kind == kH_st_env64 && last.kind == kH_st_env64) {
      last.kind = kH_st_env64x2;
      last.b = io.a;
    } else if (io.kind == kH_ld_env64 && last.kind == kH_ld_env64) {
      last.kind = kH_ld_env64x2;
      last.b = io.d;
    } else {
      return false;
    }
    last.c = static_cast<uint16_t>(io.imm);
    return true;
  };
  for (size_t i = 0; i < b.ops.size(); i++) {
    const Op& o = b.ops[i];
    if (o.opc == Opcode::k_insn_start) {
      uint32_t pend = unresolved.empty() ? 0 : pending(o);
      if (pend > 0xffff) return false;
      for (uint16_t s : unresolved)
        out->stops[s] = InterpStop{static_cast<uint32_t>(out->ops.size()), pend, o.imm};
      if (!unresolved.empty()) stop_target = out->ops.size();
      unresolved.clear();
      cur_pc = o.imm;
      continue;
    }
    InterpOp io;
    io.opc = o.opc;
    io.type = o.type;
    io.aux = o.aux;
    io.imm = o.imm;
    io.kind = KindOf(o);
    const OpInfo& in = Info(o.opc);
    if (in.nin > 0) io.a = num(o.a);
    if (in.nin > 1) io.b = num(o.b);
    if (in.nin > 2) io.c = num(o.c);
    if (o.opc == Opcode::k_ld_mem || o.opc == Opcode::k_st_mem) {
      uint32_t pend = pending(o);
      if (pend > 0xffff) return false;
      io.x = static_cast<uint16_t>(pend);
    }
    if (in.nout) io.d = num(o.dst);
    if ((in.flags & kPure) && o.opc != Opcode::k_ld_env) io.imm = Mask(o.type);
    if (o.opc == Opcode::k_ld_mem || o.opc == Opcode::k_st_mem) io.imm = cur_pc;
    if (o.opc == Opcode::k_call) io.x = pc_const(cur_pc);
    if (o.opc == Opcode::k_st_mem || o.opc == Opcode::k_call) {
      if (out->stops.size() >= 0xffff) return false;
      io.y = static_cast<uint16_t>(out->stops.size());
      out->stops.push_back(InterpStop{0, 0});
      unresolved.push_back(io.y);
    }
    if (next > 0xffff) return false;
    if (pair_with_last(io)) continue;
    out->ops.push_back(io);
  }
  for (uint16_t s : unresolved) out->stops[s] = InterpStop{static_cast<uint32_t>(out->ops.size()), 0, 0};
  for (InterpOp& io : out->ops) finish(io);  // handler addresses, now that kinds are final
  // The terminal: the dispatch loop ends here.
  InterpOp end;
  end.kind = kH_end;
  finish(end);
  out->ops.push_back(end);
  out->term = b.term;
  if (b.term.kind == Terminal::Kind::kBranch) out->term.cond = num(b.term.cond);
  out->num_temps = next;
  out->frame.assign(next + 1, 0);
  std::copy(out->consts.begin(), out->consts.end(), out->frame.begin());
  return next <= 0xffff;
}

int RunInterp(ExecContext* ctx, const InterpProgram& p, uint64_t* t) {
  if (t && !p.consts.empty()) std::memcpy(t, p.consts.data(), p.consts.size() * sizeof(uint64_t));
  if (t) {
    uint32_t budget = ctx->chain_budget;
    ctx->chain_budget = 0;  // explicit temps belong to this program only
    int r = Run(ctx, &p, t, nullptr);
    ctx->chain_budget = budget;
    return r;
  }
  return Run(ctx, &p, nullptr, nullptr);
}

}  // namespace emu::accel::tcg
