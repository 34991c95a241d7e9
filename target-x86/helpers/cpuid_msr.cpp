// CPUID (a truthful qemu64-like model: only what the translator implements),
// MSRs, control registers, TSC, and the fast system call instructions.
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>

#include "hw/core/log.h"
#include "target-x86/helpers/helpers.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::x86 {

void X86Cpu::Cpuid(uint32_t leaf, uint32_t sub, uint32_t out[4]) {
  out[0] = out[1] = out[2] = out[3] = 0;
  auto str = [&](const char* s12, uint32_t* b, uint32_t* d, uint32_t* c) {
    std::memcpy(b, s12, 4);
    std::memcpy(d, s12 + 4, 4);
    std::memcpy(c, s12 + 8, 4);
  };
  switch (leaf) {
    case 0:
      out[0] = 7;
      str("GenuineIntel", &out[1], &out[3], &out[2]);
      break;
    case 1: {
      uint32_t apic_id = static_cast<uint32_t>(apic_id_);
      out[0] = 0x000663;  // family 6, model 6, stepping 3 (as qemu64)
      out[1] = (apic_id << 24) | (1u << 16) | (8u << 8);
      out[2] = (1u << 13)    // CMPXCHG16B
               | (1u << 17)  // PCID (no INVPCID)
               | (1u << 23)  // POPCNT
               | (1u << 31); // hypervisor
      out[3] = (1u << 0)     // FPU (x87: see docs/translator.md)
               | (1u << 2)   // DE
               | (1u << 3)   // PSE
               | (1u << 4)   // TSC
               | (1u << 5)   // MSR
               | (1u << 6)   // PAE
               | (1u << 7)   // MCE
               | (1u << 8)   // CX8
               | (1u << 9)   // APIC
               | (1u << 11)  // SEP
               | (1u << 12)  // MTRR
               | (1u << 13)  // PGE
               | (1u << 14)  // MCA
               | (1u << 15)  // CMOV
               | (1u << 16)  // PAT
               | (1u << 17)  // PSE-36
               | (1u << 19)  // CLFSH
               | (1u << 23)  // MMX
               | (1u << 24)  // FXSR
               | (1u << 25)  // SSE
               | (1u << 26); // SSE2
      break;
    }
    case 7:
      // No structured extended features beyond the speculation controls, and
      // those only while nothing but the translator executes the guest (see
      // kArchCapabilities); then subleaves 0-2 (subleaf 1 empty).
      if (!nonspeculative) break;
      if (sub == 0) {
        out[0] = 2;            // highest subleaf
        out[3] = (1u << 26)    // IBRS and IBPB: IA32_SPEC_CTRL.IBRS, IA32_PRED_CMD.IBPB
                 | (1u << 29); // IA32_ARCH_CAPABILITIES
      } else if (sub == 2) {
        out[3] = 1u << 4;      // BHI_CTRL: IA32_SPEC_CTRL.BHI_DIS_S
      }
      break;
    case 0x80000000:
      out[0] = 0x80000008;
      break;
    case 0x80000001:
      out[2] = (1u << 0)     // LAHF/SAHF in 64-bit mode
               | (1u << 5);  // ABM (LZCNT)
      out[3] = (1u << 11)    // SYSCALL
               | (1u << 20)  // NX
               | (1u << 29); // LM
      break;
    case 0x80000002: case 0x80000003: case 0x80000004: {
      static const char brand[49] = "emu virtual CPU (tcg)                           ";
      std::memcpy(out, brand + (leaf - 0x80000002) * 16, 16);
      break;
    }
    case 0x80000008:
      out[0] = 0x3028;  // 40 physical, 48 linear address bits
      break;
    default:
      break;
  }
}

uint64_t X86Cpu::ReadCr(int cr) {
  switch (cr) {
    case 0: return env.s.cr0;
    case 2: return env.s.cr2;
    case 3: return env.s.cr3;
    case 4: return env.s.cr4;
    default: return env.s.cr8;
  }
}

bool X86Cpu::WriteCr(int cr, uint64_t v) {
  CpuState& s = env.s;
  switch (cr) {
    case 0: {
      if (v >> 32) break;
      v |= kCr0ET;
      if ((v & kCr0PG) && !(v & kCr0PE)) break;
      if ((v & kCr0NW) && !(v & kCr0CD)) break;
      uint64_t old = s.cr0;
      if ((v & kCr0PG) && !(old & kCr0PG) && (s.efer & kEferLME)) {
        if (!(s.cr4 & kCr4PAE)) break;
        s.efer |= kEferLMA;
      }
      if (!(v & kCr0PG) && (old & kCr0PG) && (s.cr4 & kCr4PCIDE)) break;
      if (!(v & kCr0PG) && (old & kCr0PG) && (s.efer & kEferLMA)) {
        if (s.seg[CS].l()) break;
        s.efer &= ~kEferLMA;
      }
      s.cr0 = v;
      if ((old ^ v) & (kCr0PG | kCr0WP | kCr0PE)) {
        hw::Log(hw::LogMask::kMmu, "mmu: TLB flush: CR0 0x%llx -> 0x%llx (PG/WP/PE changed)",
                static_cast<unsigned long long>(old), static_cast<unsigned long long>(v));
        FlushTlb();
      }
      if (!(v & kCr0PE)) env.cpl = 0;
      return true;
    }
    case 2: s.cr2 = v; return true;
    case 3: {
      // With CR4.PCIDE, bits 11:0 are the PCID and bit 63 (not stored) keeps
      // that PCID's TLB entries; otherwise the load flushes all but global pages.
      const bool keep = (s.cr4 & kCr4PCIDE) && (v >> 63);
      if (s.cr4 & kCr4PCIDE) v &= ~(1ull << 63);
      s.cr3 = (s.efer & kEferLMA) ? v : (v & 0xffffffffu);
      // (A flush keeps global pages.)
      hw::Log(hw::LogMask::kMmu, "mmu: CR3 load 0x%llx (%s)",
              static_cast<unsigned long long>(s.cr3), keep ? "TLB kept: bit 63" : "TLB flush");
      SwitchAddressSpace(keep);
      return true;
    }
    case 4: {
      // VME/PVI are not implemented (nor advertised by CPUID): setting them #GPs.
      const uint64_t supported = kCr4TSD | kCr4DE | kCr4PSE | kCr4PAE | kCr4MCE | kCr4PGE |
                                 kCr4PCE | kCr4OSFXSR | kCr4OSXMMEXCPT | kCr4PCIDE;
      if (v & ~supported) break;
      if ((s.efer & kEferLMA) && !(v & kCr4PAE)) break;
      // PCIDs exist only in IA-32e mode, and CR3 must name PCID 0 when they start.
      if ((v & kCr4PCIDE) && !(s.cr4 & kCr4PCIDE) && (!(s.efer & kEferLMA) || (s.cr3 & 0xfff)))
        break;
      const uint64_t old = s.cr4;
      s.cr4 = v;
      if ((old ^ v) & (kCr4PAE | kCr4PGE | kCr4PSE | kCr4PCIDE)) {
        hw::Log(hw::LogMask::kMmu,
                "mmu: TLB flush: CR4 0x%llx -> 0x%llx (PAE/PGE/PSE/PCIDE changed)",
                static_cast<unsigned long long>(old), static_cast<unsigned long long>(v));
        FlushTlb();
      }
      return true;
    }
    case 8:
      if (v >> 4) break;
      s.cr8 = v;
      return true;
    default: break;
  }
  Raise(kGP, 0, true);
  return false;
}

namespace {
// IA32_ARCH_CAPABILITIES (MSR 0x10A) of a CPU that executes strictly in program
// order: the translator has no branch predictor, no speculative loads, no store
// buffer a load could bypass, no fill/store/line buffers or register file that
// a later instruction could sample, no TSX and no gather; so every "not
// affected" bit below is a plain fact (bit numbers: Intel SDM vol. 4, Table 2-2,
// and Intel's guidance per issue; ITS_NO, bit 62, is defined for a VMM to
// synthesize, as hardware never sets it). IBRS_ALL:
// with no indirect predictor, predictions can never cross predictor modes, so
// enhanced IBRS holds whether or not SPEC_CTRL.IBRS is set -- and Linux then
// needs neither retpolines nor return thunks. Bits we leave clear promise an
// MSR or behaviour we do not have (TSX_CTRL, FB_CLEAR, DOITM, ...) or describe
// a weakness (RSBA, RRSBA).
constexpr uint64_t kArchCapabilities =
    (1ull << 0)      // RDCL_NO: no rogue data cache load (Meltdown)
    | (1ull << 1)    // IBRS_ALL: enhanced IBRS
    | (1ull << 4)    // SSB_NO: no speculative store bypass
    | (1ull << 5)    // MDS_NO: no microarchitectural data sampling
    | (1ull << 6)    // IF_PSCHANGE_MC_NO: page-size change without INVLPG never #MCs
    | (1ull << 8)    // TAA_NO: no TSX asynchronous abort
    | (1ull << 13)   // SBDR_SSDP_NO: no shared-buffer data read/propagator
    | (1ull << 14)   // FBSDP_NO: no fill-buffer stale data propagator
    | (1ull << 15)   // PSDP_NO: no primary stale data propagator
    | (1ull << 20)   // BHI_NO: no branch history injection
    | (1ull << 24)   // PBRSB_NO: no post-barrier RSB predictions
    | (1ull << 26)   // GDS_NO: no gather data sampling
    | (1ull << 27)   // RFDS_NO: no register file data sampling
    | (1ull << 62);  // ITS_NO: no indirect target selection
// The IA32_SPEC_CTRL bits CPUID enumerates: IBRS and BHI_DIS_S (no branch
// history to disable either). Without BHI_CTRL, Linux, which assumes branch
// history injection whenever eIBRS or the hypervisor bit is set (BHI_NO does
// not count any more), would run a branch-history clearing loop on every
// system call.
constexpr uint64_t kSpecCtrlBits = (1ull << 0) | (1ull << 10);
constexpr uint64_t kPredCmdIbpb = 1;
bool SpeculationMsr(uint32_t msr) { return msr == 0x48 || msr == 0x49 || msr == 0x10a; }

// Under -d guest_errors or -d unimp (a real CPU may have it), not on stderr: a
// #GP is what the CPU we model does for an MSR its CPUID does not promise, and
// guests probe MSRs that way (Linux reads 0x140, 0x186, 0xc0011029 on every boot).
void UnknownMsr(uint32_t msr, bool write) {
  hw::Log(hw::LogEnabled(hw::LogMask::kUnimp) ? hw::LogMask::kUnimp : hw::LogMask::kGuestErrors,
          "tcg: guest %s unknown MSR 0x%x (#GP)", write ? "wrote" : "read", msr);
}
}  // namespace

bool X86Cpu::ReadMsr(uint32_t msr, uint64_t* v) {
  const CpuState& s = env.s;
  switch (msr) {
    case 0x10: *v = ReadTsc(); return true;
    case 0x17: *v = 0; return true;                      // PLATFORM_ID
    case 0x1b: *v = s.apic_base; return true;
    case 0x3a: *v = 1; return true;                      // FEATURE_CONTROL: locked, no VMX
    case 0x8b: *v = 0; return true;                      // BIOS_SIGN_ID
    case 0xfe: *v = 0x508; return true;                  // MTRRcap: 8 variable, fixed, WC
    case 0x174: *v = s.sysenter_cs; return true;
    case 0x175: *v = s.sysenter_esp; return true;
    case 0x176: *v = s.sysenter_eip; return true;
    case 0x179: *v = 0; return true;                     // MCG_CAP
    case 0x17a: *v = 0; return true;                     // MCG_STATUS
    case 0x1a0: *v = s.misc_enable; return true;
    case 0x277: *v = s.pat; return true;
    case 0x2ff: *v = s.mtrr_def_type; return true;
    case 0x250: *v = s.mtrr_fixed[0]; return true;
    case 0x258: *v = s.mtrr_fixed[1]; return true;
    case 0x259: *v = s.mtrr_fixed[2]; return true;
    case 0x6e0: *v = s.tsc_deadline; return true;
    case 0xc0000080: *v = s.efer; return true;
    case 0xc0000081: *v = s.star; return true;
    case 0xc0000082: *v = s.lstar; return true;
    case 0xc0000083: *v = s.cstar; return true;
    case 0xc0000084: *v = s.fmask; return true;
    case 0xc0000100: *v = s.seg[FS].base; return true;
    case 0xc0000101: *v = s.seg[GS].base; return true;
    case 0xc0000102: *v = s.kernel_gs_base; return true;
    case 0xc0000103: *v = s.tsc_aux; return true;
    default: break;
  }
  if (nonspeculative) {
    // IA32_PRED_CMD (0x49) is write-only: reading it #GPs like an unknown MSR.
    if (msr == 0x48) { *v = s.spec_ctrl; return true; }
    if (msr == 0x10a) { *v = kArchCapabilities; return true; }
  }
  if (msr >= 0x268 && msr <= 0x26f) {
    *v = s.mtrr_fixed[3 + msr - 0x268];
    return true;
  }
  if (msr >= 0x200 && msr <= 0x20f) {
    *v = s.mtrr_var[msr - 0x200];
    return true;
  }
  UnknownMsr(msr, false);
  Raise(kGP, 0, true);
  return false;
}

bool X86Cpu::WriteMsr(uint32_t msr, uint64_t v) {
  CpuState& s = env.s;
  auto canonical = [](uint64_t a) { return static_cast<uint64_t>(static_cast<int64_t>(a << 16) >> 16) == a; };
  if (!nonspeculative && SpeculationMsr(msr)) {  // CPUID does not promise them here
    UnknownMsr(msr, true);
    Raise(kGP, 0, true);
    return false;
  }
  switch (msr) {
    case 0x10: WriteTsc(v); return true;
    case 0x1b: s.apic_base = v; return true;
    case 0x8b: return true;
    case 0x174: s.sysenter_cs = v & 0xffff; return true;
    case 0x175: s.sysenter_esp = v; return true;
    case 0x176: s.sysenter_eip = v; return true;
    case 0x179: case 0x17a: return true;
    case 0x1a0: s.misc_enable = v; return true;
    case 0x277: s.pat = v; return true;
    case 0x2ff: s.mtrr_def_type = v; return true;
    case 0x250: s.mtrr_fixed[0] = v; return true;
    case 0x258: s.mtrr_fixed[1] = v; return true;
    case 0x259: s.mtrr_fixed[2] = v; return true;
    case 0x6e0: s.tsc_deadline = v; return true;
    case 0xc0000080: {
      uint64_t allowed = kEferSCE | kEferLME | kEferNXE;
      if (v & ~(allowed | kEferLMA)) break;
      if ((s.cr0 & kCr0PG) && ((v ^ s.efer) & kEferLME)) break;
      uint64_t old = s.efer;
      s.efer = (v & allowed) | (s.efer & kEferLMA);
      if ((old ^ s.efer) & kEferNXE) {
        hw::Log(hw::LogMask::kMmu, "mmu: TLB flush: EFER.NXE changed");
        FlushTlb();
      }
      return true;
    }
    case 0xc0000081: s.star = v; return true;
    case 0xc0000082: if (!canonical(v)) break; s.lstar = v; return true;
    case 0xc0000083: if (!canonical(v)) break; s.cstar = v; return true;
    case 0xc0000084: s.fmask = v & 0xffffffffu; return true;
    case 0xc0000100: if (!canonical(v)) break; s.seg[FS].base = v; return true;
    case 0xc0000101: if (!canonical(v)) break; s.seg[GS].base = v; return true;
    case 0xc0000102: if (!canonical(v)) break; s.kernel_gs_base = v; return true;
    case 0xc0000103: s.tsc_aux = v & 0xffffffffu; return true;
    case 0x48:  // IA32_SPEC_CTRL: no STIBP, SSBD, ... in CPUID
      if (v & ~kSpecCtrlBits) break;
      s.spec_ctrl = v;  // stored for RDMSR; nothing to restrict
      return true;
    case 0x49:  // IA32_PRED_CMD: IBPB, a barrier with no predictor behind it
      if (v & ~kPredCmdIbpb) break;
      return true;
    case 0x10a: break;  // IA32_ARCH_CAPABILITIES is read-only
    default:
      if (msr >= 0x268 && msr <= 0x26f) {
        s.mtrr_fixed[3 + msr - 0x268] = v;
        return true;
      }
      if (msr >= 0x200 && msr <= 0x20f) {
        s.mtrr_var[msr - 0x200] = v;
        return true;
      }
      UnknownMsr(msr, true);
      break;
  }
  Raise(kGP, 0, true);
  return false;
}

X86_HELPER(HelperCpuid) {
  X86Cpu* cpu = CpuOf(ctx);
  uint64_t* r = cpu->env.s.regs;
  uint32_t out[4];
  cpu->Cpuid(static_cast<uint32_t>(r[RAX]), static_cast<uint32_t>(r[RCX]), out);
  r[RAX] = out[0];
  r[RBX] = out[1];
  r[RCX] = out[2];
  r[RDX] = out[3];
  return 0;
}

X86_HELPER(HelperRdtsc) {
  X86Cpu* cpu = CpuOf(ctx);
  CpuState& s = cpu->env.s;
  if ((s.cr4 & kCr4TSD) && cpu->env.cpl != 0) {
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  uint64_t t = cpu->ReadTsc();
  s.regs[RAX] = t & 0xffffffffu;
  s.regs[RDX] = t >> 32;
  if (a) s.regs[RCX] = s.tsc_aux;
  return 0;
}

X86_HELPER(HelperRdmsr) {
  X86Cpu* cpu = CpuOf(ctx);
  uint64_t* r = cpu->env.s.regs;
  uint64_t v;
  if (!cpu->ReadMsr(static_cast<uint32_t>(r[RCX]), &v)) return 0;
  r[RAX] = v & 0xffffffffu;
  r[RDX] = v >> 32;
  return 0;
}

X86_HELPER(HelperWrmsr) {
  X86Cpu* cpu = CpuOf(ctx);
  uint64_t* r = cpu->env.s.regs;
  cpu->WriteMsr(static_cast<uint32_t>(r[RCX]), (r[RDX] << 32) | (r[RAX] & 0xffffffffu));
  return 0;
}

X86_HELPER(HelperMovToCr) {
  CpuOf(ctx)->WriteCr(static_cast<int>(a), b);
  return 0;
}

X86_HELPER(HelperMovFromCr) { return CpuOf(ctx)->ReadCr(static_cast<int>(a)); }

X86_HELPER(HelperLmsw) {
  X86Cpu* cpu = CpuOf(ctx);
  uint64_t cr0 = cpu->env.s.cr0;
  // LMSW sets PE but never clears it; only the low four bits are affected.
  uint64_t nv = (cr0 & ~0xeull) | (a & 0xf) | (cr0 & kCr0PE);
  cpu->WriteCr(0, nv);
  return 0;
}

X86_HELPER(HelperClts) {
  CpuOf(ctx)->env.s.cr0 &= ~kCr0TS;
  return 0;
}

namespace {
Segment FlatCode(uint16_t sel, unsigned dpl, bool l64) {
  Segment s;
  s.selector = sel;
  s.base = 0;
  s.limit = 0xffffffff;
  s.attr = static_cast<uint16_t>(0x9b | (dpl << 5) | 0x8000 | (l64 ? 0x2000 : 0x4000));
  return s;
}
Segment FlatData(uint16_t sel, unsigned dpl) {
  Segment s;
  s.selector = sel;
  s.base = 0;
  s.limit = 0xffffffff;
  s.attr = static_cast<uint16_t>(0x93 | (dpl << 5) | 0x8000 | 0x4000);
  return s;
}
}  // namespace

X86_HELPER(HelperSyscall) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  if (!(s.efer & kEferSCE)) {
    cpu->Raise(kUD);
    return 0;
  }
  uint16_t sel = static_cast<uint16_t>((s.star >> 32) & 0xfffc);
  uint64_t flags = ComputeEflags(e);
  if (s.efer & kEferLMA) {
    bool from64 = s.seg[CS].l();
    s.regs[RCX] = a;
    s.regs[R11] = flags & ~kFlagRF;
    s.seg[CS] = FlatCode(sel, 0, true);
    s.seg[SS] = FlatData(static_cast<uint16_t>(sel + 8), 0);
    SetEflags(e, flags & ~(s.fmask | kFlagRF));
    s.rip = from64 ? s.lstar : s.cstar;
  } else {
    s.regs[RCX] = a & 0xffffffffu;
    s.seg[CS] = FlatCode(sel, 0, false);
    s.seg[SS] = FlatData(static_cast<uint16_t>(sel + 8), 0);
    SetEflags(e, flags & ~(kFlagIF | kFlagVM | kFlagRF));
    s.rip = s.star & 0xffffffffu;
  }
  e.cpl = 0;
  return 0;
}

X86_HELPER(HelperSysret) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  if (!(s.efer & kEferSCE) || !(s.cr0 & kCr0PE)) {
    cpu->Raise(kUD);
    return 0;
  }
  uint16_t base = static_cast<uint16_t>((s.star >> 48) & 0xfffc);
  if (s.efer & kEferLMA) {
    if (a == 8) {
      uint64_t rip = s.regs[RCX];
      if (static_cast<uint64_t>(static_cast<int64_t>(rip << 16) >> 16) != rip) {
        cpu->Raise(kGP, 0, true);
        return 0;
      }
      s.seg[CS] = FlatCode(static_cast<uint16_t>((base + 16) | 3), 3, true);
      s.rip = rip;
    } else {
      s.seg[CS] = FlatCode(static_cast<uint16_t>(base | 3), 3, false);
      s.rip = s.regs[RCX] & 0xffffffffu;
    }
    SetEflags(e, (s.regs[R11] & ~kFlagRF) | 2);
  } else {
    s.seg[CS] = FlatCode(static_cast<uint16_t>(base | 3), 3, false);
    s.rip = s.regs[RCX] & 0xffffffffu;
    s.rflags |= kFlagIF;
  }
  s.seg[SS] = FlatData(static_cast<uint16_t>((base + 8) | 3), 3);
  e.cpl = 3;
  return 0;
}

X86_HELPER(HelperSysenter) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  uint16_t sel = static_cast<uint16_t>(s.sysenter_cs & 0xfffc);
  if (!(s.cr0 & kCr0PE) || sel == 0) {
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  bool lma = s.efer & kEferLMA;
  s.rflags &= ~(kFlagVM | kFlagIF | kFlagRF);
  s.seg[CS] = FlatCode(sel, 0, lma);
  s.seg[SS] = FlatData(static_cast<uint16_t>(sel + 8), 0);
  s.rip = lma ? s.sysenter_eip : (s.sysenter_eip & 0xffffffffu);
  s.regs[RSP] = lma ? s.sysenter_esp : (s.sysenter_esp & 0xffffffffu);
  e.cpl = 0;
  return 0;
}

X86_HELPER(HelperSysexit) {
  X86Cpu* cpu = CpuOf(ctx);
  X86Env& e = cpu->env;
  CpuState& s = e.s;
  uint16_t base = static_cast<uint16_t>(s.sysenter_cs & 0xfffc);
  if (!(s.cr0 & kCr0PE) || base == 0) {
    cpu->Raise(kGP, 0, true);
    return 0;
  }
  if (a == 8) {
    s.seg[CS] = FlatCode(static_cast<uint16_t>((base + 32) | 3), 3, true);
    s.seg[SS] = FlatData(static_cast<uint16_t>((base + 40) | 3), 3);
    s.rip = s.regs[RDX];
    s.regs[RSP] = s.regs[RCX];
  } else {
    s.seg[CS] = FlatCode(static_cast<uint16_t>((base + 16) | 3), 3, false);
    s.seg[SS] = FlatData(static_cast<uint16_t>((base + 24) | 3), 3);
    s.rip = s.regs[RDX] & 0xffffffffu;
    s.regs[RSP] = s.regs[RCX] & 0xffffffffu;
  }
  e.cpl = 3;
  return 0;
}

}  // namespace emu::x86
