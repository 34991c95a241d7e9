// What native code calls: the slow paths, which do exactly what the
// interpreter's handlers do off their fast path (interp.cpp), and the ways to
// the next block. Shared by the emitter and runtime.cpp only.
#pragma once

#include <cstdint>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/exec_context.h"

namespace emu::accel::tcg::native {

// Native code returns this many plus an op index to have the interpreter run
// the block from that op (RunInterpAt); smaller values are RunInterp's results.
inline constexpr int64_t kResumeBase = 1 << 20;

// The slow paths return 0 to go on with the next op, else what the native code
// returns right away: -1 (an exception, a helper's exit) or kResumeBase + the
// next op's index (the instruction rewrote its own block: the interpreter
// finishes it). Native code keeps the chain budget in ctx->chain_budget across
// them: a slow path that sets ctx->exit without returning zeroes it (no
// chaining at the block's end, as in the interpreter).
//
// A soft-TLB miss, MMIO or page-crossing access of memory op `o` of `p` at
// `va` (`data`: the value to store). Loads write their result (and a pop's
// pointer) themselves.
int64_t LoadSlow(ExecContext* ctx, uint64_t va, const InterpProgram* p, const InterpOp* o);
int64_t StoreSlow(ExecContext* ctx, uint64_t va, uint64_t data, const InterpProgram* p,
                  const InterpOp* o);
// A call_exit whose helper set ctx->exit (it returned r).
int64_t AfterCallExit(ExecContext* ctx, uint64_t r, const InterpProgram* p, const InterpOp* o);
// The value ops without a native form (rotates, mulh, bit counts, bswap).
void Generic(uint8_t* env, const InterpOp* o);
// A goto/branch end without a linked successor (slot 0/1) or an indirect end:
// the native code of the block to continue with, or nullptr to return.
const void* ChainMiss(ExecContext* ctx, const InterpProgram* p, int slot);
const void* Indirect(ExecContext* ctx, const InterpProgram* p);

}  // namespace emu::accel::tcg::native
