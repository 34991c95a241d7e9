#include "accel/kvm/kvm_vcpu.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <vector>

#include "accel/kvm/kvm_accel.h"

namespace emu::accel {

namespace {

// The kick signal only has to interrupt KVM_RUN; its handler does nothing. SA_RESTART
// keeps other system calls on the vCPU thread (device code) from seeing EINTR.
int KickSignal() { return SIGRTMIN + 4; }

void NoopHandler(int) {}

void InstallKickHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = NoopHandler;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(KickSignal(), &sa, nullptr);
  });
}

const char* InternalErrorName(uint32_t sub) {
  switch (sub) {
    case KVM_INTERNAL_ERROR_EMULATION:
      return "emulation failure";
    case KVM_INTERNAL_ERROR_SIMUL_EX:
      return "exception while delivering an exception";
    case KVM_INTERNAL_ERROR_DELIVERY_EV:
      return "exit while delivering an event";
    case KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON:
      return "unexpected VM exit";
    default:
      return "unknown";
  }
}

std::string Hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

KvmVcpu::KvmVcpu(KvmAccelerator* accel, int index) : accel_(accel), index_(index) {
  InstallKickHandler();
  fd_ = ioctl(accel->vm_fd(), KVM_CREATE_VCPU, static_cast<unsigned long>(index));
  if (fd_ < 0) ThrowErrno("KVM_CREATE_VCPU");
  run_size_ = static_cast<size_t>(accel->vcpu_mmap_size());
  void* p = mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (p == MAP_FAILED) {
    int e = errno;
    close(fd_);
    errno = e;
    ThrowErrno("mmap of kvm_run");
  }
  run_ = static_cast<kvm_run*>(p);
  constexpr uint32_t kSync = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS | KVM_SYNC_X86_EVENTS;
  if ((accel->caps().sync_regs & kSync) == kSync && accel->caps().vcpu_events) {
    run_->kvm_valid_regs = kSync;
    sync_regs_ = true;
  }
  try {
    Configure();
  } catch (...) {
    munmap(run_, run_size_);
    close(fd_);
    throw;
  }
}

void KvmVcpu::Configure() {
  KvmAccelerator* accel = accel_;
  const int index = index_;

  std::vector<kvm_cpuid_entry2> table = accel->CpuidFor(index);
  std::vector<uint8_t> buf(sizeof(kvm_cpuid2) + table.size() * sizeof(kvm_cpuid_entry2));
  auto* cpuid = reinterpret_cast<kvm_cpuid2*>(buf.data());
  cpuid->nent = static_cast<uint32_t>(table.size());
  std::memcpy(cpuid->entries, table.data(), table.size() * sizeof(kvm_cpuid_entry2));
  if (ioctl(fd_, KVM_SET_CPUID2, cpuid) < 0) ThrowErrno("KVM_SET_CPUID2");

  if (index > 0 && accel->has_irqchip() && accel->caps().mp_state) {
    // APs sleep until the BSP's INIT-SIPI-SIPI sequence reaches them.
    kvm_mp_state mp{KVM_MP_STATE_INIT_RECEIVED};
    if (ioctl(fd_, KVM_SET_MP_STATE, &mp) < 0) ThrowErrno("KVM_SET_MP_STATE");
  }
}

KvmVcpu::~KvmVcpu() {
  if (run_) munmap(run_, run_size_);
  if (fd_ >= 0) close(fd_);
}

void KvmVcpu::ThrowErrno(const char* what) {
  throw std::runtime_error("KVM vCPU " + std::to_string(index_) + ": " + what + ": " +
                           std::strerror(errno));
}

void KvmVcpu::Kick() {
  std::lock_guard<std::mutex> g(kick_mu_);
  kick_.store(true);
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (in_run_ && !pthread_equal(thread_, pthread_self())) pthread_kill(thread_, KickSignal());
}

void KvmVcpu::SetGuestDebug(bool single_step, bool sw_breakpoints) {
  kvm_guest_debug d{};
  if (single_step || sw_breakpoints) d.control = KVM_GUESTDBG_ENABLE;
  if (single_step) d.control |= KVM_GUESTDBG_SINGLESTEP;
  if (sw_breakpoints) d.control |= KVM_GUESTDBG_USE_SW_BP;
  single_step_ = single_step;
  sw_breakpoints_ = sw_breakpoints;
  if (ioctl(fd_, KVM_SET_GUEST_DEBUG, &d) < 0) ThrowErrno("KVM_SET_GUEST_DEBUG");
}

uint32_t KvmVcpu::mp_state() {
  kvm_mp_state mp{};
  if (ioctl(fd_, KVM_GET_MP_STATE, &mp) < 0) ThrowErrno("KVM_GET_MP_STATE");
  return mp.mp_state;
}

RunResult KvmVcpu::Run() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, KickSignal());
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  {
    std::lock_guard<std::mutex> g(kick_mu_);
    in_run_ = true;
    thread_ = pthread_self();
  }
  struct Leave {
    KvmVcpu* v;
    ~Leave() {
      std::lock_guard<std::mutex> g(v->kick_mu_);
      v->in_run_ = false;
    }
  } leave{this};
  if (kick_.load()) {
    // Still enter once with immediate_exit set: KVM then finishes an I/O instruction
    // left pending by the last exit, so that GetState sees a consistent state.
    __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
    ioctl(fd_, KVM_RUN, 0);
    return Stopped();
  }
  try {
    return RunLoop();
  } catch (const std::exception& e) {
    // A device or a malformed exit must not take the vCPU thread down.
    return {ExitReason::kError, e.what()};
  }
}

RunResult KvmVcpu::Stopped() {
  kick_.store(false);
  __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
  return RunResult{ExitReason::kStopped, ""};
}

RunResult KvmVcpu::RunLoop() {
  for (;;) {
    InjectUserInterrupt();
    if (ioctl(fd_, KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) return Stopped();
      return {ExitReason::kError, "KVM_RUN: " + std::string(std::strerror(errno))};
    }
    switch (run_->exit_reason) {
      case KVM_EXIT_IO:
        HandleIo();
        break;
      case KVM_EXIT_MMIO:
        HandleMmio();
        break;
      case KVM_EXIT_HLT:
        return {ExitReason::kHalt, ""};
      case KVM_EXIT_SHUTDOWN:
        return {ExitReason::kShutdown, "triple fault"};
      case KVM_EXIT_INTR:
        return Stopped();
      case KVM_EXIT_DEBUG:
        return {ExitReason::kDebug, "exception " + std::to_string(run_->debug.arch.exception) +
                                        " at " + Hex(run_->debug.arch.pc)};
      case KVM_EXIT_IRQ_WINDOW_OPEN:
      case KVM_EXIT_SET_TPR:
      case KVM_EXIT_TPR_ACCESS:
        break;
      case KVM_EXIT_SYSTEM_EVENT:
        if (run_->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN ||
            run_->system_event.type == KVM_SYSTEM_EVENT_RESET)
          return {ExitReason::kShutdown, "system event " + std::to_string(run_->system_event.type)};
        return {ExitReason::kError,
                "KVM system event " + std::to_string(run_->system_event.type) + "; " + DumpRegs()};
      case KVM_EXIT_INTERNAL_ERROR:
        if (auto r = HandleInternalError()) return *r;
        break;
      case KVM_EXIT_FAIL_ENTRY:
        return {ExitReason::kError, "KVM entry failed: hardware reason " +
                                        Hex(run_->fail_entry.hardware_entry_failure_reason) +
                                        " on host cpu " + std::to_string(run_->fail_entry.cpu) +
                                        "; " + DumpRegs()};
      case KVM_EXIT_EXCEPTION:
        return {ExitReason::kError, "KVM exception exit: vector " +
                                        std::to_string(run_->ex.exception) + "; " + DumpRegs()};
      case KVM_EXIT_UNKNOWN:
        return {ExitReason::kError, "KVM unknown exit: hardware reason " +
                                        Hex(run_->hw.hardware_exit_reason) + "; " + DumpRegs()};
      default:
        return {ExitReason::kError, "unimplemented: KVM exit reason " +
                                        std::to_string(run_->exit_reason) + "; " + DumpRegs()};
    }
  }
}

// Without the in-kernel irqchip: deliver the user-space PIC's interrupt when the
// guest can take one, otherwise ask KVM to exit as soon as it can.
void KvmVcpu::InjectUserInterrupt() {
  const auto& chip = accel_->user_irqchip();
  if (accel_->has_irqchip() || !chip.pending) return;
  if (!chip.pending(index_)) {
    run_->request_interrupt_window = 0;
    return;
  }
  if (run_->ready_for_interrupt_injection && run_->if_flag) {
    kvm_interrupt irq{chip.ack(index_)};
    if (ioctl(fd_, KVM_INTERRUPT, &irq) < 0) ThrowErrno("KVM_INTERRUPT");
    run_->request_interrupt_window = 0;
  } else {
    run_->request_interrupt_window = 1;
  }
}

std::optional<RunResult> KvmVcpu::HandleInternalError() {
  const auto& ie = run_->internal;
  std::string why;
  if (ie.suberror == KVM_INTERNAL_ERROR_EMULATION) {
    std::vector<uint8_t> insn = FailedInstructionBytes();
    // A debugger's INT3 that KVM fails to emulate (kvm_pvm in ring 0) is still the
    // debugger's breakpoint, not the guest's #BP.
    if (sw_breakpoints_ && !insn.empty() && insn[0] == 0xcc)
      return RunResult{ExitReason::kDebug, "exception 3 at " + Hex(LinearPc())};
    if (!accel_->emulation_fallback()) {
      why = "no instruction emulator fallback installed";
    } else {
      // Trap-and-emulate: the translator executes what KVM could not, then we go
      // back to hardware.
      std::optional<RunResult> r = accel_->emulation_fallback()(*this);
      // Single-stepping: the fallback stepped one instruction (single_stepping()).
      if (!r && single_step_) return RunResult{ExitReason::kDebug, "exception 1 at " + Hex(LinearPc())};
      if (!r) return std::nullopt;
      if (r->reason != ExitReason::kError) return r;
      why = "the translator could not execute it either: " + r->detail;
    }
  }
  std::string d = "KVM internal error: suberror " + std::to_string(ie.suberror) + " (" +
                  InternalErrorName(ie.suberror) + ")";
  uint32_t n = ie.ndata < 16 ? ie.ndata : 16;
  if (n) {
    d += ", data";
    for (uint32_t i = 0; i < n; ++i) d += " " + Hex(ie.data[i]);
  }
  if (!why.empty()) d += " (" + why + ")";
  return RunResult{ExitReason::kError, d + "; " + DumpRegs()};
}

uint64_t KvmVcpu::LinearPc() {
  kvm_regs r{};
  kvm_sregs s{};
  if (ioctl(fd_, KVM_GET_REGS, &r) < 0) ThrowErrno("KVM_GET_REGS");
  if (ioctl(fd_, KVM_GET_SREGS, &s) < 0) ThrowErrno("KVM_GET_SREGS");
  return s.cs.base + r.rip;
}

std::vector<uint8_t> KvmVcpu::FailedInstructionBytes() const {
  const auto& ef = run_->emulation_failure;
  if (run_->exit_reason != KVM_EXIT_INTERNAL_ERROR || ef.suberror != KVM_INTERNAL_ERROR_EMULATION ||
      ef.ndata < 3 || !(ef.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
    return {};
  size_t n = ef.insn_size < sizeof ef.insn_bytes ? ef.insn_size : sizeof ef.insn_bytes;
  return std::vector<uint8_t>(ef.insn_bytes, ef.insn_bytes + n);
}

uint32_t KvmVcpu::ReadLapic(uint32_t offset) {
  kvm_lapic_state l{};
  if (ioctl(fd_, KVM_GET_LAPIC, &l) < 0) ThrowErrno("KVM_GET_LAPIC");
  offset &= 0xff0;
  uint32_t v;
  std::memcpy(&v, l.regs + offset, 4);
  return v;
}

bool KvmVcpu::WriteLapic(uint32_t offset, uint32_t value) {
  offset &= 0xff0;
  // Registers whose write is only a store (KVM_SET_LAPIC re-evaluates the priority,
  // the LVTs and the timer from the stored values). EOI and the ICR have side
  // effects (an end of interrupt, an IPI) that no ioctl performs for us.
  switch (offset) {
    case 0x080:  // TPR
    case 0x0d0:  // LDR
    case 0x0e0:  // DFR
    case 0x0f0:  // SVR
    case 0x310:  // ICR high
    case 0x320: case 0x330: case 0x340: case 0x350: case 0x360: case 0x370:  // LVTs
    case 0x380:  // timer initial count
    case 0x3e0:  // timer divide
      break;
    default:
      return false;
  }
  kvm_lapic_state l{};
  if (ioctl(fd_, KVM_GET_LAPIC, &l) < 0) ThrowErrno("KVM_GET_LAPIC");
  std::memcpy(l.regs + offset, &value, 4);
  if (ioctl(fd_, KVM_SET_LAPIC, &l) < 0) ThrowErrno("KVM_SET_LAPIC");
  return true;
}

void KvmVcpu::HandleIo() {
  auto& io = run_->io;
  CpuBus* bus = accel_->bus();
  const unsigned size = io.size;
  // Bound what the kernel hands us before touching the shared page.
  if ((size != 1 && size != 2 && size != 4) || io.data_offset >= run_size_ ||
      static_cast<uint64_t>(io.count) * size > run_size_ - io.data_offset)
    throw std::runtime_error("KVM: malformed I/O exit (size " + std::to_string(size) + ", count " +
                             std::to_string(io.count) + ")");
  uint8_t* data = reinterpret_cast<uint8_t*>(run_) + io.data_offset;
  for (uint32_t i = 0; i < io.count; ++i) {
    uint8_t* p = data + i * size;
    if (io.direction == KVM_EXIT_IO_OUT) {
      uint64_t v = 0;
      std::memcpy(&v, p, size);
      bus->PortWrite(io.port, v, size);
    } else {
      uint64_t v = bus->PortRead(io.port, size);
      std::memcpy(p, &v, size);
    }
  }
}

void KvmVcpu::HandleMmio() {
  auto& m = run_->mmio;
  CpuBus* bus = accel_->bus();
  const unsigned len = m.len <= 8 ? m.len : 8;
  if (len == 1 || len == 2 || len == 4 || len == 8) {
    if (m.is_write) {
      uint64_t v = 0;
      std::memcpy(&v, m.data, len);
      bus->MmioWrite(m.phys_addr, v, len);
    } else {
      uint64_t v = bus->MmioRead(m.phys_addr, len);
      std::memcpy(m.data, &v, len);
    }
    return;
  }
  for (unsigned i = 0; i < len; ++i) {  // odd sizes: byte by byte
    if (m.is_write)
      bus->MmioWrite(m.phys_addr + i, m.data[i], 1);
    else
      m.data[i] = static_cast<uint8_t>(bus->MmioRead(m.phys_addr + i, 1));
  }
}

std::string KvmVcpu::DumpRegs() {
  kvm_regs r{};
  kvm_sregs s{};
  if (ioctl(fd_, KVM_GET_REGS, &r) < 0 || ioctl(fd_, KVM_GET_SREGS, &s) < 0)
    return "registers unavailable";
  char b[320];
  std::snprintf(b, sizeof b,
                "vcpu %d RIP=%llx CS=%04x(base %llx l%d db%d dpl%d) RSP=%llx RFLAGS=%llx "
                "CR0=%llx CR3=%llx CR4=%llx EFER=%llx RAX=%llx",
                index_, static_cast<unsigned long long>(r.rip), s.cs.selector,
                static_cast<unsigned long long>(s.cs.base), s.cs.l, s.cs.db, s.cs.dpl,
                static_cast<unsigned long long>(r.rsp), static_cast<unsigned long long>(r.rflags),
                static_cast<unsigned long long>(s.cr0), static_cast<unsigned long long>(s.cr3),
                static_cast<unsigned long long>(s.cr4), static_cast<unsigned long long>(s.efer),
                static_cast<unsigned long long>(r.rax));
  return b;
}

}  // namespace emu::accel
