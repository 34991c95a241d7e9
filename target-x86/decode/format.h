// Plain-text rendering of a DecodedInst in Intel syntax, for error messages
// ("unimplemented: ...") and debugging. Traces use capstone (target-x86/disas.h) instead.
#pragma once

#include <string>

#include "target-x86/decode/decoded_inst.h"

namespace emu::x86 {

// E.g. "LOCK ADD dword ds:[rbx+rcx*4+0x10], eax" or "JCC(5) rel -0x2 ; 75 fe". Register
// names are lower case as in the SDM; the instruction bytes follow after " ; ".
std::string FormatInst(const DecodedInst& d);

// The name of a register operand ("ah", "r8d", "xmm3", "st(1)", "cr0"...).
std::string RegisterName(const Operand& op);

}  // namespace emu::x86
