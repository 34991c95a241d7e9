// The translator's intermediate representation: a straight-line Block of typed ops
// on numbered temps, ending in exactly one Terminal. Guest-neutral: a front end
// fills Blocks through the Builder; passes rewrite them; a backend runs them.
//
// Temps are virtual registers holding up to 64 bits; each op says at which width
// (Type) it reads its inputs and writes its output (zero-extended to 64 bits in
// storage). A temp may be a constant (its value lives in Block::consts and it is
// never written). Guest registers live in the "env" (a front-end struct) and are
// reached with ld_env/st_env by byte offset, guest memory with ld_mem/st_mem
// through the soft TLB.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emu::accel::tcg {

enum class Type : uint8_t { kI8, kI16, kI32, kI64 };
inline constexpr unsigned Bits(Type t) { return 8u << static_cast<unsigned>(t); }
inline constexpr unsigned Bytes(Type t) { return 1u << static_cast<unsigned>(t); }
inline constexpr uint64_t Mask(Type t) {
  return t == Type::kI64 ? ~0ull : (1ull << Bits(t)) - 1;
}
// Sign-extends the low Bits(t) of v to 64 bits.
inline constexpr int64_t SignExtend(uint64_t v, Type t) {
  unsigned sh = 64 - Bits(t);
  return static_cast<int64_t>(v << sh) >> sh;
}
inline Type TypeForBytes(unsigned n) {
  return n == 1 ? Type::kI8 : n == 2 ? Type::kI16 : n == 4 ? Type::kI32 : Type::kI64;
}

enum class Opcode : uint8_t {
#define IR_OP(name, nout, nin, flags) k_##name,
#include "accel/tcg/ir/ops.def"
#undef IR_OP
  kCount
};

enum OpFlags : uint8_t { kPure = 1, kSide = 2, kMayExit = 4 };

struct OpInfo {
  const char* name;
  uint8_t nout, nin, flags;
};
const OpInfo& Info(Opcode op);

enum class Cond : uint8_t { kEq, kNe, kLtu, kLeu, kGtu, kGeu, kLt, kLe, kGt, kGe };
Cond Invert(Cond c);
bool EvalCond(Cond c, uint64_t a, uint64_t b, Type t);

// Flags in Op::aux of a `call`.
enum HelperFlags : uint8_t {
  kHelperPure = 1,     // no side effects, no exit: may be removed when unused
  kHelperMayExit = 2,  // may raise or request an exit (backend checks afterwards)
};

struct ExecContext;
// Helpers take the execution context and three arguments, return one value.
using HelperFn = uint64_t (*)(ExecContext* ctx, uint64_t a, uint64_t b, uint64_t c);

inline constexpr uint32_t kNoTemp = 0xffffffffu;
struct Op;
inline bool HasPendingStores(const Op& o);

struct Op {
  Opcode opc;
  Type type;
  uint8_t aux = 0;
  uint32_t dst = kNoTemp, a = kNoTemp, b = kNoTemp, c = kNoTemp;
  uint64_t imm = 0;
};

struct Terminal {
  enum class Kind : uint8_t {
    kNone,      // not set yet (invalid in a finished block)
    kGoto,      // continue at targets[0] (a constant guest pc): chainable
    kBranch,    // cond != 0 ? targets[0] : targets[1]: both chainable
    kIndirect,  // next pc only known at run time (already stored by the front end,
                // at env + pc_off when that is not kNoTemp)
    kExit,      // return to the dispatcher (mode change, interrupt window, halt...)
    kRaise,     // the front end recorded an exception in env; deliver it
  };
  Kind kind = Kind::kNone;
  uint32_t cond = kNoTemp;  // kBranch: i64 temp
  uint64_t targets[2] = {0, 0};
  uint32_t exit_code = 0;   // kExit/kRaise: meaning defined by the front end
  // kGoto/kBranch: unless pc_off is kNoTemp, taking slot i stores pc_vals[i]
  // (i64) at env + pc_off: the front end's guest pc, written by the terminal
  // instead of a select and a store in the block.
  uint32_t pc_off = kNoTemp;
  uint64_t pc_vals[2] = {0, 0};
};

// An env store moved later in the block by the sinking pass (SinkEnvStores):
// what the state would hold at an earlier point where the block can stop.
struct EnvStore {
  uint32_t offset;
  Type type;
  uint32_t temp;
};

struct Block {
  std::vector<Op> ops;
  // Stores pending at a memory op or instruction boundary (Op::c of ld_mem,
  // st_mem, insn_start indexes this when not kNoTemp): a backend performs them
  // before that op's slow path or fault exit, and before stopping at that
  // boundary, so that env is exact there although the stores come later.
  std::vector<std::vector<EnvStore>> pending_stores;
  uint32_t num_temps = 0;
  std::vector<uint8_t> is_const;   // per temp
  std::vector<uint64_t> const_val; // per temp (valid where is_const)
  Terminal term;
  uint64_t guest_pc = 0;       // first guest instruction
  uint32_t guest_size = 0;     // bytes of guest code covered
  uint32_t guest_insns = 0;

  std::string Dump() const;
};

inline bool HasPendingStores(const Op& o) {
  return (o.opc == Opcode::k_ld_mem || o.opc == Opcode::k_st_mem ||
          o.opc == Opcode::k_insn_start) &&
         o.c != kNoTemp;
}

}  // namespace emu::accel::tcg
