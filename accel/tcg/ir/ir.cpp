#include "accel/tcg/ir/ir.h"

#include "accel/tcg/ir/eval.h"
#include "accel/tcg/ir/print.h"

namespace emu::accel::tcg {

namespace {
const OpInfo kInfo[] = {
#define IR_OP(name, nout, nin, flags) {#name, nout, nin, flags},
#include "accel/tcg/ir/ops.def"
#undef IR_OP
};
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

std::string Block::Dump() const { return PrintBlock(*this); }

}  // namespace emu::accel::tcg
