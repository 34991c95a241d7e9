// Names of X86Env fields for IR listings (-d op, -d op_opt): translated code
// reaches guest state by byte offset, which is unreadable in a trace.
#pragma once

#include <cstdint>
#include <string>

#include "accel/tcg/ir/print.h"

namespace emu::x86 {

// "rax", "rax+1" (AH), "cs.base", "xmm3+8", "cc_op"; "" for an unknown offset.
std::string EnvFieldName(uint32_t offset, accel::tcg::Type t);
inline accel::tcg::IrNames X86IrNames() { return {&EnvFieldName}; }

}  // namespace emu::x86
