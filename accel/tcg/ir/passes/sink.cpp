// Env store sinking: a store to env is delayed until something can observe it,
// and dropped when a later store covers it first. Memory ops do not count as
// observers: they only observe env when they fault or take their slow path, and
// for that they get the list of stores pending at their position
// (Block::pending_stores), which a backend performs before leaving the fast
// path. The same holds for instruction boundaries where the block may stop
// (after a store or a call: self-modifying code). Observers that materialize
// pending stores: loads of overlapping env bytes, helper calls, the end of the
// block. The lazy-flags fields (cc_op, cc_dst, cc_src) and registers written
// several times per block are what this removes.
//
// Only stores of single-definition temps are delayed (the value must still be
// in its temp at every later point); a backend must keep every temp's value to
// the end of the block (the interpreter does: one slot per temp).
#include <algorithm>
#include <vector>

#include "accel/tcg/ir/passes/passes.h"

namespace emu::accel::tcg {

namespace {
// Upper bound on the entries of all lists of one block (keeps backends' indexes
// small); past it, stores are simply materialized in place.
constexpr size_t kMaxPendingEntries = 16384;
}  // namespace

void SinkEnvStores(Block& b) {
  std::vector<uint32_t> writes(b.num_temps, 0);
  for (const Op& o : b.ops)
    if (Info(o.opc).nout && o.dst != kNoTemp) writes[o.dst]++;
  struct Pending {
    uint64_t lo, hi;
    Op op;
  };
  std::vector<Pending> pend;  // disjoint ranges, in program order
  std::vector<Op> out;
  out.reserve(b.ops.size());
  size_t entries = 0;
  for (const auto& l : b.pending_stores) entries += l.size();
  // Emits the pending stores that satisfy `pred`, in program order.
  auto materialize = [&](auto pred) {
    size_t w = 0;
    for (size_t i = 0; i < pend.size(); i++) {
      if (pred(pend[i])) out.push_back(pend[i].op);
      else pend[w++] = pend[i];
    }
    pend.resize(w);
  };
  auto all = [](const Pending&) { return true; };
  auto snapshot = [&]() -> uint32_t {
    if (pend.empty()) return kNoTemp;
    if (entries + pend.size() > kMaxPendingEntries) {
      materialize(all);
      return kNoTemp;
    }
    std::vector<EnvStore> list;
    list.reserve(pend.size());
    for (const Pending& p : pend)
      list.push_back(EnvStore{static_cast<uint32_t>(p.op.imm), p.op.type, p.op.a});
    entries += list.size();
    b.pending_stores.push_back(std::move(list));
    return static_cast<uint32_t>(b.pending_stores.size() - 1);
  };
  bool may_stop = false;  // this instruction stored or called: may stop after it
  for (Op o : b.ops) {
    switch (o.opc) {
      case Opcode::k_st_env: {
        uint64_t lo = o.imm, hi = o.imm + Bytes(o.type);
        // Pending stores inside this one are dead; partial overlaps go out first.
        size_t w = 0;
        for (size_t i = 0; i < pend.size(); i++) {
          const Pending& p = pend[i];
          if (p.hi <= lo || hi <= p.lo) pend[w++] = p;
          else if (!(lo <= p.lo && p.hi <= hi)) out.push_back(p.op);
        }
        pend.resize(w);
        if (o.a < b.num_temps && (b.is_const[o.a] || writes[o.a] <= 1)) pend.push_back({lo, hi, o});
        else out.push_back(o);
        break;
      }
      case Opcode::k_ld_env: {
        uint64_t lo = o.imm, hi = o.imm + Bytes(o.type);
        materialize([&](const Pending& p) { return p.lo < hi && lo < p.hi; });
        out.push_back(o);
        break;
      }
      case Opcode::k_call:
        materialize(all);  // helpers may read env
        out.push_back(o);
        if (!(o.aux & kHelperPure)) may_stop = true;  // a pure one writes nothing
        break;
      case Opcode::k_ld_mem:
        o.c = snapshot();
        out.push_back(o);
        break;
      case Opcode::k_st_mem:
        o.c = snapshot();
        out.push_back(o);
        may_stop = true;
        break;
      case Opcode::k_insn_start:
        o.c = may_stop ? snapshot() : kNoTemp;
        may_stop = false;
        out.push_back(o);
        break;
      default:
        out.push_back(o);
        break;
    }
  }
  materialize(all);
  b.ops.swap(out);
}

}  // namespace emu::accel::tcg
