// IR passes, run in this fixed order by RunPasses: constant folding and
// propagation (with env store-to-load forwarding), dead code elimination, and
// (in debug builds) the verifier. Flag elimination is the front end's job (lazy
// flags): it never emits flag computations that nothing reads.
#pragma once

#include <string>

#include "accel/tcg/ir/ir.h"

namespace emu::accel::tcg {

void FoldConstants(Block& b);
void EliminateDeadCode(Block& b);
void EliminateDeadEnvStores(Block& b);
void SinkEnvStores(Block& b);
// Returns an empty string when the block is well formed, else what is wrong.
std::string Verify(const Block& b);
void RunPasses(Block& b);

}  // namespace emu::accel::tcg
