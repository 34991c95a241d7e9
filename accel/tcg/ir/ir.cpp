#include "accel/tcg/ir/ir.h"

#include <cstdio>

#include "accel/tcg/ir/eval.h"

namespace emu::accel::tcg {

namespace {
const OpInfo kInfo[] = {
#define IR_OP(name, nout, nin, flags) {#name, nout, nin, flags},
#include "accel/tcg/ir/ops.def"
#undef IR_OP
};
const char* const kCondNames[] = {"eq", "ne", "ltu", "leu", "gtu", "geu", "lt", "le", "gt", "ge"};
const char* const kTypeNames[] = {"i8", "i16", "i32", "i64"};
}  // namespace

const OpInfo& Info(Opcode op) { return kInfo[static_cast<unsigned>(op)]; }

Cond Invert(Cond c) {
  switch (c) {
    case Cond::kEq: return Cond::kNe;
    case Cond::kNe: return Cond::kEq;
    case Cond::kLtu: return Cond::kGeu;
    case Cond::kLeu: return Cond::kGtu;
    case Cond::kGtu: return Cond::kLeu;
    case Cond::kGeu: return Cond::kLtu;
    case Cond::kLt: return Cond::kGe;
    case Cond::kLe: return Cond::kGt;
    case Cond::kGt: return Cond::kLe;
    case Cond::kGe: return Cond::kLt;
  }
  return c;
}

bool EvalCond(Cond c, uint64_t a, uint64_t b, Type t) { return EvalCondInline(c, a, b, t); }

std::string Block::Dump() const {
  std::string out;
  char buf[160];
  auto tn = [&](uint32_t t) -> std::string {
    if (t == kNoTemp) return "-";
    if (t < is_const.size() && is_const[t]) {
      char cb[32];
      std::snprintf(cb, sizeof cb, "$0x%llx", static_cast<unsigned long long>(const_val[t]));
      return cb;
    }
    return "t" + std::to_string(t);
  };
  for (const Op& o : ops) {
    const OpInfo& in = Info(o.opc);
    std::string line = "  ";
    if (in.nout) line += tn(o.dst) + " = ";
    line += in.name;
    line += ".";
    line += kTypeNames[static_cast<unsigned>(o.type)];
    const uint32_t args[3] = {o.a, o.b, o.c};
    for (unsigned i = 0; i < in.nin; i++) line += " " + tn(args[i]);
    if (o.opc == Opcode::k_setcond) line += std::string(" ") + kCondNames[o.aux];
    if (o.opc == Opcode::k_ld_env || o.opc == Opcode::k_st_env || o.opc == Opcode::k_insn_start ||
        o.opc == Opcode::k_call) {
      std::snprintf(buf, sizeof buf, " [0x%llx]", static_cast<unsigned long long>(o.imm));
      line += buf;
    }
    out += line + "\n";
  }
  static const char* const kKinds[] = {"none", "goto", "branch", "indirect", "exit", "raise"};
  std::snprintf(buf, sizeof buf, "  %s cond=%s 0x%llx 0x%llx code=%u\n",
                kKinds[static_cast<unsigned>(term.kind)], tn(term.cond).c_str(),
                static_cast<unsigned long long>(term.targets[0]),
                static_cast<unsigned long long>(term.targets[1]), term.exit_code);
  out += buf;
  return out;
}

}  // namespace emu::accel::tcg
