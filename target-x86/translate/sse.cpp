// SSE/SSE2 integer and data-movement instructions (what Linux and static
// glibc's string functions use), FXSAVE/FXRSTOR and MXCSR access. Moves are IR
// (two 64-bit halves); lane arithmetic goes through one table-driven helper on
// env registers (a memory source is staged in env.xmm_tmp first, so a faulting
// load changes nothing). Floating-point arithmetic is a separate issue: those
// mnemonics fall through to the "unimplemented" #UD.
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

uint32_t XmmOff(unsigned reg, unsigned half = 0) {
  return X86_OFF(s.fpu.xmm) + 16 * reg + 8 * half;
}
constexpr unsigned kTmp = 16;
uint32_t TmpOff(unsigned half = 0) { return X86_OFF(xmm_tmp) + 8 * half; }

// #NM when CR0.TS/EM says the FPU state is not the current task's.
bool FpuAvailable(Tx& tx) {
  if (tx.flags & kTbFpuTrap) {
    tx.Raise(7);
    return false;
  }
  return true;
}

bool SseAvailable(Tx& tx) {
  if (!(tx.flags & kTbOsfxsr)) {
    tx.Ud();
    return false;
  }
  return FpuAvailable(tx);
}

bool IsXmm(const Operand& op) { return op.kind == OperandKind::kReg && op.reg_class == RegClass::kXmm; }

// Legacy-SSE 16-byte memory operands must be aligned (#GP(0)), except for the
// explicitly unaligned forms.
bool NeedsAlignment(Mnemonic m) {
  return m != Mnemonic::MOVDQU && m != Mnemonic::MOVUPS && m != Mnemonic::MOVUPD &&
         m != Mnemonic::LDDQU;
}

void CheckAligned(Tx& tx, Val lin) {
  if (NeedsAlignment(tx.in.mnemonic)) tx.Call(HelperCheckAlign16, lin);
}

// Loads a memory operand of `size` bytes (4, 8, 16) into xmm_tmp (zero-extended).
void LoadTmp(Tx& tx, const Operand& op, unsigned size) {
  Val lin = tx.MemAddr(op);
  if (size == 16) {
    CheckAligned(tx, lin);
    Val lo = tx.LoadMem(8, lin);
    Val hi = tx.LoadMem(8, tx.b.AddI(tx.long64() ? Type::kI64 : Type::kI32, lin, 8));
    tx.b.StEnv(Type::kI64, TmpOff(0), lo);
    tx.b.StEnv(Type::kI64, TmpOff(1), hi);
  } else {
    Val v = tx.LoadMem(size, lin);
    tx.b.StEnv(Type::kI64, TmpOff(0), tx.b.Zext(Type::kI64, SizeType(size), v));
    tx.b.StEnv(Type::kI64, TmpOff(1), tx.C(0));
  }
}

// Source operand index for the helper: an xmm register or the staged memory.
unsigned Source(Tx& tx, const Operand& op, unsigned mem_size = 16) {
  if (IsXmm(op)) return op.reg;
  if (op.kind == OperandKind::kImm) {
    tx.b.StEnv(Type::kI64, TmpOff(0), tx.C(static_cast<uint64_t>(op.imm) & 0xff));
    tx.b.StEnv(Type::kI64, TmpOff(1), tx.C(0));
    return kTmp;
  }
  LoadTmp(tx, op, op.size ? op.size : mem_size);
  return kTmp;
}

// Lane arithmetic inline on the two 64-bit halves (SWAR), for the common simple
// ops; the rest go to HelperSse. `lane` is the lane width in bytes.
struct Half2 {
  Val lo, hi;
};

Half2 LoadXmm(Tx& tx, unsigned reg) {
  return {tx.b.LdEnv(Type::kI64, XmmOff(reg, 0)), tx.b.LdEnv(Type::kI64, XmmOff(reg, 1))};
}

// Repeats a lane-sized pattern over 64 bits.
uint64_t Splat(uint64_t v, unsigned lane) {
  uint64_t r = 0;
  for (unsigned i = 0; i < 8; i += lane) r |= v << (8 * i);
  return r;
}

Val LaneOp(Builder& b, SseOp op, Val x, Val y) {
  const Type t = Type::kI64;
  unsigned lane = 0;
  switch (op) {
    case kSseAnd: return b.And(t, x, y);
    case kSseAndn: return b.And(t, b.Not(t, x), y);
    case kSseOr: return b.Or(t, x, y);
    case kSseXor: return b.Xor(t, x, y);
    case kSseAddQ: return b.Add(t, x, y);
    case kSseSubQ: return b.Sub(t, x, y);
    case kSseAddB: case kSseSubB: case kSseCmpEqB: lane = 1; break;
    case kSseAddW: case kSseSubW: case kSseCmpEqW: lane = 2; break;
    default: lane = 4; break;
  }
  const uint64_t top = Splat(uint64_t{1} << (8 * lane - 1), lane);  // each lane's sign bit
  const uint64_t low = ~top;
  if (op == kSseAddB || op == kSseAddW || op == kSseAddD) {
    // Add the low bits (no carry leaves a lane), then the top bits without carry.
    Val sum = b.Add(t, b.AndI(t, x, low), b.AndI(t, y, low));
    return b.Xor(t, sum, b.AndI(t, b.Xor(t, x, y), top));
  }
  if (op == kSseSubB || op == kSseSubW || op == kSseSubD) {
    // Borrows stay in the lane: its top bit is set in the minuend first.
    Val diff = b.Sub(t, b.Or(t, x, b.Const(top)), b.AndI(t, y, low));
    return b.Xor(t, diff, b.AndI(t, b.Not(t, b.Xor(t, x, y)), top));
  }
  // Compare for equality: a lane of x ^ y is nonzero iff its top bit or the sum of
  // its low bits and `low` (which cannot carry out of the lane) has the top bit.
  Val d = b.Xor(t, x, y);
  Val nz = b.Or(t, b.Add(t, b.AndI(t, d, low), b.Const(low)), d);
  Val eq_top = b.AndI(t, b.Not(t, nz), top);
  return b.Mul(t, b.ShrI(t, eq_top, 8 * lane - 1), b.Const((uint64_t{1} << (8 * lane)) - 1));
}

bool InlineLanes(SseOp op) {
  switch (op) {
    case kSseAnd: case kSseAndn: case kSseOr: case kSseXor:
    case kSseAddB: case kSseAddW: case kSseAddD: case kSseAddQ:
    case kSseSubB: case kSseSubW: case kSseSubD: case kSseSubQ:
    case kSseCmpEqB: case kSseCmpEqW: case kSseCmpEqD:
    case kSseUnpckLQDQ: case kSseUnpckHQDQ: case kSseShufD:
      return true;
    default:
      return false;
  }
}

// A memory source is loaded (both halves) before anything is written.
Half2 LoadSrc(Tx& tx, const Operand& op) {
  if (IsXmm(op)) return LoadXmm(tx, op.reg);
  Val lin = tx.MemAddr(op);
  CheckAligned(tx, lin);
  Val lo = tx.LoadMem(8, lin);
  Val hi = tx.LoadMem(8, tx.b.AddI(tx.long64() ? Type::kI64 : Type::kI32, lin, 8));
  return {lo, hi};
}

void BinaryInline(Tx& tx, SseOp op, unsigned dst, const Operand& src_op, uint64_t imm) {
  Builder& b = tx.b;
  Half2 s = LoadSrc(tx, src_op);
  Half2 r;
  if (op == kSseShufD) {
    // Each result dword picks a source dword: read them as 32-bit halves.
    Val dw[4];
    for (unsigned i = 0; i < 4; i++) {
      unsigned k = (imm >> (2 * i)) & 3;
      Val h = k < 2 ? s.lo : s.hi;
      dw[i] = k & 1 ? b.ShrI(Type::kI64, h, 32) : b.Zext(Type::kI64, Type::kI32, h);
    }
    r.lo = b.Or(Type::kI64, dw[0], b.ShlI(Type::kI64, dw[1], 32));
    r.hi = b.Or(Type::kI64, dw[2], b.ShlI(Type::kI64, dw[3], 32));
  } else if (op == kSseUnpckLQDQ || op == kSseUnpckHQDQ) {
    bool high = op == kSseUnpckHQDQ;
    r.lo = b.LdEnv(Type::kI64, XmmOff(dst, high ? 1 : 0));
    r.hi = high ? s.hi : s.lo;
  } else if (IsXmm(src_op) && src_op.reg == dst &&
             (op == kSseXor || op == kSseSubB || op == kSseSubW || op == kSseSubD || op == kSseSubQ)) {
    r = {tx.C(0), tx.C(0)};  // the zeroing idioms
  } else {
    Half2 d = LoadXmm(tx, dst);
    r = {LaneOp(b, op, d.lo, s.lo), LaneOp(b, op, d.hi, s.hi)};
  }
  b.StEnv(Type::kI64, XmmOff(dst, 0), r.lo);
  b.StEnv(Type::kI64, XmmOff(dst, 1), r.hi);
}

// PMOVMSKB: the top bit of each byte. Per half, the top bits (byte i's at 8i + 7)
// times 0x0002040810204081 land byte i's at bit 56 + i with no carries (the other
// products fall on distinct bits outside 56..63).
Val ByteSigns(Builder& b, Val h) {
  Val bits = b.AndI(Type::kI64, h, 0x8080808080808080ull);
  return b.ShrI(Type::kI64, b.Mul(Type::kI64, bits, b.Const(0x0002040810204081ull)), 56);
}

bool Binary(Tx& tx, SseOp op) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  if (!IsXmm(dst)) return false;  // MMX forms are not implemented
  if (tx.in.num_operands >= 2 && tx.in.ops[1].kind == OperandKind::kReg && !IsXmm(tx.in.ops[1]))
    return false;
  uint64_t imm = tx.in.num_operands >= 3 ? (static_cast<uint64_t>(tx.in.ops[2].imm) & 0xff) : 0;
  const Operand& src_op = tx.in.ops[1];
  if (InlineLanes(op) && (IsXmm(src_op) || (src_op.kind == OperandKind::kMem && !src_op.size) ||
                          (src_op.kind == OperandKind::kMem && src_op.size == 16))) {
    BinaryInline(tx, op, dst.reg, src_op, imm);
    return true;
  }
  unsigned src = Source(tx, src_op);
  tx.Call(HelperSse, tx.C(op), tx.C(dst.reg), tx.C(src | imm << 8));
  return true;
}

// Full 128-bit moves (MOVDQA/MOVDQU/MOVAPS/MOVUPS/MOVAPD/MOVUPD/LDDQU/MOVNTDQ...).
bool Move128(Tx& tx) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if ((dst.kind == OperandKind::kReg && !IsXmm(dst)) || (src.kind == OperandKind::kReg && !IsXmm(src)))
    return false;
  Type at = tx.long64() ? Type::kI64 : Type::kI32;
  Val lo, hi;
  if (IsXmm(src)) {
    lo = tx.b.LdEnv(Type::kI64, XmmOff(src.reg, 0));
    hi = tx.b.LdEnv(Type::kI64, XmmOff(src.reg, 1));
  } else {
    Val lin = tx.MemAddr(src);
    CheckAligned(tx, lin);
    lo = tx.LoadMem(8, lin);
    hi = tx.LoadMem(8, tx.b.AddI(at, lin, 8));
  }
  if (IsXmm(dst)) {
    tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 0), lo);
    tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 1), hi);
  } else {
    Val lin = tx.MemAddr(dst);
    CheckAligned(tx, lin);
    // High half first: if it faults, nothing was written (the low half is on the
    // same or an earlier page, already checked by the aligned case).
    Val lin2 = tx.b.AddI(at, lin, 8);
    tx.StoreMem(8, lin2, hi);
    tx.StoreMem(8, lin, lo);
  }
  return true;
}

// MOVD/MOVQ between xmm and general registers/memory, MOVQ xmm<->xmm/m64.
bool MovDQ(Tx& tx) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if (IsXmm(dst)) {
    unsigned size = src.size ? src.size : 8;
    if (IsXmm(src)) size = 8;  // MOVQ xmm, xmm
    Val v;
    if (IsXmm(src)) v = tx.b.LdEnv(Type::kI64, XmmOff(src.reg));
    else if (src.kind == OperandKind::kReg) v = tx.ReadOp(src);
    else if (src.kind == OperandKind::kMem) v = tx.LoadMem(size, tx.MemAddr(src));
    else return false;
    if (src.kind == OperandKind::kReg && !IsXmm(src) && src.reg_class != RegClass::kGpr32 &&
        src.reg_class != RegClass::kGpr64)
      return false;
    tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 0), tx.b.Zext(Type::kI64, SizeType(size), v));
    tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 1), tx.C(0));
    return true;
  }
  if (!IsXmm(src)) return false;  // MMX
  unsigned size = dst.kind == OperandKind::kMem ? (dst.size ? dst.size : 8) : dst.size;
  Val v = tx.b.LdEnv(SizeType(size), XmmOff(src.reg));
  if (dst.kind == OperandKind::kMem) tx.StoreMem(size, tx.MemAddr(dst), v);
  else tx.WriteOp(dst, v);
  return true;
}

// MOVSS/MOVSD (data movement only), MOVLPS/MOVHPS/MOVLPD/MOVHPD.
bool MovScalar(Tx& tx, unsigned size, unsigned half) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  Type t = SizeType(size);
  if (IsXmm(dst) && IsXmm(src)) {
    if (half == 0 && size == 8) {
      tx.b.StEnv(Type::kI64, XmmOff(dst.reg), tx.b.LdEnv(Type::kI64, XmmOff(src.reg)));
    } else if (half == 0) {
      tx.b.StEnv(Type::kI32, XmmOff(dst.reg), tx.b.LdEnv(Type::kI32, XmmOff(src.reg)));
    } else {
      return false;
    }
    return true;
  }
  if (IsXmm(dst)) {
    Val v = tx.LoadMem(size, tx.MemAddr(src));
    if (half == 1) {
      tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 1), v);
    } else if (tx.in.mnemonic == Mnemonic::MOVLPS || tx.in.mnemonic == Mnemonic::MOVLPD) {
      tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 0), v);
    } else {  // MOVSS/MOVSD load: zero the rest
      tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 0), tx.b.Zext(Type::kI64, t, v));
      tx.b.StEnv(Type::kI64, XmmOff(dst.reg, 1), tx.C(0));
    }
    return true;
  }
  if (!IsXmm(src)) return false;
  tx.StoreMem(size, tx.MemAddr(dst), tx.b.LdEnv(t, XmmOff(src.reg, half)));
  return true;
}

bool ToGpr(Tx& tx, SseOp op) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if (!IsXmm(src)) return false;
  uint64_t imm = tx.in.num_operands >= 3 ? (static_cast<uint64_t>(tx.in.ops[2].imm) & 0xff) : 0;
  if (op == kSsePMovMskB) {
    Half2 h = LoadXmm(tx, src.reg);
    Val m = tx.b.Or(Type::kI64, ByteSigns(tx.b, h.lo), tx.b.ShlI(Type::kI64, ByteSigns(tx.b, h.hi), 8));
    tx.WriteOp(dst, tx.b.Mov(SizeType(dst.size ? dst.size : 4), m));
    return true;
  }
  Val r = tx.Call(HelperSse, tx.C(op), tx.C(0), tx.C(src.reg | imm << 8));
  tx.WriteOp(dst, tx.b.Mov(SizeType(dst.size ? dst.size : 4), r));
  return true;
}

bool Pinsrw(Tx& tx) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  if (!IsXmm(dst)) return false;
  const Operand& src = tx.in.ops[1];
  Val v = src.kind == OperandKind::kMem ? tx.LoadMem(2, tx.MemAddr(src)) : tx.b.Mov(Type::kI16, tx.ReadOp(src));
  tx.b.StEnv(Type::kI64, TmpOff(0), tx.b.Zext(Type::kI64, Type::kI16, v));
  uint64_t imm = static_cast<uint64_t>(tx.in.ops[2].imm) & 0xff;
  tx.Call(HelperSse, tx.C(kSsePInsrW), tx.C(dst.reg), tx.C(kTmp | imm << 8));
  return true;
}

bool Fxsave(Tx& tx, bool restore) {
  if (!FpuAvailable(tx)) return true;
  tx.Call(HelperFxsave, tx.MemAddr(tx.in.ops[0]), tx.C(restore ? 1 : 0));
  return true;
}

bool Mxcsr(Tx& tx, bool load) {
  if (!SseAvailable(tx)) return true;
  tx.Call(HelperLdStMxcsr, tx.MemAddr(tx.in.ops[0]), tx.C(load ? 1 : 0));
  return true;
}

// x87 control instructions (the arithmetic is a separate issue).
uint32_t FpuOff(uint32_t field) { return X86_OFF(s.fpu) + field; }

bool Fninit(Tx& tx) {
  if (!FpuAvailable(tx)) return true;
  tx.b.StEnv(Type::kI16, FpuOff(offsetof(FpuState, fcw)), tx.C(0x37f));
  tx.b.StEnv(Type::kI16, FpuOff(offsetof(FpuState, fsw)), tx.C(0));
  tx.b.StEnv(Type::kI16, FpuOff(offsetof(FpuState, ftw)), tx.C(0));
  tx.b.StEnv(Type::kI16, FpuOff(offsetof(FpuState, fop)), tx.C(0));
  tx.b.StEnv(Type::kI64, FpuOff(offsetof(FpuState, fip)), tx.C(0));
  tx.b.StEnv(Type::kI64, FpuOff(offsetof(FpuState, fdp)), tx.C(0));
  return true;
}

bool Fnstcw(Tx& tx) {
  if (!FpuAvailable(tx)) return true;
  tx.StoreMem(2, tx.MemAddr(tx.in.ops[0]), tx.b.LdEnv(Type::kI16, FpuOff(offsetof(FpuState, fcw))));
  return true;
}

bool Fldcw(Tx& tx) {
  if (!FpuAvailable(tx)) return true;
  Val v = tx.LoadMem(2, tx.MemAddr(tx.in.ops[0]));
  tx.b.StEnv(Type::kI16, FpuOff(offsetof(FpuState, fcw)), v);
  return true;
}

bool Fnstsw(Tx& tx) {
  if (!FpuAvailable(tx)) return true;
  Val v = tx.b.LdEnv(Type::kI16, FpuOff(offsetof(FpuState, fsw)));
  const Operand& dst = tx.in.ops[0];
  if (dst.kind == OperandKind::kMem) tx.StoreMem(2, tx.MemAddr(dst), v);
  else tx.SetReg(RAX, 2, v);
  return true;
}

bool Fnclex(Tx& tx) {
  if (!FpuAvailable(tx)) return true;
  uint32_t off = FpuOff(offsetof(FpuState, fsw));
  tx.b.StEnv(Type::kI16, off, tx.b.AndI(Type::kI16, tx.b.LdEnv(Type::kI16, off), 0x7f00));
  return true;
}

}  // namespace

void RegisterSse(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::FXSAVE) = [](Tx& tx) { return Fxsave(tx, false); };
  at(Mnemonic::FXRSTOR) = [](Tx& tx) { return Fxsave(tx, true); };
  at(Mnemonic::LDMXCSR) = [](Tx& tx) { return Mxcsr(tx, true); };
  at(Mnemonic::STMXCSR) = [](Tx& tx) { return Mxcsr(tx, false); };
  at(Mnemonic::FNINIT) = Fninit;
  at(Mnemonic::FNSTCW) = Fnstcw;
  at(Mnemonic::FLDCW) = Fldcw;
  at(Mnemonic::FNSTSW) = Fnstsw;
  at(Mnemonic::FNCLEX) = Fnclex;
  for (Mnemonic m : {Mnemonic::MOVDQA, Mnemonic::MOVDQU, Mnemonic::MOVAPS, Mnemonic::MOVUPS,
                     Mnemonic::MOVAPD, Mnemonic::MOVUPD, Mnemonic::LDDQU, Mnemonic::MOVNTDQ,
                     Mnemonic::MOVNTPS, Mnemonic::MOVNTPD, Mnemonic::MOVNTDQA})
    at(m) = Move128;
  at(Mnemonic::MOVD) = MovDQ;
  at(Mnemonic::MOVQ) = MovDQ;
  at(Mnemonic::MOVSS) = [](Tx& tx) { return MovScalar(tx, 4, 0); };
  at(Mnemonic::MOVSD) = [](Tx& tx) {
    if (tx.in.map == OpcodeMap::kPrimary) return false;  // the string MOVSD is MOVS
    return MovScalar(tx, 8, 0);
  };
  at(Mnemonic::MOVLPS) = [](Tx& tx) { return MovScalar(tx, 8, 0); };
  at(Mnemonic::MOVLPD) = [](Tx& tx) { return MovScalar(tx, 8, 0); };
  at(Mnemonic::MOVHPS) = [](Tx& tx) { return MovScalar(tx, 8, 1); };
  at(Mnemonic::MOVHPD) = [](Tx& tx) { return MovScalar(tx, 8, 1); };
#define SSE_BIND(M, OP) at(Mnemonic::M) = [](Tx& tx) { return Binary(tx, OP); };
  SSE_BIND(PAND, kSseAnd) SSE_BIND(ANDPS, kSseAnd) SSE_BIND(ANDPD, kSseAnd)
  SSE_BIND(PANDN, kSseAndn) SSE_BIND(ANDNPS, kSseAndn) SSE_BIND(ANDNPD, kSseAndn)
  SSE_BIND(POR, kSseOr) SSE_BIND(ORPS, kSseOr) SSE_BIND(ORPD, kSseOr)
  SSE_BIND(PXOR, kSseXor) SSE_BIND(XORPS, kSseXor) SSE_BIND(XORPD, kSseXor)
  SSE_BIND(PADDB, kSseAddB) SSE_BIND(PADDW, kSseAddW) SSE_BIND(PADDD, kSseAddD)
  SSE_BIND(PADDQ, kSseAddQ) SSE_BIND(PSUBB, kSseSubB) SSE_BIND(PSUBW, kSseSubW)
  SSE_BIND(PSUBD, kSseSubD) SSE_BIND(PSUBQ, kSseSubQ)
  SSE_BIND(PADDUSB, kSseAddUsB) SSE_BIND(PADDUSW, kSseAddUsW)
  SSE_BIND(PSUBUSB, kSseSubUsB) SSE_BIND(PSUBUSW, kSseSubUsW)
  SSE_BIND(PADDSB, kSseAddSB) SSE_BIND(PADDSW, kSseAddSW)
  SSE_BIND(PSUBSB, kSseSubSB) SSE_BIND(PSUBSW, kSseSubSW)
  SSE_BIND(PCMPEQB, kSseCmpEqB) SSE_BIND(PCMPEQW, kSseCmpEqW) SSE_BIND(PCMPEQD, kSseCmpEqD)
  SSE_BIND(PCMPGTB, kSseCmpGtB) SSE_BIND(PCMPGTW, kSseCmpGtW) SSE_BIND(PCMPGTD, kSseCmpGtD)
  SSE_BIND(PMINUB, kSseMinUB) SSE_BIND(PMAXUB, kSseMaxUB)
  SSE_BIND(PMINSW, kSseMinSW) SSE_BIND(PMAXSW, kSseMaxSW)
  SSE_BIND(PAVGB, kSseAvgB) SSE_BIND(PAVGW, kSseAvgW)
  SSE_BIND(PMULLW, kSseMulLW) SSE_BIND(PMULHW, kSseMulHW) SSE_BIND(PMULHUW, kSseMulHUW)
  SSE_BIND(PMULUDQ, kSseMulUDQ) SSE_BIND(PMADDWD, kSseMAddWD) SSE_BIND(PSADBW, kSseSadBW)
  SSE_BIND(PUNPCKLBW, kSseUnpckLBW) SSE_BIND(PUNPCKLWD, kSseUnpckLWD)
  SSE_BIND(PUNPCKLDQ, kSseUnpckLDQ) SSE_BIND(PUNPCKLQDQ, kSseUnpckLQDQ)
  SSE_BIND(PUNPCKHBW, kSseUnpckHBW) SSE_BIND(PUNPCKHWD, kSseUnpckHWD)
  SSE_BIND(PUNPCKHDQ, kSseUnpckHDQ) SSE_BIND(PUNPCKHQDQ, kSseUnpckHQDQ)
  SSE_BIND(PACKSSWB, kSsePackSSWB) SSE_BIND(PACKUSWB, kSsePackUSWB) SSE_BIND(PACKSSDW, kSsePackSSDW)
  SSE_BIND(PSHUFD, kSseShufD) SSE_BIND(PSHUFLW, kSseShufLW) SSE_BIND(PSHUFHW, kSseShufHW)
  SSE_BIND(SHUFPS, kSseShufPS) SSE_BIND(UNPCKLPS, kSseUnpckLPS) SSE_BIND(UNPCKHPS, kSseUnpckHPS)
  SSE_BIND(UNPCKLPD, kSseUnpckLQDQ) SSE_BIND(UNPCKHPD, kSseUnpckHQDQ)
  SSE_BIND(PSLLW, kSseSllW) SSE_BIND(PSLLD, kSseSllD) SSE_BIND(PSLLQ, kSseSllQ)
  SSE_BIND(PSRLW, kSseSrlW) SSE_BIND(PSRLD, kSseSrlD) SSE_BIND(PSRLQ, kSseSrlQ)
  SSE_BIND(PSRAW, kSseSraW) SSE_BIND(PSRAD, kSseSraD)
  SSE_BIND(PSLLDQ, kSseSllDQ) SSE_BIND(PSRLDQ, kSseSrlDQ)
#undef SSE_BIND
  at(Mnemonic::PMOVMSKB) = [](Tx& tx) { return ToGpr(tx, kSsePMovMskB); };
  at(Mnemonic::MOVMSKPS) = [](Tx& tx) { return ToGpr(tx, kSseMovMskPS); };
  at(Mnemonic::MOVMSKPD) = [](Tx& tx) { return ToGpr(tx, kSseMovMskPD); };
  at(Mnemonic::PEXTRW) = [](Tx& tx) { return ToGpr(tx, kSsePExtrW); };
  at(Mnemonic::PINSRW) = Pinsrw;
}

}  // namespace emu::x86
