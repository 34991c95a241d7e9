// The per-instruction translation context shared by the per-family translate
// files: operand access, addresses, lazy flags, and block ending.
#pragma once

#include <cstdint>

#include "accel/tcg/ir/builder.h"
#include "target-x86/decode/decoded_inst.h"
#include "target-x86/translate/env.h"

namespace emu::x86 {

using accel::tcg::Builder;
using accel::tcg::Cond;
using accel::tcg::ExecContext;
using accel::tcg::Type;
using accel::tcg::Val;

// Mode flags of a translation block (part of the TB key).
enum TbFlags : uint32_t {
  kTbCode16 = 0, kTbCode32 = 1, kTbCode64 = 2, kTbCodeMask = 3,
  kTbSs32 = 1u << 2,
  kTbCplShift = 3, kTbCplMask = 3u << 3,
  kTbPe = 1u << 5,
  kTbVm86 = 1u << 6,
  kTbOneInsn = 1u << 7,
  kTbIoplShift = 8, kTbIoplMask = 3u << 8,
  kTbLma = 1u << 10,
  kTbFpuTrap = 1u << 11,  // CR0.TS or CR0.EM: x87/SSE raise #NM/#UD (helpers check)
  kTbTf = 1u << 12,       // RFLAGS.TF: single-step trap after each instruction
  kTbOsfxsr = 1u << 13,   // CR4.OSFXSR: SSE instructions allowed
  kTbSegChecks = 1u << 14,  // a data segment is not flat: limit/type checks (SegChecksNeeded)
};

// Computes the TB flags for the current state.
uint32_t ComputeTbFlags(const X86Env& e);

inline Type SizeType(unsigned bytes) { return accel::tcg::TypeForBytes(bytes); }
inline unsigned SizeLog2(unsigned bytes) { return bytes == 1 ? 0 : bytes == 2 ? 1 : bytes == 4 ? 2 : 3; }

class X86Cpu;

struct Tx {
  Builder& b;
  const DecodedInst& in;
  X86Cpu* cpu;
  uint32_t flags;
  uint64_t cs_base;
  uint64_t pc;       // rip of this instruction
  uint64_t next_pc;  // rip of the next one
  // Statically known lazy-flags op (what env.cc_op holds now), or -1.
  int64_t& cc_op;
  bool end_block = false;  // the instruction set the block's terminal
  // Set with end_block by a direct JMP/CALL: its target rip, which the block
  // may go on translating instead (TranslateBlock decides).
  bool direct_jump = false;
  uint64_t jump_eip = 0;

  Tx(Builder& bb, const DecodedInst& d, X86Cpu* c, uint32_t f, uint64_t csb, uint64_t p,
     int64_t& cc)
      : b(bb), in(d), cpu(c), flags(f), cs_base(csb), pc(p), next_pc(p + d.length), cc_op(cc) {}

  unsigned code_bits() const {
    unsigned m = flags & kTbCodeMask;
    return m == kTbCode16 ? 16 : m == kTbCode32 ? 32 : 64;
  }
  bool long64() const { return (flags & kTbCodeMask) == kTbCode64; }
  unsigned cpl() const { return (flags & kTbCplMask) >> kTbCplShift; }
  bool pe() const { return flags & kTbPe; }
  bool vm86() const { return flags & kTbVm86; }
  bool real_or_vm86() const { return !pe() || vm86(); }
  int mmu_idx() const { return cpl() == 3 ? 1 : 0; }
  unsigned stack_size() const { return long64() ? 8 : (flags & kTbSs32) ? 4 : 2; }
  unsigned osize() const { return in.operand_size; }

  Val C(uint64_t v) { return b.Const(v); }

  // General registers. Size in bytes; `high8` selects AH..BH (reg 0-3).
  Val GetReg(unsigned reg, unsigned size, bool high8 = false);
  void SetReg(unsigned reg, unsigned size, Val v, bool high8 = false);
  // Segment fields.
  Val SegBase(unsigned seg) { return b.LdEnv(Type::kI64, X86_OFF(s.seg) + seg * sizeof(Segment) + offsetof(Segment, base)); }

  // Effective address (truncated to the address size) and linear address.
  Val Ea(const MemOperand& m);
  Val Linear(unsigned seg, Val ea, unsigned addr_size);
  Val MemAddr(const Operand& op) { return Linear(op.mem.seg, Ea(op.mem), op.mem.address_size); }
  Val LoadMem(unsigned size, Val lin) {
    if (flags & kTbSegChecks) CheckSeg(lin, size, false);
    return b.LdMem(SizeType(size), lin, mmu_idx());
  }
  void StoreMem(unsigned size, Val lin, Val v) {
    if (flags & kTbSegChecks) CheckSeg(lin, size, true);
    b.StMem(SizeType(size), lin, v, mmu_idx());
  }
  // Segment checks (only under kTbSegChecks, so flat code pays nothing): Linear()
  // remembers the segment and offset of each address it makes, and a load or store of
  // one calls HelperSegCheck first.
  struct SegRef {
    uint32_t lin, ea;  // Val ids
    uint8_t seg, addr_size;
  };
  SegRef seg_refs[72];  // ENTER with nesting level 31 makes ~66
  unsigned n_seg_refs = 0;
  void CheckSeg(Val lin, unsigned size, bool write);

  // Operand access. For memory operands `addr` (when valid) is a precomputed
  // linear address so read-modify-write computes it once.
  Val ReadOp(const Operand& op, Val* addr = nullptr);
  void WriteOp(const Operand& op, Val v, Val addr = {});
  unsigned OpSize(const Operand& op) const { return op.size ? op.size : in.operand_size; }

  // Stack.
  Val Sp() { return GetReg(RSP, stack_size()); }
  Val StackLin(Val sp) { return Linear(SS, sp, stack_size()); }
  // Push/pop without committing rsp: callers store memory first, then registers.
  Val PushAddr(unsigned size, Val* new_sp);
  void Push(unsigned size, Val v);  // stores then commits rsp
  Val Pop(unsigned size);           // loads then commits rsp

  // Lazy flags.
  void SetCc(CcKind kind, unsigned size, Val dst, Val src = {}, Val src2 = {});
  void SetCcEflags(Val arith_flags);  // cc_op = EFLAGS with these arithmetic bits
  Val ArithFlags();                   // current CF|PF|AF|ZF|SF|OF bits (i64)
  Val Carry();                        // CF as 0/1
  Val ZeroFlagAnyKind();              // ZF as 0/1 whatever env.cc_op is (for cc_op unknown)
  Val CondTrue(unsigned cc);          // Jcc condition 0-15 as 0/1 (i64)
  void WriteCcOp(uint32_t op);

  // Rip and block ends.
  uint64_t Mask(uint64_t eip) const {
    return code_bits() == 64 ? eip : code_bits() == 32 ? (eip & 0xffffffffu) : (eip & 0xffff);
  }
  void StoreRip(Val rip) { b.StEnv(Type::kI64, X86_OFF(s.rip), rip); }
  void JumpTo(uint64_t eip);                // direct jump (chainable)
  void JumpIf(Val cond, uint64_t eip);      // conditional: eip if cond else next_pc
  void JumpIndirect(Val eip);               // eip already masked by the caller
  void EndBlockAfter();                     // rip = next_pc, return to the dispatcher
  void Raise(int vector, uint32_t error = 0, bool has_error = false);
  void Ud() { Raise(6); }
  void Gp0() { Raise(13, 0, true); }
  // Calls a helper that may raise (precise: state is that of this instruction).
  Val Call(accel::tcg::HelperFn fn, Val a = {}, Val b2 = {}, Val c = {});
  Val CallPure(accel::tcg::HelperFn fn, Val a = {}, Val b2 = {}, Val c = {});
};

using TranslateFn = bool (*)(Tx&);
// Each family file fills its mnemonics into the dispatch table.
void RegisterAlu(TranslateFn* t);
void RegisterShift(TranslateFn* t);
void RegisterMulDiv(TranslateFn* t);
void RegisterBcd(TranslateFn* t);
void RegisterBit(TranslateFn* t);
void RegisterString(TranslateFn* t);
void RegisterControl(TranslateFn* t);
void RegisterStack(TranslateFn* t);
void RegisterSystem(TranslateFn* t);
void RegisterMisc(TranslateFn* t);
void RegisterSse(TranslateFn* t);
void RegisterSseFp(TranslateFn* t);
bool MovCrDr(Tx& tx);  // MOV to/from control and debug registers (system.cpp)

}  // namespace emu::x86
