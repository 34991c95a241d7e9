// The normalized result of decoding one x86 instruction, consumed by the translator
// (target-x86/translate/) and the KVM emulation fallback.
//
// Contract of Decode():
//  - Reads at most min(avail, 15) bytes from `bytes`; never allocates.
//  - kOk: `out` is fully filled; out->length bytes were consumed.
//  - kNeedMoreBytes: the instruction continues past `avail` bytes (e.g. it straddles a
//    page); call again with more bytes. `out` is unspecified.
//  - kUndefined: the bytes are an invalid opcode for this mode, a LOCK prefix where LOCK
//    is not allowed, or an encoding we deliberately do not implement yet (VEX, EVEX,
//    XOP, 3DNow!): the guest gets #UD. out->length is the number of bytes examined when
//    it is known, and out->bytes holds them.
//  - kGeneralProtection: the instruction is longer than 15 bytes: the guest gets #GP(0).
//
// Operand sizes are in bytes. Immediates are already sign- or zero-extended to 64 bits
// as the SDM defines for that form; relative branch offsets are sign-extended and are
// relative to the end of the instruction (target = (next_ip + rel) truncated to the
// operand size, which the translator applies).
#pragma once

#include <cstddef>
#include <cstdint>

namespace emu::x86 {

// One enumerator per mnemonic (see mnemonics.def). Conditional forms (Jcc, SETcc,
// CMOVcc) share one mnemonic and carry the condition in DecodedInst::cond.
enum class Mnemonic : uint16_t {
#define M(name) name,
#include "target-x86/decode/mnemonics.def"
#undef M
  kCount
};

// Name of a mnemonic in upper case ("ADD"); "?" for an out-of-range value.
const char* MnemonicName(Mnemonic m);

// The code segment's execution mode: 16-bit (real mode, vm86, or CS.D=0 in protected mode),
// 32-bit (CS.D=1), 64-bit (long mode with CS.L=1). Compatibility mode is k16/k32.
enum class CpuMode : uint8_t { k16, k32, k64 };

// Default operand/address size of the mode in bytes (2, 4, or 4 for 64-bit: operand size
// defaults to 32 bits in long mode; address size defaults to 8 there).
constexpr unsigned DefaultOperandSize(CpuMode m) { return m == CpuMode::k16 ? 2 : 4; }
constexpr unsigned DefaultAddressSize(CpuMode m) {
  return m == CpuMode::k16 ? 2 : m == CpuMode::k32 ? 4 : 8;
}

enum class DecodeStatus : uint8_t {
  kOk,
  kNeedMoreBytes,
  kUndefined,          // #UD
  kGeneralProtection,  // #GP(0): longer than 15 bytes
};

enum class RegClass : uint8_t {
  kNone,
  kGpr8,      // AL,CL,DL,BL, SPL..DIL (reg 4-7 with any REX prefix), R8B..R15B
  kGpr8High,  // AH,CH,DH,BH (reg 4-7 without REX): reg holds 0-3, the low-byte register index
  kGpr16,
  kGpr32,
  kGpr64,
  kSeg,  // reg is SegReg (ES..GS)
  kCr,   // CR0..CR15
  kDr,   // DR0..DR15
  kSt,   // x87 ST(i): reg is i (relative to TOP)
  kMmx,  // MM0..MM7
  kXmm,  // XMM0..XMM15
};

struct MemOperand {
  uint8_t seg = 0;        // effective segment: the override, else DS/SS by base register
  int8_t base = -1;       // GPR index 0-15, or -1
  int8_t index = -1;      // GPR index 0-15, or -1
  uint8_t scale = 1;      // 1, 2, 4, 8
  bool rip_relative = false;  // disp is relative to the end of the instruction (64-bit)
  uint8_t address_size = 0;   // 2, 4, 8: the width of the effective-address computation
  int64_t disp = 0;           // sign-extended displacement (moffs: zero-extended offset)
};

enum class OperandKind : uint8_t {
  kNone,
  kReg,
  kMem,
  kImm,     // imm: value extended to 64 bits as the instruction defines
  kRel,     // imm: sign-extended branch offset relative to the next instruction
  kFarPtr,  // imm: offset, selector: segment selector (EA/9A direct far jmp/call)
};

struct Operand {
  OperandKind kind = OperandKind::kNone;
  RegClass reg_class = RegClass::kNone;  // kReg
  uint8_t reg = 0;                       // kReg: register number within its class
  uint16_t size = 0;  // bytes accessed/produced (memory: 0 for LEA-like/no access)
  MemOperand mem;     // kMem
  int64_t imm = 0;    // kImm, kRel, kFarPtr (offset)
  uint16_t selector = 0;  // kFarPtr
};

// Prefix bits present on the instruction (as encoded; whether a prefix changed the
// meaning is reflected in operand_size/address_size/mnemonic).
enum : uint16_t {
  kPrefixLock = 1 << 0,
  kPrefixRep = 1 << 1,    // F3 (REP / REPE / REPZ), last of F2/F3 wins
  kPrefixRepne = 1 << 2,  // F2 (REPNE / REPNZ)
  kPrefixOpSize = 1 << 3,    // 66
  kPrefixAddrSize = 1 << 4,  // 67
  kPrefixSeg = 1 << 5,       // a segment override: DecodedInst::segment_override
  kPrefixRex = 1 << 6,       // an effective REX prefix (immediately before the opcode)
};

// Which opcode map the opcode byte came from.
enum class OpcodeMap : uint8_t { kPrimary, k0F, k0F38, k0F3A };

struct DecodedInst {
  Mnemonic mnemonic = Mnemonic::kCount;
  uint8_t length = 0;
  // Effective operand size in bytes: the operand-size attribute (2, 4, 8); 1 for byte forms;
  // 2 or 4 for forms whose sized operands are all 16/32-bit only (IN/OUT/INS/OUTS eAX).
  uint8_t operand_size = 0;
  uint8_t address_size = 0;  // effective address-size attribute: 2, 4, 8
  uint8_t num_operands = 0;  // explicit operands in Intel (destination-first) order
  Operand ops[4];
  uint16_t prefixes = 0;        // kPrefix* bits
  // SegReg of the last segment-override prefix, valid when kPrefixSeg is set. In 64-bit mode
  // only FS/GS count (CS/DS/ES/SS prefixes are null prefixes there).
  uint8_t segment_override = 0;
  uint8_t rex = 0;               // the REX byte (0x40-0x4f) when kPrefixRex, else 0
  OpcodeMap map = OpcodeMap::kPrimary;
  uint8_t opcode = 0;  // the opcode byte within its map
  bool has_modrm = false;
  uint8_t modrm = 0;
  uint8_t cond = 0;    // Jcc/SETcc/CMOVcc/FCMOVcc condition code (the SDM's tttn, 0-15)
  uint8_t bytes[15] = {};

  bool rex_w() const { return rex & 8; }
  bool rep() const { return prefixes & kPrefixRep; }
  bool repne() const { return prefixes & kPrefixRepne; }
  bool lock() const { return prefixes & kPrefixLock; }
};

// Decodes one instruction. See the contract at the top of this file.
DecodeStatus Decode(const uint8_t* bytes, size_t avail, CpuMode mode, DecodedInst* out);

}  // namespace emu::x86
