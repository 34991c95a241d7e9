// Dead code elimination by backward liveness over the straight-line block. Only
// the terminal's condition is live at the end: everything the guest can observe
// goes through st_env/st_mem/call, which are never removed (except pure calls).
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "accel/tcg/ir/passes/passes.h"

namespace emu::accel::tcg {

void EliminateDeadCode(Block& b) {
  std::vector<uint8_t> live(b.num_temps, 0);
  if (b.term.kind == Terminal::Kind::kBranch && b.term.cond != kNoTemp) live[b.term.cond] = 1;
  std::vector<Op> kept;
  kept.reserve(b.ops.size());
  for (size_t i = b.ops.size(); i-- > 0;) {
    const Op& o = b.ops[i];
    const OpInfo& in = Info(o.opc);
    bool removable = (in.flags & kPure) ||
                     (o.opc == Opcode::k_call && (o.aux & kHelperPure));
    bool dst_live = in.nout && o.dst != kNoTemp && live[o.dst];
    if (removable && !dst_live) continue;
    // A mov to itself does nothing.
    if (o.opc == Opcode::k_mov && o.a == o.dst) continue;
    if (in.nout && o.dst != kNoTemp) live[o.dst] = 0;
    const uint32_t args[3] = {o.a, o.b, o.c};
    for (unsigned k = 0; k < in.nin; k++)
      if (args[k] != kNoTemp) live[args[k]] = 1;
    kept.push_back(o);
  }
  b.ops.assign(kept.rbegin(), kept.rend());
}

void RunPasses(Block& b) {
  FoldConstants(b);
  EliminateDeadCode(b);
#ifndef NDEBUG
  std::string err = Verify(b);
  if (!err.empty()) {
    std::fprintf(stderr, "emu: internal error: IR verifier: %s\n%s", err.c_str(),
                 b.Dump().c_str());
    std::abort();
  }
#endif
}

}  // namespace emu::accel::tcg
