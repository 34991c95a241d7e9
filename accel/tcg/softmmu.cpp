#include "accel/tcg/softmmu.h"

namespace emu::accel::tcg {

namespace {
inline bool TagHit(uint64_t tag, uint64_t vpage) {
  return (tag & (kPageMask | kTlbInvalid)) == vpage;
}
}  // namespace

SoftMmu::SoftMmu(hw::AddressSpace* as, CpuBus* bus, PageWalker* walker, CodeTracker* code)
    : as_(as), bus_(bus), walker_(walker), code_(code) {
  FlushAll();
  if (as_)
    listener_ = as_->AddListener([this](const hw::FlatView&) {
      map_epoch_.fetch_add(1, std::memory_order_acq_rel);
    });
}

SoftMmu::~SoftMmu() {
  if (as_ && listener_ >= 0) as_->RemoveListener(listener_);
}

void SoftMmu::FlushAll() {
  auto reset = [](TlbEntry& e) {
    e.tag[0] = e.tag[1] = e.tag[2] = kTlbInvalid;
    e.addend = 0;
    e.phys = 0;
  };
  if (filled_overflow_) {
    for (auto& mode : tlb_)
      for (auto& e : mode) reset(e);
  } else {
    for (unsigned i = 0; i < num_filled_; i++) reset(tlb_[filled_[i] / kTlbSize][filled_[i] % kTlbSize]);
  }
  num_filled_ = 0;
  filled_overflow_ = false;
  have_large_ = false;
  flushes++;
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
  if (have_large_ && (vaddr & large_mask_) == large_addr_) {
    FlushAll();
    return;
  }
  uint64_t vpage = vaddr & kPageMask;
  for (auto& mode : tlb_) {
    TlbEntry& e = mode[(vaddr >> kPageBits) & (kTlbSize - 1)];
    for (uint64_t& t : e.tag)
      if ((t & kPageMask) == vpage) t = kTlbInvalid;
  }
}

void SoftMmu::ProtectCodePage(uint64_t ppage) {
  for (auto& mode : tlb_)
    for (auto& e : mode)
      if (e.phys == ppage && !(e.tag[1] & (kTlbInvalid | kTlbMmio))) e.tag[1] |= kTlbCodePage;
}

TlbEntry* SoftMmu::Fill(ExecContext* ctx, uint64_t vaddr, Access acc, int mmu_idx) {
  misses++;
  uint64_t paddr = 0, page_size = kPageSize;
  unsigned prot = 0;
  if (!walker_->Walk(vaddr, acc, mmu_idx, &paddr, &prot, &page_size)) {
    ctx->exit = ExitStatus::kException;
    return nullptr;
  }
  if (page_size > kPageSize) {
    uint64_t mask = ~(page_size - 1);
    if (!have_large_) {
      large_addr_ = vaddr & mask;
      large_mask_ = mask;
      have_large_ = true;
    } else {
      while ((large_addr_ & mask) != (vaddr & mask)) mask <<= 1;
      large_mask_ &= mask;
      large_addr_ &= large_mask_;
    }
  }
  if (watching_) prot |= walker_->WatchProt(vaddr);
  uint64_t vpage = vaddr & kPageMask, ppage = paddr & kPageMask;
  const unsigned idx = (vaddr >> kPageBits) & (kTlbSize - 1);
  TlbEntry& e = tlb_[mmu_idx][idx];
  if (num_filled_ < kMaxFilled) filled_[num_filled_++] = static_cast<uint16_t>(mmu_idx * kTlbSize + idx);
  else filled_overflow_ = true;
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
