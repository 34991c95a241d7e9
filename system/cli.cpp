// Command line parser driver: walks argv through the option table
// (cli_options.cpp), then applies the defaults and checks that need the whole
// command line (-nographic, chardev references, accelerator list).

#include <unistd.h>

#include <map>

#include "hw/core/device.h"
#include "system/cli.h"
#include "system/cli_table.h"

namespace emu::system {

namespace {

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

const OptionDesc* FindOption(const std::string& name) {
  for (const auto& d : CliOptions())
    if (name == d.name) return &d;
  return nullptr;
}

// Resolves -bios NAME: as given, else in the -L directories and the usual firmware dirs.
void ResolveBios(ParseState& st) {
  std::string& bios = st.cfg.bios;
  if (bios.empty()) return;
  if (bios.find('/') == std::string::npos && !Exists(bios)) {
    std::vector<std::string> dirs = st.bios_dirs;
    dirs.insert(dirs.end(), {"/usr/share/seabios", "/usr/share/qemu"});
    for (const auto& d : dirs)
      if (Exists(d + "/" + bios)) {
        bios = d + "/" + bios;
        break;
      }
  }
  CheckReadableFile("-bios", bios);
}

// Applies the defaults that depend on the whole command line, then checks that
// every chardev reference resolves and that stdio is used once.
void Finish(ParseState& st) {
  MachineConfig& c = st.cfg;
  if (c.kernel.empty() && !c.initrd.empty()) throw CliError("-initrd requires -kernel");
  if (c.kernel.empty() && !c.append.empty()) throw CliError("-append requires -kernel");
  ResolveBios(st);

  if (!st.accel_opts.empty() && !st.machine_accel.empty())
    throw CliError("-accel and -machine accel= cannot be used together");
  std::vector<std::string> accel = !st.accel_opts.empty()    ? st.accel_opts
                                   : !st.machine_accel.empty() ? st.machine_accel
                                                               : std::vector<std::string>{"tcg"};
  c.accel_list.clear();
  for (const auto& a : accel) {
    bool dup = false;
    for (const auto& b : c.accel_list) dup |= a == b;
    if (!dup) c.accel_list.push_back(a);
  }
  c.accel.clear();
  for (const auto& a : c.accel_list) c.accel += (c.accel.empty() ? "" : ":") + a;

  if (c.nographic) {
    // Without -serial and -monitor both share stdio through the mux; with one of
    // them given, the other alone takes stdio.
    if (!st.serial_given && !st.monitor_given) {
      c.chardevs.push_back({"serial0", "stdio", {{"mux", "on"}}});
      c.serial.push_back("serial0");
      c.monitor = "serial0";
    } else if (!st.serial_given) {
      c.chardevs.push_back({"serial0", "stdio", {}});
      c.serial.push_back("serial0");
    } else if (!st.monitor_given) {
      c.chardevs.push_back({"monitor0", "stdio", {}});
      c.monitor = "monitor0";
    }
  } else if (!st.serial_given) {
    // COM1 exists on a PC; with no display to show it on, its output goes nowhere.
    c.chardevs.push_back({"serial0", "null", {}});
    c.serial.push_back("serial0");
  }

  std::map<std::string, const ChardevConfig*> by_id;
  int stdio = 0;
  for (const auto& cd : c.chardevs) {
    if (!by_id.emplace(cd.id, &cd).second) throw CliError("duplicate chardev id '" + cd.id + "'");
    if (cd.backend == "stdio") stdio++;
  }
  if (stdio > 1)
    throw CliError("stdio is used by more than one character device (use mon:stdio or -chardev "
                   "stdio,mux=on to share it)");
  std::map<std::string, int> uses;
  auto use = [&](const std::string& what, const std::string& id) {
    if (id.empty()) return;
    if (!by_id.count(id)) throw CliError(what + ": no chardev with id '" + id + "'");
    uses[id]++;
  };
  for (size_t i = 0; i < c.serial.size(); i++) use("-serial (COM" + std::to_string(i + 1) + ")", c.serial[i]);
  use("-monitor", c.monitor);
  use("-debugcon", c.debugcon);
  for (const auto& [id, n] : uses) {
    const ChardevConfig* cd = by_id[id];
    bool mux = cd->props.count("mux") && cd->props.at("mux") == "on";
    if (n > 1 && !mux)
      throw CliError("chardev '" + id + "' is used by " + std::to_string(n) +
                     " front ends; give it mux=on to share it");
  }
}

}  // namespace

CliResult ParseCommandLine(const std::vector<std::string>& args,
                           const hw::DeviceRegistry* registry) {
  ParseState st;
  st.registry = registry;
  for (size_t i = 0; i < args.size(); i++) {
    const std::string& a = args[i];
    if (a.size() < 2 || a[0] != '-') {
      // QEMU treats a lone argument as the first hard disk.
      throw CliError(a + ": disk images (-hda) are not supported yet");
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    if (name == "?") name = "h";
    const OptionDesc* d = FindOption(name);
    if (!d) throw CliError(a + ": invalid option");
    std::string arg;
    if (d->has_arg) {
      if (i + 1 >= args.size()) throw CliError("-" + name + ": requires an argument");
      arg = args[++i];
    }
    if (!d->handler) throw CliError("-" + name + ": not supported yet");
    d->handler(st, arg);
    // Informational actions end parsing early, as QEMU does.
    if (st.result.action != CliAction::kRun) return std::move(st.result);
  }
  Finish(st);
  return std::move(st.result);
}

CliResult ParseCommandLine(int argc, const char* const* argv, const hw::DeviceRegistry* registry) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; i++) args.emplace_back(argv[i]);
  return ParseCommandLine(args, registry);
}

}  // namespace emu::system
