#include "hw/i386/fw_cfg_setup.h"

#include "hw/i386/e820.h"

namespace emu::hw {

namespace {

std::vector<uint8_t> Le(uint64_t v, unsigned n) {
  std::vector<uint8_t> out(n);
  for (unsigned i = 0; i < n; i++) out[i] = uint8_t(v >> (8 * i));
  return out;
}

}  // namespace

void SetupPcFwCfg(FwCfg& fw, const PcFwCfgConfig& c) {
  int max_cpus = c.max_cpus ? c.max_cpus : c.cpus;
  fw.SetU64(kFwCfgRamSize, c.ram_size);
  fw.SetU16(kFwCfgNbCpus, uint16_t(c.cpus));
  fw.SetU16(kFwCfgMaxCpus, uint16_t(max_cpus));
  fw.SetU16(kFwCfgNoGraphic, c.nographic ? 1 : 0);
  fw.SetU16(kFwCfgBootMenu, c.boot_menu ? 1 : 0);
  fw.SetBytes(kFwCfgUuid, std::vector<uint8_t>(16, 0));
  // SeaBIOS builds its own tables only without "etc/table-loader"; this tells
  // that code path the PIT is wired to GSI 2.
  fw.SetU32(kFwCfgIrq0Override, 1);
  fw.SetFile("etc/boot-cpus", Le(uint64_t(c.cpus), 2));
  // SeaBIOS takes RAM below and above 4 GiB from the RAM entries and adds the
  // reserved ones; it reserves its own EBDA and BIOS areas on top.
  fw.SetFile("etc/e820", BuildPcE820(c.ram_size).Serialize());
  if (c.boot_menu_wait_ms >= 0) fw.SetFile("etc/boot-menu-wait", Le(uint64_t(c.boot_menu_wait_ms), 2));
  if (c.boot_fail_wait_ms >= 0) fw.SetFile("etc/boot-fail-wait", Le(uint64_t(c.boot_fail_wait_ms), 4));
  if (!c.bootorder.empty())
    fw.SetFile("bootorder", std::vector<uint8_t>(c.bootorder.begin(), c.bootorder.end()));
  if (c.acpi) {
    AcpiConfig a = c.acpi_config;
    a.cpus = c.cpus;
    AddAcpiToFwCfg(fw, BuildAcpiTables(a));
  }
}

}  // namespace emu::hw
