// Helpers called from translated x86 code (signature accel::tcg::HelperFn:
// ctx, a, b, c -> u64). Each records an exception and sets ctx->exit when it
// faults; translated code calls those with kHelperMayExit.
#pragma once

#include "accel/tcg/exec_context.h"

namespace emu::x86 {

using HCtx = accel::tcg::ExecContext;
struct CpuState;
// Segment limit/type rules of one data access (arith.cpp), and whether any data segment
// needs them (ComputeTbFlags: kTbSegChecks; HelperString).
bool SegDataAccessOk(const CpuState& s, unsigned seg, uint64_t off, unsigned size, bool write);
bool SegChecksNeeded(const CpuState& s);
#define X86_HELPER(name) uint64_t name(HCtx* ctx, uint64_t a, uint64_t b, uint64_t c)

// Flags.
X86_HELPER(HelperArithFlags);   // -> CF|PF|AF|ZF|SF|OF from the lazy state
X86_HELPER(HelperGetEflags);    // -> full RFLAGS
X86_HELPER(HelperSetEflags);    // a = value, b = mask of writable bits (POPF/IRET rules done by caller)
X86_HELPER(HelperPopf);         // a = value, b = operand size: applies privilege rules
// Exceptions.
X86_HELPER(HelperRaise);        // a = vector, b = error | has_error << 32
X86_HELPER(HelperIntN);         // a = vector, b = next rip, c = 1 for INT3/INTO (no IOPL check)
// Arithmetic.
X86_HELPER(HelperDiv);          // a = divisor, b = size | signed << 8 (uses/updates rAX/rDX)
X86_HELPER(HelperBcd);          // a = which (0 DAA 1 DAS 2 AAA 3 AAS 4 AAM 5 AAD), b = imm
X86_HELPER(HelperBound);        // a = index, b = lower, c = upper (sign-extended): #BR if outside
X86_HELPER(HelperCsLimit);      // a = near branch target eip: #GP(0) if above the CS limit
X86_HELPER(HelperSegCheck);     // a = offset, b = seg | size << 8 | write << 16: #GP(0)/#SS(0) unless allowed
// Shifts/rotates: a = value, b = count (SHLD/SHRD: the second operand), c = kind |
// size << 8 (| count << 16 for SHLD/SHRD). Returns the result; flags -> scratch_flags.
X86_HELPER(HelperShift);
X86_HELPER(HelperCmpxchg16b);   // a = linear address, b = 8 (8B) or 16 (16B)
// Strings: a = kind | size << 8 | rep << 12 | addr_size << 16 | seg << 24, b = next rip
X86_HELPER(HelperString);
// I/O.
X86_HELPER(HelperIn);           // a = port, b = size
X86_HELPER(HelperOut);          // a = port, b = value, c = size
// System.
X86_HELPER(HelperCpuid);
X86_HELPER(HelperRdtsc);        // a = 1 for RDTSCP
X86_HELPER(HelperRdmsr);
X86_HELPER(HelperWrmsr);
X86_HELPER(HelperHlt);          // a = next rip
X86_HELPER(HelperMovToCr);      // a = cr, b = value
X86_HELPER(HelperMovFromCr);    // a = cr
X86_HELPER(HelperMovToDr);      // a = dr, b = value
X86_HELPER(HelperMovFromDr);    // a = dr
X86_HELPER(HelperDebugInsn);    // a = linear pc: #DB at an enabled instruction breakpoint
X86_HELPER(HelperDebugData);    // #DB for data breakpoints hit by the previous instruction
X86_HELPER(HelperDebugStep);    // single-step #DB (DR6.BS)
X86_HELPER(HelperLoadSeg);      // a = seg, b = selector
X86_HELPER(HelperDescTable);    // a = which (0 LGDT 1 LIDT 2 SGDT 3 SIDT), b = linear address, c = opsize
X86_HELPER(HelperLldtLtr);      // a = 0 LLDT / 1 LTR, b = selector
X86_HELPER(HelperInvlpg);       // a = linear address
X86_HELPER(HelperLmsw);         // a = value
X86_HELPER(HelperClts);
X86_HELPER(HelperFarJmp);       // a = selector, b = offset, c = opsize | next_rip << 8
X86_HELPER(HelperFarCall);      // a = selector, b = offset, c = opsize | next_rip << 8
X86_HELPER(HelperFarRet);       // a = opsize, b = extra pop bytes
X86_HELPER(HelperIret);         // a = opsize, b = next rip
X86_HELPER(HelperSyscall);      // a = next rip
X86_HELPER(HelperSysret);       // a = opsize
X86_HELPER(HelperSysenter);
X86_HELPER(HelperSysexit);      // a = opsize
X86_HELPER(HelperSwapgs);
X86_HELPER(HelperLarLsl);       // a = 0 LAR / 1 LSL, b = selector -> value | valid << 32 (sets ZF)
X86_HELPER(HelperVerrVerw);     // a = 0 VERR / 1 VERW, b = selector (sets ZF)
X86_HELPER(HelperSti);          // sets IF and the interrupt shadow
X86_HELPER(HelperCli);
X86_HELPER(HelperFxsave);       // a = linear address, b = 1 for FXRSTOR
X86_HELPER(HelperLdStMxcsr);    // a = linear, b = 1 load / 0 store
X86_HELPER(HelperUnimplemented);
// SSE integer/logic ops: a = SseOp, b = destination xmm, c = source xmm (16 =
// env.xmm_tmp) | imm8 << 8. PMOVMSKB/MOVMSKPS/PEXTRW return their result.
enum SseOp : unsigned {
  kSseAnd, kSseAndn, kSseOr, kSseXor,
  kSseAddB, kSseAddW, kSseAddD, kSseAddQ, kSseSubB, kSseSubW, kSseSubD, kSseSubQ,
  kSseAddUsB, kSseAddUsW, kSseSubUsB, kSseSubUsW, kSseAddSB, kSseAddSW, kSseSubSB, kSseSubSW,
  kSseCmpEqB, kSseCmpEqW, kSseCmpEqD, kSseCmpGtB, kSseCmpGtW, kSseCmpGtD,
  kSseMinUB, kSseMaxUB, kSseMinSW, kSseMaxSW, kSseAvgB, kSseAvgW,
  kSseMulLW, kSseMulHW, kSseMulHUW, kSseMulUDQ, kSseMAddWD, kSseSadBW,
  kSseUnpckLBW, kSseUnpckLWD, kSseUnpckLDQ, kSseUnpckLQDQ,
  kSseUnpckHBW, kSseUnpckHWD, kSseUnpckHDQ, kSseUnpckHQDQ,
  kSsePackSSWB, kSsePackUSWB, kSsePackSSDW,
  kSseShufD, kSseShufLW, kSseShufHW, kSseShufPS,
  kSseSllW, kSseSllD, kSseSllQ, kSseSrlW, kSseSrlD, kSseSrlQ, kSseSraW, kSseSraD,
  kSseSllDQ, kSseSrlDQ,
  kSsePMovMskB, kSseMovMskPS, kSseMovMskPD, kSsePExtrW, kSsePInsrW,
  kSseUnpckLPS, kSseUnpckHPS,
};
X86_HELPER(HelperSse);
X86_HELPER(HelperSseFp);        // SSE/SSE2 floating point, see sse_fp.h
X86_HELPER(HelperCheckAlign16);  // a = linear address: #GP(0) unless 16-byte aligned  // a = mnemonic: prints once and raises #UD

}  // namespace emu::x86
