// Arithmetic and data-movement families: ALU, INC/DEC/NEG/NOT, MOV forms, MOVZX/MOVSX/
// MOVSXD/ARPL, LEA, XCHG/CMPXCHG/XADD/CMPXCHG8B/16B/BSWAP, CBW..CQO, MUL/IMUL, DIV/IDIV,
// BCD. (Undefined-flag rules: families.h.)
#include "tests/x86/diff/families.h"

namespace emu::x86::difftest {

std::vector<uint8_t> Imm(uint64_t v, int bytes) {
  std::vector<uint8_t> b;
  for (int i = 0; i < bytes; i++) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return b;
}

int ImmZ(int size) { return size == 8 ? 1 : size == 16 ? 2 : 4; }

void SetOperandValue(Gen& g, int reg, int size) {
  if (!g.Reserved(reg)) g.SetReg(reg, g.Value(size));
}

void SetMemValue(Gen& g, const Insn& in, int size) {
  if (in.rm_mem) g.Poke(in.mem.target, g.Value(size), size / 8);
}

namespace {

// ModRM.reg register and r/m operand (register or memory), both with edge-case values.
void TwoOperands(Gen& g, Insn* in, int size, int mem_pct) {
  in->modrm = true;
  in->reg = g.PickReg();
  SetOperandValue(g, in->reg, size);
  g.RmOperand(in, mem_pct);
  if (in->rm_mem) {
    SetMemValue(g, *in, size);
  } else {
    SetOperandValue(g, in->rm, size);
  }
}

// An r/m operand alone (with a value), ModRM.reg = `ext`.
void OneOperand(Gen& g, Insn* in, int ext, int size, int mem_pct) {
  in->modrm = true;
  in->reg = ext;
  g.RmOperand(in, mem_pct);
  if (in->rm_mem) {
    SetMemValue(g, *in, size);
  } else {
    SetOperandValue(g, in->rm, size);
  }
}

uint8_t B(int x) { return static_cast<uint8_t>(x); }

// A LOCK prefix where it is legal (memory destination), and rarely where it is not (#UD).
void MaybeLock(Gen& g, Insn* in, bool lockable) {
  if ((lockable && in->rm_mem && g.Chance(25)) || g.Chance(2)) in->prefixes.push_back(0xf0);
}

std::string SizeTag(int size) { return std::to_string(size); }

}  // namespace

void GenAlu(Gen& g) {
  static const char* const kOps[9] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp", "test"};
  int op = static_cast<int>(g.Below(9));
  int size = g.OpSize(true);
  bool byte = size == 8;
  Insn in;
  g.SizePrefix(&in, size);
  int form = static_cast<int>(g.Below(4));
  std::string note = std::string(kOps[op]) + SizeTag(size);
  if (op == 8) {
    if (form <= 1) {
      in.opcode = {B(byte ? 0x84 : 0x85)};
      TwoOperands(g, &in, size, 40);
    } else if (form == 2) {
      in.opcode = {B(byte ? 0xa8 : 0xa9)};
      SetOperandValue(g, AX, size);
      in.imm = Imm(g.Value(size), ImmZ(size));
    } else {
      in.opcode = {B(byte ? 0xf6 : 0xf7)};
      OneOperand(g, &in, g.Chance(10) ? 1 : 0, size, 40);  // F6/F7 /1 is an alias of /0
      in.imm = Imm(g.Value(size), ImmZ(size));
    }
  } else if (form == 0 || form == 1) {
    in.opcode = {B(op * 8 + (form == 0 ? 0 : 2) + (byte ? 0 : 1))};
    TwoOperands(g, &in, size, 40);
  } else if (form == 2) {
    in.opcode = {B(op * 8 + (byte ? 4 : 5))};
    SetOperandValue(g, AX, size);
    in.imm = Imm(g.Value(size), ImmZ(size));
  } else {
    if (byte) {
      in.opcode = {B(g.Chance(5) ? 0x82 : 0x80)};  // 82 = 80 outside 64-bit mode, #UD in it
      in.imm = Imm(g.Value(8), 1);
    } else if (g.Chance(50)) {
      in.opcode = {0x83};  // imm8 sign-extended
      in.imm = Imm(g.Value(8), 1);
    } else {
      in.opcode = {0x81};
      in.imm = Imm(g.Value(size), ImmZ(size));
    }
    OneOperand(g, &in, op, size, 40);
  }
  MaybeLock(g, &in, op < 7 && (form == 0 || form == 3));
  g.Decorate(&in);
  if (op == 1 || op == 4 || op == 6 || op == 8) g.c().flags_undefined |= AF;
  g.Emit(in, note);
}

void GenIncDec(Gen& g) {
  int size = g.OpSize(true);
  bool byte = size == 8;
  Insn in;
  g.SizePrefix(&in, size);
  int kind = static_cast<int>(g.Below(4));  // inc dec not neg
  static const char* const kNames[4] = {"inc", "dec", "not", "neg"};
  if (kind < 2 && !byte && g.mode() != Mode::k64 && g.Chance(30)) {
    in.opcode = {B(kind == 0 ? 0x40 : 0x48)};  // 40+r / 48+r (REX in 64-bit mode)
    in.opreg = g.PickReg();
    SetOperandValue(g, in.opreg, size);
  } else {
    in.opcode = {B(kind < 2 ? (byte ? 0xfe : 0xff) : (byte ? 0xf6 : 0xf7))};
    OneOperand(g, &in, kind, size, 40);  // FE/FF /0 /1, F6/F7 /2 /3
  }
  MaybeLock(g, &in, true);
  g.Decorate(&in);
  g.Emit(in, kNames[kind] + SizeTag(size));
}

void GenMov(Gen& g) {
  int size = g.OpSize(true);
  bool byte = size == 8;
  Insn in;
  g.SizePrefix(&in, size);
  switch (g.Below(5)) {
    case 0:  // 88-8B
      in.opcode = {B(0x88 + (g.Chance(50) ? 2 : 0) + (byte ? 0 : 1))};
      TwoOperands(g, &in, size, 50);
      break;
    case 1:  // C6/C7 /0
      in.opcode = {B(byte ? 0xc6 : 0xc7)};
      OneOperand(g, &in, 0, size, 50);
      in.imm = Imm(g.Value(size), ImmZ(size));
      break;
    case 2:  // B0+r / B8+r (imm64 with REX.W)
      in.opcode = {B(byte ? 0xb0 : 0xb8)};
      in.opreg = g.PickReg();
      in.imm = Imm(g.Value(size), size == 64 ? 8 : ImmZ(size));
      break;
    default: {  // A0-A3 moffs
      bool ao = g.Chance(25);
      if (ao) in.prefixes.push_back(0x67);
      int asize = g.AddrSize(ao);
      uint64_t t = g.Target(ao);
      in.opcode = {B(0xa0 + (g.Chance(50) ? 2 : 0) + (byte ? 0 : 1))};
      in.imm = Imm(t, asize / 8);
      SetOperandValue(g, AX, size);
      g.Poke(t, g.Value(size), size / 8);
      break;
    }
  }
  g.Decorate(&in);
  g.Emit(in, "mov" + SizeTag(size));
}

void GenMovExt(Gen& g) {
  Insn in;
  int kind = static_cast<int>(g.Below(5));
  if (kind == 4) {
    if (g.mode() == Mode::k64) {
      // MOVSXD Gv, Ed (REX.W: sign-extend; without it a plain 32-bit move; 66: 16-bit).
      int size = g.OpSize(false);
      g.SizePrefix(&in, size);
      in.opcode = {0x63};
      TwoOperands(g, &in, 32, 50);
      g.Emit(in, "movsxd" + SizeTag(size));
    } else {
      // ARPL Ew, Gw: raises the RPL field, ZF says whether it did.
      in.opcode = {0x63};
      TwoOperands(g, &in, 16, 50);
      g.Emit(in, "arpl");
    }
    return;
  }
  // 0F B6 movzx Gv,Eb; B7 movzx Gv,Ew; BE movsx Gv,Eb; BF movsx Gv,Ew
  static const uint8_t kOps[4] = {0xb6, 0xb7, 0xbe, 0xbf};
  int size = g.OpSize(false);
  g.SizePrefix(&in, size);
  in.opcode = {0x0f, kOps[kind]};
  TwoOperands(g, &in, kind & 1 ? 16 : 8, 50);
  g.Decorate(&in);
  g.Emit(in, std::string(kind < 2 ? "movzx" : "movsx") + SizeTag(size));
}

void GenLea(Gen& g) {
  Insn in;
  int size = g.OpSize(false);
  g.SizePrefix(&in, size);
  in.opcode = {0x8d};
  in.modrm = true;
  in.reg = g.PickReg();
  if (g.Chance(2)) {
    in.rm = g.PickReg();  // register operand: #UD
  } else {
    bool ao = g.Chance(40);
    uint64_t t = g.Chance(50) ? g.Rand() : g.Target(ao);  // LEA does not access memory
    g.MemTo(&in, t, ao);
  }
  g.Decorate(&in);
  g.Emit(in, "lea" + SizeTag(size));
}

void GenXchg(Gen& g) {
  int size = g.OpSize(true);
  bool byte = size == 8;
  Insn in;
  g.SizePrefix(&in, size);
  switch (g.Below(4)) {
    case 0:
    case 1:  // 86/87 (a memory operand is locked implicitly)
      in.opcode = {B(byte ? 0x86 : 0x87)};
      TwoOperands(g, &in, size, 50);
      if (in.rm_mem && g.Chance(20)) in.prefixes.push_back(0xf0);
      g.Emit(in, "xchg" + SizeTag(size));
      return;
    case 2:  // 90+r: xchg rAX, r (90 itself is NOP; with REX.B it is xchg r8, rax)
      if (byte) size = 32;
      in = Insn();
      g.SizePrefix(&in, size);
      in.opcode = {0x90};
      in.opreg = g.PickReg();
      SetOperandValue(g, in.opreg, size);
      SetOperandValue(g, AX, size);
      g.Emit(in, "xchg-ax" + SizeTag(size));
      return;
    default: {  // BSWAP r32/r64 (a 16-bit operand is undefined: not generated)
      in = Insn();
      if (size != 64) size = 32;
      g.SizePrefix(&in, size);
      in.opcode = {0x0f, 0xc8};
      in.opreg = g.PickReg();
      g.Decorate(&in);
      g.Emit(in, "bswap" + SizeTag(size));
      return;
    }
  }
}

void GenCmpxchg(Gen& g) {
  Insn in;
  if (g.Chance(25)) {
    // CMPXCHG8B m64 / CMPXCHG16B m128 (REX.W; 16-byte alignment or #GP).
    bool wide = g.mode() == Mode::k64 && g.Chance(50);
    int bytes = wide ? 16 : 8;
    in.rex_w = wide;
    in.opcode = {0x0f, 0xc7};
    in.modrm = true;
    in.reg = 1;
    g.Reserve(AX);
    g.Reserve(DX);
    g.Reserve(CX);
    g.Reserve(BX);
    if (g.Chance(3)) {
      in.rm = g.PickReg();  // register operand: #UD
    } else {
      bool ao = g.Chance(20);
      uint64_t t = g.Target(ao, g.Chance(wide ? 85 : 50) ? bytes : 1);
      g.MemTo(&in, t, ao);
      int half = bytes / 2;
      uint64_t lo = g.Peek(t, half > 8 ? 8 : half), hi = g.Peek(t + half, half > 8 ? 8 : half);
      if (g.Chance(50)) {  // equal: the exchange happens
        g.SetReg(AX, half == 4 ? (g.Rand() & ~0xffffffffull) | lo : lo);
        g.SetReg(DX, half == 4 ? (g.Rand() & ~0xffffffffull) | hi : hi);
      }
    }
    if (g.Chance(30)) in.prefixes.push_back(0xf0);
    g.Emit(in, wide ? "cmpxchg16b" : "cmpxchg8b");
    return;
  }
  int size = g.OpSize(true);
  bool byte = size == 8;
  g.SizePrefix(&in, size);
  bool xadd = g.Chance(40);
  in.opcode = {0x0f, B((xadd ? 0xc0 : 0xb0) + (byte ? 0 : 1))};
  TwoOperands(g, &in, size, 50);
  if (!xadd && g.Chance(50)) {
    // Make the accumulator equal to the destination so the store path runs.
    uint64_t v = in.rm_mem ? g.Peek(in.mem.target, size / 8) : g.Reg(in.rm);
    if (!g.Reserved(AX)) g.SetReg(AX, (g.Reg(AX) & ~((size == 64 ? 0 : (1ull << size)) - 1)) | (v & ((size == 64 ? 0 : (1ull << size)) - 1)));
  }
  MaybeLock(g, &in, true);
  g.Decorate(&in);
  g.Emit(in, (xadd ? "xadd" : "cmpxchg") + SizeTag(size));
}

void GenConvert(Gen& g) {
  Insn in;
  int size = g.OpSize(false);
  g.SizePrefix(&in, size);
  bool cwd = g.Chance(50);
  in.opcode = {B(cwd ? 0x99 : 0x98)};
  SetOperandValue(g, AX, size);
  g.Emit(in, (cwd ? "cwd" : "cbw") + SizeTag(size));
}

void GenMul(Gen& g) {
  Insn in;
  int form = static_cast<int>(g.Below(4));
  int size = g.OpSize(form == 0);
  g.SizePrefix(&in, size);
  if (form == 0) {  // MUL / IMUL r/m (one operand, rDX:rAX result)
    bool imul = g.Chance(50);
    in.opcode = {B(size == 8 ? 0xf6 : 0xf7)};
    SetOperandValue(g, AX, size);
    OneOperand(g, &in, imul ? 5 : 4, size, 40);
    g.Decorate(&in);
    g.c().flags_undefined |= SF | ZF | AF | PF;
    g.Emit(in, (imul ? "imul1-" : "mul") + SizeTag(size));
    return;
  }
  if (form == 1) {
    in.opcode = {0x0f, 0xaf};
  } else if (form == 2) {
    in.opcode = {0x69};
    in.imm = Imm(g.Value(size), ImmZ(size));
  } else {
    in.opcode = {0x6b};
    in.imm = Imm(g.Value(8), 1);
  }
  TwoOperands(g, &in, size, 40);
  g.Decorate(&in);
  g.c().flags_undefined |= SF | ZF | AF | PF;
  g.Emit(in, "imul" + std::to_string(form + 1) + "-" + SizeTag(size));
}

void GenDiv(Gen& g) {
  Insn in;
  int size = g.OpSize(true);
  bool idiv = g.Chance(50);
  g.SizePrefix(&in, size);
  in.opcode = {B(size == 8 ? 0xf6 : 0xf7)};
  g.Reserve(AX);
  g.Reserve(DX);
  OneOperand(g, &in, idiv ? 7 : 6, size, 40);
  uint64_t mask = size == 64 ? ~0ull : (1ull << size) - 1;
  uint64_t divisor = (in.rm_mem ? g.Peek(in.mem.target, size / 8) : g.Reg(in.rm)) & mask;
  // Dividend: random (often #DE), or chosen so the quotient fits.
  int hi_reg = size == 8 ? AX : DX;
  int hi_shift = size == 8 ? 8 : 0;
  uint64_t lo = g.Value(size) & mask, hi = g.Value(size) & mask;
  if (g.Chance(60) && divisor != 0) {
    if (!idiv) {
      hi = divisor ? hi % divisor : 0;
    } else {
      hi = (lo >> (size - 1)) & 1 ? mask : 0;  // sign extension of the low half
    }
  }
  if (idiv && g.Chance(5)) {  // the overflow edge: most negative / -1
    lo = 1ull << (size - 1);
    hi = mask;
  }
  uint64_t ax = g.Reg(AX), dx = g.Reg(DX);
  if (size == 8) {
    ax = (ax & ~0xffffull) | (hi << 8) | lo;
  } else {
    ax = (ax & ~mask) | lo;
    dx = (dx & ~mask) | hi;
  }
  (void)hi_reg;
  (void)hi_shift;
  g.SetReg(AX, ax);
  g.SetReg(DX, dx);
  g.Decorate(&in);
  g.c().flags_undefined |= CF | OF | SF | ZF | AF | PF;
  g.Emit(in, (idiv ? "idiv" : "div") + SizeTag(size));
}

void GenBcd(Gen& g) {
  // Invalid in 64-bit mode (#UD): still generated there.
  static const uint8_t kOps[6] = {0x27, 0x2f, 0x37, 0x3f, 0xd4, 0xd5};
  static const char* const kNames[6] = {"daa", "das", "aaa", "aas", "aam", "aad"};
  static const uint64_t kUndef[6] = {OF, OF, OF | SF | ZF | PF, OF | SF | ZF | PF, OF | AF | CF, OF | AF | CF};
  int k = static_cast<int>(g.Below(6));
  uint64_t ax = g.Reg(AX) & ~0xffffull;
  if (g.Chance(60)) {  // packed/unpacked BCD-looking inputs
    ax |= (g.Below(10) << 12) | (g.Below(16) << 8) | (g.Below(10) << 4) | g.Below(16);
  } else {
    ax |= g.Rand() & 0xffff;
  }
  g.SetReg(AX, ax);
  Insn in;
  in.opcode = {kOps[k]};
  if (k >= 4) in.imm = {static_cast<uint8_t>(g.Chance(70) ? 10 : g.Chance(10) ? 0 : g.Rand())};
  g.c().flags_undefined |= kUndef[k];
  g.Emit(in, kNames[k]);
}

void GenMovbe(Gen& g) {
  Insn in;
  int size = g.OpSize(false);
  g.SizePrefix(&in, size);
  bool store = g.Chance(50);
  in.opcode = {0x0f, 0x38, B(store ? 0xf1 : 0xf0)};
  in.modrm = true;
  in.reg = g.PickReg();
  SetOperandValue(g, in.reg, size);
  if (g.Chance(3)) {
    in.rm = g.PickReg();  // register operand: #UD
  } else {
    bool ao = g.Chance(20);
    g.MemTo(&in, g.Target(ao), ao);
    SetMemValue(g, in, size);
  }
  g.Emit(in, "movbe" + SizeTag(size));
}

}  // namespace emu::x86::difftest
