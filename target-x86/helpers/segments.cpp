// Segment loads with protected-mode checks, descriptor tables, far JMP/CALL/RET,
// LLDT/LTR, LAR/LSL/VERR/VERW (Intel SDM vol. 3, chapter 5).
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

void X86Cpu::DescToSeg(uint16_t sel, uint64_t lo, uint64_t hi, Segment* s) {
  s->selector = sel;
  s->base = ((lo >> 16) & 0xffffff) | (((lo >> 56) & 0xff) << 24) | ((hi & 0xffffffffull) << 32);
  uint32_t limit = static_cast<uint32_t>((lo & 0xffff) | (((lo >> 48) & 0xf) << 16));
  s->attr = static_cast<uint16_t>(((lo >> 40) & 0xff) | (((lo >> 52) & 0xf) << 12));
  if (s->g()) limit = (limit << 12) | 0xfff;
  s->limit = limit;
}

bool X86Cpu::ReadDescriptor(uint16_t sel, uint64_t* lo, uint64_t* hi, int fault_vec) {
  const CpuState& s = env.s;
  uint64_t base, limit;
  if (sel & 4) {
    if (!s.ldtr.present() || (s.ldtr.selector & 0xfffc) == 0) {
      Raise(fault_vec, sel & 0xfffc, true);
      return false;
    }
    base = s.ldtr.base;
    limit = s.ldtr.limit;
  } else {
    base = s.gdtr.base;
    limit = s.gdtr.limit;
  }
  uint64_t idx = sel & 0xfff8;
  if (idx + 7 > limit) {
    Raise(fault_vec, sel & 0xfffc, true);
    return false;
  }
  if (!Read(base + idx, 8, lo, 0)) return false;
  *hi = 0;
  if ((env.s.efer & kEferLMA) && idx + 15 <= limit && !((*lo >> 44) & 1)) {
    if (!Read(base + idx + 8, 8, hi, 0)) return false;
  }
  return true;
}

bool X86Cpu::WriteDescriptorLow(uint16_t sel, uint64_t lo) {
  uint64_t base = (sel & 4) ? env.s.ldtr.base : env.s.gdtr.base;
  return Write(base + (sel & 0xfff8), lo, 8, 0);
}

void X86Cpu::LoadSegReal(int seg, uint16_t sel) {
  Segment& s = env.s.seg[seg];
  s.selector = sel;
  s.base = static_cast<uint64_t>(sel) << 4;
  if (env.s.rflags & kFlagVM) {
    s.limit = 0xffff;
    s.attr = seg == CS ? 0xfb : 0xf3;
  } else if (seg == CS && !(env.s.cr0 & kCr0PE)) {
    // Real mode keeps the cached limit and attributes ("unreal" mode), but CS is
    // always a 16-bit code segment after a real-mode far transfer.
    s.attr = static_cast<uint16_t>((s.attr & ~0x4000) | 0x9b);
  }
}

bool X86Cpu::LoadSeg(int seg, uint16_t sel) {
  if (!(env.s.cr0 & kCr0PE) || (env.s.rflags & kFlagVM)) {
    LoadSegReal(seg, sel);
    return true;
  }
  return LoadSegProt(seg, sel);
}

bool X86Cpu::LoadSegProt(int seg, uint16_t sel) {
  CpuState& s = env.s;
  const bool lma = s.efer & kEferLMA;
  const unsigned cpl = env.cpl;
  if ((sel & 0xfffc) == 0) {
    if (seg == SS && !(lma && s.seg[CS].l() && cpl < 3 && (sel & 3) == cpl)) {
      Raise(kGP, 0, true);
      return false;
    }
    Segment& d = s.seg[seg];
    d.selector = sel;
    d.base = 0;
    d.limit = 0;
    d.attr = 0;  // unusable
    return true;
  }
  uint64_t lo, hi;
  if (!ReadDescriptor(sel, &lo, &hi, kGP)) return false;
  Segment n;
  DescToSeg(sel, lo, 0, &n);
  unsigned rpl = sel & 3;
  if (seg == SS) {
    if (rpl != cpl || !n.s() || (n.type() & 8) || !(n.type() & 2) || n.dpl() != cpl) {
      Raise(kGP, sel & 0xfffc, true);
      return false;
    }
    if (!n.present()) {
      Raise(kSS, sel & 0xfffc, true);
      return false;
    }
  } else {
    bool code = n.type() & 8;
    if (!n.s() || (code && !(n.type() & 2))) {
      Raise(kGP, sel & 0xfffc, true);
      return false;
    }
    bool conforming_code = code && (n.type() & 4);
    if (!conforming_code && (rpl > n.dpl() || cpl > n.dpl())) {
      Raise(kGP, sel & 0xfffc, true);
      return false;
    }
    if (!n.present()) {
      Raise(kNP, sel & 0xfffc, true);
      return false;
    }
  }
  if (!(lo & (1ull << 40))) {
    lo |= 1ull << 40;  // accessed
    if (!WriteDescriptorLow(sel, lo)) return false;
    n.attr |= 1;
  }
  s.seg[seg] = n;
  return true;
}

X86_HELPER(HelperLoadSeg) {
  X86Cpu* cpu = CpuOf(ctx);
  cpu->LoadSeg(static_cast<int>(a), static_cast<uint16_t>(b));
  return 0;
}

namespace {

// Loads CS for a far JMP/CALL to a code segment descriptor (no gate) after the
// SDM's checks; does not commit. Returns false after recording a fault.
bool CheckCodeTarget(X86Cpu* cpu, uint16_t sel, uint64_t lo, Segment* cs) {
  X86Cpu::DescToSeg(sel, lo, 0, cs);
  unsigned cpl = cpu->env.cpl, rpl = sel & 3;
  if (!cs->s() || !(cs->type() & 8)) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  if (cs->type() & 4) {
    if (cs->dpl() > cpl) {
      cpu->Raise(kGP, sel & 0xfffc, true);
      return false;
    }
  } else if (rpl > cpl || cs->dpl() != cpl) {
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

uint64_t MaskIp(uint64_t ip, unsigned os) {
  return os == 8 ? ip : os == 4 ? (ip & 0xffffffffu) : (ip & 0xffff);
}

// Resolves a far transfer target: a code segment, or a call gate to one (same
// privilege only). Fills *cs and *ip; false after a fault.
bool ResolveFar(X86Cpu* cpu, uint16_t sel, uint64_t off, unsigned os, Segment* cs, uint64_t* ip,
                bool* gate_out) {
  *gate_out = false;
  if ((sel & 0xfffc) == 0) {
    cpu->Raise(kGP, 0, true);
    return false;
  }
  uint64_t lo, hi;
  if (!cpu->ReadDescriptor(sel, &lo, &hi, kGP)) return false;
  if ((lo >> 44) & 1) {
    if (!CheckCodeTarget(cpu, sel, lo, cs)) return false;
    *ip = MaskIp(off, os);
    return true;
  }
  unsigned type = (lo >> 40) & 0xf;
  if (type == 0xc || type == 0x4) {  // call gate (32/64-bit or 16-bit)
    unsigned dpl = (lo >> 45) & 3;
    if (dpl < cpu->env.cpl || dpl < (sel & 3)) {
      cpu->Raise(kGP, sel & 0xfffc, true);
      return false;
    }
    if (!((lo >> 47) & 1)) {
      cpu->Raise(kNP, sel & 0xfffc, true);
      return false;
    }
    uint16_t tsel = static_cast<uint16_t>(lo >> 16);
    uint64_t toff = (lo & 0xffff) | (type == 0xc ? ((lo >> 32) & 0xffff0000ull) : 0);
    if (cpu->env.s.efer & kEferLMA) toff |= hi << 32;
    uint64_t tlo, thi;
    if ((tsel & 0xfffc) == 0) {
      cpu->Raise(kGP, 0, true);
      return false;
    }
    if (!cpu->ReadDescriptor(tsel, &tlo, &thi, kGP)) return false;
    Segment t;
    X86Cpu::DescToSeg(tsel, tlo, 0, &t);
    if (!(t.type() & 4) && t.dpl() < cpu->env.cpl) {
      cpu->event = CpuEvent::kError;
      cpu->event_detail = "unimplemented: call gate to a more privileged level";
      cpu->Raise(kGP, tsel & 0xfffc, true);
      return false;
    }
    if (!CheckCodeTarget(cpu, static_cast<uint16_t>((tsel & 0xfffc) | cpu->env.cpl), tlo, cs))
      return false;
    *ip = toff;
    *gate_out = true;
    return true;
  }
  cpu->event = CpuEvent::kError;
  cpu->event_detail = "unimplemented: far transfer to a TSS or task gate";
  cpu->Raise(kGP, sel & 0xfffc, true);
  return false;
}

}  // namespace

X86_HELPER(HelperFarJmp) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  uint16_t sel = static_cast<uint16_t>(a);
  unsigned os = static_cast<unsigned>(c);
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) {
    cpu->LoadSegReal(CS, sel);
    s.rip = MaskIp(b, os);
    return 0;
  }
  Segment cs;
  uint64_t ip;
  bool gate;
  if (!ResolveFar(cpu, sel, b, os, &cs, &ip, &gate)) return 0;
  s.seg[CS] = cs;
  s.rip = ip;
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
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) {
    if (!cpu->PushAt(ssb, &sp, sp_size, s.seg[CS].selector, os, cpu->mmu_idx()) ||
        !cpu->PushAt(ssb, &sp, sp_size, next, os, cpu->mmu_idx()))
      return 0;
    cpu->LoadSegReal(CS, sel);
    s.rip = MaskIp(b, os);
  } else {
    Segment cs;
    uint64_t ip;
    bool gate;
    if (!ResolveFar(cpu, sel, b, os, &cs, &ip, &gate)) return 0;
    if (!cpu->PushAt(ssb, &sp, sp_size, s.seg[CS].selector, os, cpu->mmu_idx()) ||
        !cpu->PushAt(ssb, &sp, sp_size, next, os, cpu->mmu_idx()))
      return 0;
    s.seg[CS] = cs;
    s.rip = ip;
  }
  if (sp_size == 2) s.regs[RSP] = (s.regs[RSP] & ~0xffffull) | (sp & 0xffff);
  else s.regs[RSP] = sp;
  return 0;
}

X86_HELPER(HelperFarRet) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  unsigned os = static_cast<unsigned>(a);
  const bool code64 = (s.efer & kEferLMA) && s.seg[CS].l();
  unsigned sp_size = code64 ? 8 : (s.seg[SS].db() ? 4 : 2);
  uint64_t spmask = sp_size == 8 ? ~0ull : sp_size == 4 ? 0xffffffffull : 0xffffull;
  uint64_t sp = s.regs[RSP] & spmask;
  auto pop = [&](uint64_t* v) {
    uint64_t lin = code64 ? sp : ((s.seg[SS].base + sp) & 0xffffffffu);
    if (!cpu->Read(lin, os, v, cpu->mmu_idx())) return false;
    sp = (sp + os) & spmask;
    return true;
  };
  uint64_t ip, csv;
  if (!pop(&ip) || !pop(&csv)) return 0;
  uint16_t sel = static_cast<uint16_t>(csv);
  auto commit_sp = [&](uint64_t v, unsigned size) {
    if (size == 2) s.regs[RSP] = (s.regs[RSP] & ~0xffffull) | (v & 0xffff);
    else if (size == 4) s.regs[RSP] = v & 0xffffffffu;
    else s.regs[RSP] = v;
  };
  if (!(s.cr0 & kCr0PE) || (s.rflags & kFlagVM)) {
    cpu->LoadSegReal(CS, sel);
    s.rip = MaskIp(ip, os);
    commit_sp((sp + b) & spmask, sp_size);
    return 0;
  }
  unsigned rpl = sel & 3;
  if ((sel & 0xfffc) == 0 || rpl < e.cpl) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return 0;
  }
  uint64_t lo, hi;
  if (!cpu->ReadDescriptor(sel, &lo, &hi, kGP)) return 0;
  Segment cs;
  X86Cpu::DescToSeg(sel, lo, 0, &cs);
  if (!cs.s() || !(cs.type() & 8) || ((cs.type() & 4) ? cs.dpl() > rpl : cs.dpl() != rpl)) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return 0;
  }
  if (!cs.present()) {
    cpu->Raise(kNP, sel & 0xfffc, true);
    return 0;
  }
  if (rpl == e.cpl) {
    s.seg[CS] = cs;
    s.rip = MaskIp(ip, os);
    commit_sp((sp + b) & spmask, sp_size);
    return 0;
  }
  // Return to an outer level: pop SS:rSP as well.
  sp = (sp + b) & spmask;
  uint64_t nsp, ssv;
  if (!pop(&nsp) || !pop(&ssv)) return 0;
  uint16_t ss_sel = static_cast<uint16_t>(ssv);
  Segment ss;
  if ((ss_sel & 0xfffc) == 0) {
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  uint64_t slo, shi;
  if (!cpu->ReadDescriptor(ss_sel, &slo, &shi, kGP)) return 0;
  X86Cpu::DescToSeg(ss_sel, slo, 0, &ss);
  if ((ss_sel & 3) != rpl || !ss.s() || (ss.type() & 8) || !(ss.type() & 2) || ss.dpl() != rpl) {
    cpu->Raise(kGP, ss_sel & 0xfffc, true);
    return 0;
  }
  s.seg[CS] = cs;
  s.seg[SS] = ss;
  e.cpl = static_cast<uint8_t>(rpl);
  s.rip = MaskIp(ip, os);
  commit_sp(nsp + b, code64 && cs.l() ? 8 : (ss.db() ? 4 : 2));
  return 0;
}

X86_HELPER(HelperDescTable) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  const bool code64 = (s.efer & kEferLMA) && s.seg[CS].l();
  uint64_t lin = b;
  unsigned os = static_cast<unsigned>(c);
  DescriptorTable* t = (a == 0 || a == 2) ? &s.gdtr : &s.idtr;
  int mmu = cpu->mmu_idx();
  if (a < 2) {
    uint64_t limit, base;
    if (!cpu->Read(lin, 2, &limit, mmu)) return 0;
    if (!cpu->Read(lin + 2, code64 ? 8 : 4, &base, mmu)) return 0;
    if (!code64 && os == 2) base &= 0xffffff;
    t->limit = static_cast<uint16_t>(limit);
    t->base = base;
  } else {
    if (!cpu->Write(lin, t->limit, 2, mmu)) return 0;
    cpu->Write(lin + 2, code64 ? t->base : (t->base & 0xffffffffu), code64 ? 8 : 4, mmu);
  }
  return 0;
}

X86_HELPER(HelperLldtLtr) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  uint16_t sel = static_cast<uint16_t>(b);
  Segment* dst = a == 0 ? &s.ldtr : &s.tr;
  if ((sel & 0xfffc) == 0) {
    if (a == 1) {
      cpu->Raise(kGP, 0, true);
      return 0;
    }
    *dst = Segment{};
    dst->selector = sel;
    dst->attr = 0;
    return 0;
  }
  if (sel & 4) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return 0;
  }
  uint64_t lo, hi;
  if (!cpu->ReadDescriptor(sel, &lo, &hi, kGP)) return 0;
  if ((s.efer & kEferLMA) && (sel & 0xfff8) + 15 <= s.gdtr.limit) {
    if (!cpu->Read(s.gdtr.base + (sel & 0xfff8) + 8, 8, &hi, 0)) return 0;
  }
  Segment n;
  X86Cpu::DescToSeg(sel, lo, (s.efer & kEferLMA) ? hi : 0, &n);
  unsigned type = n.type();
  bool ok = !n.s() && (a == 0 ? type == 2 : (type == 1 || type == 9));
  if (!ok) {
    cpu->Raise(kGP, sel & 0xfffc, true);
    return 0;
  }
  if (!n.present()) {
    cpu->Raise(kNP, sel & 0xfffc, true);
    return 0;
  }
  if (a == 1) {
    lo |= 2ull << 40;  // busy
    if (!cpu->WriteDescriptorLow(sel, lo)) return 0;
    n.attr |= 2;
  }
  *dst = n;
  return 0;
}

X86_HELPER(HelperLarLsl) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  uint16_t sel = static_cast<uint16_t>(b);
  uint64_t cur = ComputeArith(e);
  auto fail = [&]() {
    e.cc_src = cur & ~kFlagZF;
    e.cc_op = kCcEflags;
    return 0;
  };
  if ((sel & 0xfffc) == 0) return fail();
  uint64_t lo, hi;
  // Descriptor reads outside the table clear ZF instead of faulting.
  const DescriptorTable& g = e.s.gdtr;
  uint64_t limit = (sel & 4) ? e.s.ldtr.limit : g.limit;
  if ((sel & 0xfff8) + 7u > limit) return fail();
  if (!cpu->ReadDescriptor(sel, &lo, &hi, kGP)) return 0;
  Segment d;
  X86Cpu::DescToSeg(sel, lo, 0, &d);
  unsigned rpl = sel & 3;
  if (d.s()) {
    bool conforming_code = (d.type() & 0xc) == 0xc;
    if (!conforming_code && (d.dpl() < e.cpl || d.dpl() < rpl)) return fail();
  } else {
    static const bool lar_ok[16] = {0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 0};
    static const bool lsl_ok[16] = {0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0};
    if (!(a == 0 ? lar_ok : lsl_ok)[d.type()] || d.dpl() < e.cpl || d.dpl() < rpl) return fail();
  }
  e.cc_src = cur | kFlagZF;
  e.cc_op = kCcEflags;
  uint64_t v = a == 0 ? (lo >> 32) & 0x00f0ff00ull : d.limit;
  return v | (1ull << 32);
}

X86_HELPER(HelperVerrVerw) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  uint16_t sel = static_cast<uint16_t>(b);
  uint64_t cur = ComputeArith(e);
  bool ok = false;
  uint64_t limit = (sel & 4) ? e.s.ldtr.limit : e.s.gdtr.limit;
  if ((sel & 0xfffc) != 0 && (sel & 0xfff8) + 7u <= limit) {
    uint64_t lo, hi;
    if (!cpu->ReadDescriptor(sel, &lo, &hi, kGP)) return 0;
    Segment d;
    X86Cpu::DescToSeg(sel, lo, 0, &d);
    bool code = d.type() & 8;
    bool conforming_code = code && (d.type() & 4);
    bool priv = conforming_code || (d.dpl() >= e.cpl && d.dpl() >= (sel & 3u));
    if (d.s() && priv) ok = a == 0 ? (!code || (d.type() & 2)) : (!code && (d.type() & 2));
  }
  e.cc_src = ok ? (cur | kFlagZF) : (cur & ~kFlagZF);
  e.cc_op = kCcEflags;
  return 0;
}

}  // namespace emu::x86
