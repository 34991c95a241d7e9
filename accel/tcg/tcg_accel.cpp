#include "accel/tcg/tcg_accel.h"

#include <unistd.h>

#include <string>

#include "accel/tcg/profile.h"

#include "target-x86/helpers/x86_cpu.h"

namespace emu::accel::tcg {

TcgAccelerator::TcgAccelerator(hw::AddressSpace* memory, CpuBus* bus, TcgOptions options)
    : memory_(memory), bus_(bus), options_(options), cache_(options.code_budget) {
  if (options_.native && NativeSupported()) {
    code_ = std::make_unique<CodeBuffer>(options_.code_buffer_bytes);
    if (code_->ok())
      cache_.AttachCode(code_.get());
    else  // e.g. a system that forbids writable executable memory
      std::fprintf(stderr, "emu: tcg: no executable memory for native code; using the interpreter\n");
  }
  if (options_.perf_map && cache_.code()) {
    const std::string path = "/tmp/perf-" + std::to_string(getpid()) + ".map";
    perf_map_ = std::fopen(path.c_str(), "w");
    if (!perf_map_) std::fprintf(stderr, "emu: -perfmap: cannot write %s\n", path.c_str());
  }
  // Any change of the memory map invalidates host pointers cached in soft TLBs.
  listener_ = memory_->AddListener([this](const hw::FlatView&) {
    map_generation_.fetch_add(1, std::memory_order_acq_rel);
  });
}

TcgAccelerator::~TcgAccelerator() {
  if (perf_map_) std::fclose(perf_map_);
  memory_->RemoveListener(listener_);
  if (TcgProfile* prof = TcgProfile::Get()) {
    cache_.RetireToProfile();
    prof->Dump();
  }
}

std::unique_ptr<Vcpu> TcgAccelerator::CreateVcpu(int index) {
  num_vcpus_++;
  return std::make_unique<TcgVcpu>(this, index);
}

TcgVcpu::TcgVcpu(TcgAccelerator* accel, int index)
    : accel_(accel), index_(index), cpu_(std::make_unique<x86::X86Cpu>()) {
  mmu_ = std::make_unique<SoftMmu>(accel->memory(), accel->bus(), cpu_.get(), &accel->cache());
  cpu_->Attach(mmu_.get(), accel->bus());
  cpu_->apic_id_ = index;
  if (index != 0) {
    cpu_->env.s.apic_base &= ~0x100ull;  // APs are not the BSP
    cpu_->env.s.halted = true;          // and wait for INIT/SIPI from the BSP's LAPIC
    wait_sipi_.store(true);
  }
  std::lock_guard<FairLock> lock(accel_->exec_lock());
  accel_->cache().RegisterTlb(mmu_.get());
}

TcgVcpu::~TcgVcpu() {
  std::lock_guard<FairLock> lock(accel_->exec_lock());
  if (TcgProfile* prof = TcgProfile::Get()) {
    prof->tlb_flushes += mmu_->flushes;
    prof->tlb_misses += mmu_->misses;
  }
  accel_->cache().UnregisterTlb(mmu_.get());
  accel_->VcpuGone();
}

uint64_t TcgVcpu::blocks_executed() const { return cpu_->ctx.blocks; }

void TcgVcpu::RequestInit() {
  init_request_.store(true, std::memory_order_release);
  cpu_->ctx.exit_request.store(1, std::memory_order_release);
}

void TcgVcpu::RequestSipi(uint8_t vector) {
  sipi_request_.store(vector, std::memory_order_release);
  cpu_->ctx.exit_request.store(1, std::memory_order_release);
}

RunResult TcgVcpu::Step() {
  stepping_ = true;
  RunResult r = Run();
  stepping_ = false;
  return r;
}

void TcgVcpu::Kick() {
  kick_.store(true, std::memory_order_release);
  cpu_->ctx.exit_request.store(1, std::memory_order_release);
}

void TcgVcpu::InterruptRequest() {
  irq_hint_.store(true, std::memory_order_release);
  cpu_->ctx.exit_request.store(1, std::memory_order_release);
}

void TcgVcpu::RaiseNmi() {
  nmi_.store(true, std::memory_order_release);
  cpu_->ctx.exit_request.store(1, std::memory_order_release);
}

void TcgVcpu::SetA20(bool enabled) {
  a20_request_.store(enabled ? 1 : 0, std::memory_order_release);
  cpu_->ctx.exit_request.store(1, std::memory_order_release);
}

void TcgVcpu::SetInterruptSource(InterruptSource* source) {
  cpu_->irq_source = source;
  irq_hint_.store(true);
}

void TcgVcpu::GetState(x86::CpuState& s) {
  std::lock_guard<FairLock> lock(accel_->exec_lock());
  GetStateFromOwnThread(s);
}

void TcgVcpu::GetStateFromOwnThread(x86::CpuState& s) {
  s = cpu_->env.s;
  s.rflags = x86::ComputeEflags(cpu_->env);
  s.tsc = cpu_->ReadTsc();
  s.nmi_pending = s.nmi_pending || nmi_.load();
}

void TcgVcpu::SetState(const x86::CpuState& s) {
  std::lock_guard<FairLock> lock(accel_->exec_lock());
  x86::X86Env& e = cpu_->env;
  e.s = s;
  x86::SetEflags(e, s.rflags);
  if (!(s.cr0 & x86::kCr0PE)) e.cpl = 0;
  else if (s.rflags & x86::kFlagVM) e.cpl = 3;
  else e.cpl = static_cast<uint8_t>(s.seg[x86::SS].dpl());
  e.exc_vector = -1;
  cpu_->WriteTsc(s.tsc);
  cpu_->event = x86::CpuEvent::kNone;
  cpu_->FlushTlb();
  jc_.Clear();
}

}  // namespace emu::accel::tcg
