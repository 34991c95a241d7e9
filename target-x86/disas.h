// Guest-code disassembly for `-d in_asm` traces and the monitor, through capstone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "target-x86/decode/decoded_inst.h"

namespace emu::x86 {

// False when emu was built without capstone; Disassemble() then returns one line
// saying so instead of a listing.
bool DisassemblerAvailable();

// Disassembles `size` bytes of guest code located at guest address `addr` in `mode`,
// at most `max_insns` instructions (0 = no limit). One line per instruction, each ending
// in '\n':
//   "0x00000000000ffff0:  ea 5b e0 00 f0        ljmp 0xf000:0xe05b"
// Bytes capstone cannot decode give a "(bad)" line for one byte, and the listing goes on
// after it, so a trace always accounts for every byte. Thread-safe.
std::string Disassemble(const uint8_t* bytes, size_t size, uint64_t addr, CpuMode mode,
                        size_t max_insns = 0);

}  // namespace emu::x86
