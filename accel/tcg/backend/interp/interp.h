// The portable IR interpreter: a Block is compiled (interp_compile.cpp) into a
// compact array of pre-decoded ops, then run (interp.cpp) with direct-threaded
// dispatch (GCC/Clang; a switch elsewhere). It is the reference backend: any
// host, no generated code.
//
// Operands are byte offsets from one base, the vCPU's env: a guest register is
// read and written in place, and the block's other temps live in a per-vCPU
// frame the front end places right after its env (ExecContext::frame_offset,
// kInterpFrameBytes). So `add rax, rbx` is one op that reads env.rax and
// env.rbx and writes env.rax, where the IR had two ld_env, an add and an
// st_env: the compiler keeps a temp in its env field whenever that is exact at
// every point the block can stop (see interp_compile.cpp). Constants are
// immediates of the op that uses them.
//
// Compilation picks one handler per (op, operand form) and per width or
// condition where a shared handler would branch on it; common IR shapes get
// one handler (compare and branch, memory access with its address add).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "accel/tcg/exec_context.h"
#include "accel/tcg/ir/ir.h"
#include "accel/tcg/ir/print.h"

namespace emu::accel::tcg {

struct InterpOp {
  union {
    const void* h = nullptr;  // handler address (threaded dispatch)
    uintptr_t kind;           // handler index (switch dispatch)
  };
  uint64_t imm = 0;   // immediate operand; helper address (call)
  union {
    uint64_t mask = 0;  // value ops: Mask(type) (zext: of both types)
    uint64_t pc;        // memory ops, calls, stop: the guest instruction's pc
  };
  uint32_t d = 0, a = 0, b = 0, c = 0;  // operand byte offsets from env
  uint16_t x = 0;      // memory ops: 1 + index into InterpProgram::pending (0: none)
  uint16_t y = 0;      // st_mem, call: index into InterpProgram::stops
  uint8_t handler = 0;  // handler index (profiles, tests)
  Opcode opc = Opcode::kCount;
  Type type = Type::kI64;
  uint8_t aux = 0;     // sext, sar, signed compares: bits; memory ops: mmu index
};

// A store delayed by SinkEnvStores, performed before a slow path or a stop:
// env[dst] = low `bytes` of the value at src (or of imm).
struct InterpPending {
  uint64_t imm;
  uint32_t dst;
  uint32_t src;
  uint8_t bytes;
  uint8_t is_imm;
  uint8_t last;  // ends its list
};

// Where to stop when the running block rewrote itself (self-modifying code):
// the first op of the next guest instruction and that instruction's pc.
struct InterpStop {
  uint32_t op;
  uint32_t pending;  // 1 + index into InterpProgram::pending, 0: none
  uint64_t pc;
  bool insn = false;  // an instruction starts there (else: the block's end)
};

// A move the terminal performs (the block's last ops, folded into it):
// env[dst] = (env[src] & mask) | val -- a copy (mask ~0, val 0), a constant
// (mask 0) or an unused entry (dst is the frame's last slot).
struct InterpTail {
  uint32_t dst = 0, src = 0;
  uint64_t mask = 0, val = 0;
};

struct InterpProgram {
  std::vector<InterpOp> ops;
  uint32_t frame_slots = 0;      // 8-byte frame slots used
  Terminal term;
  InterpTail tail[2];
  std::vector<InterpStop> stops;
  std::vector<InterpPending> pending;
  // Direct successors for terminal slots 0/1 (set by the TB cache when it links
  // blocks), and the block that owns this program (ExecContext::cur_tb).
  const InterpProgram* chain[2] = {nullptr, nullptr};
  // Their first ops (a block change then waits on one load, not two).
  const InterpOp* chain_op[2] = {nullptr, nullptr};
  const TranslationBlock* owner = nullptr;
  // The native backend's code for this program (backend/x86_64), or nullptr,
  // and that of chain[0/1] (set and cleared with them by the TB cache).
  const void* native = nullptr;
  uint32_t native_bytes = 0;  // its size (listings)
  const void* chain_native[2] = {nullptr, nullptr};
  // Where native code's jump for slot 0/1 keeps its rel32, and where it jumps
  // while unlinked (NativeSetLink).
  uint8_t* patch_site[2] = {nullptr, nullptr};
  const void* patch_home[2] = {nullptr, nullptr};
  // The last target of an indirect terminal (RET, JMP/CALL through a register):
  // taken again without asking the loop by the same vCPU while its TLB and the
  // code cache are unchanged (ExecContext::tlb_epoch, code_epoch) and the next
  // pc is the same.
  // Two entries, the most recent first: a return reached from two call sites
  // alternates between them.
  struct IndirectTarget {
    uint64_t pc = 0, tlb = 0, code = 0;
    const ExecContext* ctx = nullptr;
    const InterpProgram* next = nullptr;
    const InterpOp* op = nullptr;  // next's first op
    const void* native = nullptr;  // next's native code, if any
  };
  mutable IndirectTarget ind[2];
  // The successors of goto/branch slots the TB cache does not link (another
  // page), found by chain_miss: valid under the same conditions.
  mutable IndirectTarget far[2];
  size_t MemoryBytes() const {
    return ops.size() * sizeof(InterpOp) + pending.size() * sizeof(InterpPending) +
           stops.size() * sizeof(InterpStop);
  }
};

// Compiles a (passed) block for a vCPU whose frame is `frame_offset` bytes after
// its env. Returns false if the block needs more than kInterpFrameBytes of
// frame or more than 65535 pending stores or stops: the front end should end
// blocks earlier.
bool CompileInterp(const Block& b, InterpProgram* out, uint32_t frame_offset);

// Runs one program, and the programs it is chained to while ctx->chain_budget
// (decremented per chained block) lasts and no exit is requested; ctx->cur_tb
// follows the running program's owner and ctx->blocks counts every block run.
// Returns the terminal slot taken (0 or 1 for goto/branch) by the last program
// run, -1 for other terminals or when ctx->exit was set, -2 when it stopped
// before an instruction because of ExitStatus::kStopAtInsn (ctx->insn_pc is that
// instruction).
int RunInterp(ExecContext* ctx, const InterpProgram& p);

// Runs p from op `op` (an op boundary: env and the frame hold what the ops
// before it computed) to the end of this block only, without chaining and
// without counting the block: the native backend hands a block over to the
// interpreter here for its rare cases (see backend/x86_64). Same results as
// RunInterp.
int RunInterpAt(ExecContext* ctx, const InterpProgram& p, uint32_t op);

// After a store or helper `cur` of p rewrote p's own code (ExitStatus::
// kStopAtInsn): turns the first op of the next guest instruction into a stop,
// so that p finishes the current instruction and returns -2.
void InterpStopAfterInsn(const InterpProgram& p, const InterpOp& cur);

// Performs the stores the passes delayed past a point where p can stop
// (InterpOp::x / InterpStop::pending: 1 + index into p.pending, 0: none), so that
// env is exact there.
void InterpApplyPending(uint8_t* env, const InterpProgram& p, uint32_t idx1);

// An indirect end of p whose next pc is npc: the entry of p's inline cache
// (InterpProgram::ind) that is still valid for it, or nullptr. The caller checked
// that the cache may be used: p.term.pc_off set, ctx->tlb_epoch/code_epoch set.
inline const InterpProgram::IndirectTarget* InterpIndirectHit(const ExecContext* ctx,
                                                              const InterpProgram& p, uint64_t npc) {
  for (const InterpProgram::IndirectTarget& t : p.ind)
    if (t.next && t.pc == npc && t.ctx == ctx && t.tlb == *ctx->tlb_epoch &&
        t.code == *ctx->code_epoch)
      return &t;
  return nullptr;
}
// The same on a miss: ctx->chain_miss's answer (nullptr: none), remembered in
// the cache when `cacheable`.
const InterpProgram* InterpIndirectMiss(ExecContext* ctx, const InterpProgram* p, uint64_t npc,
                                        bool cacheable);

// The successor of terminal slot 0/1 of p when chain[slot] is not linked: the
// cached one (InterpProgram::far) while the vCPU's TLB and the code cache are
// unchanged, else ctx->chain_miss's answer (then cached). nullptr: none.
const InterpProgram* InterpFarLink(ExecContext* ctx, const InterpProgram* p, int slot);

// The name of a handler (InterpOp::handler: "add_ri", "ld32_rr"...), for
// listings and profiles.
const char* InterpHandlerName(unsigned handler);
// The program as text, one op per line (print.cpp).
std::string PrintInterp(const InterpProgram& p, uint32_t frame_offset, const IrNames& names = {});

}  // namespace emu::accel::tcg
