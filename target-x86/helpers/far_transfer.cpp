// Far JMP/CALL/RET in protected and long mode (Intel SDM vol. 2, JMP/CALL/RET
// pseudocode; vol. 3, 5.8 "Privilege level checking when transferring program
// control between code segments"): code segments, call gates (same and more
// privileged level, 16/32-bit with parameter copying, 64-bit), TSS descriptors
// and task gates (task switches, task.cpp), and the return checks far RET shares
// with IRET.
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

bool X86Cpu::CheckReturnCs(uint16_t sel, Segment* cs) {
  unsigned rpl = sel & 3;
  if ((sel & 0xfffc) == 0 || rpl < env.cpl) {
    Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  uint64_t lo, hi;
  if (!ReadDescriptor(sel, &lo, &hi, kGP)) return false;
  DescToSeg(sel, lo, 0, cs);
  if (!cs->s() || !(cs->type() & 8) || ((cs->type() & 4) ? cs->dpl() > rpl : cs->dpl() != rpl)) {
    Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  if (!cs->present()) {
    Raise(kNP, sel & 0xfffc, true);
    return false;
  }
  return true;
}

bool X86Cpu::CheckReturnSs(uint16_t sel, unsigned rpl, bool to64, Segment* ss) {
  if ((sel & 0xfffc) == 0) {
    // A null SS is only allowed when returning to 64-bit code below ring 3.
    if (!(to64 && rpl < 3)) {
      Raise(kGP, 0, true);
      return false;
    }
    *ss = Segment{};
    ss->selector = sel;
    ss->attr = 0;
    return true;
  }
  uint64_t lo, hi;
  if (!ReadDescriptor(sel, &lo, &hi, kGP)) return false;
  DescToSeg(sel, lo, 0, ss);
  if ((sel & 3) != rpl || !ss->s() || (ss->type() & 8) || !(ss->type() & 2) || ss->dpl() != rpl) {
    Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  if (!ss->present()) {
    Raise(kSS, sel & 0xfffc, true);
    return false;
  }
  return true;
}

X86Cpu::StackPops::StackPops(X86Cpu* c, unsigned operand_size) : cpu(c), os(operand_size) {
  const CpuState& s = c->env.s;
  code64 = (s.efer & kEferLMA) && s.seg[CS].l();
  sp_size = code64 ? 8 : (s.seg[SS].db() ? 4 : 2);
  mask = sp_size == 8 ? ~0ull : sp_size == 4 ? 0xffffffffull : 0xffffull;
  sp = s.regs[RSP] & mask;
}

bool X86Cpu::StackPops::Pop(uint64_t* v) {
  uint64_t lin = code64 ? sp : ((cpu->env.s.seg[SS].base + sp) & 0xffffffffu);
  if (!cpu->Read(lin, os, v, cpu->mmu_idx())) return false;
  sp = (sp + os) & mask;
  return true;
}

void X86Cpu::NullInaccessibleDataSegs(unsigned new_cpl) {
  for (int sr : {ES, DS, FS, GS}) {
    Segment& d = env.s.seg[sr];
    bool conforming_code = (d.type() & 0xc) == 0xc;
    if (d.s() && !conforming_code && d.dpl() < new_cpl) {
      d.selector = 0;
      d.attr = 0;
    }
  }
}

namespace {

uint64_t MaskIp(uint64_t ip, unsigned os) {
  return os == 8 ? ip : os == 4 ? (ip & 0xffffffffu) : (ip & 0xffff);
}

void CommitSp(CpuState& s, uint64_t v, unsigned size) {
  if (size == 2) s.regs[RSP] = (s.regs[RSP] & ~0xffffull) | (v & 0xffff);
  else if (size == 4) s.regs[RSP] = v & 0xffffffffu;
  else s.regs[RSP] = v;
}

// Where a far JMP/CALL goes once its selector is resolved.
struct FarTarget {
  enum Kind { kFault, kTask, kCode, kGate } kind = kFault;
  Segment cs;              // new CS (selector RPL already the new CPL)
  uint64_t ip = 0;
  unsigned push_size = 0;  // call gates: 2, 4 or 8 (the gate's size), else the operand size
  unsigned params = 0;     // call gates: words/dwords copied to the inner stack
  bool inner = false;      // call gate to a more privileged level
};

// Code segment checks for a direct far JMP/CALL (no gate).
bool CheckDirectCode(X86Cpu* cpu, uint16_t sel, uint64_t lo, Segment* cs) {
  X86Cpu::DescToSeg(sel, lo, 0, cs);
  unsigned cpl = cpu->env.cpl, rpl = sel & 3;
  bool bad = (cs->type() & 4) ? cs->dpl() > cpl : (rpl > cpl || cs->dpl() != cpl);
  if (!(cs->type() & 8) || bad) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  if (!cs->present()) {
    cpu->Raise(kNP, sel & 0xfffc, true);
    return false;
  }
  cs->selector = static_cast<uint16_t>((sel & 0xfffc) | cpl);
  return true;
}

// Call gate (SDM vol. 3, 5.8.3-5.8.6). JMP may only reach the same level.
bool ResolveCallGate(X86Cpu* cpu, uint16_t sel, uint64_t lo, uint64_t hi, bool call, FarTarget* t) {
  const bool lma = cpu->env.s.efer & kEferLMA;
  const unsigned cpl = cpu->env.cpl;
  unsigned type = (lo >> 40) & 0xf;
  unsigned dpl = (lo >> 45) & 3;
  // In IA-32e mode only the 64-bit form (type 0xC) exists; its upper half has type 0.
  if ((lma && (type != 0xc || ((hi >> 40) & 0x1f) != 0)) || dpl < cpl || dpl < (sel & 3u)) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  if (!((lo >> 47) & 1)) {
    cpu->Raise(kNP, sel & 0xfffc, true);
    return false;
  }
  uint16_t tsel = static_cast<uint16_t>(lo >> 16);
  if ((tsel & 0xfffc) == 0) {
    cpu->Raise(kGP, 0, true);
    return false;
  }
  uint64_t tlo, thi;
  if (!cpu->ReadDescriptor(tsel, &tlo, &thi, kGP)) return false;
  Segment& cs = t->cs;
  X86Cpu::DescToSeg(tsel, tlo, 0, &cs);
  bool conforming = cs.type() & 4;
  bool bad = !cs.s() || !(cs.type() & 8) || cs.dpl() > cpl ||
             (!call && !conforming && cs.dpl() != cpl) || (lma && (!cs.l() || cs.db()));
  if (bad) {
    cpu->Raise(kGP, tsel & 0xfffc, true);
    return false;
  }
  if (!cs.present()) {
    cpu->Raise(kNP, tsel & 0xfffc, true);
    return false;
  }
  t->inner = call && !conforming && cs.dpl() < cpl;
  unsigned new_cpl = t->inner ? cs.dpl() : cpl;
  cs.selector = static_cast<uint16_t>((tsel & 0xfffc) | new_cpl);
  t->push_size = lma ? 8 : type == 0xc ? 4 : 2;
  t->params = lma ? 0 : (lo >> 32) & 0x1f;
  uint64_t off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull) | (lma ? hi << 32 : 0);
  t->ip = MaskIp(off, t->push_size);
  t->kind = FarTarget::kGate;
  return true;
}

// Resolves the selector of a protected-mode far JMP/CALL. A TSS or task gate
// switches tasks right here (kTask: nothing left to do).
FarTarget ResolveFar(X86Cpu* cpu, uint16_t sel, uint64_t off, unsigned os, bool call,
                     uint64_t next) {
  FarTarget t;
  if ((sel & 0xfffc) == 0) {
    cpu->Raise(kGP, 0, true);
    return t;
  }
  uint64_t lo, hi;
  if (!cpu->ReadDescriptor(sel, &lo, &hi, kGP)) return t;
  if ((lo >> 44) & 1) {
    if (!CheckDirectCode(cpu, sel, lo, &t.cs)) return t;
    t.ip = MaskIp(off, os);
    t.push_size = os;
    t.kind = FarTarget::kCode;
    return t;
  }
  const bool lma = cpu->env.s.efer & kEferLMA;
  unsigned type = (lo >> 40) & 0xf;
  if (type == 0xc || type == 0x4) {
    ResolveCallGate(cpu, sel, lo, hi, call, &t);
    return t;
  }
  // Task switches (not in IA-32e mode): an available TSS or a task gate whose
  // DPL allows the caller.
  unsigned dpl = (lo >> 45) & 3;
  bool tss = type == 0x1 || type == 0x9;
  if (lma || (!tss && type != 0x5) || dpl < cpu->env.cpl || dpl < (sel & 3u)) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return t;
  }
  if (!((lo >> 47) & 1)) {
    cpu->Raise(kNP, sel & 0xfffc, true);
    return t;
  }
  uint16_t tss_sel = tss ? sel : static_cast<uint16_t>(lo >> 16);
  auto why = call ? X86Cpu::TaskReason::kCall : X86Cpu::TaskReason::kJmp;
  if (cpu->TaskSwitch(tss_sel, why, next, -1)) t.kind = FarTarget::kTask;
  return t;
}

// CALL through a call gate to a more privileged level: new stack from the TSS,
// old SS:ESP and `params` parameters copied there, then the return address.
bool CallInner(X86Cpu* cpu, const FarTarget& t, uint64_t next) {
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  const bool lma = s.efer & kEferLMA;
  const unsigned new_cpl = t.cs.dpl();
  const unsigned ps = t.push_size;
  Segment ss;
  uint64_t sp = 0;
  unsigned sp_size;
  if (lma) {
    uint64_t off = 4 + 8 * new_cpl;
    if (off + 7 > s.tr.limit) {
      cpu->Raise(kTS, s.tr.selector & 0xfffc, true);
      return false;
    }
    if (!cpu->Read(s.tr.base + off, 8, &sp, 0)) return false;
    ss.selector = static_cast<uint16_t>(new_cpl);  // null SS with RPL = new CPL
    ss.attr = 0;
    sp_size = 8;
  } else {
    bool tss32 = s.tr.type() & 8;
    uint64_t off = tss32 ? 4 + 8 * new_cpl : 2 + 4 * new_cpl;
    uint64_t ssv = 0;
    if (off + (tss32 ? 5 : 3) > s.tr.limit) {
      cpu->Raise(kTS, s.tr.selector & 0xfffc, true);
      return false;
    }
    if (!cpu->Read(s.tr.base + off, tss32 ? 4 : 2, &sp, 0) ||
        !cpu->Read(s.tr.base + off + (tss32 ? 4 : 2), 2, &ssv, 0))
      return false;
    uint16_t ss_sel = static_cast<uint16_t>(ssv);
    if ((ss_sel & 0xfffc) == 0) {
      cpu->Raise(kTS, 0, true);
      return false;
    }
    uint64_t slo, shi;
    if (!cpu->ReadDescriptor(ss_sel, &slo, &shi, kTS)) return false;
    X86Cpu::DescToSeg(ss_sel, slo, 0, &ss);
    if ((ss_sel & 3) != new_cpl || !ss.s() || (ss.type() & 8) || !(ss.type() & 2) ||
        ss.dpl() != new_cpl) {
      cpu->Raise(kTS, ss_sel & 0xfffc, true);
      return false;
    }
    if (!ss.present()) {
      cpu->Raise(kSS, ss_sel & 0xfffc, true);
      return false;
    }
    sp_size = ss.db() ? 4 : 2;
  }
  // Parameters from the caller's stack (read before anything is written).
  const bool code64 = lma && s.seg[CS].l();
  const unsigned old_sp_size = code64 ? 8 : (s.seg[SS].db() ? 4 : 2);
  const uint64_t old_mask = old_sp_size == 8 ? ~0ull : old_sp_size == 4 ? 0xffffffffull : 0xffffull;
  uint64_t params[31];
  for (unsigned i = 0; i < t.params; i++) {
    uint64_t a = (s.regs[RSP] + i * ps) & old_mask;
    uint64_t lin = code64 ? a : ((s.seg[SS].base + a) & 0xffffffffu);
    if (!cpu->Read(lin, ps, &params[i], cpu->mmu_idx())) return false;
  }
  const uint64_t ssb = lma ? 0 : ss.base;
  const int mmu = new_cpl == 3 ? 1 : 0;
  bool ok = cpu->PushAt(ssb, &sp, sp_size, s.seg[SS].selector, ps, mmu) &&
            cpu->PushAt(ssb, &sp, sp_size, s.regs[RSP] & old_mask, ps, mmu);
  for (unsigned i = t.params; ok && i-- > 0;) ok = cpu->PushAt(ssb, &sp, sp_size, params[i], ps, mmu);
  ok = ok && cpu->PushAt(ssb, &sp, sp_size, s.seg[CS].selector, ps, mmu) &&
       cpu->PushAt(ssb, &sp, sp_size, next, ps, mmu);
  if (!ok) return false;
  s.seg[SS] = ss;
  CommitSp(s, sp, sp_size);
  s.seg[CS] = t.cs;
  e.cpl = static_cast<uint8_t>(new_cpl);
  s.rip = t.ip;
  return true;
}

}  // namespace

// a = selector, b = offset, c = opsize | next_rip << 8
X86_HELPER(HelperFarJmp) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  uint16_t sel = static_cast<uint16_t>(a);
  unsigned os = c & 0xff;
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) {
    cpu->LoadSegReal(CS, sel);
    s.rip = MaskIp(b, os);
    return 0;
  }
  FarTarget t = ResolveFar(cpu, sel, b, os, false, c >> 8);
  if (t.kind == FarTarget::kCode || t.kind == FarTarget::kGate) {
    s.seg[CS] = t.cs;
    s.rip = t.ip;
  }
  return 0;
}

X86_HELPER(HelperFarCall) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  uint16_t sel = static_cast<uint16_t>(a);
  unsigned os = c & 0xff;
  uint64_t next = c >> 8;
  const bool code64 = (s.efer & kEferLMA) && s.seg[CS].l();
  unsigned sp_size = code64 ? 8 : (s.seg[SS].db() ? 4 : 2);
  uint64_t sp = s.regs[RSP];
  uint64_t ssb = code64 ? 0 : s.seg[SS].base;
  Segment cs;
  uint64_t ip;
  unsigned ps = os;
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) {
    cs = s.seg[CS];
    ip = MaskIp(b, os);
  } else {
    FarTarget t = ResolveFar(cpu, sel, b, os, true, next);
    if (t.kind == FarTarget::kFault || t.kind == FarTarget::kTask) return 0;
    if (t.inner) {
      CallInner(cpu, t, next);
      return 0;
    }
    cs = t.cs;
    ip = t.ip;
    ps = t.push_size;
  }
  if (!cpu->PushAt(ssb, &sp, sp_size, s.seg[CS].selector, ps, cpu->mmu_idx()) ||
      !cpu->PushAt(ssb, &sp, sp_size, next, ps, cpu->mmu_idx()))
    return 0;
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) cpu->LoadSegReal(CS, sel);
  else s.seg[CS] = cs;
  s.rip = ip;
  CommitSp(s, sp, sp_size);
  return 0;
}

// a = opsize, b = extra bytes to release (RET imm16).
X86_HELPER(HelperFarRet) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  unsigned os = static_cast<unsigned>(a);
  X86Cpu::StackPops st(cpu, os);
  uint64_t ip, csv;
  if (!st.Pop(&ip) || !st.Pop(&csv)) return 0;
  uint16_t sel = static_cast<uint16_t>(csv);
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) {
    cpu->LoadSegReal(CS, sel);
    s.rip = MaskIp(ip, os);
    CommitSp(s, (st.sp + b) & st.mask, st.sp_size);
    return 0;
  }
  Segment cs;
  if (!cpu->CheckReturnCs(sel, &cs)) return 0;
  unsigned rpl = sel & 3;
  if (rpl == e.cpl) {
    s.seg[CS] = cs;
    s.rip = MaskIp(ip, os);
    CommitSp(s, (st.sp + b) & st.mask, st.sp_size);
    return 0;
  }
  // Return to an outer level: pop SS:rSP as well.
  st.sp = (st.sp + b) & st.mask;
  uint64_t nsp, ssv;
  if (!st.Pop(&nsp) || !st.Pop(&ssv)) return 0;
  const bool to64 = (s.efer & kEferLMA) && cs.l();
  Segment ss;
  if (!cpu->CheckReturnSs(static_cast<uint16_t>(ssv), rpl, to64, &ss)) return 0;
  s.seg[CS] = cs;
  s.seg[SS] = ss;
  e.cpl = static_cast<uint8_t>(rpl);
  s.rip = MaskIp(ip, os);
  CommitSp(s, nsp + b, to64 ? 8 : (ss.db() ? 4 : 2));
  cpu->NullInaccessibleDataSegs(rpl);
  return 0;
}

}  // namespace emu::x86
