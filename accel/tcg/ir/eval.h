// Semantics of the value ops, shared by constant folding and the interpreter so
// that both always agree. Inputs are zero-extended values of width `t`.
#pragma once

#include <bit>

#include "accel/tcg/ir/ir.h"

namespace emu::accel::tcg {

inline uint64_t MulHigh(uint64_t a, uint64_t b, Type t, bool is_signed) {
  if (t == Type::kI64) {
#if defined(__SIZEOF_INT128__)
    if (is_signed)
      return static_cast<uint64_t>(
          (static_cast<__int128>(static_cast<int64_t>(a)) * static_cast<int64_t>(b)) >> 64);
    return static_cast<uint64_t>((static_cast<unsigned __int128>(a) * b) >> 64);
#else
    // Portable 64x64->128 by 32-bit halves.
    uint64_t al = a & 0xffffffff, ah = a >> 32, bl = b & 0xffffffff, bh = b >> 32;
    uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
    uint64_t mid = (ll >> 32) + (lh & 0xffffffff) + (hl & 0xffffffff);
    uint64_t hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
    if (is_signed) {
      if (static_cast<int64_t>(a) < 0) hi -= b;
      if (static_cast<int64_t>(b) < 0) hi -= a;
    }
    return hi;
#endif
  }
  unsigned bits = Bits(t);
  if (is_signed) {
    int64_t p = SignExtend(a, t) * SignExtend(b, t);
    return (static_cast<uint64_t>(p) >> bits) & Mask(t);
  }
  return ((a * b) >> bits) & Mask(t);
}

inline uint64_t EvalValueOp(Opcode opc, Type t, uint8_t aux, uint64_t a, uint64_t b,
                            uint64_t c) {
  const uint64_t m = Mask(t);
  const unsigned bits = Bits(t);
  switch (opc) {
    case Opcode::k_mov: return a & m;
    case Opcode::k_add: return (a + b) & m;
    case Opcode::k_sub: return (a - b) & m;
    case Opcode::k_mul: return (a * b) & m;
    case Opcode::k_mulhu: return MulHigh(a & m, b & m, t, false);
    case Opcode::k_mulhs: return MulHigh(a & m, b & m, t, true);
    case Opcode::k_and: return a & b & m;
    case Opcode::k_or: return (a | b) & m;
    case Opcode::k_xor: return (a ^ b) & m;
    case Opcode::k_shl: return ((a & m) << (b & (bits - 1))) & m;
    case Opcode::k_shr: return (a & m) >> (b & (bits - 1));
    case Opcode::k_sar: return static_cast<uint64_t>(SignExtend(a, t) >> (b & (bits - 1))) & m;
    case Opcode::k_rotl: {
      unsigned n = b & (bits - 1);
      a &= m;
      return n ? ((a << n) | (a >> (bits - n))) & m : a;
    }
    case Opcode::k_rotr: {
      unsigned n = b & (bits - 1);
      a &= m;
      return n ? ((a >> n) | (a << (bits - n))) & m : a;
    }
    case Opcode::k_neg: return (0 - a) & m;
    case Opcode::k_not: return ~a & m;
    case Opcode::k_zext: return a & Mask(static_cast<Type>(aux)) & m;
    case Opcode::k_sext: return static_cast<uint64_t>(SignExtend(a, static_cast<Type>(aux))) & m;
    case Opcode::k_setcond: return EvalCond(static_cast<Cond>(aux), a, b, t) ? 1 : 0;
    case Opcode::k_select: return (a ? b : c) & m;
    case Opcode::k_clz: {
      a &= m;
      return a ? std::countl_zero(a) - (64 - bits) : bits;
    }
    case Opcode::k_ctz: {
      a &= m;
      return a ? std::countr_zero(a) : bits;
    }
    case Opcode::k_popcnt: return std::popcount(a & m);
    case Opcode::k_bswap: {
      uint64_t r = 0;
      for (unsigned i = 0; i < Bytes(t); i++) r |= ((a >> (8 * i)) & 0xff) << (bits - 8 - 8 * i);
      return r;
    }
    default: return 0;
  }
}

inline bool EvalCondInline(Cond c, uint64_t a, uint64_t b, Type t) {
  uint64_t m = Mask(t);
  a &= m;
  b &= m;
  switch (c) {
    case Cond::kEq: return a == b;
    case Cond::kNe: return a != b;
    case Cond::kLtu: return a < b;
    case Cond::kLeu: return a <= b;
    case Cond::kGtu: return a > b;
    case Cond::kGeu: return a >= b;
    case Cond::kLt: return SignExtend(a, t) < SignExtend(b, t);
    case Cond::kLe: return SignExtend(a, t) <= SignExtend(b, t);
    case Cond::kGt: return SignExtend(a, t) > SignExtend(b, t);
    case Cond::kGe: return SignExtend(a, t) >= SignExtend(b, t);
  }
  return false;
}

}  // namespace emu::accel::tcg
