#include "accel/tcg/tb_cache.h"

#include <algorithm>

#include "accel/tcg/profile.h"

namespace emu::accel::tcg {

TbCache::TbCache(size_t budget_bytes) : budget_(budget_bytes) {}

TranslationBlock* TbCache::Lookup(const TbKey& key) const {
  auto it = map_.find(key);
  return it == map_.end() ? nullptr : it->second;
}

void TbCache::AddToPage(uint64_t ppage, TranslationBlock* tb) {
  auto [it, fresh] = pages_.try_emplace(ppage);
  it->second.push_back(tb);
  if (fresh)
    for (SoftMmu* m : tlbs_) m->ProtectCodePage(ppage);
}

void TbCache::RemoveFromPage(uint64_t ppage, TranslationBlock* tb) {
  auto it = pages_.find(ppage);
  if (it == pages_.end()) return;
  auto& v = it->second;
  v.erase(std::remove(v.begin(), v.end(), tb), v.end());
  if (v.empty()) pages_.erase(it);
}

TranslationBlock* TbCache::Insert(std::unique_ptr<TranslationBlock> tb) {
  TranslationBlock* p = tb.get();
  p->prog.owner = p;
  bytes_ += sizeof(TranslationBlock) + p->prog.MemoryBytes();
  if (TranslationBlock* old = Lookup(p->key)) Invalidate(old);
  map_[p->key] = p;
  AddToPage(p->key.phys_pc & kPageMask, p);
  if (p->phys_page2 != ~0ull) AddToPage(p->phys_page2, p);
  all_.push_back(std::move(tb));
  return p;
}

void TbCache::Link(TranslationBlock* from, int slot, TranslationBlock* to) {
  if (from->invalid || to->invalid || from->next[slot] == to) return;
  if (from->next[slot]) {
    auto& in = from->next[slot]->incoming;
    in.erase(std::remove(in.begin(), in.end(), std::make_pair(from, slot)), in.end());
  }
  from->next[slot] = to;
  from->prog.chain[slot] = &to->prog;
  from->prog.chain_op[slot] = to->prog.ops.data();
  from->prog.chain_native[slot] = to->prog.native;
  NativeSetLink(from->prog, slot, to->prog.native);
  to->incoming.emplace_back(from, slot);
}

void TbCache::Invalidate(TranslationBlock* tb) {
  epoch_++;  // inline caches may point at it
  if (tb->invalid) return;
  tb->invalid = true;
  invalidations++;
  for (auto [from, slot] : tb->incoming)
    if (from->next[slot] == tb) {
      from->next[slot] = nullptr;
      from->prog.chain[slot] = nullptr;
      from->prog.chain_op[slot] = nullptr;
      from->prog.chain_native[slot] = nullptr;
      NativeSetLink(from->prog, slot, nullptr);
    }
  tb->incoming.clear();
  tb->prog.chain[0] = tb->prog.chain[1] = nullptr;
  tb->prog.chain_op[0] = tb->prog.chain_op[1] = nullptr;
  tb->prog.chain_native[0] = tb->prog.chain_native[1] = nullptr;
  NativeSetLink(tb->prog, 0, nullptr);
  NativeSetLink(tb->prog, 1, nullptr);
  for (TranslationBlock*& n : tb->next) {
    if (!n) continue;
    auto& in = n->incoming;
    in.erase(std::remove_if(in.begin(), in.end(), [&](auto& l) { return l.first == tb; }),
             in.end());
    n = nullptr;
  }
  auto it = map_.find(tb->key);
  if (it != map_.end() && it->second == tb) map_.erase(it);
  RemoveFromPage(tb->key.phys_pc & kPageMask, tb);
  if (tb->phys_page2 != ~0ull) RemoveFromPage(tb->phys_page2, tb);
}

unsigned TbCache::InvalidateRange(uint64_t paddr, uint64_t len) {
  unsigned n = 0;
  uint64_t end = paddr + len;
  for (uint64_t page = paddr & kPageMask; page < end; page += kPageSize) {
    auto it = pages_.find(page);
    if (it == pages_.end()) continue;
    std::vector<TranslationBlock*> victims;
    for (TranslationBlock* tb : it->second) {
      uint64_t s1 = tb->key.phys_pc;
      uint64_t first_len = std::min<uint64_t>(tb->size, kPageSize - (s1 & (kPageSize - 1)));
      bool hit = s1 < end && paddr < s1 + first_len;
      if (tb->phys_page2 != ~0ull) {
        uint64_t s2 = tb->phys_page2, l2 = tb->size - first_len;
        hit = hit || (s2 < end && paddr < s2 + l2);
      }
      if (hit) victims.push_back(tb);
    }
    for (TranslationBlock* tb : victims) {
      Invalidate(tb);
      n++;
    }
  }
  return n;
}

void TbCache::CodeWritten(ExecContext* ctx, uint64_t paddr, unsigned len) {
  const TranslationBlock* cur = ctx ? ctx->cur_tb : nullptr;
  InvalidateRange(paddr, len);
  // The running block rewrote itself: finish this instruction, then stop.
  if (cur && cur->invalid && ctx->exit == ExitStatus::kNone) ctx->exit = ExitStatus::kStopAtInsn;
}

void TbCache::RetireToProfile() {
  TcgProfile* prof = TcgProfile::Get();
  if (!prof) return;
  for (auto& tb : all_) {
    prof->Retire(*tb);
    tb->exec_count = 0;
  }
  prof->cache_flushes = flushes;
  prof->invalidations = invalidations;
}

void TbCache::FlushAll() {
  RetireToProfile();
  map_.clear();
  pages_.clear();
  all_.clear();
  if (code_) code_->Reset();
  bytes_ = 0;
  generation_++;
  epoch_++;
  flushes++;
}

void TbCache::UnregisterTlb(SoftMmu* mmu) {
  tlbs_.erase(std::remove(tlbs_.begin(), tlbs_.end(), mmu), tlbs_.end());
}

}  // namespace emu::accel::tcg
