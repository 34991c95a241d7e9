// Instruction families of the differential tests. Each generator appends one instruction
// (or a short fixed sequence) to the case being built, sets up the registers and memory it
// needs, and records what the SDM leaves undefined for that exact operand combination.
//
// The undefined-flag rules (Intel SDM Vol. 2, each instruction's "Flags Affected"):
//   logic (AND OR XOR TEST)          AF
//   MUL / IMUL (all forms)           SF ZF AF PF
//   DIV / IDIV                       CF OF SF ZF AF PF
//   SHL SAL SHR SAR (count != 0)     AF; OF unless count == 1; CF for SHL/SHR when
//                                    count >= operand size (8/16-bit operands)
//   ROL ROR RCL RCR (count != 0)     OF unless count == 1
//   SHLD SHRD (count != 0)           AF; OF unless count == 1 (counts above the operand
//                                    size leave result and flags undefined: not generated)
//   BT BTS BTR BTC                   OF SF AF PF
//   BSF BSR                          CF OF SF AF PF; the destination when the source is 0
//   LZCNT TZCNT                      OF SF AF PF
//   DAA DAS                          OF
//   AAA AAS                          OF SF ZF PF
//   AAM AAD                          OF AF CF
// "count" is the count after masking to 5 bits (6 with REX.W). A zero count changes no flag.
#pragma once

#include <vector>

#include "tests/x86/diff/gen.h"

namespace emu::x86::difftest {

enum ModeBits : unsigned { k16 = 1, k32 = 2, k64 = 4, kAllModes = 7 };

struct Family {
  const char* name;
  void (*gen)(Gen&);
  unsigned modes;
  int cases;       // cases per mode in the suite
  bool consumer;   // may be followed by a flag/condition consumer
};

const std::vector<Family>& Families();
const Family* FindFamily(const std::string& name);

// Builds one case of `f` (a random state, the family's instruction, maybe a consumer).
Case Generate(const Family& f, Gen& g);

// Shared by the family files.
std::vector<uint8_t> Imm(uint64_t v, int bytes);
// Immediate size in bytes for an operand of `size` bits (Iz: 16 -> 2, else 4; 8 -> 1).
int ImmZ(int size);
// Sets a register to an edge-case value for an operand of `size` bits, unless reserved.
void SetOperandValue(Gen& g, int reg, int size);
// Fills the memory operand of `in` (if any) with an edge-case value of `size` bits.
void SetMemValue(Gen& g, const Insn& in, int size);
// Producers used by the condition family and sequences.
void GenAlu(Gen& g);
void GenIncDec(Gen& g);
void GenShift(Gen& g);
void GenMul(Gen& g);
void GenBitTest(Gen& g);
// Appends an instruction reading only flags that are defined at this point.
void AppendConsumer(Gen& g);

// Family generators (families_*.cpp).
void GenMov(Gen& g);
void GenMovExt(Gen& g);
void GenLea(Gen& g);
void GenXchg(Gen& g);
void GenCmpxchg(Gen& g);
void GenConvert(Gen& g);
void GenShiftDouble(Gen& g);
void GenDiv(Gen& g);
void GenBcd(Gen& g);
void GenBitScan(Gen& g);
void GenCond(Gen& g);
void GenControl(Gen& g);
void GenLoop(Gen& g);
void GenString(Gen& g);
void GenStack(Gen& g);
void GenEnterLeave(Gen& g);
void GenFlagOps(Gen& g);
void GenMovbe(Gen& g);
void GenFaults(Gen& g);
void GenBound(Gen& g);
void GenSequence(Gen& g);
// families_more.cpp
void GenNop(Gen& g);
void GenLongInsn(Gen& g);
void GenLockRules(Gen& g);
void GenNearBranch66(Gen& g);
void GenSeg(Gen& g);
void GenFsGs(Gen& g);
void GenSegLimit16(Gen& g);

}  // namespace emu::x86::difftest
