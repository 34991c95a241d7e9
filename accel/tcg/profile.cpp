#include "accel/tcg/profile.h"

#include <algorithm>
#include <cinttypes>
#include <cstdlib>
#include <vector>

#include "accel/tcg/ir/print.h"
#include "accel/tcg/tb_cache.h"

namespace emu::accel::tcg {

TcgProfile* TcgProfile::Get() {
  static TcgProfile* p = [] {
    const char* path = std::getenv("EMU_TCG_PROFILE");
    if (!path || !*path) return static_cast<TcgProfile*>(nullptr);
    auto* prof = new TcgProfile;  // lives until exit
    prof->path_ = path;
    return prof;
  }();
  return p;
}

void TcgProfile::Retire(const TranslationBlock& tb) {
  Agg& a = blocks[tb.key.pc];
  a.exec += tb.exec_count;
  a.ops = tb.prog.ops.size();
  a.insns = tb.insns;
  if (a.text.empty() && tb.profile_text) a.text = *tb.profile_text;
  for (size_t i = 0; i < tb.prog.ops.size(); i++) {
    const InterpOp& o = tb.prog.ops[i];
    if (o.opc == Opcode::k_call) helper_calls[o.imm] += tb.exec_count;
    op_counts[o.handler] += tb.exec_count;
    if (i + 1 < tb.prog.ops.size() && tb.exec_count)
      pair_counts[static_cast<uint32_t>(o.handler) << 8 | tb.prog.ops[i + 1].handler] += tb.exec_count;
  }
}

void TcgProfile::Dump() {
  std::FILE* f = std::fopen(path_.c_str(), "w");
  if (!f) return;
  uint64_t execs = 0, insns = 0, ops = 0;
  std::vector<std::pair<uint64_t, const std::pair<const uint64_t, Agg>*>> hot;
  for (const auto& kv : blocks) {
    const Agg& a = kv.second;
    execs += a.exec;
    insns += a.exec * a.insns;
    ops += a.exec * a.ops;
    hot.emplace_back(a.exec * a.ops, &kv);
  }
  std::fprintf(f, "blocks executed  %" PRIu64 "\nguest insns      %" PRIu64
                  "\ninterp ops run   %" PRIu64 " (%.2f per insn, %.2f insns per block)\n",
               execs, insns, ops, insns ? double(ops) / double(insns) : 0.0,
               execs ? double(insns) / double(execs) : 0.0);
  std::fprintf(f, "dispatcher trips %" PRIu64 " (jump cache hit %" PRIu64 ", miss %" PRIu64
                  ", hash hit %" PRIu64 ", translations %" PRIu64 ", %.3f s translating)\n",
               dispatch, jc_hit, jc_miss, hash_hit, translations, double(translate_ns) * 1e-9);
  std::fprintf(f, "in-chain         chained %" PRIu64 ", direct via jump cache %" PRIu64
                  " (miss %" PRIu64 "), indirect hit %" PRIu64 " (miss %" PRIu64 ")\n",
               chained, direct_jc_hit, direct_jc_miss, indirect_hit, indirect_miss);
  std::fprintf(f, "exits            exception %" PRIu64 ", other %" PRIu64 ", interrupts %" PRIu64
                  "\n",
               exits_exception, exits_other, interrupts);
  std::fprintf(f, "tlb              flushes %" PRIu64 ", misses %" PRIu64
                  ", generation changes seen %" PRIu64 "\n",
               tlb_flushes, tlb_misses, tlb_generation_changes);
  std::fprintf(f, "tb cache         flushes %" PRIu64 ", invalidations %" PRIu64 "\n",
               cache_flushes, invalidations);
  std::vector<std::pair<uint64_t, uint64_t>> calls(helper_calls.begin(), helper_calls.end());
  std::sort(calls.begin(), calls.end(), [](auto& x, auto& y) { return x.second > y.second; });
  std::fprintf(f, "\nhelper calls:\n");
  for (size_t i = 0; i < calls.size() && i < 40; i++) {
    std::string n = HostFunctionName(calls[i].first);
    std::fprintf(f, "  %12" PRIu64 "  %s\n", calls[i].second, n.empty() ? "?" : n.c_str());
  }
  std::vector<std::pair<uint64_t, std::string>> kinds;
  for (unsigned h = 0; h < 256; h++)
    if (op_counts[h]) kinds.emplace_back(op_counts[h], InterpHandlerName(h));
  std::sort(kinds.begin(), kinds.end(), [](auto& x, auto& y) { return x.first > y.first; });
  std::fprintf(f, "\ninterpreter ops executed by handler:\n");
  for (auto& [n, name] : kinds)
    std::fprintf(f, "  %12" PRIu64 "  %5.2f%%  %s\n", n, ops ? 100.0 * double(n) / double(ops) : 0.0,
                 name.c_str());
  std::vector<std::pair<uint64_t, uint32_t>> pairs;
  for (const auto& [k, n] : pair_counts) pairs.emplace_back(n, k);
  std::sort(pairs.begin(), pairs.end(), [](auto& x, auto& y) { return x.first > y.first; });
  std::fprintf(f, "\nadjacent handler pairs (superinstruction candidates):\n");
  for (size_t i = 0; i < pairs.size() && i < 40; i++)
    std::fprintf(f, "  %12" PRIu64 "  %5.2f%%  %s + %s\n", pairs[i].first,
                 ops ? 100.0 * double(pairs[i].first) / double(ops) : 0.0,
                 InterpHandlerName(pairs[i].second >> 8), InterpHandlerName(pairs[i].second & 255));
  std::sort(hot.begin(), hot.end(), [](auto& x, auto& y) { return x.first > y.first; });
  std::fprintf(f, "\nhottest blocks (by interpreter ops executed):\n");
  for (size_t i = 0; i < hot.size() && i < 60; i++) {
    const Agg& a = hot[i].second->second;
    std::fprintf(f, "\n#%zu pc=0x%" PRIx64 " exec=%" PRIu64 " insns=%" PRIu64 " ops=%" PRIu64
                    " (%.2f%% of ops)\n%s",
                 i, hot[i].second->first, a.exec, a.insns, a.ops,
                 ops ? 100.0 * double(hot[i].first) / double(ops) : 0.0, a.text.c_str());
  }
  std::fclose(f);
}

}  // namespace emu::accel::tcg
