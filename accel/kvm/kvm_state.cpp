// CpuState <-> kvm_regs / kvm_sregs / kvm_fpu / MSRs / debug registers / events.
#include <sys/ioctl.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "accel/kvm/kvm_accel.h"
#include "accel/kvm/kvm_vcpu.h"

namespace emu::accel {

namespace {

using x86::CpuState;
using x86::Segment;

kvm_segment ToKvm(const Segment& s) {
  kvm_segment k{};
  k.base = s.base;
  k.limit = s.limit;
  k.selector = s.selector;
  k.type = s.attr & 0xf;
  k.s = (s.attr >> 4) & 1;
  k.dpl = (s.attr >> 5) & 3;
  k.present = (s.attr >> 7) & 1;
  k.avl = (s.attr >> 12) & 1;
  k.l = (s.attr >> 13) & 1;
  k.db = (s.attr >> 14) & 1;
  k.g = (s.attr >> 15) & 1;
  k.unusable = !k.present;
  return k;
}

Segment FromKvm(const kvm_segment& k) {
  Segment s;
  s.base = k.base;
  s.limit = k.limit;
  s.selector = k.selector;
  bool present = k.present && !k.unusable;
  s.attr = static_cast<uint16_t>((k.type & 0xf) | (k.s & 1) << 4 | (k.dpl & 3) << 5 |
                                 (present ? 1 : 0) << 7 | (k.avl & 1) << 12 | (k.l & 1) << 13 |
                                 (k.db & 1) << 14 | (k.g & 1) << 15);
  return s;
}

// The MSRs CpuState carries, with where they live in it.
struct MsrSlot {
  uint32_t index;
  uint64_t CpuState::*field;
};

constexpr MsrSlot kMsrs[] = {
    {0x10, &CpuState::tsc},           {0xc0000081, &CpuState::star},
    {0xc0000082, &CpuState::lstar},   {0xc0000083, &CpuState::cstar},
    {0xc0000084, &CpuState::fmask},   {0xc0000102, &CpuState::kernel_gs_base},
    {0xc0000103, &CpuState::tsc_aux}, {0x174, &CpuState::sysenter_cs},
    {0x175, &CpuState::sysenter_esp}, {0x176, &CpuState::sysenter_eip},
    {0x277, &CpuState::pat},          {0x1a0, &CpuState::misc_enable},
    {0x6e0, &CpuState::tsc_deadline}, {0x2ff, &CpuState::mtrr_def_type},
};
// MTRR arrays: fixed-range MSRs in CpuState::mtrr_fixed order, then variable pairs.
constexpr uint32_t kMtrrFixed[11] = {0x250, 0x258, 0x259, 0x268, 0x269, 0x26a,
                                     0x26b, 0x26c, 0x26d, 0x26e, 0x26f};

// kvm_msrs with room for `n` entries.
struct MsrBuffer {
  std::vector<uint8_t> bytes;
  kvm_msrs* msrs() { return reinterpret_cast<kvm_msrs*>(bytes.data()); }
  explicit MsrBuffer(size_t n) : bytes(sizeof(kvm_msrs) + n * sizeof(kvm_msr_entry)) {}
};

// Pointers into `s` for every MSR this KVM can save, in a stable order.
std::vector<std::pair<uint32_t, uint64_t*>> MsrMap(const KvmAccelerator& a, CpuState& s) {
  std::vector<std::pair<uint32_t, uint64_t*>> out;
  const KvmCaps& c = a.caps();
  for (const auto& m : kMsrs) {
    if (!c.HasMsr(m.index)) continue;
    if (m.index == 0x6e0 && !a.has_irqchip()) continue;  // needs the in-kernel LAPIC timer
    out.emplace_back(m.index, &(s.*m.field));
  }
  for (int i = 0; i < 11; ++i)
    if (c.HasMsr(kMtrrFixed[i])) out.emplace_back(kMtrrFixed[i], &s.mtrr_fixed[i]);
  for (uint32_t i = 0; i < 16; ++i)
    if (c.HasMsr(0x200 + i)) out.emplace_back(0x200 + i, &s.mtrr_var[i]);
  return out;
}

bool SameSeg(const Segment& a, const Segment& b) {
  return a.selector == b.selector && a.base == b.base && a.limit == b.limit && a.attr == b.attr;
}

// What kvm_sregs carries (fieldwise: the structs have padding).
bool SameSregs(const CpuState& a, const CpuState& b) {
  for (int i = 0; i < x86::kNumSegs; ++i)
    if (!SameSeg(a.seg[i], b.seg[i])) return false;
  return SameSeg(a.ldtr, b.ldtr) && SameSeg(a.tr, b.tr) && a.gdtr.base == b.gdtr.base &&
         a.gdtr.limit == b.gdtr.limit && a.idtr.base == b.idtr.base &&
         a.idtr.limit == b.idtr.limit && a.cr0 == b.cr0 && a.cr2 == b.cr2 && a.cr3 == b.cr3 &&
         a.cr4 == b.cr4 && a.cr8 == b.cr8 && a.efer == b.efer && a.apic_base == b.apic_base;
}

bool SameFpu(const x86::FpuState& a, const x86::FpuState& b) {
  return a.fcw == b.fcw && a.fsw == b.fsw && a.ftw == b.ftw && a.fop == b.fop && a.fip == b.fip &&
         a.fdp == b.fdp && a.mxcsr == b.mxcsr && std::memcmp(a.st, b.st, sizeof a.st) == 0 &&
         std::memcmp(a.xmm, b.xmm, sizeof a.xmm) == 0;
}

}  // namespace

// x87/SSE state. With XSAVE support we edit the legacy region of the XSAVE image
// (keeping AVX and later components intact); otherwise kvm_fpu.
namespace {
// Offsets in the FXSAVE/XSAVE legacy region (SDM Vol. 1, 10.5.1).
constexpr size_t kFcw = 0, kFsw = 2, kFtw = 4, kFop = 6, kFip = 8, kFdp = 16, kMxcsr = 24, kSt = 32,
                 kXmm = 160, kXstateBv = 512;
template <typename T>
T Get(const uint8_t* p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}
template <typename T>
void Put(uint8_t* p, size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}
}  // namespace

void KvmVcpu::GetFpu(x86::FpuState& f) {
  if (accel_->caps().xsave) {
    kvm_xsave x{};
    if (ioctl(fd_, KVM_GET_XSAVE, &x) < 0) ThrowErrno("KVM_GET_XSAVE");
    const auto* p = reinterpret_cast<const uint8_t*>(x.region);
    f.fcw = Get<uint16_t>(p, kFcw);
    f.fsw = Get<uint16_t>(p, kFsw);
    f.ftw = p[kFtw];
    f.fop = Get<uint16_t>(p, kFop);
    f.fip = Get<uint64_t>(p, kFip);
    f.fdp = Get<uint64_t>(p, kFdp);
    f.mxcsr = Get<uint32_t>(p, kMxcsr);
    std::memcpy(f.st, p + kSt, sizeof f.st);
    std::memcpy(f.xmm, p + kXmm, sizeof f.xmm);
    return;
  }
  kvm_fpu k{};
  if (ioctl(fd_, KVM_GET_FPU, &k) < 0) ThrowErrno("KVM_GET_FPU");
  f.fcw = k.fcw;
  f.fsw = k.fsw;
  f.ftw = k.ftwx;
  f.fop = k.last_opcode;
  f.fip = k.last_ip;
  f.fdp = k.last_dp;
  std::memcpy(f.st, k.fpr, sizeof f.st);
  std::memcpy(f.xmm, k.xmm, sizeof f.xmm);
  f.mxcsr = k.mxcsr;
}

void KvmVcpu::SetFpu(const x86::FpuState& f) {
  if (accel_->caps().xsave) {
    kvm_xsave x{};
    if (ioctl(fd_, KVM_GET_XSAVE, &x) < 0) ThrowErrno("KVM_GET_XSAVE");
    auto* p = reinterpret_cast<uint8_t*>(x.region);
    Put<uint16_t>(p, kFcw, f.fcw);
    Put<uint16_t>(p, kFsw, f.fsw);
    p[kFtw] = static_cast<uint8_t>(f.ftw);
    Put<uint16_t>(p, kFop, f.fop);
    Put<uint64_t>(p, kFip, f.fip);
    Put<uint64_t>(p, kFdp, f.fdp);
    Put<uint32_t>(p, kMxcsr, f.mxcsr);
    std::memcpy(p + kSt, f.st, sizeof f.st);
    std::memcpy(p + kXmm, f.xmm, sizeof f.xmm);
    // x87 and SSE components now hold explicit values, not their init state.
    Put<uint64_t>(p, kXstateBv, Get<uint64_t>(p, kXstateBv) | 3);
    if (ioctl(fd_, KVM_SET_XSAVE, &x) < 0) ThrowErrno("KVM_SET_XSAVE");
    return;
  }
  kvm_fpu k{};
  k.fcw = f.fcw;
  k.fsw = f.fsw;
  k.ftwx = static_cast<uint8_t>(f.ftw);
  k.last_opcode = f.fop;
  k.last_ip = f.fip;
  k.last_dp = f.fdp;
  std::memcpy(k.fpr, f.st, sizeof k.fpr);
  std::memcpy(k.xmm, f.xmm, sizeof k.xmm);
  k.mxcsr = f.mxcsr;
  if (ioctl(fd_, KVM_SET_FPU, &k) < 0) ThrowErrno("KVM_SET_FPU");
}

void KvmVcpu::GetState(x86::CpuState& s) {
  kvm_regs r{};
  if (ioctl(fd_, KVM_GET_REGS, &r) < 0) ThrowErrno("KVM_GET_REGS");
  kvm_sregs sr{};
  if (ioctl(fd_, KVM_GET_SREGS, &sr) < 0) ThrowErrno("KVM_GET_SREGS");
  kvm_vcpu_events e{};
  if (accel_->caps().vcpu_events && ioctl(fd_, KVM_GET_VCPU_EVENTS, &e) < 0)
    ThrowErrno("KVM_GET_VCPU_EVENTS");
  GetStateFrom(s, r, sr, e);
  s.halted = accel_->has_irqchip() && accel_->caps().mp_state && mp_state() == KVM_MP_STATE_HALTED;
}

void KvmVcpu::GetStateAtExit(x86::CpuState& s) {
  if (!sync_regs_) {
    GetState(s);
    return;
  }
  // KVM stored registers, segments and events in kvm_run on the way out: three
  // ioctls fewer (each costs microseconds, tens of them under a nested hypervisor).
  const kvm_sync_regs& sync = run_->s.regs;
  GetStateFrom(s, sync.regs, sync.sregs, sync.events);
  s.halted = false;  // it was executing an instruction
}

void KvmVcpu::GetStateFrom(x86::CpuState& s, const kvm_regs& r, const kvm_sregs& sr,
                           const kvm_vcpu_events& e) {
  using namespace x86;
  s.regs[RAX] = r.rax;
  s.regs[RCX] = r.rcx;
  s.regs[RDX] = r.rdx;
  s.regs[RBX] = r.rbx;
  s.regs[RSP] = r.rsp;
  s.regs[RBP] = r.rbp;
  s.regs[RSI] = r.rsi;
  s.regs[RDI] = r.rdi;
  s.regs[R8] = r.r8;
  s.regs[R9] = r.r9;
  s.regs[R10] = r.r10;
  s.regs[R11] = r.r11;
  s.regs[R12] = r.r12;
  s.regs[R13] = r.r13;
  s.regs[R14] = r.r14;
  s.regs[R15] = r.r15;
  s.rip = r.rip;
  s.rflags = r.rflags;

  s.seg[ES] = FromKvm(sr.es);
  s.seg[CS] = FromKvm(sr.cs);
  s.seg[SS] = FromKvm(sr.ss);
  s.seg[DS] = FromKvm(sr.ds);
  s.seg[FS] = FromKvm(sr.fs);
  s.seg[GS] = FromKvm(sr.gs);
  s.ldtr = FromKvm(sr.ldt);
  s.tr = FromKvm(sr.tr);
  s.gdtr = {sr.gdt.base, sr.gdt.limit};
  s.idtr = {sr.idt.base, sr.idt.limit};
  s.cr0 = sr.cr0;
  s.cr2 = sr.cr2;
  s.cr3 = sr.cr3;
  s.cr4 = sr.cr4;
  s.cr8 = sr.cr8;
  s.efer = sr.efer;
  s.apic_base = sr.apic_base;

  GetFpu(s.fpu);

  auto map = MsrMap(*accel_, s);
  MsrBuffer buf(map.size());
  buf.msrs()->nmsrs = static_cast<uint32_t>(map.size());
  for (size_t i = 0; i < map.size(); ++i) buf.msrs()->entries[i].index = map[i].first;
  int got = ioctl(fd_, KVM_GET_MSRS, buf.msrs());
  if (got < 0) ThrowErrno("KVM_GET_MSRS");
  for (int i = 0; i < got; ++i) *map[i].second = buf.msrs()->entries[i].data;
  last_tsc_read_ = s.tsc;
  tsc_read_valid_ = true;

  if (accel_->caps().debugregs) {
    kvm_debugregs d{};
    if (ioctl(fd_, KVM_GET_DEBUGREGS, &d) < 0) ThrowErrno("KVM_GET_DEBUGREGS");
    for (int i = 0; i < 4; ++i) s.dr[i] = d.db[i];
    s.dr[6] = d.dr6;
    s.dr[7] = d.dr7;
  }
  if (accel_->caps().vcpu_events) {
    s.nmi_pending = e.nmi.pending != 0;
    s.interrupt_shadow = e.interrupt.shadow != 0;
  }
}

void KvmVcpu::SetState(const x86::CpuState& s) { SetStateParts(s, nullptr); }

void KvmVcpu::SetChangedState(const x86::CpuState& s, const x86::CpuState& before) {
  SetStateParts(s, &before);
}

void KvmVcpu::SetStateParts(const x86::CpuState& in, const x86::CpuState* before) {
  using namespace x86;
  CpuState s = in;  // MsrMap wants non-const pointers

  if (!before || !SameSregs(s, *before)) SetSregs(s);
  SetRegs(s);
  if (!before || !SameFpu(s.fpu, before->fpu)) SetFpu(s.fpu);
  SetMsrs(s, before);
  if (accel_->caps().debugregs &&
      (!before || !std::equal(s.dr, s.dr + 8, before->dr))) {
    kvm_debugregs d{};
    for (int i = 0; i < 4; ++i) d.db[i] = s.dr[i];
    d.dr6 = s.dr[6];
    d.dr7 = s.dr[7];
    if (ioctl(fd_, KVM_SET_DEBUGREGS, &d) < 0) ThrowErrno("KVM_SET_DEBUGREGS");
  }
  if (accel_->caps().vcpu_events &&
      (!before || s.nmi_pending != before->nmi_pending ||
       s.interrupt_shadow != before->interrupt_shadow)) {
    kvm_vcpu_events e{};
    if (ioctl(fd_, KVM_GET_VCPU_EVENTS, &e) < 0) ThrowErrno("KVM_GET_VCPU_EVENTS");
    e.nmi.pending = s.nmi_pending ? 1 : 0;
    e.interrupt.shadow = s.interrupt_shadow ? KVM_X86_SHADOW_INT_STI : 0;
    e.flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SHADOW;
    if (ioctl(fd_, KVM_SET_VCPU_EVENTS, &e) < 0) ThrowErrno("KVM_SET_VCPU_EVENTS");
  }
  if (accel_->has_irqchip() && accel_->caps().mp_state && (!before || s.halted != before->halted)) {
    // Only HALTED <-> RUNNABLE: an AP waiting for SIPI stays waiting.
    uint32_t cur = mp_state();
    uint32_t want = cur;
    if (s.halted)
      want = KVM_MP_STATE_HALTED;
    else if (cur == KVM_MP_STATE_HALTED)
      want = KVM_MP_STATE_RUNNABLE;
    if (want != cur) {
      kvm_mp_state mp{want};
      if (ioctl(fd_, KVM_SET_MP_STATE, &mp) < 0) ThrowErrno("KVM_SET_MP_STATE");
    }
  }
}

void KvmVcpu::SetSregs(const x86::CpuState& s) {
  using namespace x86;
  // Read first so that fields CpuState does not carry (the pending-interrupt bitmap)
  // keep their values.
  kvm_sregs sr{};
  if (ioctl(fd_, KVM_GET_SREGS, &sr) < 0) ThrowErrno("KVM_GET_SREGS");
  sr.es = ToKvm(s.seg[ES]);
  sr.cs = ToKvm(s.seg[CS]);
  sr.ss = ToKvm(s.seg[SS]);
  sr.ds = ToKvm(s.seg[DS]);
  sr.fs = ToKvm(s.seg[FS]);
  sr.gs = ToKvm(s.seg[GS]);
  sr.ldt = ToKvm(s.ldtr);
  sr.tr = ToKvm(s.tr);
  sr.tr.unusable = 0;  // TR is always usable (VM entry requires it)
  sr.gdt.base = s.gdtr.base;
  sr.gdt.limit = s.gdtr.limit;
  sr.idt.base = s.idtr.base;
  sr.idt.limit = s.idtr.limit;
  sr.cr0 = s.cr0;
  sr.cr2 = s.cr2;
  sr.cr3 = s.cr3;
  sr.cr4 = s.cr4;
  sr.cr8 = s.cr8;
  sr.efer = s.efer;
  sr.apic_base = s.apic_base;
  if (ioctl(fd_, KVM_SET_SREGS, &sr) < 0) ThrowErrno("KVM_SET_SREGS");
}

void KvmVcpu::SetRegs(const x86::CpuState& s) {
  using namespace x86;
  kvm_regs r{};
  r.rax = s.regs[RAX];
  r.rcx = s.regs[RCX];
  r.rdx = s.regs[RDX];
  r.rbx = s.regs[RBX];
  r.rsp = s.regs[RSP];
  r.rbp = s.regs[RBP];
  r.rsi = s.regs[RSI];
  r.rdi = s.regs[RDI];
  r.r8 = s.regs[R8];
  r.r9 = s.regs[R9];
  r.r10 = s.regs[R10];
  r.r11 = s.regs[R11];
  r.r12 = s.regs[R12];
  r.r13 = s.regs[R13];
  r.r14 = s.regs[R14];
  r.r15 = s.regs[R15];
  r.rip = s.rip;
  r.rflags = s.rflags | 2;  // bit 1 is always set
  if (ioctl(fd_, KVM_SET_REGS, &r) < 0) ThrowErrno("KVM_SET_REGS");
}

// All carried MSRs, or with `before` only those that differ from it.
void KvmVcpu::SetMsrs(x86::CpuState& s, const x86::CpuState* before) {
  auto map = MsrMap(*accel_, s);
  if (before) {
    x86::CpuState b = *before;
    auto old = MsrMap(*accel_, b);  // same MSRs in the same order
    std::vector<std::pair<uint32_t, uint64_t*>> changed;
    for (size_t i = 0; i < map.size(); ++i)
      if (*map[i].second != *old[i].second) changed.push_back(map[i]);
    map.swap(changed);
    if (map.empty()) return;
  }
  // A register read-modify-write (monitor, gdbstub) must not pull the guest's TSC back
  // to the value it had when it was read: write it only when the caller changed it.
  if (tsc_read_valid_ && s.tsc == last_tsc_read_) {
    map.erase(std::remove_if(map.begin(), map.end(), [](const auto& m) { return m.first == 0x10; }),
              map.end());
  }
  MsrBuffer buf(map.size());
  buf.msrs()->nmsrs = static_cast<uint32_t>(map.size());
  for (size_t i = 0; i < map.size(); ++i) {
    buf.msrs()->entries[i].index = map[i].first;
    buf.msrs()->entries[i].data = *map[i].second;
  }
  int set = ioctl(fd_, KVM_SET_MSRS, buf.msrs());
  if (set < 0) ThrowErrno("KVM_SET_MSRS");
  if (static_cast<size_t>(set) != map.size()) {
    char b[96];
    std::snprintf(b, sizeof b, "KVM vCPU %d: KVM refused MSR 0x%x = 0x%llx", index_, map[set].first,
                  static_cast<unsigned long long>(*map[set].second));
    throw std::runtime_error(b);
  }
}

}  // namespace emu::accel
