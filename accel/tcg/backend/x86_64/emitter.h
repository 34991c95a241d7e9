// The native backend's emitter (see native.h for the design and the register
// roles): one short sequence of x86-64 code per interpreter op. Every op reads
// its operands from env and writes its result back before the next op, like
// the interpreter, so any op boundary is a valid place to stop, call C++ or
// hand over to the interpreter. Shared by emit_ops.cpp (value ops), emit_mem.cpp
// (guest memory, helper calls), emit_ends.cpp (block ends, links, caches) and
// code_buffer.cpp (the buffer, the entry/exit stubs, CompileNative).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <type_traits>
#include <vector>

#define XBYAK_NO_OP_NAMES  // and_/or_/xor_/not_ only
#include <xbyak/xbyak.h>

#include "accel/tcg/backend/interp/internal.h"
#include "accel/tcg/backend/x86_64/native.h"
#include "accel/tcg/backend/x86_64/runtime.h"
#include "accel/tcg/softmmu.h"
#include "accel/tcg/tb_cache.h"

namespace emu::accel::tcg::native {

// (This header is the emitter's own: its files read handler kinds and
// registers unqualified.)
using namespace interp;
using namespace Xbyak::util;
using Xbyak::Label;

static_assert(std::is_standard_layout_v<ExecContext>);
static_assert(sizeof(ExitStatus) == 1);
constexpr int kCtxExit = offsetof(ExecContext, exit);
constexpr int kCtxInsnPc = offsetof(ExecContext, insn_pc);
constexpr int kCtxCurTb = offsetof(ExecContext, cur_tb);
constexpr int kCtxBudget = offsetof(ExecContext, chain_budget);
constexpr int kCtxBlocks = offsetof(ExecContext, blocks);
constexpr int kCtxExitRequest = offsetof(ExecContext, exit_request);
constexpr int kTlbAddend = offsetof(TlbEntry, addend);
constexpr int kCtxTlbEpoch = offsetof(ExecContext, tlb_epoch);
constexpr int kCtxCodeEpoch = offsetof(ExecContext, code_epoch);
using Target = InterpProgram::IndirectTarget;
static_assert(std::is_standard_layout_v<Target>);
constexpr int kCtxIndTable = offsetof(ExecContext, ind_table);
static_assert(sizeof(IndirectEntry) == 48);

inline bool FitsI32(uint64_t v) { return static_cast<int64_t>(v) == static_cast<int32_t>(v); }

// x86 condition codes in the IR's Cond order (eq ne ltu leu gtu geu lt le gt ge).
enum Cc { kE, kNe, kB, kBe, kA, kAe, kL, kLe, kG, kGe };

class Emitter : public Xbyak::CodeGenerator {
 public:
  Emitter(CodeBuffer* buf, InterpProgram* p, uint32_t frame_off)
      : CodeGenerator(buf->room(), buf->cur()), buf_(buf), p_(p),
        unused_(frame_off + kInterpFrameBytes - 8) {}

  void Run() {
    inc(r13);  // blocks entered (ExecContext::blocks)
    cold_.reserve(p_->ops.size() + 2);
    for (size_t i = 0; i < p_->ops.size(); i++) Op(static_cast<uint32_t>(i));
    for (const Cold& c : cold_) EmitCold(c);
  }

 private:
  Xbyak::Address Env(uint32_t off) { return qword[rbx + off]; }
  const InterpOp& O(uint32_t i) const { return p_->ops[i]; }

  void MovImm(const Xbyak::Reg64& r, uint64_t v) {
    if (v <= 0xffffffffu) mov(r.cvt32(), static_cast<uint32_t>(v));
    else mov(r, v);
  }
  void StoreImm(uint32_t off, uint64_t v) {
    if (FitsI32(v)) {
      mov(Env(off), v);  // sign-extended imm32
    } else {
      mov(rax, v);
      mov(Env(off), rax);
    }
  }
  // r &= m for the masks the compiler makes (a width's, or anything).
  void Mask(const Xbyak::Reg64& r, uint64_t m) {
    if (m == ~0ull) return;
    if (m == 0xffffffffu) mov(r.cvt32(), r.cvt32());
    else if (m == 0xffff) movzx(r.cvt32(), r.cvt16());
    else if (m == 0xff) movzx(r.cvt32(), r.cvt8());
    else if (FitsI32(m)) and_(r, static_cast<uint32_t>(m));
    else {
      mov(r8, m);
      and_(r, r8);
    }
  }
  // r = the value at off sign-extended from its low `bits`.
  void LoadSx(const Xbyak::Reg64& r, uint32_t off, unsigned bits) {
    switch (bits) {
      case 8: movsx(r, byte[rbx + off]); break;
      case 16: movsx(r, word[rbx + off]); break;
      case 32: movsxd(r, dword[rbx + off]); break;
      default:
        mov(r, Env(off));
        if (bits > 0 && bits < 64) {
          shl(r, 64 - bits);
          sar(r, 64 - bits);
        }
        break;
    }
  }
  void Sx(const Xbyak::Reg64& r, unsigned bits) {
    switch (bits) {
      case 8: movsx(r, r.cvt8()); break;
      case 16: movsx(r, r.cvt16()); break;
      case 32: movsxd(r, r.cvt32()); break;
      default:
        if (bits > 0 && bits < 64) {
          shl(r, 64 - bits);
          sar(r, 64 - bits);
        }
        break;
    }
  }
  // Writes the result; rax still holds it, which the next op may use instead of
  // reading env back (cached_).
  void Set(const InterpOp& o) {
    mov(Env(o.d), rax);
    after_ = o.d;
  }
  // rax = env[off], from rax itself when the previous op just stored it there.
  void LoadA(uint32_t off) {
    if (static_cast<int64_t>(off) != cached_) mov(rax, Env(off));
    cached_ = -1;
  }
  void LoadSxA(uint32_t off, unsigned bits) {
    if (static_cast<int64_t>(off) == cached_) Sx(rax, bits);
    else LoadSx(rax, off, bits);
    cached_ = -1;
  }
  bool Cached(uint32_t off) const { return static_cast<int64_t>(off) == cached_; }
  // rax = env[off] & m, with a zero-extending load for a width's mask.
  void LoadMasked(uint32_t off, uint64_t m) {
    if (Cached(off) || (m != 0xffffffffu && m != 0xffff && m != 0xff)) {
      LoadA(off);
      Mask(rax, m);
      return;
    }
    if (m == 0xffffffffu) mov(eax, dword[rbx + off]);
    else if (m == 0xffff) movzx(eax, word[rbx + off]);
    else movzx(eax, byte[rbx + off]);
  }

  enum class Alu { kAdd, kSub, kAnd, kOr, kXor };
  void AluOp(Alu k, const Xbyak::Operand& dst, const Xbyak::Operand& src) {
    switch (k) {
      case Alu::kAdd: add(dst, src); break;
      case Alu::kSub: sub(dst, src); break;
      case Alu::kAnd: and_(dst, src); break;
      case Alu::kOr: or_(dst, src); break;
      case Alu::kXor: xor_(dst, src); break;
    }
  }
  void AluImm(Alu k, const Xbyak::Reg64& dst, uint64_t imm) {
    if (!FitsI32(imm)) {
      mov(r8, imm);
      AluOp(k, dst, r8);
      return;
    }
    const uint32_t v = static_cast<uint32_t>(imm);
    switch (k) {
      case Alu::kAdd: add(dst, v); break;
      case Alu::kSub: sub(dst, v); break;
      case Alu::kAnd: and_(dst, v); break;
      case Alu::kOr: or_(dst, v); break;
      case Alu::kXor: xor_(dst, v); break;
    }
  }

  // Compares for setcond/branch kinds (cond in Cond order): rax (and rcx) get
  // the operands as the interpreter sees them -- masked, or sign-extended to
  // 64 bits -- and the compare is a 64-bit one.
  void Compare(const InterpOp& o, unsigned cond, bool ri) {
    const bool sign = cond >= 6;
    // At 32 and 64 bits the compare itself has the width (signed or not).
    const bool w64 = sign ? o.aux == 64 : o.mask == ~0ull;
    const bool w32 = sign ? o.aux == 32 : o.mask == 0xffffffffu;
    if (w64 || w32) {
      const bool b_in_rcx = !ri && Cached(o.b);
      if (b_in_rcx) mov(rcx, rax);
      LoadA(o.a);
      if (ri) {
        if (w32) {
          cmp(eax, static_cast<uint32_t>(o.imm));
        } else if (FitsI32(o.imm)) {
          cmp(rax, static_cast<uint32_t>(o.imm));
        } else {
          mov(rcx, o.imm);
          cmp(rax, rcx);
        }
      } else if (b_in_rcx) {
        if (w32) cmp(eax, ecx);
        else cmp(rax, rcx);
      } else {
        if (w32) cmp(eax, dword[rbx + o.b]);
        else cmp(rax, Env(o.b));
      }
      return;
    }
    if (Cached(o.b) && !ri) {
      if (sign) {
        mov(rcx, rax);
        Sx(rcx, o.aux);
      } else {
        mov(rcx, rax);
        Mask(rcx, o.mask);
      }
      if (sign) LoadSxA(o.a, o.aux);
      else {
        LoadA(o.a);
        Mask(rax, o.mask);
      }
      cmp(rax, rcx);
      return;
    }
    if (sign) LoadSxA(o.a, o.aux);
    else {
      LoadA(o.a);
      Mask(rax, o.mask);
    }
    if (ri) {
      if (FitsI32(o.imm)) {
        cmp(rax, static_cast<uint32_t>(o.imm));
      } else {
        mov(rcx, o.imm);
        cmp(rax, rcx);
      }
      return;
    }
    if (sign) LoadSx(rcx, o.b, o.aux);
    else {
      mov(rcx, Env(o.b));
      Mask(rcx, o.mask);
    }
    cmp(rax, rcx);
  }
  void Jcc(unsigned cc, const Label& l) {
    switch (cc) {
      case kE: je(l, T_NEAR); break;
      case kNe: jne(l, T_NEAR); break;
      case kB: jb(l, T_NEAR); break;
      case kBe: jbe(l, T_NEAR); break;
      case kA: ja(l, T_NEAR); break;
      case kAe: jae(l, T_NEAR); break;
      case kL: jl(l, T_NEAR); break;
      case kLe: jle(l, T_NEAR); break;
      case kG: jg(l, T_NEAR); break;
      default: jge(l, T_NEAR); break;
    }
  }
  static unsigned Negate(unsigned cc) {
    static const unsigned kNeg[] = {kNe, kE, kAe, kA, kBe, kB, kGe, kG, kLe, kL};
    return kNeg[cc];
  }
  void SetCc(unsigned cc) {
    switch (cc) {
      case kE: sete(al); break;
      case kNe: setne(al); break;
      case kB: setb(al); break;
      case kBe: setbe(al); break;
      case kA: seta(al); break;
      case kAe: setae(al); break;
      case kL: setl(al); break;
      case kLe: setle(al); break;
      case kG: setg(al); break;
      default: setge(al); break;
    }
  }

  // Leaves native code: rax = result, rdx = this program (for RunNative).
  void Exit(int64_t result) {
    mov(rax, static_cast<uint64_t>(result));
    mov(rdx, reinterpret_cast<uint64_t>(p_));
    jmp(buf_->exit_stub(), T_NEAR);
  }
  void CallC(const void* fn) {
    mov(rax, reinterpret_cast<uint64_t>(fn));
    call(rax);
  }
  // Before a helper: ctx->cur_tb and ctx->insn_pc, as the interpreter sets them.
  void SyncForCall(uint64_t pc) {
    mov(rax, reinterpret_cast<uint64_t>(&p_->owner));
    mov(rax, qword[rax]);
    mov(qword[rbp + kCtxCurTb], rax);
    mov(rax, pc);
    mov(qword[rbp + kCtxInsnPc], rax);
  }
  // Around a slow path (runtime.h): the chain budget goes through ctx; a
  // non-zero result in rax is what the block returns.
  void BeforeSlow() { mov(dword[rbp + kCtxBudget], r14d); }
  void AfterSlow(const Label& done) {
    mov(r14d, dword[rbp + kCtxBudget]);
    test(rax, rax);
    jz(done, T_NEAR);
    mov(rdx, reinterpret_cast<uint64_t>(p_));
    jmp(buf_->exit_stub(), T_NEAR);
  }

  // Op i of the program (emit_ops.cpp; memory ops and calls go to Mem/Call).
  void Op(uint32_t i);

  // 32-bit results use 32-bit instructions (they zero the upper half).
  void Bin(const InterpOp& o, Alu k);
  void BinImm(const InterpOp& o, Alu k, uint64_t mask);

  // The moves folded into the terminal (InterpProgram::tail).
  void Tail();

  // Taking terminal slot `slot` of a goto or branch: the pc, then the linked
  // block while the budget lasts and nobody asked for an exit.
  void Take(int slot, bool tail = true);
  void Unlinked(int slot);

  // An indirect end: to the shared code that checks the caches, then asks the loop.
  void IndirectEnd();

  // A helper call, with cur_tb/insn_pc set as the interpreter does; call_exit
  // checks ctx->exit after it (AfterCallExit).
  void Call(uint32_t i);

  // A guest memory access: the address to rsi (with the write-back of a push's
  // pointer where the interpreter does it), the soft-TLB hit inline, the rest
  // in LoadSlow/StoreSlow.
  void Mem(uint32_t i);

  CodeBuffer* buf_;
  InterpProgram* p_;
  int64_t cached_ = -1;  // the env offset whose value rax holds as this op starts (-1: none)
  int64_t after_ = -1;   // the same for the next op (set by Set)
  const uint32_t unused_;  // the frame slot FoldTail points unused tail entries at
  // The out-of-line code of the block, emitted after it: a memory op's or an
  // exiting call's slow path (op i), or the unlinked path of terminal slot `slot`.
  struct Cold {
    enum Kind : uint8_t { kLoad, kStore, kCallExit, kUnlinked } kind;
    uint32_t i = 0;
    int slot = 0;
    Label* entry;  // where the hot code jumps to
    Label* back;   // where it returns to (kUnlinked: the block's return)
  };
  std::vector<Cold> cold_;
  void EmitCold(const Cold& c);
  // Labels the out-of-line code refers to, at stable addresses (copying an
  // xbyak Label updates its manager's maps).
  std::deque<Label> labels_;
  Label& NewLabel() { return labels_.emplace_back(); }
};

// Emits the code blocks share (CodeStubs) at `at`.
void EmitStubs(uint8_t* at, size_t room, CodeStubs* out);

}  // namespace emu::accel::tcg::native
