// Hardware task switching (Intel SDM vol. 3, chapter 7): JMP/CALL to a TSS or a
// task gate, interrupts and exceptions through a task gate, IRET with NT set.
// 32-bit and 16-bit TSS formats; not available in IA-32e mode.
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

namespace {

// Where the dynamic fields live in each TSS format (SDM figures 7-2 and 7-11).
// General registers and segment selectors are stored in the order of the Reg
// and SegReg enums (EAX..EDI, ES CS SS DS FS GS).
struct TssLayout {
  unsigned eip, eflags, regs, segs, ldt, width, nsegs, min_limit;
};
constexpr TssLayout kTss32 = {0x20, 0x24, 0x28, 0x48, 0x60, 4, 6, 0x67};
constexpr TssLayout kTss16 = {0x0e, 0x10, 0x12, 0x22, 0x2a, 2, 4, 0x2b};

// The new task's state, read completely before anything is modified.
struct TssImage {
  uint64_t cr3 = 0, eip = 0, eflags = 0, regs[8] = {}, segs[kNumSegs] = {}, ldt = 0;
  bool trap = false;
};

bool ReadTss(X86Cpu* cpu, uint64_t base, const TssLayout& l, bool is32, TssImage* t) {
  auto rd = [&](unsigned off, unsigned size, uint64_t* v) { return cpu->Read(base + off, size, v, 0); };
  if (is32 && !rd(0x1c, 4, &t->cr3)) return false;
  if (!rd(l.eip, l.width, &t->eip) || !rd(l.eflags, l.width, &t->eflags)) return false;
  for (unsigned i = 0; i < 8; i++)
    if (!rd(l.regs + i * l.width, l.width, &t->regs[i])) return false;
  for (unsigned i = 0; i < l.nsegs; i++)
    if (!rd(l.segs + i * l.width, 2, &t->segs[i])) return false;
  if (!rd(l.ldt, 2, &t->ldt)) return false;
  uint64_t tbit = 0;
  if (is32 && !rd(0x64, 2, &tbit)) return false;
  t->trap = tbit & 1;
  return true;
}

// Saves the outgoing task's dynamic state in its TSS.
bool SaveTss(X86Cpu* cpu, uint64_t eip, uint64_t eflags) {
  const CpuState& s = cpu->env.s;
  const TssLayout& l = (s.tr.type() & 8) ? kTss32 : kTss16;
  auto wr = [&](unsigned off, unsigned size, uint64_t v) { return cpu->Write(s.tr.base + off, v, size, 0); };
  if (!wr(l.eip, l.width, eip) || !wr(l.eflags, l.width, eflags)) return false;
  for (unsigned i = 0; i < 8; i++)
    if (!wr(l.regs + i * l.width, l.width, s.regs[i])) return false;
  for (unsigned i = 0; i < l.nsegs; i++)
    if (!wr(l.segs + i * l.width, 2, s.seg[i].selector)) return false;
  return true;
}

bool SetBusy(X86Cpu* cpu, uint16_t sel, bool busy) {
  uint64_t lo, hi;
  if (!cpu->ReadDescriptor(sel, &lo, &hi, kGP)) return false;
  lo = busy ? (lo | (2ull << 40)) : (lo & ~(2ull << 40));
  return cpu->WriteDescriptorLow(sel, lo);
}

// Loads LDTR for the new task: a null selector leaves it unusable.
bool LoadTaskLdt(X86Cpu* cpu, uint16_t sel) {
  Segment& ldtr = cpu->env.s.ldtr;
  if ((sel & 0xfffc) == 0) {
    ldtr = Segment{};
    ldtr.selector = sel;
    ldtr.attr = 0;
    return true;
  }
  uint64_t lo = 0, hi = 0;
  if ((sel & 4) || !cpu->ReadDescriptor(sel, &lo, &hi, kTS)) {
    if (cpu->ctx.exit != accel::tcg::ExitStatus::kException) cpu->Raise(kTS, sel & 0xfffc, true);
    return false;
  }
  Segment n;
  X86Cpu::DescToSeg(sel, lo, 0, &n);
  if (n.s() || n.type() != 2 || !n.present()) {
    cpu->Raise(kTS, sel & 0xfffc, true);
    return false;
  }
  ldtr = n;
  return true;
}

// CS of the new task: a code segment whose DPL matches its RPL (conforming: not above).
bool LoadTaskCs(X86Cpu* cpu, uint16_t sel) {
  if ((sel & 0xfffc) == 0) {
    cpu->Raise(kTS, 0, true);
    return false;
  }
  uint64_t lo, hi;
  if (!cpu->ReadDescriptor(sel, &lo, &hi, kTS)) return false;
  Segment cs;
  X86Cpu::DescToSeg(sel, lo, 0, &cs);
  unsigned rpl = sel & 3;
  if (!cs.s() || !(cs.type() & 8) || ((cs.type() & 4) ? cs.dpl() > rpl : cs.dpl() != rpl)) {
    cpu->Raise(kTS, sel & 0xfffc, true);
    return false;
  }
  if (!cs.present()) {
    cpu->Raise(kNP, sel & 0xfffc, true);
    return false;
  }
  cpu->env.s.seg[CS] = cs;
  return true;
}

}  // namespace

bool X86Cpu::TaskSwitch(uint16_t sel, TaskReason why, uint64_t ret_eip, int64_t error) {
  CpuState& s = env.s;
  const bool iret = why == TaskReason::kIret;
  const int bad_vec = iret ? kTS : kGP;
  // The new TSS descriptor: in the GDT, a TSS, available (busy for IRET), present,
  // and large enough for its format.
  if (sel & 4) {
    Raise(bad_vec, sel & 0xfffc, true);
    return false;
  }
  uint64_t lo, hi;
  if (!ReadDescriptor(sel, &lo, &hi, bad_vec)) return false;
  Segment nt;
  DescToSeg(sel, lo, 0, &nt);
  unsigned type = nt.type();
  if (nt.s() || (type & 5) != 1 || ((type & 2) != 0) != iret) {
    Raise(bad_vec, sel & 0xfffc, true);
    return false;
  }
  if (!nt.present()) {
    Raise(kNP, sel & 0xfffc, true);
    return false;
  }
  const bool new32 = type & 8;
  const TssLayout& nl = new32 ? kTss32 : kTss16;
  if (nt.limit < nl.min_limit) {
    Raise(kTS, sel & 0xfffc, true);
    return false;
  }
  const bool old32 = s.tr.type() & 8;
  if (s.tr.limit < (old32 ? 0x5fu : 0x29u)) {
    Raise(kTS, s.tr.selector & 0xfffc, true);
    return false;
  }
  TssImage n;
  if (!ReadTss(this, nt.base, nl, new32, &n)) return false;

  // Outgoing task: state (NT cleared in the saved image on IRET), busy bit.
  uint64_t eflags = ComputeEflags(env);
  if (iret) eflags &= ~kFlagNT;
  if (!SaveTss(this, ret_eip, eflags)) return false;
  const uint16_t old_sel = s.tr.selector;
  if ((why == TaskReason::kJmp || iret) && !SetBusy(this, old_sel, false)) return false;
  if (!iret && !SetBusy(this, sel, true)) return false;
  const bool nest = why == TaskReason::kCall || why == TaskReason::kInt;
  if (nest && !Write(nt.base, old_sel, 2, 0)) return false;

  // Commit: from here on faults belong to the new task.
  fault_in_new_task = true;
  nt.attr |= 2;
  s.tr = nt;
  s.cr0 |= kCr0TS;
  if (new32 && (s.cr0 & kCr0PG)) {
    s.cr3 = n.cr3 & 0xffffffffu;
    FlushTlb();
  }
  uint64_t fl = new32 ? n.eflags : n.eflags & 0xffff;
  if (nest) fl |= kFlagNT;
  SetEflags(env, fl | 2);
  s.rip = new32 ? n.eip & 0xffffffffu : n.eip & 0xffff;
  ctx.insn_pc = s.rip;
  for (unsigned i = 0; i < 8; i++)
    s.regs[i] = new32 ? n.regs[i] & 0xffffffffu : (s.regs[i] & ~0xffffull) | (n.regs[i] & 0xffff);
  // Selectors first (a fault below leaves them visible to the handler), then the
  // descriptors with the checks, reported as #TS/#NP/#SS in the new task.
  for (int i = 0; i < kNumSegs; i++) {
    s.seg[i].selector = static_cast<uint16_t>(n.segs[i]);
    if (i != CS) s.seg[i].attr = 0;
  }
  s.ldtr.selector = static_cast<uint16_t>(n.ldt);
  if (!LoadTaskLdt(this, static_cast<uint16_t>(n.ldt))) return false;
  if (fl & kFlagVM) {
    // Entering virtual-8086 mode: real-mode style segments at CPL 3.
    env.cpl = 3;
    for (int i = 0; i < kNumSegs; i++) LoadSegReal(i, static_cast<uint16_t>(n.segs[i]));
  } else {
    uint16_t cs_sel = static_cast<uint16_t>(n.segs[CS]);
    env.cpl = static_cast<uint8_t>(cs_sel & 3);
    if (!LoadTaskCs(this, cs_sel)) return false;
    if ((n.segs[SS] & 0xfffc) == 0) {
      Raise(kTS, 0, true);
      return false;
    }
    if (!LoadSegProt(SS, static_cast<uint16_t>(n.segs[SS]), kTS)) return false;
    for (int sr : {ES, DS, FS, GS})
      if (!LoadSegProt(sr, static_cast<uint16_t>(n.segs[sr]), kTS)) return false;
  }
  if (error >= 0) {
    // Exceptions with an error code push it on the new task's stack.
    unsigned sp_size = s.seg[SS].db() ? 4 : 2;
    uint64_t sp = s.regs[RSP];
    if (!PushAt(s.seg[SS].base, &sp, sp_size, static_cast<uint64_t>(error), new32 ? 4 : 2, mmu_idx()))
      return false;
    s.regs[RSP] = sp_size == 4 ? sp : (s.regs[RSP] & ~0xffffull) | (sp & 0xffff);
  }
  if (s.rip > s.seg[CS].limit) {
    Raise(kGP, 0, true);
    return false;
  }
  if (n.trap) {
    // The TSS T flag: #DB (DR6.BT) before the new task's first instruction.
    s.dr[6] |= 1u << 15;
    Raise(kDB);
    return false;
  }
  fault_in_new_task = false;
  SettleRf();
  return true;
}

}  // namespace emu::x86
