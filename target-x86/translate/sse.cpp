// SSE/x87 framework: FXSAVE/FXRSTOR and MXCSR access. The vector and x87
// instructions themselves are a separate issue; they raise #UD with an
// "unimplemented" message until then.
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

// #NM when CR0.TS (or EM) says the FPU state is not the current task's.
bool FpuAvailable(Tx& tx) {
  if (tx.flags & kTbFpuTrap) {
    tx.Raise(7);
    return false;
  }
  return true;
}

bool Fxsave(Tx& tx, bool restore) {
  if (!FpuAvailable(tx)) return true;
  tx.Call(HelperFxsave, tx.MemAddr(tx.in.ops[0]), tx.C(restore ? 1 : 0));
  return true;
}

bool Mxcsr(Tx& tx, bool load) {
  if (!FpuAvailable(tx)) return true;
  tx.Call(HelperLdStMxcsr, tx.MemAddr(tx.in.ops[0]), tx.C(load ? 1 : 0));
  return true;
}

}  // namespace

void RegisterSse(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::FXSAVE) = [](Tx& tx) { return Fxsave(tx, false); };
  at(Mnemonic::FXRSTOR) = [](Tx& tx) { return Fxsave(tx, true); };
  at(Mnemonic::LDMXCSR) = [](Tx& tx) { return Mxcsr(tx, true); };
  at(Mnemonic::STMXCSR) = [](Tx& tx) { return Mxcsr(tx, false); };
}

}  // namespace emu::x86
