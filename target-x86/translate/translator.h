// x86 -> IR: translates one block starting at a linear pc.
#pragma once

#include <cstdint>

#include "accel/tcg/ir/ir.h"

namespace emu::x86 {

class X86Cpu;

struct TranslateResult {
  bool ok = false;            // false: the first fetch faulted (exception recorded)
  uint64_t phys_page2 = ~0ull;
};

// Translates guest code at linear `pc` (cs_base + rip) in the mode `flags`
// (ComputeTbFlags) into `out`, at most `max_insns` instructions.
TranslateResult TranslateBlock(X86Cpu* cpu, uint64_t pc, uint64_t cs_base, uint32_t flags,
                               int max_insns, accel::tcg::Block* out);

// For -d in_asm: when set, called with the bytes of every translated instruction.
using InsnTraceFn = void (*)(void* opaque, uint64_t pc, const uint8_t* bytes, unsigned len,
                             unsigned code_bits);
void SetInsnTrace(InsnTraceFn fn, void* opaque);

}  // namespace emu::x86
