// The native backend's emitter: one short sequence of x86-64 code per
// interpreter op (see native.h for the design and the register roles). Every
// op reads its operands from env and writes its result back before the next
// op, like the interpreter, so any op boundary is a valid place to stop, call
// C++ or hand over to the interpreter.
#include <sys/mman.h>

#include <cstddef>
#include <cstring>
#include <functional>
#include <type_traits>
#include <vector>

#define XBYAK_NO_OP_NAMES  // and_/or_/xor_/not_ only
#include <xbyak/xbyak.h>

#include "accel/tcg/backend/interp/internal.h"
#include "accel/tcg/backend/x86_64/native.h"
#include "accel/tcg/backend/x86_64/runtime.h"
#include "accel/tcg/softmmu.h"
#include "accel/tcg/tb_cache.h"

namespace emu::accel::tcg {

namespace {

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
constexpr int kTargetPc = offsetof(Target, pc);
constexpr int kTargetTlb = offsetof(Target, tlb);
constexpr int kTargetCode = offsetof(Target, code);
constexpr int kTargetCtx = offsetof(Target, ctx);
constexpr int kTargetNative = offsetof(Target, native);
constexpr int kCtxIndTable = offsetof(ExecContext, ind_table);
static_assert(sizeof(IndirectEntry) == 48);

bool FitsI32(uint64_t v) { return static_cast<int64_t>(v) == static_cast<int32_t>(v); }

// x86 condition codes in the IR's Cond order (eq ne ltu leu gtu geu lt le gt ge).
enum Cc { kE, kNe, kB, kBe, kA, kAe, kL, kLe, kG, kGe };

class Emitter : public Xbyak::CodeGenerator {
 public:
  Emitter(CodeBuffer* buf, InterpProgram* p, uint32_t frame_off)
      : CodeGenerator(buf->room(), buf->cur()), buf_(buf), p_(p),
        unused_(frame_off + kInterpFrameBytes - 8) {}

  void Run() {
    inc(r13);  // blocks entered (ExecContext::blocks)
    for (size_t i = 0; i < p_->ops.size(); i++) Op(static_cast<uint32_t>(i));
    for (auto& f : cold_) f();
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
  // After a slow path returned a native::Status in eax.
  void AfterSlow(uint32_t i, const Label& done) {
    Label ret, resume, nochain;
    test(eax, eax);
    jz(done, T_NEAR);
    cmp(eax, native::kNoChain);
    je(nochain);
    cmp(eax, native::kReturn);
    jne(resume);
    Exit(-1);
    L(resume);
    Exit(native::kResumeBase + i + 1);
    L(nochain);
    xor_(r14d, r14d);
    jmp(done, T_NEAR);
  }

  void Op(uint32_t i) {
    const InterpOp& o = O(i);
    const unsigned k = o.handler;
    cached_ = after_;  // valid across exactly one op boundary
    after_ = -1;
    if (IsMemKind(k)) return Mem(i);
    if (k >= k_set_eq && k <= k_set_ge_ri) {
      const bool ri = k >= k_set_eq_ri;
      const unsigned cond = k - (ri ? k_set_eq_ri : k_set_eq);
      Compare(o, cond, ri);
      SetCc(cond);
      movzx(eax, al);
      Set(o);
      return;
    }
    if (k >= k_br_eq && k <= k_br_ge_ri) {
      const bool ri = k >= k_br_eq_ri;
      const unsigned cond = k - (ri ? k_br_eq_ri : k_br_eq);
      Compare(o, cond, ri);
      Label l1;
      Jcc(Negate(cond), l1);
      Take(0);
      L(l1);
      Take(1);
      return;
    }
    switch (k) {
      case k_mov:
        LoadMasked(o.a, o.mask);
        Set(o);
        break;
      case k_movi: StoreImm(o.d, o.imm); break;
      case k_mov2:  // d = a, then c = b (b may be d)
        LoadA(o.a);
        Set(o);
        mov(rax, Env(o.b));
        mov(Env(o.c), rax);
        after_ = -1;
        break;
      case k_movi2:
        StoreImm(o.d, o.imm);
        StoreImm(o.c, o.mask);
        break;
      case k_put8:
        mov(al, byte[rbx + o.a]);
        mov(byte[rbx + o.d], al);
        break;
      case k_put16:
        mov(ax, word[rbx + o.a]);
        mov(word[rbx + o.d], ax);
        break;
      case k_put32:
        mov(eax, dword[rbx + o.a]);
        mov(dword[rbx + o.d], eax);
        break;
      case k_puti8: mov(byte[rbx + o.d], static_cast<uint8_t>(o.imm)); break;
      case k_puti16: mov(word[rbx + o.d], static_cast<uint16_t>(o.imm)); break;
      case k_puti32: mov(dword[rbx + o.d], static_cast<uint32_t>(o.imm)); break;
      case k_add: Bin(o, Alu::kAdd); break;
      case k_sub: Bin(o, Alu::kSub); break;
      case k_and: Bin(o, Alu::kAnd); break;
      case k_or: Bin(o, Alu::kOr); break;
      case k_xor: Bin(o, Alu::kXor); break;
      case k_add_ri: BinImm(o, Alu::kAdd, o.mask); break;
      case k_sub_ri: BinImm(o, Alu::kSub, o.mask); break;
      case k_and_ri: BinImm(o, Alu::kAnd, ~0ull); break;  // imm already masked
      case k_or_ri: BinImm(o, Alu::kOr, o.mask); break;
      case k_xor_ri: BinImm(o, Alu::kXor, o.mask); break;
      case k_mul:
        if (Cached(o.b)) {
          mov(rcx, rax);
          LoadA(o.a);
          imul(rax, rcx);
        } else {
          LoadA(o.a);
          imul(rax, Env(o.b));
        }
        Mask(rax, o.mask);
        Set(o);
        break;
      case k_mul_ri:
        LoadA(o.a);
        if (FitsI32(o.imm)) {
          imul(rax, rax, static_cast<int>(static_cast<int32_t>(o.imm)));
        } else {
          mov(r8, o.imm);
          imul(rax, r8);
        }
        Mask(rax, o.mask);
        Set(o);
        break;
      case k_shl:
      case k_shr:
      case k_sar:
        if (Cached(o.b)) mov(ecx, eax);
        else mov(ecx, dword[rbx + o.b]);
        if (k == k_sar) {
          LoadSxA(o.a, o.aux);
        } else {
          if (k == k_shr) LoadMasked(o.a, o.mask);
          else LoadA(o.a);
        }
        and_(ecx, static_cast<uint32_t>(o.imm));
        if (k == k_shl) shl(rax, cl);
        else if (k == k_shr) shr(rax, cl);
        else sar(rax, cl);
        if (k != k_shr) Mask(rax, o.mask);
        Set(o);
        break;
      case k_shl_ri:
        LoadA(o.a);
        if (o.mask == 0xffffffffu && o.imm < 32) {
          shl(eax, static_cast<int>(o.imm));
        } else {
          shl(rax, static_cast<int>(o.imm & 63));
          Mask(rax, o.mask);
        }
        Set(o);
        break;
      case k_shr_ri:
        LoadMasked(o.a, o.mask);
        shr(rax, static_cast<int>(o.imm & 63));
        Set(o);
        break;
      case k_sar_ri:
        LoadSxA(o.a, o.aux);
        sar(rax, static_cast<int>(o.imm & 63));
        Mask(rax, o.mask);
        Set(o);
        break;
      case k_not:
      case k_neg:
        LoadA(o.a);
        if (k == k_not) not_(rax);
        else neg(rax);
        Mask(rax, o.mask);
        Set(o);
        break;
      case k_sext:
        LoadSxA(o.a, o.aux);
        Mask(rax, o.mask);
        Set(o);
        break;
      case k_select:
        if (Cached(o.a)) test(rax, rax);  // the moves below keep the flags
        else cmp(Env(o.a), 0);
        if (Cached(o.c)) mov(rcx, rax);
        else mov(rcx, Env(o.c));
        if (!Cached(o.b)) mov(rax, Env(o.b));
        cmove(rax, rcx);
        Mask(rax, o.mask);
        Set(o);
        break;
      case k_generic:
        mov(rdi, rbx);
        mov(rsi, reinterpret_cast<uint64_t>(&o));
        CallC(reinterpret_cast<const void*>(&native::Generic));
        break;
      case k_call:
      case k_call_exit: Call(i); break;
      case k_stop: Exit(native::kResumeBase + i); break;  // the interpreter stops
      case k_end_goto:
        Tail();
        Take(0, false);
        break;
      case k_end_branch: {
        Label l1;
        cmp(Env(o.a), 0);
        je(l1, T_NEAR);
        Take(0);
        L(l1);
        Take(1);
        break;
      }
      case k_end_indirect:
        Tail();
        IndirectEnd();
        break;
      case k_end:
        Tail();
        Exit(-1);
        break;
      default:
        throw Xbyak::Error(Xbyak::ERR_INTERNAL);  // a kind this emitter does not know
    }
  }

  // 32-bit results use 32-bit instructions (they zero the upper half).
  void Bin(const InterpOp& o, Alu k) {
    const bool w32 = o.mask == 0xffffffffu;
    const Xbyak::Reg& r = w32 ? static_cast<const Xbyak::Reg&>(eax) : rax;
    if (Cached(o.b) && !Cached(o.a)) {
      mov(rcx, rax);
      LoadA(o.a);
      AluOp(k, r, w32 ? static_cast<const Xbyak::Reg&>(ecx) : rcx);
    } else {
      const bool b_in_rax = Cached(o.b);
      LoadA(o.a);
      if (b_in_rax) AluOp(k, r, r);
      else AluOp(k, r, w32 ? dword[rbx + o.b] : Env(o.b));
    }
    if (!w32) Mask(rax, o.mask);
    Set(o);
  }
  void BinImm(const InterpOp& o, Alu k, uint64_t mask) {
    LoadA(o.a);
    if (mask == 0xffffffffu) {
      const uint32_t v = static_cast<uint32_t>(o.imm);
      switch (k) {
        case Alu::kAdd: add(eax, v); break;
        case Alu::kSub: sub(eax, v); break;
        case Alu::kAnd: and_(eax, v); break;
        case Alu::kOr: or_(eax, v); break;
        case Alu::kXor: xor_(eax, v); break;
      }
    } else {
      AluImm(k, rax, o.imm);
      Mask(rax, mask);
    }
    Set(o);
  }

  // The moves folded into the terminal (InterpProgram::tail).
  void Tail() {
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
  void Take(int slot, bool tail = true) {
    if (tail) Tail();
    if (p_->term.pc_off != kNoTemp) StoreImm(p_->term.pc_off, p_->term.pc_vals[slot]);
    Label ret, miss;
    test(r14d, r14d);
    jz(ret, T_NEAR);
    cmp(dword[rbp + kCtxExitRequest], 0);
    jne(ret, T_NEAR);
    dec(r14d);
    // Linked, this jump goes straight to the successor's code (NativeSetLink
    // rewrites its rel32); unlinked, to `miss`.
    jmp(miss, T_NEAR);
    p_->patch_site[slot] = const_cast<uint8_t*>(getCurr()) - 4;
    cold_.push_back([this, slot, ret, miss]() mutable {
      L(miss);
      p_->patch_home[slot] = getCurr();
      inc(r14d);
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
    });
  }
  // Jumps to the block a cache entry (InterpProgram::far / ind) remembers if it
  // is valid: the same vCPU (checked first: only then are its epoch pointers
  // known to be set), the same TLB generation and code epoch, and for an
  // indirect end the same next pc (in rdx). Falls through otherwise.
  void CachedTarget(const Target* t, bool check_pc) {
    Label no;
    mov(rax, reinterpret_cast<uint64_t>(t));
    cmp(rbp, qword[rax + kTargetCtx]);
    jne(no, T_NEAR);
    if (check_pc) {
      cmp(rdx, qword[rax + kTargetPc]);
      jne(no, T_NEAR);
    }
    mov(rcx, qword[rbp + kCtxTlbEpoch]);
    mov(rcx, qword[rcx]);
    cmp(rcx, qword[rax + kTargetTlb]);
    jne(no, T_NEAR);
    mov(rcx, qword[rbp + kCtxCodeEpoch]);
    mov(rcx, qword[rcx]);
    cmp(rcx, qword[rax + kTargetCode]);
    jne(no, T_NEAR);
    mov(rax, qword[rax + kTargetNative]);
    test(rax, rax);
    jz(no, T_NEAR);
    dec(r14d);
    jmp(rax);
    L(no);
  }

  // The vCPU's table of indirect targets (ExecContext::ind_table), for the next
  // pc in rdx and this block's CS base and flags. Falls through on a miss.
  void TableTarget(const TranslationBlock& owner) {
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
    mov(rcx, qword[rbp + kCtxTlbEpoch]);
    mov(rcx, qword[rcx]);
    cmp(rcx, qword[rax + offsetof(IndirectEntry, tlb)]);
    jne(no, T_NEAR);
    mov(rcx, qword[rbp + kCtxCodeEpoch]);
    mov(rcx, qword[rcx]);
    cmp(rcx, qword[rax + offsetof(IndirectEntry, code)]);
    jne(no, T_NEAR);
    mov(rax, qword[rax + offsetof(IndirectEntry, native)]);
    test(rax, rax);
    jz(no, T_NEAR);
    dec(r14d);
    jmp(rax);
    L(no);
  }

  void IndirectEnd() {
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

  void Call(uint32_t i) {
    const InterpOp& o = O(i);
    SyncForCall(o.pc);
    mov(rdi, rbp);
    mov(rsi, Env(o.a));
    mov(rdx, Env(o.b));
    mov(rcx, Env(o.c));
    CallC(reinterpret_cast<const void*>(o.imm));
    if (o.handler == k_call) {
      Set(o);
      Label ok;
      cmp(byte[rbp + kCtxExit], 0);
      je(ok);
      xor_(r14d, r14d);
      L(ok);
      return;
    }
    Label slow, done;
    cmp(byte[rbp + kCtxExit], 0);
    jne(slow, T_NEAR);
    Set(o);
    L(done);
    after_ = -1;
    cold_.push_back([this, i, slow, done]() mutable {
      L(slow);
      mov(rdi, rbp);
      mov(rsi, rax);
      mov(rdx, reinterpret_cast<uint64_t>(p_));
      mov(rcx, reinterpret_cast<uint64_t>(&O(i)));
      CallC(reinterpret_cast<const void*>(&native::AfterCallExit));
      AfterSlow(i, done);
    });
  }

  // A guest memory access: the address to rsi (with the write-back of a push's
  // pointer where the interpreter does it), the soft-TLB hit inline, the rest
  // in LoadSlow/StoreSlow.
  void Mem(uint32_t i) {
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
    Label slow, done;
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
    cold_.push_back([this, i, store, slow, done]() mutable {
      L(slow);
      mov(rdi, rbp);
      if (store) {
        mov(rcx, reinterpret_cast<uint64_t>(p_));
        mov(r8, reinterpret_cast<uint64_t>(&O(i)));
        CallC(reinterpret_cast<const void*>(&native::StoreSlow));
      } else {
        mov(rdx, reinterpret_cast<uint64_t>(p_));
        mov(rcx, reinterpret_cast<uint64_t>(&O(i)));
        CallC(reinterpret_cast<const void*>(&native::LoadSlow));
      }
      AfterSlow(i, done);
    });
  }

  CodeBuffer* buf_;
  InterpProgram* p_;
  int64_t cached_ = -1;  // the env offset whose value rax holds as this op starts (-1: none)
  int64_t after_ = -1;   // the same for the next op (set by Set)
  const uint32_t unused_;  // the frame slot FoldTail points unused tail entries at
  std::vector<std::function<void()>> cold_;  // slow paths, emitted after the block
};

// The entry and exit every block shares: entry(env, ctx, tlb, code) saves the
// callee-saved registers, loads the fixed ones and jumps to code; blocks leave
// through exit with rax/rdx = NativeRet.
class StubEmitter : public Xbyak::CodeGenerator {
 public:
  StubEmitter(uint8_t* at, size_t room) : CodeGenerator(room, at) {}
  void Run(const void** entry, const void** exit) {
    *entry = getCurr();
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
    align(16);
    *exit = getCurr();
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
};

}  // namespace

bool NativeSupported() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

CodeBuffer::CodeBuffer(size_t bytes) {
  void* m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
                 -1, 0);
  if (m == MAP_FAILED) return;
  base_ = static_cast<uint8_t*>(m);
  size_ = bytes;
  reserve_ = std::min(kReserve, bytes / 4);
  EmitStubs();
}

CodeBuffer::~CodeBuffer() {
  if (base_) munmap(base_, size_);
}

void CodeBuffer::EmitStubs() {
  StubEmitter s(base_, 4096);
  s.Run(&entry_, &exit_);
  stubs_ = 4096;
  used_ = stubs_;
}

void CodeBuffer::Reset() { used_ = stubs_; }

void NativeSetLink(const InterpProgram& from, int slot, const void* target) {
  uint8_t* const site = from.patch_site[slot];
  if (!site) return;
  const auto* dest = static_cast<const uint8_t*>(target ? target : from.patch_home[slot]);
  const int32_t rel = static_cast<int32_t>(dest - (site + 4));  // one buffer: within +-2 GiB
  std::memcpy(site, &rel, 4);
}

bool CompileNative(InterpProgram* p, CodeBuffer* buf, uint32_t frame_offset) {
  p->native = nullptr;
  p->patch_site[0] = p->patch_site[1] = nullptr;
  if (!buf->ok() || buf->room() < 4096) return false;
  try {
    Emitter e(buf, p, frame_offset);
    e.Run();
    e.ready(Xbyak::CodeArray::PROTECT_RWE);
    p->native = buf->cur();
    p->native_bytes = static_cast<uint32_t>(e.getSize());
    buf->Advance(e.getSize());
  } catch (const Xbyak::Error&) {
    return false;  // out of room (or a kind it cannot emit): the interpreter runs it
  }
  return true;
}

}  // namespace emu::accel::tcg
