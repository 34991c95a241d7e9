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
    if (HasPendingStores(o))
      for (const EnvStore& s : b.pending_stores[o.c]) live[s.temp] = 1;
    kept.push_back(o);
  }
  b.ops.assign(kept.rbegin(), kept.rend());
}

void EliminateDeadEnvStores(Block& b) {
  // A store to env is dead when a later store covers the same bytes and nothing
  // in between can observe env: no load of those bytes, no helper call, and no
  // point where the block can leave early (memory ops, calls; and instruction
  // boundaries once a store or call earlier in the block may have asked to stop).
  const size_t n = b.ops.size();
  // The backend can only stop at the first instruction boundary after a store or
  // call (that is where a self-modifying write takes effect).
  std::vector<uint8_t> stop_possible(n, 0);
  bool seen = false;
  for (size_t i = 0; i < n; i++) {
    const Op& o = b.ops[i];
    // A pure helper writes nothing, so it cannot rewrite the running block.
    if (o.opc == Opcode::k_st_mem || (o.opc == Opcode::k_call && !(o.aux & kHelperPure))) seen = true;
    if (o.opc == Opcode::k_insn_start) {
      stop_possible[i] = seen;
      seen = false;
    }
  }
  struct Range { uint64_t lo, hi; };
  std::vector<Range> covered;  // env bytes overwritten later with no observer in between
  std::vector<uint8_t> dead(n, 0);
  for (size_t i = n; i-- > 0;) {
    const Op& o = b.ops[i];
    switch (o.opc) {
      case Opcode::k_st_env: {
        uint64_t lo = o.imm, hi = o.imm + Bytes(o.type);
        bool is_dead = false;
        for (const Range& r : covered)
          if (r.lo <= lo && hi <= r.hi) is_dead = true;
        if (is_dead) dead[i] = 1;
        else covered.push_back({lo, hi});
        break;
      }
      case Opcode::k_ld_env: {
        uint64_t lo = o.imm, hi = o.imm + Bytes(o.type);
        std::vector<Range> keep;
        for (const Range& r : covered)
          if (r.hi <= lo || hi <= r.lo) keep.push_back(r);
        covered.swap(keep);
        break;
      }
      case Opcode::k_ld_mem: case Opcode::k_st_mem: case Opcode::k_call:
        covered.clear();
        break;
      case Opcode::k_insn_start:
        if (stop_possible[i]) covered.clear();
        break;
      default: break;
    }
  }
  size_t w = 0;
  for (size_t i = 0; i < n; i++)
    if (!dead[i]) b.ops[w++] = b.ops[i];
  b.ops.resize(w);
}

void RunPasses(Block& b) {
  FoldConstants(b);
  EliminateDeadEnvStores(b);
  SinkEnvStores(b);
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
