// Shifts and rotates. SHL/SHR/SAR by a constant count are inline with lazy
// flags; variable counts, rotates, RCL/RCR and SHLD/SHRD go through one helper
// that leaves the resulting flags in env.scratch_flags (committed after the
// store so a faulting store leaves the flags untouched).
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
  if (const_count && (kind == kShShl || kind == kShShr || kind == kShSar) && count < 8 * size) {
    Val r, last;
    if (kind == kShShl) {
      r = tx.b.ShlI(t, v, count);
      last = tx.b.ShlI(t, v, count - 1);
    } else if (kind == kShShr) {
      r = tx.b.ShrI(t, v, count);
      last = tx.b.ShrI(t, v, count - 1);
    } else {
      r = tx.b.SarI(t, v, count);
      last = tx.b.SarI(t, v, count - 1);
    }
    tx.WriteOp(dst, r, addr);
    CcKind ck = kind == kShShl ? kCcKindShl : kind == kShShr ? kCcKindShr : kCcKindSar;
    tx.SetCc(ck, size, r, last, kind == kShShr ? v : Val{});
    return true;
  }
  Val cnt = const_count ? tx.C(count) : tx.b.AndI(Type::kI64, tx.GetReg(RCX, 1), cmask);
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
