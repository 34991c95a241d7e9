// Decoder-level and prefix rules: NOP forms (0F 1F /0 with every ModRM form), the 15-byte
// instruction length limit (#GP), LOCK rules (#UD on non-memory or non-lockable
// instructions), opcodes invalid in 64-bit mode (#UD), and the operand-size prefix on near
// branches (66 + JMP/CALL/RET in 32-bit code truncates EIP to 16 bits), and segment
// registers (PUSH/POP/MOV with the user selectors of the oracle's process).
#include "tests/x86/diff/families.h"

namespace emu::x86::difftest {
namespace {

uint8_t B(int x) { return static_cast<uint8_t>(x); }

}  // namespace

void GenNop(Gen& g) {
  Insn in;
  switch (g.Below(5)) {
    case 0:
      g.EmitBytes({0x90}, "nop");
      return;
    case 1:
      g.EmitBytes({0xf3, 0x90}, "pause");
      return;
    case 2:
      if (g.mode() == Mode::k64 && g.Chance(50)) {
        g.EmitBytes({0x41, 0x90}, "xchg r8d, eax (REX.B 90 is a real exchange)");
        return;
      }
      g.EmitBytes({0x66, 0x90}, "o16 nop");
      return;
    default:
      break;
  }
  // 0F 1F /0 (NOP Ev, the multi-byte NOP): any ModRM/SIB/displacement form, no access even
  // to a wild address; register forms too, and operand/address-size prefixes.
  if (g.Chance(30)) g.SizePrefix(&in, g.OpSize(false));
  in.opcode = {0x0f, 0x1f};
  in.modrm = true;
  in.reg = 0;
  if (g.Chance(25)) {
    in.rm = g.PickReg();
  } else {
    bool ao = g.Chance(20);
    g.MemTo(&in, g.Rand() & (ao || g.mode() != Mode::k64 ? 0xffffffff : ~0ull), ao);
  }
  g.Decorate(&in);
  g.Emit(in, "nop r/m");
}

void GenLongInsn(Gen& g) {
  // An instruction made 13-18 bytes long with redundant prefixes: over 15 is #GP(0).
  static const uint8_t kPrefixes[] = {0x3e, 0x26, 0x36, 0x2e};
  int target = 13 + static_cast<int>(g.Below(6));
  std::vector<uint8_t> body;
  switch (g.Below(3)) {
    case 0: body = {0x05, 1, 2, 3, 4}; break;                  // add eAX, imm32 (16-bit: imm16 + 2 bytes more)
    case 1: body = {0x8d, 0x84, 0x48, 0x10, 0x20, 0x30, 0x40}; break;  // lea eax, [eax+ecx*2+disp32]
    default: body = {0x90}; break;
  }
  if (g.mode() == Mode::k16 && body[0] != 0x90) {
    body.insert(body.begin(), 0x67);  // 32-bit addressing/immediates keep the length
    if (body[1] == 0x05) body[0] = 0x66;
  }
  std::vector<uint8_t> b;
  while (b.size() + body.size() < static_cast<size_t>(target)) b.push_back(g.Pick(kPrefixes));
  if (g.mode() == Mode::k64 && g.Chance(30)) b.push_back(0x48);  // REX.W last
  b.insert(b.end(), body.begin(), body.end());
  g.SetReg(AX, g.Value(32));
  g.EmitBytes(b, "instruction of " + std::to_string(b.size()) + " bytes");
}

void GenLockRules(Gen& g) {
  // LOCK is legal only on the memory forms of ADD ADC SUB SBB AND OR XOR (80-83, 00-35
  // with a memory destination), NOT NEG INC DEC, BTS BTR BTC, XCHG, XADD, CMPXCHG,
  // CMPXCHG8B/16B; anything else (register forms, CMP, TEST, MOV, BT, ...) is #UD.
  Insn in;
  in.prefixes.push_back(0xf0);
  int size = g.OpSize(true);
  g.SizePrefix(&in, size);
  bool byte = size == 8;
  in.modrm = true;
  switch (g.Below(8)) {
    case 0: {  // ALU r/m, r (legal on memory, CMP #UD)
      int op = static_cast<int>(g.Below(8));
      if (op == 1 || op == 4 || op == 6) g.c().flags_undefined |= AF;  // OR AND XOR
      in.opcode = {B(op * 8 + (byte ? 0 : 1))};
      in.reg = g.PickReg();
      g.RmOperand(&in, 60);
      g.Emit(in, "lock alu r/m, r");
      return;
    }
    case 1:  // ALU r, r/m: #UD always (the destination is a register)
      in.opcode = {B(static_cast<int>(g.Below(8)) * 8 + (byte ? 2 : 3))};
      in.reg = g.PickReg();
      g.RmOperand(&in, 60);
      g.Emit(in, "lock alu r, r/m");
      return;
    case 2:  // 80/81/83 /n imm
      in.opcode = {B(byte ? 0x80 : g.Chance(50) ? 0x81 : 0x83)};
      in.reg = static_cast<int>(g.Below(8));
      if (in.reg == 1 || in.reg == 4 || in.reg == 6) g.c().flags_undefined |= AF;
      g.RmOperand(&in, 60);
      in.imm = Imm(g.Rand(), in.opcode[0] == 0x81 ? ImmZ(size) : 1);
      g.Emit(in, "lock alu r/m, imm");
      return;
    case 3:  // F6/F7: TEST (#UD), NOT NEG (legal), MUL.. (#UD)
      in.opcode = {B(byte ? 0xf6 : 0xf7)};
      in.reg = static_cast<int>(g.Below(6));
      g.RmOperand(&in, 60);
      if (in.reg < 2) in.imm = Imm(g.Rand(), ImmZ(size));
      g.Emit(in, "lock f6/f7 /" + std::to_string(in.reg));
      return;
    case 4:  // FE/FF /0 /1 INC DEC (legal), FF /6 PUSH (#UD)
      in.opcode = {B(byte ? 0xfe : 0xff)};
      in.reg = byte || g.Chance(70) ? static_cast<int>(g.Below(2)) : 6;
      g.RmOperand(&in, 60);
      g.Emit(in, "lock inc/dec/push");
      return;
    case 5:  // MOV (#UD), XCHG (legal on memory)
      in.opcode = {B((g.Chance(50) ? 0x88 : 0x86) + (byte ? 0 : 1))};
      in.reg = g.PickReg();
      g.RmOperand(&in, 60);
      g.Emit(in, in.opcode[0] >= 0x88 ? "lock mov" : "lock xchg");
      return;
    case 6:  // BT (#UD) BTS BTR BTC (legal on memory) with imm8
      g.c().flags_undefined |= OF | SF | AF | PF;
      if (byte) size = g.mode() == Mode::k16 ? 16 : 32;
      in.opcode = {0x0f, 0xba};
      in.reg = 4 + static_cast<int>(g.Below(4));
      g.RmOperand(&in, 60);
      in.imm = Imm(g.Below(size == 8 ? 16 : size), 1);
      g.Emit(in, "lock bt* imm");
      return;
    default:  // XADD / CMPXCHG (legal on memory), MOVZX (#UD)
      in.opcode = {0x0f, B(g.Chance(40) ? 0xc0 + !byte : g.Chance(60) ? 0xb0 + !byte : 0xb6)};
      in.reg = g.PickReg();
      g.RmOperand(&in, 60);
      g.Emit(in, "lock 0f " + std::to_string(in.opcode[1]));
      return;
  }
}

void GenNearBranch66(Gen& g) {
  // 32-bit code: 66 makes JMP/CALL rel16 and RET/JMP r/m16 16-bit: EIP is truncated to 16
  // bits, a low address that is not mapped for CPL 3 (#PF at the target on both sides;
  // CALL has pushed a 16-bit return address). 16-bit code: 66 makes them 32-bit, and a
  // target above the 64 KiB code-segment limit is #GP(0).
  Insn in;
  in.prefixes.push_back(0x66);
  // The end of the snippet (where a 16-bit target is fine), or a wild target: 32-bit code
  // keeps clear of the low region at 0xc000 (mapped, random bytes), 16-bit code goes
  // above the limit.
  const bool m16 = g.mode() == Mode::k16;
  uint64_t target = g.Rand() & 0xffff;
  if (!m16 && (target & 0xf000) == 0xc000) target ^= 0x8000;
  if (m16) target = g.Chance(30) ? 0x10000 + (g.Rand() & 0xff) : (g.Rand() & 0xffffffff) | 0x10000;
  bool to_end = m16 && g.Chance(40);
  uint64_t here = g.CodeAddress(0);
  switch (g.Below(6)) {
    case 4: {  // Jcc rel16/rel32 (taken or not), LOOP/JECXZ rel8 (66 changes EIP's size)
      bool jcc = g.Chance(60);
      int n = jcc ? (m16 ? 4 : 2) : 1;
      if (jcc) {
        in.opcode = {0x0f, B(0x80 + g.Below(16))};
      } else {
        in.opcode = {B(0xe0 + g.Below(4))};
        g.SetReg(CX, g.Chance(50) ? g.Below(3) : g.Rand());
        g.Reserve(CX);
      }
      uint64_t end = here + 1 + in.opcode.size() + n;
      if (!jcc) target = (end & ~0xffffull) + ((end + g.Rand()) & 0xff) - 0x80;
      if (!jcc && !m16 && ((target & 0xffff) & 0xf000) == 0xc000) target ^= 0x8000;
      if (to_end || (!jcc && m16)) target = end;  // (16-bit: rel8 stays in the segment)
      in.imm = Imm(target - end, n);
      g.Emit(in, jcc ? "o16/o32 jcc" : "o16/o32 loop/jcxz");
      return;
    }
    case 0:
    case 1: {  // E9 / E8 rel16 (rel32 in 16-bit code)
      in.opcode = {B(g.Chance(50) ? 0xe9 : 0xe8)};
      int n = g.mode() == Mode::k16 ? 4 : 2;
      uint64_t end = here + 1 + 1 + n;
      if (to_end) target = end;
      in.imm = Imm(target - end, n);
      g.Emit(in, in.opcode[0] == 0xe9 ? "o16/o32 jmp rel" : "o16/o32 call rel");
      return;
    }
    case 2: {  // RET (pops 16 or 32 bits)
      in.opcode = {B(g.Chance(70) ? 0xc3 : 0xc2)};
      if (in.opcode[0] == 0xc2) in.imm = Imm(g.Below(8) * 2, 2);
      size_t len = 1 + 1 + in.imm.size();
      g.Poke(LayoutFor(g.mode()).sp, to_end ? here + len : target, 4);
      g.Emit(in, "o16/o32 ret");
      return;
    }
    default: {  // FF /4 JMP r
      in.opcode = {0xff};
      in.modrm = true;
      in.reg = 4;
      in.rm = g.PickFreeReg();
      g.SetReg(in.rm, m16 ? (to_end ? here + 3 : target) : (g.Rand() & ~0xffffull) | target);
      g.Emit(in, "o16/o32 jmp r");
      return;
    }
  }
}

}  // namespace emu::x86::difftest

namespace emu::x86::difftest {
namespace {

enum SegReg { kES, kCS, kSS, kDS, kFS, kGS };

// A selector to load into `seg` (the oracle's process and the runner have the same GDT
// entries and 16-bit LDT): valid ones (user data/code, null, another RPL) and ones that
// fault (DPL 0, beyond the GDT/LDT limit, code into SS, RPL != CPL for SS).
uint16_t PickSelector(Gen& g, int seg) {
  const bool m16 = g.mode() == Mode::k16;
  if (seg == kFS || seg == kGS) {
    // Loads that would succeed change the oracle's TLS base (FS) or its hidden state:
    // only those that fault.
    static const uint16_t kBad[] = {0x0b, 0x13, 0x18, 0x1b, 0x83, 0xfffb};
    return g.Pick(kBad);
  }
  if (seg == kSS) {
    static const uint16_t k16[] = {0x0f, 0x0f, 0x0c, 0x07, 0x00, 0x03, 0x17, 0x1f, 0x27, 0x1b};
    static const uint16_t k3264[] = {0x2b, 0x2b, 0x28, 0x29, 0x23, 0x00, 0x03, 0x1b, 0x83};
    return m16 ? g.Pick(k16) : g.Pick(k3264);
  }
  static const uint16_t kData[] = {0x2b, 0x28, 0x2a, 0x23, 0x33, 0x00, 0x01, 0x03,
                                   0x0b, 0x13, 0x1b, 0x83, 0xfff8};
  static const uint16_t kLdt[] = {0x0f, 0x07, 0x0c, 0x17, 0x1f, 0x27};
  return m16 && g.Chance(40) ? g.Pick(kLdt) : g.Pick(kData);
}

// MOV r32, sreg into a free register: shows what a load did.
void Observe(Gen& g, int seg) {
  Insn in;
  in.opcode = {0x8c};
  in.modrm = true;
  in.reg = seg;
  in.rm = g.PickFreeReg();
  if (g.mode() == Mode::k16 && g.Chance(50)) in.prefixes.push_back(0x66);
  g.Emit(in, "observe: mov r, sreg");
}

}  // namespace

void GenSeg(Gen& g) {
  const bool m64 = g.mode() == Mode::k64;
  Insn in;
  bool o66 = g.Chance(25);
  if (o66) in.prefixes.push_back(0x66);
  switch (g.Below(4)) {
    case 0: {  // PUSH sreg (a 32-bit push writes only 16 bits on Intel CPUs)
      static const uint8_t kPush[] = {0x06, 0x0e, 0x16, 0x1e};
      if (m64 || g.Chance(35)) {
        in.opcode = {0x0f, B(g.Chance(50) ? 0xa0 : 0xa8)};
      } else {
        in.opcode = {g.Pick(kPush)};
      }
      g.Emit(in, "push sreg");
      return;
    }
    case 1: {  // POP ES/SS/DS (16/32-bit), POP FS/GS (faulting selectors)
      static const uint8_t kPop[] = {0x07, 0x17, 0x1f};
      int seg;
      if (m64 || g.Chance(25)) {
        bool fs = g.Chance(50);
        in.opcode = {0x0f, B(fs ? 0xa1 : 0xa9)};
        seg = fs ? kFS : kGS;
      } else {
        in.opcode = {g.Pick(kPop)};
        seg = in.opcode[0] == 0x07 ? kES : in.opcode[0] == 0x17 ? kSS : kDS;
      }
      int osize = g.mode() == Mode::k16 ? (o66 ? 32 : 16) : m64 ? (o66 ? 16 : 64) : (o66 ? 16 : 32);
      g.Poke(LayoutFor(g.mode()).sp, (g.Rand() & ~0xffffull) | PickSelector(g, seg), osize / 8);
      g.Emit(in, "pop sreg");
      Observe(g, seg);
      return;
    }
    case 2: {  // MOV sreg, r/m16 (CS and 6/7: #UD)
      static const int kSegs[] = {kES, kSS, kDS, kDS, kES, kFS, kGS, kCS, 6};
      int seg = g.Pick(kSegs);
      in.opcode = {0x8e};
      in.modrm = true;
      in.reg = seg;
      g.RmOperand(&in, 40);
      uint64_t sel = (g.Rand() & ~0xffffull) | PickSelector(g, seg > kGS ? kDS : seg);
      if (in.rm_mem) {
        g.Poke(in.mem.target, sel, 2);
      } else if (!g.Reserved(in.rm) && in.rm != SP) {
        g.SetReg(in.rm, sel);
      } else {
        return;  // an address register: leave the case empty
      }
      g.Emit(in, "mov sreg, r/m");
      if (seg <= kGS && seg != kCS) Observe(g, seg);
      return;
    }
    default: {  // MOV r/m, sreg (register: 16/32/64-bit, zero-extended; memory: 16 bits)
      in.opcode = {0x8c};
      in.modrm = true;
      in.reg = static_cast<int>(g.Below(g.Chance(5) ? 8 : 6));
      g.RmOperand(&in, 40);
      if (m64 && g.Chance(30)) in.rex_w = true;
      g.Decorate(&in);
      g.Emit(in, "mov r/m, sreg");
      return;
    }
  }
}

}  // namespace emu::x86::difftest

namespace emu::x86::difftest {

void GenFsGs(Gen& g) {
  // 64-bit mode: FS/GS overrides add the segment base (the others are ignored). The base
  // (set with arch_prctl in the oracle's child, below the user-space limit) plus the
  // effective address lands in the data region; the EA may wrap around 2^64.
  bool gs = g.Chance(50);
  uint64_t target = g.DataTarget();
  bool ao = g.Chance(15);
  uint64_t base;
  if (ao || g.Chance(60)) {
    base = g.Below(target);  // EA = target - base fits 32 bits
  } else {
    base = 0x100000000ull + (g.Rand() & 0x7ffdfffffff0ull);  // EA wraps: target - base < 0
  }
  if (gs) g.c().req.gs_base = base; else g.c().req.fs_base = base;
  // Sometimes both, with the other base elsewhere (a wrong override shows).
  if (g.Chance(30)) {
    uint64_t other = 0x40000000 + (g.Rand() & 0x3ffff000);
    if (gs) g.c().req.fs_base = other; else g.c().req.gs_base = other;
  }
  Insn in;
  in.prefixes.push_back(gs ? 0x65 : 0x64);
  int size = g.OpSize(true);
  g.SizePrefix(&in, size);
  static const uint8_t kOps[] = {0x88, 0x89, 0x8a, 0x8b, 0x00, 0x01, 0x02, 0x03, 0x38, 0x39, 0x86, 0x87};
  uint8_t op = static_cast<uint8_t>(g.Pick(kOps) | (size == 8 ? 0 : 1));
  in.opcode = {op};
  in.modrm = true;
  in.reg = g.PickReg(false);
  g.MemTo(&in, (target - base) & (ao ? 0xffffffffull : ~0ull), ao);  // the EA
  g.Poke(target, g.Value(size), size / 8);
  if (!g.Reserved(in.reg)) g.SetReg(in.reg, g.Value(64));
  g.Emit(in, gs ? "gs: access" : "fs: access");
}

}  // namespace emu::x86::difftest

namespace emu::x86::difftest {

void GenSegLimit16(Gen& g) {
  // 16-bit mode, 64 KiB data/stack segment: an operand that crosses the limit (a word at
  // 0xffff, a dword at 0xfffd-0xffff) is #GP(0), or #SS(0) through SS (BP-based
  // addressing, an SS override, the stack). Nothing is accessed above 0xe000 that
  // succeeds (the oracle's slots live there) except reads of 0xff00-0xffff, which nothing
  // writes.
  const Layout& l = LayoutFor(g.mode());
  Insn in;
  bool o66 = g.Chance(40);
  int size = o66 ? 4 : 2;
  if (o66) in.prefixes.push_back(0x66);
  auto crossing = [&](int n) { return 0x10000 - 1 - g.Below(n - 1); };  // last byte above 0xffff
  switch (g.Below(5)) {
    case 4: {  // ES = the expand-down (0x17) or read-only (0x1f) view of the data segment
      bool down = g.Chance(50);
      int r = g.PickFreeReg();
      g.Reserve(r);
      g.SetReg(r, (g.Rand() & ~0xffffull) | (down ? 0x17 : 0x1f));
      Insn ld;
      ld.opcode = {0x8e};
      ld.modrm = true;
      ld.reg = 0;
      ld.rm = r;
      g.Emit(ld, down ? "mov es, expand-down" : "mov es, read-only");
      uint64_t t = g.Chance(50) ? g.DataTarget() : l.stack + 0x100 + g.Below(0x200);
      if (down && g.Chance(25)) t = oracle::kExpandDownLimit16 - g.Below(3);  // at the limit
      if (g.Chance(20)) {  // STOS / LODS ES: (LODS through DS: fine)
        g.SetReg(DI, (g.Rand() & 0xffff0000) | t);
        g.SetReg(SI, (g.Rand() & 0xffff0000) | t);
        in.opcode = {static_cast<uint8_t>(g.Chance(60) ? 0xab : 0xaf)};
        g.Emit(in, "stos/scas through es");
        return;
      }
      in.prefixes.insert(in.prefixes.begin(), 0x26);
      static const uint8_t kOps[] = {0x89, 0x8b, 0x01, 0x3b, 0x87};
      in.opcode = {g.Pick(kOps)};
      in.modrm = true;
      in.reg = g.PickReg(false);
      g.MemTo(&in, t, false);
      g.Emit(in, "es: access");
      return;
    }
    case 0: {  // MOV/ADD/CMP r/m, r or r, r/m with a crossing memory operand
      static const uint8_t kOps[] = {0x89, 0x8b, 0x01, 0x03, 0x39, 0x3b, 0x87, 0xff};
      uint8_t op = g.Pick(kOps);
      in.opcode = {op};
      in.modrm = true;
      in.reg = op == 0xff ? static_cast<int>(g.Below(2)) : g.PickReg(false);  // FF /0 /1: INC/DEC
      bool ao = g.Chance(15);  // 67: 32-bit addressing, offsets above 0xffff too
      uint64_t off = ao && g.Chance(30) ? 0x10000 + g.Below(0x100) : crossing(size);
      g.MemTo(&in, off, ao);
      if (g.Chance(25)) in.prefixes.insert(in.prefixes.begin(), g.Chance(50) ? 0x36 : 0x26);
      g.Emit(in, "access across the segment limit");
      return;
    }
    case 1: {  // string ops: the first element or a walk (reads only) across the limit
      static const uint8_t kRead[] = {0xad, 0xa7, 0xaf};  // LODS CMPS SCAS
      static const uint8_t kWrite[] = {0xa5, 0xab};       // MOVS STOS
      bool walk = g.Chance(50);
      uint8_t op = walk ? g.Pick(kRead) : g.Pick(kWrite);
      uint64_t at = walk ? 0xff00 + (g.Below(0xf0) | 1) : crossing(size);
      uint64_t si = l.data + 0x100 + g.Below(0x100), di = l.data + 0x100 + g.Below(0x100);
      bool at_si = op == 0xad || ((op == 0xa7 || op == 0xa5) && g.Chance(50));
      (at_si ? si : di) = at;  // the other index stays in the data region
      g.SetReg(SI, (g.Rand() & 0xffff0000) | si);
      g.SetReg(DI, (g.Rand() & 0xffff0000) | di);
      g.SetReg(CX, (g.Rand() & 0xffff0000) | (walk ? 0x80 : 1 + g.Below(3)));
      g.c().req.in.flags &= ~DF;
      if (g.Chance(70)) {
        in.prefixes.push_back((op == 0xa7 || op == 0xaf) && g.Chance(50) ? 0xf2 : 0xf3);
        // A fault in the middle of REP CMPS/SCAS: Intel CPUs report the flags from before
        // the instruction, the translator those of the last comparison (the next one,
        // after a restart, overwrites them either way): not compared.
        if (walk && op != 0xad) g.c().flags_undefined |= kArith;
      }
      in.opcode = {op};
      g.Emit(in, walk ? "string walk past the limit" : "string op across the limit");
      return;
    }
    case 2: {  // PUSH/POP/CALL/RET with SP at the top: the stack slot crosses the limit
      static const uint8_t kOps[] = {0x50, 0x58, 0x9c, 0x6a, 0xe8, 0xc3};
      uint8_t op = g.Pick(kOps);
      bool push = op == 0x50 || op == 0x9c || op == 0x6a || op == 0xe8;
      uint64_t sp = push ? 1 + g.Below(size - 1) : crossing(size);
      g.SetReg(SP, (g.Rand() & 0xffff0000) | sp);
      g.c().sp_operand = true;
      in.opcode = {op};
      if (op == 0x50 || op == 0x58) in.opreg = static_cast<int>(g.Below(8));
      if (op == 0x6a) in.imm = {static_cast<uint8_t>(g.Rand())};
      if (op == 0xe8) in.imm = Imm(0, o66 ? 4 : 2);
      g.Emit(in, "stack access across the limit");
      return;
    }
    default: {  // ENTER whose final SP leaves no room for an operand below the limit
      unsigned level = static_cast<unsigned>(g.Below(3));
      uint64_t pushes = static_cast<uint64_t>(size) * (level ? level + 1 : 1);
      uint64_t frame = (l.sp - pushes - crossing(size)) & 0xffff;
      g.SetReg(BP, (g.Rand() & 0xffff0000) | (l.sp - 2 * g.Below(8)));
      in.opcode = {0xc8};
      in.imm = Imm(frame, 2);
      in.imm.push_back(static_cast<uint8_t>(level));
      g.Emit(in, "enter with the final SP at the limit");
      return;
    }
  }
}

}  // namespace emu::x86::difftest
