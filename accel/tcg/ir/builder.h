// Builder: the front end's way to append ops to a Block. Typed values are plain
// temp numbers; the builder keeps constants deduplicated per block.
#pragma once

#include <cassert>
#include <unordered_map>

#include "accel/tcg/ir/ir.h"

namespace emu::accel::tcg {

struct Val {
  uint32_t id = kNoTemp;
  bool valid() const { return id != kNoTemp; }
};

class Builder {
 public:
  explicit Builder(Block* b) : b_(b) {}
  Block& block() { return *b_; }

  Val Temp() {
    b_->is_const.push_back(0);
    b_->const_val.push_back(0);
    return Val{b_->num_temps++};
  }
  Val Const(uint64_t v) {
    auto it = consts_.find(v);
    if (it != consts_.end()) return Val{it->second};
    Val t = Temp();
    b_->is_const[t.id] = 1;
    b_->const_val[t.id] = v;
    consts_.emplace(v, t.id);
    return t;
  }

  Val Un(Opcode opc, Type t, Val a, uint8_t aux = 0) {
    Val d = Temp();
    Emit({opc, t, aux, d.id, a.id});
    return d;
  }
  Val Bin(Opcode opc, Type t, Val a, Val b, uint8_t aux = 0) {
    Val d = Temp();
    Emit({opc, t, aux, d.id, a.id, b.id});
    return d;
  }
  // Writes into an existing (non-constant) temp, for values built across branches
  // of the front end's own logic.
  void MovTo(Type t, Val dst, Val a) { Emit({Opcode::k_mov, t, 0, dst.id, a.id}); }

  Val Mov(Type t, Val a) { return Un(Opcode::k_mov, t, a); }
  Val Add(Type t, Val a, Val b) { return Bin(Opcode::k_add, t, a, b); }
  Val Sub(Type t, Val a, Val b) { return Bin(Opcode::k_sub, t, a, b); }
  Val Mul(Type t, Val a, Val b) { return Bin(Opcode::k_mul, t, a, b); }
  Val MulHu(Type t, Val a, Val b) { return Bin(Opcode::k_mulhu, t, a, b); }
  Val MulHs(Type t, Val a, Val b) { return Bin(Opcode::k_mulhs, t, a, b); }
  Val And(Type t, Val a, Val b) { return Bin(Opcode::k_and, t, a, b); }
  Val Or(Type t, Val a, Val b) { return Bin(Opcode::k_or, t, a, b); }
  Val Xor(Type t, Val a, Val b) { return Bin(Opcode::k_xor, t, a, b); }
  Val Shl(Type t, Val a, Val b) { return Bin(Opcode::k_shl, t, a, b); }
  Val Shr(Type t, Val a, Val b) { return Bin(Opcode::k_shr, t, a, b); }
  Val Sar(Type t, Val a, Val b) { return Bin(Opcode::k_sar, t, a, b); }
  Val Rotl(Type t, Val a, Val b) { return Bin(Opcode::k_rotl, t, a, b); }
  Val Rotr(Type t, Val a, Val b) { return Bin(Opcode::k_rotr, t, a, b); }
  Val Neg(Type t, Val a) { return Un(Opcode::k_neg, t, a); }
  Val Not(Type t, Val a) { return Un(Opcode::k_not, t, a); }
  Val Zext(Type to, Type from, Val a) {
    return Un(Opcode::k_zext, to, a, static_cast<uint8_t>(from));
  }
  Val Sext(Type to, Type from, Val a) {
    return Un(Opcode::k_sext, to, a, static_cast<uint8_t>(from));
  }
  Val SetCond(Cond c, Type t, Val a, Val b) {
    return Bin(Opcode::k_setcond, t, a, b, static_cast<uint8_t>(c));
  }
  Val Select(Type t, Val cond, Val if_true, Val if_false) {
    Val d = Temp();
    Emit({Opcode::k_select, t, 0, d.id, cond.id, if_true.id, if_false.id});
    return d;
  }
  Val Clz(Type t, Val a) { return Un(Opcode::k_clz, t, a); }
  Val Ctz(Type t, Val a) { return Un(Opcode::k_ctz, t, a); }
  Val Popcnt(Type t, Val a) { return Un(Opcode::k_popcnt, t, a); }
  Val Bswap(Type t, Val a) { return Un(Opcode::k_bswap, t, a); }

  // Convenience forms with an immediate right operand.
  Val AddI(Type t, Val a, uint64_t v) { return Add(t, a, Const(v)); }
  Val AndI(Type t, Val a, uint64_t v) { return And(t, a, Const(v)); }
  Val ShlI(Type t, Val a, uint64_t v) { return Shl(t, a, Const(v)); }
  Val ShrI(Type t, Val a, uint64_t v) { return Shr(t, a, Const(v)); }
  Val SarI(Type t, Val a, uint64_t v) { return Sar(t, a, Const(v)); }

  Val LdEnv(Type t, uint32_t offset) {
    Val d = Temp();
    Op o{Opcode::k_ld_env, t, 0, d.id};
    o.imm = offset;
    Emit(o);
    return d;
  }
  void StEnv(Type t, uint32_t offset, Val v) {
    Op o{Opcode::k_st_env, t, 0, kNoTemp, v.id};
    o.imm = offset;
    Emit(o);
  }
  Val LdMem(Type t, Val addr, uint8_t mmu_idx) {
    Val d = Temp();
    Emit({Opcode::k_ld_mem, t, mmu_idx, d.id, addr.id});
    return d;
  }
  void StMem(Type t, Val addr, Val v, uint8_t mmu_idx) {
    Emit({Opcode::k_st_mem, t, mmu_idx, kNoTemp, addr.id, v.id});
  }
  Val Call(HelperFn fn, uint8_t flags, Val a = {}, Val b = {}, Val c = {}) {
    Val d = Temp();
    Op o{Opcode::k_call, Type::kI64, flags, d.id, a.id, b.id, c.id};
    o.imm = reinterpret_cast<uint64_t>(fn);
    Emit(o);
    return d;
  }
  void InsnStart(uint64_t pc) {
    Op o{Opcode::k_insn_start, Type::kI64};
    o.imm = pc;
    Emit(o);
  }

  void Goto(uint64_t target) {
    b_->term = Terminal{Terminal::Kind::kGoto, kNoTemp, {target, 0}};
  }
  void Branch(Val cond, uint64_t taken, uint64_t not_taken) {
    b_->term = Terminal{Terminal::Kind::kBranch, cond.id, {taken, not_taken}};
  }
  // After Goto/Branch: the terminal stores the guest pc of the slot it takes.
  void SetTerminalPc(uint32_t env_off, uint64_t pc0, uint64_t pc1 = 0) {
    b_->term.pc_off = env_off;
    b_->term.pc_vals[0] = pc0;
    b_->term.pc_vals[1] = pc1;
  }
  // `pc_off` (optional): where in env the front end stored the next pc, so a
  // backend may remember the last target per block (an inline cache).
  void Indirect(uint32_t pc_off = kNoTemp) {
    b_->term = Terminal{Terminal::Kind::kIndirect};
    b_->term.pc_off = pc_off;
  }
  void Exit(uint32_t code = 0) {
    b_->term = Terminal{Terminal::Kind::kExit};
    b_->term.exit_code = code;
  }
  void Raise(uint32_t code = 0) {
    b_->term = Terminal{Terminal::Kind::kRaise};
    b_->term.exit_code = code;
  }
  bool terminated() const { return b_->term.kind != Terminal::Kind::kNone; }

  void Emit(const Op& o) {
    assert(!terminated());
    b_->ops.push_back(o);
  }

 private:
  Block* b_;
  std::unordered_map<uint64_t, uint32_t> consts_;
};

}  // namespace emu::accel::tcg
