// Operation codes of HelperSseFp (declared in helpers.h): a = SseFpOp |
// SseFpKind << 8 | (64-bit integer operand) << 10, b = destination xmm,
// c = source xmm (16 = env.xmm_tmp) | imm8 << 8. COMIS/UCOMIS return the
// arithmetic flags, CVT*2SI the integer; the rest write the destination.
#pragma once

namespace emu::x86 {

enum SseFpOp : unsigned {
  kFpAdd, kFpSub, kFpMul, kFpDiv, kFpSqrt, kFpMin, kFpMax, kFpCmp, kFpRcp, kFpRsqrt,
  kFpComi, kFpUcomi,
  kFpCvtI2F, kFpCvtF2I, kFpCvttF2I, kFpCvtSs2Sd, kFpCvtSd2Ss,
  kFpCvtPs2Pd, kFpCvtPd2Ps, kFpCvtDq2Pd, kFpCvtDq2Ps,
  kFpCvtPd2Dq, kFpCvttPd2Dq, kFpCvtPs2Dq, kFpCvttPs2Dq,
  kFpShufPd,
};
enum SseFpKind : unsigned { kFpPs = 0, kFpPd = 1, kFpSs = 2, kFpSd = 3 };
constexpr unsigned kFpWide = 1u << 10;

}  // namespace emu::x86
