// Case generator for the differential tests of the translator against the host CPU:
// random initial states, an x86 encoder that picks every legal operand form (registers,
// every ModRM/SIB addressing form incl. 16-bit addressing and the 67 prefix, RIP-relative)
// and makes memory operands land in the case's data region.
//
// A case is machine code plus an initial state (oracle::Request) and what the SDM leaves
// undefined for it (flags, registers). Families (families.h) append instructions to it.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tests/x86/oracle/oracle.h"

namespace emu::x86::difftest {

using oracle::Mode;

enum : uint64_t {
  CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800,
  kArith = CF | PF | AF | ZF | SF | OF,
};

enum Gpr { AX, CX, DX, BX, SP, BP, SI, DI };

// Where each mode's case memory lives (linear in 64/32-bit mode, offsets in the 16-bit data
// segment). The data region straddles a page boundary; memory operands land in its middle.
struct Layout {
  uint64_t data, data_size;    // operands
  uint64_t stack, stack_size;  // the stack; SP starts in its middle
  uint64_t sp;
  uint64_t low, low_size;      // 32-bit mode only: below 64 KiB, for 16-bit addressing
};
const Layout& LayoutFor(Mode m);

struct Case {
  std::string family;
  oracle::Request req;
  uint64_t flags_undefined = 0;  // flags the SDM calls undefined here (see the families)
  uint16_t regs_undefined = 0;   // GPRs whose final value the SDM calls undefined
  bool sp_operand = false;       // an instruction names rSP as an operand (it may move it)
  std::vector<std::string> notes;  // one per instruction: what it is (for messages)
};

// One memory operand: its encoding and the linear/segment address it resolves to.
struct MemOperand {
  bool addr16 = false;    // 16-bit ModRM addressing
  bool rip_rel = false;   // disp is patched once the instruction's end is known
  uint8_t mod = 0, rm = 0;
  bool has_sib = false;
  uint8_t sib = 0;
  bool rex_x = false, rex_b = false;
  int disp_size = 0;  // 0, 1, 2, 4
  int64_t disp = 0;
  uint64_t target = 0;  // where it points
};

// One instruction being encoded.
struct Insn {
  std::vector<uint8_t> prefixes;  // legacy prefixes, in order
  bool rex_w = false;
  bool rex = false;          // emit a REX even when no bit is set (byte registers SPL..DIL)
  std::vector<uint8_t> opcode;
  bool modrm = false;
  int reg = 0;               // ModRM.reg (a register 0-15 or an opcode extension)
  bool rm_mem = false;
  int rm = 0;                // register form: the register 0-15
  MemOperand mem;
  int opreg = -1;            // register in the opcode's low 3 bits (+REX.B), e.g. 50+r
  std::vector<uint8_t> imm;
};

class Gen {
 public:
  Gen(Mode mode, uint64_t seed);

  Mode mode() const { return mode_; }
  int bits() const { return mode_ == Mode::k64 ? 64 : mode_ == Mode::k32 ? 32 : 16; }
  int nregs() const { return mode_ == Mode::k64 ? 16 : 8; }
  std::mt19937_64& rng() { return rng_; }

  // Starts a new case: random registers (SP in the stack region), flags, memory.
  void Begin(const std::string& family);
  Case& c() { return case_; }
  Case Take() { return std::move(case_); }

  uint64_t Rand() { return rng_(); }
  uint64_t Below(uint64_t n) { return n ? rng_() % n : 0; }
  bool Chance(int percent) { return Below(100) < static_cast<uint64_t>(percent); }
  template <typename T, size_t N>
  T Pick(const T (&a)[N]) { return a[Below(N)]; }
  // A value whose low `bits` bits are an edge case (0, 1, -1, sign boundaries, max/min)
  // or random, and whose upper bits are random.
  uint64_t Value(int bits);
  // An operand size in bits for the mode: 16/32 (+64 in 64-bit mode), +8 when `byte`.
  int OpSize(bool byte);

  // Registers: full values (the low 32 bits outside 64-bit mode).
  uint64_t Reg(int r) const { return case_.req.in.gpr[r]; }
  void SetReg(int r, uint64_t v);
  // Registers with a fixed role in this case (addresses, counts): not picked again.
  void Reserve(int r) { reserved_ |= 1u << r; }
  bool Reserved(int r) const { return (reserved_ >> r) & 1; }
  // A random register (not SP unless allow_sp, not reserved unless allow_reserved).
  int PickReg(bool allow_sp = true, bool allow_reserved = true);
  int PickFreeReg() { return PickReg(false, false); }

  // Memory: read/write the initial contents (address as in Layout).
  void Poke(uint64_t addr, uint64_t v, int bytes);
  uint64_t Peek(uint64_t addr, int bytes) const;
  // A random operand address in the data region, aligned to `align` (1 = any).
  uint64_t DataTarget(int align = 1);
  // An operand address reachable with/without the 67 prefix (the low region for 16-bit
  // addressing in 32-bit mode).
  uint64_t Target(bool addr_override, int align = 1);

  // A memory operand pointing at `target` through a random addressing form of the
  // current address size (67 prefix on `insn` with `addr_override`), setting and
  // reserving its base/index registers.
  void MemTo(Insn* insn, uint64_t target, bool addr_override);
  // Sequences after their first instruction: registers may hold anything, so no memory
  // operands (their address registers would no longer point at the data).
  void set_no_memory(bool v) { no_memory_ = v; }
  // Register or (with `mem_pct` percent) memory r/m operand of any form.
  void RmOperand(Insn* insn, int mem_pct);
  // Operand-size prefixes for `size` bits (66 / REX.W), with the mode's default.
  void SizePrefix(Insn* insn, int size);
  // Random harmless extras: segment override (DS/SS/ES where it is a no-op), a redundant
  // REX, repeated 66.
  void Decorate(Insn* insn);

  // Appends the encoded instruction to the case's code. Returns its offset.
  size_t Emit(Insn insn, const std::string& note);
  void EmitBytes(const std::vector<uint8_t>& b, const std::string& note);
  size_t CodeSize() const { return case_.req.code.size(); }
  // The address (linear, or IP in 16-bit mode) of code offset `off`.
  uint64_t CodeAddress(size_t off) const { return oracle::SnippetAddress(mode_) + off; }
  // Address size in bits with/without a 67 prefix.
  int AddrSize(bool override) const;

 private:
  void MemAddr16(Insn* insn, uint64_t target);
  void MemAddr3264(Insn* insn, uint64_t target, int asize);

  Mode mode_;
  std::mt19937_64 rng_;
  Case case_;
  uint32_t reserved_ = 0;
  bool no_memory_ = false;
};

std::string Hex(const std::vector<uint8_t>& bytes);

}  // namespace emu::x86::difftest
