// The page walk behind the soft TLB: no paging, 32-bit (with PSE), PAE and
// 4-level paging; U/S, R/W with CR0.WP, NX, accessed and dirty bits (SDM vol. 3,
// chapter 4). Global pages (CR4.PGE) stay in the TLB across CR3 loads.
#include <cstdio>
#include <string>

#include "hw/core/log.h"
#include "target-x86/decode/decoded_inst.h"
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

using accel::tcg::Access;
using accel::tcg::kProtExec;
using accel::tcg::kProtRead;
using accel::tcg::kProtWrite;

namespace {
constexpr uint64_t kPteP = 1, kPteRw = 2, kPteUs = 4, kPteA = 0x20, kPteD = 0x40, kPtePs = 0x80;
constexpr uint64_t kPteG = 0x100;
constexpr uint64_t kPteNx = 1ull << 63;
constexpr uint64_t kAddrMask = 0x000ffffffffff000ull;  // 52-bit physical addresses

// -d mmu: one line per walk with every entry read (top level first), as it was
// before the walk set accessed/dirty bits.
void LogWalk(uint64_t vaddr, Access acc, bool user, bool lma, const uint64_t* addr,
             const uint64_t* val, unsigned n, const char* result) {
  static const char* const kLong[] = {"pml4e", "pdpte", "pde", "pte"};
  static const char* const kShort[] = {"pde", "pte"};
  std::string ents;
  char buf[80];
  for (unsigned i = 0; i < n; i++) {
    const char* name = lma ? (i < 4 ? kLong[i] : "?") : (i < 2 ? kShort[i] : "?");
    std::snprintf(buf, sizeof buf, "%s%s@0x%llx=0x%llx", i ? " " : "", name,
                  static_cast<unsigned long long>(addr[i]), static_cast<unsigned long long>(val[i]));
    ents += buf;
  }
  hw::Log(hw::LogMask::kMmu, "mmu: walk 0x%llx %s %s -> %s [%s]",
          static_cast<unsigned long long>(vaddr),
          acc == Access::kRead ? "read" : acc == Access::kWrite ? "write" : "exec",
          user ? "user" : "sup", result, ents.c_str());
}
// MAXPHYADDR as CPUID 0x80000008 reports it (cpuid_msr.cpp): address bits above it
// are reserved in paging entries.
constexpr unsigned kMaxPhysBits = 40;
constexpr uint64_t kAboveMaxPhys = ~((1ull << kMaxPhysBits) - 1);
constexpr uint64_t kPfRsvd = 8;  // error code: a reserved bit was set

// The physical address of code at `lin` under 4-level paging, without side effects
// (no A bits, no fault): for re-reading the instruction that is executing.
bool ProbeCode64(X86Cpu& cpu, uint64_t lin, uint64_t* pa) {
  uint64_t table = cpu.env.s.cr3 & kAddrMask;
  for (int level = 4; level >= 1; level--) {
    unsigned shift = 12 + 9 * (level - 1);
    uint64_t e = cpu.PhysRead(table + ((lin >> shift) & 511) * 8, 8);
    if (!(e & kPteP)) return false;
    if (level == 1 || ((level == 2 || level == 3) && (e & kPtePs))) {
      uint64_t size = 1ull << shift;
      *pa = (e & kAddrMask & ~(size - 1)) | (lin & (size - 1));
      return true;
    }
    table = e & kAddrMask;
  }
  return false;
}

// A non-canonical data address is #SS(0) when it references the SS segment, else
// #GP(0) (SDM vol. 3, 6.15, and each instruction's 64-bit mode exceptions). The
// walk does not know the segment, so this re-decodes the faulting instruction
// (slow path, only for non-canonical addresses): an explicit memory operand whose
// segment is SS (RSP/RBP base, no override), or an implicit stack access of a stack
// instruction near RSP (PUSH/POP/CALL/RET/ENTER/LEAVE/PUSHF/POPF/IRET/INT).
bool NonCanonicalIsStack(X86Cpu& cpu, uint64_t vaddr, Access acc) {
  if (acc == Access::kExec || !cpu.env.s.seg[CS].l()) return false;
  uint8_t bytes[15];
  const uint64_t pc = cpu.ctx.insn_pc;
  size_t n = 0;
  for (uint64_t pa; n < sizeof bytes && ProbeCode64(cpu, pc + n, &pa); n++)
    bytes[n] = static_cast<uint8_t>(cpu.PhysRead(pa, 1));
  DecodedInst d;
  if (n == 0 || Decode(bytes, n, CpuMode::k64, &d) != DecodeStatus::kOk) return false;
  for (unsigned i = 0; i < d.num_operands; i++)
    if (d.ops[i].kind == OperandKind::kMem && d.ops[i].mem.seg == SS) return true;
  switch (d.mnemonic) {
    case Mnemonic::ENTER: case Mnemonic::LEAVE:
      return true;  // every access is through SS, also those at RBP (LEAVE, ENTER's copies)
    case Mnemonic::PUSH: case Mnemonic::POP: case Mnemonic::CALL: case Mnemonic::CALLF:
    case Mnemonic::RET: case Mnemonic::RETF:
    case Mnemonic::PUSHF: case Mnemonic::POPF: case Mnemonic::IRET: case Mnemonic::INT:
    case Mnemonic::INT3: case Mnemonic::INT1: {
      uint64_t rsp = cpu.env.s.regs[RSP];
      return vaddr - rsp + 4096 < 8192;  // within 4 KiB of RSP
    }
    default:
      return false;
  }
}
}  // namespace

bool X86Cpu::Walk(uint64_t vaddr, Access acc, int mmu_idx, uint64_t* paddr, unsigned* prot,
                  uint64_t* page_size) {
  const CpuState& s = env.s;
  const bool user = mmu_idx == 1;
  const bool write = acc == Access::kWrite;
  const bool exec = acc == Access::kExec;
  *page_size = 4096;
  if (!(s.cr0 & kCr0PG)) {
    *paddr = vaddr & env.a20_mask & 0xffffffffull;
    if (s.efer & kEferLMA) *paddr = vaddr & env.a20_mask;
    *prot = kProtRead | kProtWrite | kProtExec;
    return true;
  }
  const bool lma = s.efer & kEferLMA;
  if (lma) {
    int64_t sv = static_cast<int64_t>(vaddr << 16) >> 16;
    if (static_cast<uint64_t>(sv) != vaddr) {
      Raise(NonCanonicalIsStack(*this, vaddr, acc) ? kSS : kGP, 0, true);
      return false;
    }
  }
  const bool nxe = s.efer & kEferNXE;
  bool rw = true, us = true, nx = false;
  uint64_t pa = 0;
  // Entries to update with A (and D on the leaf) after a successful walk.
  uint64_t ent_addr[5];
  uint64_t ent_val[5];
  unsigned ents = 0;
  auto fault = [&](bool present, uint32_t extra = 0) {
    uint32_t err = (present ? 1 : 0) | (write ? 2 : 0) | (user ? 4 : 0) | extra |
                   (exec && (nxe || (s.cr4 & kCr4SMEP)) ? 0x10 : 0);
    env.s.cr2 = vaddr;
    Raise(kPF, err, true);
    if (hw::LogEnabled(hw::LogMask::kMmu)) {
      char res[32];
      std::snprintf(res, sizeof res, "#PF err=0x%x", err);
      LogWalk(vaddr, acc, user, lma, ent_addr, ent_val, ents, res);
    }
    return false;
  };
  auto load = [&](uint64_t addr, bool wide) -> uint64_t {
    uint64_t v = PhysRead(addr, wide ? 8 : 4);
    ent_addr[ents] = addr;
    ent_val[ents] = v;
    ents++;
    return v;
  };
  auto perms = [&](uint64_t e) {
    rw = rw && (e & kPteRw);
    us = us && (e & kPteUs);
    if (nxe && (e & kPteNx)) nx = true;
  };
  bool wide = true;
  if (lma || (s.cr4 & kCr4PAE)) {
    uint64_t table;
    int levels;
    if (lma) {
      table = s.cr3 & kAddrMask;
      levels = 4;
    } else {
      uint64_t pdpte = load((s.cr3 & 0xffffffe0ull) + ((vaddr >> 30) & 3) * 8, true);
      ents--;  // PDPTEs have no A bit in PAE mode
      if (!(pdpte & kPteP)) return fault(false);
      table = pdpte & kAddrMask;
      levels = 2;
    }
    // Reserved bits of present entries (SDM vol. 3, 4.4.2 and 4.5.4): address bits
    // at or above MAXPHYADDR (PAE: up to bit 62), XD without EFER.NXE, PS in a
    // PML4E, and the low address bits of a large page below its alignment.
    const uint64_t rsvd_high =
        (lma ? kAboveMaxPhys & ((1ull << 52) - 1) : kAboveMaxPhys & ~kPteNx) | (nxe ? 0 : kPteNx);
    for (int level = levels; level >= 1; level--) {
      unsigned shift = 12 + 9 * (level - 1);
      uint64_t e = load(table + ((vaddr >> shift) & 511) * 8, true);
      if (!(e & kPteP)) return fault(false);
      const bool large = (level == 2 || (level == 3 && lma)) && (e & kPtePs);
      uint64_t rsvd = rsvd_high | (level == 4 ? kPtePs : 0);
      if (large) rsvd |= ((1ull << shift) - 1) & ~0x1fffull;  // bits shift-1..13
      if (e & rsvd) return fault(true, kPfRsvd);
      perms(e);
      if (level == 1 || large) {
        uint64_t size = 1ull << shift;
        pa = (e & kAddrMask & ~(size - 1)) | (vaddr & (size - 1));
        *page_size = size;
        break;
      }
      table = e & kAddrMask;
    }
  } else {
    wide = false;
    uint64_t pde = load((s.cr3 & 0xfffff000ull) + ((vaddr >> 22) & 1023) * 4, false);
    if (!(pde & kPteP)) return fault(false);
    perms(pde);
    if ((pde & kPtePs) && (s.cr4 & kCr4PSE)) {
      // 4 MiB page: bits 20:13 hold physical address bits 39:32, bit 21 is reserved.
      if (pde & (1u << 21)) return fault(true, kPfRsvd);
      pa = (pde & 0xffc00000ull) | (((pde >> 13) & 0xff) << 32) | (vaddr & 0x3fffff);
      *page_size = 4u << 20;
    } else {
      uint64_t pte = load((pde & 0xfffff000ull) + ((vaddr >> 12) & 1023) * 4, false);
      if (!(pte & kPteP)) return fault(false);
      perms(pte);
      pa = (pte & 0xfffff000ull) | (vaddr & 0xfff);
    }
  }
  // Permission checks.
  if (user && !us) return fault(true);
  bool can_write = rw || (!user && !(s.cr0 & kCr0WP));
  if (write && !can_write) return fault(true);
  if (exec && nx) return fault(true);
  // Accessed bits on every level, dirty on the leaf for writes.
  for (unsigned i = 0; i < ents; i++) {
    uint64_t v = ent_val[i] | kPteA;
    if (i == ents - 1 && write) v |= kPteD;
    if (v != ent_val[i]) PhysWrite(ent_addr[i], v, wide ? 8 : 4);
  }
  bool dirty = (ent_val[ents - 1] & kPteD) || write;
  // The G bit of the entry that maps the page (PTE, or PDE/PDPTE of a large page).
  const bool global = (s.cr4 & kCr4PGE) && (ent_val[ents - 1] & kPteG);
  *paddr = pa & env.a20_mask;
  *prot = kProtRead | (can_write && dirty ? kProtWrite : 0u) | (nx ? 0u : kProtExec) |
          (global ? accel::tcg::kProtGlobal : 0u);
  if (hw::LogEnabled(hw::LogMask::kMmu)) {
    char res[64];
    const uint64_t sz = *page_size;
    const unsigned shift = sz >= (1u << 30) ? 30 : sz >= (1u << 20) ? 20 : 10;
    std::snprintf(res, sizeof res, "0x%llx %llu%c r%c%c", static_cast<unsigned long long>(*paddr),
                  static_cast<unsigned long long>(sz >> shift), "KMG"[(shift - 10) / 10],
                  *prot & kProtWrite ? 'w' : '-', *prot & kProtExec ? 'x' : '-');
    LogWalk(vaddr, acc, user, lma, ent_addr, ent_val, ents, res);
  }
  return true;
}

X86_HELPER(HelperInvlpg) {
  hw::Log(hw::LogMask::kMmu, "mmu: INVLPG 0x%llx", static_cast<unsigned long long>(a));
  CpuOf(ctx)->FlushTlbPage(a);
  return 0;
}

}  // namespace emu::x86
