// SSE/SSE2 floating-point instructions: arithmetic, compares, COMIS/UCOMIS,
// conversions, SHUFPD, MOVHLPS/MOVLHPS. Everything with rounding or MXCSR
// flags goes through HelperSseFp on env registers (a memory source is staged
// in env.xmm_tmp first, so a faulting load changes nothing); pure moves are IR.
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/sse_fp.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

uint32_t XmmOff(unsigned reg, unsigned half = 0) { return X86_OFF(s.fpu.xmm) + 16 * reg + 8 * half; }
constexpr unsigned kTmp = 16;
uint32_t TmpOff(unsigned half = 0) { return X86_OFF(xmm_tmp) + 8 * half; }

bool SseAvailable(Tx& tx) {
  if (!(tx.flags & kTbOsfxsr)) {
    tx.Ud();
    return false;
  }
  if (tx.flags & kTbFpuTrap) {
    tx.Raise(7);
    return false;
  }
  return true;
}

bool IsXmm(const Operand& op) { return op.kind == OperandKind::kReg && op.reg_class == RegClass::kXmm; }

// Stages a memory operand of `size` bytes (4, 8, 16; zero-extended) in
// xmm_tmp. All 16-byte forms handled here are the aligned ones (#GP(0)).
void LoadTmp(Tx& tx, const Operand& op, unsigned size) {
  Val lin = tx.MemAddr(op);
  if (size == 16) {
    tx.Call(HelperCheckAlign16, lin);
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

// The helper's source index for an xmm register or memory operand; -1 for
// anything else (MMX forms are not implemented).
int Source(Tx& tx, const Operand& op, unsigned mem_size) {
  if (IsXmm(op)) return static_cast<int>(op.reg);
  if (op.kind != OperandKind::kMem) return -1;
  LoadTmp(tx, op, op.size ? op.size : mem_size);
  return kTmp;
}

// xmm, xmm/mem [, imm8] -> helper writing the xmm destination.
bool ToXmm(Tx& tx, unsigned a, unsigned mem_size) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  if (!IsXmm(dst)) return false;
  int src = Source(tx, tx.in.ops[1], mem_size);
  if (src < 0) return false;
  uint64_t imm = tx.in.num_operands >= 3 ? (static_cast<uint64_t>(tx.in.ops[2].imm) & 0xff) : 0;
  tx.Call(HelperSseFp, tx.C(a), tx.C(dst.reg), tx.C(static_cast<uint64_t>(src) | imm << 8));
  return true;
}

// Arithmetic in the four kinds: mem operand size follows the kind.
bool Arith(Tx& tx, unsigned op, unsigned kind) {
  static const unsigned kMem[4] = {16, 16, 4, 8};
  return ToXmm(tx, op | kind << 8, kMem[kind]);
}

// COMISS/COMISD/UCOMISS/UCOMISD: ZF PF CF from the helper, OF SF AF cleared.
bool Comi(Tx& tx, unsigned op, unsigned kind) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  if (!IsXmm(dst)) return false;
  int src = Source(tx, tx.in.ops[1], kind == kFpSd ? 8 : 4);
  if (src < 0) return false;
  Val r = tx.Call(HelperSseFp, tx.C(op | kind << 8), tx.C(dst.reg), tx.C(static_cast<uint64_t>(src)));
  tx.SetCcEflags(r);
  return true;
}

// CVTSI2SS/CVTSI2SD: 32- or 64-bit integer from a GPR or memory.
bool CvtI2F(Tx& tx, unsigned kind) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if (!IsXmm(dst)) return false;
  unsigned size = src.size ? src.size : tx.osize();
  if (size != 4 && size != 8) return false;
  Val v;
  if (src.kind == OperandKind::kMem) v = tx.LoadMem(size, tx.MemAddr(src));
  else if (src.kind == OperandKind::kReg && (src.reg_class == RegClass::kGpr32 || src.reg_class == RegClass::kGpr64))
    v = tx.ReadOp(src);
  else return false;
  tx.b.StEnv(Type::kI64, TmpOff(0), tx.b.Zext(Type::kI64, SizeType(size), v));
  unsigned a = kFpCvtI2F | kind << 8 | (size == 8 ? kFpWide : 0);
  tx.Call(HelperSseFp, tx.C(a), tx.C(dst.reg), tx.C(kTmp));
  return true;
}

// CVTSS2SI/CVTSD2SI/CVTTSS2SI/CVTTSD2SI into a 32- or 64-bit GPR.
bool CvtF2I(Tx& tx, unsigned op, unsigned kind) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  if (dst.kind != OperandKind::kReg || (dst.reg_class != RegClass::kGpr32 && dst.reg_class != RegClass::kGpr64))
    return false;
  unsigned size = dst.size ? dst.size : tx.osize();
  if (size != 4 && size != 8) return false;
  int src = Source(tx, tx.in.ops[1], kind == kFpSd ? 8 : 4);
  if (src < 0) return false;
  unsigned a = op | kind << 8 | (size == 8 ? kFpWide : 0);
  Val r = tx.Call(HelperSseFp, tx.C(a), tx.C(0), tx.C(static_cast<uint64_t>(src)));
  tx.WriteOp(dst, tx.b.Mov(SizeType(size), r));
  return true;
}

// MOVHLPS (dst.low = src.high) and MOVLHPS (dst.high = src.low).
bool MovHL(Tx& tx, bool hl) {
  if (!SseAvailable(tx)) return true;
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if (!IsXmm(dst) || !IsXmm(src)) return false;
  Val v = tx.b.LdEnv(Type::kI64, XmmOff(src.reg, hl ? 1 : 0));
  tx.b.StEnv(Type::kI64, XmmOff(dst.reg, hl ? 0 : 1), v);
  return true;
}

}  // namespace

void RegisterSseFp(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
#define FP4(NAME, OP)                                                          \
  at(Mnemonic::NAME##PS) = [](Tx& tx) { return Arith(tx, OP, kFpPs); };       \
  at(Mnemonic::NAME##PD) = [](Tx& tx) { return Arith(tx, OP, kFpPd); };       \
  at(Mnemonic::NAME##SS) = [](Tx& tx) { return Arith(tx, OP, kFpSs); };       \
  at(Mnemonic::NAME##SD) = [](Tx& tx) { return Arith(tx, OP, kFpSd); };
  FP4(ADD, kFpAdd) FP4(SUB, kFpSub) FP4(MUL, kFpMul) FP4(DIV, kFpDiv)
  FP4(MIN, kFpMin) FP4(MAX, kFpMax) FP4(SQRT, kFpSqrt)
#undef FP4
  at(Mnemonic::CMPPS) = [](Tx& tx) { return Arith(tx, kFpCmp, kFpPs); };
  at(Mnemonic::CMPPD) = [](Tx& tx) { return Arith(tx, kFpCmp, kFpPd); };
  at(Mnemonic::CMPSS) = [](Tx& tx) { return Arith(tx, kFpCmp, kFpSs); };
  // 0F C2 with F2; the string CMPSD (A7) is CMPS in the primary map.
  at(Mnemonic::CMPSD) = [](Tx& tx) {
    if (tx.in.map == OpcodeMap::kPrimary) return false;
    return Arith(tx, kFpCmp, kFpSd);
  };
  at(Mnemonic::RCPPS) = [](Tx& tx) { return Arith(tx, kFpRcp, kFpPs); };
  at(Mnemonic::RCPSS) = [](Tx& tx) { return Arith(tx, kFpRcp, kFpSs); };
  at(Mnemonic::RSQRTPS) = [](Tx& tx) { return Arith(tx, kFpRsqrt, kFpPs); };
  at(Mnemonic::RSQRTSS) = [](Tx& tx) { return Arith(tx, kFpRsqrt, kFpSs); };
  at(Mnemonic::COMISS) = [](Tx& tx) { return Comi(tx, kFpComi, kFpSs); };
  at(Mnemonic::COMISD) = [](Tx& tx) { return Comi(tx, kFpComi, kFpSd); };
  at(Mnemonic::UCOMISS) = [](Tx& tx) { return Comi(tx, kFpUcomi, kFpSs); };
  at(Mnemonic::UCOMISD) = [](Tx& tx) { return Comi(tx, kFpUcomi, kFpSd); };
  at(Mnemonic::CVTSI2SS) = [](Tx& tx) { return CvtI2F(tx, kFpSs); };
  at(Mnemonic::CVTSI2SD) = [](Tx& tx) { return CvtI2F(tx, kFpSd); };
  at(Mnemonic::CVTSS2SI) = [](Tx& tx) { return CvtF2I(tx, kFpCvtF2I, kFpSs); };
  at(Mnemonic::CVTSD2SI) = [](Tx& tx) { return CvtF2I(tx, kFpCvtF2I, kFpSd); };
  at(Mnemonic::CVTTSS2SI) = [](Tx& tx) { return CvtF2I(tx, kFpCvttF2I, kFpSs); };
  at(Mnemonic::CVTTSD2SI) = [](Tx& tx) { return CvtF2I(tx, kFpCvttF2I, kFpSd); };
  at(Mnemonic::CVTSS2SD) = [](Tx& tx) { return ToXmm(tx, kFpCvtSs2Sd, 4); };
  at(Mnemonic::CVTSD2SS) = [](Tx& tx) { return ToXmm(tx, kFpCvtSd2Ss, 8); };
  at(Mnemonic::CVTPS2PD) = [](Tx& tx) { return ToXmm(tx, kFpCvtPs2Pd, 8); };
  at(Mnemonic::CVTPD2PS) = [](Tx& tx) { return ToXmm(tx, kFpCvtPd2Ps, 16); };
  at(Mnemonic::CVTDQ2PD) = [](Tx& tx) { return ToXmm(tx, kFpCvtDq2Pd, 8); };
  at(Mnemonic::CVTDQ2PS) = [](Tx& tx) { return ToXmm(tx, kFpCvtDq2Ps, 16); };
  at(Mnemonic::CVTPD2DQ) = [](Tx& tx) { return ToXmm(tx, kFpCvtPd2Dq, 16); };
  at(Mnemonic::CVTTPD2DQ) = [](Tx& tx) { return ToXmm(tx, kFpCvttPd2Dq, 16); };
  at(Mnemonic::CVTPS2DQ) = [](Tx& tx) { return ToXmm(tx, kFpCvtPs2Dq, 16); };
  at(Mnemonic::CVTTPS2DQ) = [](Tx& tx) { return ToXmm(tx, kFpCvttPs2Dq, 16); };
  at(Mnemonic::SHUFPD) = [](Tx& tx) { return ToXmm(tx, kFpShufPd, 16); };
  at(Mnemonic::MOVHLPS) = [](Tx& tx) { return MovHL(tx, true); };
  at(Mnemonic::MOVLHPS) = [](Tx& tx) { return MovHL(tx, false); };
}

}  // namespace emu::x86
