// What the command line asks for: the parser (system/cli.*) fills a MachineConfig,
// the machine assembly (system/machine.*) builds a PC from it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace emu::system {

// A QemuOpts-style option value: "implied,key=val,key2=val2" (",," escapes a comma).
struct OptValue {
  std::string implied;  // the value of the implied first key, if given without "key="
  std::map<std::string, std::string> props;
  std::string raw;
};

// Backends: "null", "stdio", "file" (path, append), "pty", "socket" (host+port
// for TCP or path for a unix socket; server, wait, nodelay). props["mux"] == "on"
// shares the backend between several front ends (serial + monitor).
struct ChardevConfig {
  std::string id;       // -chardev id=..., or a generated one for -serial
  std::string backend;  // stdio, null, file, pty, socket (tcp/unix), mon:stdio ...
  std::map<std::string, std::string> props;  // path, host, port, server, wait, mux
};

struct DeviceConfig {
  std::string driver;
  std::map<std::string, std::string> props;
};

struct MachineConfig {
  std::string machine = "pc";
  std::string accel = "tcg";        // "kvm", "tcg", or a ':'-list tried in order
  std::vector<std::string> accel_list{"tcg"};
  // -accel tcg,backend=: "native" (host code on x86-64 hosts, the interpreter
  // elsewhere) or "interp" (the portable interpreter everywhere).
  std::string tcg_backend = "native";
  uint64_t ram_size = 128ull << 20;  // bytes
  int smp = 1;
  // -smp topology (sockets * cores * threads >= smp); 0 = not given.
  int smp_sockets = 0, smp_cores = 0, smp_threads = 0;
  std::string cpu_model = "qemu64";
  std::string kernel, initrd, append, bios;
  std::string name;
  bool no_reboot = false;
  bool no_shutdown = false;
  bool nographic = false;
  std::string display = "default";   // none, sdl, ...
  std::vector<ChardevConfig> chardevs;
  std::vector<std::string> serial;    // chardev ids for COM1..COM4 ("" = none)
  std::string debugcon;               // chardev id for port 0xe9, or ""
  std::string monitor;                // chardev id for the HMP monitor, or ""
  std::vector<DeviceConfig> devices;
  // Tracing (-d/-D) and debugging.
  std::vector<std::string> log_items;
  std::string log_file;
  std::vector<std::pair<uint64_t, uint64_t>> log_filter;  // -dfilter: inclusive ranges
  bool singlestep = false;
  bool perf_map = false;  // -perfmap
};

}  // namespace emu::system
