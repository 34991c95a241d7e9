// Internal to the decoder: the opcode-form tables built from the .def files and the
// per-opcode index the decoder searches. Not part of the translator's interface.
#pragma once

#include <cstdint>

#include "target-x86/decode/decoded_inst.h"

namespace emu::x86::decode {

// Where an operand comes from (see operands.def).
enum class Loc : uint8_t {
  None, Rm, Reg, RmReg, RmAlwaysReg, Mem, Imm, ImmS, Rel, FarPtr, Moffs, One,
  StrSrc, StrDst, Xlat, Fixed, OpReg,
};
enum class Cls : uint8_t { None, Gpr, Seg, Cr, Dr, St, Mmx, Xmm };
enum class Sz : uint8_t {
  S0, S1, S2, S4, S8, S10, S16, S512, SV, SY, SZ, SC, SP, SA, SDESC, SENV, SFSAVE, SADDR,
};

struct OperandSpec {
  Loc loc;
  Cls cls;
  Sz reg_size;
  Sz mem_size;
  uint8_t fixed;
};

enum class Opd : uint8_t {
#define O(name, loc, cls, rs, ms, n) name,
#include "target-x86/decode/operands.def"
#undef O
  kCount
};

extern const OperandSpec kOperandSpecs[];

// ModRM selector of a form: which mod/reg/rm values it accepts.
enum : uint16_t {
  kSelModAny = 0, kSelModMem = 1, kSelModReg = 2,
  kSelHasModrm = 1 << 2,
  kSelRegShift = 3,  // 4 bits: 0-7 or 8 = any
  kSelRmShift = 7,   // 4 bits: 0-7 or 8 = any
};
constexpr uint16_t MakeSel(unsigned mod, unsigned reg, unsigned rm) {
  return static_cast<uint16_t>(mod | kSelHasModrm | (reg << kSelRegShift) | (rm << kSelRmShift));
}

// Mandatory-prefix requirement (see map_primary.def).
enum class Pfx : uint8_t { P_, NP, NF, P66, PF3, PF2 };

// Form attributes.
enum : uint16_t {
  LOCK = 1 << 0, I64 = 1 << 1, O64 = 1 << 2, D64 = 1 << 3, F64 = 1 << 4, PLUSR = 1 << 5,
  REXB = 1 << 6, COND = 1 << 7, REXW = 1 << 8,
};

struct Form {
  uint8_t opcode;
  uint16_t sel;  // 0 = no selector (ModRM presence follows from the operands)
  Pfx pfx;
  Mnemonic mnemonic;
  Opd ops[4];
  uint16_t attrs;
};

// All forms of one opcode byte of one map, in table order (first match wins).
struct OpcodeEntry {
  const uint16_t* forms;  // indices into the map's form array
  uint8_t count;
  bool has_modrm;
};

struct MapTable {
  const Form* forms;
  unsigned num_forms;
  OpcodeEntry entries[256];
};

// The four opcode maps, indexed by OpcodeMap. Built once on first use.
const MapTable& GetMap(OpcodeMap map);

bool FormNeedsModrm(const Form& f);

}  // namespace emu::x86::decode
