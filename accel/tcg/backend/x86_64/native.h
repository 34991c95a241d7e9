// The native x86-64 backend: host code for a block, emitted with xbyak from
// the interpreter's compiled form of it (InterpProgram), op by op.
//
// It starts where the interpreter's compiler ends, so it shares every decision
// that compiler makes (which temps live in env fields, which in frame slots,
// the fused addressing modes, push/pop, compare-and-branch, the folded tail),
// and its state at every op boundary is the interpreter's, byte for byte: env
// and the frame after it. That is what keeps it small and exact:
// - each op is a few host instructions reading and writing env at
//   [rbx + offset], with the soft-TLB hit inline and everything else (a TLB
//   miss, MMIO, a fault) in a C++ slow path that does what the interpreter does;
// - whatever is rare and intricate is handed to the interpreter at an op
//   boundary (RunInterpAt): the rest of an instruction after it rewrote its own
//   block (self-modifying code) runs there;
// - blocks jump to each other directly: the links the TB cache records are
//   patched into the code (NativeSetLink); other successors come from caches
//   checked in code all blocks share (a block's cross-page targets, its last two indirect
//   targets, the vCPU's table of indirect targets) before asking the loop.
//
// Registers while native code runs: rbx = env, rbp = ExecContext, r12 = the
// soft TLB (SoftMmu::tlb_row(0)), r13 = blocks entered, r14d = chain budget.
#pragma once

#include <cstddef>
#include <cstdint>

#include "accel/tcg/backend/interp/interp.h"
#include "accel/tcg/exec_context.h"

namespace emu::accel::tcg {

// True when this build can emit and run native code (an x86-64 host).
bool NativeSupported();

// The code every block shares (emit_stubs.cpp): entry(env, ctx, tlb, code),
// the exit, and the ways past a block end without a patched link.
struct CodeStubs {
  const void* entry = nullptr;
  const void* exit = nullptr;
  const void* unlinked = nullptr;        // a goto/branch slot
  const void* indirect_table = nullptr;  // an indirect end, with the vCPU's table
  const void* indirect = nullptr;        // the same without the table
  const void* indirect_call = nullptr;   // straight to the loop
};

// Executable memory for native blocks, filled front to back and emptied all at
// once (with the TB cache: TbCache::FlushAll).
class CodeBuffer {
 public:
  explicit CodeBuffer(size_t bytes = 256u << 20);
  ~CodeBuffer();
  CodeBuffer(const CodeBuffer&) = delete;
  CodeBuffer& operator=(const CodeBuffer&) = delete;

  bool ok() const { return base_ != nullptr; }
  // Less room left than the largest block may need: flush before translating.
  bool Low() const { return size_ - used_ < reserve_; }
  // Forgets every block (their programs must be gone or have native == nullptr).
  void Reset();
  size_t used() const { return used_; }

  // Internal (the emitter).
  uint8_t* cur() const { return base_ + used_; }
  size_t room() const { return size_ - used_; }
  void Advance(size_t n) { used_ += (n + 15) & ~size_t{15}; }
  const void* exit_stub() const { return stubs_.exit; }
  const void* entry_stub() const { return stubs_.entry; }
  const CodeStubs& stubs() const { return stubs_; }

  // Room kept free for the next block: 4 MiB, or a quarter of a small buffer.
  static constexpr size_t kReserve = 4u << 20;

 private:
  void EmitStubs();
  uint8_t* base_ = nullptr;
  size_t size_ = 0, used_ = 0, stub_bytes_ = 0, reserve_ = kReserve;
  CodeStubs stubs_;
};

// Emits host code for `p` (made by CompileInterp with this frame offset) and
// sets p->native. Returns false, leaving p->native null, when the buffer has no
// room: the program then runs in the interpreter.
bool CompileNative(InterpProgram* p, CodeBuffer* buf, uint32_t frame_offset);

// Points native code's jump for terminal slot `slot` of `from` at `target`
// (another program's native code), or back at its unlinked path (nullptr). The
// TB cache calls it wherever it sets or clears InterpProgram::chain_native; the
// caller holds the execution lock (no vCPU runs that code meanwhile).
void NativeSetLink(const InterpProgram& from, int slot, const void* target);

// Runs p (p.native set) and what it chains to: the same contract as RunInterp.
int RunNative(ExecContext* ctx, const InterpProgram& p, const CodeBuffer& buf);

}  // namespace emu::accel::tcg
