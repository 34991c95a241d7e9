// The native emitter: guest memory accesses (soft-TLB hit inline, slow paths
// out of line) and helper calls.
#include "accel/tcg/backend/x86_64/emitter.h"

namespace emu::accel::tcg::native {

void Emitter::Call(uint32_t i) {
  const InterpOp& o = O(i);
  SyncForCall(o.pc);
  mov(rdi, rbp);
  mov(rsi, Env(o.a));
  mov(rdx, Env(o.b));
  mov(rcx, Env(o.c));
  CallC(reinterpret_cast<const void*>(o.imm));
  if (o.handler == k_call) {
    Set(o);
    xor_(ecx, ecx);  // a helper that set ctx->exit: no chaining past this block
    cmp(byte[rbp + kCtxExit], 0);
    cmovne(r14d, ecx);
    return;
  }
  Label& slow = NewLabel();
  Label& done = NewLabel();
  cmp(byte[rbp + kCtxExit], 0);
  jne(slow, T_NEAR);
  Set(o);
  L(done);
  after_ = -1;
  cold_.push_back(Cold{Cold::kCallExit, i, 0, &slow, &done});
}

// A guest memory access: the address to rsi (with the write-back of a push's
// pointer where the interpreter does it), the soft-TLB hit inline, the rest
// in LoadSlow/StoreSlow.
void Emitter::Mem(uint32_t i) {
  const InterpOp& o = O(i);
  const unsigned k = o.handler;
  const unsigned bytes = MemBytes(k);
  const bool store = IsStoreKind(k);
  const unsigned family = (k - k_ld8) / 4;  // handlers.def order
  enum { kLd, kLdRi, kLdRr, kLdRs, kSt, kStRi, kStRr, kStRs, kLdPre, kStPre, kLdPost };
  after_ = -1;  // the slow path joins with rax changed
  // A store's data first, while rax may still hold it (a push reads it after
  // its pointer's write-back, below).
  if (store && family != kStPre) {
    if (Cached(o.c)) mov(rdx, rax);
    else mov(rdx, Env(o.c));
  }
  if (Cached(o.a)) mov(rsi, rax);
  else mov(rsi, Env(o.a));
  switch (family) {
    case kLdRi:
    case kStRi:
    case kLdPre:
    case kStPre: AluImm(Alu::kAdd, rsi, o.imm); break;
    case kLdRr:
    case kStRr: add(rsi, Env(o.b)); break;
    case kLdRs:
    case kStRs:
      mov(rax, Env(o.b));
      if (o.imm <= 3) {
        lea(rsi, ptr[rsi + rax * (1 << o.imm)]);
      } else {
        shl(rax, static_cast<int>(o.imm & 63));
        add(rsi, rax);
      }
      break;
    default: break;
  }
  if (family == kLdPre) mov(Env(o.b), rsi);
  if (family == kStPre) mov(Env(o.d), rsi);
  if (family == kStPre) mov(rdx, Env(o.c));  // after the write-back: `push rsp` stores the new value
  // The entry: row of mmu index aux, index by the page number.
  const uint32_t row = static_cast<uint32_t>(o.aux) * kTlbSize * sizeof(TlbEntry);
  mov(rax, rsi);
  shr(rax, kPageBits);
  and_(eax, kTlbSize - 1);
  static_assert(sizeof(TlbEntry) == 40 || sizeof(TlbEntry) == 32);
  if constexpr (sizeof(TlbEntry) == 40) lea(rax, ptr[rax + rax * 4]);  // entry = rax * 8
  else shl(rax, 2);
  const Xbyak::RegExp entry = r12 + rax * 8 + row;
  // One compare covers the page and the access staying inside it: the last
  // byte's page is the tag only if the access does not cross (a crossing
  // access ends in the next page, whose entry is the next one).
  lea(rcx, ptr[rsi + (bytes - 1)]);
  and_(rcx, static_cast<uint32_t>(kPageMask));
  cmp(rcx, qword[entry + (store ? 8 : 0)]);
  Label& slow = NewLabel();
  Label& done = NewLabel();
  jne(slow, T_NEAR);
  mov(rcx, qword[entry + kTlbAddend]);
  if (store) {
    switch (bytes) {
      case 1: mov(byte[rsi + rcx], dl); break;
      case 2: mov(word[rsi + rcx], dx); break;
      case 4: mov(dword[rsi + rcx], edx); break;
      default: mov(qword[rsi + rcx], rdx); break;
    }
  } else {
    switch (bytes) {
      case 1: movzx(eax, byte[rsi + rcx]); break;
      case 2: movzx(eax, word[rsi + rcx]); break;
      case 4: mov(eax, dword[rsi + rcx]); break;
      default: mov(rax, qword[rsi + rcx]); break;
    }
    Set(o);
    if (family == kLdPost) {
      AluImm(Alu::kAdd, rsi, o.imm);
      mov(Env(o.c), rsi);
    }
  }
  L(done);
  after_ = -1;
  cold_.push_back(Cold{store ? Cold::kStore : Cold::kLoad, i, 0, &slow, &done});
}

// The out-of-line code: slow paths and unlinked block ends.
void Emitter::EmitCold(const Cold& c) {
  L(*c.entry);
  switch (c.kind) {
    case Cold::kLoad:  // rsi = va
      BeforeSlow();
      mov(rdi, rbp);
      mov(rdx, reinterpret_cast<uint64_t>(p_));
      mov(rcx, reinterpret_cast<uint64_t>(&O(c.i)));
      CallC(reinterpret_cast<const void*>(&native::LoadSlow));
      AfterSlow(*c.back);
      break;
    case Cold::kStore:  // rsi = va, rdx = data
      BeforeSlow();
      mov(rdi, rbp);
      mov(rcx, reinterpret_cast<uint64_t>(p_));
      mov(r8, reinterpret_cast<uint64_t>(&O(c.i)));
      CallC(reinterpret_cast<const void*>(&native::StoreSlow));
      AfterSlow(*c.back);
      break;
    case Cold::kCallExit:  // rax = the helper's result
      BeforeSlow();
      mov(rdi, rbp);
      mov(rsi, rax);
      mov(rdx, reinterpret_cast<uint64_t>(p_));
      mov(rcx, reinterpret_cast<uint64_t>(&O(c.i)));
      CallC(reinterpret_cast<const void*>(&native::AfterCallExit));
      AfterSlow(*c.back);
      break;
    case Cold::kUnlinked:  // entry: the jump's home; back: the block's return
      Unlinked(c.slot);
      L(*c.back);
      Exit(c.slot);
      break;
  }
}

}  // namespace emu::accel::tcg::native
