// Execution profile of the translator, for finding where guest time goes:
// EMU_TCG_PROFILE=<file> makes the vCPU loop count its events (dispatcher
// trips, jump-cache and hash lookups, translations, chaining, TLB flushes and
// misses) and every block's executions; at exit the file gets the totals,
// helper calls by name and the hottest blocks (guest code and IR) weighted by
// the interpreter ops they ran. Off (one predictable branch per block) when unset.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>

namespace emu::accel::tcg {

struct TranslationBlock;

struct TcgProfile {
  // Dispatcher (outer loop) and chaining (inner loop) events.
  uint64_t dispatch = 0, jc_hit = 0, jc_miss = 0, hash_hit = 0, translations = 0;
  uint64_t chained = 0, direct_jc_hit = 0, direct_jc_miss = 0;
  uint64_t indirect_hit = 0, indirect_miss = 0, exits_exception = 0, exits_other = 0;
  uint64_t interrupts = 0, tlb_generation_changes = 0;
  uint64_t translate_ns = 0;
  // Filled at dump time from the other objects.
  uint64_t tlb_flushes = 0, tlb_misses = 0, cache_flushes = 0, invalidations = 0;

  // Blocks retired (cache flush or exit), merged by guest pc.
  struct Agg {
    uint64_t exec = 0, ops = 0, insns = 0;
    std::string text;  // guest disassembly + IR, from the block's first translation
  };
  std::map<uint64_t, Agg> blocks;
  std::map<uint64_t, uint64_t> helper_calls;  // helper address -> calls
  uint64_t op_counts[256] = {};                // executed interpreter ops by handler
  std::map<uint32_t, uint64_t> pair_counts;    // (handler << 8 | next handler) -> runs

  // nullptr unless EMU_TCG_PROFILE is set.
  static TcgProfile* Get();
  void Retire(const TranslationBlock& tb);
  void Dump();

 private:
  std::string path_;
};

}  // namespace emu::accel::tcg
