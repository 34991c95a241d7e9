// The QEMU-compatible command line: argv -> MachineConfig.
//
// The parser is driven by one table of option descriptors (cli_options.cpp): each
// entry names the option, says whether it takes an argument, which help group it
// belongs to and which handler fills the config. Options are accepted with one or
// two dashes ("-m 1G" and "--m 1G"). Values of structured options use QemuOpts
// syntax: "implied,key=val,key2=val2" where ",," stands for a literal comma.
//
// Every user error is thrown as CliError; main() prints "emu: <message>" and exits 1.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "system/config.h"

namespace emu::hw {
class DeviceRegistry;
}

namespace emu::system {

class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What main() should do after parsing.
enum class CliAction {
  kRun,          // build and run the machine
  kVersion,      // -version
  kHelp,         // -h / -help
  kDeviceHelp,   // -device help
  kMachineHelp,  // -machine help
  kAccelHelp,    // -accel help
  kLogHelp,      // -d help
};

struct CliResult {
  CliAction action = CliAction::kRun;
  MachineConfig config;
};

// Parses argv[1..]. `registry`, when given, is used to reject unknown -device
// names early (properties are checked later, when the machine creates the device).
// File arguments (-kernel, -initrd, -bios) are checked for readability here.
CliResult ParseCommandLine(const std::vector<std::string>& args,
                           const hw::DeviceRegistry* registry = nullptr);
CliResult ParseCommandLine(int argc, const char* const* argv,
                           const hw::DeviceRegistry* registry = nullptr);

// Texts printed by main() for the informational actions.
std::string VersionText();  // "emu version 0.1.0\n" + copyright line
std::string UsageText();    // -h, grouped like QEMU's
std::string DeviceHelpText(const hw::DeviceRegistry& registry);
std::string MachineHelpText();
std::string AccelHelpText();
std::string LogHelpText();

// --- Helpers shared by the parser pieces (exposed for tests) ---

// Splits a QemuOpts value. The first element without '=' becomes `implied` when
// `implied_key` is non-empty (it is also stored in props under that key); later
// elements without '=' are flags: "key" -> "on", and "noKEY" -> KEY=off for the
// keys listed in `no_flags`. Throws CliError naming `option` on malformed input.
OptValue ParseOptValue(const std::string& option, const std::string& text,
                       const std::string& implied_key,
                       const std::vector<std::string>& no_flags = {});

// Parses "512", "512M", "1G", "1.5G", "64K", "1T", "4096B". A number without a
// suffix is multiplied by `default_unit`. Returns false on malformed input or overflow.
bool ParseSize(const std::string& text, uint64_t default_unit, uint64_t* out);

// Limits of the RAM size accepted by -m.
constexpr uint64_t kMinRamSize = 1ull << 20;  // 1 MiB: less cannot hold the BIOS data areas
constexpr uint64_t kMaxRamSize = 1ull << 40;  // 1 TiB: past that nobody means it on this host
constexpr int kMaxCpus = 255;                 // xAPIC ids 0..254 (255 is broadcast)
constexpr int kMaxSerialPorts = 4;            // COM1..COM4

// Turns a -serial/-monitor/-debugcon backend spec ("stdio", "file:PATH",
// "tcp:host:port,server=on,wait=off", "unix:PATH,server", "pty", "null", "mon:SPEC")
// into a ChardevConfig with the given id. `mux_monitor` is set when the spec was
// "mon:..." (the backend is shared with the monitor). Returns false for "none".
// "chardev:ID" is returned with backend "chardev" and props["ref"] = ID.
bool ParseChardevSpec(const std::string& option, const std::string& spec, const std::string& id,
                      ChardevConfig* out, bool* mux_monitor);

// Parses a -chardev value ("socket,id=x,host=...,port=...") and validates its keys.
ChardevConfig ParseChardevOption(const std::string& text);

}  // namespace emu::system
