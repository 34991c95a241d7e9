#include "system/machine.h"

#include <cstdio>

namespace emu::system {

int RunMachine(const MachineConfig& config) {
  std::fprintf(stderr, "emu: machine assembly not implemented yet\n");
  return 1;
}

}  // namespace emu::system
