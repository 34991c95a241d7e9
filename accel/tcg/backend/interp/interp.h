// The portable IR interpreter: a Block is compiled into a compact array of
// pre-decoded ops over a flat temp array (constants first, in place before the
// first run), then run with direct-threaded dispatch (GCC/Clang; a switch
// elsewhere). It is the reference backend: any host, no generated code.
//
// Compilation picks one handler per (op, width) where the width or condition
// would otherwise be a branch inside a shared handler (env and memory accesses,
// setcond): such branches mispredict across the many sites that share them.
// Chained blocks (InterpProgram::chain) are entered without returning to the
// caller while ExecContext::chain_budget lasts.
#pragma once

#include <cstdint>
#include <vector>

#include "accel/tcg/exec_context.h"
#include "accel/tcg/ir/ir.h"

namespace emu::accel::tcg {

struct InterpOp {
  union {
    const void* h = nullptr;  // handler address (threaded dispatch)
    uintptr_t kind;           // handler index (switch dispatch)
  };
  uint64_t imm = 0;         // value ops: Mask(type); env offset, helper, insn pc
  uint16_t d = 0, a = 0, b = 0, c = 0;
  Opcode opc = Opcode::kCount;
  Type type = Type::kI64;
  uint8_t aux = 0;
  uint8_t pad = 0;
  uint16_t x = 0;           // call: temp holding the instruction's pc;
                            // ld/st_mem: 1 + index into InterpProgram::pending (0: none)
  uint16_t y = 0;           // st_mem, call: index into InterpProgram::stops
};

// A store delayed by SinkEnvStores, performed before a slow path or a stop.
struct InterpPending {
  uint32_t offset;
  uint16_t temp;
  uint8_t bytes;
  uint8_t last;  // ends its list
};

// Where to stop when the running block rewrote itself (self-modifying code):
// the first op of the next guest instruction and that instruction's pc.
struct InterpStop {
  uint32_t op;
  uint32_t pending;  // 1 + index into InterpProgram::pending, 0: none
  uint64_t pc;
};

struct InterpProgram {
  std::vector<InterpOp> ops;
  std::vector<uint64_t> consts;  // temps [0, consts.size()) start with these values
  uint32_t num_temps = 0;
  Terminal term;                 // cond renumbered
  std::vector<InterpStop> stops;
  std::vector<InterpPending> pending;
  // The temp array with the constants already in place: running with it saves
  // the copy at every block entry. Only one vCPU executes at a time (the
  // accelerator's execution lock), so a program's frame is never shared.
  mutable std::vector<uint64_t> frame;
  // Direct successors for terminal slots 0/1 (set by the TB cache when it links
  // blocks), and the block that owns this program (ExecContext::cur_tb).
  const InterpProgram* chain[2] = {nullptr, nullptr};
  const TranslationBlock* owner = nullptr;
  size_t MemoryBytes() const { return ops.size() * sizeof(InterpOp) + consts.size() * 8; }
};

// Compiles a (passed) block. Returns false if the block is too large (more than
// 65535 temps): the front end should end blocks earlier.
bool CompileInterp(const Block& b, InterpProgram* out);

// Runs one program, and the programs it is chained to while ctx->chain_budget
// (decremented per chained block) lasts and no exit is requested; ctx->cur_tb
// follows the running program's owner and ctx->blocks counts every block run.
// Returns the terminal slot taken (0 or 1 for goto/branch) by the last program
// run, -1 for other terminals or when ctx->exit was set, -2 when it stopped
// before an instruction because of ExitStatus::kStopAtInsn (ctx->insn_pc is that
// instruction). `temps` may be nullptr to run on the program's own frame; with
// explicit temps nothing is chained.
int RunInterp(ExecContext* ctx, const InterpProgram& p, uint64_t* temps);

}  // namespace emu::accel::tcg
