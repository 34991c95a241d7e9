// The native emitter: one op of the program (value ops here; memory and calls in
// emit_mem.cpp, block ends in emit_ends.cpp).
#include "accel/tcg/backend/x86_64/emitter.h"

namespace emu::accel::tcg::native {

void Emitter::Op(uint32_t i) {
  const InterpOp& o = O(i);
  const unsigned k = o.handler;
  cached_ = after_;  // valid across exactly one op boundary
  after_ = -1;
  if (IsMemKind(k)) return Mem(i);
  if (k >= k_set_eq && k <= k_set_ge_ri) {
    const bool ri = k >= k_set_eq_ri;
    const unsigned cond = k - (ri ? k_set_eq_ri : k_set_eq);
    Compare(o, cond, ri);
    SetCc(cond);
    movzx(eax, al);
    Set(o);
    return;
  }
  if (k >= k_br_eq && k <= k_br_ge_ri) {
    const bool ri = k >= k_br_eq_ri;
    const unsigned cond = k - (ri ? k_br_eq_ri : k_br_eq);
    Compare(o, cond, ri);
    Label l1;
    Jcc(Negate(cond), l1);
    Take(0);
    L(l1);
    Take(1);
    return;
  }
  switch (k) {
    case k_mov:
      LoadMasked(o.a, o.mask);
      Set(o);
      break;
    case k_movi: StoreImm(o.d, o.imm); break;
    case k_mov2:  // d = a, then c = b (b may be d)
      LoadA(o.a);
      Set(o);
      mov(rax, Env(o.b));
      mov(Env(o.c), rax);
      after_ = -1;
      break;
    case k_movi2:
      StoreImm(o.d, o.imm);
      StoreImm(o.c, o.mask);
      break;
    case k_put8:
      mov(al, byte[rbx + o.a]);
      mov(byte[rbx + o.d], al);
      break;
    case k_put16:
      mov(ax, word[rbx + o.a]);
      mov(word[rbx + o.d], ax);
      break;
    case k_put32:
      mov(eax, dword[rbx + o.a]);
      mov(dword[rbx + o.d], eax);
      break;
    case k_puti8: mov(byte[rbx + o.d], static_cast<uint8_t>(o.imm)); break;
    case k_puti16: mov(word[rbx + o.d], static_cast<uint16_t>(o.imm)); break;
    case k_puti32: mov(dword[rbx + o.d], static_cast<uint32_t>(o.imm)); break;
    case k_add: Bin(o, Alu::kAdd); break;
    case k_sub: Bin(o, Alu::kSub); break;
    case k_and: Bin(o, Alu::kAnd); break;
    case k_or: Bin(o, Alu::kOr); break;
    case k_xor: Bin(o, Alu::kXor); break;
    case k_add_ri: BinImm(o, Alu::kAdd, o.mask); break;
    case k_sub_ri: BinImm(o, Alu::kSub, o.mask); break;
    case k_and_ri: BinImm(o, Alu::kAnd, ~0ull); break;  // imm already masked
    case k_or_ri: BinImm(o, Alu::kOr, o.mask); break;
    case k_xor_ri: BinImm(o, Alu::kXor, o.mask); break;
    case k_mul:
      if (Cached(o.b)) {
        mov(rcx, rax);
        LoadA(o.a);
        imul(rax, rcx);
      } else {
        LoadA(o.a);
        imul(rax, Env(o.b));
      }
      Mask(rax, o.mask);
      Set(o);
      break;
    case k_mul_ri:
      LoadA(o.a);
      if (FitsI32(o.imm)) {
        imul(rax, rax, static_cast<int>(static_cast<int32_t>(o.imm)));
      } else {
        mov(r8, o.imm);
        imul(rax, r8);
      }
      Mask(rax, o.mask);
      Set(o);
      break;
    case k_shl:
    case k_shr:
    case k_sar:
      if (Cached(o.b)) mov(ecx, eax);
      else mov(ecx, dword[rbx + o.b]);
      if (k == k_sar) {
        LoadSxA(o.a, o.aux);
      } else {
        if (k == k_shr) LoadMasked(o.a, o.mask);
        else LoadA(o.a);
      }
      and_(ecx, static_cast<uint32_t>(o.imm));
      if (k == k_shl) shl(rax, cl);
      else if (k == k_shr) shr(rax, cl);
      else sar(rax, cl);
      if (k != k_shr) Mask(rax, o.mask);
      Set(o);
      break;
    case k_shl_ri:
      LoadA(o.a);
      if (o.mask == 0xffffffffu && o.imm < 32) {
        shl(eax, static_cast<int>(o.imm));
      } else {
        shl(rax, static_cast<int>(o.imm & 63));
        Mask(rax, o.mask);
      }
      Set(o);
      break;
    case k_shr_ri:
      LoadMasked(o.a, o.mask);
      shr(rax, static_cast<int>(o.imm & 63));
      Set(o);
      break;
    case k_sar_ri:
      LoadSxA(o.a, o.aux);
      sar(rax, static_cast<int>(o.imm & 63));
      Mask(rax, o.mask);
      Set(o);
      break;
    case k_not:
    case k_neg:
      LoadA(o.a);
      if (k == k_not) not_(rax);
      else neg(rax);
      Mask(rax, o.mask);
      Set(o);
      break;
    case k_sext:
      LoadSxA(o.a, o.aux);
      Mask(rax, o.mask);
      Set(o);
      break;
    case k_select:
      if (Cached(o.a)) test(rax, rax);  // the moves below keep the flags
      else cmp(Env(o.a), 0);
      if (Cached(o.c)) mov(rcx, rax);
      else mov(rcx, Env(o.c));
      if (!Cached(o.b)) mov(rax, Env(o.b));
      cmove(rax, rcx);
      Mask(rax, o.mask);
      Set(o);
      break;
    case k_generic:
      mov(rdi, rbx);
      mov(rsi, reinterpret_cast<uint64_t>(&o));
      CallC(reinterpret_cast<const void*>(&native::Generic));
      break;
    case k_call:
    case k_call_exit: Call(i); break;
    case k_stop: Exit(native::kResumeBase + i); break;  // the interpreter stops
    case k_end_goto:
      Tail();
      Take(0, false);
      break;
    case k_end_branch: {
      Label l1;
      cmp(Env(o.a), 0);
      je(l1, T_NEAR);
      Take(0);
      L(l1);
      Take(1);
      break;
    }
    case k_end_indirect:
      Tail();
      IndirectEnd();
      break;
    case k_end:
      Tail();
      Exit(-1);
      break;
    default:
      throw Xbyak::Error(Xbyak::ERR_INTERNAL);  // a kind this emitter does not know
  }
}

// 32-bit results use 32-bit instructions (they zero the upper half).
void Emitter::Bin(const InterpOp& o, Alu k) {
  const bool w32 = o.mask == 0xffffffffu;
  const Xbyak::Reg& r = w32 ? static_cast<const Xbyak::Reg&>(eax) : rax;
  if (Cached(o.b) && !Cached(o.a)) {
    mov(rcx, rax);
    LoadA(o.a);
    AluOp(k, r, w32 ? static_cast<const Xbyak::Reg&>(ecx) : rcx);
  } else {
    const bool b_in_rax = Cached(o.b);
    LoadA(o.a);
    if (b_in_rax) AluOp(k, r, r);
    else AluOp(k, r, w32 ? dword[rbx + o.b] : Env(o.b));
  }
  if (!w32) Mask(rax, o.mask);
  Set(o);
}

void Emitter::BinImm(const InterpOp& o, Alu k, uint64_t mask) {
  LoadA(o.a);
  if (mask == 0xffffffffu) {
    const uint32_t v = static_cast<uint32_t>(o.imm);
    switch (k) {
      case Alu::kAdd: add(eax, v); break;
      case Alu::kSub: sub(eax, v); break;
      case Alu::kAnd: and_(eax, v); break;
      case Alu::kOr: or_(eax, v); break;
      case Alu::kXor: xor_(eax, v); break;
    }
  } else {
    AluImm(k, rax, o.imm);
    Mask(rax, mask);
  }
  Set(o);
}

}  // namespace emu::accel::tcg::native
