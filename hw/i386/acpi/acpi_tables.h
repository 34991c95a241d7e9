// The PC's ACPI tables: RSDP (2.0, with XSDT), RSDT, XSDT, FADT (revision 3) with
// its FACS and DSDT, MADT, and optionally HPET.
//
// The tables are built once as two blobs plus linker commands -- the form
// SeaBIOS takes through fw_cfg ("etc/acpi/tables", "etc/acpi/rsdp",
// "etc/table-loader"). Pointers inside the blobs hold offsets until the loader
// patches them, so the same build also serves a directly booted kernel:
// InstallAcpiInRam() runs the linker commands itself and writes the result.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "hw/core/memory.h"
#include "hw/i386/acpi/bios_linker.h"

namespace emu::hw {

class FwCfg;

struct AcpiConfig {
  int cpus = 1;                      // one enabled LAPIC per vCPU, APIC IDs 0..cpus-1
  uint32_t lapic_addr = 0xfee00000;
  uint32_t ioapic_addr = 0xfec00000;
  uint8_t ioapic_id = 0;             // must match the IOAPIC's ID register
  uint16_t pm_base = 0x600;          // PIIX4-style PM block (see acpi_pm.h)
  uint8_t sci_irq = 9;
  uint16_t reset_port = 0xcf9;
  uint8_t reset_value = 0x06;
  bool hpet = false;                 // add an HPET table for a device at hpet_addr
  uint32_t hpet_addr = 0xfed00000;
  uint32_t hpet_block_id = 0x8086a201;  // must match the HPET's capability register
  bool pci_host = false;             // describe \_SB.PCI0 (PNP0A03) in the DSDT
};

// File names in fw_cfg.
inline constexpr const char* kAcpiTablesFile = "etc/acpi/tables";
inline constexpr const char* kAcpiRsdpFile = "etc/acpi/rsdp";
inline constexpr const char* kTableLoaderFile = "etc/table-loader";

struct AcpiBuild {
  std::vector<uint8_t> tables;  // FACS first (64-byte aligned), then the others
  std::vector<uint8_t> rsdp;    // 36 bytes
  BiosLinker linker;
};

AcpiBuild BuildAcpiTables(const AcpiConfig& config);

// Adds the three files SeaBIOS reads.
void AddAcpiToFwCfg(FwCfg& fw_cfg, const AcpiBuild& build);

// Space a directly booted guest's tables need (see AcpiRamArea() in e820.h).
constexpr uint64_t kAcpiRamAreaSize = 64 * 1024;

// Direct boot: links the tables for [area, area+area_size) in guest RAM, the RSDP
// first (16-byte aligned) and the tables after it, and writes them. Returns the
// RSDP's address (boot_params.acpi_rsdp_addr). Throws std::runtime_error when the
// area is too small or not RAM.
uint64_t InstallAcpiInRam(AddressSpace& memory, const AcpiBuild& build, uint64_t area,
                          uint64_t area_size);

// Writes a copy of a linked RSDP where legacy scanners look (16-byte aligned in
// 0xe0000-0xfffff), through ROM if that is what is mapped there, as firmware
// would. Returns false when nothing is mapped at `addr`.
bool CopyRsdpToBiosArea(AddressSpace& memory, uint64_t rsdp_addr, uint64_t bios_addr);

}  // namespace emu::hw
