#include "hw/i386/acpi/acpi_tables.h"

#include <cstring>
#include <stdexcept>

#include "hw/i386/acpi/aml.h"
#include "hw/i386/acpi_pm.h"
#include "hw/nvram/fw_cfg.h"

namespace emu::hw {

namespace {

using Bytes = std::vector<uint8_t>;

constexpr size_t kHeaderLen = 36;

void PutLe(Bytes& b, size_t off, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) b[off + i] = uint8_t(v >> (8 * i));
}

void AppendLe(Bytes& b, uint64_t v, unsigned n) {
  for (unsigned i = 0; i < n; i++) b.push_back(uint8_t(v >> (8 * i)));
}

void AppendStr(Bytes& b, const char* s, size_t n) {
  for (size_t i = 0; i < n; i++) b.push_back(uint8_t(s[i]));
}

uint8_t Sum(const uint8_t* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; i++) s = uint8_t(s + p[i]);
  return s;
}

// Generic Address Structure: space (0 memory, 1 I/O), width/offset in bits, access
// size (0 undefined, 1 byte, 2 word, 3 dword, 4 qword), address.
void AppendGas(Bytes& b, uint8_t space, uint8_t bit_width, uint8_t access, uint64_t addr) {
  b.push_back(space);
  b.push_back(bit_width);
  b.push_back(0);
  b.push_back(access);
  AppendLe(b, addr, 8);
}

// Builds the tables blob; each table's pointers and checksum become linker commands.
class TableBlob {
 public:
  explicit TableBlob(BiosLinker* linker) : linker_(linker) {}

  size_t Begin(const char sig[4], uint8_t revision) {
    size_t start = blob_.size();
    AppendStr(blob_, sig, 4);
    AppendLe(blob_, 0, 4);  // length, filled in by End()
    blob_.push_back(revision);
    blob_.push_back(0);  // checksum
    AppendStr(blob_, "EMU   ", 6);
    std::string table_id = std::string("EMU") + std::string(sig, 4) + " ";
    AppendStr(blob_, table_id.data(), 8);
    AppendLe(blob_, 1, 4);  // OEM revision
    AppendStr(blob_, "EMU ", 4);
    AppendLe(blob_, 1, 4);  // creator revision
    return start;
  }

  void End(size_t start) {
    size_t len = blob_.size() - start;
    PutLe(blob_, start + 4, len, 4);
    blob_[start + 9] = uint8_t(-Sum(blob_.data() + start, len));
    linker_->AddChecksum(kAcpiTablesFile, uint32_t(start + 9), uint32_t(start), uint32_t(len));
  }

  // A pointer field at `off` that refers to `target` (an offset in this blob).
  void Pointer(size_t off, unsigned size, size_t target) {
    PutLe(blob_, off, target, size);
    linker_->AddPointer(kAcpiTablesFile, uint32_t(off), uint8_t(size), kAcpiTablesFile);
  }

  void AlignTo(size_t a) {
    while (blob_.size() % a) blob_.push_back(0);
  }

  Bytes& bytes() { return blob_; }

 private:
  BiosLinker* linker_;
  Bytes blob_;
};

size_t BuildFacs(TableBlob& t) {
  t.AlignTo(64);
  Bytes& b = t.bytes();
  size_t start = b.size();
  AppendStr(b, "FACS", 4);
  AppendLe(b, 64, 4);  // length
  AppendLe(b, 0, 4);   // hardware signature
  AppendLe(b, 0, 4);   // firmware waking vector
  AppendLe(b, 0, 4);   // global lock
  AppendLe(b, 0, 4);   // flags
  AppendLe(b, 0, 8);   // X firmware waking vector
  b.push_back(1);      // version (ACPI 2.0)
  b.resize(start + 64, 0);
  return start;  // no checksum in the FACS
}

size_t BuildDsdt(TableBlob& t, const AcpiConfig& c) {
  size_t start = t.Begin("DSDT", 2);
  std::vector<aml::Bytes> sb;
  if (c.pci_host) {
    sb.push_back(aml::Device("PCI0", {aml::Name("_HID", aml::EisaId("PNP0A03")),
                                      aml::Name("_ADR", aml::Int(0)),
                                      aml::Name("_UID", aml::Int(0)),
                                      aml::Name("_BBN", aml::Int(0))}));
  }
  aml::Bytes body = aml::Scope("\\_SB", sb);
  // Sleep packages: {SLP_TYPa, SLP_TYPb, reserved, reserved}. S5 uses the value
  // the PM device treats as soft off.
  auto s5 = aml::Name("_S5_", aml::Package({aml::Int(kSlpTypS5), aml::Int(kSlpTypS5),
                                             aml::Int(0), aml::Int(0)}));
  body.insert(body.end(), s5.begin(), s5.end());
  t.bytes().insert(t.bytes().end(), body.begin(), body.end());
  t.End(start);
  return start;
}

size_t BuildFadt(TableBlob& t, const AcpiConfig& c, size_t facs, size_t dsdt) {
  size_t start = t.Begin("FACP", 3);
  Bytes& b = t.bytes();
  b.resize(start + 244, 0);
  uint16_t pm = c.pm_base;
  t.Pointer(start + 36, 4, facs);  // FIRMWARE_CTRL
  t.Pointer(start + 40, 4, dsdt);  // DSDT
  b[start + 45] = 0;               // preferred PM profile: unspecified
  PutLe(b, start + 46, c.sci_irq, 2);
  PutLe(b, start + 48, 0, 4);      // SMI_CMD = 0: no SMM, always in ACPI mode
  PutLe(b, start + 56, pm, 4);     // PM1a_EVT_BLK
  PutLe(b, start + 64, pm + 4, 4); // PM1a_CNT_BLK
  PutLe(b, start + 76, pm + 8, 4); // PM_TMR_BLK
  PutLe(b, start + 80, pm + kAcpiGpe0Offset, 4);  // GPE0_BLK
  b[start + 88] = 4;               // PM1_EVT_LEN
  b[start + 89] = 2;               // PM1_CNT_LEN
  b[start + 91] = 4;               // PM_TMR_LEN
  b[start + 92] = kAcpiGpe0Len;    // GPE0_BLK_LEN
  PutLe(b, start + 96, 0xfff, 2);  // P_LVL2_LAT: C2 not supported
  PutLe(b, start + 98, 0xfff, 2);  // P_LVL3_LAT: C3 not supported
  b[start + 108] = 0x32;           // CENTURY: CMOS register of the century
  // IAPC_BOOT_ARCH: LEGACY_DEVICES | 8042 (Linux skips the i8042 probe without it).
  PutLe(b, start + 109, 0x0003, 2);
  // Flags: WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (no fixed buttons), RESET_REG_SUP.
  PutLe(b, start + 112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 10), 4);
  Bytes gas;
  AppendGas(gas, 1, 8, 1, c.reset_port);  // RESET_REG
  std::memcpy(&b[start + 116], gas.data(), 12);
  b[start + 128] = c.reset_value;
  // X_FIRMWARE_CTRL stays 0: with both FACS pointers set, Linux installs the FACS
  // twice; the 32-bit one suffices for a table in low memory.
  t.Pointer(start + 140, 8, dsdt);  // X_DSDT
  struct Blk {
    size_t off;
    uint8_t bits;
    uint16_t port;
  } blks[] = {
      {148, 32, pm},                                       // X_PM1a_EVT_BLK
      {172, 16, uint16_t(pm + 4)},                         // X_PM1a_CNT_BLK
      {208, 32, uint16_t(pm + 8)},                         // X_PM_TMR_BLK
      {220, kAcpiGpe0Len * 8, uint16_t(pm + kAcpiGpe0Offset)},  // X_GPE0_BLK
  };
  for (const auto& k : blks) {
    gas.clear();
    AppendGas(gas, 1, k.bits, 0, k.port);
    std::memcpy(&b[start + k.off], gas.data(), 12);
  }
  t.End(start);
  return start;
}

size_t BuildMadt(TableBlob& t, const AcpiConfig& c) {
  size_t start = t.Begin("APIC", 3);
  Bytes& b = t.bytes();
  AppendLe(b, c.lapic_addr, 4);
  AppendLe(b, 1, 4);  // PCAT_COMPAT: dual 8259s present
  for (int i = 0; i < c.cpus; i++) {
    b.insert(b.end(), {0, 8, uint8_t(i), uint8_t(i)});  // processor UID, APIC ID
    AppendLe(b, 1, 4);                                  // enabled
  }
  b.insert(b.end(), {1, 12, c.ioapic_id, 0});
  AppendLe(b, c.ioapic_addr, 4);
  AppendLe(b, 0, 4);  // GSI base
  auto iso = [&](uint8_t irq, uint32_t gsi, uint16_t flags) {
    b.insert(b.end(), {2, 10, 0, irq});  // bus 0 = ISA
    AppendLe(b, gsi, 4);
    AppendLe(b, flags, 2);
  };
  iso(0, 2, 0);  // the PIT is wired to IOAPIC pin 2
  // SCI: level triggered (bits 3:2 = 11), active high (bits 1:0 = 01).
  iso(c.sci_irq, c.sci_irq, 0x000d);
  b.insert(b.end(), {4, 6, 0xff, 0, 0, 1});  // LINT1 of every CPU is NMI
  t.End(start);
  return start;
}

size_t BuildHpet(TableBlob& t, const AcpiConfig& c) {
  size_t start = t.Begin("HPET", 1);
  Bytes& b = t.bytes();
  AppendLe(b, c.hpet_block_id, 4);
  AppendGas(b, 0, 64, 0, c.hpet_addr);
  b.push_back(0);          // HPET number
  AppendLe(b, 0x80, 2);    // minimum clock tick in periodic mode
  b.push_back(0);          // page protection: none
  t.End(start);
  return start;
}

size_t BuildRootTable(TableBlob& t, const char sig[4], unsigned ptr_size,
                      const std::vector<size_t>& tables) {
  size_t start = t.Begin(sig, 1);
  for (size_t tab : tables) {
    size_t off = t.bytes().size();
    AppendLe(t.bytes(), 0, ptr_size);
    t.Pointer(off, ptr_size, tab);
  }
  t.End(start);
  return start;
}

}  // namespace

AcpiBuild BuildAcpiTables(const AcpiConfig& c) {
  if (c.cpus < 1 || c.cpus > 255) throw std::invalid_argument("acpi: cpu count out of range");
  AcpiBuild out;
  BiosLinker& l = out.linker;
  // Both files are allocated first; the FACS must be 64-byte aligned.
  l.Allocate(kAcpiTablesFile, 64, BiosLinker::kZoneHigh);
  l.Allocate(kAcpiRsdpFile, 16, BiosLinker::kZoneFseg);
  TableBlob t(&l);
  size_t facs = BuildFacs(t);
  size_t dsdt = BuildDsdt(t, c);
  std::vector<size_t> tables;
  tables.push_back(BuildFadt(t, c, facs, dsdt));
  tables.push_back(BuildMadt(t, c));
  if (c.hpet) tables.push_back(BuildHpet(t, c));
  size_t rsdt = BuildRootTable(t, "RSDT", 4, tables);
  size_t xsdt = BuildRootTable(t, "XSDT", 8, tables);
  out.tables = std::move(t.bytes());

  Bytes& r = out.rsdp;
  AppendStr(r, "RSD PTR ", 8);
  r.push_back(0);  // checksum of the first 20 bytes
  AppendStr(r, "EMU   ", 6);
  r.push_back(2);  // revision: ACPI 2.0+
  AppendLe(r, rsdt, 4);
  AppendLe(r, 36, 4);
  AppendLe(r, xsdt, 8);
  r.push_back(0);  // extended checksum
  r.insert(r.end(), 3, 0);
  l.AddPointer(kAcpiRsdpFile, 16, 4, kAcpiTablesFile);
  l.AddPointer(kAcpiRsdpFile, 24, 8, kAcpiTablesFile);
  r[8] = uint8_t(-Sum(r.data(), 20));
  r[32] = uint8_t(-Sum(r.data(), 36));
  l.AddChecksum(kAcpiRsdpFile, 8, 0, 20);
  l.AddChecksum(kAcpiRsdpFile, 32, 0, 36);
  return out;
}

void AddAcpiToFwCfg(FwCfg& fw_cfg, const AcpiBuild& build) {
  fw_cfg.SetFile(kAcpiTablesFile, build.tables);
  fw_cfg.SetFile(kAcpiRsdpFile, build.rsdp);
  fw_cfg.SetFile(kTableLoaderFile, build.linker.Serialize());
}

uint64_t InstallAcpiInRam(AddressSpace& memory, const AcpiBuild& build, uint64_t area,
                          uint64_t area_size) {
  std::map<std::string, std::vector<uint8_t>> files = {{kAcpiTablesFile, build.tables},
                                                       {kAcpiRsdpFile, build.rsdp}};
  // The RSDP first (16-byte aligned) so it sits at the start of the area, then the
  // tables (64-byte aligned for the FACS).
  uint64_t rsdp_at = (area + 15) & ~uint64_t(15);
  uint64_t tables_at = (rsdp_at + build.rsdp.size() + 63) & ~uint64_t(63);
  if (area + area_size < area || tables_at + build.tables.size() > area + area_size)
    throw std::runtime_error("acpi: tables do not fit in their RAM area");
  auto addr = build.linker.Execute(files, [&](const std::string& name, uint32_t,
                                              BiosLinker::Zone, size_t) {
    return name == kAcpiRsdpFile ? rsdp_at : tables_at;
  });
  for (const auto& [name, data] : files) {
    uint8_t* host = memory.HostPtr(addr.at(name), data.size(), true);
    if (!host) throw std::runtime_error("acpi: table area is not RAM");
    std::memcpy(host, data.data(), data.size());
  }
  return rsdp_at;
}

bool CopyRsdpToBiosArea(AddressSpace& memory, uint64_t rsdp_addr, uint64_t bios_addr) {
  uint8_t rsdp[36];
  if (memory.Read(rsdp_addr, rsdp, sizeof rsdp) != MemResult::kOk) return false;
  // Firmware writes its own ROM area; so may we (HostPtr without write permission).
  uint8_t* host = memory.HostPtr(bios_addr, sizeof rsdp, false);
  if (!host) return false;
  std::memcpy(host, rsdp, sizeof rsdp);
  return true;
}

}  // namespace emu::hw
