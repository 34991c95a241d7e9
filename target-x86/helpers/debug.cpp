// Debug registers (Intel SDM vol. 3, chapter 17): instruction breakpoints
// (fault-class #DB before the instruction, suppressed once by RFLAGS.RF), data
// breakpoints on writes or reads/writes (trap-class #DB after the instruction),
// single-step status (DR6.BS), general detect (DR7.GD) and, with CR4.DE, I/O
// breakpoints (R/W = 10: trap-class, after the IN/OUT/INS/OUTS; a REP INS/OUTS
// traps after the iteration that hit, with rip at the instruction to resume it).
//
// Nothing here costs anything while DR7 enables no breakpoint. When it does:
// the TB key carries a hash of the enabled instruction-breakpoint addresses
// (ComputeTbFlags -> DebugTbFlags) so blocks are retranslated with a check in
// front of exactly the instructions at those addresses; with data breakpoints the
// soft TLB asks WatchProt on each fill and marks only the watched pages, so only
// accesses to them take the slow path and report through WatchHit, and blocks
// carry a per-instruction check that delivers the trap after the accessing
// instruction (at the start of the next one).
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

using accel::tcg::Access;

namespace {

constexpr uint64_t kDr6Bd = 1u << 13, kDr6Bs = 1u << 14;
constexpr uint64_t kDr7Gd = 1u << 13;

bool Enabled(uint64_t dr7, unsigned i) { return (dr7 >> (2 * i)) & 3; }
unsigned Rw(uint64_t dr7, unsigned i) { return (dr7 >> (16 + 4 * i)) & 3; }
uint64_t Len(uint64_t dr7, unsigned i) {
  static const uint64_t kLen[4] = {1, 2, 8, 4};
  return kLen[(dr7 >> (18 + 4 * i)) & 3];
}

// True when [a, a+n) overlaps breakpoint i's range (its address aligned down to LEN).
bool Overlaps(const CpuState& s, unsigned i, uint64_t a, uint64_t n) {
  uint64_t len = Len(s.dr[7], i);
  uint64_t lo = s.dr[i] & ~(len - 1);
  return a < lo + len && lo < a + n;
}

void SetHits(CpuState& s, unsigned hits) { s.dr[6] = (s.dr[6] & ~0xfull) | hits; }

}  // namespace

uint32_t DebugTbFlags(const X86Env& e) {
  const CpuState& s = e.s;
  const uint64_t dr7 = s.dr[7];
  uint32_t f = 0, h = 0x811c9dc5u;
  bool exec = false;
  for (unsigned i = 0; i < 4; i++) {
    if (!Enabled(dr7, i)) continue;
    if (Rw(dr7, i) == 0) {
      exec = true;
      uint64_t v = s.dr[i] * 4 + i;
      for (int k = 0; k < 8; k++) h = (h ^ static_cast<uint8_t>(v >> (8 * k))) * 16777619u;
    } else if (Rw(dr7, i) != 2 || (s.cr4 & kCr4DE)) {
      f |= kTbDebugData;  // data or I/O breakpoints: a trap check per instruction
    }
  }
  if (exec) f |= ((h ^ (h >> 16)) | 1) << kTbDebugExecShift;
  return f;
}

unsigned X86Cpu::ExecBreakpoints(uint64_t lin) const {
  const CpuState& s = env.s;
  unsigned hits = 0;
  for (unsigned i = 0; i < 4; i++)
    if (Enabled(s.dr[7], i) && Rw(s.dr[7], i) == 0 && s.dr[i] == lin) hits |= 1u << i;
  return hits;
}

void X86Cpu::SettleRf() {
  CpuState& s = env.s;
  if (!(s.rflags & kFlagRF)) return;
  const bool code64 = (s.efer & kEferLMA) && s.seg[CS].l() && !(s.rflags & kFlagVM);
  uint64_t lin = code64 ? s.rip : ((s.seg[CS].base + s.rip) & 0xffffffffu);
  if (!(s.dr[7] & 0xff) || !ExecBreakpoints(lin)) s.rflags &= ~kFlagRF;
}

void X86Cpu::WriteDr(unsigned n, uint64_t v) {
  CpuState& s = env.s;
  uint64_t old7 = s.dr[7];
  if (n < 4) s.dr[n] = v;
  else if (n == 6) s.dr[6] = (v & 0xe00f) | 0xffff0ff0u;
  else s.dr[7] = (v & 0xffff23ffu) | 0x400;
  // Watched pages are marked when the TLB is filled: refill after a change.
  if (DataBreakpointsEnabled() || ((old7 & 0xff) && n == 7)) FlushTlb();
}

bool X86Cpu::DataBreakpointsEnabled() const {
  return (env.s.dr[7] & 0xff) && (DebugTbFlags(env) & kTbDebugData);
}

unsigned X86Cpu::WatchProt(uint64_t vaddr) {
  const CpuState& s = env.s;
  uint64_t page = vaddr & accel::tcg::kPageMask;
  unsigned prot = 0;
  for (unsigned i = 0; i < 4; i++) {
    if (!Enabled(s.dr[7], i) || !Overlaps(s, i, page, accel::tcg::kPageSize)) continue;
    if (Rw(s.dr[7], i) == 1) prot |= accel::tcg::kProtWatchWrite;
    if (Rw(s.dr[7], i) == 3) prot |= accel::tcg::kProtWatchWrite | accel::tcg::kProtWatchRead;
  }
  return prot;
}

void X86Cpu::WatchHit(accel::tcg::ExecContext*, uint64_t vaddr, unsigned size, Access acc) {
  const CpuState& s = env.s;
  for (unsigned i = 0; i < 4; i++) {
    if (!Enabled(s.dr[7], i)) continue;
    unsigned rw = Rw(s.dr[7], i);
    if ((rw == 3 || (rw == 1 && acc == Access::kWrite)) && Overlaps(s, i, vaddr, size))
      pending_data_hits |= 1u << i;
  }
}

bool X86Cpu::IoBreakpointHit(uint16_t port, unsigned size) {
  const CpuState& s = env.s;
  unsigned hits = 0;
  for (unsigned i = 0; i < 4; i++)
    if (Enabled(s.dr[7], i) && Rw(s.dr[7], i) == 2 && Overlaps(s, i, port, size)) hits |= 1u << i;
  pending_data_hits |= hits;
  return hits != 0;
}

// Before an instruction at an enabled instruction breakpoint. a = linear address.
X86_HELPER(HelperDebugInsn) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  if (s.rflags & kFlagRF) {  // returning to the breakpoint: run it once
    s.rflags &= ~kFlagRF;
    return 0;
  }
  unsigned hits = cpu->ExecBreakpoints(a);
  if (hits) {
    SetHits(s, hits);
    cpu->Raise(kDB);
  }
  return 0;
}

// Before each instruction while data breakpoints are enabled: the previous
// instruction hit one, so the trap is taken now (rip = this instruction).
X86_HELPER(HelperDebugData) {
  X86Cpu* cpu = CpuOf(ctx);
  if (cpu->pending_data_hits) {
    SetHits(cpu->env.s, cpu->pending_data_hits);
    cpu->pending_data_hits = 0;
    cpu->Raise(kDB);
  }
  return 0;
}

// Single-step trap after an instruction with RFLAGS.TF (plus any data hits).
X86_HELPER(HelperDebugStep) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  s.dr[6] = (s.dr[6] & ~0xfull) | kDr6Bs | cpu->pending_data_hits;
  cpu->pending_data_hits = 0;
  cpu->Raise(kDB);
  return 0;
}

namespace {

// MOV to/from DRn: DR4/DR5 alias DR6/DR7 unless CR4.DE; DR7.GD makes any access a
// #DB fault with DR6.BD (and clears GD so the handler can use the registers).
bool CheckDrAccess(X86Cpu* cpu, unsigned* n) {
  CpuState& s = cpu->env.s;
  if (*n == 4 || *n == 5) {
    if (s.cr4 & kCr4DE) {
      cpu->Raise(kUD);
      return false;
    }
    *n += 2;
  }
  if (s.dr[7] & kDr7Gd) {
    s.dr[7] &= ~kDr7Gd;
    s.dr[6] |= kDr6Bd;
    cpu->Raise(kDB);
    return false;
  }
  return true;
}

}  // namespace

X86_HELPER(HelperMovToDr) {
  X86Cpu* cpu = CpuOf(ctx);
  unsigned n = static_cast<unsigned>(a) & 7;
  if (!CheckDrAccess(cpu, &n)) return 0;
  if (n >= 6 && (b >> 32)) {  // DR6/DR7 bits 63:32 are reserved (64-bit mode)
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  cpu->WriteDr(n, b);
  return 0;
}

X86_HELPER(HelperMovFromDr) {
  X86Cpu* cpu = CpuOf(ctx);
  unsigned n = static_cast<unsigned>(a) & 7;
  if (!CheckDrAccess(cpu, &n)) return 0;
  return cpu->env.s.dr[n];
}

}  // namespace emu::x86
