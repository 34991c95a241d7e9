// The software TLB: guest virtual page -> host pointer (RAM) or physical page
// (MMIO), with separate tags for read, write and execute so that a permission
// change never needs more than a miss. Misses call the guest's page walk
// (PageWalker). RAM is reached through AddressSpace::HostPtr; anything else
// (MMIO, unassigned, writes to ROM) takes the slow path to CpuBus.
//
// Writes to pages that hold translated code are routed through the slow path
// (the write tag carries kTlbCodePage) so that the TB cache can invalidate the
// blocks they overwrite (self-modifying code).
//
// Entries belong to a context, tagged by the guest (x86: the PCID): switching
// to another context keeps the entries of the previous ones, so coming back to
// an address space finds its pages still cached. Entries the walker marks
// global survive a flush of their context (x86: CR3 loads keep global pages).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>

#include "accel/accel.h"
#include "accel/tcg/exec_context.h"
#include "hw/core/memory.h"

namespace emu::accel::tcg {

inline constexpr unsigned kPageBits = 12;
inline constexpr uint64_t kPageSize = 1ull << kPageBits;
inline constexpr uint64_t kPageMask = ~(kPageSize - 1);
// 1024 entries per MMU mode: with 256 the Linux workload (sort, gzip) missed
// 3.6x as often (29.8 M -> 8.3 M slow-path loads).
inline constexpr unsigned kTlbBits = 10;
inline constexpr unsigned kTlbSize = 1u << kTlbBits;
inline constexpr unsigned kMmuModes = 4;
// Contexts kept at once (least recently used one recycled): Linux uses PCIDs
// 1-6 for its address spaces, plus 0 for the kernel's own.
inline constexpr unsigned kTlbContexts = 8;

enum class Access : uint8_t { kRead, kWrite, kExec };
enum Prot : unsigned {
  kProtRead = 1, kProtWrite = 2, kProtExec = 4,
  // The guest watches part of this page (debug registers): reads / writes to it
  // take the slow path, which reports them through PageWalker::WatchHit.
  kProtWatchRead = 8, kProtWatchWrite = 16,
  // A global translation: FlushContext(true) keeps it.
  kProtGlobal = 32,
};

// Tag flag bits (below the page bits): any of them makes the fast path miss.
inline constexpr uint64_t kTlbInvalid = 1, kTlbMmio = 2, kTlbCodePage = 4, kTlbWatch = 8;

struct TlbEntry {
  uint64_t tag[3];       // indexed by Access; page vaddr | flags
  uintptr_t addend;      // host = vaddr + addend (RAM only)
  uint64_t phys;         // physical page
};

// The guest's address translation.
class PageWalker {
 public:
  virtual ~PageWalker() = default;
  // Translates `vaddr` for `acc` in `mmu_idx`. On success sets *paddr to the
  // physical address of vaddr, *prot to the accesses the TLB may grant for the
  // whole page without asking again (grant write only if the page is already
  // dirty, so that dirty bits are set by a later miss; kProtGlobal for a
  // translation common to every context), *page_size to the guest
  // page size (4 KiB or larger). On a fault, records the guest exception in the
  // front end's state and returns false.
  virtual bool Walk(uint64_t vaddr, Access acc, int mmu_idx, uint64_t* paddr, unsigned* prot,
                    uint64_t* page_size) = 0;
  // Guest watchpoints (asked on a TLB fill only while SetWatching(true)): which of
  // kProtWatchRead/Write apply to the page of `vaddr`; WatchHit reports an access.
  virtual unsigned WatchProt(uint64_t /*vaddr*/) { return 0; }
  virtual void WatchHit(ExecContext*, uint64_t /*vaddr*/, unsigned /*size*/, Access) {}
};

// What the TLB needs from the TB cache for self-modifying code.
class CodeTracker {
 public:
  virtual ~CodeTracker() = default;
  virtual bool IsCodePage(uint64_t ppage) = 0;
  // Guest wrote [paddr, paddr+len): drop the blocks it overlaps.
  virtual void CodeWritten(ExecContext* ctx, uint64_t paddr, unsigned len) = 0;
};

class SoftMmu {
 public:
  SoftMmu(hw::AddressSpace* as, CpuBus* bus, PageWalker* walker, CodeTracker* code);
  ~SoftMmu();
  SoftMmu(const SoftMmu&) = delete;
  SoftMmu& operator=(const SoftMmu&) = delete;

  // Sized guest accesses (size 1, 2, 4, 8). On a fault they record the exception
  // (through the walker), set ctx->exit = kException and return 0.
  uint64_t Load(ExecContext* ctx, uint64_t vaddr, unsigned size, int mmu_idx) {
    TlbEntry& e = tlb_[mmu_idx][(vaddr >> kPageBits) & (kTlbSize - 1)];
    if (e.tag[0] == (vaddr & kPageMask) && (vaddr & (kPageSize - 1)) + size <= kPageSize) {
      const uint8_t* p = reinterpret_cast<const uint8_t*>(vaddr + e.addend);
      switch (size) {
        case 1: return *p;
        case 2: { uint16_t v; std::memcpy(&v, p, 2); return v; }
        case 4: { uint32_t v; std::memcpy(&v, p, 4); return v; }
        default: { uint64_t v; std::memcpy(&v, p, 8); return v; }
      }
    }
    return LoadSlow(ctx, vaddr, size, mmu_idx, Access::kRead);
  }
  void Store(ExecContext* ctx, uint64_t vaddr, uint64_t value, unsigned size, int mmu_idx) {
    TlbEntry& e = tlb_[mmu_idx][(vaddr >> kPageBits) & (kTlbSize - 1)];
    if (e.tag[1] == (vaddr & kPageMask) && (vaddr & (kPageSize - 1)) + size <= kPageSize) {
      uint8_t* p = reinterpret_cast<uint8_t*>(vaddr + e.addend);
      switch (size) {
        case 1: *p = static_cast<uint8_t>(value); return;
        case 2: { uint16_t v = static_cast<uint16_t>(value); std::memcpy(p, &v, 2); return; }
        case 4: { uint32_t v = static_cast<uint32_t>(value); std::memcpy(p, &v, 4); return; }
        default: std::memcpy(p, &value, 8); return;
      }
    }
    StoreSlow(ctx, vaddr, value, size, mmu_idx);
  }
  // Code fetch of one byte for the translator (exec permission).
  uint64_t Fetch(ExecContext* ctx, uint64_t vaddr, unsigned size, int mmu_idx) {
    return LoadSlow(ctx, vaddr, size, mmu_idx, Access::kExec);
  }
  // Checks that [vaddr, vaddr+size) is accessible for `acc` (filling the TLB) without
  // touching memory: lets multi-part instructions fault before their first write.
  bool Probe(ExecContext* ctx, uint64_t vaddr, unsigned size, Access acc, int mmu_idx);
  // Host pointer for `vaddr` when its page is plain RAM accessible for `acc`
  // (filling the TLB; for writes, not a page holding translated code), else
  // nullptr. A fault is recorded as by Load/Store. For bulk string operations.
  uint8_t* HostAddr(ExecContext* ctx, uint64_t vaddr, Access acc, int mmu_idx);
  // Physical address of code at vaddr when the TLB already holds its page with
  // execute permission (no walk, no fill): how the jump cache checks that a block
  // found by virtual pc still maps to the bytes it was translated from.
  bool CodePhysCached(uint64_t vaddr, int mmu_idx, uint64_t* paddr) const {
    const TlbEntry& e = tlb_[mmu_idx][(vaddr >> kPageBits) & (kTlbSize - 1)];
    if ((e.tag[2] & (kPageMask | kTlbInvalid)) != (vaddr & kPageMask)) return false;
    *paddr = e.phys | (vaddr & (kPageSize - 1));
    return true;
  }
  // Physical address of a code fetch at vaddr (fills the exec tag). Returns false
  // after recording a fault. *host is set for RAM pages, nullptr for MMIO/ROM-less.
  bool TranslateCode(ExecContext* ctx, uint64_t vaddr, int mmu_idx, uint64_t* paddr);

  // Every entry of every context, global ones included.
  void FlushAll();
  // The current context's entries; with keep_global, not those filled from a
  // global translation.
  void FlushContext(bool keep_global);
  // Makes the context tagged `tag` current: the entries filled while it was
  // current before are still there, unless it was recycled since (then it
  // starts empty). Flush what the tag's owner changed with FlushContext.
  void SwitchContext(uint64_t tag);
  uint64_t context_tag() const { return cur_->tag; }
  // The page of `vaddr` in every context (global entries included).
  void FlushPage(uint64_t vaddr);
  // The TB cache made `ppage` a code page: route writes to it through the slow path.
  void ProtectCodePage(uint64_t ppage);
  // Watchpoints are enabled: TLB fills ask PageWalker::WatchProt (flush after a change).
  void SetWatching(bool on) { watching_ = on; }

  // The entries of one MMU mode, for backends that inline the fast path of Load
  // and Store (a hit: tag[0]/tag[1] equal to the page address, the access
  // inside the page; anything else goes through Load/Store).
  const TlbEntry* tlb_row(int mmu_idx) const { return tlb_[mmu_idx]; }
  hw::AddressSpace* address_space() const { return as_; }
  CpuBus* bus() const { return bus_; }
  // Physical memory accessors for helpers (page-table walks, descriptor tables).
  uint64_t PhysRead(uint64_t paddr, unsigned size);
  void PhysWrite(uint64_t paddr, uint64_t value, unsigned size);

  // Counters for tests and -d statistics: misses, flushes (FlushAll and
  // FlushContext), switches to another context.
  uint64_t misses = 0, flushes = 0, switches = 0;

 private:
  uint64_t LoadSlow(ExecContext* ctx, uint64_t vaddr, unsigned size, int mmu_idx, Access acc);
  void StoreSlow(ExecContext* ctx, uint64_t vaddr, uint64_t value, unsigned size, int mmu_idx);
  // Fills the entry for vaddr/acc; returns it, or nullptr after a fault.
  TlbEntry* Fill(ExecContext* ctx, uint64_t vaddr, Access acc, int mmu_idx);
  // Host pointers of a RAM/ROM page (nullptr: not plain RAM as a whole page),
  // cached until the memory map changes: page walks and TLB fills ask for the
  // same few pages over and over, and the flat view lookup is a binary search.
  struct HostPage {
    uint64_t page = ~0ull;
    uint64_t epoch = 0;
    uint8_t* r = nullptr;
    uint8_t* w = nullptr;
  };
  const HostPage& LookupHostPage(uint64_t ppage);

  hw::AddressSpace* as_;
  CpuBus* bus_;
  PageWalker* walker_;
  CodeTracker* code_;
  static constexpr unsigned kEntries = kMmuModes * kTlbSize;
  static constexpr unsigned kMaxFilled = 1024;
  struct Context {
    // Where the entries of a context wait while another one is current (the
    // current one's are in tlb_, and its `entries` are all invalid meanwhile).
    TlbEntry entries[kEntries];
    bool global[kEntries];  // filled from a global translation (flat index)
    // Entries filled since the last flush (flat index), so that a flush (every
    // CR3 write) resets those instead of the whole table.
    uint16_t filled[kMaxFilled];
    unsigned num_filled = 0;
    bool overflow = true;
    uint64_t tag = 0;
    uint64_t last_used = 0;
    // Largest guest page seen since the last flush covers this range: INVLPG
    // inside it flushes the context (large pages are cached as 4 KiB entries).
    uint64_t large_addr = 0, large_mask = 0;
    bool have_large = false;
  };
  // Resets `c`'s entries (but the global ones when keep_global).
  void Reset(Context& c, bool keep_global);
  TlbEntry* EntriesOf(Context& c) { return &c == cur_ ? &tlb_[0][0] : c.entries; }
  // Moves `c`'s filled entries from `from` to `to`, leaving them invalid in `from`.
  static void MoveEntries(const Context& c, TlbEntry* from, TlbEntry* to);

  // The current context's entries: the fast path above, and backends that
  // inline it, index this array directly.
  TlbEntry tlb_[kMmuModes][kTlbSize];
  std::unique_ptr<Context[]> contexts_;
  Context* cur_;
  uint64_t use_clock_ = 0;
  HostPage host_pages_[64];
  std::atomic<uint64_t> map_epoch_{1};
  int listener_ = -1;
  bool watching_ = false;
};

}  // namespace emu::accel::tcg
