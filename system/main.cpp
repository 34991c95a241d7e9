// emu's entry point: parse the command line, answer the informational options,
// otherwise build and run the machine.
#include <signal.h>

#include <cstdio>
#include <exception>

#include "hw/devices.h"
#include "system/cli.h"
#include "system/machine.h"

int main(int argc, char** argv) {
  using namespace emu::system;
  // A vanished reader of stdout or a socket must be an error code, not a kill.
  signal(SIGPIPE, SIG_IGN);
  try {
    emu::hw::DeviceRegistry registry;
    emu::hw::RegisterBuiltinDevices(registry);
    CliResult r = ParseCommandLine(argc, argv, &registry);
    switch (r.action) {
      case CliAction::kVersion: std::fputs(VersionText().c_str(), stdout); return 0;
      case CliAction::kHelp: std::fputs(UsageText().c_str(), stdout); return 0;
      case CliAction::kDeviceHelp: std::fputs(DeviceHelpText(registry).c_str(), stdout); return 0;
      case CliAction::kMachineHelp: std::fputs(MachineHelpText().c_str(), stdout); return 0;
      case CliAction::kAccelHelp: std::fputs(AccelHelpText().c_str(), stdout); return 0;
      case CliAction::kLogHelp: std::fputs(LogHelpText().c_str(), stdout); return 0;
      case CliAction::kRun: break;
    }
    return RunMachine(r.config);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "emu: %s\n", e.what());
    return 1;
  }
}
