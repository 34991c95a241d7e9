#include "accel/tcg/backend/interp/interp.h"

#include <algorithm>
#include <cstring>

#include "accel/tcg/ir/eval.h"
#include "accel/tcg/softmmu.h"

namespace emu::accel::tcg {

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
  for (const Op& o : b.ops) {
    note_const(o.a);
    note_const(o.b);
    note_const(o.c);
  }
  note_const(b.term.cond);
  uint32_t next = static_cast<uint32_t>(out->consts.size());
  auto num = [&](uint32_t t) -> uint16_t {
    if (t == kNoTemp) return 0;
    if (map[t] == kNoTemp) map[t] = next++;
    return static_cast<uint16_t>(map[t]);
  };
  out->ops.reserve(b.ops.size());
  // Instruction boundaries are only materialized where the interpreter needs
  // them: before an instruction that calls a helper (helpers read insn_pc) and
  // after one that stored or called (a self-modifying store stops there).
  // Memory ops carry their instruction's pc for precise faults instead.
  uint64_t cur_pc = 0;
  bool prev_stored = true;  // entry: be conservative
  for (size_t i = 0; i < b.ops.size(); i++) {
    const Op& o = b.ops[i];
    if (o.opc == Opcode::k_insn_start) {
      cur_pc = o.imm;
      bool has_call = false, has_store = false;
      for (size_t j = i + 1; j < b.ops.size() && b.ops[j].opc != Opcode::k_insn_start; j++) {
        has_call = has_call || b.ops[j].opc == Opcode::k_call;
        has_store = has_store || b.ops[j].opc == Opcode::k_st_mem;
      }
      bool need = has_call || prev_stored;
      prev_stored = has_call || has_store;
      if (!need) continue;
    }
    InterpOp io{o.opc, o.type, o.aux, 0, 0, 0, 0, 0, o.imm};
    const OpInfo& in = Info(o.opc);
    if (in.nin > 0) io.a = num(o.a);
    if (in.nin > 1) io.b = num(o.b);
    if (in.nin > 2) io.c = num(o.c);
    if (in.nout) io.d = num(o.dst);
    if ((in.flags & kPure) && o.opc != Opcode::k_ld_env) io.imm = Mask(o.type);
    if (o.opc == Opcode::k_ld_mem || o.opc == Opcode::k_st_mem) io.imm = cur_pc;
    if (next > 0xffff) return false;
    out->ops.push_back(io);
  }
  // Sentinel: the dispatch loop ends here.
  out->ops.push_back(InterpOp{Opcode::kCount, Type::kI64, 0, 0, 0, 0, 0, 0, 0});
  out->term = b.term;
  if (b.term.kind == Terminal::Kind::kBranch) out->term.cond = num(b.term.cond);
  out->num_temps = next;
  out->frame.assign(next + 1, 0);
  std::copy(out->consts.begin(), out->consts.end(), out->frame.begin());
  return next <= 0xffff;
}

// Dispatch: with GCC/Clang, direct threading through a label table (one
// indirect jump per handler predicts far better than a single switch); any
// other compiler gets the same handlers in a switch.
#if defined(__GNUC__)
#define INTERP_THREADED 1
#endif

int RunInterp(ExecContext* ctx, const InterpProgram& p, uint64_t* t) {
  if (!t) t = p.frame.data();
  else if (!p.consts.empty()) std::memcpy(t, p.consts.data(), p.consts.size() * sizeof(uint64_t));
  uint8_t* const env = ctx->env;
  SoftMmu* const mmu = ctx->mmu;
  const InterpOp* o = p.ops.data();
#ifdef INTERP_THREADED
  static const void* const kLabels[] = {
#define IR_OP(name, nout, nin, flags) &&L_##name,
#include "accel/tcg/ir/ops.def"
#undef IR_OP
      &&L_end,
  };
#define CASE(name) L_##name:
#define NEXT()                                     \
  do {                                             \
    ++o;                                           \
    goto* kLabels[static_cast<unsigned>(o->opc)]; \
  } while (0)
  goto* kLabels[static_cast<unsigned>(o->opc)];
#else
#define CASE(name) case Opcode::k_##name:
#define NEXT() \
  do {         \
    ++o;       \
    continue;  \
  } while (0)
  for (;;) {
    switch (o->opc) {
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
  CASE(not) t[o->d] = ~t[o->a] & o->imm; NEXT();
  CASE(neg) t[o->d] = (0 - t[o->a]) & o->imm; NEXT();
  CASE(zext) t[o->d] = t[o->a] & Mask(static_cast<Type>(o->aux)) & o->imm; NEXT();
  CASE(select) t[o->d] = (t[o->a] ? t[o->b] : t[o->c]) & o->imm; NEXT();
  CASE(setcond)
    t[o->d] = EvalCondInline(static_cast<Cond>(o->aux), t[o->a], t[o->b], o->type);
    NEXT();
  CASE(mulhu) CASE(mulhs) CASE(sar) CASE(rotl) CASE(rotr) CASE(sext) CASE(clz) CASE(ctz)
  CASE(popcnt) CASE(bswap)
    t[o->d] = EvalValueOp(o->opc, o->type, o->aux, t[o->a], t[o->b], t[o->c]);
    NEXT();
  CASE(ld_env)
    switch (o->type) {
      case Type::kI8: t[o->d] = env[o->imm]; break;
      case Type::kI16: { uint16_t v; std::memcpy(&v, env + o->imm, 2); t[o->d] = v; break; }
      case Type::kI32: { uint32_t v; std::memcpy(&v, env + o->imm, 4); t[o->d] = v; break; }
      case Type::kI64: std::memcpy(&t[o->d], env + o->imm, 8); break;
    }
    NEXT();
  CASE(st_env) {
    uint64_t v = t[o->a];
    switch (o->type) {
      case Type::kI8: env[o->imm] = static_cast<uint8_t>(v); break;
      case Type::kI16: { uint16_t w = static_cast<uint16_t>(v); std::memcpy(env + o->imm, &w, 2); break; }
      case Type::kI32: { uint32_t w = static_cast<uint32_t>(v); std::memcpy(env + o->imm, &w, 4); break; }
      case Type::kI64: std::memcpy(env + o->imm, &v, 8); break;
    }
    NEXT();
  }
  CASE(ld_mem)
    t[o->d] = mmu->Load(ctx, t[o->a], Bytes(o->type), o->aux);
    if (ctx->exit == ExitStatus::kException) {
      ctx->insn_pc = o->imm;
      return -1;
    }
    NEXT();
  CASE(st_mem)
    mmu->Store(ctx, t[o->a], t[o->b], Bytes(o->type), o->aux);
    if (ctx->exit == ExitStatus::kException) {
      ctx->insn_pc = o->imm;
      return -1;
    }
    NEXT();
  CASE(call)
    t[o->d] = reinterpret_cast<HelperFn>(o->imm)(ctx, t[o->a], t[o->b], t[o->c]);
    if ((o->aux & kHelperMayExit) &&
        (ctx->exit == ExitStatus::kException || ctx->exit == ExitStatus::kHelperExit))
      return -1;
    NEXT();
  CASE(insn_start)
    ctx->insn_pc = o->imm;  // when stopping, the state is that before this insn
    if (ctx->exit == ExitStatus::kStopAtInsn) return -2;
    NEXT();
#ifdef INTERP_THREADED
L_end:
#else
      case Opcode::kCount:
        goto end;
    }
  }
end:
#endif
#undef CASE
#undef NEXT
  switch (p.term.kind) {
    case Terminal::Kind::kGoto: return 0;
    case Terminal::Kind::kBranch: return t[p.term.cond] ? 0 : 1;
    default: return -1;
  }
}

}  // namespace emu::accel::tcg
