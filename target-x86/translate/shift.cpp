// Shifts and rotates. SHL/SHR/SAR, ROL/ROR and 32/64-bit SHLD/SHRD are inline
// with lazy flags, by a constant count or by CL; RCL/RCR and 16-bit SHLD/SHRD go
// through one helper that leaves the resulting flags in env.scratch_flags
// (committed after the store so a faulting store leaves the flags untouched).
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

// Shift kinds shared with the helper (helpers/arith.cpp).
enum ShiftKind : unsigned { kShRol, kShRor, kShRcl, kShRcr, kShShl, kShShr, kShSal, kShSar,
                            kShShld, kShShrd };

namespace {

unsigned KindOf(Mnemonic m) {
  switch (m) {
    case Mnemonic::ROL: return kShRol;
    case Mnemonic::ROR: return kShRor;
    case Mnemonic::RCL: return kShRcl;
    case Mnemonic::RCR: return kShRcr;
    case Mnemonic::SHL: return kShShl;
    case Mnemonic::SHR: return kShShr;
    case Mnemonic::SAR: return kShSar;
    case Mnemonic::SHLD: return kShShld;
    default: return kShShrd;
  }
}

// Stores the lazy flags of a shift. `zero` (when valid) is 1 if the count is 0 at
// run time: the flags are then unchanged, so each field keeps its old value.
void SetShiftCc(Tx& tx, Val zero, uint32_t op, Val dst, Val src, Val src2 = {}) {
  Builder& b = tx.b;
  auto keep = [&](uint32_t off, Val v) {
    if (!v.valid()) return;
    if (zero.valid()) v = b.Select(Type::kI64, zero, b.LdEnv(Type::kI64, off), v);
    b.StEnv(Type::kI64, off, v);
  };
  keep(X86_OFF(cc_dst), dst);
  keep(X86_OFF(cc_src), src);
  keep(X86_OFF(cc_src2), src2);
  if (!zero.valid()) {
    tx.WriteCcOp(op);
    return;
  }
  if (tx.cc_op == static_cast<int64_t>(op)) return;
  Val old = tx.cc_op >= 0 ? tx.C(static_cast<uint64_t>(tx.cc_op)) : b.LdEnv(Type::kI64, X86_OFF(cc_op));
  b.StEnv(Type::kI64, X86_OFF(cc_op), b.Select(Type::kI64, zero, old, tx.C(op)));
  tx.cc_op = -1;
}

// One shift being translated: the destination is written (by Done) before the
// flags, so a faulting store leaves them as they were.
struct ShiftArgs {
  Tx& tx;
  unsigned kind, size;
  Val v, cnt;
  Val zero;  // count == 0 at run time (invalid for constant counts, never 0 then)
  const Operand& dst;
  Val addr;
  void Done(Val r) const { tx.WriteOp(dst, r, addr); }
};

// SHL/SHR/SAR. Counts reach 31 for 8/16-bit operands, so those shift the
// extended value as 64 bits (CF then comes out as the SDM's last bit shifted out).
void ShiftArith(const ShiftArgs& a) {
  auto [tx, kind, size, v, cnt, zero, dst, addr] = a;
  Builder& b = tx.b;
  Type t = SizeType(size);
  Type wt = size >= 4 ? t : Type::kI64;
  Val w = size >= 4 ? v : kind == kShSar ? b.Sext(wt, t, v) : b.Zext(wt, t, v);
  Val cm1 = b.Sub(Type::kI64, cnt, tx.C(1));
  Val res, last;
  if (kind == kShShl) {
    res = b.Shl(wt, w, cnt);
    last = b.Shl(wt, w, cm1);
  } else if (kind == kShShr) {
    res = b.Shr(wt, w, cnt);
    last = b.Shr(wt, w, cm1);
  } else {
    res = b.Sar(wt, w, cnt);
    last = b.Sar(wt, w, cm1);
  }
  if (wt != t) res = b.Mov(t, res);
  a.Done(res);
  CcKind ck = kind == kShShl ? kCcKindShl : kind == kShShr ? kCcKindShr : kCcKindSar;
  SetShiftCc(tx, zero, CcOp(ck, SizeLog2(size)), res, last, kind == kShShr ? v : Val{});
}

// ROL/ROR change only CF and OF (OF as for a count of 1; undefined otherwise).
void Rotate(const ShiftArgs& a) {
  auto [tx, kind, size, v, cnt, zero, dst, addr] = a;
  Builder& b = tx.b;
  Type t = SizeType(size);
  unsigned bits = 8 * size;
  // The count modulo the size is the IR's own masking (sizes are powers of two).
  Val res = kind == kShRol ? b.Rotl(t, v, cnt) : b.Rotr(t, v, cnt);
  a.Done(res);
  Val msb = b.ShrI(t, res, bits - 1);
  Val cf = kind == kShRol ? b.AndI(t, res, 1) : msb;
  Val of = b.Xor(t, msb, kind == kShRol ? cf : b.AndI(t, b.ShrI(t, res, bits - 2), 1));
  int64_t op = tx.cc_op;
  CcKind old = op >= 0 ? static_cast<CcKind>(op >> 2) : kCcKindEflags;
  if (op >= 0 && (old == kCcKindLogic || old == kCcKindShl || old == kCcKindSar ||
                  old == kCcKindShr || old == kCcKindMul)) {
    // SF/ZF/PF come from cc_dst and AF is 0 for these, as for SHR, whose CF and OF
    // are cc_src bit 0 and cc_src2's top bit: only those two fields change.
    unsigned old_bits = 8u << (op & 3);
    Val src2 = b.ShlI(Type::kI64, b.Zext(Type::kI64, t, of), old_bits - 1);
    SetShiftCc(tx, zero, CcOp(kCcKindShr, op & 3), Val{}, b.Zext(Type::kI64, t, cf), src2);
    return;
  }
  Val f = tx.ArithFlags();  // kCcEflags here (the caller sends other states to the helper)
  Val nf = b.Or(Type::kI64, b.AndI(Type::kI64, f, ~uint64_t{kFlagCF | kFlagOF}),
                b.Or(Type::kI64, b.Zext(Type::kI64, t, cf),
                     b.ShlI(Type::kI64, b.Zext(Type::kI64, t, of), 11)));
  if (zero.valid()) nf = b.Select(Type::kI64, zero, f, nf);
  tx.SetCcEflags(nf);
}

// SHLD/SHRD with 32/64-bit operands (the count is below the size). OF is the
// sign change (defined for a count of 1), which SHL's lazy OF gives for SHLD and
// SHR's (top bit of cc_src2) gives for SHRD with cc_src2 = result ^ value.
void ShiftDouble(const ShiftArgs& a, Val s2) {
  auto [tx, kind, size, v, cnt, zero, dst, addr] = a;
  Builder& b = tx.b;
  Type t = SizeType(size);
  unsigned bits = 8 * size;
  Val cm1 = b.Sub(Type::kI64, cnt, tx.C(1));
  Val back = b.Sub(Type::kI64, tx.C(bits), cnt);
  Val res, last;
  if (kind == kShShld) {
    res = b.Or(t, b.Shl(t, v, cnt), b.Shr(t, s2, back));
    last = b.Shl(t, v, cm1);
  } else {
    res = b.Or(t, b.Shr(t, v, cnt), b.Shl(t, s2, back));
    last = b.Shr(t, v, cm1);
  }
  if (zero.valid()) res = b.Select(t, zero, v, res);  // a count of 0 changes nothing
  a.Done(res);
  if (kind == kShShld)
    SetShiftCc(tx, zero, CcOp(kCcKindShl, SizeLog2(size)), res, last);
  else
    SetShiftCc(tx, zero, CcOp(kCcKindShr, SizeLog2(size)), res, last, b.Xor(t, res, v));
}

bool Shift(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  bool dbl = tx.in.mnemonic == Mnemonic::SHLD || tx.in.mnemonic == Mnemonic::SHRD;
  const Operand& cnt_op = tx.in.ops[dbl ? 2 : 1];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  unsigned kind = KindOf(tx.in.mnemonic);
  unsigned cmask = size == 8 ? 63 : 31;
  Val addr;
  Val v = tx.ReadOp(dst, &addr);
  Val src2 = dbl ? tx.ReadOp(tx.in.ops[1]) : Val{};
  bool const_count = cnt_op.kind == OperandKind::kImm;
  uint64_t count = const_count ? (static_cast<uint64_t>(cnt_op.imm) & cmask) : 0;
  if (const_count && count == 0) {
    // Value and flags unchanged, but a 32-bit register destination is still written, so
    // its upper half is cleared in 64-bit mode (as the CPU does).
    if (dst.kind == OperandKind::kReg && size == 4) tx.WriteOp(dst, v, addr);
    return true;
  }
  Val cnt = const_count ? tx.C(count) : tx.b.AndI(Type::kI64, tx.GetReg(RCX, 1), cmask);
  Val zero = const_count ? Val{} : tx.b.SetCond(Cond::kEq, Type::kI64, cnt, tx.C(0));
  bool shift = kind == kShShl || kind == kShShr || kind == kShSar;
  // Rotates keep SF/ZF/AF/PF: inline when those need no flags helper (see Rotate).
  CcKind old = static_cast<CcKind>(tx.cc_op >> 2);
  bool rotate = (kind == kShRol || kind == kShRor) && tx.cc_op >= 0 &&
                (tx.cc_op == kCcEflags || old == kCcKindLogic || old == kCcKindShl ||
                 old == kCcKindSar || old == kCcKindShr || old == kCcKindMul);
  if (shift || rotate || (dbl && size >= 4)) {
    ShiftArgs a{tx, kind, size, v, cnt, zero, dst, addr};
    if (shift) ShiftArith(a);
    else if (rotate) Rotate(a);
    else ShiftDouble(a, src2);
    return true;
  }
  // The helper needs the current flags (CF for RCL/RCR, and unchanged flags for count 0).
  Val info = tx.C(kind | size << 8);
  if (dbl) info = tx.b.Or(Type::kI64, info, tx.b.ShlI(Type::kI64, cnt, 16));
  Val r = tx.Call(HelperShift, v, dbl ? src2 : cnt, info);
  tx.WriteOp(dst, tx.b.Mov(t, r), addr);
  tx.SetCcEflags(tx.b.LdEnv(Type::kI64, X86_OFF(scratch_flags)));
  return true;
}

}  // namespace

void RegisterShift(TranslateFn* t) {
  for (Mnemonic m : {Mnemonic::ROL, Mnemonic::ROR, Mnemonic::RCL, Mnemonic::RCR, Mnemonic::SHL,
                     Mnemonic::SHR, Mnemonic::SAR, Mnemonic::SHLD, Mnemonic::SHRD})
    t[static_cast<size_t>(m)] = Shift;
}

}  // namespace emu::x86
