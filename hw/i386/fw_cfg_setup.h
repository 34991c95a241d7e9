// What the PC offers SeaBIOS through fw_cfg: RAM size and CPU counts, the e820
// map ("etc/e820"), the ACPI tables with their loader commands, the boot order
// and boot-menu settings.
#pragma once

#include <cstdint>
#include <string>

#include "hw/i386/acpi/acpi_tables.h"
#include "hw/nvram/fw_cfg.h"

namespace emu::hw {

struct PcFwCfgConfig {
  uint64_t ram_size = 128ull << 20;
  int cpus = 1;
  int max_cpus = 0;           // 0: same as cpus
  bool nographic = false;
  bool boot_menu = false;     // -boot menu=on
  int boot_menu_wait_ms = -1; // -boot splash-time / menu timeout; -1: firmware default
  int boot_fail_wait_ms = -1; // -boot reboot-timeout; -1: firmware default (60 s)
  std::string bootorder;      // "bootorder" file: one device path per line; empty: none
  bool acpi = true;           // add the ACPI tables built from `acpi_config`
  AcpiConfig acpi_config;     // its `cpus` is overridden by `cpus`
};

void SetupPcFwCfg(FwCfg& fw_cfg, const PcFwCfgConfig& config);

}  // namespace emu::hw
