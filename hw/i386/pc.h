// The 'pc' machine board: memory map, ISA devices, firmware configuration and
// ACPI, wired together. It knows nothing of accelerators: interrupt lines end in
// sinks the machine assembly (system/machine.cpp) connects either to the
// user-space PIC (translator) or to KVM's in-kernel irqchip.
//
// Memory map: RAM [0, below_4g) and [4 GiB, 4 GiB + above_4g) (split as
// PcRamLayout says); the BIOS ROM image at the top of 4 GiB and its last 128 KiB
// copied into RAM at 0xe0000 so that SeaBIOS can write its own data there (a
// stand-in for i440FX PAM shadowing until the PCI host bridge exists).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "hw/char/serial.h"
#include "hw/core/chardev.h"
#include "hw/core/device.h"
#include "hw/i386/acpi_pm.h"
#include "hw/i386/e820.h"
#include "hw/input/i8042.h"
#include "hw/intc/apic.h"
#include "hw/intc/i8259.h"
#include "hw/intc/ioapic.h"
#include "hw/misc/debugcon.h"
#include "hw/misc/port92.h"
#include "hw/misc/post_port.h"
#include "hw/nvram/fw_cfg.h"
#include "hw/timer/hpet.h"
#include "hw/timer/i8254.h"
#include "hw/timer/mc146818.h"
#include "target-x86/cpu_state.h"

namespace emu::hw {

struct PcOptions {
  uint64_t ram_size = 128ull << 20;
  int cpus = 1;
  std::array<CharDev*, 4> serial{};  // COM1-COM4 back ends (null: no port)
  CharDev* bios_log = nullptr;        // SeaBIOS debug port 0x402 (null: discarded)
  bool user_pic = true;               // false when KVM's in-kernel irqchip serves
  bool user_pit = true;               // false when KVM's in-kernel PIT serves
  // With user_pic: the index of the vCPU running on this thread (the LAPIC
  // window is per CPU). Empty: every access reaches vCPU 0's LAPIC.
  std::function<int()> current_cpu;
  std::string bios;                   // firmware image path
  // Direct boot (no firmware code runs): kernel, initrd, command line.
  std::string kernel, initrd, append;
};

class PcBoard {
 public:
  PcBoard(const PcOptions& opts, Clock* clock, MachineControl* machine);
  ~PcBoard();

  AddressSpace& memory() { return *memory_; }
  AddressSpace& io() { return *io_; }
  MemoryRegion* memory_root() { return mem_root_.get(); }
  MemoryRegion* io_root() { return io_root_.get(); }
  // ISA IRQ n (0-15) as devices see it; the machine sets where it ends.
  IrqLine* isa_irq(int n) { return &isa_irq_[n & 15]; }
  void ConnectIsaIrq(int n, IrqLine::Sink sink) { isa_irq_[n & 15].Connect(std::move(sink)); }
  I8259* pic() { return pic_.get(); }  // null with an in-kernel irqchip
  // User-space LAPICs (one per vCPU) and I/O APIC, present exactly when the PIC
  // is (user_pic). The PIC's INTR reaches the LAPICs' LINT0 (see apic.h); ISA
  // IRQ n also drives I/O APIC pin n, except IRQ0 -> pin 2 (the MADT override)
  // and IRQ2 (the cascade) -> none; the PIC's INTR also drives pin 0.
  ApicBus* apic() { return apic_.get(); }
  Lapic* lapic(int cpu) { return apic_ ? apic_->lapic(cpu) : nullptr; }
  Ioapic* ioapic() { return ioapic_.get(); }
  // The HPET (with user_pic only); in its legacy replacement mode it owns ISA
  // IRQ0 and IRQ8 and the PIT's and RTC's outputs are cut off.
  Hpet* hpet() { return hpet_.get(); }
  DeviceContext& device_context() { return ctx_; }
  void AddDevice(std::unique_ptr<Device> d) { extra_.push_back(std::move(d)); }
  // A20 gate as the keyboard controller and port 0x92 set it.
  bool a20() const;
  void SetA20Listener(std::function<void(bool)> fn) { a20_listener_ = std::move(fn); }

  // Loads firmware or kernel and returns the boot CPU's initial state. Throws
  // ConfigError for a bad image.
  x86::CpuState Boot();
  // Guest reset: devices to power-on state, then Boot() again.
  x86::CpuState Reset();
  bool direct_boot() const { return !opts_.kernel.empty(); }

 private:
  void BuildMemory();
  void BuildDevices();
  void SetupFirmwareConfig();
  void UpdateA20();
  // With user_pic: ISA IRQ n's effective level (device or HPET legacy) to the
  // PIC and the I/O APIC.
  void ForwardIsaIrq(int n, bool level);
  bool HpetOwnsIrq(int n) const { return hpet_ && hpet_->legacy_mode() && (n == 0 || n == 8); }

  PcOptions opts_;
  Clock* clock_;
  MachineControl* machine_;
  PcRamLayout layout_;
  std::unique_ptr<MemoryRegion> mem_root_, io_root_, ram_, ram_low_, ram_high_, bios_rom_;
  std::unique_ptr<AddressSpace> memory_, io_;
  std::array<IrqLine, 16> isa_irq_;
  std::unique_ptr<I8259> pic_;
  std::unique_ptr<ApicBus> apic_;
  std::unique_ptr<Ioapic> ioapic_;
  std::unique_ptr<MemoryRegion> lapic_mmio_;
  std::unique_ptr<Hpet> hpet_;
  std::array<bool, 16> isa_level_{};     // as the ISA devices drive them
  std::array<IrqLine, 2> hpet_legacy_;  // HPET timer 0 (IRQ0) and timer 1 (IRQ8)
  std::unique_ptr<I8254> pit_;
  std::unique_ptr<Mc146818> rtc_;
  std::vector<std::unique_ptr<Serial>> serial_;
  std::unique_ptr<I8042> kbc_;
  std::unique_ptr<Port92> port92_;
  std::unique_ptr<PostPort> post_port_;
  std::unique_ptr<DebugCon> bios_log_;
  std::unique_ptr<AcpiPm> acpi_pm_;
  std::unique_ptr<FwCfg> fw_cfg_;
  std::vector<std::unique_ptr<Device>> extra_;
  DeviceContext ctx_;
  std::function<void(bool)> a20_listener_;
};

}  // namespace emu::hw
