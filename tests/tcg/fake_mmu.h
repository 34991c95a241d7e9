// A soft TLB over 1 MiB of RAM and an MMIO page, with a page walker that maps
// every page to itself (pages can be made to fault or be read-only): shared by
// the soft-TLB and interpreter tests.
#pragma once

#include <map>
#include <memory>

#include "accel/tcg/softmmu.h"
#include "accel/tcg/tb_cache.h"
#include "hw/core/memory.h"

namespace emu::accel::tcg {

struct FakeBus : CpuBus {
  std::map<uint64_t, uint64_t> mmio_writes;
  uint64_t PortRead(uint16_t, unsigned) override { return 0; }
  void PortWrite(uint16_t, uint64_t, unsigned) override {}
  uint64_t MmioRead(uint64_t addr, unsigned size) override { return 0xab00 + size + (addr << 16); }
  void MmioWrite(uint64_t addr, uint64_t value, unsigned) override { mmio_writes[addr] = value; }
};

// Maps virtual page v to physical page v + offset; pages in `unmapped` fault, pages
// in `readonly` are read-only, pages in `global` are global translations.
struct FakeWalker : PageWalker {
  uint64_t offset = 0;
  std::map<uint64_t, bool> unmapped, readonly, global;
  int walks = 0, faults = 0;
  bool Walk(uint64_t vaddr, Access acc, int, uint64_t* paddr, unsigned* prot,
            uint64_t* page_size) override {
    walks++;
    uint64_t page = vaddr & kPageMask;
    if (unmapped.count(page) || (acc == Access::kWrite && readonly.count(page))) {
      faults++;
      return false;
    }
    *paddr = vaddr + offset;
    *prot = kProtRead | kProtExec | (readonly.count(page) ? 0u : unsigned{kProtWrite}) |
            (global.count(page) ? unsigned{kProtGlobal} : 0u);
    *page_size = kPageSize;
    return true;
  }
};

struct MmuFixture {
  MmuFixture()
      : root(hw::MemoryRegion::Container("root", 1ull << 32)),
        ram(hw::MemoryRegion::Ram("ram", 1 << 20)),
        mmio(hw::MemoryRegion::Mmio("dev", 0x1000, hw::MmioOps{})),
        as("mem", root.get()),
        mmu(&as, &bus, &walker, &cache) {
    root->AddSubregion(0, ram.get());
    root->AddSubregion(0xfee00000, mmio.get());
    cache.RegisterTlb(&mmu);
    ctx.mmu = &mmu;
  }
  std::unique_ptr<hw::MemoryRegion> root, ram, mmio;
  hw::AddressSpace as;
  FakeBus bus;
  FakeWalker walker;
  TbCache cache;
  SoftMmu mmu;
  ExecContext ctx;
};

}  // namespace emu::accel::tcg
