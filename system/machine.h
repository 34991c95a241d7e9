// Builds the PC described by a MachineConfig and runs it until the guest or the
// user ends it. Returns the process exit status (0 after guest poweroff, the
// isa-debug-exit value, 1 on error).
#pragma once

#include "system/config.h"

namespace emu::system {

int RunMachine(const MachineConfig& config);

}  // namespace emu::system
