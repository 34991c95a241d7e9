// Texts of the informational options: -version, -h, -device help, -machine help,
// -accel help, -d help.
#include <cstdio>

#include "hw/core/device.h"
#include "system/cli.h"
#include "system/cli_table.h"

#ifndef EMU_VERSION
#error "EMU_VERSION must be defined by the build (meson project version)"
#endif

namespace emu::system {

std::string VersionText() {
  // Scripts that read "QEMU emulator version 7.2.0" look for "version X.Y.Z".
  return std::string("emu version ") + EMU_VERSION + "\n" +
         "Copyright (c) 2026 the emu developers\n";
}

std::string UsageText() {
  std::string out =
      "emu version " EMU_VERSION "\n"
      "usage: emu [options]\n"
      "Options may start with one or two dashes. Structured values use\n"
      "key=value,key2=value2 lists in which ',,' stands for a comma.\n";
  for (const auto& group : CliGroups()) {
    out += "\n" + group + ":\n";
    for (const auto& d : CliOptions()) {
      if (group != d.group || !*d.help) continue;
      std::string left = std::string("-") + d.name;
      if (d.has_arg) left += std::string(" ") + d.arg_help;
      if (left.size() < 24) {
        left.resize(24, ' ');
      } else {
        left += "\n" + std::string(24, ' ');
      }
      out += left + d.help + "\n";
    }
  }
  out +=
      "\nDuring emulation, with -nographic or mon:stdio:\n"
      "Ctrl-a h    print help          Ctrl-a x    exit emulator\n"
      "Ctrl-a c    switch between console and monitor\n"
      "Ctrl-a Ctrl-a  send Ctrl-a\n";
  return out;
}

std::string DeviceHelpText(const hw::DeviceRegistry& registry) {
  std::string out = "Available devices:\n";
  for (const auto* e : registry.List()) {
    std::string line = "  " + e->name;
    if (!e->help.empty()) {
      if (line.size() < 24) line.resize(24, ' ');
      else line += "  ";
      line += e->help;
    }
    out += line + "\n";
  }
  return out;
}

std::string MachineHelpText() {
  return "Supported machines are:\n"
         "pc                   Standard PC (i440FX + PIIX, 1996) (default)\n";
}

std::string AccelHelpText() { return "Accelerators supported:\nkvm\ntcg\n"; }

std::string LogHelpText() {
  std::string out = "Log items (comma separated):\n";
  for (const auto& [name, help] : CliLogItems()) {
    std::string line = name;
    line.resize(14, ' ');
    out += line + help + "\n";
  }
  out += "The log goes to stderr, or to the file given with -D. in_asm, op, op_opt, exec, cpu\n"
         "and mmu come from the translator (-accel tcg); under kvm the hardware runs the code.\n";
  return out;
}

}  // namespace emu::system
