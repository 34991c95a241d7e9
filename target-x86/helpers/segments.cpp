// Segment loads with protected-mode checks, descriptor tables,
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

bool X86Cpu::LoadSegProt(int seg, uint16_t sel, int fault_vec) {
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
  if (!ReadDescriptor(sel, &lo, &hi, fault_vec)) return false;
  Segment n;
  DescToSeg(sel, lo, 0, &n);
  unsigned rpl = sel & 3;
  if (seg == SS) {
    if (rpl != cpl || !n.s() || (n.type() & 8) || !(n.type() & 2) || n.dpl() != cpl) {
      Raise(fault_vec, sel & 0xfffc, true);
      return false;
    }
    if (!n.present()) {
      Raise(kSS, sel & 0xfffc, true);
      return false;
    }
  } else {
    bool code = n.type() & 8;
    if (!n.s() || (code && !(n.type() & 2))) {
      Raise(fault_vec, sel & 0xfffc, true);
      return false;
    }
    bool conforming_code = code && (n.type() & 4);
    if (!conforming_code && (rpl > n.dpl() || cpl > n.dpl())) {
      Raise(fault_vec, sel & 0xfffc, true);
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
