// The option table and one handler per option: each handler parses its value and
// fills the MachineConfig in ParseState. Checks needing the whole command line
// live in cli.cpp (Finish).

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "hw/core/device.h"
#include "hw/core/log.h"
#include "system/cli.h"
#include "system/cli_table.h"

namespace emu::system {

// A file the machine will read later: fail now, naming the file, if it can't be read.
void CheckReadableFile(const std::string& opt, const std::string& path) {
  if (path.empty()) throw CliError(opt + ": empty file name");
  // O_NONBLOCK: a FIFO given by mistake must not hang the parser.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw CliError(opt + ": cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  int rc = fstat(fd, &st);
  int e = errno;
  close(fd);
  if (rc != 0) throw CliError(opt + ": cannot read '" + path + "': " + std::strerror(e));
  if (S_ISDIR(st.st_mode)) throw CliError(opt + ": cannot read '" + path + "': " + std::strerror(EISDIR));
  // The loaders need the size up front, which pipes and devices do not have.
  if (!S_ISREG(st.st_mode)) throw CliError(opt + ": '" + path + "' is not a regular file");
}

namespace {

bool Exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

// -m [size=]N[KMGT]
void OptMemory(ParseState& st, const std::string& arg) {
  OptValue v = ParseOptValue("-m", arg, "size");
  for (const auto& [k, val] : v.props) {
    if (k == "slots" || k == "maxmem") throw CliError("-m " + k + "=: memory hotplug is not supported yet");
    if (k != "size") throw CliError("-m: unknown property '" + k + "'");
  }
  if (!v.props.count("size")) throw CliError("-m " + arg + ": missing size");
  const std::string& text = v.props["size"];
  uint64_t bytes = 0;
  if (!ParseSize(text, 1ull << 20, &bytes))
    throw CliError("-m " + text + ": invalid RAM size (use a number of MiB or a K/M/G/T suffix)");
  if (bytes < kMinRamSize) throw CliError("-m " + text + ": RAM size must be at least 1 MiB");
  if (bytes > kMaxRamSize)
    throw CliError("-m " + text + ": RAM size is larger than the limit of 1 TiB");
  st.cfg.ram_size = (bytes + 4095) & ~uint64_t(4095);  // whole pages
}

int ParseCount(const std::string& what, const std::string& s) {
  if (s.empty() || s.size() > 6 || s.find_first_not_of("0123456789") != std::string::npos)
    throw CliError(what + ": '" + s + "' is not a number");
  return std::stoi(s);
}

// -smp [cpus=]N[,sockets=S][,cores=C][,threads=T][,maxcpus=M]
void OptSmp(ParseState& st, const std::string& arg) {
  OptValue v = ParseOptValue("-smp", arg, "cpus");
  const std::string what = "-smp " + arg;
  int cpus = 0, sockets = 0, cores = 0, threads = 0, maxcpus = 0;
  for (const auto& [k, val] : v.props) {
    int n = ParseCount(what, val);
    if (k == "cpus") cpus = n;
    else if (k == "sockets") sockets = n;
    else if (k == "cores") cores = n;
    else if (k == "threads") threads = n;
    else if (k == "maxcpus") maxcpus = n;
    else if ((k == "dies" || k == "clusters") && n == 1) continue;
    else if (k == "dies" || k == "clusters") throw CliError(what + ": " + k + "= is not supported yet");
    else throw CliError("-smp: unknown property '" + k + "'");
    if ((k != "cpus") && n == 0) throw CliError(what + ": " + k + " must be at least 1");
  }
  if (!v.props.count("cpus")) {
    // No count: it follows from the topology.
    cpus = (sockets ? sockets : 1) * (cores ? cores : 1) * (threads ? threads : 1);
    if (maxcpus && !sockets && !cores && !threads) cpus = maxcpus;
  }
  if (cpus < 1 || cpus > kMaxCpus)
    throw CliError(what + ": the number of CPUs must be between 1 and " + std::to_string(kMaxCpus));
  if (maxcpus && maxcpus != cpus) throw CliError(what + ": CPU hotplug (maxcpus) is not supported yet");
  if (!threads) threads = 1;
  if (!cores && !sockets) sockets = (cpus + threads - 1) / threads, cores = 1;
  else if (!cores) cores = (cpus + sockets * threads - 1) / (sockets * threads);
  else if (!sockets) sockets = (cpus + cores * threads - 1) / (cores * threads);
  if (long(sockets) * cores * threads != cpus)
    throw CliError(what + ": sockets (" + std::to_string(sockets) + ") * cores (" +
                   std::to_string(cores) + ") * threads (" + std::to_string(threads) +
                   ") must equal the number of CPUs (" + std::to_string(cpus) + ")");
  st.cfg.smp = cpus;
  st.cfg.smp_sockets = sockets;
  st.cfg.smp_cores = cores;
  st.cfg.smp_threads = threads;
}

std::vector<std::string> SplitColons(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    size_t c = s.find(':', start);
    out.push_back(s.substr(start, c == std::string::npos ? std::string::npos : c - start));
    if (c == std::string::npos) return out;
    start = c + 1;
  }
}

void CheckAccelName(const std::string& opt, const std::string& name) {
  if (name == "kvm" || name == "tcg") return;
  if (name == "xen" || name == "hax" || name == "hvf" || name == "whpx" || name == "nvmm" ||
      name == "qtest")
    throw CliError(opt + " " + name + ": accelerator not supported (available: kvm, tcg)");
  throw CliError(opt + " " + name + ": invalid accelerator '" + name + "' (available: kvm, tcg)");
}

// -accel [accel=]NAME[:NAME...][,backend=native|interp]
void OptAccel(ParseState& st, const std::string& arg) {
  OptValue v = ParseOptValue("-accel", arg, "accel");
  for (const auto& [k, val] : v.props)
    if (k != "accel" && k != "backend") throw CliError("-accel: unknown property '" + k + "'");
  if (v.implied == "help") {
    st.result.action = CliAction::kAccelHelp;
    return;
  }
  if (!v.props.count("accel")) throw CliError("-accel " + arg + ": missing accelerator name");
  std::vector<std::string> names = SplitColons(v.props["accel"]);
  for (const auto& name : names) CheckAccelName("-accel", name);
  if (v.props.count("backend")) {
    // The translator's property: it applies to tcg in the list (kvm:tcg: the
    // fallback), and is an error when no tcg is there to use it.
    const std::string& b = v.props["backend"];
    if (b != "native" && b != "interp")
      throw CliError("-accel " + arg + ": invalid backend '" + b + "' (available: native, interp)");
    if (std::find(names.begin(), names.end(), "tcg") == names.end())
      throw CliError("-accel " + arg + ": backend= is a property of tcg (use -accel tcg,backend=" +
                     b + ")");
    st.cfg.tcg_backend = b;
  }
  st.accel_opts.insert(st.accel_opts.end(), names.begin(), names.end());
}

void OptEnableKvm(ParseState& st, const std::string&) { st.accel_opts.push_back("kvm"); }

void OptMachine(ParseState& st, const std::string& arg) {
  OptValue v = ParseOptValue("-machine", arg, "type");
  for (auto& [k, val] : v.props) {
    if (k == "type") {
      if (val == "help") {
        st.result.action = CliAction::kMachineHelp;
        return;
      }
      if (val == "pc" || val.rfind("pc-i440fx", 0) == 0) {
        st.cfg.machine = "pc";
      } else if (val == "q35" || val.rfind("pc-q35", 0) == 0 || val == "isapc" ||
                 val == "microvm" || val == "xenfv" || val == "xenpv" || val == "none") {
        throw CliError("-machine " + val + ": machine type not supported yet (only 'pc')");
      } else {
        throw CliError("-machine " + val + ": unknown machine type (try -machine help)");
      }
    } else if (k == "accel") {
      st.machine_accel.clear();
      for (const auto& name : SplitColons(val)) {
        CheckAccelName("-machine accel=", name);
        st.machine_accel.push_back(name);
      }
    } else if (k == "usb" || k == "vmport" || k == "hpet") {
      // Harmless when off: the pc machine has none of them yet.
      if (val != "off" && val != "no" && val != "false")
        throw CliError("-machine " + k + "=" + val + ": not supported yet");
    } else if (k == "dump-guest-core" || k == "mem-merge") {
      // Host memory hints with no effect on the guest; accepted for scripts.
    } else {
      throw CliError("-machine: unknown property '" + k + "'");
    }
  }
}

void OptCpu(ParseState& st, const std::string& arg) {
  if (arg.empty()) throw CliError("-cpu: empty CPU model");
  st.cfg.cpu_model = arg;
}

void OptKernel(ParseState& st, const std::string& arg) {
  CheckReadableFile("-kernel", arg);
  st.cfg.kernel = arg;
}

// -initrd is one file, or for multiboot kernels "mod1 args,mod2" (",," escapes a comma).
void OptInitrd(ParseState& st, const std::string& arg) {
  if (!Exists(arg) && (arg.find(',') != std::string::npos || arg.find(' ') != std::string::npos)) {
    std::string cur;
    std::vector<std::string> mods;
    for (size_t i = 0; i <= arg.size(); i++) {
      if (i == arg.size() || (arg[i] == ',' && !(i + 1 < arg.size() && arg[i + 1] == ','))) {
        mods.push_back(cur);
        cur.clear();
      } else if (arg[i] == ',') {
        cur += ',';
        i++;
      } else {
        cur += arg[i];
      }
    }
    for (const auto& m : mods) CheckReadableFile("-initrd", m.substr(0, m.find(' ')));
  } else {
    CheckReadableFile("-initrd", arg);
  }
  st.cfg.initrd = arg;
}

void OptAppend(ParseState& st, const std::string& arg) { st.cfg.append = arg; }
void OptBios(ParseState& st, const std::string& arg) { st.cfg.bios = arg; }
void OptBiosDir(ParseState& st, const std::string& arg) { st.bios_dirs.push_back(arg); }

void OptSerial(ParseState& st, const std::string& arg) {
  st.serial_given = true;
  if (st.serial_count >= kMaxSerialPorts)
    throw CliError("-serial " + arg + ": too many serial ports (at most " +
                   std::to_string(kMaxSerialPorts) + ")");
  std::string id = "serial" + std::to_string(st.serial_count++);
  ChardevConfig c;
  bool mon = false;
  if (!ParseChardevSpec("-serial", arg, id, &c, &mon)) {
    st.cfg.serial.push_back("");
    return;
  }
  if (c.backend == "chardev") {
    st.cfg.serial.push_back(c.props["ref"]);
    return;
  }
  st.cfg.chardevs.push_back(c);
  st.cfg.serial.push_back(id);
  if (mon) {
    if (!st.cfg.monitor.empty()) throw CliError("-serial " + arg + ": only one monitor is supported");
    st.cfg.monitor = id;
    st.monitor_given = true;
  }
}

void OptMonitor(ParseState& st, const std::string& arg) {
  // "-monitor stdio" and "-monitor mon:stdio" mean the same here.
  ChardevConfig c;
  bool mon = false;
  std::string spec = arg.rfind("mon:", 0) == 0 ? arg.substr(4) : arg;
  if (st.monitor_given && !st.cfg.monitor.empty())
    throw CliError("-monitor " + arg + ": only one monitor is supported");
  st.monitor_given = true;
  if (!ParseChardevSpec("-monitor", spec, "monitor0", &c, &mon)) {
    st.cfg.monitor = "";
    return;
  }
  if (c.backend == "chardev") {
    st.cfg.monitor = c.props["ref"];
    return;
  }
  st.cfg.chardevs.push_back(c);
  st.cfg.monitor = c.id;
}

void OptDebugcon(ParseState& st, const std::string& arg) {
  ChardevConfig c;
  bool mon = false;
  if (!st.cfg.debugcon.empty()) throw CliError("-debugcon " + arg + ": only one debugcon is supported");
  if (!ParseChardevSpec("-debugcon", arg, "debugcon", &c, &mon)) return;
  if (c.backend == "chardev") {
    st.cfg.debugcon = c.props["ref"];
    return;
  }
  st.cfg.chardevs.push_back(c);
  st.cfg.debugcon = c.id;
  if (mon) {
    if (!st.cfg.monitor.empty()) throw CliError("-debugcon " + arg + ": only one monitor is supported");
    st.cfg.monitor = c.id;
    st.monitor_given = true;
  }
}

void OptChardev(ParseState& st, const std::string& arg) {
  st.cfg.chardevs.push_back(ParseChardevOption(arg));
}

void OptNographic(ParseState& st, const std::string&) {
  st.cfg.nographic = true;
  st.cfg.display = "none";
}

void OptDisplay(ParseState& st, const std::string& arg) {
  OptValue v = ParseOptValue("-display", arg, "type");
  const std::string type = v.implied.empty() ? v.props["type"] : v.implied;
  if (type == "none") {
    if (v.props.size() > 1) throw CliError("-display none takes no options");
    st.cfg.display = "none";
    st.display_given = true;
    return;
  }
  for (const char* t : {"sdl", "gtk", "vnc", "curses", "egl-headless", "spice-app", "dbus",
                        "cocoa", "default"})
    if (type == t) throw CliError("-display " + type + ": not supported yet");
  throw CliError("-display " + arg + ": unknown display type '" + type + "'");
}

void OptNoReboot(ParseState& st, const std::string&) { st.cfg.no_reboot = true; }
void OptNoShutdown(ParseState& st, const std::string&) { st.cfg.no_shutdown = true; }

void OptName(ParseState& st, const std::string& arg) {
  OptValue v = ParseOptValue("-name", arg, "guest");
  for (const auto& [k, val] : v.props)
    if (k != "guest" && k != "process" && k != "debug-threads")
      throw CliError("-name: unknown property '" + k + "'");
  st.cfg.name = v.props["guest"];
}

void OptDevice(ParseState& st, const std::string& arg) {
  OptValue v = ParseOptValue("-device", arg, "driver");
  std::string driver = v.props["driver"];
  if (driver == "help" || driver == "?") {
    st.result.action = CliAction::kDeviceHelp;
    return;
  }
  if (driver.empty()) throw CliError("-device " + arg + ": the device name comes first");
  if (v.props.count("help"))
    throw CliError("-device " + driver + ",help: listing device properties is not supported yet");
  if (st.registry && !st.registry->Find(driver))
    throw CliError("-device " + driver + ": unknown device '" + driver + "' (try -device help)");
  DeviceConfig d;
  d.driver = driver;
  d.props = v.props;
  d.props.erase("driver");
  st.cfg.devices.push_back(d);
}

}  // namespace

const std::vector<std::pair<std::string, std::string>>& CliLogItems() {
  // The items the log facility knows (hw/core/log.cpp); anything else fails
  // rather than being ignored.
  static const std::vector<std::pair<std::string, std::string>> items = [] {
    std::vector<std::pair<std::string, std::string>> v;
    for (const hw::LogItem& it : hw::LogItems()) v.emplace_back(it.name, it.help);
    return v;
  }();
  return items;
}

namespace {

void OptLogItems(ParseState& st, const std::string& arg) {
  if (arg == "help" || arg == "?") {
    st.result.action = CliAction::kLogHelp;
    return;
  }
  std::string cur;
  for (size_t i = 0; i <= arg.size(); i++) {
    if (i < arg.size() && arg[i] != ',') {
      cur += arg[i];
      continue;
    }
    if (cur.empty()) continue;
    bool known = hw::LogMaskForName(cur) != 0;
    // QEMU's other items, which emu does not produce yet.
    for (const char* later : {"op_ind", "cpu_reset", "nochain", "pcall", "page", "strace",
                              "plugin", "tid", "fpu", "vpu", "invalid_mem"})
      if (!known && cur == later) throw CliError("-d " + cur + ": not supported yet");
    if (!known && cur.rfind("trace:", 0) == 0) throw CliError("-d " + cur + ": not supported yet");
    if (!known) throw CliError("-d " + cur + ": unknown log item (see -d help)");
    if (std::find(st.cfg.log_items.begin(), st.cfg.log_items.end(), cur) == st.cfg.log_items.end())
      st.cfg.log_items.push_back(cur);
    cur.clear();
  }
}

void OptLogFilter(ParseState& st, const std::string& arg) {
  std::vector<hw::AddrRange> ranges;
  std::string err;
  if (!hw::ParseLogFilter(arg, &ranges, &err)) throw CliError("-dfilter " + arg + ": " + err);
  st.cfg.log_filter.clear();
  for (const hw::AddrRange& r : ranges) st.cfg.log_filter.emplace_back(r.first, r.last);
}

void OptLogFile(ParseState& st, const std::string& arg) { st.cfg.log_file = arg; }
void OptSinglestep(ParseState& st, const std::string&) { st.cfg.singlestep = true; }
void OptPerfMap(ParseState& st, const std::string&) { st.cfg.perf_map = true; }
void OptVersion(ParseState& st, const std::string&) { st.result.action = CliAction::kVersion; }
void OptHelp(ParseState& st, const std::string&) { st.result.action = CliAction::kHelp; }
void OptParallel(ParseState&, const std::string& arg) {
  if (arg != "none") throw CliError("-parallel " + arg + ": not supported yet");
}

constexpr const char* kStd = "Standard options";
constexpr const char* kBlock = "Block device options";
constexpr const char* kUsb = "USB convenience options";
constexpr const char* kDisplay = "Display options";
constexpr const char* kNet = "Network options";
constexpr const char* kChar = "Character device options";
constexpr const char* kBoot = "Linux/Multiboot boot specific";
constexpr const char* kDebug = "Debug/Expert options";

}  // namespace

const std::vector<std::string>& CliGroups() {
  static const std::vector<std::string> g = {kStd, kBlock, kUsb, kDisplay,
                                             kNet, kChar,  kBoot, kDebug};
  return g;
}

const std::vector<OptionDesc>& CliOptions() {
  static const std::vector<OptionDesc> t = {
      {"h", false, OptHelp, kStd, "", "display this help and exit (also -help)"},
      {"help", false, OptHelp, kStd, "", ""},
      {"version", false, OptVersion, kStd, "", "display version information and exit"},
      {"machine", true, OptMachine, kStd, "[type=]pc[,accel=kvm|tcg|kvm:tcg]",
       "select the emulated machine (-machine help for a list)"},
      {"M", true, OptMachine, kStd, "", ""},
      {"accel", true, OptAccel, kStd, "[accel=]kvm|tcg|kvm:tcg[,backend=native|interp]",
       "select the accelerator (repeat for a fallback list); tcg's backend: native host "
       "code (default) or interp"},
      {"enable-kvm", false, OptEnableKvm, kStd, "", "same as -accel kvm"},
      {"cpu", true, OptCpu, kStd, "model", "select the CPU model"},
      {"smp", true, OptSmp, kStd, "[cpus=]n[,sockets=s][,cores=c][,threads=t]",
       "set the number of CPUs (1-255) and their topology"},
      {"m", true, OptMemory, kStd, "[size=]megs[K|M|G|T]",
       "set the RAM size (MiB without a suffix; 1 MiB to 1 TiB)"},
      {"name", true, OptName, kStd, "string", "set the name of the guest"},
      {"device", true, OptDevice, kStd, "driver[,prop=value][,...]",
       "add a device (-device help for a list)"},
      {"k", true, nullptr, kStd, "language", "keyboard layout (not supported yet)"},
      {"soundhw", true, nullptr, kStd, "c1,...", "(not supported yet)"},
      {"audiodev", true, nullptr, kStd, "driver,id=...", "(not supported yet)"},
      {"rtc", true, nullptr, kStd, "base=...", "(not supported yet)"},

      {"fda", true, nullptr, kBlock, "file", "floppy disk image (not supported yet)"},
      {"fdb", true, nullptr, kBlock, "file", ""},
      {"hda", true, nullptr, kBlock, "file", "hard disk images (not supported yet)"},
      {"hdb", true, nullptr, kBlock, "file", ""},
      {"hdc", true, nullptr, kBlock, "file", ""},
      {"hdd", true, nullptr, kBlock, "file", ""},
      {"cdrom", true, nullptr, kBlock, "file", "CD-ROM image (not supported yet)"},
      {"drive", true, nullptr, kBlock, "file=...", "(not supported yet)"},
      {"blockdev", true, nullptr, kBlock, "...", ""},
      {"snapshot", false, nullptr, kBlock, "", "(not supported yet)"},
      {"pflash", true, nullptr, kBlock, "file", ""},

      {"usb", false, nullptr, kUsb, "", "(not supported yet)"},
      {"usbdevice", true, nullptr, kUsb, "name", "(not supported yet)"},

      {"display", true, OptDisplay, kDisplay, "none", "select the display (only 'none' so far)"},
      {"nographic", false, OptNographic, kDisplay, "",
       "no display; serial port and monitor share stdio (Ctrl-a h for help)"},
      {"vga", true, nullptr, kDisplay, "type", "(not supported yet)"},
      {"vnc", true, nullptr, kDisplay, "display", "(not supported yet)"},
      {"full-screen", false, nullptr, kDisplay, "", ""},

      {"netdev", true, nullptr, kNet, "type,id=...", "(not supported yet)"},
      {"net", true, nullptr, kNet, "...", "(not supported yet)"},
      {"nic", true, nullptr, kNet, "...", "(not supported yet)"},

      {"chardev", true, OptChardev, kChar,
       "backend,id=id[,mux=on][,path=..][,host=..,port=..][,server=on][,wait=off]",
       "backends: null, stdio, file, pty, socket"},
      {"serial", true, OptSerial, kChar, "dev",
       "redirect a serial port (COM1..COM4): stdio, null, none, pty, file:PATH,\n"
       "                        tcp:HOST:PORT[,server=on][,wait=off], unix:PATH[,server=on],\n"
       "                        chardev:ID, mon:stdio"},
      {"debugcon", true, OptDebugcon, kChar, "dev", "redirect the debug console (port 0xe9)"},
      {"monitor", true, OptMonitor, kChar, "dev", "redirect the HMP monitor"},
      {"parallel", true, OptParallel, kChar, "none", "(only 'none' so far)"},
      {"qmp", true, nullptr, kChar, "dev", "(not supported yet)"},

      {"kernel", true, OptKernel, kBoot, "bzImage", "boot this Linux or multiboot kernel"},
      {"append", true, OptAppend, kBoot, "cmdline", "kernel command line"},
      {"initrd", true, OptInitrd, kBoot, "file", "initial ram disk (or multiboot modules)"},
      {"boot", true, nullptr, kBoot, "order", "(not supported yet)"},

      {"bios", true, OptBios, kDebug, "file", "use this BIOS image"},
      {"L", true, OptBiosDir, kDebug, "path", "directory searched for -bios files"},
      {"no-reboot", false, OptNoReboot, kDebug, "", "exit instead of rebooting"},
      {"no-shutdown", false, OptNoShutdown, kDebug, "", "stop instead of exiting on guest poweroff"},
      {"d", true, OptLogItems, kDebug, "item1,...", "log these items (-d help for a list)"},
      {"D", true, OptLogFile, kDebug, "logfile", "write the log to this file (default stderr)"},
      {"dfilter", true, OptLogFilter, kDebug, "range1[,...]",
       "limit in_asm/op/op_opt/exec/cpu to code in these ranges (start..end, start+size)"},
      {"singlestep", false, OptSinglestep, kDebug, "", "one guest instruction per translated block"},
      {"perfmap", false, OptPerfMap, kDebug, "",
       "write /tmp/perf-<pid>.map: perf names native translator code by guest pc"},
      {"icount", true, nullptr, kDebug, "shift=N", "(not supported yet)"},
      {"gdb", true, nullptr, kDebug, "dev", "(not supported yet)"},
      {"s", false, nullptr, kDebug, "", "(not supported yet)"},
      {"S", false, nullptr, kDebug, "", "(not supported yet)"},
      {"loadvm", true, nullptr, kDebug, "name", "(not supported yet)"},
      {"global", true, nullptr, kDebug, "...", ""},
      {"object", true, nullptr, kDebug, "...", ""},
      {"nodefaults", false, nullptr, kDebug, "", ""},
      {"pidfile", true, nullptr, kDebug, "file", ""},
      {"daemonize", false, nullptr, kDebug, "", ""},
  };
  return t;
}

}  // namespace emu::system
