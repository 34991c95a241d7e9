// PUSH/POP (registers, memory, immediates, segments), PUSHA/POPA, PUSHF/POPF,
// ENTER/LEAVE.
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

bool Push(Tx& tx) {
  const Operand& op = tx.in.ops[0];
  unsigned size = tx.osize();
  Val v;
  if (op.kind == OperandKind::kImm) {
    v = tx.C(static_cast<uint64_t>(op.imm) & accel::tcg::Mask(SizeType(size)));
  } else if (op.kind == OperandKind::kReg && op.reg_class == RegClass::kSeg) {
    if (size == 4) {
      // A 32-bit push of a segment register is a 16-bit store on Intel CPUs (SDM PUSH):
      // the upper half of the slot keeps its old bytes. (64-bit pushes zero-extend.)
      Val nsp;
      tx.StoreMem(2, tx.PushAddr(size, &nsp), tx.ReadOp(op));
      tx.SetReg(RSP, tx.stack_size(), nsp);
      return true;
    }
    v = tx.b.Zext(SizeType(size), Type::kI16, tx.ReadOp(op));
  } else {
    v = tx.ReadOp(op);  // push [rsp] reads before rsp moves
  }
  tx.Push(size, v);
  return true;
}

bool Pop(Tx& tx) {
  const Operand& op = tx.in.ops[0];
  unsigned size = tx.osize();
  Val sp = tx.Sp();
  Val v = tx.LoadMem(size, tx.StackLin(sp));
  Val nsp = tx.b.Add(SizeType(tx.stack_size()), sp, tx.C(size));
  if (op.kind == OperandKind::kReg && op.reg_class == RegClass::kSeg) {
    tx.Call(HelperLoadSeg, tx.C(op.reg), v);
    tx.SetReg(RSP, tx.stack_size(), nsp);
    if (op.reg == SS) {
      tx.b.StEnv(Type::kI8, X86_OFF(s.interrupt_shadow), tx.C(1));
      tx.EndBlockAfter();
    } else if (!tx.real_or_vm86() && !tx.long64()) {
      tx.EndBlockAfter();  // whether segment checks are needed (kTbSegChecks) may change
    }
    return true;
  }
  if (op.kind == OperandKind::kMem) {
    // The address is computed with the incremented rsp, but rsp is committed only after
    // the store, so a faulting store leaves it unchanged (precise exceptions).
    Val old = tx.GetReg(RSP, 8);
    tx.SetReg(RSP, tx.stack_size(), nsp);
    Val addr = tx.MemAddr(op);
    tx.SetReg(RSP, 8, old);
    tx.WriteOp(op, v, addr);
    tx.SetReg(RSP, tx.stack_size(), nsp);
    return true;
  }
  tx.SetReg(RSP, tx.stack_size(), nsp);
  tx.WriteOp(op, v);
  return true;
}

bool Pusha(Tx& tx) {
  unsigned size = tx.osize();
  Type st = SizeType(tx.stack_size());
  Val sp = tx.Sp();
  Val cur = sp;
  for (unsigned r = RAX; r <= RDI; r++) {
    cur = tx.b.Sub(st, cur, tx.C(size));
    // The original (E)SP at the operand size: a 32-bit PUSHAD on a 16-bit stack pushes ESP.
    Val v = tx.GetReg(r, size);
    tx.StoreMem(size, tx.StackLin(cur), v);
  }
  tx.SetReg(RSP, tx.stack_size(), cur);
  return true;
}

bool Popa(Tx& tx) {
  unsigned size = tx.osize();
  Type st = SizeType(tx.stack_size());
  Val cur = tx.Sp();
  Val vals[8];
  for (int r = RDI; r >= RAX; r--) {
    vals[r] = tx.LoadMem(size, tx.StackLin(cur));
    cur = tx.b.Add(st, cur, tx.C(size));
  }
  for (int r = RDI; r >= RAX; r--)
    if (r != RSP) tx.SetReg(r, size, vals[r]);
  tx.SetReg(RSP, tx.stack_size(), cur);
  return true;
}

bool Pushf(Tx& tx) {
  if (tx.vm86() && ((tx.flags & kTbIoplMask) >> kTbIoplShift) < 3) {
    tx.Gp0();
    return true;
  }
  Val f = tx.CallPure(HelperGetEflags);
  f = tx.b.AndI(Type::kI64, f, ~uint64_t{kFlagVM | kFlagRF});
  tx.Push(tx.osize(), f);
  return true;
}

bool Popf(Tx& tx) {
  unsigned size = tx.osize();
  Val sp = tx.Sp();
  Val v = tx.LoadMem(size, tx.StackLin(sp));
  tx.Call(HelperPopf, v, tx.C(size));
  tx.SetReg(RSP, tx.stack_size(), tx.b.Add(SizeType(tx.stack_size()), sp, tx.C(size)));
  tx.cc_op = kCcEflags;
  tx.EndBlockAfter();  // IF, TF, IOPL, AC may have changed
  return true;
}

bool Enter(Tx& tx) {
  unsigned size = tx.osize();
  unsigned ss = tx.stack_size();
  Type st = SizeType(ss);
  uint64_t alloc = static_cast<uint64_t>(tx.in.ops[0].imm) & 0xffff;
  unsigned level = static_cast<unsigned>(tx.in.ops[1].imm) & 31;
  Val sp = tx.b.Sub(st, tx.Sp(), tx.C(size));
  tx.StoreMem(size, tx.StackLin(sp), tx.GetReg(RBP, size));
  // FrameTemp is (E)SP at the operand size: a 32-bit ENTER on a 16-bit stack keeps the
  // upper half of ESP in it.
  Val frame = sp;
  if (size > ss) {
    Val hi = tx.b.AndI(SizeType(size), tx.GetReg(RSP, size), ~uint64_t{0xffff});
    frame = tx.b.Or(SizeType(size), hi, tx.b.Zext(SizeType(size), st, sp));
  }
  if (level > 0) {
    Val bp = tx.GetReg(RBP, ss);
    for (unsigned i = 1; i < level; i++) {
      bp = tx.b.Sub(st, bp, tx.C(size));
      Val v = tx.LoadMem(size, tx.StackLin(bp));
      sp = tx.b.Sub(st, sp, tx.C(size));
      tx.StoreMem(size, tx.StackLin(sp), v);
    }
    sp = tx.b.Sub(st, sp, tx.C(size));
    tx.StoreMem(size, tx.StackLin(sp), tx.b.Mov(SizeType(size), frame));
  }
  sp = tx.b.Sub(st, sp, tx.C(alloc));
  // The final rsp must be writable (the SDM faults on it). Intel CPUs check it after the
  // frame pushes (those stay written) and before any register changes.
  Val fl = tx.StackLin(sp);
  if (tx.flags & kTbSegChecks) {  // the limit check covers an operand at the final SP
    tx.Call(HelperSegCheck, tx.b.Zext(Type::kI64, st, sp), tx.C(SS | size << 8 | 1u << 16));
  }
  tx.StoreMem(1, fl, tx.LoadMem(1, fl));
  tx.SetReg(RBP, size, tx.b.Mov(SizeType(size), frame));
  tx.SetReg(RSP, ss, sp);
  return true;
}

bool Leave(Tx& tx) {
  unsigned size = tx.osize();
  unsigned ss = tx.stack_size();
  Val bp = tx.GetReg(RBP, ss);
  Val v = tx.LoadMem(size, tx.StackLin(bp));
  tx.SetReg(RSP, ss, tx.b.Add(SizeType(ss), bp, tx.C(size)));
  tx.SetReg(RBP, size, v);
  return true;
}

}  // namespace

void RegisterStack(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::PUSH) = Push;
  at(Mnemonic::POP) = Pop;
  at(Mnemonic::PUSHA) = Pusha;
  at(Mnemonic::POPA) = Popa;
  at(Mnemonic::PUSHF) = Pushf;
  at(Mnemonic::POPF) = Popf;
  at(Mnemonic::ENTER) = Enter;
  at(Mnemonic::LEAVE) = Leave;
}

}  // namespace emu::x86
