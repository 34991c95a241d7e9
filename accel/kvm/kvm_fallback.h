// The translator as KVM's instruction emulator: when KVM reports an emulation
// failure (an instruction it cannot execute -- on this host's kvm_pvm, INT n and
// IRET in ring 0, far jumps, ...), the vCPU's state goes to a translator vCPU that
// executes that instruction (or delivers the exception it raises through the
// guest's IDT) and comes back; then KVM resumes. docs/kvm.md, "Emulation fallback".
//
//   auto fb = std::make_unique<TranslatorFallback>(kvm, &memory, &bus);  // installs itself
//   board.SetA20Listener([&](bool on) { fb->SetA20(on); });
//
// The translator sees the same AddressSpace (RAM through the same host pointers as
// KVM's memory slots, so both see one memory) and the same CpuBus; it never takes
// interrupts itself (KVM's irqchip owns them). Devices that live inside KVM (the
// in-kernel PIC, IOAPIC, PIT and LAPIC) are not on the CpuBus: the LAPIC's registers
// are read and plainly written through KVM_GET/SET_LAPIC; an access with side effects
// to any of them ends a run of stepped instructions just before it (KVM executes it),
// or, for the very instruction KVM failed, stops the vCPU with an "unimplemented" error.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "accel/accel.h"
#include "hw/core/memory.h"

namespace emu::accel {

namespace tcg {
class TcgAccelerator;
class TcgVcpu;
}  // namespace tcg

class KvmAccelerator;
class KvmVcpu;

class TranslatorFallback {
 public:
  struct Options {
    // One line on stderr the first time KVM hands an instruction over.
    bool announce = true;
    // When KVM fails again right where the translator left off, the next exit steps
    // twice as many instructions, up to this many, before KVM gets another try.
    int max_burst = 256;
  };

  // Creates the translator over `memory` and `bus` (both outlive this object) and
  // one translator vCPU per KVM vCPU, and installs itself as `kvm`'s emulation
  // fallback. Before any KvmVcpu runs.
  TranslatorFallback(KvmAccelerator* kvm, hw::AddressSpace* memory, CpuBus* bus,
                     Options options);
  TranslatorFallback(KvmAccelerator* kvm, hw::AddressSpace* memory, CpuBus* bus)
      : TranslatorFallback(kvm, memory, bus, Options{}) {}
  ~TranslatorFallback();

  // The board's A20 gate (KVM itself ignores it; the translator follows it).
  void SetA20(bool enabled);

  // Emulation-failure exits handled, and guest instructions (or exception
  // deliveries) the translator executed for them.
  uint64_t exits() const { return exits_.load(); }
  uint64_t instructions() const { return instructions_.load(); }
  // "kvm: the translator executed N instructions in M emulation-failure exits".
  std::string Summary() const;

 private:
  class Bus;
  struct PerVcpu;
  std::optional<RunResult> Handle(KvmVcpu& v);
  void Announce(KvmVcpu& v, const x86::CpuState& s);

  KvmAccelerator* kvm_;
  Options opts_;
  std::unique_ptr<Bus> bus_;
  std::unique_ptr<tcg::TcgAccelerator> tcg_;
  std::vector<std::unique_ptr<PerVcpu>> vcpus_;
  std::atomic<uint64_t> exits_{0}, instructions_{0};
  std::once_flag announced_;
};

}  // namespace emu::accel
