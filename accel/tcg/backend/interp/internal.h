// What the interpreter's compiler and run loop share: the handler kinds and the
// table of handler addresses.
#pragma once

#include <cstdint>

namespace emu::accel::tcg::interp {

enum Kind : uint8_t {
#define INTERP_HANDLER(name) k_##name,
#include "accel/tcg/backend/interp/handlers.def"
#undef INTERP_HANDLER
  kKindCount
};

// The run loop's label for each kind (direct threading), or nullptr when it
// dispatches with a switch on the kind.
const void* const* Labels();

}  // namespace emu::accel::tcg::interp
