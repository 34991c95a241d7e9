#include "hw/i386/pc.h"

#include <cstring>

#include "hw/i386/acpi/acpi_tables.h"
#include "hw/i386/boot_cpu.h"
#include "hw/i386/fw_cfg_setup.h"
#include "hw/i386/linux_loader.h"
#include "hw/i386/multiboot.h"

namespace emu::hw {

namespace {
constexpr uint64_t kIsaBiosBase = 0xe0000;  // where the top 128 KiB of firmware appear
constexpr uint64_t kIsaBiosSize = 0x20000;
constexpr uint64_t kAddressSpaceSize = 1ull << 40;
}  // namespace

PcBoard::PcBoard(const PcOptions& opts, Clock* clock, MachineControl* machine)
    : opts_(opts), clock_(clock), machine_(machine), layout_(PcRamLayout::For(opts.ram_size)) {
  BuildMemory();
  BuildDevices();
  SetupFirmwareConfig();
}

PcBoard::~PcBoard() {
  // Devices unplug their regions from the roots: destroy them first.
  extra_.clear();
  fw_cfg_.reset();
  acpi_pm_.reset();
  bios_log_.reset();
  port92_.reset();
  kbc_.reset();
  serial_.clear();
  rtc_.reset();
  pit_.reset();
  pic_.reset();
  if (lapic_mmio_) mem_root_->RemoveSubregion(lapic_mmio_.get());
  hpet_.reset();
  ioapic_.reset();
  apic_.reset();
}

void PcBoard::BuildMemory() {
  mem_root_ = MemoryRegion::Container("system", kAddressSpaceSize);
  io_root_ = MemoryRegion::Container("io", 0x10000);
  ram_ = MemoryRegion::Ram("pc.ram", opts_.ram_size);
  ram_low_ = MemoryRegion::Alias("ram-below-4g", ram_.get(), 0, layout_.below_4g);
  mem_root_->AddSubregion(0, ram_low_.get());
  if (layout_.above_4g) {
    ram_high_ =
        MemoryRegion::Alias("ram-above-4g", ram_.get(), layout_.below_4g, layout_.above_4g);
    mem_root_->AddSubregion(k4GiB, ram_high_.get());
  }
  memory_ = std::make_unique<AddressSpace>("memory", mem_root_.get());
  io_ = std::make_unique<AddressSpace>("io", io_root_.get());
}

void PcBoard::BuildDevices() {
  if (opts_.user_pic) {
    pic_ = std::make_unique<I8259>(io_root_.get());
    apic_ = std::make_unique<ApicBus>(opts_.cpus, clock_);
    ioapic_ = std::make_unique<Ioapic>(apic_.get(), mem_root_.get(), Ioapic::kDefaultBase);
    lapic_mmio_ = apic_->CreateMmioRegion(opts_.current_cpu);
    // Above anything else that could overlap the window (priority 2).
    mem_root_->AddSubregion(Lapic::kDefaultBase, lapic_mmio_.get(), 2);
    apic_->SetEoiListener([this](uint8_t vector) { ioapic_->Eoi(vector); });
    I8259* pic = pic_.get();
    apic_->SetExtIntAck([pic] { return pic->Acknowledge(); });
    IrqLine* pin0 = ioapic_->input(0);
    ApicBus* apic = apic_.get();
    pic_->intr()->Connect([apic, pin0](bool level) {
      apic->SetExtIntLevel(level);
      pin0->Set(level);
    });
    for (int i = 0; i < 16; i++) {
      isa_irq_[i].Connect([this, i](bool level) {
        isa_level_[i] = level;
        if (!HpetOwnsIrq(i)) ForwardIsaIrq(i, level);
      });
    }
    hpet_legacy_[0].Connect([this](bool level) {
      if (HpetOwnsIrq(0)) ForwardIsaIrq(0, level);
    });
    hpet_legacy_[1].Connect([this](bool level) {
      if (HpetOwnsIrq(8)) ForwardIsaIrq(8, level);
    });
    Ioapic* ioapic = ioapic_.get();
    auto pin = [ioapic](int gsi) { return ioapic->input(gsi); };
    hpet_ = std::make_unique<Hpet>(mem_root_.get(), clock_, pin, &hpet_legacy_[0],
                                   &hpet_legacy_[1], Hpet::kDefaultBase);
    // Legacy replacement switches IRQ0/IRQ8 between the PIT/RTC and the HPET.
    hpet_->on_legacy_change = [this](bool legacy) {
      ForwardIsaIrq(0, legacy ? hpet_legacy_[0].level() : isa_level_[0]);
      ForwardIsaIrq(8, legacy ? hpet_legacy_[1].level() : isa_level_[8]);
    };
  }
  if (opts_.user_pit) pit_ = std::make_unique<I8254>(io_root_.get(), clock_, &isa_irq_[0]);
  rtc_ = std::make_unique<Mc146818>(io_root_.get(), clock_, &isa_irq_[8]);
  rtc_->SetMemorySize(layout_.below_4g, layout_.above_4g);
  rtc_->SetBootOrder("cdn");
  for (int i = 0; i < 4; i++) {
    if (!opts_.serial[i]) continue;
    Serial::Port p = Serial::ComPort(i);
    serial_.push_back(std::make_unique<Serial>(io_root_.get(), clock_, p.iobase,
                                               &isa_irq_[p.irq], opts_.serial[i]));
  }
  auto a20 = [this](bool) { UpdateA20(); };
  kbc_ = std::make_unique<I8042>(io_root_.get(), &isa_irq_[1], &isa_irq_[12], machine_, a20);
  port92_ = std::make_unique<Port92>(io_root_.get(), machine_, a20);
  post_port_ = std::make_unique<PostPort>(io_root_.get());
  // SeaBIOS logs to port 0x402; QEMU users ask for it with
  // -device isa-debugcon,iobase=0x402,chardev=ID, so only create it on request.
  if (opts_.bios_log)
    bios_log_ = std::make_unique<DebugCon>(io_root_.get(), opts_.bios_log, 0x402);
  acpi_pm_ = std::make_unique<AcpiPm>(clock_, &isa_irq_[9], machine_);
  acpi_pm_->MapPorts(io_root_.get());
  fw_cfg_ = std::make_unique<FwCfg>(memory_.get());
  fw_cfg_->MapPorts(io_root_.get());

  ctx_.memory = memory_.get();
  ctx_.io = io_.get();
  ctx_.io_root = io_root_.get();
  ctx_.memory_root = mem_root_.get();
  ctx_.isa_irq = [this](int n) { return isa_irq(n); };
  ctx_.virtual_clock = clock_;
  ctx_.machine = machine_;
}

void PcBoard::ForwardIsaIrq(int n, bool level) {
  pic_->input(n)->Set(level);
  // ISA IRQ0 is I/O APIC pin 2 (the MADT's override); IRQ2 is the PIC cascade.
  int gsi = n == 0 ? 2 : n;
  if (n != 2) ioapic_->input(gsi)->Set(level);
}

void PcBoard::SetupFirmwareConfig() {
  PcFwCfgConfig c;
  c.acpi_config.hpet = hpet_ != nullptr;
  c.ram_size = opts_.ram_size;
  c.cpus = opts_.cpus;
  SetupPcFwCfg(*fw_cfg_, c);
}

bool PcBoard::a20() const { return kbc_->a20() || port92_->a20(); }

void PcBoard::UpdateA20() {
  if (a20_listener_) a20_listener_(a20());
}

x86::CpuState PcBoard::Boot() {
  x86::CpuState cpu;
  cpu.ResetToPowerOn();
  if (!direct_boot()) {
    std::vector<uint8_t> bios = ReadWholeFile(opts_.bios, "BIOS");
    if (bios.empty() || bios.size() % 0x10000 != 0 || bios.size() > (16u << 20))
      throw ConfigError("BIOS " + opts_.bios + ": size " + std::to_string(bios.size()) +
                        " is not a multiple of 64 KiB up to 16 MiB");
    if (!bios_rom_) {
      bios_rom_ = MemoryRegion::Rom("pc.bios", bios.size());
      mem_root_->AddSubregion(k4GiB - bios.size(), bios_rom_.get());
    }
    std::memcpy(bios_rom_->host(), bios.data(), bios.size());
    uint64_t isa = std::min<uint64_t>(kIsaBiosSize, bios.size());
    memory_->Write(kIsaBiosBase + kIsaBiosSize - isa, bios.data() + bios.size() - isa, isa);
    return cpu;
  }
  // Direct boot: ACPI tables at the top of low RAM, the kernel entered directly.
  E820Map e820 = BuildPcE820(opts_.ram_size, kAcpiRamAreaSize);
  AcpiConfig acpi;
  acpi.cpus = opts_.cpus;
  acpi.hpet = hpet_ != nullptr;
  uint64_t area = AcpiRamArea(opts_.ram_size, kAcpiRamAreaSize);
  uint64_t rsdp = InstallAcpiInRam(*memory_, BuildAcpiTables(acpi), area, kAcpiRamAreaSize);
  CopyRsdpToBiosArea(*memory_, rsdp, kPcBiosAreaStart);
  std::vector<uint8_t> kernel = ReadWholeFile(opts_.kernel, "kernel");
  if (LooksLikeLinuxKernel(kernel)) {
    LinuxBootOptions lo;
    lo.cmdline = opts_.append;
    lo.acpi_rsdp_addr = rsdp;
    std::vector<uint8_t> initrd;
    if (!opts_.initrd.empty()) initrd = ReadWholeFile(opts_.initrd, "initrd");
    LoadLinuxImage(*memory_, e820, kernel, opts_.kernel, initrd, opts_.initrd, lo, &cpu);
  } else if (FindMultibootHeader(kernel, opts_.kernel)) {
    LoadMultiboot(*memory_, e820, opts_.kernel, opts_.append, opts_.initrd, &cpu);
  } else {
    throw ConfigError("kernel " + opts_.kernel + ": neither a Linux bzImage nor a multiboot image");
  }
  return cpu;
}

x86::CpuState PcBoard::Reset() {
  if (pic_) pic_->Reset();
  if (apic_) apic_->Reset();
  if (ioapic_) ioapic_->Reset();
  if (hpet_) hpet_->Reset();
  if (pit_) pit_->Reset();
  rtc_->Reset();
  for (auto& s : serial_) s->Reset();
  kbc_->Reset();
  port92_->Reset();
  acpi_pm_->Reset();
  fw_cfg_->Reset();
  for (auto& d : extra_) d->Reset();
  std::memset(ram_->host(), 0, ram_->size());
  return Boot();
}

}  // namespace emu::hw
