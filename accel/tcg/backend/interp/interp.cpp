#include "accel/tcg/backend/interp/interp.h"

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
  for (const Op& o : b.ops) {
    InterpOp io{o.opc, o.type, o.aux, 0, 0, 0, 0, 0, o.imm};
    const OpInfo& in = Info(o.opc);
    if (in.nin > 0) io.a = num(o.a);
    if (in.nin > 1) io.b = num(o.b);
    if (in.nin > 2) io.c = num(o.c);
    if (in.nout) io.d = num(o.dst);
    if ((in.flags & kPure) && o.opc != Opcode::k_ld_env) io.imm = Mask(o.type);
    if (next > 0xffff) return false;
    out->ops.push_back(io);
  }
  out->term = b.term;
  if (b.term.kind == Terminal::Kind::kBranch) out->term.cond = num(b.term.cond);
  out->num_temps = next;
  return next <= 0xffff;
}

int RunInterp(ExecContext* ctx, const InterpProgram& p, uint64_t* t) {
  if (!p.consts.empty()) std::memcpy(t, p.consts.data(), p.consts.size() * sizeof(uint64_t));
  uint8_t* const env = ctx->env;
  SoftMmu* const mmu = ctx->mmu;
  for (const InterpOp& o : p.ops) {
    const uint64_t m = o.imm;
    switch (o.opc) {
      case Opcode::k_mov: t[o.d] = t[o.a] & m; break;
      case Opcode::k_add: t[o.d] = (t[o.a] + t[o.b]) & m; break;
      case Opcode::k_sub: t[o.d] = (t[o.a] - t[o.b]) & m; break;
      case Opcode::k_mul: t[o.d] = (t[o.a] * t[o.b]) & m; break;
      case Opcode::k_and: t[o.d] = t[o.a] & t[o.b] & m; break;
      case Opcode::k_or: t[o.d] = (t[o.a] | t[o.b]) & m; break;
      case Opcode::k_xor: t[o.d] = (t[o.a] ^ t[o.b]) & m; break;
      case Opcode::k_shl: t[o.d] = (t[o.a] << (t[o.b] & (Bits(o.type) - 1))) & m; break;
      case Opcode::k_shr: t[o.d] = (t[o.a] & m) >> (t[o.b] & (Bits(o.type) - 1)); break;
      case Opcode::k_not: t[o.d] = ~t[o.a] & m; break;
      case Opcode::k_neg: t[o.d] = (0 - t[o.a]) & m; break;
      case Opcode::k_zext: t[o.d] = t[o.a] & Mask(static_cast<Type>(o.aux)) & m; break;
      case Opcode::k_select: t[o.d] = (t[o.a] ? t[o.b] : t[o.c]) & m; break;
      case Opcode::k_setcond:
        t[o.d] = EvalCondInline(static_cast<Cond>(o.aux), t[o.a], t[o.b], o.type);
        break;
      case Opcode::k_ld_env:
        switch (o.type) {
          case Type::kI8: t[o.d] = env[o.imm]; break;
          case Type::kI16: { uint16_t v; std::memcpy(&v, env + o.imm, 2); t[o.d] = v; break; }
          case Type::kI32: { uint32_t v; std::memcpy(&v, env + o.imm, 4); t[o.d] = v; break; }
          case Type::kI64: std::memcpy(&t[o.d], env + o.imm, 8); break;
        }
        break;
      case Opcode::k_st_env: {
        uint64_t v = t[o.a];
        switch (o.type) {
          case Type::kI8: env[o.imm] = static_cast<uint8_t>(v); break;
          case Type::kI16: { uint16_t w = static_cast<uint16_t>(v); std::memcpy(env + o.imm, &w, 2); break; }
          case Type::kI32: { uint32_t w = static_cast<uint32_t>(v); std::memcpy(env + o.imm, &w, 4); break; }
          case Type::kI64: std::memcpy(env + o.imm, &v, 8); break;
        }
        break;
      }
      case Opcode::k_ld_mem:
        t[o.d] = mmu->Load(ctx, t[o.a], Bytes(o.type), o.aux);
        if (ctx->exit == ExitStatus::kException) return -1;
        break;
      case Opcode::k_st_mem:
        mmu->Store(ctx, t[o.a], t[o.b], Bytes(o.type), o.aux);
        if (ctx->exit == ExitStatus::kException) return -1;
        break;
      case Opcode::k_call:
        t[o.d] = reinterpret_cast<HelperFn>(o.imm)(ctx, t[o.a], t[o.b], t[o.c]);
        if ((o.aux & kHelperMayExit) && (ctx->exit == ExitStatus::kException ||
                                         ctx->exit == ExitStatus::kHelperExit))
          return -1;
        break;
      case Opcode::k_insn_start:
        ctx->insn_pc = o.imm;  // when stopping, the state is that before this insn
        if (ctx->exit == ExitStatus::kStopAtInsn) return -2;
        break;
      default:
        t[o.d] = EvalValueOp(o.opc, o.type, o.aux, t[o.a], t[o.b], t[o.c]);
        break;
    }
  }
  switch (p.term.kind) {
    case Terminal::Kind::kGoto: return 0;
    case Terminal::Kind::kBranch: return t[p.term.cond] ? 0 : 1;
    default: return -1;
  }
}

}  // namespace emu::accel::tcg
