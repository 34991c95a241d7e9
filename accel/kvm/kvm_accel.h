// The KVM accelerator: runs guest code on the host CPU through /dev/kvm.
//
// How the machine wires it (system/machine.cpp):
//
//   std::string err;
//   auto kvm = accel::KvmAccelerator::Create({.num_cpus = config.smp}, &err);
//   if (!kvm) { warn(err); fall back to tcg; }        // "KVM not available: ..." etc.
//   kvm->AttachMemory(&system_memory);   // RAM/ROM ranges become KVM memory slots and
//                                        // follow later layout changes (listener)
//   kvm->SetCpuBus(&bus);                // port I/O and MMIO exits go here
//   if (kvm->has_irqchip()) {            // in-kernel PIC + IOAPIC + LAPIC (+ PIT)
//     isa_irq[n].Connect(kvm->IrqSink(n));   // GSI n: 0-15 ISA (PIC and IOAPIC), 16-23 PCI
//     // do not create user-space PIC/IOAPIC/LAPIC; with has_pit(), no user-space PIT
//     // and no port 0x61 device either (KVM serves 0x40-0x43 and 0x61 itself)
//   }
//   TranslatorFallback fallback(kvm.get(), &system_memory, &bus);  // kvm_fallback.h
//   for (int i = 0; i < config.smp; ++i) vcpus.push_back(kvm->CreateVcpu(i));
//   // each vCPU on its own thread: loop { RunResult r = vcpu->Run(); ... }
//
// Layout changes: the AddressSpace rebuilds its FlatView lazily and only then calls
// listeners, so the machine must call `system_memory.view()` (under the machine lock)
// after anything that may change the layout (PAM writes, PCI BAR updates) -- the simple
// rule is: at the end of every CpuBus::PortWrite/MmioWrite. Slot changes are safe while
// other vCPUs run.
//
// Threads: CreateVcpu, AttachMemory and SetIrq may be called from any thread;
// Vcpu::Run/GetState/SetState only from the vCPU's own thread (or while it is stopped);
// Vcpu::Kick from anywhere.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "accel/accel.h"
#include "accel/kvm/kvm_sys.h"
#include "hw/core/memory.h"

namespace emu::accel {

class KvmVcpu;

// What this host's KVM offers (filled in by Create; see docs/kvm.md for this machine).
struct KvmCaps {
  int api_version = 0;
  bool irqchip = false;       // KVM_CAP_IRQCHIP
  bool pit2 = false;          // KVM_CAP_PIT2
  bool readonly_mem = false;  // KVM_CAP_READONLY_MEM
  bool immediate_exit = false;
  bool mp_state = false;
  bool vcpu_events = false;
  bool debugregs = false;
  bool xsave = false;
  bool tsc_deadline = false;
  uint32_t sync_regs = 0;     // KVM_CAP_SYNC_REGS: KVM_SYNC_X86_* parts kvm_run carries
  int max_vcpus = 1;          // KVM_CAP_MAX_VCPUS (or NR_VCPUS on old kernels)
  int recommended_vcpus = 1;  // KVM_CAP_NR_VCPUS
  int max_memslots = 32;
  std::vector<uint32_t> msrs;  // KVM_GET_MSR_INDEX_LIST
  bool HasMsr(uint32_t index) const;
};

class KvmAccelerator : public Accelerator {
 public:
  struct Options {
    int num_cpus = 1;
    bool irqchip = true;  // use the in-kernel irqchip when KVM has it
    bool pit = true;      // and the in-kernel PIT (only together with the irqchip)
    // PC interrupt wiring as our ACPI MADT describes it: ISA IRQ 0 (the PIT) reaches
    // IOAPIC pin 2 (interrupt source override 0 -> GSI 2), the other ISA IRQs the pin
    // of their number. Off: KVM's default identity routing.
    bool irq0_to_pin2 = true;
    std::string device = "/dev/kvm";
  };

  // Opens the device, checks the API version and creates the VM (with irqchip/PIT as
  // asked and available). On failure returns null and sets *error to one line such as
  // "/dev/kvm: Permission denied" or "KVM not available: ...".
  static std::unique_ptr<KvmAccelerator> Create(const Options& opts, std::string* error);
  // Just the probe: true if `device` can be opened and speaks API 12.
  static bool Available(std::string* why = nullptr, const std::string& device = "/dev/kvm");
  ~KvmAccelerator() override;

  std::string name() const override { return "kvm"; }
  // Creates vCPU `index` (0 = BSP). Needs SetCpuBus first. With the in-kernel LAPIC,
  // APs (index > 0) start waiting for INIT/SIPI. The vCPU must not outlive this object.
  std::unique_ptr<Vcpu> CreateVcpu(int index) override;
  KvmVcpu* CreateKvmVcpu(int index);  // same, for callers that want the concrete type

  void SetCpuBus(CpuBus* bus) { bus_ = bus; }
  CpuBus* bus() const { return bus_; }

  // Maps the RAM/ROM of `as` as memory slots and keeps them in sync with its layout.
  // One address space per VM; `as` must outlive this object.
  void AttachMemory(hw::AddressSpace* as);

  const KvmCaps& caps() const { return caps_; }
  bool has_irqchip() const { return irqchip_; }
  bool has_pit() const { return pit_; }
  // Why there is no irqchip ("" when there is one).
  const std::string& irqchip_note() const { return irqchip_note_; }

  // Drives an input of the in-kernel irqchip (KVM_IRQ_LINE). `gsi` is the line number:
  // 0-15 the ISA IRQs, reaching PIC pin n and IOAPIC pin n (IRQ 0: IOAPIC pin 2 with
  // irq0_to_pin2), 16-23 IOAPIC pins only. Throws if there is no irqchip.
  void SetIrq(unsigned gsi, bool level);
  // A sink for hw::IrqLine::Connect that calls SetIrq(gsi, level).
  std::function<void(bool)> IrqSink(unsigned gsi);

  // Without the in-kernel irqchip the machine's user-space PIC feeds the vCPUs:
  // `pending` says whether an interrupt is waiting (cheap, called before every entry),
  // `ack` acknowledges it and returns the vector (the INTA cycle). Both are called on
  // vCPU threads and take the machine lock themselves. A vCPU that halts returns
  // kHalt; the machine waits for an interrupt and calls Run again.
  struct UserIrqchip {
    std::function<bool(int vcpu)> pending;
    std::function<uint8_t(int vcpu)> ack;
  };
  void SetUserIrqchip(UserIrqchip c) { user_irqchip_ = std::move(c); }
  const UserIrqchip& user_irqchip() const { return user_irqchip_; }

  // Called on a KVM emulation failure (KVM_EXIT_INTERNAL_ERROR / EMULATION), on the
  // vCPU's thread: it may GetState, execute the instruction, SetState and return
  // nullopt to resume KVM, or return what Run() should report instead (kError: why it
  // could not help -- Run() adds the KVM details; kShutdown: a triple fault while
  // delivering an exception). The machine installs the translator (TranslatorFallback,
  // kvm_fallback.h).
  using EmulationFallback = std::function<std::optional<RunResult>(Vcpu& vcpu)>;
  void SetEmulationFallback(EmulationFallback f) { fallback_ = std::move(f); }
  const EmulationFallback& emulation_fallback() const { return fallback_; }

  int num_cpus() const { return opts_.num_cpus; }
  int vm_fd() const { return vm_fd_; }
  int kvm_fd() const { return kvm_fd_; }
  int vcpu_mmap_size() const { return vcpu_mmap_size_; }
  // The CPUID table for vCPU `index` (filtered, see kvm_cpuid.cpp).
  std::vector<kvm_cpuid_entry2> CpuidFor(int index) const;

  // Current slots, for tests and the monitor.
  struct Slot {
    uint32_t id;
    uint64_t gpa, size;
    uint8_t* host;
    bool readonly;
  };
  std::vector<Slot> slots() const;

 private:
  KvmAccelerator() = default;
  void SyncSlots(const hw::FlatView& view);
  bool SetPcIrqRouting(std::string* error);

  Options opts_;
  KvmCaps caps_;
  int kvm_fd_ = -1, vm_fd_ = -1;
  int vcpu_mmap_size_ = 0;
  bool irqchip_ = false, pit_ = false;
  std::string irqchip_note_;
  CpuBus* bus_ = nullptr;
  EmulationFallback fallback_;
  UserIrqchip user_irqchip_;
  std::vector<kvm_cpuid_entry2> supported_cpuid_;

  mutable std::mutex slots_mu_;
  hw::AddressSpace* as_ = nullptr;
  int listener_ = 0;
  std::map<uint64_t, Slot> slots_;  // by gpa
  std::vector<uint32_t> free_slot_ids_;
  uint32_t next_slot_id_ = 0;
};

}  // namespace emu::accel
