// Translation blocks and their cache, shared by all vCPUs of one accelerator
// (callers hold the accelerator's execution lock, see cpu_loop.h).
//
// Blocks are keyed by (virtual pc, physical pc, CS base, mode flags); the virtual
// pc is part of the key because translated code embeds it. A block never crosses a
// page boundary except for its last instruction, so it lives on at most two
// physical pages; writes into those pages invalidate the blocks whose bytes they
// overlap. Direct jumps are chained (TranslationBlock::next) and every link is
// recorded at its target so it can be undone. Invalidated blocks are unlinked
// and marked, and only freed by FlushAll (the next translation after the budget
// is exceeded), so a pointer held by a jump cache never dangles.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/backend/x86_64/native.h"
#include "accel/tcg/softmmu.h"

namespace emu::accel::tcg {

struct TbKey {
  uint64_t pc, phys_pc, cs_base;
  uint32_t flags;
  bool operator==(const TbKey&) const = default;
};
struct TbKeyHash {
  size_t operator()(const TbKey& k) const {
    uint64_t h = k.pc * 0x9e3779b97f4a7c15ull ^ k.phys_pc * 0xc2b2ae3d27d4eb4full ^
                 k.cs_base * 0x165667b19e3779f9ull ^ k.flags;
    return static_cast<size_t>(h ^ (h >> 29));
  }
};

struct TranslationBlock {
  TbKey key;
  uint64_t phys_page2 = ~0ull;   // second page when the last instruction straddles
  uint32_t size = 0;             // guest bytes
  uint32_t insns = 0;
  InterpProgram prog;
  TranslationBlock* next[2] = {nullptr, nullptr};
  std::vector<std::pair<TranslationBlock*, int>> incoming;  // (from, slot) links to us
  bool invalid = false;
  uint64_t exec_count = 0;                    // counted under EMU_TCG_PROFILE only
  std::unique_ptr<std::string> profile_text;  // guest code + IR, likewise
};

class TbCache : public CodeTracker {
 public:
  explicit TbCache(size_t budget_bytes = 64u << 20);

  TranslationBlock* Lookup(const TbKey& key) const;
  // Takes ownership; registers the block on its pages and write-protects them in
  // every registered TLB.
  TranslationBlock* Insert(std::unique_ptr<TranslationBlock> tb);
  void Link(TranslationBlock* from, int slot, TranslationBlock* to);
  void Invalidate(TranslationBlock* tb);
  // Invalidates all blocks with bytes in [paddr, paddr+len); returns how many.
  unsigned InvalidateRange(uint64_t paddr, uint64_t len);
  void FlushAll();
  // Hands every block's execution counts to the profile (EMU_TCG_PROFILE).
  void RetireToProfile();
  bool OverBudget() const { return bytes_ > budget_ || (code_ && code_->Low()); }
  // The native backend's code for the blocks (nullptr: interpreter only): emptied
  // by FlushAll with the blocks.
  void AttachCode(CodeBuffer* code) { code_ = code; }
  CodeBuffer* code() const { return code_; }
  // Bumped by FlushAll: jump caches compare it and clear themselves.
  uint64_t generation() const { return generation_; }
  // Bumped by every invalidation and flush (ExecContext::code_epoch).
  const uint64_t* epoch() const { return &epoch_; }
  size_t size() const { return map_.size(); }

  void RegisterTlb(SoftMmu* mmu) { tlbs_.push_back(mmu); }
  void UnregisterTlb(SoftMmu* mmu);

  // CodeTracker:
  bool IsCodePage(uint64_t ppage) override { return pages_.count(ppage) != 0; }
  void CodeWritten(ExecContext* ctx, uint64_t paddr, unsigned len) override;

  uint64_t invalidations = 0, flushes = 0;

 private:
  void AddToPage(uint64_t ppage, TranslationBlock* tb);
  void RemoveFromPage(uint64_t ppage, TranslationBlock* tb);

  size_t budget_;
  size_t bytes_ = 0;
  uint64_t generation_ = 1;
  uint64_t epoch_ = 1;
  std::unordered_map<TbKey, TranslationBlock*, TbKeyHash> map_;
  std::unordered_map<uint64_t, std::vector<TranslationBlock*>> pages_;
  std::vector<std::unique_ptr<TranslationBlock>> all_;
  std::vector<SoftMmu*> tlbs_;
  CodeBuffer* code_ = nullptr;
};

// Per-vCPU direct-mapped cache in front of the TbCache hash map, keyed by virtual pc.
class JumpCache {
 public:
  static constexpr unsigned kBits = 12;
  JumpCache() { Clear(); }
  TranslationBlock* Find(uint64_t pc, uint64_t cs_base, uint32_t flags, uint64_t gen) {
    if (gen != gen_) {
      Clear();
      gen_ = gen;
      return nullptr;
    }
    TranslationBlock* tb = e_[Hash(pc)];
    if (tb && tb->key.pc == pc && tb->key.cs_base == cs_base && tb->key.flags == flags &&
        !tb->invalid)
      return tb;
    return nullptr;
  }
  void Put(TranslationBlock* tb) { e_[Hash(tb->key.pc)] = tb; }
  void Clear() {
    for (auto& p : e_) p = nullptr;
  }

 private:
  static unsigned Hash(uint64_t pc) {
    return static_cast<unsigned>((pc ^ (pc >> kBits)) & ((1u << kBits) - 1));
  }
  TranslationBlock* e_[1u << kBits];
  uint64_t gen_ = 0;
};

}  // namespace emu::accel::tcg
