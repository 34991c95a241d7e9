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

// The memory handlers run from k_ld8 to k_ld64_post in families of four
// widths (handlers.def keeps that order).
inline bool IsMemKind(unsigned k) { return k >= k_ld8 && k <= k_ld64_post; }
inline unsigned MemBytes(unsigned k) { return 1u << ((k - k_ld8) & 3); }
inline bool IsStoreKind(unsigned k) {
  return (k >= k_st8 && k <= k_st64_rs) || (k >= k_st8_pre && k <= k_st64_pre);
}
inline bool IsPostKind(unsigned k) { return k >= k_ld8_post && k <= k_ld64_post; }

// The run loop's label for each kind (direct threading), or nullptr when it
// dispatches with a switch on the kind.
const void* const* Labels();

}  // namespace emu::accel::tcg::interp
