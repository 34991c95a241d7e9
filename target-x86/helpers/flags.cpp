// Lazy flag evaluation (see env.h for what each cc_op keeps).
#include <bit>

#include "accel/tcg/ir/ir.h"
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

namespace {

bool IsSavedKind(uint64_t op) {
  return (op >> 2) == kCcKindIncSaved || (op >> 2) == kCcKindDecSaved;
}

// The flags of lazy state (op, dst) with env's cc_src/cc_src2 (and cc_op2/cc_dst2
// for the saved kinds, whose own saved state is never a saved kind).
uint64_t ArithOf(const X86Env& e, uint64_t op, uint64_t dst) {
  if (op == kCcEflags || (op >> 2) >= kCcKindCount) return e.cc_src & kArithFlags;
  CcKind kind = static_cast<CcKind>(op >> 2);
  unsigned bits = 8u << (op & 3);
  uint64_t m = bits == 64 ? ~0ull : (1ull << bits) - 1;
  uint64_t sign = 1ull << (bits - 1);
  uint64_t d = dst & m, s = e.cc_src & m;
  uint64_t cf = 0, of = 0, af = 0;
  switch (kind) {
    case kCcKindAdd: {
      uint64_t a = (d - s) & m;
      cf = d < s;
      of = ((a ^ d) & (s ^ d) & sign) != 0;
      af = (a ^ s ^ d) & 0x10;
      break;
    }
    case kCcKindAdc: {
      uint64_t cin = e.cc_src2 & 1;
      uint64_t a = (d - s - cin) & m;
      cf = cin ? d <= s : d < s;
      of = ((a ^ d) & (s ^ d) & sign) != 0;
      af = (a ^ s ^ d) & 0x10;
      break;
    }
    case kCcKindSub: {
      uint64_t a = (d + s) & m;
      cf = a < s;
      of = ((a ^ s) & (a ^ d) & sign) != 0;
      af = (a ^ s ^ d) & 0x10;
      break;
    }
    case kCcKindSbb: {
      uint64_t cin = e.cc_src2 & 1;
      uint64_t a = (d + s + cin) & m;
      cf = cin ? a <= s : a < s;
      of = ((a ^ s) & (a ^ d) & sign) != 0;
      af = (a ^ s ^ d) & 0x10;
      break;
    }
    case kCcKindLogic: break;
    case kCcKindInc:
      cf = e.cc_src2 & 1;
      of = d == sign;
      af = (d & 0xf) == 0 ? 0x10 : 0;
      break;
    case kCcKindDec:
      cf = e.cc_src2 & 1;
      of = d == sign - 1;
      af = (d & 0xf) == 0xf ? 0x10 : 0;
      break;
    case kCcKindIncSaved: case kCcKindDecSaved: {
      cf = IsSavedKind(e.cc_op2) ? 0 : ArithOf(e, e.cc_op2, e.cc_dst2) & kFlagCF;
      bool inc = kind == kCcKindIncSaved;
      of = d == (inc ? sign : sign - 1);
      af = (d & 0xf) == (inc ? 0 : 0xf) ? 0x10 : 0;
      break;
    }
    case kCcKindShl:
      cf = (s >> (bits - 1)) & 1;
      of = cf ^ ((d >> (bits - 1)) & 1);
      break;
    case kCcKindSar:
      cf = s & 1;
      break;
    case kCcKindShr:
      cf = s & 1;
      of = ((e.cc_src2 & m) >> (bits - 1)) & 1;  // OF: top bit of the original operand
      break;
    case kCcKindMul:
      cf = of = s != 0;
      break;
    default: break;
  }
  uint64_t f = 0;
  if (cf) f |= kFlagCF;
  if (!(std::popcount(d & 0xff) & 1)) f |= kFlagPF;
  if (af) f |= kFlagAF;
  if (d == 0) f |= kFlagZF;
  if (d & sign) f |= kFlagSF;
  if (of) f |= kFlagOF;
  return f;
}

}  // namespace

uint64_t ComputeArith(const X86Env& e) { return ArithOf(e, e.cc_op, e.cc_dst); }

uint64_t ComputeEflags(const X86Env& e) {
  return (e.s.rflags & ~kArithFlags) | ComputeArith(e) | 2;
}

void SetEflags(X86Env& e, uint64_t value) {
  e.cc_src = value & kArithFlags;
  e.cc_op = kCcEflags;
  e.s.rflags = (value & ~kArithFlags) | 2;
}

X86_HELPER(HelperArithFlags) { return ComputeArith(CpuOf(ctx)->env); }
X86_HELPER(HelperGetEflags) { return ComputeEflags(CpuOf(ctx)->env); }
X86_HELPER(HelperSetEflags) {
  X86Env& e = CpuOf(ctx)->env;
  uint64_t cur = ComputeEflags(e);
  SetEflags(e, (cur & ~b) | (a & b));
  return 0;
}

}  // namespace emu::x86
