// The native emitter: block ends -- the terminal's moves and pc, direct links
// patched into the code, the far/indirect caches checked inline, the vCPU's
// table of indirect targets.
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

// Slot `slot` without a link (out of line, at the jump's home): the cached
// cross-page successor, else the loop's jump cache, else return the slot.
void Emitter::Unlinked(int slot, Label& ret) {
  p_->patch_home[slot] = getCurr();
  inc(r14d);  // the hot path counted the chained block already
  CachedTarget(&p_->far[slot], false);
  mov(rdi, rbp);
  mov(rsi, reinterpret_cast<uint64_t>(p_));
  mov(edx, slot);
  CallC(reinterpret_cast<const void*>(&native::ChainMiss));
  test(rax, rax);
  jz(ret, T_NEAR);
  dec(r14d);
  jmp(rax);
  L(ret);
  Exit(slot);
}

// Jumps to the block a cache entry (InterpProgram::far / ind) remembers if it
// is valid: the same vCPU (checked first: only then are its epoch pointers
// known to be set), the same TLB generation and code epoch, and for an
// indirect end the same next pc (in rdx). Falls through otherwise.
void Emitter::CachedTarget(const Target* t, bool check_pc) {
  Label no;
  mov(rax, reinterpret_cast<uint64_t>(t));
  cmp(rbp, qword[rax + kTargetCtx]);
  jne(no, T_NEAR);
  if (check_pc) {
    cmp(rdx, qword[rax + kTargetPc]);
    jne(no, T_NEAR);
  }
  EpochsThenJump(kTargetTlb, kTargetCode, kTargetNative, no);
  L(no);
}

// The entry at rax is valid if its TLB generation and code epoch (at these
// offsets) are the vCPU's: then into its native code (if any), else to `no`.
void Emitter::EpochsThenJump(int tlb, int code, int native_off, const Label& no) {
  mov(rcx, qword[rbp + kCtxTlbEpoch]);
  mov(rcx, qword[rcx]);
  cmp(rcx, qword[rax + tlb]);
  jne(no, T_NEAR);
  mov(rcx, qword[rbp + kCtxCodeEpoch]);
  mov(rcx, qword[rcx]);
  cmp(rcx, qword[rax + code]);
  jne(no, T_NEAR);
  mov(rax, qword[rax + native_off]);
  test(rax, rax);
  jz(no, T_NEAR);
  dec(r14d);
  jmp(rax);
}

// The vCPU's table of indirect targets (ExecContext::ind_table), for the next
// pc in rdx and this block's CS base and flags. Falls through on a miss.
void Emitter::TableTarget(const TranslationBlock& owner) {
  Label no;
  mov(rax, qword[rbp + kCtxIndTable]);
  test(rax, rax);
  jz(no, T_NEAR);
  mov(rcx, rdx);
  shr(rcx, kIndirectBits);
  xor_(rcx, rdx);
  and_(ecx, (1u << kIndirectBits) - 1);
  lea(rcx, ptr[rcx + rcx * 2]);  // * 48 = * 3 * 16
  shl(rcx, 4);
  add(rax, rcx);
  cmp(rdx, qword[rax + offsetof(IndirectEntry, pc)]);
  jne(no, T_NEAR);
  mov(rcx, owner.key.cs_base);
  cmp(rcx, qword[rax + offsetof(IndirectEntry, cs_base)]);
  jne(no, T_NEAR);
  cmp(dword[rax + offsetof(IndirectEntry, flags)], owner.key.flags);
  jne(no, T_NEAR);
  EpochsThenJump(offsetof(IndirectEntry, tlb), offsetof(IndirectEntry, code),
                 offsetof(IndirectEntry, native), no);
  L(no);
}

void Emitter::IndirectEnd() {
  Label ret;
  test(r14d, r14d);
  jz(ret, T_NEAR);
  cmp(dword[rbp + kCtxExitRequest], 0);
  jne(ret, T_NEAR);
  if (p_->term.pc_off != kNoTemp) {
    mov(rdx, Env(p_->term.pc_off));  // the next pc
    for (const Target& t : p_->ind) CachedTarget(&t, true);
    if (p_->owner) TableTarget(*p_->owner);
  }
  mov(rdi, rbp);
  mov(rsi, reinterpret_cast<uint64_t>(p_));
  CallC(reinterpret_cast<const void*>(&native::Indirect));
  test(rax, rax);
  jz(ret, T_NEAR);
  dec(r14d);
  jmp(rax);
  L(ret);
  Exit(-1);
}

}  // namespace emu::accel::tcg::native
