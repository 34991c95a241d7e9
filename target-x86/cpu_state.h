// The architectural state of one x86 CPU, shared by the translator (which works on
// it directly) and KVM (which converts it to and from kvm_regs/kvm_sregs/...).
// The monitor, gdbstub and savevm read and write it through Vcpu::Get/SetState.
#pragma once

#include <cstdint>

namespace emu::x86 {

enum Reg { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
enum SegReg { ES, CS, SS, DS, FS, GS, kNumSegs };

// RFLAGS bits.
enum : uint64_t {
  kFlagCF = 1u << 0, kFlagPF = 1u << 2, kFlagAF = 1u << 4, kFlagZF = 1u << 6,
  kFlagSF = 1u << 7, kFlagTF = 1u << 8, kFlagIF = 1u << 9, kFlagDF = 1u << 10,
  kFlagOF = 1u << 11, kFlagIOPL = 3u << 12, kFlagNT = 1u << 14, kFlagRF = 1u << 16,
  kFlagVM = 1u << 17, kFlagAC = 1u << 18, kFlagVIF = 1u << 19, kFlagVIP = 1u << 20,
  kFlagID = 1u << 21,
};

// CR0/CR4/EFER bits used across the code.
enum : uint64_t {
  kCr0PE = 1u << 0, kCr0MP = 1u << 1, kCr0EM = 1u << 2, kCr0TS = 1u << 3, kCr0ET = 1u << 4,
  kCr0NE = 1u << 5, kCr0WP = 1u << 16, kCr0AM = 1u << 18, kCr0NW = 1u << 29,
  kCr0CD = 1u << 30, kCr0PG = 1u << 31,
};
enum : uint64_t {
  kCr4VME = 1u << 0, kCr4PVI = 1u << 1, kCr4TSD = 1u << 2, kCr4DE = 1u << 3,
  kCr4PSE = 1u << 4, kCr4PAE = 1u << 5, kCr4MCE = 1u << 6, kCr4PGE = 1u << 7,
  kCr4PCE = 1u << 8, kCr4OSFXSR = 1u << 9, kCr4OSXMMEXCPT = 1u << 10, kCr4UMIP = 1u << 11,
  kCr4FSGSBASE = 1u << 16, kCr4PCIDE = 1u << 17, kCr4OSXSAVE = 1u << 18, kCr4SMEP = 1u << 20,
  kCr4SMAP = 1u << 21,
};
enum : uint64_t { kEferSCE = 1u << 0, kEferLME = 1u << 8, kEferLMA = 1u << 10, kEferNXE = 1u << 11 };

// A segment register with its hidden descriptor cache. `attr` holds descriptor
// bits 40-47 in bits 0-7 (type, S, DPL, P) and bits 52-55 in bits 12-15
// (AVL, L, D/B, G) -- the layout VMX and KVM's kvm_segment fields derive from.
struct Segment {
  uint16_t selector = 0;
  uint64_t base = 0;
  uint32_t limit = 0xffff;
  uint16_t attr = 0;

  unsigned type() const { return attr & 0xf; }
  bool s() const { return attr & 0x10; }
  unsigned dpl() const { return (attr >> 5) & 3; }
  bool present() const { return attr & 0x80; }
  bool l() const { return attr & 0x2000; }
  bool db() const { return attr & 0x4000; }
  bool g() const { return attr & 0x8000; }
};

struct DescriptorTable {
  uint64_t base = 0;
  uint16_t limit = 0xffff;
};

// x87/SSE state in FXSAVE layout terms (the translator's vector issue fills it in).
struct FpuState {
  uint16_t fcw = 0x37f, fsw = 0, ftw = 0;  // ftw: abridged (FXSAVE) tag byte
  uint16_t fop = 0;
  uint64_t fip = 0, fdp = 0;
  uint8_t st[8][16] = {};  // 80-bit registers, ST(i) order as stored by FXSAVE
  uint32_t mxcsr = 0x1f80;
  alignas(16) uint8_t xmm[16][16] = {};
};

struct CpuState {
  uint64_t regs[16] = {};
  uint64_t rip = 0xfff0;
  uint64_t rflags = 0x2;
  Segment seg[kNumSegs];
  Segment ldtr, tr;
  DescriptorTable gdtr, idtr;
  uint64_t cr0 = 0x60000010, cr2 = 0, cr3 = 0, cr4 = 0, cr8 = 0;
  uint64_t efer = 0;
  uint64_t dr[8] = {0, 0, 0, 0, 0, 0, 0xffff0ff0, 0x400};
  FpuState fpu;

  // MSRs that both accelerators carry.
  uint64_t star = 0, lstar = 0, cstar = 0, fmask = 0, kernel_gs_base = 0;
  uint64_t sysenter_cs = 0, sysenter_esp = 0, sysenter_eip = 0;
  uint64_t tsc = 0, tsc_aux = 0, tsc_deadline = 0;
  uint64_t apic_base = 0xfee00900;  // BSP enabled; APs clear bit 8
  uint64_t pat = 0x0007040600070406ull;
  uint64_t misc_enable = 1;  // fast strings
  uint64_t mtrr_def_type = 0, mtrr_fixed[11] = {}, mtrr_var[16] = {};
  uint64_t spec_ctrl = 0;  // IA32_SPEC_CTRL: the translator's (KVM keeps the guest's own)

  bool halted = false;
  // Pending-event state that must survive a switch between accelerators.
  bool nmi_pending = false;
  bool interrupt_shadow = false;  // STI / MOV SS shadow

  // Power-on state: real mode at F000:FFF0 with CS base FFFF0000.
  void ResetToPowerOn();
};

inline void CpuState::ResetToPowerOn() {
  *this = CpuState{};
  for (auto& s : seg) {
    s.selector = 0;
    s.base = 0;
    s.limit = 0xffff;
    s.attr = 0x93;  // present, data read/write, accessed
  }
  seg[CS].selector = 0xf000;
  seg[CS].base = 0xffff0000;
  seg[CS].attr = 0x9b;  // present, code execute/read, accessed
  ldtr.attr = 0x82;
  ldtr.limit = 0xffff;
  tr.attr = 0x8b;
  tr.limit = 0xffff;
  regs[RDX] = 0x600;  // family/model/stepping signature per SDM reset state
}

}  // namespace emu::x86
