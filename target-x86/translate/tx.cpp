// Operand access, addressing, lazy flags and block ends for the x86 front end.
#include "target-x86/translate/tx.h"

#include "target-x86/helpers/helpers.h"

namespace emu::x86 {

namespace {
uint32_t RegOff(unsigned reg) { return X86_OFF(s.regs) + reg * 8; }
}  // namespace

uint32_t ComputeTbFlags(const X86Env& e) {
  const CpuState& s = e.s;
  uint32_t f = 0;
  bool lma = s.efer & kEferLMA;
  if (s.rflags & kFlagVM) f |= kTbCode16 | kTbVm86;
  else if (lma && s.seg[CS].l()) f |= kTbCode64;
  else if (s.seg[CS].db()) f |= kTbCode32;
  if (s.seg[SS].db()) f |= kTbSs32;
  f |= static_cast<uint32_t>(e.cpl & 3) << kTbCplShift;
  if (s.cr0 & kCr0PE) f |= kTbPe;
  f |= static_cast<uint32_t>((s.rflags >> 12) & 3) << kTbIoplShift;
  if (lma) f |= kTbLma;
  if (s.cr0 & (kCr0TS | kCr0EM)) f |= kTbFpuTrap;
  if (s.rflags & kFlagTF) f |= kTbTf | kTbOneInsn;
  if (s.cr4 & kCr4OSFXSR) f |= kTbOsfxsr;
  if (s.dr[7] & 0xff) f |= DebugTbFlags(e);  // breakpoints enabled (rare)
  if (SegChecksNeeded(s)) f |= kTbSegChecks;  // protected mode, non-flat data segments
  return f;
}

Val Tx::GetReg(unsigned reg, unsigned size, bool high8) {
  if (high8) return b.LdEnv(Type::kI8, RegOff(reg) + 1);
  return b.LdEnv(SizeType(size), RegOff(reg));
}

void Tx::SetReg(unsigned reg, unsigned size, Val v, bool high8) {
  if (high8) {
    b.StEnv(Type::kI8, RegOff(reg) + 1, v);
  } else if (size == 4) {
    b.StEnv(Type::kI64, RegOff(reg), b.Zext(Type::kI64, Type::kI32, v));
  } else {
    b.StEnv(SizeType(size), RegOff(reg), v);
  }
}

Val Tx::Ea(const MemOperand& m) {
  Type t = SizeType(m.address_size ? m.address_size : 8);
  if (m.rip_relative) return C((next_pc + m.disp) & accel::tcg::Mask(t));
  Val a;
  if (m.base >= 0) a = GetReg(m.base, 8);
  if (m.index >= 0) {
    Val idx = GetReg(m.index, 8);
    unsigned sh = m.scale == 8 ? 3 : m.scale == 4 ? 2 : m.scale == 2 ? 1 : 0;
    if (sh) idx = b.ShlI(Type::kI64, idx, sh);
    a = a.valid() ? b.Add(Type::kI64, a, idx) : idx;
  }
  if (!a.valid()) return C(static_cast<uint64_t>(m.disp) & accel::tcg::Mask(t));
  if (m.disp) return b.Add(t, a, C(static_cast<uint64_t>(m.disp)));
  return b.Mov(t, a);
}

Val Tx::Linear(unsigned seg, Val ea, unsigned addr_size) {
  if (long64()) {
    if (seg == FS || seg == GS) return b.Add(Type::kI64, SegBase(seg), ea);
    return ea;
  }
  Val lin = b.Add(Type::kI32, SegBase(seg), ea);
  if ((flags & kTbSegChecks) && n_seg_refs < sizeof seg_refs / sizeof seg_refs[0])
    seg_refs[n_seg_refs++] = {lin.id, ea.id, static_cast<uint8_t>(seg), static_cast<uint8_t>(addr_size ? addr_size : 4)};
  return lin;
}

void Tx::CheckSeg(Val lin, unsigned size, bool write) {
  for (unsigned i = n_seg_refs; i-- > 0;) {
    const SegRef& r = seg_refs[i];
    if (r.lin != lin.id) continue;
    Val off = b.Zext(Type::kI64, SizeType(r.addr_size), Val{r.ea});
    Call(HelperSegCheck, off, C(r.seg | size << 8 | (write ? 1u << 16 : 0)));
    return;
  }
}

Val Tx::ReadOp(const Operand& op, Val* addr) {
  switch (op.kind) {
    case OperandKind::kReg:
      switch (op.reg_class) {
        case RegClass::kGpr8: return GetReg(op.reg, 1);
        case RegClass::kGpr8High: return GetReg(op.reg, 1, true);
        case RegClass::kGpr16: return GetReg(op.reg, 2);
        case RegClass::kGpr32: return GetReg(op.reg, 4);
        case RegClass::kGpr64: return GetReg(op.reg, 8);
        case RegClass::kSeg:
          return b.LdEnv(Type::kI16, X86_OFF(s.seg) + op.reg * sizeof(Segment) +
                                         offsetof(Segment, selector));
        default: return C(0);
      }
    case OperandKind::kMem: {
      Val lin = MemAddr(op);
      if (addr) *addr = lin;
      return LoadMem(OpSize(op), lin);
    }
    case OperandKind::kImm:
    case OperandKind::kRel:
      return C(static_cast<uint64_t>(op.imm) & accel::tcg::Mask(SizeType(OpSize(op))));
    default:
      return C(0);
  }
}

void Tx::WriteOp(const Operand& op, Val v, Val addr) {
  switch (op.kind) {
    case OperandKind::kReg:
      switch (op.reg_class) {
        case RegClass::kGpr8: SetReg(op.reg, 1, v); return;
        case RegClass::kGpr8High: SetReg(op.reg, 1, v, true); return;
        case RegClass::kGpr16: SetReg(op.reg, 2, v); return;
        case RegClass::kGpr32: SetReg(op.reg, 4, v); return;
        case RegClass::kGpr64: SetReg(op.reg, 8, v); return;
        default: return;
      }
    case OperandKind::kMem:
      StoreMem(OpSize(op), addr.valid() ? addr : MemAddr(op), v);
      return;
    default:
      return;
  }
}

Val Tx::PushAddr(unsigned size, Val* new_sp) {
  Type st = SizeType(stack_size());
  *new_sp = b.Sub(st, Sp(), C(size));
  return StackLin(*new_sp);
}

void Tx::Push(unsigned size, Val v) {
  Val nsp;
  Val lin = PushAddr(size, &nsp);
  StoreMem(size, lin, v);
  SetReg(RSP, stack_size(), nsp);
}

Val Tx::Pop(unsigned size) {
  Val sp = Sp();
  Val v = LoadMem(size, StackLin(sp));
  SetReg(RSP, stack_size(), b.Add(SizeType(stack_size()), sp, C(size)));
  return v;
}

void Tx::WriteCcOp(uint32_t op) {
  if (cc_op == static_cast<int64_t>(op)) return;
  b.StEnv(Type::kI64, X86_OFF(cc_op), C(op));
  cc_op = op;
}

void Tx::SetCc(CcKind kind, unsigned size, Val dst, Val src, Val src2) {
  b.StEnv(Type::kI64, X86_OFF(cc_dst), dst);
  if (src.valid()) b.StEnv(Type::kI64, X86_OFF(cc_src), src);
  if (src2.valid()) b.StEnv(Type::kI64, X86_OFF(cc_src2), src2);
  WriteCcOp(CcOp(kind, SizeLog2(size)));
}

void Tx::SetCcEflags(Val arith) {
  b.StEnv(Type::kI64, X86_OFF(cc_src), b.AndI(Type::kI64, arith, kArithFlags));
  WriteCcOp(kCcEflags);
}

Val Tx::ArithFlags() {
  if (cc_op == kCcEflags) return b.LdEnv(Type::kI64, X86_OFF(cc_src));
  return CallPure(HelperArithFlags);
}

Val Tx::Carry() {
  if (cc_op >= 0) {
    CcKind kind = static_cast<CcKind>(cc_op >> 2);
    Type t = static_cast<Type>(cc_op & 3);
    Val dst = b.LdEnv(Type::kI64, X86_OFF(cc_dst));
    switch (kind) {
      case kCcKindEflags: return b.AndI(Type::kI64, b.LdEnv(Type::kI64, X86_OFF(cc_src)), 1);
      case kCcKindAdd:
        return b.SetCond(Cond::kLtu, t, dst, b.LdEnv(Type::kI64, X86_OFF(cc_src)));
      case kCcKindSub: {
        Val src = b.LdEnv(Type::kI64, X86_OFF(cc_src));
        return b.SetCond(Cond::kLtu, t, b.Add(t, dst, src), src);
      }
      case kCcKindAdc: case kCcKindSbb: {
        // With a carry in, the first operand is reached with one more: <= instead of <.
        Val src = b.LdEnv(Type::kI64, X86_OFF(cc_src));
        Val cin = b.AndI(Type::kI64, b.LdEnv(Type::kI64, X86_OFF(cc_src2)), 1);
        Val x = kind == kCcKindAdc ? dst : b.Add(t, b.Add(t, dst, src), cin);
        return b.Select(Type::kI64, cin, b.SetCond(Cond::kLeu, t, x, src), b.SetCond(Cond::kLtu, t, x, src));
      }
      case kCcKindLogic: return C(0);
      case kCcKindInc: case kCcKindDec: return b.LdEnv(Type::kI64, X86_OFF(cc_src2));
      case kCcKindShl:
        return b.AndI(Type::kI64, b.ShrI(t, b.LdEnv(Type::kI64, X86_OFF(cc_src)), (8u << (cc_op & 3)) - 1), 1);
      case kCcKindSar: case kCcKindShr:
        return b.AndI(Type::kI64, b.LdEnv(Type::kI64, X86_OFF(cc_src)), 1);
      case kCcKindMul: return b.SetCond(Cond::kNe, t, b.LdEnv(Type::kI64, X86_OFF(cc_src)), C(0));
      default: break;
    }
  }
  return b.AndI(Type::kI64, ArithFlags(), 1);
}

Val Tx::ZeroFlagAnyKind() {
  // Every lazy kind has ZF = (cc_dst of the operand size == 0), kCcEflags (0, and
  // values past the last kind, as ComputeArith) has it in cc_src: pick at run time.
  // About ten ops, which cost the interpreter less than a flags helper call.
  Val op = b.LdEnv(Type::kI64, X86_OFF(cc_op));
  Val sh = b.Sub(Type::kI64, C(64), b.Shl(Type::kI64, C(8), b.AndI(Type::kI64, op, 3)));
  Val lazy = b.SetCond(Cond::kEq, Type::kI64, b.Shl(Type::kI64, b.LdEnv(Type::kI64, X86_OFF(cc_dst)), sh), C(0));
  Val fl = b.AndI(Type::kI64, b.ShrI(Type::kI64, b.LdEnv(Type::kI64, X86_OFF(cc_src)), 6), 1);
  Val is_fl = b.SetCond(Cond::kGeu, Type::kI64, b.Sub(Type::kI64, op, C(1)), C(CcOp(kCcKindCount, 0) - 1));
  return b.Select(Type::kI64, is_fl, fl, lazy);
}

Val Tx::CondTrue(unsigned cc) {
  unsigned base = cc & ~1u;
  bool neg = cc & 1;
  Val r;
  if (cc_op >= 0) {
    CcKind kind = static_cast<CcKind>(cc_op >> 2);
    Type t = static_cast<Type>(cc_op & 3);
    if (kind == kCcKindSub) {
      Val dst = b.LdEnv(Type::kI64, X86_OFF(cc_dst));
      Val src = b.LdEnv(Type::kI64, X86_OFF(cc_src));
      Val a = b.Add(t, dst, src);  // the first operand
      switch (base) {
        case 2: r = b.SetCond(Cond::kLtu, t, a, src); break;
        case 4: r = b.SetCond(Cond::kEq, t, dst, C(0)); break;
        case 6: r = b.SetCond(Cond::kLeu, t, a, src); break;
        case 8: r = b.SetCond(Cond::kLt, t, dst, C(0)); break;
        case 12: r = b.SetCond(Cond::kLt, t, a, src); break;
        case 14: r = b.SetCond(Cond::kLe, t, a, src); break;
        default: break;
      }
    } else if (kind == kCcKindLogic) {
      Val dst = b.LdEnv(Type::kI64, X86_OFF(cc_dst));
      switch (base) {
        case 0: case 2: r = C(0); break;
        case 4: case 6: r = b.SetCond(Cond::kEq, t, dst, C(0)); break;
        case 8: case 12: r = b.SetCond(Cond::kLt, t, dst, C(0)); break;
        case 14: r = b.SetCond(Cond::kLe, t, dst, C(0)); break;
        default: break;
      }
    } else if (kind == kCcKindAdd || kind == kCcKindInc || kind == kCcKindDec ||
               kind == kCcKindAdc || kind == kCcKindSbb || kind == kCcKindIncSaved ||
               kind == kCcKindDecSaved) {
      Val dst = b.LdEnv(Type::kI64, X86_OFF(cc_dst));
      if (base == 4) r = b.SetCond(Cond::kEq, t, dst, C(0));
      if (base == 8) r = b.SetCond(Cond::kLt, t, dst, C(0));
      if (kind != kCcKindIncSaved && kind != kCcKindDecSaved) {  // Carry() is inline
        if (base == 2) r = Carry();
        if (base == 6) r = b.Or(Type::kI64, Carry(), b.SetCond(Cond::kEq, t, dst, C(0)));
      }
    } else if (kind == kCcKindShl || kind == kCcKindSar || kind == kCcKindShr ||
               kind == kCcKindMul) {
      // Carry() is inline for these; ZF and SF come from cc_dst.
      if (base == 2) r = Carry();
      Val zf = b.SetCond(Cond::kEq, t, b.LdEnv(Type::kI64, X86_OFF(cc_dst)), C(0));
      if (base == 4) r = zf;
      if (base == 6) r = b.Or(Type::kI64, Carry(), zf);
      if (base == 8) r = b.SetCond(Cond::kLt, t, b.LdEnv(Type::kI64, X86_OFF(cc_dst)), C(0));
    }
  }
  if (!r.valid() && cc_op < 0 && base == 4) r = ZeroFlagAnyKind();
  if (!r.valid()) {
    Val f = ArithFlags();
    auto bit = [&](unsigned n) { return b.AndI(Type::kI64, b.ShrI(Type::kI64, f, n), 1); };
    switch (base) {
      case 0: r = bit(11); break;
      case 2: r = bit(0); break;
      case 4: r = bit(6); break;
      case 6: r = b.SetCond(Cond::kNe, Type::kI64, b.AndI(Type::kI64, f, kFlagCF | kFlagZF), C(0)); break;
      case 8: r = bit(7); break;
      case 10: r = bit(2); break;
      case 12: r = b.Xor(Type::kI64, bit(7), bit(11)); break;
      default: r = b.Or(Type::kI64, b.Xor(Type::kI64, bit(7), bit(11)), bit(6)); break;
    }
  }
  return neg ? b.Xor(Type::kI64, r, C(1)) : r;
}

namespace {
uint64_t LinearPc(const Tx& tx, uint64_t eip) {
  uint64_t l = tx.cs_base + eip;
  return tx.long64() ? l : (l & 0xffffffffu);
}
}  // namespace

void Tx::JumpTo(uint64_t eip) {
  eip = Mask(eip);
  b.Goto(LinearPc(*this, eip));
  b.SetTerminalPc(X86_OFF(s.rip), eip);
  end_block = true;
  direct_jump = true;
  jump_eip = eip;
}

void Tx::JumpIf(Val cond, uint64_t eip) {
  eip = Mask(eip);
  uint64_t nxt = Mask(next_pc);
  b.Branch(cond, LinearPc(*this, eip), LinearPc(*this, nxt));
  b.SetTerminalPc(X86_OFF(s.rip), eip, nxt);
  end_block = true;
}

void Tx::JumpIndirect(Val eip) {
  StoreRip(eip);
  b.Indirect(X86_OFF(s.rip));
  end_block = true;
}

void Tx::EndBlockAfter() {
  StoreRip(C(Mask(next_pc)));
  b.Exit();
  end_block = true;
}

void Tx::Raise(int vector, uint32_t error, bool has_error) {
  Call(HelperRaise, C(static_cast<uint64_t>(vector)),
       C(error | (has_error ? (1ull << 32) : 0)));
  b.Exit();
  end_block = true;
}

Val Tx::Call(accel::tcg::HelperFn fn, Val a, Val b2, Val c) {
  return b.Call(fn, accel::tcg::kHelperMayExit, a, b2, c);
}
Val Tx::CallPure(accel::tcg::HelperFn fn, Val a, Val b2, Val c) {
  return b.Call(fn, accel::tcg::kHelperPure, a, b2, c);
}

}  // namespace emu::x86
