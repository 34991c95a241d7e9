// Real-CPU oracle for the translator's differential tests: runs a code snippet natively,
// in a forked child process, from given registers, flags and memory, and returns the final
// registers, flags and memory (or the exception the snippet raised).
//
//  - 64-bit snippets run directly in an mmap'ed page.
//  - 32-bit snippets run in compatibility mode through the 32-bit user code selector Linux
//    gives every 64-bit process (0x23), entered by a far call from a 64-bit trampoline on a
//    stack below 4 GiB and left by a far return.
//  - 16-bit snippets run in a 16-bit code segment the child installs in its LDT with
//    modify_ldt; DS/ES/SS are a 16-bit data segment (64 KiB), so memory addresses and SP
//    are offsets in that segment.
//
// The snippet runs from its first byte and must end by falling off its end (no RET); it
// may use the stack. Only the child is affected by what the snippet does.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emu::x86::oracle {

enum class Mode { k16, k32, k64 };

struct Regs {
  // RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15 (16/32-bit modes use the low 8, and
  // only their low 32 bits).
  uint64_t gpr[16] = {};
  // On input only CF, PF, AF, ZF, SF, DF, OF are taken; on output the CPU's whole
  // (E/R)FLAGS as PUSHF stores it (PUSHFD in 16-bit mode).
  uint64_t flags = 0;
  // XMM0-15 (16/32-bit modes: XMM0-7), loaded before and stored after the snippet.
  uint8_t xmm[16][16] = {};
};

struct Region {
  // 64/32-bit: a linear address (32-bit: below 4 GiB); 16-bit: an offset in the data
  // segment, below kData16Limit. Regions are mapped read/write (and executable).
  uint64_t addr = 0;
  std::vector<uint8_t> bytes;
};

constexpr uint64_t kData16Limit = 0xe000;  // 16-bit offsets above hold the harness's state

struct Request {
  Mode mode = Mode::k64;
  std::vector<uint8_t> code;
  Regs in;
  // If in.gpr[RSP] is 0, the oracle provides a stack and sets RSP to its top.
  std::vector<Region> mem;
  unsigned timeout_ms = 2000;
  // 64-bit mode: FS and GS bases while the snippet runs (FS 0: the process's own, which
  // snippets must not use; GS 0 by default).
  uint64_t fs_base = 0, gs_base = 0;
};

struct Result {
  bool ok = false;       // the snippet ran to its end
  std::string error;     // why not (setup failure, timeout, or the exception below)
  Regs out;              // final state (valid when ok)
  std::vector<Region> mem;  // final contents of Request::mem (valid when ok)
  bool faulted = false;   // the snippet raised an exception (out/mem then hold the state at it)
  // When the snippet raised an exception: the signal, the CPU's vector (trap number:
  // 0 #DE, 6 #UD, 13 #GP, 14 #PF...), its error code, and the faulting instruction's
  // offset from the snippet start.
  int signal = 0;
  int trapno = -1;
  uint64_t error_code = 0;
  int64_t fault_offset = -1;
};

// Runs `req` on the host CPU. Never throws; failures are in Result::error.
Result RunNative(const Request& req);

// Runs many requests (any mix of modes) in one child process, in order; results[i] belongs
// to reqs[i]. Cases are isolated: a caught exception ends only its own case (the child
// jumps back to its loop), and a case that kills or hangs the child is reported as such
// and the rest run in a fresh child. When a case raises an exception, Result::out and
// Result::mem hold the state at the faulting instruction (from the signal context).
std::vector<Result> RunNativeBatch(const std::vector<Request>& reqs);

// Where the first byte of a snippet sits: a linear address in 64/32-bit mode, an offset in
// the 16-bit code segment. Fixed, so another implementation can place the same code at the
// same address (position-dependent code: CALL's return address, RIP-relative operands).
uint64_t SnippetAddress(Mode mode);
// Linear bases of the 16-bit code and data segments (their limits are 0xffff).
uint64_t Code16Base();
uint64_t Data16Base();
// 16-bit mode's LDT: 0x07 code, 0x0f data (limit 0xffff), and two more views of the data
// segment for segment-type tests: 0x17 expand-down with this limit (offsets above it are
// valid), 0x1f read-only.
constexpr uint32_t kExpandDownLimit16 = 0x2fff;

// True when this host can run snippets of `mode` (64-bit x86 Linux; 16-bit needs
// modify_ldt). `why` gets the reason when not.
bool Supported(Mode mode, std::string* why);

}  // namespace emu::x86::oracle
