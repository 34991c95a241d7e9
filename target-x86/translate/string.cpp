// String instructions (MOVS/CMPS/STOS/LODS/SCAS/INS/OUTS) with REP/REPE/REPNE.
// One helper runs them: REP loops are interruptible (it stops after a budget or
// when an exit is requested, leaving rip at the instruction, as the SDM allows).
#include "target-x86/helpers/helpers.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

enum StringKind : unsigned { kStrMovs, kStrCmps, kStrStos, kStrLods, kStrScas, kStrIns, kStrOuts };

namespace {

bool Str(Tx& tx, StringKind kind) {
  unsigned size = 0;
  for (unsigned i = 0; i < tx.in.num_operands; i++)
    if (tx.in.ops[i].size) size = tx.in.ops[i].size;
  if (!size) size = tx.osize();
  unsigned rep = 0;
  if (tx.in.rep()) rep = 1;
  if (tx.in.repne()) rep = (kind == kStrCmps || kind == kStrScas) ? 2u : 1u;
  unsigned seg = (tx.in.prefixes & kPrefixSeg) ? tx.in.segment_override : unsigned{DS};
  uint64_t info = kind | size << 8 | rep << 12 | static_cast<uint64_t>(tx.in.address_size) << 16 |
                  static_cast<uint64_t>(seg) << 24;
  tx.Call(HelperString, tx.C(info), tx.C(tx.Mask(tx.next_pc)));
  // The helper set the flags: a compare's, unless a REP ran no iteration.
  if (kind == kStrCmps || kind == kStrScas) tx.cc_op = rep ? -1 : CcOp(kCcKindSub, SizeLog2(size));
  if (rep) {
    // The helper finished the loop (or stopped with rip at this instruction).
    tx.EndBlockAfter();
  }
  return true;
}

}  // namespace

void RegisterString(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::MOVS) = [](Tx& tx) { return Str(tx, kStrMovs); };
  at(Mnemonic::CMPS) = [](Tx& tx) { return Str(tx, kStrCmps); };
  at(Mnemonic::STOS) = [](Tx& tx) { return Str(tx, kStrStos); };
  at(Mnemonic::LODS) = [](Tx& tx) { return Str(tx, kStrLods); };
  at(Mnemonic::SCAS) = [](Tx& tx) { return Str(tx, kStrScas); };
  at(Mnemonic::INS) = [](Tx& tx) { return Str(tx, kStrIns); };
  at(Mnemonic::OUTS) = [](Tx& tx) { return Str(tx, kStrOuts); };
}

}  // namespace emu::x86
