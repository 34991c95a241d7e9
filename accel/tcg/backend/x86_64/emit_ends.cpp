// The native emitter: block ends -- the terminal's moves and pc, direct links
// patched into the code, and the jumps to the shared code (emit_stubs.cpp) that
// finds unlinked and indirect successors.
#include "accel/tcg/backend/x86_64/emitter.h"

namespace emu::accel::tcg::native {

// The moves folded into the terminal (InterpProgram::tail).
void Emitter::Tail() {
  for (const InterpTail& t : p_->tail) {
    if (t.dst == unused_) continue;
    if (t.mask == 0) {
      StoreImm(t.dst, t.val);
      continue;
    }
    mov(rax, Env(t.src));
    Mask(rax, t.mask);
    if (t.val) AluImm(Alu::kOr, rax, t.val);
    mov(Env(t.dst), rax);
  }
}

// Taking terminal slot `slot` of a goto or branch: the pc, then the linked
// block while the budget lasts and nobody asked for an exit.
void Emitter::Take(int slot, bool tail) {
  if (tail) Tail();
  if (p_->term.pc_off != kNoTemp) StoreImm(p_->term.pc_off, p_->term.pc_vals[slot]);
  Label& ret = NewLabel();
  Label& miss = NewLabel();
  test(r14d, r14d);
  jz(ret, T_NEAR);
  cmp(dword[rbp + kCtxExitRequest], 0);
  jne(ret, T_NEAR);
  dec(r14d);
  // Linked, this jump goes straight to the successor's code (NativeSetLink
  // rewrites its rel32); unlinked, to `miss`.
  jmp(miss, T_NEAR);
  p_->patch_site[slot] = const_cast<uint8_t*>(getCurr()) - 4;
  cold_.push_back(Cold{Cold::kUnlinked, 0, slot, &miss, &ret});
}

// Slot `slot` without a link (out of line, at the jump's home): the shared
// code tries the cached cross-page successor, then the loop's jump cache.
void Emitter::Unlinked(int slot) {
  p_->patch_home[slot] = getCurr();
  mov(rsi, reinterpret_cast<uint64_t>(p_));
  mov(edx, slot);
  mov(r8, reinterpret_cast<uint64_t>(&p_->far[slot]));
  jmp(buf_->stubs().unlinked, T_NEAR);
}

void Emitter::IndirectEnd() {
  Label& ret = NewLabel();
  test(r14d, r14d);
  jz(ret, T_NEAR);
  cmp(dword[rbp + kCtxExitRequest], 0);
  jne(ret, T_NEAR);
  mov(rsi, reinterpret_cast<uint64_t>(p_));
  if (p_->term.pc_off == kNoTemp) {
    jmp(buf_->stubs().indirect_call, T_NEAR);
  } else {
    mov(rdx, Env(p_->term.pc_off));  // the next pc
    mov(r8, reinterpret_cast<uint64_t>(&p_->ind[0]));
    if (p_->owner) {
      mov(r9, p_->owner->key.cs_base);
      mov(r10d, p_->owner->key.flags);
      jmp(buf_->stubs().indirect_table, T_NEAR);
    } else {
      jmp(buf_->stubs().indirect, T_NEAR);
    }
  }
  L(ret);
  Exit(-1);
}

}  // namespace emu::accel::tcg::native
