// Exception and interrupt delivery in real, protected and long mode (Intel SDM
// vol. 3, chapter 6), #DF and triple-fault rules, INT n and IRET.
#include <cstdio>

#include "hw/core/log.h"
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

using accel::tcg::ExitStatus;

namespace {

bool Contributory(int v) { return v == kDE || (v >= kTS && v <= kGP); }

// Fault-class exceptions (restartable; #DB faults are the debug code's business).
bool FaultClass(int v) {
  return v == kDE || v == kBR || v == kUD || v == kNM || (v >= kTS && v <= kPF) || v == kMF ||
         v == kAC || v == kXM;
}

}  // namespace

void X86Cpu::DeliverPendingException() {
  int vec = env.exc_vector;
  bool soft = env.exc_soft;
  bool has_err = env.exc_has_error;
  uint32_t err = env.exc_error;
  uint64_t ret = soft ? env.exc_next_rip : ctx.insn_pc;
  env.exc_vector = -1;
  ctx.exit = ExitStatus::kNone;
  if (vec < 0) return;
  env.s.rip = ctx.insn_pc;  // the state is that of the faulting instruction
  for (int depth = 0;; depth++) {
    fault_in_new_task = false;
    // SDM vol. 3, 17.3.1.1: a fault pushes RF = 1 (the restarted instruction
    // must not hit its instruction breakpoint again); delivery then clears RF.
    if (!soft && FaultClass(vec)) env.s.rflags |= kFlagRF;
    if (DoInterrupt(vec, soft, has_err, err, ret)) return;
    int nv = env.exc_vector;
    env.exc_vector = -1;
    ctx.exit = ExitStatus::kNone;
    if (fault_in_new_task && depth < 8) {
      vec = nv;
      err = env.exc_error;
      has_err = env.exc_has_error;
      soft = false;
      ret = ctx.insn_pc;
      continue;
    }
    if (vec == kDF || depth > 3) {
      event = CpuEvent::kShutdown;
      event_detail = "triple fault";
      hw::Log(hw::LogMask::kGuestErrors,
              "tcg: triple fault: exception %d while delivering exception %d at %04x:%llx", nv, vec,
              env.s.seg[CS].selector, static_cast<unsigned long long>(ctx.insn_pc));
      return;
    }
    if ((Contributory(vec) && Contributory(nv)) || (vec == kPF && (nv == kPF || Contributory(nv)))) {
      vec = kDF;
      err = 0;
      has_err = true;
    } else {
      vec = nv;
      err = env.exc_error;
      has_err = env.exc_has_error;
    }
    soft = false;
    ret = ctx.insn_pc;
  }
}

void X86Cpu::TakeInterrupt(int vector) {
  env.s.halted = false;
  ctx.insn_pc = env.s.rip;
  if (!DoInterrupt(vector, false, false, 0, env.s.rip)) DeliverPendingException();
}

bool X86Cpu::DoInterrupt(int vector, bool soft, bool has_error, uint32_t error,
                         uint64_t ret_rip) {
  CpuState& s = env.s;
  const uint64_t flags = ComputeEflags(env);
  if (!(s.cr0 & kCr0PE)) {
    // Real mode: IVT entry offset:segment; push FLAGS, CS, IP.
    if (static_cast<uint64_t>(vector) * 4 + 3 > s.idtr.limit) {
      Raise(kGP, vector * 8 + 2, true);
      return false;
    }
    uint64_t ent = 0;
    if (!Read(s.idtr.base + vector * 4, 4, &ent, 0)) return false;
    uint64_t sp = s.regs[RSP] & 0xffff;
    uint64_t ssb = s.seg[SS].base;
    if (!PushAt(ssb, &sp, 2, flags & 0xffff, 2, 0) || !PushAt(ssb, &sp, 2, s.seg[CS].selector, 2, 0) ||
        !PushAt(ssb, &sp, 2, ret_rip & 0xffff, 2, 0))
      return false;
    s.regs[RSP] = (s.regs[RSP] & ~0xffffull) | sp;
    s.rflags &= ~(kFlagIF | kFlagTF | kFlagAC | kFlagRF);
    LoadSegReal(CS, static_cast<uint16_t>(ent >> 16));
    s.rip = ent & 0xffff;
    return true;
  }
  const bool lma = s.efer & kEferLMA;
  const unsigned ent_size = lma ? 16 : 8;
  const uint32_t idt_err = vector * 8 + 2 + (soft ? 0 : 0);
  if (static_cast<uint64_t>(vector) * ent_size + ent_size - 1 > s.idtr.limit) {
    Raise(kGP, idt_err, true);
    return false;
  }
  uint64_t lo = 0, hi = 0;
  if (!Read(s.idtr.base + vector * ent_size, 8, &lo, 0)) return false;
  if (lma && !Read(s.idtr.base + vector * ent_size + 8, 8, &hi, 0)) return false;
  unsigned type = (lo >> 40) & 0xf;
  unsigned gate_dpl = (lo >> 45) & 3;
  bool present = (lo >> 47) & 1;
  bool gate32 = type == 0xe || type == 0xf;
  bool gate16 = type == 0x6 || type == 0x7;
  const bool task_gate = type == 0x5 && !lma;
  if (!gate32 && !gate16 && !task_gate) {
    Raise(kGP, idt_err, true);
    return false;
  }
  if ((lma && !gate32) || (soft && gate_dpl < env.cpl)) {
    Raise(kGP, idt_err, true);
    return false;
  }
  if (!present) {
    Raise(kNP, idt_err, true);
    return false;
  }
  if (task_gate) {
    // The error code goes on the new task's stack (SDM vol. 3, 6.12.2).
    return TaskSwitch(static_cast<uint16_t>(lo >> 16), TaskReason::kInt, ret_rip,
                      has_error ? int64_t{error} : -1);
  }
  const bool trap = type & 1;
  uint16_t sel = static_cast<uint16_t>(lo >> 16);
  uint64_t offset = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ull);
  if (lma) offset |= hi << 32;
  if ((sel & 0xfffc) == 0) {
    Raise(kGP, 0, true);
    return false;
  }
  uint64_t clo, chi;
  if (!ReadDescriptor(sel, &clo, &chi, kGP)) return false;
  Segment cs;
  DescToSeg(sel, clo, 0, &cs);
  if (!cs.s() || !(cs.type() & 8) || cs.dpl() > env.cpl) {
    Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  if (!cs.present()) {
    Raise(kNP, sel & 0xfffc, true);
    return false;
  }
  if (lma && (!cs.l() || cs.db())) {
    Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  // From virtual-8086 mode only a non-conforming ring-0 handler can be reached.
  const bool from_vm86 = s.rflags & kFlagVM;
  const bool conforming = cs.type() & 4;
  if (from_vm86 && (conforming || cs.dpl() != 0)) {
    Raise(kGP, sel & 0xfffc, true);
    return false;
  }
  unsigned new_cpl = conforming ? env.cpl : cs.dpl();
  unsigned ist = lma ? (lo >> 32) & 7 : 0;
  bool stack_switch = new_cpl < env.cpl;
  uint64_t old_ss = s.seg[SS].selector, old_sp = s.regs[RSP];
  Segment new_ss = s.seg[SS];
  uint64_t sp = s.regs[RSP];
  unsigned sp_size = lma ? 8 : (s.seg[SS].db() ? 4 : 2);
  if (lma) {
    if (stack_switch || ist) {
      uint64_t off = ist ? 0x24 + 8 * (ist - 1) : 4 + 8 * new_cpl;
      if (off + 7 > s.tr.limit) {
        Raise(kTS, s.tr.selector & 0xfffc, true);
        return false;
      }
      if (!Read(s.tr.base + off, 8, &sp, 0)) return false;
    }
    if (stack_switch) {
      new_ss = Segment{};
      new_ss.selector = static_cast<uint16_t>(new_cpl);
      new_ss.attr = 0;  // null SS in 64-bit mode
    }
    sp &= ~0xfull;
    sp_size = 8;
  } else if (stack_switch) {
    // 32-bit TSS: ESPn at 4 + 8n, SSn at 8 + 8n (16-bit TSS: 2 + 4n / 4 + 4n).
    bool tss32 = (s.tr.type() & 8) != 0;
    uint64_t esp = 0, ssv = 0;
    uint64_t off = tss32 ? 4 + 8 * new_cpl : 2 + 4 * new_cpl;
    if (off + (tss32 ? 7 : 3) > s.tr.limit) {
      Raise(kTS, s.tr.selector & 0xfffc, true);
      return false;
    }
    if (!Read(s.tr.base + off, tss32 ? 4 : 2, &esp, 0) ||
        !Read(s.tr.base + off + (tss32 ? 4 : 2), 2, &ssv, 0))
      return false;
    uint16_t ss_sel = static_cast<uint16_t>(ssv);
    if ((ss_sel & 0xfffc) == 0 || (ss_sel & 3) != new_cpl) {
      Raise(kTS, ss_sel & 0xfffc, true);
      return false;
    }
    uint64_t slo, shi;
    if (!ReadDescriptor(ss_sel, &slo, &shi, kTS)) return false;
    DescToSeg(ss_sel, slo, 0, &new_ss);
    if (!new_ss.s() || (new_ss.type() & 8) || !(new_ss.type() & 2) || new_ss.dpl() != new_cpl) {
      Raise(kTS, ss_sel & 0xfffc, true);
      return false;
    }
    if (!new_ss.present()) {
      Raise(kSS, ss_sel & 0xfffc, true);
      return false;
    }
    sp = esp;
    sp_size = new_ss.db() ? 4 : 2;
  }
  const unsigned psize = lma ? 8 : gate32 ? 4 : 2;
  const uint64_t ssb = lma ? 0 : new_ss.base;
  const int mmu = new_cpl == 3 ? 1 : 0;
  uint64_t sp_work = sp;
  bool ok = true;
  if (from_vm86) {
    for (int sr : {GS, FS, DS, ES}) ok = ok && PushAt(ssb, &sp_work, sp_size, s.seg[sr].selector, psize, mmu);
  }
  if (lma || stack_switch) {
    ok = ok && PushAt(ssb, &sp_work, sp_size, old_ss, psize, mmu);
    ok = ok && PushAt(ssb, &sp_work, sp_size, old_sp, psize, mmu);
  }
  ok = ok && PushAt(ssb, &sp_work, sp_size, flags, psize, mmu);
  ok = ok && PushAt(ssb, &sp_work, sp_size, s.seg[CS].selector, psize, mmu);
  ok = ok && PushAt(ssb, &sp_work, sp_size, ret_rip, psize, mmu);
  if (has_error) ok = ok && PushAt(ssb, &sp_work, sp_size, error, psize, mmu);
  if (!ok) return false;
  // Commit.
  if (stack_switch || lma) {
    if (stack_switch) s.seg[SS] = new_ss;
  }
  if (sp_size == 8) s.regs[RSP] = sp_work;
  else if (sp_size == 4) s.regs[RSP] = sp_work & 0xffffffffu;
  else s.regs[RSP] = (s.regs[RSP] & ~0xffffull) | (sp_work & 0xffff);
  if (from_vm86) {
    for (int sr : {ES, DS, FS, GS}) {
      s.seg[sr] = Segment{};
      s.seg[sr].limit = 0;
      s.seg[sr].attr = 0;  // null: unusable in protected mode
    }
  }
  cs.selector = static_cast<uint16_t>((sel & 0xfffc) | new_cpl);
  s.seg[CS] = cs;
  env.cpl = static_cast<uint8_t>(new_cpl);
  s.rip = lma ? offset : (gate32 ? offset & 0xffffffffu : offset & 0xffff);
  s.rflags &= ~(kFlagTF | kFlagNT | kFlagRF | kFlagVM);
  if (!trap) s.rflags &= ~kFlagIF;
  return true;
}

X86_HELPER(HelperRaise) {
  CpuOf(ctx)->Raise(static_cast<int>(a), static_cast<uint32_t>(b), (b >> 32) & 1);
  return 0;
}

X86_HELPER(HelperIntN) {
  X86Cpu* cpu = CpuOf(ctx);
  if (a >= 256) return 0;  // INTO without overflow
  const CpuState& s = cpu->env.s;
  if ((s.rflags & kFlagVM) && ((s.rflags >> 12) & 3) < 3 && !c) {
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  cpu->RaiseSoft(static_cast<int>(a), b);
  return 0;
}

// IRET in all modes. a = operand size, b = rip of the next instruction (saved in
// the old TSS by a task return).
X86_HELPER(HelperIret) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  unsigned os = static_cast<unsigned>(a);
  const bool lma = s.efer & kEferLMA;
  const bool pe = s.cr0 & kCr0PE;
  if (pe && !(s.rflags & kFlagVM) && (s.rflags & kFlagNT)) {
    // Task return through the back link (SDM vol. 3, 7.3); not in IA-32e mode.
    if (lma) {
      cpu->Raise(kGP, 0, true);
      return 0;
    }
    uint64_t link = 0;
    if (!cpu->Read(s.tr.base, 2, &link, 0)) return 0;
    if (cpu->TaskSwitch(static_cast<uint16_t>(link), X86Cpu::TaskReason::kIret, b, -1)) cpu->SettleRf();
    return 0;
  }
  X86Cpu::StackPops st(cpu, os);
  const bool code64 = st.code64;
  const uint64_t spmask = st.mask;
  auto pop = [&](uint64_t* v) { return st.Pop(v); };
  uint64_t ip, csv, fl;
  if (!pop(&ip) || !pop(&csv) || !pop(&fl)) return 0;
  uint16_t cs_sel = static_cast<uint16_t>(csv);
  uint64_t cur = ComputeEflags(e);
  if (!pe || (s.rflags & kFlagVM)) {
    if ((s.rflags & kFlagVM) && ((s.rflags >> 12) & 3) < 3) {
      cpu->Raise(kGP, 0, true);
      return 0;
    }
    uint64_t mask = os == 2 ? 0xffffull : 0x257fd5ull;  // not VM, VIF, VIP
    if (s.rflags & kFlagVM) mask &= ~kFlagIOPL;
    SetEflags(e, (cur & ~mask) | (fl & mask));
    cpu->LoadSegReal(CS, cs_sel);
    s.rip = ip & (os == 2 ? 0xffff : 0xffffffff);
    s.regs[RSP] = (s.regs[RSP] & ~spmask) | st.sp;
    cpu->SettleRf();
    return 0;
  }
  if (!lma && (fl & kFlagVM) && e.cpl == 0 && os == 4) {
    // Return to virtual-8086 mode: ESP, SS, ES, DS, FS, GS follow on the stack.
    uint64_t v[6];
    for (uint64_t& x : v)
      if (!pop(&x)) return 0;
    SetEflags(e, (fl & 0x3f7fd5ull) | 2);
    const int order[5] = {SS, ES, DS, FS, GS};
    for (int i = 0; i < 5; i++) cpu->LoadSegReal(order[i], static_cast<uint16_t>(v[i + 1]));
    cpu->LoadSegReal(CS, cs_sel);
    e.cpl = 3;
    s.rip = ip & 0xffff;
    s.regs[RSP] = v[0] & 0xffffffffu;
    cpu->SettleRf();
    return 0;
  }
  Segment cs;
  if (!cpu->CheckReturnCs(cs_sel, &cs)) return 0;
  unsigned rpl = cs_sel & 3;
  bool outer = rpl > e.cpl;
  uint64_t new_sp = 0, ss_v = 0;
  Segment ss = s.seg[SS];
  if (outer || code64) {
    if (!pop(&new_sp) || !pop(&ss_v)) return 0;
    if (!cpu->CheckReturnSs(static_cast<uint16_t>(ss_v), rpl, lma && cs.l(), &ss)) return 0;
  }
  // Flags: IOPL only at CPL 0, IF only when CPL <= IOPL.
  uint64_t mask = kArithFlags | kFlagTF | kFlagDF | kFlagNT | kFlagRF | kFlagAC | kFlagID;
  if (e.cpl == 0) mask |= kFlagIOPL | kFlagVIF | kFlagVIP;
  if (e.cpl <= ((cur >> 12) & 3)) mask |= kFlagIF;
  if (os == 2) mask &= 0xffff;
  SetEflags(e, (cur & ~mask) | (fl & mask));
  unsigned old_cpl = e.cpl;
  s.seg[CS] = cs;
  e.cpl = static_cast<uint8_t>(rpl);
  s.rip = os == 8 ? ip : ip & (os == 4 ? 0xffffffffu : 0xffff);
  if (outer || code64) {
    s.seg[SS] = ss;
    s.regs[RSP] = (lma && cs.l()) ? new_sp : (ss.db() ? new_sp & 0xffffffffu : ((s.regs[RSP] & ~0xffffull) | (new_sp & 0xffff)));
  } else {
    s.regs[RSP] = (s.regs[RSP] & ~spmask) | st.sp;
  }
  if (rpl > old_cpl) cpu->NullInaccessibleDataSegs(rpl);
  cpu->SettleRf();
  return 0;
}

}  // namespace emu::x86
