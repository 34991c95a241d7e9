// The portable IR interpreter: a Block is compiled into a compact array of
// pre-decoded ops over a flat temp array (constants first, copied in at block
// entry), then run with switch dispatch. It is the reference backend: any host,
// no generated code.
#pragma once

#include <cstdint>
#include <vector>

#include "accel/tcg/exec_context.h"
#include "accel/tcg/ir/ir.h"

namespace emu::accel::tcg {

struct InterpOp {
  Opcode opc;
  Type type;
  uint8_t aux;
  uint8_t pad = 0;
  uint16_t d, a, b, c;
  uint64_t imm;  // ld/st_env offset, helper, insn pc; for value ops: Mask(type)
};

struct InterpProgram {
  std::vector<InterpOp> ops;
  std::vector<uint64_t> consts;  // temps [0, consts.size()) start with these values
  uint32_t num_temps = 0;
  Terminal term;                 // cond renumbered
  // The temp array with the constants already in place: running with it saves
  // the copy at every block entry. Only one vCPU executes at a time (the
  // accelerator's execution lock), so a program's frame is never shared.
  mutable std::vector<uint64_t> frame;
  size_t MemoryBytes() const { return ops.size() * sizeof(InterpOp) + consts.size() * 8; }
};

// Compiles a (passed) block. Returns false if the block is too large (more than
// 65535 temps): the front end should end blocks earlier.
bool CompileInterp(const Block& b, InterpProgram* out);

// Runs one program. Returns the terminal slot taken (0 or 1 for goto/branch), -1
// for other terminals or when ctx->exit was set, -2 when it stopped before an
// instruction because of ExitStatus::kStopAtInsn (ctx->insn_pc is that instruction).
// `temps` may be nullptr to run on the program's own frame.
int RunInterp(ExecContext* ctx, const InterpProgram& p, uint64_t* temps);

}  // namespace emu::accel::tcg
