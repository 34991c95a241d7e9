#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <string>

#include "hw/i386/acpi/acpi_tables.h"
#include "hw/i386/acpi/aml.h"
#include "hw/i386/acpi_pm.h"
#include "hw/i386/e820.h"
#include "hw/nvram/fw_cfg.h"
#include "tests/hw/guest_memory.h"

namespace emu::hw {
namespace {

constexpr uint64_t kRam = 128ull << 20;

struct Guest : test::GuestMemory {
  Guest() : GuestMemory(kRam) {}
  std::string Sig(uint64_t a, size_t n = 4) {
    std::string s(n, 0);
    mem.Read(a, s.data(), n);
    return s;
  }
  uint8_t SumOf(uint64_t a, uint64_t n) {
    uint8_t s = 0;
    for (uint64_t i = 0; i < n; i++) s = uint8_t(s + ram->host()[a + i]);
    return s;
  }
  // Checks a table's header; returns its length.
  uint32_t Table(uint64_t a, const char* sig) {
    EXPECT_EQ(Sig(a), sig);
    uint32_t len = uint32_t(U(a + 4, 4));
    EXPECT_GE(len, 36u);
    EXPECT_EQ(SumOf(a, len), 0) << sig << " checksum";
    return len;
  }
};

struct Walk {
  uint64_t rsdp, rsdt, xsdt, fadt = 0, madt = 0, hpet = 0, dsdt, facs;
};

Walk WalkTables(Guest& g, uint64_t rsdp) {
  Walk w{};
  w.rsdp = rsdp;
  EXPECT_EQ(g.Sig(rsdp, 8), "RSD PTR ");
  EXPECT_EQ(g.SumOf(rsdp, 20), 0);
  EXPECT_EQ(g.U(rsdp + 15, 1), 2u);
  EXPECT_EQ(g.U(rsdp + 20, 4), 36u);
  EXPECT_EQ(g.SumOf(rsdp, 36), 0);
  w.rsdt = g.U(rsdp + 16, 4);
  w.xsdt = g.U(rsdp + 24, 8);
  uint32_t xlen = g.Table(w.xsdt, "XSDT");
  uint32_t rlen = g.Table(w.rsdt, "RSDT");
  EXPECT_EQ((xlen - 36) / 8, (rlen - 36) / 4);
  for (uint32_t off = 36; off < xlen; off += 8) {
    uint64_t t = g.U(w.xsdt + off, 8);
    EXPECT_EQ(g.U(w.rsdt + 36 + (off - 36) / 2, 4), t) << "RSDT and XSDT disagree";
    std::string s = g.Sig(t);
    if (s == "FACP") w.fadt = t;
    if (s == "APIC") w.madt = t;
    if (s == "HPET") w.hpet = t;
  }
  EXPECT_NE(w.fadt, 0u);
  EXPECT_NE(w.madt, 0u);
  g.Table(w.fadt, "FACP");
  w.dsdt = g.U(w.fadt + 140, 8);
  EXPECT_EQ(g.U(w.fadt + 40, 4), w.dsdt);
  w.facs = g.U(w.fadt + 36, 4);
  EXPECT_EQ(g.U(w.fadt + 132, 8), 0u);  // X_FIRMWARE_CTRL unused
  g.Table(w.dsdt, "DSDT");
  EXPECT_EQ(g.Sig(w.facs), "FACS");
  EXPECT_EQ(g.U(w.facs + 4, 4), 64u);
  EXPECT_EQ(w.facs % 64, 0u);
  return w;
}

TEST(Acpi, DirectInstallIsWalkableFromGuestMemory) {
  Guest g;
  AcpiConfig c;
  c.cpus = 4;
  c.hpet = true;
  AcpiBuild b = BuildAcpiTables(c);
  uint64_t area = AcpiRamArea(kRam, kAcpiRamAreaSize);
  uint64_t rsdp = InstallAcpiInRam(g.mem, b, area, kAcpiRamAreaSize);
  EXPECT_EQ(rsdp, area);
  Walk w = WalkTables(g, rsdp);
  // Everything lies in the ACPI area.
  for (uint64_t a : {w.rsdt, w.xsdt, w.fadt, w.madt, w.dsdt, w.facs, w.hpet}) {
    EXPECT_GE(a, area);
    EXPECT_LT(a, area + kAcpiRamAreaSize);
  }
  // FADT: revision 3+, PIIX4 PM block, SCI 9, reset register 0xcf9 <- 6.
  EXPECT_GE(g.U(w.fadt + 8, 1), 3u);
  EXPECT_EQ(g.U(w.fadt + 4, 4), 244u);
  EXPECT_EQ(g.U(w.fadt + 46, 2), 9u);
  EXPECT_EQ(g.U(w.fadt + 56, 4), 0x600u);
  EXPECT_EQ(g.U(w.fadt + 64, 4), 0x604u);
  EXPECT_EQ(g.U(w.fadt + 76, 4), 0x608u);
  EXPECT_EQ(g.U(w.fadt + 91, 1), 4u);
  EXPECT_EQ(g.U(w.fadt + 116, 1), 1u);  // reset register in I/O space
  EXPECT_EQ(g.U(w.fadt + 120, 8), 0xcf9u);
  EXPECT_EQ(g.U(w.fadt + 128, 1), 6u);
  EXPECT_TRUE(g.U(w.fadt + 112, 4) & (1u << 10));  // RESET_REG_SUP
  EXPECT_EQ(g.U(w.fadt + 208 + 4, 8), 0x608u);     // X_PM_TMR_BLK
  // HPET table.
  g.Table(w.hpet, "HPET");
  EXPECT_EQ(g.U(w.hpet + 44, 8), 0xfed00000u);
}

TEST(Acpi, MadtListsEveryCpuAndTheIoApic) {
  for (int n : {1, 3, 8}) {
    Guest g;
    AcpiConfig c;
    c.cpus = n;
    uint64_t area = AcpiRamArea(kRam, kAcpiRamAreaSize);
    Walk w = WalkTables(g, InstallAcpiInRam(g.mem, BuildAcpiTables(c), area, kAcpiRamAreaSize));
    uint32_t len = g.Table(w.madt, "APIC");
    EXPECT_EQ(g.U(w.madt + 36, 4), 0xfee00000u);
    int lapics = 0, ioapics = 0;
    std::map<int, std::pair<uint32_t, uint16_t>> isos;
    for (uint64_t p = w.madt + 44; p < w.madt + len;) {
      unsigned type = unsigned(g.U(p, 1)), l = unsigned(g.U(p + 1, 1));
      ASSERT_GE(l, 2u);
      if (type == 0) {
        EXPECT_EQ(g.U(p + 3, 1), uint64_t(lapics));  // APIC ID
        EXPECT_EQ(g.U(p + 4, 4) & 1, 1u);            // enabled
        lapics++;
      } else if (type == 1) {
        EXPECT_EQ(g.U(p + 4, 4), 0xfec00000u);
        EXPECT_EQ(g.U(p + 8, 4), 0u);
        ioapics++;
      } else if (type == 2) {
        isos[int(g.U(p + 3, 1))] = {uint32_t(g.U(p + 4, 4)), uint16_t(g.U(p + 8, 2))};
      }
      p += l;
    }
    EXPECT_EQ(lapics, n);
    EXPECT_EQ(ioapics, 1);
    EXPECT_EQ(isos[0].first, 2u);
    EXPECT_EQ(isos[9].first, 9u);
    EXPECT_EQ(isos[9].second, 0x000du);  // level, active high
  }
}

TEST(Acpi, DsdtHasS5PackageWithSoftOffType) {
  Guest g;
  uint64_t area = AcpiRamArea(kRam, kAcpiRamAreaSize);
  Walk w = WalkTables(g, InstallAcpiInRam(g.mem, BuildAcpiTables({}), area, kAcpiRamAreaSize));
  uint32_t len = uint32_t(g.U(w.dsdt + 4, 4));
  std::vector<uint8_t> aml(len - 36);
  g.mem.Read(w.dsdt + 36, aml.data(), aml.size());
  const uint8_t pat[] = {0x08, '_', 'S', '5', '_', 0x12};
  auto it = std::search(aml.begin(), aml.end(), std::begin(pat), std::end(pat));
  ASSERT_NE(it, aml.end()) << "no Name(_S5_, Package...)";
  size_t pos = size_t(it - aml.begin()) + sizeof pat;
  ASSERT_LT(pos + 3, aml.size());
  EXPECT_EQ(aml[pos + 1], 4);  // (1-byte PkgLength) NumElements
  // First element: SLP_TYPa, encoded as ZeroOp/OneOp/BytePrefix.
  uint8_t op = aml[pos + 2];
  unsigned typ = op == 0x0a ? aml[pos + 3] : op;
  EXPECT_EQ(typ, kSlpTypS5);
  // The \_SB scope is there too.
  const uint8_t sb[] = {'\\', '_', 'S', 'B', '_'};
  EXPECT_NE(std::search(aml.begin(), aml.end(), std::begin(sb), std::end(sb)), aml.end());
}

// A loader written from the table-loader format alone, run on the serialized
// commands as SeaBIOS would.
TEST(Acpi, FwCfgFilesAndLoaderCommands) {
  Guest g;
  std::unique_ptr<MemoryRegion> io_root = MemoryRegion::Container("io", 0x10000);
  FwCfg fw(&g.mem);
  AcpiConfig c;
  c.cpus = 2;
  AddAcpiToFwCfg(fw, BuildAcpiTables(c));
  const auto* loader = fw.File("etc/table-loader");
  ASSERT_NE(loader, nullptr);
  ASSERT_EQ(loader->size() % 128, 0u);
  std::map<std::string, uint64_t> addr;
  uint64_t high = 0x7000000, fseg = 0xf5000;
  auto rd32 = [](const uint8_t* p) { return uint32_t(p[0] | p[1] << 8 | p[2] << 16 | p[3] << 24); };
  for (size_t off = 0; off < loader->size(); off += 128) {
    const uint8_t* e = loader->data() + off;
    std::string f(reinterpret_cast<const char*>(e + 4));
    switch (rd32(e)) {
      case 1: {
        const auto* data = fw.File(f);
        ASSERT_NE(data, nullptr) << f;
        uint32_t align = rd32(e + 60);
        uint64_t& cur = e[64] == 2 ? fseg : high;
        cur = (cur + align - 1) / align * align;
        addr[f] = cur;
        g.mem.Write(cur, data->data(), data->size());
        cur += data->size();
        if (f == "etc/acpi/tables") {
          EXPECT_EQ(align, 64u);
        }
        if (f == "etc/acpi/rsdp") {
          EXPECT_EQ(e[64], 2);
        }
        break;
      }
      case 2: {
        std::string src(reinterpret_cast<const char*>(e + 60));
        ASSERT_TRUE(addr.count(f) && addr.count(src));
        uint64_t at = addr[f] + rd32(e + 116);
        unsigned size = e[120];
        g.mem.WriteN(at, g.U(at, size) + addr[src], size);
        break;
      }
      case 3: {
        ASSERT_TRUE(addr.count(f));
        uint8_t s = g.SumOf(addr[f] + rd32(e + 64), rd32(e + 68));
        uint64_t at = addr[f] + rd32(e + 60);
        g.mem.WriteN(at, uint8_t(g.U(at, 1) - s), 1);
        break;
      }
      default:
        FAIL() << "unknown loader command " << rd32(e);
    }
  }
  ASSERT_TRUE(addr.count("etc/acpi/rsdp"));
  EXPECT_GE(addr["etc/acpi/rsdp"], 0xf0000u);
  Walk w = WalkTables(g, addr["etc/acpi/rsdp"]);
  EXPECT_GE(w.fadt, 0x7000000u);
}

TEST(Acpi, RsdpCopyIntoRom) {
  Guest g;
  auto bios = MemoryRegion::Rom("bios", 0x20000);
  // Replace the top of the 128 KiB below 1 MiB with ROM, as a PC maps its BIOS.
  g.root->AddSubregion(0xe0000, bios.get(), 1);
  uint64_t area = AcpiRamArea(kRam, kAcpiRamAreaSize);
  uint64_t rsdp = InstallAcpiInRam(g.mem, BuildAcpiTables({}), area, kAcpiRamAreaSize);
  ASSERT_TRUE(CopyRsdpToBiosArea(g.mem, rsdp, 0xf0000));
  EXPECT_EQ(g.Sig(0xf0000, 8), "RSD PTR ");
  EXPECT_THROW(InstallAcpiInRam(g.mem, BuildAcpiTables({}), area, 0x100), std::runtime_error);
}

TEST(Aml, Encodings) {
  EXPECT_EQ(aml::PkgLength(10), (aml::Bytes{11}));
  EXPECT_EQ(aml::PkgLength(62), (aml::Bytes{63}));
  // 63 bytes of body need 2 bytes of length: total 65 = 0x41.
  EXPECT_EQ(aml::PkgLength(63), (aml::Bytes{0x41, 0x04}));
  EXPECT_EQ(aml::PkgLength(3000), (aml::Bytes{0x4a, 0xbb}));  // 3002 = 0xbba
  EXPECT_EQ(aml::PkgLength(5000), (aml::Bytes{0x8b, 0x38, 0x01}));  // 5003 = 0x138b
  EXPECT_EQ(aml::EisaId("PNP0A03"), (aml::Bytes{0x0c, 0x41, 0xd0, 0x0a, 0x03}));
  EXPECT_EQ(aml::NameString("\\_SB.PCI0"),
            (aml::Bytes{'\\', 0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'}));
  EXPECT_EQ(aml::NameString("_S5"), (aml::Bytes{'_', 'S', '5', '_'}));
  EXPECT_EQ(aml::Int(0x1234), (aml::Bytes{0x0b, 0x34, 0x12}));
  EXPECT_EQ(aml::Package({aml::Int(0), aml::Int(1)}), (aml::Bytes{0x12, 4, 2, 0, 1}));
  EXPECT_THROW(aml::NameString("TOOLONG"), std::invalid_argument);
}

}  // namespace
}  // namespace emu::hw
