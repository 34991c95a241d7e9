// BT/BTS/BTR/BTC, BSF/BSR, POPCNT/LZCNT/TZCNT.
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

enum class BtOp { kTest, kSet, kReset, kComplement };

bool Bt(Tx& tx, BtOp op) {
  const Operand& dst = tx.in.ops[0];
  const Operand& off = tx.in.ops[1];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  unsigned bits = 8 * size;
  Val bit;   // bit index within the loaded operand
  Val addr;  // linear address of the operand (memory forms)
  Val v;
  if (off.kind == OperandKind::kImm) {
    bit = tx.C(static_cast<uint64_t>(off.imm) & (bits - 1));
    v = tx.ReadOp(dst, &addr);
  } else {
    Val o = tx.ReadOp(off);
    bit = tx.b.AndI(Type::kI64, o, bits - 1);
    if (dst.kind == OperandKind::kMem) {
      // A register bit offset addresses memory beyond the operand (signed).
      Val so = tx.b.Sext(Type::kI64, t, o);
      Val disp = tx.b.ShlI(Type::kI64, tx.b.SarI(Type::kI64, so, SizeLog2(size) + 3), SizeLog2(size));
      Val ea = tx.b.Add(SizeType(dst.mem.address_size), tx.Ea(dst.mem), disp);
      addr = tx.Linear(dst.mem.seg, ea, dst.mem.address_size);
      v = tx.LoadMem(size, addr);
    } else {
      v = tx.ReadOp(dst);
    }
  }
  Val mask = tx.b.Shl(t, tx.C(1), bit);
  Val cf = tx.b.AndI(Type::kI64, tx.b.Shr(t, v, bit), 1);
  if (op != BtOp::kTest) {
    Val r = op == BtOp::kSet     ? tx.b.Or(t, v, mask)
            : op == BtOp::kReset ? tx.b.And(t, v, tx.b.Not(t, mask))
                                 : tx.b.Xor(t, v, mask);
    tx.WriteOp(dst, r, addr);
  }
  // CF is the bit and ZF is kept; OF/SF/AF/PF are undefined (SDM). When cc_op is a
  // known lazy kind, SAR's form of the same size says that with two stores (CF =
  // cc_src bit 0, ZF from the kept cc_dst); a known EFLAGS state changes CF; an
  // unknown one becomes EFLAGS with CF and ZF picked at run time (no helper call).
  if (tx.cc_op > 0 && (tx.cc_op >> 2) < kCcKindCount) {
    tx.b.StEnv(Type::kI64, X86_OFF(cc_src), cf);
    tx.WriteCcOp(CcOp(kCcKindSar, tx.cc_op & 3));
    return true;
  }
  Val rest = tx.cc_op == kCcEflags ? tx.b.AndI(Type::kI64, tx.ArithFlags(), ~uint64_t{kFlagCF})
                                   : tx.b.ShlI(Type::kI64, tx.ZeroFlagAnyKind(), 6);
  tx.b.StEnv(Type::kI64, X86_OFF(cc_src), tx.b.Or(Type::kI64, rest, cf));
  tx.WriteCcOp(kCcEflags);
  return true;
}

bool BitScan(Tx& tx, bool reverse) {
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  Val s = tx.ReadOp(tx.in.ops[1]);
  Val zero = tx.b.SetCond(Cond::kEq, t, s, tx.C(0));
  Val idx = reverse ? tx.b.Sub(t, tx.C(8 * size - 1), tx.b.Clz(t, s)) : tx.b.Ctz(t, s);
  Val old = tx.ReadOp(dst);
  tx.WriteOp(dst, tx.b.Select(t, zero, old, idx));
  tx.SetCcEflags(tx.b.ShlI(Type::kI64, zero, 6));
  return true;
}

bool CountOp(Tx& tx, Mnemonic m) {
  const Operand& dst = tx.in.ops[0];
  unsigned size = tx.OpSize(dst);
  Type t = SizeType(size);
  Val s = tx.ReadOp(tx.in.ops[1]);
  Val r = m == Mnemonic::POPCNT ? tx.b.Popcnt(t, s)
          : m == Mnemonic::LZCNT ? tx.b.Clz(t, s)
                                 : tx.b.Ctz(t, s);
  tx.WriteOp(dst, r);
  Val zf = tx.b.ShlI(Type::kI64, tx.b.SetCond(Cond::kEq, t, m == Mnemonic::POPCNT ? s : r, tx.C(0)), 6);
  Val cf = m == Mnemonic::POPCNT ? tx.C(0) : tx.b.SetCond(Cond::kEq, t, s, tx.C(0));
  tx.SetCcEflags(tx.b.Or(Type::kI64, zf, cf));
  return true;
}

}  // namespace

void RegisterBit(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::BT) = [](Tx& tx) { return Bt(tx, BtOp::kTest); };
  at(Mnemonic::BTS) = [](Tx& tx) { return Bt(tx, BtOp::kSet); };
  at(Mnemonic::BTR) = [](Tx& tx) { return Bt(tx, BtOp::kReset); };
  at(Mnemonic::BTC) = [](Tx& tx) { return Bt(tx, BtOp::kComplement); };
  at(Mnemonic::BSF) = [](Tx& tx) { return BitScan(tx, false); };
  at(Mnemonic::BSR) = [](Tx& tx) { return BitScan(tx, true); };
  at(Mnemonic::POPCNT) = [](Tx& tx) { return CountOp(tx, Mnemonic::POPCNT); };
  at(Mnemonic::LZCNT) = [](Tx& tx) { return CountOp(tx, Mnemonic::LZCNT); };
  at(Mnemonic::TZCNT) = [](Tx& tx) { return CountOp(tx, Mnemonic::TZCNT); };
}

}  // namespace emu::x86
