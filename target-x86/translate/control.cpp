// Jumps, calls, returns, loops, software interrupts, IRET and far transfers.
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

uint64_t RelTarget(Tx& tx, const Operand& op) {
  uint64_t t = tx.next_pc + static_cast<uint64_t>(op.imm);
  unsigned os = tx.osize();
  if (os == 2) t &= 0xffff;
  else if (os == 4) t &= 0xffffffff;
  return t;
}

Val IndirectTarget(Tx& tx, const Operand& op) {
  unsigned os = tx.osize();
  Val v = tx.ReadOp(op);
  return tx.b.Zext(Type::kI64, SizeType(os), v);
}

// A near branch with a 32-bit operand size in 16-bit code can leave the 64 KiB code
// segment: #GP(0) before anything changes. (16-bit targets always fit a 64 KiB limit,
// 32-bit code segments are flat here: no check, no cost.) Computed targets are checked
// in protected mode only: real-mode BIOS code returns with o32 RET all the time and
// never leaves its segment, so it does not pay a helper call per return.
void CheckCsLimit(Tx& tx, Val target) {
  if (tx.code_bits() == 16 && tx.osize() == 4 && !tx.real_or_vm86()) tx.Call(HelperCsLimit, target);
}
void CheckCsLimit(Tx& tx, uint64_t target) {
  if (tx.code_bits() == 16 && tx.osize() == 4 && target > 0xffff) tx.Call(HelperCsLimit, tx.C(target));
}
// Conditional branches: only when taken.
void CheckCsLimitIf(Tx& tx, Val cond, uint64_t target) {
  if (tx.code_bits() == 16 && tx.osize() == 4 && target > 0xffff)
    tx.Call(HelperCsLimit, tx.b.Select(Type::kI64, cond, tx.C(target), tx.C(0)));
}

bool Jmp(Tx& tx) {
  const Operand& op = tx.in.ops[0];
  if (op.kind == OperandKind::kRel) {
    CheckCsLimit(tx, RelTarget(tx, op));
    tx.JumpTo(RelTarget(tx, op));
  } else {
    Val target = IndirectTarget(tx, op);
    CheckCsLimit(tx, target);
    tx.JumpIndirect(target);
  }
  return true;
}

bool Jcc(Tx& tx) {
  Val cond = tx.CondTrue(tx.in.cond);
  CheckCsLimitIf(tx, cond, RelTarget(tx, tx.in.ops[0]));
  tx.JumpIf(cond, RelTarget(tx, tx.in.ops[0]));
  return true;
}

bool Call(Tx& tx) {
  const Operand& op = tx.in.ops[0];
  unsigned os = tx.osize();
  // Intel CPUs store the return address before the limit check faults (RSP unchanged).
  auto push_ret = [&](auto target) {
    Val nsp;
    tx.StoreMem(os, tx.PushAddr(os, &nsp), tx.C(tx.Mask(tx.next_pc) & accel::tcg::Mask(SizeType(os))));
    CheckCsLimit(tx, target);
    tx.SetReg(RSP, tx.stack_size(), nsp);
  };
  if (op.kind == OperandKind::kRel) {
    push_ret(RelTarget(tx, op));
    tx.JumpTo(RelTarget(tx, op));
  } else {
    Val target = IndirectTarget(tx, op);
    push_ret(target);
    tx.JumpIndirect(target);
  }
  return true;
}

bool Ret(Tx& tx) {
  unsigned os = tx.osize();
  Val sp = tx.Sp();
  Val v = tx.LoadMem(os, tx.StackLin(sp));
  uint64_t extra = tx.in.num_operands ? (static_cast<uint64_t>(tx.in.ops[0].imm) & 0xffff) : 0;
  Val target = tx.b.Zext(Type::kI64, SizeType(os), v);
  CheckCsLimit(tx, target);
  tx.SetReg(RSP, tx.stack_size(), tx.b.Add(SizeType(tx.stack_size()), sp, tx.C(os + extra)));
  tx.JumpIndirect(target);
  return true;
}

bool Loop(Tx& tx) {
  unsigned as = tx.in.address_size;
  Type t = SizeType(as);
  Val c = tx.b.Sub(t, tx.GetReg(RCX, as), tx.C(1));
  tx.SetReg(RCX, as, c);
  Val cond = tx.b.SetCond(Cond::kNe, t, c, tx.C(0));
  if (tx.in.mnemonic == Mnemonic::LOOPE) cond = tx.b.And(Type::kI64, cond, tx.CondTrue(4));
  if (tx.in.mnemonic == Mnemonic::LOOPNE) cond = tx.b.And(Type::kI64, cond, tx.CondTrue(5));
  CheckCsLimitIf(tx, cond, RelTarget(tx, tx.in.ops[0]));
  tx.JumpIf(cond, RelTarget(tx, tx.in.ops[0]));
  return true;
}

bool Jcxz(Tx& tx) {
  unsigned as = tx.in.address_size;
  Val cond = tx.b.SetCond(Cond::kEq, SizeType(as), tx.GetReg(RCX, as), tx.C(0));
  CheckCsLimitIf(tx, cond, RelTarget(tx, tx.in.ops[0]));
  tx.JumpIf(cond, RelTarget(tx, tx.in.ops[0]));
  return true;
}

bool IntN(Tx& tx, int vector, bool no_iopl_check) {
  tx.Call(HelperIntN, tx.C(vector), tx.C(tx.Mask(tx.next_pc)), tx.C(no_iopl_check ? 1 : 0));
  tx.b.Exit();
  tx.end_block = true;
  return true;
}

bool Into(Tx& tx) {
  if (tx.long64()) {
    tx.Ud();
    return true;
  }
  // Only traps when OF is set: a conditional helper call is a select on the vector.
  Val of = tx.CondTrue(0);
  tx.Call(HelperIntN, tx.b.Select(Type::kI64, of, tx.C(kOF), tx.C(0x100)), tx.C(tx.Mask(tx.next_pc)),
          tx.C(1));
  tx.EndBlockAfter();
  return true;
}

bool Iret(Tx& tx) {
  tx.Call(HelperIret, tx.C(tx.osize()), tx.C(tx.Mask(tx.next_pc)));
  tx.b.Exit();
  tx.end_block = true;
  tx.cc_op = kCcEflags;
  return true;
}

bool FarJmpCall(Tx& tx, bool call) {
  const Operand& op = tx.in.ops[0];
  unsigned os = tx.osize();
  Val sel, off;
  if (op.kind == OperandKind::kFarPtr) {
    sel = tx.C(op.selector);
    off = tx.C(static_cast<uint64_t>(op.imm) & accel::tcg::Mask(SizeType(os)));
  } else if (op.kind == OperandKind::kMem) {
    Val lin = tx.MemAddr(op);
    off = tx.LoadMem(os, lin);
    Val selat = tx.long64() ? tx.b.AddI(Type::kI64, lin, os) : tx.b.Add(Type::kI32, lin, tx.C(os));
    sel = tx.LoadMem(2, selat);
  } else {
    tx.Ud();
    return true;
  }
  if (call)
    tx.Call(HelperFarCall, sel, off, tx.C(os | (tx.Mask(tx.next_pc) << 8)));
  else
    tx.Call(HelperFarJmp, sel, off, tx.C(os | (tx.Mask(tx.next_pc) << 8)));
  tx.b.Exit();
  tx.end_block = true;
  tx.cc_op = kCcEflags;  // a task switch loads EFLAGS
  return true;
}

bool Retf(Tx& tx) {
  uint64_t extra = tx.in.num_operands ? (static_cast<uint64_t>(tx.in.ops[0].imm) & 0xffff) : 0;
  tx.Call(HelperFarRet, tx.C(tx.osize()), tx.C(extra));
  tx.b.Exit();
  tx.end_block = true;
  return true;
}

}  // namespace

void RegisterControl(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::JMP) = Jmp;
  at(Mnemonic::JCC) = Jcc;
  at(Mnemonic::CALL) = Call;
  at(Mnemonic::RET) = Ret;
  at(Mnemonic::LOOP) = Loop;
  at(Mnemonic::LOOPE) = Loop;
  at(Mnemonic::LOOPNE) = Loop;
  at(Mnemonic::JCXZ) = Jcxz;
  at(Mnemonic::INT) = [](Tx& tx) {
    return IntN(tx, static_cast<int>(tx.in.ops[0].imm & 0xff), false);
  };
  at(Mnemonic::INT3) = [](Tx& tx) { return IntN(tx, kBP, true); };
  at(Mnemonic::INT1) = [](Tx& tx) { return IntN(tx, kDB, true); };
  at(Mnemonic::INTO) = Into;
  at(Mnemonic::IRET) = Iret;
  at(Mnemonic::JMPF) = [](Tx& tx) { return FarJmpCall(tx, false); };
  at(Mnemonic::CALLF) = [](Tx& tx) { return FarJmpCall(tx, true); };
  at(Mnemonic::RETF) = Retf;
}

}  // namespace emu::x86
