// The IR verifier: structural rules every backend relies on.
#include <vector>

#include "accel/tcg/ir/passes/passes.h"

namespace emu::accel::tcg {

std::string Verify(const Block& b) {
  if (b.is_const.size() != b.num_temps || b.const_val.size() != b.num_temps)
    return "temp tables do not match num_temps";
  std::vector<uint8_t> defined(b.is_const.begin(), b.is_const.end());
  for (size_t i = 0; i < b.ops.size(); i++) {
    const Op& o = b.ops[i];
    std::string where = "op " + std::to_string(i) + ": ";
    if (o.opc >= Opcode::kCount) return where + "bad opcode";
    if (static_cast<unsigned>(o.type) > 3) return where + "bad type";
    const OpInfo& in = Info(o.opc);
    const uint32_t args[3] = {o.a, o.b, o.c};
    for (unsigned k = 0; k < 3; k++) {
      if (k < in.nin) {
        if (o.opc == Opcode::k_call && args[k] == kNoTemp) continue;  // unused helper arg
        if (args[k] == kNoTemp || args[k] >= b.num_temps) return where + "missing input";
        if (!defined[args[k]]) return where + "input t" + std::to_string(args[k]) + " used before definition";
      }
    }
    if (in.nout) {
      if (o.dst == kNoTemp || o.dst >= b.num_temps) return where + "missing output";
      if (b.is_const[o.dst]) return where + "writes a constant temp";
      defined[o.dst] = 1;
    }
    if ((o.opc == Opcode::k_zext || o.opc == Opcode::k_sext) && o.aux > 3)
      return where + "bad source type";
    if (o.opc == Opcode::k_setcond && o.aux > 9) return where + "bad condition";
    if (o.opc == Opcode::k_call && o.imm == 0) return where + "null helper";
    if (HasPendingStores(o)) {
      if (o.c >= b.pending_stores.size()) return where + "bad pending-store list";
      for (const EnvStore& s : b.pending_stores[o.c])
        if (s.temp >= b.num_temps || !defined[s.temp]) return where + "pending store of an undefined temp";
    }
  }
  switch (b.term.kind) {
    case Terminal::Kind::kNone: return "block has no terminal";
    case Terminal::Kind::kBranch:
      if (b.term.cond == kNoTemp || b.term.cond >= b.num_temps || !defined[b.term.cond])
        return "branch condition undefined";
      break;
    default: break;
  }
  return {};
}

}  // namespace emu::accel::tcg
