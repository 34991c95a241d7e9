#include "accel/tcg/softmmu.h"

namespace emu::accel::tcg {

namespace {
inline bool TagHit(uint64_t tag, uint64_t vpage) {
  return (tag & (kPageMask | kTlbInvalid)) == vpage;
}
inline void Invalidate(TlbEntry& e) {
  e.tag[0] = e.tag[1] = e.tag[2] = kTlbInvalid;
  e.addend = 0;
  e.phys = 0;
}
}  // namespace

SoftMmu::SoftMmu(hw::AddressSpace* as, CpuBus* bus, PageWalker* walker, CodeTracker* code)
    : as_(as), bus_(bus), walker_(walker), code_(code),
      contexts_(std::make_unique<Context[]>(kTlbContexts)), cur_(&contexts_[0]) {
  for (auto& mode : tlb_)
    for (auto& e : mode) Invalidate(e);
  for (unsigned i = 0; i < kTlbContexts; i++) {
    for (auto& e : contexts_[i].entries) Invalidate(e);
    if (i) contexts_[i].tag = ~0ull;  // unused
  }
  FlushAll();
  if (as_)
    listener_ = as_->AddListener([this](const hw::FlatView&) {
      map_epoch_.fetch_add(1, std::memory_order_acq_rel);
    });
}

SoftMmu::~SoftMmu() {
  if (as_ && listener_ >= 0) as_->RemoveListener(listener_);
}

void SoftMmu::Reset(Context& c, bool keep_global) {
  TlbEntry* entries = EntriesOf(c);
  auto reset = [&](unsigned i) {
    Invalidate(entries[i]);
    c.global[i] = false;
  };
  // The global entries that stay go back on the list of filled ones.
  unsigned kept = 0;
  bool overflow = false;
  auto visit = [&](unsigned i) {
    if (!keep_global || !c.global[i]) {
      reset(i);
    } else if (kept < kMaxFilled) {
      c.filled[kept++] = static_cast<uint16_t>(i);
    } else {
      overflow = true;
    }
  };
  if (c.overflow) {
    for (unsigned i = 0; i < kEntries; i++) visit(i);
  } else {
    for (unsigned i = 0; i < c.num_filled; i++) visit(c.filled[i]);
  }
  c.num_filled = kept;
  c.overflow = overflow;
  // Kept large global pages keep their range (INVLPG inside it flushes more).
  if (!kept) c.have_large = false;
}

void SoftMmu::FlushAll() {
  for (unsigned i = 0; i < kTlbContexts; i++) Reset(contexts_[i], false);
  flushes++;
}

void SoftMmu::FlushContext(bool keep_global) {
  Reset(*cur_, keep_global);
  flushes++;
}

void SoftMmu::MoveEntries(const Context& c, TlbEntry* from, TlbEntry* to) {
  auto move = [&](unsigned i) {
    TlbEntry& e = from[i];
    if (e.tag[0] & e.tag[1] & e.tag[2] & kTlbInvalid) return;  // moved already (listed twice)
    to[i] = e;
    Invalidate(e);
  };
  if (c.overflow) {
    for (unsigned i = 0; i < kEntries; i++) move(i);
  } else {
    for (unsigned i = 0; i < c.num_filled; i++) move(c.filled[i]);
  }
}

void SoftMmu::SwitchContext(uint64_t tag) {
  cur_->last_used = ++use_clock_;
  if (cur_->tag == tag) return;
  switches++;
  Context* next = nullptr;
  for (unsigned i = 0; i < kTlbContexts && !next; i++)
    if (contexts_[i].tag == tag) next = &contexts_[i];
  if (!next) {
    for (unsigned i = 0; i < kTlbContexts; i++)
      if (!next || contexts_[i].last_used < next->last_used) next = &contexts_[i];
    Reset(*next, false);  // its entries belong to the tag it had
    next->tag = tag;
  }
  // Every entry of tlb_ not on the current context's list is invalid, and so is
  // every entry of a waiting context not on its list: moving the listed ones
  // out and in swaps the contexts.
  MoveEntries(*cur_, &tlb_[0][0], cur_->entries);
  MoveEntries(*next, next->entries, &tlb_[0][0]);
  cur_ = next;
}

const SoftMmu::HostPage& SoftMmu::LookupHostPage(uint64_t ppage) {
  HostPage& h = host_pages_[(ppage >> kPageBits) & 63];
  uint64_t epoch = map_epoch_.load(std::memory_order_acquire);
  if (h.page != ppage || h.epoch != epoch) {
    h.page = ppage;
    h.epoch = epoch;
    h.r = as_->HostPtr(ppage, kPageSize, false);
    h.w = h.r ? as_->HostPtr(ppage, kPageSize, true) : nullptr;
  }
  return h;
}

void SoftMmu::FlushPage(uint64_t vaddr) {
  uint64_t vpage = vaddr & kPageMask;
  for (unsigned i = 0; i < kTlbContexts; i++) {
    Context& c = contexts_[i];
    if (c.have_large && (vaddr & c.large_mask) == c.large_addr) {
      Reset(c, false);
      continue;
    }
    TlbEntry* entries = EntriesOf(c);
    for (unsigned mode = 0; mode < kMmuModes; mode++) {
      TlbEntry& e = entries[mode * kTlbSize + ((vaddr >> kPageBits) & (kTlbSize - 1))];
      for (uint64_t& t : e.tag)
        if ((t & kPageMask) == vpage) t = kTlbInvalid;
    }
  }
}

void SoftMmu::ProtectCodePage(uint64_t ppage) {
  for (unsigned i = 0; i < kTlbContexts; i++) {
    Context& c = contexts_[i];
    if (c.tag == ~0ull) continue;  // never used
    TlbEntry* entries = EntriesOf(c);
    for (unsigned j = 0; j < kEntries; j++) {
      TlbEntry& e = entries[j];
      if (e.phys == ppage && !(e.tag[1] & (kTlbInvalid | kTlbMmio))) e.tag[1] |= kTlbCodePage;
    }
  }
}

TlbEntry* SoftMmu::Fill(ExecContext* ctx, uint64_t vaddr, Access acc, int mmu_idx) {
  misses++;
  uint64_t paddr = 0, page_size = kPageSize;
  unsigned prot = 0;
  if (!walker_->Walk(vaddr, acc, mmu_idx, &paddr, &prot, &page_size)) {
    ctx->exit = ExitStatus::kException;
    return nullptr;
  }
  Context& c = *cur_;
  if (page_size > kPageSize) {
    uint64_t mask = ~(page_size - 1);
    if (!c.have_large) {
      c.large_addr = vaddr & mask;
      c.large_mask = mask;
      c.have_large = true;
    } else {
      while ((c.large_addr & mask) != (vaddr & mask)) mask <<= 1;
      c.large_mask &= mask;
      c.large_addr &= c.large_mask;
    }
  }
  if (watching_) prot |= walker_->WatchProt(vaddr);
  uint64_t vpage = vaddr & kPageMask, ppage = paddr & kPageMask;
  const unsigned idx = (vaddr >> kPageBits) & (kTlbSize - 1);
  const unsigned flat = mmu_idx * kTlbSize + idx;
  TlbEntry& e = tlb_[mmu_idx][idx];
  // A global entry (filled since the last flush, or kept by it) is on the list.
  if (!c.global[flat]) {
    if (c.num_filled < kMaxFilled) c.filled[c.num_filled++] = static_cast<uint16_t>(flat);
    else c.overflow = true;
  }
  c.global[flat] = prot & kProtGlobal;
  const HostPage& hp = LookupHostPage(ppage);
  uint8_t* host_r = hp.r;
  uint8_t* host_w = hp.w;
  e.phys = ppage;
  e.addend = host_r ? reinterpret_cast<uintptr_t>(host_r) - vpage : 0;
  uint64_t io = host_r ? 0 : kTlbMmio;
  e.tag[0] = (prot & kProtRead) ? (vpage | io | (prot & kProtWatchRead ? kTlbWatch : 0)) : kTlbInvalid;
  e.tag[2] = (prot & kProtExec) ? (vpage | io) : kTlbInvalid;
  if (!(prot & kProtWrite)) {
    e.tag[1] = kTlbInvalid;
  } else if (!host_w) {
    e.tag[1] = vpage | kTlbMmio;  // MMIO, unassigned, or ROM (the bus drops the write)
  } else {
    e.tag[1] = vpage | (code_ && code_->IsCodePage(ppage) ? kTlbCodePage : 0);
  }
  if ((prot & kProtWatchWrite) && !(e.tag[1] & kTlbInvalid)) e.tag[1] |= kTlbWatch;
  // The walker granted what it could; the access itself must be allowed.
  if (!TagHit(e.tag[static_cast<int>(acc)], vpage)) {
    // A walker that succeeds must grant the access it was asked for.
    ctx->exit = ExitStatus::kException;
    return nullptr;
  }
  return &e;
}

uint64_t SoftMmu::LoadSlow(ExecContext* ctx, uint64_t vaddr, unsigned size, int mmu_idx,
                           Access acc) {
  if ((vaddr & (kPageSize - 1)) + size > kPageSize) {
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
      uint64_t b = LoadSlow(ctx, vaddr + i, 1, mmu_idx, acc);
      if (ctx->exit == ExitStatus::kException) return 0;
      v |= b << (8 * i);
    }
    return v;
  }
  uint64_t vpage = vaddr & kPageMask;
  TlbEntry* e = &tlb_[mmu_idx][(vaddr >> kPageBits) & (kTlbSize - 1)];
  if (!TagHit(e->tag[static_cast<int>(acc)], vpage)) {
    e = Fill(ctx, vaddr, acc, mmu_idx);
    if (!e) return 0;
  }
  if (e->tag[static_cast<int>(acc)] & kTlbWatch) walker_->WatchHit(ctx, vaddr, size, acc);
  if (!(e->tag[static_cast<int>(acc)] & kTlbMmio)) {
    const uint8_t* p = reinterpret_cast<const uint8_t*>(vaddr + e->addend);
    uint64_t v = 0;
    std::memcpy(&v, p, size);  // little-endian host assumed (see docs/translator.md)
    return v;
  }
  return bus_->MmioRead(e->phys | (vaddr & (kPageSize - 1)), size);
}

bool SoftMmu::Probe(ExecContext* ctx, uint64_t vaddr, unsigned size, Access acc, int mmu_idx) {
  uint64_t last = vaddr + (size ? size - 1 : 0);
  for (uint64_t page = vaddr & kPageMask;; page += kPageSize) {
    uint64_t a = page < vaddr ? vaddr : page;
    TlbEntry& e = tlb_[mmu_idx][(a >> kPageBits) & (kTlbSize - 1)];
    if (!TagHit(e.tag[static_cast<int>(acc)], page) && !Fill(ctx, a, acc, mmu_idx)) return false;
    if (page == (last & kPageMask)) break;
  }
  return true;
}

void SoftMmu::StoreSlow(ExecContext* ctx, uint64_t vaddr, uint64_t value, unsigned size,
                        int mmu_idx) {
  if ((vaddr & (kPageSize - 1)) + size > kPageSize) {
    // Both pages must be writable before any byte is written.
    if (!Probe(ctx, vaddr, size, Access::kWrite, mmu_idx)) return;
    for (unsigned i = 0; i < size; i++) {
      StoreSlow(ctx, vaddr + i, value >> (8 * i), 1, mmu_idx);
      if (ctx->exit == ExitStatus::kException) return;
    }
    return;
  }
  uint64_t vpage = vaddr & kPageMask;
  TlbEntry* e = &tlb_[mmu_idx][(vaddr >> kPageBits) & (kTlbSize - 1)];
  if (!TagHit(e->tag[1], vpage)) {
    e = Fill(ctx, vaddr, Access::kWrite, mmu_idx);
    if (!e) return;
  }
  uint64_t paddr = e->phys | (vaddr & (kPageSize - 1));
  if (e->tag[1] & kTlbWatch) walker_->WatchHit(ctx, vaddr, size, Access::kWrite);
  if (e->tag[1] & kTlbMmio) {
    bus_->MmioWrite(paddr, value, size);
    return;
  }
  uint8_t* p = reinterpret_cast<uint8_t*>(vaddr + e->addend);
  std::memcpy(p, &value, size);
  if (e->tag[1] & kTlbCodePage) {
    if (code_ && code_->IsCodePage(e->phys)) code_->CodeWritten(ctx, paddr, size);
    if (!code_ || !code_->IsCodePage(e->phys)) e->tag[1] &= ~kTlbCodePage;
  }
}

uint8_t* SoftMmu::HostAddr(ExecContext* ctx, uint64_t vaddr, Access acc, int mmu_idx) {
  uint64_t vpage = vaddr & kPageMask;
  TlbEntry* e = &tlb_[mmu_idx][(vaddr >> kPageBits) & (kTlbSize - 1)];
  int a = static_cast<int>(acc);
  if (!TagHit(e->tag[a], vpage)) {
    e = Fill(ctx, vaddr, acc, mmu_idx);
    if (!e) return nullptr;
  }
  if (e->tag[a] & (kTlbMmio | kTlbCodePage | kTlbWatch)) return nullptr;
  return reinterpret_cast<uint8_t*>(vaddr + e->addend);
}

bool SoftMmu::TranslateCode(ExecContext* ctx, uint64_t vaddr, int mmu_idx, uint64_t* paddr) {
  uint64_t vpage = vaddr & kPageMask;
  TlbEntry* e = &tlb_[mmu_idx][(vaddr >> kPageBits) & (kTlbSize - 1)];
  if (!TagHit(e->tag[2], vpage)) {
    e = Fill(ctx, vaddr, Access::kExec, mmu_idx);
    if (!e) return false;
  }
  *paddr = e->phys | (vaddr & (kPageSize - 1));
  return true;
}

uint64_t SoftMmu::PhysRead(uint64_t paddr, unsigned size) {
  if ((paddr & (kPageSize - 1)) + size <= kPageSize) {
    if (const uint8_t* page = LookupHostPage(paddr & kPageMask).r) {
      uint64_t v = 0;
      std::memcpy(&v, page + (paddr & (kPageSize - 1)), size);
      return v;
    }
  }
  if (uint8_t* p = as_->HostPtr(paddr, size, false)) {
    uint64_t v = 0;
    std::memcpy(&v, p, size);
    return v;
  }
  return bus_->MmioRead(paddr, size);
}

void SoftMmu::PhysWrite(uint64_t paddr, uint64_t value, unsigned size) {
  if (uint8_t* p = as_->HostPtr(paddr, size, true)) {
    std::memcpy(p, &value, size);
    if (code_ && code_->IsCodePage(paddr & kPageMask)) code_->CodeWritten(nullptr, paddr, size);
    return;
  }
  bus_->MmioWrite(paddr, value, size);
}

}  // namespace emu::accel::tcg
