// Human-readable register dump of a CpuState (monitor "info registers", -d cpu).
#pragma once

#include <string>

#include "target-x86/cpu_state.h"

namespace emu::x86 {

std::string FormatCpuState(const CpuState& s);

}  // namespace emu::x86
