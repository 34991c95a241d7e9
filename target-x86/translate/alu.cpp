// ALU family: ADD/OR/ADC/SBB/AND/SUB/XOR/CMP/TEST, INC/DEC/NEG/NOT, MOV forms,
// LEA, XCHG, CMPXCHG, XADD, CBW/CWD, BSWAP, CMOVcc, SETcc, NOP-likes.
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

using accel::tcg::Mask;

// A source operand at `size` (immediates are masked to it).
Val Src(Tx& tx, const Operand& op, unsigned size) {
  if (op.kind == OperandKind::kImm) return tx.C(static_cast<uint64_t>(op.imm) & Mask(SizeType(size)));
  return tx.ReadOp(op);
}

enum class AluOp { kAdd, kOr, kAdc, kSbb, kAnd, kSub, kXor, kCmp, kTest };

bool Alu(Tx& tx, AluOp op) {
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  Val addr;
  Val a = tx.ReadOp(dst, &addr);
  Val bv = Src(tx, tx.in.ops[1], size);
  Val r, carry;
  CcKind kind = kCcKindLogic;
  switch (op) {
    case AluOp::kAdd: r = tx.b.Add(t, a, bv); kind = kCcKindAdd; break;
    case AluOp::kSub: case AluOp::kCmp: r = tx.b.Sub(t, a, bv); kind = kCcKindSub; break;
    case AluOp::kAdc:
      carry = tx.Carry();
      r = tx.b.Add(t, tx.b.Add(t, a, bv), carry);
      kind = kCcKindAdc;
      break;
    case AluOp::kSbb:
      carry = tx.Carry();
      r = tx.b.Sub(t, tx.b.Sub(t, a, bv), carry);
      kind = kCcKindSbb;
      break;
    case AluOp::kAnd: case AluOp::kTest: r = tx.b.And(t, a, bv); break;
    case AluOp::kOr: r = tx.b.Or(t, a, bv); break;
    case AluOp::kXor: r = tx.b.Xor(t, a, bv); break;
  }
  if (op != AluOp::kCmp && op != AluOp::kTest) tx.WriteOp(dst, r, addr);
  if (kind == kCcKindLogic) tx.SetCc(kind, size, r);
  else tx.SetCc(kind, size, r, bv, carry);
  return true;
}

bool IncDec(Tx& tx, bool inc) {
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  Val addr;
  Val a = tx.ReadOp(dst, &addr);
  Val r = inc ? tx.b.AddI(t, a, 1) : tx.b.Sub(t, a, tx.C(1));
  CcKind kind = static_cast<CcKind>(tx.cc_op >> 2);
  if (tx.cc_op >= 0 && kind != kCcKindIncSaved && kind != kCcKindDecSaved) {
    Val cf = tx.Carry();  // inline for these kinds
    tx.WriteOp(dst, r, addr);
    tx.SetCc(inc ? kCcKindInc : kCcKindDec, size, r, {}, cf);
    return true;
  }
  // cc_op unknown (or a saved kind): CF would take the flags helper. Leave it to the
  // old lazy state instead, saved in cc_op2/cc_dst2 (cc_src and cc_src2 stay) unless
  // it is itself a saved kind, whose saved state still holds.
  Builder& b = tx.b;
  Val dst2, op2;
  if (tx.cc_op < 0) {
    Val op = b.LdEnv(Type::kI64, X86_OFF(cc_op));
    Val saved = b.SetCond(Cond::kLtu, Type::kI64, b.Sub(Type::kI64, op, tx.C(CcOp(kCcKindIncSaved, 0))),
                          tx.C(CcOp(kCcKindDecSaved, 0) + 4 - CcOp(kCcKindIncSaved, 0)));
    dst2 = b.Select(Type::kI64, saved, b.LdEnv(Type::kI64, X86_OFF(cc_dst2)), b.LdEnv(Type::kI64, X86_OFF(cc_dst)));
    op2 = b.Select(Type::kI64, saved, b.LdEnv(Type::kI64, X86_OFF(cc_op2)), op);
  }
  tx.WriteOp(dst, r, addr);
  if (dst2.valid()) {
    b.StEnv(Type::kI64, X86_OFF(cc_dst2), dst2);
    b.StEnv(Type::kI64, X86_OFF(cc_op2), op2);
  }
  b.StEnv(Type::kI64, X86_OFF(cc_dst), r);
  tx.WriteCcOp(CcOp(inc ? kCcKindIncSaved : kCcKindDecSaved, SizeLog2(size)));
  return true;
}

bool Neg(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Val addr;
  Val a = tx.ReadOp(dst, &addr);
  Val r = tx.b.Neg(SizeType(size), a);
  tx.WriteOp(dst, r, addr);
  tx.SetCc(kCcKindSub, size, r, a);
  return true;
}

bool Not(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  Val addr;
  Val a = tx.ReadOp(dst, &addr);
  tx.WriteOp(dst, tx.b.Not(SizeType(tx.OpSize(dst)), a), addr);
  return true;
}

bool Mov(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if ((dst.kind == OperandKind::kReg &&
       (dst.reg_class == RegClass::kCr || dst.reg_class == RegClass::kDr)) ||
      (src.kind == OperandKind::kReg &&
       (src.reg_class == RegClass::kCr || src.reg_class == RegClass::kDr)))
    return MovCrDr(tx);
  if (dst.kind == OperandKind::kReg && dst.reg_class == RegClass::kSeg) {
    if (dst.reg == CS) {
      tx.Ud();
      return true;
    }
    Val v = tx.ReadOp(src);
    tx.Call(HelperLoadSeg, tx.C(dst.reg), v);
    if (dst.reg == SS) {
      // MOV SS inhibits interrupts for one instruction and may change the stack size.
      tx.b.StEnv(Type::kI8, X86_OFF(s.interrupt_shadow), tx.C(1));
      tx.EndBlockAfter();
    } else if (!tx.real_or_vm86() && !tx.long64()) {
      // Whether segment checks are needed (kTbSegChecks) may change.
      tx.EndBlockAfter();
    }
    return true;
  }
  unsigned size = tx.OpSize(dst);
  Val v;
  if (src.kind == OperandKind::kReg && src.reg_class == RegClass::kSeg) {
    v = tx.ReadOp(src);
    if (dst.kind == OperandKind::kReg) size = dst.size;  // zero-extended into the register
    else size = 2;
    v = tx.b.Zext(SizeType(size), Type::kI16, v);
    if (dst.kind == OperandKind::kMem) {
      tx.StoreMem(2, tx.MemAddr(dst), v);
      return true;
    }
  } else {
    v = Src(tx, src, size);
  }
  tx.WriteOp(dst, v);
  return true;
}

bool MovExtend(Tx& tx, bool sign) {
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  unsigned ds = tx.OpSize(dst), ss = src.size ? src.size : 4;
  Val v = tx.ReadOp(src);
  Type dt = SizeType(ds), st = SizeType(ss);
  tx.WriteOp(dst, sign ? tx.b.Sext(dt, st, v) : tx.b.Zext(dt, st, v));
  return true;
}

bool Lea(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  Val ea = tx.Ea(tx.in.ops[1].mem);
  unsigned size = tx.OpSize(dst);
  tx.WriteOp(dst, tx.b.Mov(SizeType(size), ea));
  return true;
}

bool Xchg(Tx& tx) {
  const Operand& x = tx.in.ops[0];
  const Operand& y = tx.in.ops[1];
  unsigned size = tx.OpSize(x);
  // 90 without REX.B is NOP (the 32-bit form must not zero-extend EAX).
  if (x.kind == OperandKind::kReg && y.kind == OperandKind::kReg && x.reg == y.reg &&
      x.reg_class == y.reg_class) {
    bool plain_nop = tx.in.map == OpcodeMap::kPrimary && tx.in.opcode == 0x90;
    if (!plain_nop) tx.WriteOp(x, tx.ReadOp(x));  // 32-bit forms zero-extend
    return true;
  }
  Val xa, ya;
  Val xv = tx.ReadOp(x, &xa);
  Val yv = tx.ReadOp(y, &ya);
  tx.WriteOp(x, yv, xa);
  tx.WriteOp(y, xv, ya);
  (void)size;
  return true;
}

bool Cmpxchg(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  Val addr;
  Val d = tx.ReadOp(dst, &addr);
  Val acc = tx.GetReg(RAX, size);
  Val s = tx.ReadOp(src);
  Val eq = tx.b.SetCond(Cond::kEq, t, acc, d);
  Val r = tx.b.Sub(t, acc, d);
  if (dst.kind == OperandKind::kMem) {
    tx.WriteOp(dst, tx.b.Select(t, eq, s, d), addr);  // the processor always writes
    if (size == 4) {
      // The accumulator is written only when the compare fails: a success leaves the upper
      // half of RAX alone in 64-bit mode.
      Val olda64 = tx.GetReg(RAX, 8);
      tx.SetReg(RAX, 8, tx.b.Select(Type::kI64, eq, olda64, tx.b.Zext(Type::kI64, t, d)));
    } else {
      tx.SetReg(RAX, size, tx.b.Select(t, eq, acc, d));
    }
  } else {
    Val newd = tx.b.Select(t, eq, s, d);
    Val newacc = tx.b.Select(t, eq, acc, d);
    // Register forms write only the register that changes (matters for 32-bit zero-extension).
    if (size == 4) {
      Val oldd64 = tx.GetReg(dst.reg, 8);
      Val olda64 = tx.GetReg(RAX, 8);
      tx.SetReg(RAX, 8, tx.b.Select(Type::kI64, eq, olda64, tx.b.Zext(Type::kI64, t, newacc)));
      tx.SetReg(dst.reg, 8, tx.b.Select(Type::kI64, eq, tx.b.Zext(Type::kI64, t, newd), oldd64));
    } else {
      tx.SetReg(RAX, size, newacc);
      tx.WriteOp(dst, newd);
    }
  }
  tx.SetCc(kCcKindSub, size, r, d);
  return true;
}

bool Xadd(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  unsigned size = tx.OpSize(dst);
  Val addr;
  Val d = tx.ReadOp(dst, &addr);
  Val s = tx.ReadOp(src);
  Val r = tx.b.Add(SizeType(size), d, s);
  tx.WriteOp(src, d);
  tx.WriteOp(dst, r, addr);
  tx.SetCc(kCcKindAdd, size, r, s);
  return true;
}

bool Cbw(Tx& tx) {
  unsigned size = tx.osize();
  Val v = tx.GetReg(RAX, size / 2);
  tx.SetReg(RAX, size, tx.b.Sext(SizeType(size), SizeType(size / 2), v));
  return true;
}

bool Cwd(Tx& tx) {
  unsigned size = tx.osize();
  Type t = SizeType(size);
  tx.SetReg(RDX, size, tx.b.SarI(t, tx.GetReg(RAX, size), 8 * size - 1));
  return true;
}

bool Bswap(Tx& tx) {
  const Operand& r = tx.in.ops[0];
  unsigned size = tx.OpSize(r);
  Val v = tx.ReadOp(r);
  tx.WriteOp(r, size == 2 ? tx.C(0) : tx.b.Bswap(SizeType(size), v));
  return true;
}

bool Cmov(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Val s = tx.ReadOp(tx.in.ops[1]);
  Val d = tx.ReadOp(dst);
  Val c = tx.CondTrue(tx.in.cond);
  tx.WriteOp(dst, tx.b.Select(SizeType(size), c, s, d));
  return true;
}

bool Setcc(Tx& tx) {
  Val c = tx.CondTrue(tx.in.cond);
  tx.WriteOp(tx.in.ops[0], tx.b.Mov(Type::kI8, c));
  return true;
}

bool Cmpxchg8b16b(Tx& tx) {
  const Operand& op = tx.in.ops[0];
  if (op.kind != OperandKind::kMem) {
    tx.Ud();
    return true;
  }
  unsigned size = tx.in.mnemonic == Mnemonic::CMPXCHG16B ? 16 : 8;
  tx.Call(HelperCmpxchg16b, tx.MemAddr(op), tx.C(size));
  tx.cc_op = kCcEflags;
  return true;
}

bool Nop(Tx&) { return true; }

bool Movbe(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Val v = tx.ReadOp(tx.in.ops[1]);
  tx.WriteOp(dst, size == 2 ? tx.b.Rotl(Type::kI16, v, tx.C(8)) : tx.b.Bswap(SizeType(size), v));
  return true;
}

}  // namespace

void RegisterAlu(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::ADD) = [](Tx& tx) { return Alu(tx, AluOp::kAdd); };
  at(Mnemonic::OR) = [](Tx& tx) { return Alu(tx, AluOp::kOr); };
  at(Mnemonic::ADC) = [](Tx& tx) { return Alu(tx, AluOp::kAdc); };
  at(Mnemonic::SBB) = [](Tx& tx) { return Alu(tx, AluOp::kSbb); };
  at(Mnemonic::AND) = [](Tx& tx) { return Alu(tx, AluOp::kAnd); };
  at(Mnemonic::SUB) = [](Tx& tx) { return Alu(tx, AluOp::kSub); };
  at(Mnemonic::XOR) = [](Tx& tx) { return Alu(tx, AluOp::kXor); };
  at(Mnemonic::CMP) = [](Tx& tx) { return Alu(tx, AluOp::kCmp); };
  at(Mnemonic::TEST) = [](Tx& tx) { return Alu(tx, AluOp::kTest); };
  at(Mnemonic::INC) = [](Tx& tx) { return IncDec(tx, true); };
  at(Mnemonic::DEC) = [](Tx& tx) { return IncDec(tx, false); };
  at(Mnemonic::NEG) = Neg;
  at(Mnemonic::NOT) = Not;
  at(Mnemonic::MOV) = Mov;
  at(Mnemonic::MOVNTI) = Mov;
  at(Mnemonic::MOVZX) = [](Tx& tx) { return MovExtend(tx, false); };
  at(Mnemonic::MOVSX) = [](Tx& tx) { return MovExtend(tx, true); };
  at(Mnemonic::MOVSXD) = [](Tx& tx) { return MovExtend(tx, true); };
  at(Mnemonic::LEA) = Lea;
  at(Mnemonic::XCHG) = Xchg;
  at(Mnemonic::CMPXCHG) = Cmpxchg;
  at(Mnemonic::XADD) = Xadd;
  at(Mnemonic::CMPXCHG8B) = Cmpxchg8b16b;
  at(Mnemonic::CMPXCHG16B) = Cmpxchg8b16b;
  at(Mnemonic::CBW) = Cbw;
  at(Mnemonic::CWD) = Cwd;
  at(Mnemonic::BSWAP) = Bswap;
  at(Mnemonic::CMOVCC) = Cmov;
  at(Mnemonic::SETCC) = Setcc;
  at(Mnemonic::MOVBE) = Movbe;
  for (Mnemonic m : {Mnemonic::NOP, Mnemonic::PAUSE, Mnemonic::PREFETCH, Mnemonic::PREFETCHW,
                     Mnemonic::PREFETCHNTA, Mnemonic::PREFETCHT0, Mnemonic::PREFETCHT1,
                     Mnemonic::PREFETCHT2, Mnemonic::ENDBR64, Mnemonic::ENDBR32,
                     Mnemonic::LFENCE, Mnemonic::MFENCE, Mnemonic::SFENCE, Mnemonic::CLFLUSH,
                     Mnemonic::CLFLUSHOPT, Mnemonic::FWAIT})
    at(m) = Nop;
}

}  // namespace emu::x86
