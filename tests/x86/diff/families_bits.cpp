// Shift, rotate and bit families: SHL/SHR/SAR/SAL/ROL/ROR/RCL/RCR in every count form,
// SHLD/SHRD, BT/BTS/BTR/BTC (incl. register bit offsets into memory), BSF/BSR/POPCNT/
// LZCNT/TZCNT. (Undefined-flag rules: families.h.)
#include "tests/x86/diff/families.h"

namespace emu::x86::difftest {
namespace {

uint8_t B(int x) { return static_cast<uint8_t>(x); }

// Counts that exercise the masking and the size boundaries.
unsigned ShiftCount(Gen& g, int size) {
  const unsigned k[] = {0, 1, 2, static_cast<unsigned>(size - 1), static_cast<unsigned>(size),
                        static_cast<unsigned>(size + 1), 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64,
                        65, 127, 128, 255};
  return g.Chance(75) ? g.Pick(k) & 0xff : g.Rand() & 0xff;
}

void Operand(Gen& g, Insn* in, int ext, int size) {
  in->modrm = true;
  in->reg = ext;
  g.RmOperand(in, 35);
  if (in->rm_mem) {
    SetMemValue(g, *in, size);
  } else {
    SetOperandValue(g, in->rm, size);
  }
}

}  // namespace

void GenShift(Gen& g) {
  static const char* const kNames[8] = {"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"};
  int size = g.OpSize(true);
  bool byte = size == 8;
  int ext = static_cast<int>(g.Below(8));
  int form = static_cast<int>(g.Below(3));  // 0: by 1, 1: by CL, 2: by imm8
  unsigned count = form == 0 ? 1 : ShiftCount(g, size);
  Insn in;
  g.SizePrefix(&in, size);
  if (form == 1) {
    g.SetReg(CX, (g.Reg(CX) & ~0xffull) | count);
    g.Reserve(CX);
  }
  in.opcode = {B((form == 0 ? 0xd0 : form == 1 ? 0xd2 : 0xc0) + (byte ? 0 : 1))};
  Operand(g, &in, ext, size);
  if (form == 2) in.imm = {B(count)};
  unsigned masked = count & (size == 64 ? 63 : 31);
  uint64_t& undef = g.c().flags_undefined;
  if (masked != 0) {
    if (ext >= 4) {  // SHL SHR SAL SAR
      undef |= AF;
      if (masked != 1) undef |= OF;
      if (ext != 7 && masked >= static_cast<unsigned>(size)) undef |= CF;
    } else if (masked != 1) {  // rotates
      undef |= OF;
    }
  }
  g.Decorate(&in);
  g.Emit(in, kNames[ext] + std::to_string(size) + (form == 0 ? ",1" : form == 1 ? ",cl" : ",imm"));
}

void GenShiftDouble(Gen& g) {
  int size = g.OpSize(false);
  bool right = g.Chance(50);
  bool by_cl = g.Chance(50);
  unsigned count = ShiftCount(g, size);
  unsigned masked = count & (size == 64 ? 63 : 31);
  if (size == 16 && masked > 16) {
    // Above the operand size the result and the flags are undefined: not generated.
    count = count & ~0x1fu;
    count |= g.Below(17);
    masked = count & 31;
  }
  Insn in;
  g.SizePrefix(&in, size);
  if (by_cl) {
    g.SetReg(CX, (g.Reg(CX) & ~0xffull) | count);
    g.Reserve(CX);
  }
  in.opcode = {0x0f, B((right ? 0xac : 0xa4) + (by_cl ? 1 : 0))};
  in.modrm = true;
  in.reg = g.PickReg();
  SetOperandValue(g, in.reg, size);
  g.RmOperand(&in, 35);
  if (in.rm_mem) {
    SetMemValue(g, in, size);
  } else {
    SetOperandValue(g, in.rm, size);
  }
  if (!by_cl) in.imm = {B(count)};
  if (masked != 0) {
    g.c().flags_undefined |= AF;
    if (masked != 1) g.c().flags_undefined |= OF;
  }
  g.Decorate(&in);
  g.Emit(in, std::string(right ? "shrd" : "shld") + std::to_string(size) + (by_cl ? ",cl" : ",imm"));
}

void GenBitTest(Gen& g) {
  static const char* const kNames[4] = {"bt", "bts", "btr", "btc"};
  int size = g.OpSize(false);
  int k = static_cast<int>(g.Below(4));
  Insn in;
  g.SizePrefix(&in, size);
  in.modrm = true;
  bool imm = g.Chance(40);
  if (imm) {
    in.opcode = {0x0f, 0xba};
    in.reg = 4 + k;
    in.imm = {B(g.Chance(70) ? g.Below(size) : g.Rand())};
  } else {
    in.opcode = {0x0f, B(0xa3 + 8 * k)};
    in.reg = g.PickFreeReg();
    // A register bit offset is signed and may leave the operand (memory forms): keep it
    // within +-1024 bits of the operand, with garbage above the operand size.
    int64_t off = g.Chance(50) ? static_cast<int64_t>(g.Below(size)) : static_cast<int64_t>(g.Below(2048)) - 1024;
    uint64_t mask = size == 64 ? ~0ull : (1ull << size) - 1;
    g.SetReg(in.reg, (g.Rand() & ~mask) | (static_cast<uint64_t>(off) & mask));
    g.Reserve(in.reg);
  }
  g.RmOperand(&in, 50);
  if (in.rm_mem) {
    // The operand's neighbourhood must be in the data region: keep it in the middle.
    SetMemValue(g, in, size);
  } else {
    SetOperandValue(g, in.rm, size);
  }
  if (k != 0 && in.rm_mem && g.Chance(25)) in.prefixes.push_back(0xf0);
  g.c().flags_undefined |= OF | SF | AF | PF;
  g.Decorate(&in);
  g.Emit(in, kNames[k] + std::to_string(size) + (imm ? ",imm" : ",reg"));
}

void GenBitScan(Gen& g) {
  static const char* const kNames[5] = {"bsf", "bsr", "popcnt", "lzcnt", "tzcnt"};
  int k = static_cast<int>(g.Below(5));
  int size = g.OpSize(false);
  Insn in;
  g.SizePrefix(&in, size);
  static const uint8_t kOps[5] = {0xbc, 0xbd, 0xb8, 0xbd, 0xbc};
  if (k >= 2) in.prefixes.push_back(0xf3);
  in.opcode = {0x0f, kOps[k]};
  in.modrm = true;
  in.reg = g.PickReg();
  g.RmOperand(&in, 40);
  uint64_t mask = size == 64 ? ~0ull : (1ull << size) - 1;
  uint64_t v = g.Chance(15) ? 0 : g.Value(size);
  if (in.rm_mem) {
    g.Poke(in.mem.target, v, size / 8);
  } else if (!g.Reserved(in.rm)) {
    g.SetReg(in.rm, v);
  } else {
    v = g.Reg(in.rm);
  }
  if (k < 2) {
    g.c().flags_undefined |= CF | OF | SF | AF | PF;
    // BSF/BSR with a zero source: the destination is undefined (Intel keeps it; AMD too).
    if ((v & mask) == 0) g.c().regs_undefined |= static_cast<uint16_t>(1u << in.reg);
  } else if (k > 2) {
    g.c().flags_undefined |= OF | SF | AF | PF;
  }
  g.Decorate(&in);
  g.Emit(in, kNames[k] + std::to_string(size));
}

}  // namespace emu::x86::difftest
