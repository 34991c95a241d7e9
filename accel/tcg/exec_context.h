// The per-vCPU execution context seen by the backend and by helpers: where the
// guest state (env) lives, the soft TLB, and the small protocol by which a block
// leaves early (exits are values stored here, never longjmp).
#pragma once

#include <atomic>
#include <cstdint>

namespace emu::accel::tcg {

class SoftMmu;
struct TranslationBlock;
struct InterpProgram;

// Why a block (or chain of blocks) stopped before reaching its terminal.
enum class ExitStatus : uint8_t {
  kNone = 0,       // still running / reached the terminal normally
  kException,      // the front end recorded a guest exception in env (fault, #DE...)
  kStopAtInsn,     // stop before the next guest instruction (SMC invalidated this TB)
  kHelperExit,     // a helper asked to return to the dispatcher after this op
};

// Bytes of per-vCPU scratch a backend may use right after env (the
// interpreter keeps its temps there, addressed from env like the guest state).
inline constexpr uint32_t kInterpFrameBytes = 32768;

// A per-vCPU cache of indirect-jump targets (RET, JMP/CALL through a
// register) behind each block's own two-entry one: valid while the TLB
// generation and code epoch are those recorded (ExecContext::tlb_epoch,
// code_epoch), for the same guest pc, CS base and block flags.
struct IndirectEntry {
  uint64_t pc = 0, cs_base = 0, tlb = 0, code = 0;
  uint32_t flags = 0;
  const void* native = nullptr;  // the target's native code
};
inline constexpr unsigned kIndirectBits = 10;
inline unsigned IndirectHash(uint64_t pc) {
  return static_cast<unsigned>((pc ^ (pc >> kIndirectBits)) & ((1u << kIndirectBits) - 1));
}

struct ExecContext {
  uint8_t* env = nullptr;     // the front end's guest-state struct
  // Distance from env to the kInterpFrameBytes of backend scratch the front end
  // provides (the same for every vCPU of a front end).
  uint32_t frame_offset = 0;
  // Counters that change when a remembered jump target may have become wrong:
  // the vCPU's TLB flushes (virtual -> physical code mapping) and the code
  // cache's invalidations and flushes. Either may be nullptr (no such caching).
  const uint64_t* tlb_epoch = nullptr;
  const uint64_t* code_epoch = nullptr;
  SoftMmu* mmu = nullptr;
  void* cpu = nullptr;        // the front end's per-vCPU object, for helpers
  uint64_t insn_pc = 0;       // pc of the guest instruction being executed
  ExitStatus exit = ExitStatus::kNone;
  uint32_t exit_code = 0;     // for kHelperExit: meaning defined by the front end
  const TranslationBlock* cur_tb = nullptr;
  // How many chained blocks the backend may enter before returning to the loop
  // (0: return after every block, for tracing and single-stepping).
  uint32_t chain_budget = 0;
  uint64_t blocks = 0;        // blocks run by the backend (statistics, tests)
  // Asked by the backend at a goto/branch end without a chained successor, or an
  // indirect end (slot -1: the next pc is in env), while chain_budget lasts:
  // returns the program to continue with (the loop's jump cache), or nullptr to
  // return to the loop.
  const InterpProgram* (*chain_miss)(ExecContext* ctx, const InterpProgram* from, int slot) = nullptr;
  // 1 << kIndirectBits entries, or nullptr (the native backend's second-level
  // indirect cache; needs tlb_epoch and code_epoch).
  IndirectEntry* ind_table = nullptr;
  void* chain_opaque = nullptr;
  // Set from other threads (Kick, interrupt request, TLB flush request): the
  // backend stops following chained jumps and returns to the dispatcher.
  std::atomic<uint32_t> exit_request{0};
};

}  // namespace emu::accel::tcg
