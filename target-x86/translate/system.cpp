// System instructions: interrupt flag, HLT, port I/O, descriptor tables, control
// and debug registers, MSRs, CPUID, TSC, fast system calls, far pointers loads.
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"
#include "target-x86/translate/tx.h"

namespace emu::x86 {

namespace {

unsigned Iopl(const Tx& tx) { return (tx.flags & kTbIoplMask) >> kTbIoplShift; }

// Privileged instruction: #GP(0) unless CPL 0 (and not vm86).
bool NeedCpl0(Tx& tx) {
  if (tx.cpl() != 0 || tx.vm86()) {
    tx.Gp0();
    return false;
  }
  return true;
}

bool Cli(Tx& tx) {
  if (tx.pe() && (tx.vm86() ? Iopl(tx) < 3 : tx.cpl() > Iopl(tx))) {
    tx.Gp0();
    return true;
  }
  tx.Call(HelperCli);
  return true;
}

bool Sti(Tx& tx) {
  if (tx.pe() && (tx.vm86() ? Iopl(tx) < 3 : tx.cpl() > Iopl(tx))) {
    tx.Gp0();
    return true;
  }
  tx.Call(HelperSti);
  tx.EndBlockAfter();  // the next instruction runs in the interrupt shadow
  return true;
}

bool Hlt(Tx& tx) {
  if (!NeedCpl0(tx)) return true;
  tx.Call(HelperHlt, tx.C(tx.Mask(tx.next_pc)));
  tx.b.Exit();
  tx.end_block = true;
  return true;
}

bool In(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  const Operand& port = tx.in.ops[1];
  unsigned size = tx.OpSize(dst);
  Val p = port.kind == OperandKind::kImm ? tx.C(static_cast<uint64_t>(port.imm) & 0xff)
                                         : tx.GetReg(RDX, 2);
  Val v = tx.Call(HelperIn, p, tx.C(size));
  tx.WriteOp(dst, tx.b.Mov(SizeType(size), v));
  return true;
}

bool Out(Tx& tx) {
  const Operand& port = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  unsigned size = tx.OpSize(src);
  Val p = port.kind == OperandKind::kImm ? tx.C(static_cast<uint64_t>(port.imm) & 0xff)
                                         : tx.GetReg(RDX, 2);
  tx.Call(HelperOut, p, tx.ReadOp(src), tx.C(size));
  // A device may have changed the memory map or raised an interrupt.
  tx.EndBlockAfter();
  return true;
}

bool DescTable(Tx& tx, unsigned which) {
  if (which < 2 && !NeedCpl0(tx)) return true;
  Val lin = tx.MemAddr(tx.in.ops[0]);
  tx.Call(HelperDescTable, tx.C(which), lin, tx.C(tx.osize()));
  return true;
}

bool LldtLtr(Tx& tx, unsigned which) {
  if (!tx.pe() || tx.vm86()) {
    tx.Ud();
    return true;
  }
  if (!NeedCpl0(tx)) return true;
  tx.Call(HelperLldtLtr, tx.C(which), tx.ReadOp(tx.in.ops[0]));
  return true;
}

bool SldtStr(Tx& tx, bool str) {
  if (!tx.pe() || tx.vm86()) {
    tx.Ud();
    return true;
  }
  const Operand& dst = tx.in.ops[0];
  Val sel = tx.b.LdEnv(Type::kI16, str ? X86_OFF(s.tr.selector) : X86_OFF(s.ldtr.selector));
  if (dst.kind == OperandKind::kMem) tx.StoreMem(2, tx.MemAddr(dst), sel);
  else tx.WriteOp(dst, tx.b.Zext(SizeType(tx.OpSize(dst)), Type::kI16, sel));
  return true;
}

bool Smsw(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  Val cr0 = tx.b.LdEnv(Type::kI64, X86_OFF(s.cr0));
  if (dst.kind == OperandKind::kMem) tx.StoreMem(2, tx.MemAddr(dst), cr0);
  else tx.WriteOp(dst, tx.b.Mov(SizeType(tx.OpSize(dst)), cr0));
  return true;
}

bool Lmsw(Tx& tx) {
  if (!NeedCpl0(tx)) return true;
  tx.Call(HelperLmsw, tx.ReadOp(tx.in.ops[0]));
  tx.EndBlockAfter();
  return true;
}

bool Clts(Tx& tx) {
  if (!NeedCpl0(tx)) return true;
  tx.Call(HelperClts);
  tx.EndBlockAfter();
  return true;
}

bool Invlpg(Tx& tx) {
  if (!NeedCpl0(tx)) return true;
  tx.Call(HelperInvlpg, tx.MemAddr(tx.in.ops[0]));
  tx.EndBlockAfter();
  return true;
}

bool Cpuid(Tx& tx) {
  tx.Call(HelperCpuid);
  return true;
}

bool Rdtsc(Tx& tx, bool p) {
  tx.Call(HelperRdtsc, tx.C(p ? 1 : 0));
  return true;
}

bool Rdmsr(Tx& tx) {
  if (!NeedCpl0(tx)) return true;
  tx.Call(HelperRdmsr);
  return true;
}

bool Wrmsr(Tx& tx) {
  if (!NeedCpl0(tx)) return true;
  tx.Call(HelperWrmsr);
  tx.EndBlockAfter();
  return true;
}

bool PrivNop(Tx& tx) {  // INVD, WBINVD, WBNOINVD
  if (!NeedCpl0(tx)) return true;
  return true;
}

bool Swapgs(Tx& tx) {
  if (!NeedCpl0(tx)) return true;
  uint32_t gs = X86_OFF(s.seg) + GS * sizeof(Segment) + offsetof(Segment, base);
  Val a = tx.b.LdEnv(Type::kI64, gs);
  Val k = tx.b.LdEnv(Type::kI64, X86_OFF(s.kernel_gs_base));
  tx.b.StEnv(Type::kI64, gs, k);
  tx.b.StEnv(Type::kI64, X86_OFF(s.kernel_gs_base), a);
  return true;
}

bool ExitAfterHelper(Tx& tx) {
  tx.b.Exit();
  tx.end_block = true;
  return true;
}

bool LoadFarPtr(Tx& tx, int seg) {
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if (src.kind != OperandKind::kMem) {
    tx.Ud();
    return true;
  }
  unsigned os = tx.osize();
  Val lin = tx.MemAddr(src);
  Val off = tx.LoadMem(os, lin);
  Val selat = tx.long64() ? tx.b.AddI(Type::kI64, lin, os) : tx.b.Add(Type::kI32, lin, tx.C(os));
  Val sel = tx.LoadMem(2, selat);
  tx.Call(HelperLoadSeg, tx.C(seg), sel);
  tx.WriteOp(dst, off);
  if (seg == SS) {
    tx.b.StEnv(Type::kI8, X86_OFF(s.interrupt_shadow), tx.C(1));
    tx.EndBlockAfter();
  } else if (!tx.real_or_vm86() && !tx.long64()) {
    tx.EndBlockAfter();  // whether segment checks are needed (kTbSegChecks) may change
  }
  return true;
}

bool LarLsl(Tx& tx, unsigned which) {
  if (!tx.pe() || tx.vm86()) {
    tx.Ud();
    return true;
  }
  const Operand& dst = tx.in.ops[0];
  Val r = tx.Call(HelperLarLsl, tx.C(which), tx.ReadOp(tx.in.ops[1]));
  tx.cc_op = kCcEflags;
  Val valid = tx.b.ShrI(Type::kI64, r, 32);
  Val old = tx.ReadOp(dst);
  unsigned size = tx.OpSize(dst);
  tx.WriteOp(dst, tx.b.Select(SizeType(size), valid, tx.b.Mov(SizeType(size), r), old));
  return true;
}

bool VerrVerw(Tx& tx, unsigned which) {
  if (!tx.pe() || tx.vm86()) {
    tx.Ud();
    return true;
  }
  tx.Call(HelperVerrVerw, tx.C(which), tx.ReadOp(tx.in.ops[0]));
  tx.cc_op = kCcEflags;
  return true;
}

bool Arpl(Tx& tx) {
  if (!tx.pe() || tx.vm86()) {
    tx.Ud();
    return true;
  }
  const Operand& dst = tx.in.ops[0];
  Val addr;
  Val d = tx.ReadOp(dst, &addr);
  Val s = tx.ReadOp(tx.in.ops[1]);
  Val drpl = tx.b.AndI(Type::kI16, d, 3);
  Val srpl = tx.b.AndI(Type::kI16, s, 3);
  Val adjust = tx.b.SetCond(Cond::kLtu, Type::kI16, drpl, srpl);
  Val nd = tx.b.Or(Type::kI16, tx.b.AndI(Type::kI16, d, ~3ull), srpl);
  tx.WriteOp(dst, tx.b.Select(Type::kI16, adjust, nd, d), addr);
  Val f = tx.ArithFlags();
  tx.SetCcEflags(tx.b.Or(Type::kI64, tx.b.AndI(Type::kI64, f, ~uint64_t{kFlagZF}),
                         tx.b.ShlI(Type::kI64, adjust, 6)));
  return true;
}

}  // namespace

bool MovCrDr(Tx& tx) {
  const Operand& dst = tx.in.ops[0];
  const Operand& src = tx.in.ops[1];
  if (!NeedCpl0(tx)) return true;
  unsigned size = tx.long64() ? 8 : 4;
  if (dst.reg_class == RegClass::kCr) {
    unsigned n = dst.reg;
    if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8) {
      tx.Ud();
      return true;
    }
    tx.Call(HelperMovToCr, tx.C(n), tx.GetReg(src.reg, size));
    tx.EndBlockAfter();
    return true;
  }
  if (src.reg_class == RegClass::kCr) {
    unsigned n = src.reg;
    if (n != 0 && n != 2 && n != 3 && n != 4 && n != 8) {
      tx.Ud();
      return true;
    }
    tx.SetReg(dst.reg, size, tx.b.Mov(SizeType(size), tx.Call(HelperMovFromCr, tx.C(n))));
    return true;
  }
  if (dst.reg_class == RegClass::kDr) {
    tx.Call(HelperMovToDr, tx.C(dst.reg), tx.GetReg(src.reg, size));
    tx.EndBlockAfter();  // breakpoints are part of the TB key
    return true;
  }
  tx.SetReg(dst.reg, size, tx.b.Mov(SizeType(size), tx.Call(HelperMovFromDr, tx.C(src.reg))));
  return true;
}

void RegisterSystem(TranslateFn* t) {
  auto at = [&](Mnemonic m) -> TranslateFn& { return t[static_cast<size_t>(m)]; };
  at(Mnemonic::CLI) = Cli;
  at(Mnemonic::STI) = Sti;
  at(Mnemonic::HLT) = Hlt;
  at(Mnemonic::IN) = In;
  at(Mnemonic::OUT) = Out;
  at(Mnemonic::LGDT) = [](Tx& tx) { return DescTable(tx, 0); };
  at(Mnemonic::LIDT) = [](Tx& tx) { return DescTable(tx, 1); };
  at(Mnemonic::SGDT) = [](Tx& tx) { return DescTable(tx, 2); };
  at(Mnemonic::SIDT) = [](Tx& tx) { return DescTable(tx, 3); };
  at(Mnemonic::LLDT) = [](Tx& tx) { return LldtLtr(tx, 0); };
  at(Mnemonic::LTR) = [](Tx& tx) { return LldtLtr(tx, 1); };
  at(Mnemonic::SLDT) = [](Tx& tx) { return SldtStr(tx, false); };
  at(Mnemonic::STR) = [](Tx& tx) { return SldtStr(tx, true); };
  at(Mnemonic::SMSW) = Smsw;
  at(Mnemonic::LMSW) = Lmsw;
  at(Mnemonic::CLTS) = Clts;
  at(Mnemonic::INVLPG) = Invlpg;
  at(Mnemonic::CPUID) = Cpuid;
  at(Mnemonic::RDTSC) = [](Tx& tx) { return Rdtsc(tx, false); };
  at(Mnemonic::RDTSCP) = [](Tx& tx) { return Rdtsc(tx, true); };
  at(Mnemonic::RDMSR) = Rdmsr;
  at(Mnemonic::WRMSR) = Wrmsr;
  at(Mnemonic::INVD) = PrivNop;
  at(Mnemonic::WBINVD) = PrivNop;
  at(Mnemonic::WBNOINVD) = PrivNop;
  at(Mnemonic::SWAPGS) = Swapgs;
  at(Mnemonic::SYSCALL) = [](Tx& tx) {
    tx.Call(HelperSyscall, tx.C(tx.next_pc));
    tx.cc_op = kCcEflags;
    return ExitAfterHelper(tx);
  };
  at(Mnemonic::SYSRET) = [](Tx& tx) {
    if (!NeedCpl0(tx)) return true;
    tx.Call(HelperSysret, tx.C(tx.osize()));
    return ExitAfterHelper(tx);
  };
  at(Mnemonic::SYSENTER) = [](Tx& tx) {
    tx.Call(HelperSysenter);
    return ExitAfterHelper(tx);
  };
  at(Mnemonic::SYSEXIT) = [](Tx& tx) {
    if (!NeedCpl0(tx)) return true;
    tx.Call(HelperSysexit, tx.C(tx.osize()));
    return ExitAfterHelper(tx);
  };
  at(Mnemonic::LDS) = [](Tx& tx) { return LoadFarPtr(tx, DS); };
  at(Mnemonic::LES) = [](Tx& tx) { return LoadFarPtr(tx, ES); };
  at(Mnemonic::LFS) = [](Tx& tx) { return LoadFarPtr(tx, FS); };
  at(Mnemonic::LGS) = [](Tx& tx) { return LoadFarPtr(tx, GS); };
  at(Mnemonic::LSS) = [](Tx& tx) { return LoadFarPtr(tx, SS); };
  at(Mnemonic::LAR) = [](Tx& tx) { return LarLsl(tx, 0); };
  at(Mnemonic::LSL) = [](Tx& tx) { return LarLsl(tx, 1); };
  at(Mnemonic::VERR) = [](Tx& tx) { return VerrVerw(tx, 0); };
  at(Mnemonic::VERW) = [](Tx& tx) { return VerrVerw(tx, 1); };
  at(Mnemonic::ARPL) = Arpl;
  for (Mnemonic m : {Mnemonic::UD0, Mnemonic::UD1, Mnemonic::UD2})
    at(m) = [](Tx& tx) {
      tx.Ud();
      return true;
    };
}

}  // namespace emu::x86
