#include "accel/kvm/kvm_fallback.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "accel/kvm/kvm_accel.h"
#include "accel/kvm/kvm_vcpu.h"
#include "accel/tcg/tcg_accel.h"
#include "hw/core/log.h"
#include "target-x86/disas.h"
#include "target-x86/helpers/x86_cpu.h"

namespace emu::accel {

namespace {

// The in-kernel IOAPIC's window (KVM places it here, IOAPIC_MEM_LENGTH bytes).
constexpr uint64_t kIoapicBase = 0xfec00000, kIoapicSize = 0x100;

std::string Hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%" PRIx64, v);
  return b;
}

// What the translator's accesses need to know while it steps for a KVM vCPU; set by
// Handle on the vCPU's own thread, which is also the thread the CpuBus calls run on.
struct StepContext {
  KvmVcpu* vcpu = nullptr;
  uint64_t apic_page = ~0ull;  // the xAPIC window, when enabled
  std::string refused;         // first access to an in-kernel device that was refused
  bool lapic_written = false;  // CR8 (the TPR's class) must be read back from KVM
};
thread_local StepContext t_step;

}  // namespace

// The CpuBus the translator sees: the machine's, except for devices that KVM
// emulates in the kernel and that are therefore not on it.
class TranslatorFallback::Bus : public CpuBus {
 public:
  Bus(KvmAccelerator* kvm, CpuBus* inner) : kvm_(kvm), inner_(inner) {}

  uint64_t PortRead(uint16_t port, unsigned size) override {
    if (InKernelPort(port, size)) return Refuse("port " + Hex(port), size);
    return inner_->PortRead(port, size);
  }
  void PortWrite(uint16_t port, uint64_t value, unsigned size) override {
    if (InKernelPort(port, size)) {
      Refuse("port " + Hex(port), size);
      return;
    }
    inner_->PortWrite(port, value, size);
  }
  uint64_t MmioRead(uint64_t addr, unsigned size) override {
    if (InLapic(addr)) {
      // Register reads have no side effects: KVM_GET_LAPIC answers them.
      uint32_t off = static_cast<uint32_t>(addr & 0xfff);
      if ((off & 0xf) + size > 4) return Refuse("LAPIC register " + Hex(off), size);
      return (t_step.vcpu->ReadLapic(off) >> (8 * (off & 3))) &
             (size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1);
    }
    if (InIoapic(addr)) return Refuse("IOAPIC " + Hex(addr), size);
    return inner_->MmioRead(addr, size);
  }
  void MmioWrite(uint64_t addr, uint64_t value, unsigned size) override {
    if (InLapic(addr)) {
      uint32_t off = static_cast<uint32_t>(addr & 0xfff);
      if (size != 4 || (off & 0xf) ||
          !t_step.vcpu->WriteLapic(off, static_cast<uint32_t>(value)))
        Refuse("a write to LAPIC register " + Hex(off), size);
      else
        t_step.lapic_written = true;
      return;
    }
    if (InIoapic(addr)) {
      Refuse("IOAPIC " + Hex(addr), size);
      return;
    }
    inner_->MmioWrite(addr, value, size);
  }

 private:
  bool InKernelPort(uint16_t port, unsigned size) const {
    auto hits = [&](uint32_t first, uint32_t last) { return port <= last && port + size > first; };
    if (kvm_->has_irqchip() &&
        (hits(0x20, 0x21) || hits(0xa0, 0xa1) || hits(0x4d0, 0x4d1)))  // PICs, ELCR
      return true;
    return kvm_->has_pit() && (hits(0x40, 0x43) || hits(0x61, 0x61));
  }
  bool InLapic(uint64_t addr) const {
    return kvm_->has_irqchip() && t_step.vcpu && (addr & ~0xfffull) == t_step.apic_page;
  }
  bool InIoapic(uint64_t addr) const {
    return kvm_->has_irqchip() && addr - kIoapicBase < kIoapicSize;
  }
  uint64_t Refuse(const std::string& what, unsigned size) {
    if (t_step.refused.empty()) t_step.refused = what;
    return size >= 8 ? ~0ull : (1ull << (8 * size)) - 1;
  }

  KvmAccelerator* kvm_;
  CpuBus* inner_;
};

struct TranslatorFallback::PerVcpu {
  std::unique_ptr<Vcpu> owner;
  tcg::TcgVcpu* tcg = nullptr;
  // Where KVM was resumed last time, and how many instructions the last exit stepped.
  bool resumed = false;
  uint64_t resume_rip = 0, resume_cs_base = 0;
  int burst = 1;
};

TranslatorFallback::TranslatorFallback(KvmAccelerator* kvm, hw::AddressSpace* memory,
                                       CpuBus* bus, Options options)
    : kvm_(kvm), opts_(options), bus_(std::make_unique<Bus>(kvm, bus)) {
  tcg::TcgOptions to;
  to.code_budget = 4u << 20;  // a few instructions at a time, flushed at every exit
  // -d in_asm / -d int show what the translator executes for KVM.
  to.log_in_asm = hw::LogEnabled(hw::LogMask::kInAsm);
  to.log_int = hw::LogEnabled(hw::LogMask::kInt);
  if (std::FILE* f = hw::LogStream()) to.log = f;
  tcg_ = std::make_unique<tcg::TcgAccelerator>(memory, bus_.get(), to);
  for (int i = 0; i < kvm->num_cpus(); ++i) {
    auto p = std::make_unique<PerVcpu>();
    // Created as index 0: the translator's APs start waiting for a SIPI, these never
    // wait for anything (their state always comes from KVM). CPUID's APIC ID stays right.
    p->owner = tcg_->CreateVcpu(0);
    p->tcg = static_cast<tcg::TcgVcpu*>(p->owner.get());
    p->tcg->cpu().apic_id_ = i;
    p->tcg->cpu().nonspeculative = false;  // the guest runs on the host's CPU
    vcpus_.push_back(std::move(p));
  }
  kvm->SetEmulationFallback(
      [this](Vcpu& v) { return Handle(static_cast<KvmVcpu&>(v)); });
}

TranslatorFallback::~TranslatorFallback() {
  kvm_->SetEmulationFallback(nullptr);
  vcpus_.clear();
  tcg_.reset();
}

void TranslatorFallback::SetA20(bool enabled) {
  for (auto& p : vcpus_) p->tcg->SetA20(enabled);
}

std::string TranslatorFallback::Summary() const {
  return "kvm: the translator executed " + std::to_string(instructions()) + " instructions in " +
         std::to_string(exits()) + " emulation-failure exits";
}

void TranslatorFallback::Announce(KvmVcpu& v, const x86::CpuState& s) {
  std::string insn;
  std::vector<uint8_t> bytes = v.FailedInstructionBytes();
  if (!bytes.empty() && x86::DisassemblerAvailable()) {
    const x86::Segment& cs = s.seg[x86::CS];
    x86::CpuMode m = (s.efer & x86::kEferLMA) && cs.l() ? x86::CpuMode::k64
                     : (s.cr0 & x86::kCr0PE) && !(s.rflags & x86::kFlagVM) && cs.db()
                         ? x86::CpuMode::k32
                         : x86::CpuMode::k16;
    insn = x86::Disassemble(bytes.data(), bytes.size(), s.rip, m, 1);
    // "0x...:  cd 30   int 0x30\n" -> "int 0x30"
    size_t e = insn.find_last_not_of(" \n");
    size_t b = insn.rfind("  ", e);
    insn = b == std::string::npos ? "" : " (" + insn.substr(b + 2, e - b - 1) + ")";
  }
  std::fprintf(stderr,
               "emu: kvm: KVM cannot execute the instruction at %04x:%" PRIx64
               "%s; the translator executes such instructions, more slowly "
               "(-d unimp prints how many at exit)\n",
               s.seg[x86::CS].selector, s.rip, insn.c_str());
}

std::optional<RunResult> TranslatorFallback::Handle(KvmVcpu& kv) {
  if (kv.index() < 0 || static_cast<size_t>(kv.index()) >= vcpus_.size())
    return RunResult{ExitReason::kError, "no translator vCPU for this vCPU"};
  PerVcpu& p = *vcpus_[kv.index()];
  x86::CpuState in;
  kv.GetStateAtExit(in);
  if (opts_.announce) std::call_once(announced_, [&] { Announce(kv, in); });
  exits_++;
  // KVM failed again right where we gave it back (it ran nothing in between, as in a
  // stretch of code it cannot execute at all): step more this time.
  bool again = p.resumed && in.rip == p.resume_rip && in.seg[x86::CS].base == p.resume_cs_base;
  p.burst = again ? std::min(p.burst * 2, std::max(opts_.max_burst, 1)) : 1;
  if (kv.single_stepping()) p.burst = 1;  // a debugger stops after each instruction
  hw::Log(hw::LogMask::kInt, "kvm: vcpu %d: emulation failure at %04x:%" PRIx64
          ", the translator steps up to %d instructions",
          kv.index(), in.seg[x86::CS].selector, in.rip, p.burst);
  {
    // KVM may have rewritten any code since the last exit, without the translator's
    // write tracking seeing it: start from an empty translation cache.
    std::lock_guard<tcg::FairLock> g(tcg_->exec_lock());
    tcg_->cache().FlushAll();
  }
  x86::CpuState cur = in;
  cur.nmi_pending = false;  // events stay with KVM's irqchip
  p.tcg->SetState(cur);
  t_step = {&kv, (in.apic_base & 0x800) ? (in.apic_base & ~0xfffull) : ~0ull, {}, false};
  struct Clear {
    ~Clear() { t_step = {}; }
  } clear;
  for (int k = 0;; ++k) {
    RunResult r = p.tcg->Step();
    if (!t_step.refused.empty()) {
      if (k == 0)
        return RunResult{ExitReason::kError,
                         "unimplemented: " + t_step.refused +
                             " is emulated inside KVM (in-kernel irqchip/PIT), out of the "
                             "translator's reach"};
      break;  // KVM executes this one itself: hand back the state from before it
    }
    if (r.reason == ExitReason::kError || r.reason == ExitReason::kShutdown) return r;
    if (r.reason == ExitReason::kDebug)
      return RunResult{ExitReason::kError, "unexpected debug stop: " + r.detail};
    if (r.reason != ExitReason::kStopped || r.detail != "step") break;  // nothing ran
    p.tcg->GetState(cur);
    instructions_++;
    if (cur.halted || k + 1 >= p.burst || kv.kick_pending()) break;
  }
  // KVM's TSC kept counting; equal to what GetState read, SetState leaves it alone.
  // (A WRMSR to IA32_TSC by a stepped instruction is therefore not carried over.)
  cur.tsc = in.tsc;
  cur.nmi_pending = in.nmi_pending;
  if (t_step.lapic_written && cur.cr8 == in.cr8) {
    // The TPR changed through KVM_SET_LAPIC: the translator's CR8 is stale, and
    // writing it back with the segment registers would undo that.
    cur.cr8 = in.cr8 = (kv.ReadLapic(0x80) >> 4) & 0xf;
  }
  kv.SetChangedState(cur, in);
  p.resumed = true;
  p.resume_rip = cur.rip;
  p.resume_cs_base = cur.seg[x86::CS].base;
  return std::nullopt;
}

}  // namespace emu::accel
