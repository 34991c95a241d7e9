// The translator's view of one x86 CPU: the architectural CpuState plus the
// state that only exists in translated execution (lazy flags, the pending
// exception). Translated code reaches every field by offset (ld_env/st_env).
#pragma once

#include <cstddef>
#include <cstdint>

#include "target-x86/cpu_state.h"

namespace emu::x86 {

// Lazy flags: the last flag-setting operation and its operands. cc_op is
// kind * 4 + log2(operand bytes), or kCcEflags when cc_src holds the six
// arithmetic flags themselves.
enum CcKind : uint32_t {
  kCcKindEflags = 0,
  kCcKindAdd,    // dst = result, src = second operand
  kCcKindAdc,    // dst = result, src = second operand, src2 = carry in
  kCcKindSub,    // dst = result, src = second operand
  kCcKindSbb,    // dst = result, src = second operand, src2 = carry in
  kCcKindLogic,  // dst = result
  kCcKindInc,    // dst = result, src2 = CF before
  kCcKindDec,    // dst = result, src2 = CF before
  kCcKindShl,    // dst = result, src = value shifted by count - 1
  kCcKindSar,    // dst = result, src = value shifted by count - 1
  kCcKindMul,    // dst = low result, src = nonzero when the product overflowed
  kCcKindShr,    // dst = result, src = value shifted by count - 1, src2 = original value
  // INC/DEC when CF is not known at translation time: CF is that of the saved lazy
  // state (cc_op2, cc_dst2 with the untouched cc_src, cc_src2), never itself one of these.
  kCcKindIncSaved,  // dst = result
  kCcKindDecSaved,  // dst = result
  kCcKindCount,
};
inline constexpr uint32_t kCcEflags = 0;
inline constexpr uint32_t CcOp(CcKind k, unsigned size_log2) { return k * 4 + size_log2; }
inline constexpr uint64_t kArithFlags = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;

struct X86Env {
  CpuState s;
  uint64_t cc_dst = 0, cc_src = 0, cc_src2 = 0;
  uint64_t cc_op = kCcEflags;  // 8 bytes: stored together with cc_src by one op
  uint64_t cc_dst2 = 0, cc_op2 = kCcEflags;  // the state kCcKindIncSaved/DecSaved take CF from
  // Pending exception recorded by translated code or a helper; delivered by the
  // loop with rip set to the faulting instruction (or next_rip for INT n).
  int32_t exc_vector = -1;
  uint32_t exc_error = 0;
  uint8_t exc_has_error = 0;
  uint8_t exc_soft = 0;        // INT n / INT3 / INTO: pushes next_rip, checks DPL
  uint64_t exc_next_rip = 0;
  uint64_t a20_mask = ~0ull;   // bit 20 cleared while the A20 gate is off
  uint8_t cpl = 0;             // current privilege level (CS.RPL / SS.DPL)
  uint64_t scratch_flags = 0;  // helpers leave flags here; IR commits them after stores
  alignas(16) uint8_t xmm_tmp[16] = {};  // SSE memory source operand / result staging
};

#define X86_OFF(field) static_cast<uint32_t>(offsetof(::emu::x86::X86Env, field))

// TB-key bits owned by the debug registers (target-x86/helpers/debug.cpp): set
// while data breakpoints are enabled, and a nonzero hash of the enabled
// instruction-breakpoint addresses in the top 16 bits. 0 when DR7 enables none.
inline constexpr uint32_t kTbDebugData = 1u << 15;
inline constexpr unsigned kTbDebugExecShift = 16;
uint32_t DebugTbFlags(const X86Env& e);

// Full RFLAGS from the lazy state.
uint64_t ComputeEflags(const X86Env& e);
// Arithmetic flags only (kArithFlags bits).
uint64_t ComputeArith(const X86Env& e);
// Writes RFLAGS: arithmetic bits go to the lazy state, the rest to s.rflags.
void SetEflags(X86Env& e, uint64_t value);

}  // namespace emu::x86
