// The option table behind the command line parser (internal to system/cli*.cpp).
#pragma once

#include <string>

#include "system/cli.h"
#include <utility>
#include <vector>

namespace emu::system {

// What the handlers fill in while argv is walked.
struct ParseState {
  CliResult result;
  MachineConfig& cfg = result.config;
  const hw::DeviceRegistry* registry = nullptr;
  bool serial_given = false;
  bool monitor_given = false;
  bool display_given = false;
  int serial_count = 0;
  std::vector<std::string> accel_opts;     // from -accel / -enable-kvm, in order
  std::vector<std::string> machine_accel;  // from -machine accel=
  std::vector<std::string> bios_dirs;      // -L
};

struct OptionDesc {
  const char* name;  // without dashes
  bool has_arg;
  // nullptr: the option is known but not supported yet ("emu: -X: not supported yet").
  void (*handler)(ParseState& st, const std::string& arg);
  const char* group;     // help section
  const char* arg_help;  // e.g. "[size=]megs[M|G]", or "" for flags
  const char* help;      // one line; "" hides the option from -h
};

// Every option emu knows, in help order (grouped).
const std::vector<OptionDesc>& CliOptions();

// The -d items emu's tracing knows (name, one-line help); the contract for -d help.
const std::vector<std::pair<std::string, std::string>>& CliLogItems();

// Throws CliError naming `opt` and `path` (with the errno text) unless `path` is a
// readable regular file.
void CheckReadableFile(const std::string& opt, const std::string& path);

// Help section titles, in display order.
const std::vector<std::string>& CliGroups();

}  // namespace emu::system
