// DAA/DAS/AAA/AAS/AAM/AAD (invalid in 64-bit mode: the decoder gives #UD).
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {
bool Bcd(Tx& tx, unsigned which) {
  uint64_t imm = tx.in.num_operands ? (static_cast<uint64_t>(tx.in.ops[0].imm) & 0xff) : 10;
  tx.Call(HelperBcd, tx.C(which), tx.C(imm));
  tx.cc_op = kCcEflags;
  return true;
}
}  // namespace

void RegisterBcd(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::DAA) = [](Tx& tx) { return Bcd(tx, 0); };
  at(Mnemonic::DAS) = [](Tx& tx) { return Bcd(tx, 1); };
  at(Mnemonic::AAA) = [](Tx& tx) { return Bcd(tx, 2); };
  at(Mnemonic::AAS) = [](Tx& tx) { return Bcd(tx, 3); };
  at(Mnemonic::AAM) = [](Tx& tx) { return Bcd(tx, 4); };
  at(Mnemonic::AAD) = [](Tx& tx) { return Bcd(tx, 5); };
}

}  // namespace emu::x86
