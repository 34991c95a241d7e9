// MUL, IMUL (one, two and three operands), DIV, IDIV (#DE in the helper).
#include <utility>

#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

bool Mul(Tx& tx, bool sign) {
  const Operand& src = tx.in.ops[0];
  unsigned size = tx.OpSize(src);
  Type t = SizeType(size);
  Val s = tx.ReadOp(src);
  if (size == 1) {
    Val al = tx.GetReg(RAX, 1);
    Val a16 = sign ? tx.b.Sext(Type::kI16, Type::kI8, al) : tx.b.Zext(Type::kI16, Type::kI8, al);
    Val s16 = sign ? tx.b.Sext(Type::kI16, Type::kI8, s) : tx.b.Zext(Type::kI16, Type::kI8, s);
    Val p = tx.b.Mul(Type::kI16, a16, s16);
    tx.SetReg(RAX, 2, p);
    Val lo = tx.b.Mov(Type::kI8, p);
    Val ovf = sign ? tx.b.SetCond(Cond::kNe, Type::kI16, p, tx.b.Sext(Type::kI16, Type::kI8, lo))
                   : tx.b.SetCond(Cond::kNe, Type::kI16, tx.b.ShrI(Type::kI16, p, 8), tx.C(0));
    tx.SetCc(kCcKindMul, 1, lo, ovf);
    return true;
  }
  Val a = tx.GetReg(RAX, size);
  Val lo = tx.b.Mul(t, a, s);
  Val hi = sign ? tx.b.MulHs(t, a, s) : tx.b.MulHu(t, a, s);
  tx.SetReg(RAX, size, lo);
  tx.SetReg(RDX, size, hi);
  Val ovf = sign ? tx.b.SetCond(Cond::kNe, t, hi, tx.b.SarI(t, lo, 8 * size - 1))
                 : tx.b.SetCond(Cond::kNe, t, hi, tx.C(0));
  tx.SetCc(kCcKindMul, size, lo, ovf);
  return true;
}

bool Imul(Tx& tx) {
  if (tx.in.num_operands <= 1) return Mul(tx, true);
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  Val a = tx.ReadOp(tx.in.ops[1]);
  Val bv;
  if (tx.in.num_operands == 3) {
    bv = tx.C(static_cast<uint64_t>(tx.in.ops[2].imm) & accel::tcg::Mask(t));
  } else {
    bv = tx.ReadOp(dst);
    std::swap(a, bv);
  }
  Val lo = tx.b.Mul(t, a, bv);
  Val hi = tx.b.MulHs(t, a, bv);
  tx.WriteOp(dst, lo);
  tx.SetCc(kCcKindMul, size, lo, tx.b.SetCond(Cond::kNe, t, hi, tx.b.SarI(t, lo, 8 * size - 1)));
  return true;
}

bool Div(Tx& tx, bool sign) {
  const Operand& src = tx.in.ops[0];
  unsigned size = tx.OpSize(src);
  Val s = tx.ReadOp(src);
  tx.Call(HelperDiv, s, tx.C(size | (sign ? 0x100 : 0)));
  return true;
}

}  // namespace

void RegisterMulDiv(TranslateFn* t) {
  t[static_cast<size_t>(Mnemonic::MUL)] = [](Tx& tx) { return Mul(tx, false); };
  t[static_cast<size_t>(Mnemonic::IMUL)] = Imul;
  t[static_cast<size_t>(Mnemonic::DIV)] = [](Tx& tx) { return Div(tx, false); };
  t[static_cast<size_t>(Mnemonic::IDIV)] = [](Tx& tx) { return Div(tx, true); };
}

}  // namespace emu::x86
