// Code every native block shares, emitted once at the start of the code
// buffer: the entry and exit, and the ways past a block end that has no
// patched link -- the caches of successors checked first, then C++. Blocks
// jump here with a few registers loaded instead of carrying that code each.
#include "accel/tcg/backend/x86_64/emitter.h"

namespace emu::accel::tcg::native {

namespace {

class StubEmitter : public Xbyak::CodeGenerator {
 public:
  StubEmitter(uint8_t* at, size_t room) : CodeGenerator(room, at) {}

  void Run(CodeStubs* out) {
    out->entry = Entry();
    align(16);
    out->exit = getCurr();
    ExitCode();
    align(16);
    out->unlinked = getCurr();
    Unlinked();
    align(16);
    out->indirect_table = getCurr();
    IndirectEnd(true);
    align(16);
    out->indirect = getCurr();
    IndirectEnd(false);
    align(16);
    out->indirect_call = getCurr();
    IndirectCall();
  }

 private:
  // entry(env, ctx, tlb, code): saves the callee-saved registers, loads the
  // fixed ones, jumps to code.
  const void* Entry() {
    const void* at = getCurr();
    push(rbx);
    push(rbp);
    push(r12);
    push(r13);
    push(r14);
    push(r15);
    sub(rsp, 8);  // calls from blocks see a 16-byte aligned stack
    mov(rbx, rdi);
    mov(rbp, rsi);
    mov(r12, rdx);
    xor_(r13d, r13d);
    mov(r14d, dword[rbp + kCtxBudget]);
    jmp(rcx);
    return at;
  }
  // Blocks leave with rax/rdx = NativeRet.
  void ExitCode() {
    L(exit_);
    add(qword[rbp + kCtxBlocks], r13);
    mov(dword[rbp + kCtxBudget], r14d);
    add(rsp, 8);
    pop(r15);
    pop(r14);
    pop(r13);
    pop(r12);
    pop(rbp);
    pop(rbx);
    ret();
  }

  // The entry at t is valid if its TLB generation and code epoch (at these
  // offsets) are the vCPU's: then into its native code (if any), else to `no`.
  void EpochsThenJump(const Xbyak::Reg64& t, int tlb, int code, int native_off, const Label& no) {
    mov(rcx, qword[rbp + kCtxTlbEpoch]);
    mov(rcx, qword[rcx]);
    cmp(rcx, qword[t + tlb]);
    jne(no, T_NEAR);
    mov(rcx, qword[rbp + kCtxCodeEpoch]);
    mov(rcx, qword[rcx]);
    cmp(rcx, qword[t + code]);
    jne(no, T_NEAR);
    mov(rax, qword[t + native_off]);
    EnterIfFound(no);
  }
  // rax = a block's native code or nullptr: chain into it (one block of the
  // budget), or go to `none`.
  void EnterIfFound(const Label& none) {
    test(rax, rax);
    jz(none, T_NEAR);
    dec(r14d);
    jmp(rax);
  }
  // A block's cache entry at t (InterpProgram::far / ind): the same vCPU
  // (checked first: only then are its epoch pointers known to be set), and for
  // an indirect end the same next pc (rdx). Falls through otherwise.
  void CachedTarget(const Xbyak::Reg64& t, bool check_pc) {
    Label no;
    cmp(rbp, qword[t + offsetof(Target, ctx)]);
    jne(no, T_NEAR);
    if (check_pc) {
      cmp(rdx, qword[t + offsetof(Target, pc)]);
      jne(no, T_NEAR);
    }
    EpochsThenJump(t, offsetof(Target, tlb), offsetof(Target, code), offsetof(Target, native), no);
    L(no);
  }

  // A goto/branch slot without a patched link. In: rsi = the program, edx =
  // the slot, r8 = &program->far[slot]; the budget was already taken.
  void Unlinked() {
    Label ret;
    inc(r14d);
    CachedTarget(r8, false);
    push(rsi);
    push(rdx);  // two pushes: the call still sees an aligned stack
    mov(rdi, rbp);
    CallC(&native::ChainMiss);
    pop(rdx);
    pop(rsi);
    EnterIfFound(ret);
    L(ret);
    mov(eax, edx);  // return the slot
    mov(rdx, rsi);
    jmp(exit_, T_NEAR);
  }

  // An indirect end. In: rsi = the program, rdx = the next pc, r8 =
  // &program->ind[0]; with the table, r9 = the block's CS base, r10d = its flags.
  void IndirectEnd(bool table) {
    for (int k = 0; k < 2; k++) {
      lea(r11, ptr[r8 + k * static_cast<int>(sizeof(Target))]);
      CachedTarget(r11, true);
    }
    if (table) {
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
      cmp(r9, qword[rax + offsetof(IndirectEntry, cs_base)]);
      jne(no, T_NEAR);
      cmp(r10d, dword[rax + offsetof(IndirectEntry, flags)]);
      jne(no, T_NEAR);
      EpochsThenJump(rax, offsetof(IndirectEntry, tlb), offsetof(IndirectEntry, code),
                     offsetof(IndirectEntry, native), no);
      L(no);
    }
    jmp(call_, T_NEAR);
  }
  // Asks the loop (native::Indirect, which fills the caches). In: rsi = the program.
  void IndirectCall() {
    Label ret;
    L(call_);
    push(rsi);
    sub(rsp, 8);
    mov(rdi, rbp);
    CallC(&native::Indirect);
    add(rsp, 8);
    pop(rsi);
    EnterIfFound(ret);
    L(ret);
    mov(rax, static_cast<uint64_t>(-1));
    mov(rdx, rsi);
    jmp(exit_, T_NEAR);
  }

  template <typename F>
  void CallC(F* fn) {
    mov(rax, reinterpret_cast<uint64_t>(fn));
    call(rax);
  }

  Label exit_, call_;
};

}  // namespace

void EmitStubs(uint8_t* at, size_t room, CodeStubs* out) {
  StubEmitter s(at, room);
  s.Run(out);
  s.ready();
}

}  // namespace emu::accel::tcg::native
