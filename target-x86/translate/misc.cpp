// Flag instructions (CLC/STC/CMC/CLD/STD, LAHF/SAHF, SALC) and XLAT.
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

bool SetCarry(Tx& tx, int how) {  // 0 clear, 1 set, 2 complement
  Val f = tx.ArithFlags();
  Val r = how == 0   ? tx.b.AndI(Type::kI64, f, ~uint64_t{kFlagCF})
          : how == 1 ? tx.b.Or(Type::kI64, f, tx.C(kFlagCF))
                     : tx.b.Xor(Type::kI64, f, tx.C(kFlagCF));
  tx.SetCcEflags(r);
  return true;
}

bool SetDf(Tx& tx, bool set) {
  Val f = tx.b.LdEnv(Type::kI64, X86_OFF(s.rflags));
  f = set ? tx.b.Or(Type::kI64, f, tx.C(kFlagDF)) : tx.b.AndI(Type::kI64, f, ~uint64_t{kFlagDF});
  tx.b.StEnv(Type::kI64, X86_OFF(s.rflags), f);
  return true;
}

bool Lahf(Tx& tx) {
  Val f = tx.ArithFlags();
  tx.SetReg(RAX, 1, tx.b.Or(Type::kI8, f, tx.C(2)), true);
  return true;
}

bool Sahf(Tx& tx) {
  Val ah = tx.b.Zext(Type::kI64, Type::kI8, tx.GetReg(RAX, 1, true));
  Val f = tx.ArithFlags();
  const uint64_t low = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF;
  tx.SetCcEflags(tx.b.Or(Type::kI64, tx.b.AndI(Type::kI64, f, ~low), tx.b.AndI(Type::kI64, ah, low)));
  return true;
}

bool Salc(Tx& tx) {
  tx.SetReg(RAX, 1, tx.b.Neg(Type::kI8, tx.Carry()));
  return true;
}

bool Xlat(Tx& tx) {
  const Operand& op = tx.in.ops[0];
  unsigned as = op.mem.address_size ? op.mem.address_size : tx.in.address_size;
  Type at = SizeType(as);
  Val ea = tx.b.Add(at, tx.GetReg(RBX, as), tx.b.Zext(at, Type::kI8, tx.GetReg(RAX, 1)));
  Val v = tx.LoadMem(1, tx.Linear(op.mem.seg, ea, as));
  tx.SetReg(RAX, 1, v);
  return true;
}

// BOUND (not in 64-bit mode: the decoder gives #UD there): #BR, a fault, when the
// signed index lies outside [lower, upper] read from the memory pair.
bool Bound(Tx& tx) {
  const Operand& mem = tx.in.ops[1];
  if (mem.kind != OperandKind::kMem) {
    tx.Ud();
    return true;
  }
  unsigned os = tx.osize();
  Type t = SizeType(os);
  Val lin = tx.MemAddr(mem);
  Val lo = tx.LoadMem(os, lin);
  Val hi = tx.LoadMem(os, tx.b.Add(Type::kI32, lin, tx.C(os)));
  Val idx = tx.GetReg(tx.in.ops[0].reg, os);
  tx.Call(HelperBound, tx.b.Sext(Type::kI64, t, idx), tx.b.Sext(Type::kI64, t, lo),
          tx.b.Sext(Type::kI64, t, hi));
  return true;
}

}  // namespace

void RegisterMisc(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::CLC) = [](Tx& tx) { return SetCarry(tx, 0); };
  at(Mnemonic::STC) = [](Tx& tx) { return SetCarry(tx, 1); };
  at(Mnemonic::CMC) = [](Tx& tx) { return SetCarry(tx, 2); };
  at(Mnemonic::CLD) = [](Tx& tx) { return SetDf(tx, false); };
  at(Mnemonic::STD) = [](Tx& tx) { return SetDf(tx, true); };
  at(Mnemonic::LAHF) = Lahf;
  at(Mnemonic::SAHF) = Sahf;
  at(Mnemonic::SALC) = Salc;
  at(Mnemonic::XLAT) = Xlat;
  at(Mnemonic::BOUND) = Bound;
}

}  // namespace emu::x86
