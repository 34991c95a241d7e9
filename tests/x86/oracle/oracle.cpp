// Runs snippets on the host CPU in a forked child. The child maps a fixed harness area
// below 4 GiB holding the entry/exit code for the snippet's mode (built by the parent as
// machine code), the input/output register slots, small stacks and an alternate signal
// stack; faults are caught by a SA_SIGINFO handler that records the CPU's trap number.
#include "tests/x86/oracle/oracle.h"

#include <asm/ldt.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include <setjmp.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace emu::x86::oracle {
namespace {

// Harness layout (all below 2 GiB so 32-bit absolute addresses reach it from any mode).
constexpr uint64_t kBase = 0x10000000, kSize = 0x80000;
constexpr uint64_t kCode64 = kBase;                 // 64-bit trampoline (+ 64-bit snippet)
constexpr uint64_t kSave = kBase + 0x10000;         // register slots, see below
constexpr uint64_t kInRegs = kSave, kInFlags = kSave + 0x80;
constexpr uint64_t kOutRegs = kSave + 0x100, kOutFlags = kSave + 0x180;
constexpr uint64_t kSavedRsp = kSave + 0x200, kFarPtr = kSave + 0x208, kSavedEsp = kSave + 0x210;
constexpr uint64_t kSavedFsBase = kSave + 0x218;  // the child's own FS base (its TLS)
constexpr int kArchSetGs = 0x1001, kArchSetFs = 0x1002, kArchGetFs = 0x1003;
constexpr uint64_t kInXmm = kSave + 0x400, kOutXmm = kSave + 0x500;
constexpr uint64_t kStack1Top = kBase + 0x18000;    // far call frame
constexpr uint64_t kStack2Top = kBase + 0x1f000;    // PUSHF/POPF scratch
constexpr uint64_t kCode32 = kBase + 0x20000;       // compatibility-mode entry (+ snippet)
constexpr uint64_t kCode16 = kBase + 0x30000;       // base of the 16-bit code segment
constexpr uint64_t kData16 = kBase + 0x40000;       // base of the 16-bit data segment
constexpr uint64_t kUserStackTop = kBase + 0x5f000; // default stack for 32/64-bit snippets
constexpr uint64_t kAltStack = kBase + 0x60000, kAltStackSize = 0x10000;
// 16-bit slots inside the data segment (DS-relative).
constexpr uint16_t kIn16 = 0xf000, kInFlags16 = 0xf080, kOut16 = 0xf100, kOutFlags16 = 0xf180;
constexpr uint16_t kInXmm16 = 0xf200, kOutXmm16 = 0xf300;
constexpr uint16_t kScratchSp16 = 0xff00, kDefaultSp16 = 0xdff0;
constexpr uint16_t kCodeSel16 = (0 << 3) | 4 | 3, kDataSel16 = (1 << 3) | 4 | 3;  // LDT, RPL 3
constexpr uint64_t kMaxCode = 0xe000;
constexpr uint64_t kSnippetOffset = 0x200;  // snippets start this far into their code area
constexpr uint64_t kFlagsIn = 0xcd5;  // CF PF AF ZF SF DF OF

class Code {
 public:
  Code& B(std::initializer_list<int> bytes) {
    for (int b : bytes) v.push_back(static_cast<uint8_t>(b));
    return *this;
  }
  Code& D16(uint64_t x) { return B({int(x & 0xff), int((x >> 8) & 0xff)}); }
  Code& D32(uint64_t x) { return D16(x).D16(x >> 16); }
  Code& Bytes(const std::vector<uint8_t>& b) {
    v.insert(v.end(), b.begin(), b.end());
    return *this;
  }
  std::vector<uint8_t> v;
};

// mov r64, [abs32] / mov [abs32], r64 (ModRM rm=100 with SIB 0x25: no base, no index).
void MovRegAbs64(Code& c, unsigned r, uint64_t addr, bool store) {
  c.B({0x48 | (r >= 8 ? 4 : 0), store ? 0x89 : 0x8b, int(((r & 7) << 3) | 4), 0x25}).D32(addr);
}

// movdqu xmm, [abs32] / movdqu [abs32], xmm.
void MovXmmAbs64(Code& c, unsigned r, uint64_t addr, bool store) {
  c.B({0xf3});
  if (r >= 8) c.B({0x44});
  c.B({0x0f, store ? 0x7f : 0x6f, int(((r & 7) << 3) | 4), 0x25}).D32(addr);
}

// Jumps over int3 filler so the snippet starts exactly `off` bytes into the code area.
void PadTo(Code& c, size_t off, bool bits16) {
  size_t after = c.v.size() + (bits16 ? 3 : 5);
  c.B({0xe9});
  if (bits16) c.D16(off - after); else c.D32(off - after);
  while (c.v.size() < off) c.B({0xcc});
}

void PushCalleeSaved(Code& c) { c.B({0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57}); }
void PopCalleeSavedAndReturn(Code& c) {
  c.B({0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3});
}

// arch_prctl(code, base) by SYSCALL (clobbers RAX, RCX, RDX, RSI, RDI, R11): base from an
// absolute slot or an immediate.
void ArchPrctl(Code& c, int code, uint64_t imm, bool from_slot) {
  c.B({0xb8}).D32(SYS_arch_prctl);  // mov eax, nr
  c.B({0xbf}).D32(code);            // mov edi, code
  if (from_slot) {
    c.B({0x48, 0x8b, 0x34, 0x25}).D32(kSavedFsBase);  // mov rsi, [abs]
  } else {
    c.B({0x48, 0xbe}).D32(imm).D32(imm >> 32);  // mov rsi, imm64
  }
  c.B({0x0f, 0x05});
}

// 64-bit: everything in one function called from C. FS/GS bases for the snippet are set
// here (FS is the child's TLS: restored right after, and by the fault handler).
std::vector<uint8_t> Build64(const Request& req, uint64_t* snippet_start) {
  const std::vector<uint8_t>& snippet = req.code;
  Code c;
  PushCalleeSaved(c);
  MovRegAbs64(c, 4, kSavedRsp, true);
  if (req.gs_base) ArchPrctl(c, kArchSetGs, req.gs_base, false);
  if (req.fs_base) ArchPrctl(c, kArchSetFs, req.fs_base, false);
  c.B({0x48, 0xc7, 0xc4}).D32(kStack2Top);  // mov rsp, imm32
  c.B({0x31, 0xc0, 0x8e, 0xd8, 0x8e, 0xc0});  // DS = ES = 0 (an earlier case may have loaded them)
  c.B({0xff, 0x34, 0x25}).D32(kInFlags);    // push qword [abs]
  c.B({0x9d});                              // popfq
  for (unsigned r = 0; r < 16; r++) MovXmmAbs64(c, r, kInXmm + 16 * r, false);
  for (unsigned r = 0; r < 16; r++) {
    if (r != 4) MovRegAbs64(c, r, kInRegs + 8 * r, false);
  }
  MovRegAbs64(c, 4, kInRegs + 32, false);
  PadTo(c, kSnippetOffset, false);
  *snippet_start = kCode64 + c.v.size();
  c.Bytes(snippet);
  for (unsigned r = 0; r < 16; r++) MovRegAbs64(c, r, kOutRegs + 8 * r, true);
  for (unsigned r = 0; r < 16; r++) MovXmmAbs64(c, r, kOutXmm + 16 * r, true);
  c.B({0x48, 0xc7, 0xc4}).D32(kStack2Top);
  c.B({0x9c, 0x8f, 0x04, 0x25}).D32(kOutFlags);  // pushfq; pop qword [abs]
  if (req.fs_base) ArchPrctl(c, kArchSetFs, 0, true);
  MovRegAbs64(c, 4, kSavedRsp, false);
  c.B({0xfc});  // cld: the C caller expects DF clear
  PopCalleeSavedAndReturn(c);
  return c.v;
}

// 64-bit side of a 32/16-bit run: far call through kFarPtr on a stack below 4 GiB.
std::vector<uint8_t> BuildFarCallTrampoline() {
  Code c;
  PushCalleeSaved(c);
  MovRegAbs64(c, 4, kSavedRsp, true);
  c.B({0x48, 0xc7, 0xc4}).D32(kStack1Top);
  c.B({0xff, 0x1c, 0x25}).D32(kFarPtr);  // call far m16:32
  MovRegAbs64(c, 4, kSavedRsp, false);
  c.B({0xfc});
  PopCalleeSavedAndReturn(c);
  return c.v;
}

std::vector<uint8_t> Build32(const std::vector<uint8_t>& snippet, uint64_t* snippet_start) {
  Code c;
  // 64-bit processes run with DS = ES = 0, unusable outside 64-bit mode: take SS's flat
  // user data selector (push ss; pop ds; push ss; pop es).
  c.B({0x16, 0x1f, 0x16, 0x07});
  c.B({0x89, 0x25}).D32(kSavedEsp);  // mov [abs], esp (the far return frame)
  c.B({0xbc}).D32(kStack2Top);       // mov esp, imm32
  c.B({0xff, 0x35}).D32(kInFlags);   // push dword [abs]
  c.B({0x9d});
  for (unsigned r = 0; r < 8; r++) c.B({0xf3, 0x0f, 0x6f, int((r << 3) | 5)}).D32(kInXmm + 16 * r);
  for (unsigned r = 0; r < 8; r++) {
    if (r != 4) c.B({0x8b, int((r << 3) | 5)}).D32(kInRegs + 8 * r);
  }
  c.B({0x8b, 0x25}).D32(kInRegs + 32);
  PadTo(c, kSnippetOffset, false);
  *snippet_start = kCode32 + c.v.size();
  c.Bytes(snippet);
  // The snippet may have loaded DS/ES (null, a code segment): store EAX through SS (only
  // 0x2b is loadable there), then take DS and ES from SS again.
  c.B({0x36, 0x89, 0x05}).D32(kOutRegs);
  c.B({0x8c, 0xd0, 0x8e, 0xd8, 0x8e, 0xc0});  // mov eax, ss; mov ds, eax; mov es, eax
  for (unsigned r = 1; r < 8; r++) c.B({0x89, int((r << 3) | 5)}).D32(kOutRegs + 8 * r);
  for (unsigned r = 0; r < 8; r++) c.B({0xf3, 0x0f, 0x7f, int((r << 3) | 5)}).D32(kOutXmm + 16 * r);
  c.B({0xbc}).D32(kStack2Top);
  c.B({0x9c, 0x8f, 0x05}).D32(kOutFlags);  // pushfd; pop dword [abs]
  c.B({0x8b, 0x25}).D32(kSavedEsp);
  c.B({0xfc, 0xcb});  // cld; retf
  return c.v;
}

std::vector<uint8_t> Build16(const std::vector<uint8_t>& snippet, uint16_t flat_data_sel,
                             uint64_t* snippet_start) {
  Code c;
  c.B({0x36, 0x66, 0x67, 0x89, 0x25}).D32(kSavedEsp);  // mov ss:[abs32], esp (SS is flat)
  c.B({0xb8}).D16(kDataSel16);                   // mov ax, data selector
  c.B({0x8e, 0xd0, 0x8e, 0xd8, 0x8e, 0xc0});     // mov ss/ds/es, ax
  c.B({0xbc}).D16(kScratchSp16);                 // mov sp, scratch
  c.B({0x66, 0xff, 0x36}).D16(kInFlags16);       // push dword [disp16]
  c.B({0x66, 0x9d});                             // popfd: all 32 bits, as in 32/64-bit mode
  for (unsigned r = 0; r < 8; r++) c.B({0xf3, 0x0f, 0x6f, int((r << 3) | 6)}).D16(kInXmm16 + 16 * r);
  for (unsigned r = 0; r < 8; r++) {
    if (r != 4) c.B({0x66, 0x8b, int((r << 3) | 6)}).D16(kIn16 + 8 * r);
  }
  c.B({0x66, 0x8b, 0x26}).D16(kIn16 + 32);
  PadTo(c, kSnippetOffset, true);
  *snippet_start = c.v.size();  // an offset in the code segment, as EIP will be
  c.Bytes(snippet);
  // As in 32-bit mode: EAX through SS (the snippet may load SS only with the data
  // segment's own selector), then DS and ES from SS.
  c.B({0x36, 0x66, 0x89, 0x06}).D16(kOut16);
  c.B({0x8c, 0xd0, 0x8e, 0xd8, 0x8e, 0xc0});  // mov ax, ss; mov ds, ax; mov es, ax
  for (unsigned r = 1; r < 8; r++) c.B({0x66, 0x89, int((r << 3) | 6)}).D16(kOut16 + 8 * r);
  for (unsigned r = 0; r < 8; r++) c.B({0xf3, 0x0f, 0x7f, int((r << 3) | 6)}).D16(kOutXmm16 + 16 * r);
  c.B({0xbc}).D16(kScratchSp16);
  c.B({0x66, 0x9c, 0x66, 0x8f, 0x06}).D16(kOutFlags16);  // pushfd; pop dword [disp16]
  c.B({0xb8}).D16(flat_data_sel);
  c.B({0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0});
  c.B({0x66, 0x67, 0x8b, 0x25}).D32(kSavedEsp);
  c.B({0xfc, 0x66, 0xcb});  // cld; o32 retf
  return c.v;
}

// Shared with the parent: what the child reports for each case.
struct CaseReport {
  uint32_t state;  // kNotRun, kStarted, kFinished, kFaulted, kSetupFailed, kSkipped
  int32_t signal;
  int64_t trapno;
  uint64_t err;
  uint64_t ip;
  Regs out;
  char message[120];
};
enum : uint32_t { kNotRun, kStarted, kFinished, kFaulted, kSetupFailed, kSkipped };
constexpr int kExitGlobalFailure = 3;

CaseReport* g_case;  // the case being run (the fault handler writes into it)
bool g_fs_changed;   // the snippet runs with its own FS base: restore the TLS base first
sigjmp_buf g_jump;

// Output registers as each mode defines them (only the low 32 bits of 8 registers exist
// outside 64-bit mode; the upper halves are whatever the 64-bit side left).
void Normalize(Mode mode, Regs* out) {
  if (mode == Mode::k64) return;
  for (unsigned i = 0; i < 8; i++) out->gpr[i] &= 0xffffffff;
  for (unsigned i = 8; i < 16; i++) out->gpr[i] = 0;
  std::memset(out->xmm[8], 0, 8 * 16);
  out->flags &= 0xffffffff;
}

void OnFault(int sig, siginfo_t*, void* ctx) {
  if (g_fs_changed) {
    // Before anything may use TLS: the FS base back to the child's (saved in the harness).
    uint64_t rax = SYS_arch_prctl;
    asm volatile("syscall"
                 : "+a"(rax)
                 : "D"(static_cast<uint64_t>(kArchSetFs)), "S"(*reinterpret_cast<volatile uint64_t*>(kSavedFsBase))
                 : "rcx", "r11", "memory");
  }
  auto* uc = static_cast<ucontext_t*>(ctx);
  const greg_t* g = uc->uc_mcontext.gregs;
  g_case->signal = sig;
  g_case->trapno = g[REG_TRAPNO];
  g_case->err = static_cast<uint64_t>(g[REG_ERR]);
  g_case->ip = static_cast<uint64_t>(g[REG_RIP]);
  static const int kOrder[16] = {REG_RAX, REG_RCX, REG_RDX, REG_RBX, REG_RSP, REG_RBP,
                                 REG_RSI, REG_RDI, REG_R8,  REG_R9,  REG_R10, REG_R11,
                                 REG_R12, REG_R13, REG_R14, REG_R15};
  for (int i = 0; i < 16; i++) g_case->out.gpr[i] = static_cast<uint64_t>(g[kOrder[i]]);
  g_case->out.flags = static_cast<uint64_t>(g[REG_EFL]);
  if (uc->uc_mcontext.fpregs) {
    std::memcpy(g_case->out.xmm, uc->uc_mcontext.fpregs->_xmm, sizeof(g_case->out.xmm));
  }
  // SA_NODEFER: the signal is not blocked in the handler, so no mask needs restoring.
  siglongjmp(g_jump, 1);
}

[[noreturn]] void Fail(const char* what) {
  std::snprintf(g_case->message, sizeof(g_case->message), "%s: %s", what, std::strerror(errno));
  g_case->state = kSetupFailed;
  _exit(kExitGlobalFailure);
}

// MAP_POPULATE: no page may fault on first touch. A demand-paging #PF in the middle of an
// instruction that has already stored something (ENTER faults on its final RSP after the
// frame pushes) restarts it on the changed memory: ENTER with nesting levels 2-31 then
// copied frame pointers that it had itself just written.
bool MapFixed(uint64_t addr, uint64_t size) {
  void* p = mmap(reinterpret_cast<void*>(addr), size, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_POPULATE, -1, 0);
  return p == reinterpret_cast<void*>(addr);
}

bool SetLdt(unsigned entry, uint64_t base, bool code, unsigned limit = 0xffff,
            bool expand_down = false, bool read_only = false) {
  user_desc d{};
  d.entry_number = entry;
  d.base_addr = static_cast<unsigned>(base);
  d.limit = limit;
  d.seg_32bit = 0;
  d.contents = code ? MODIFY_LDT_CONTENTS_CODE : expand_down ? MODIFY_LDT_CONTENTS_STACK : MODIFY_LDT_CONTENTS_DATA;
  d.read_exec_only = read_only;
  d.limit_in_pages = 0;
  d.seg_not_present = 0;
  d.useable = 1;
  return syscall(SYS_modify_ldt, 1, &d, sizeof(d)) == 0;
}

// The flat user data selector (SS; DS is 0 in 64-bit processes).
uint16_t FlatDataSelector() {
  uint16_t s;
  asm volatile("mov %%ss, %0" : "=r"(s));
  return s;
}

// Pages the child mapped for memory regions (others at those addresses belong to the
// process and must not be overwritten).
struct MappedPages {
  std::vector<uint64_t> pages;
  bool Has(uint64_t p) const {
    for (uint64_t q : pages) {
      if (q == p) return true;
    }
    return false;
  }
};

// Sets up one case's code, memory and registers. False (with the case's message set) when
// a memory region cannot be placed.
bool Prepare(const Request& req, MappedPages* mapped, bool* ldt_ready, uint64_t* snippet_start) {
  const uint64_t page = 4096;
  std::vector<uint8_t> tramp, entry;
  if (req.mode == Mode::k64) {
    tramp = Build64(req, snippet_start);
  } else {
    tramp = BuildFarCallTrampoline();
    entry = req.mode == Mode::k32 ? Build32(req.code, snippet_start)
                                  : Build16(req.code, FlatDataSelector(), snippet_start);
  }
  std::memcpy(reinterpret_cast<void*>(kCode64), tramp.data(), tramp.size());
  if (req.mode == Mode::k32) {
    std::memcpy(reinterpret_cast<void*>(kCode32), entry.data(), entry.size());
  } else if (req.mode == Mode::k16) {
    std::memcpy(reinterpret_cast<void*>(kCode16), entry.data(), entry.size());
    if (!*ldt_ready) {
      // 0x07 code, 0x0f data, and over the same data: 0x17 expand-down (limit
      // kExpandDownLimit16), 0x1f read-only.
      if (!SetLdt(0, kCode16, true) || !SetLdt(1, kData16, false) ||
          !SetLdt(2, kData16, false, kExpandDownLimit16, true) || !SetLdt(3, kData16, false, 0xffff, false, true))
        Fail("modify_ldt");
      *ldt_ready = true;
    }
  }
  Regs in = req.in;
  in.flags = (in.flags & kFlagsIn) | 0x202;
  if (req.mode == Mode::k16) {
    if (in.gpr[4] == 0) in.gpr[4] = kDefaultSp16;
    for (const Region& r : req.mem) {
      std::memcpy(reinterpret_cast<void*>(kData16 + r.addr), r.bytes.data(), r.bytes.size());
    }
    for (unsigned i = 0; i < 8; i++) {
      std::memcpy(reinterpret_cast<void*>(kData16 + kIn16 + 8 * i), &in.gpr[i], 8);
    }
    std::memcpy(reinterpret_cast<void*>(kData16 + kInFlags16), &in.flags, 8);
    std::memcpy(reinterpret_cast<void*>(kData16 + kInXmm16), in.xmm, 8 * 16);
  } else {
    if (in.gpr[4] == 0) in.gpr[4] = kUserStackTop;
    for (const Region& r : req.mem) {
      uint64_t start = r.addr & ~(page - 1);
      uint64_t end = (r.addr + r.bytes.size() + page - 1) & ~(page - 1);
      for (uint64_t p = start; p < end; p += page) {
        if ((p >= kBase && p < kBase + kSize) || mapped->Has(p)) continue;
        if (!MapFixed(p, page)) {
          std::snprintf(g_case->message, sizeof(g_case->message),
                        "cannot map a memory region page at 0x%llx: %s",
                        static_cast<unsigned long long>(p), std::strerror(errno));
          return false;
        }
        mapped->pages.push_back(p);
      }
      std::memcpy(reinterpret_cast<void*>(r.addr), r.bytes.data(), r.bytes.size());
    }
    std::memcpy(reinterpret_cast<void*>(kInRegs), in.gpr, sizeof(in.gpr));
    std::memcpy(reinterpret_cast<void*>(kInFlags), &in.flags, 8);
    std::memcpy(reinterpret_cast<void*>(kInXmm), in.xmm, sizeof(in.xmm));
  }
  uint32_t off = req.mode == Mode::k32 ? static_cast<uint32_t>(kCode32) : 0;
  uint16_t sel = req.mode == Mode::k32 ? 0x23 : kCodeSel16;
  std::memcpy(reinterpret_cast<void*>(kFarPtr), &off, 4);
  std::memcpy(reinterpret_cast<void*>(kFarPtr + 4), &sel, 2);
  return true;
}

void ReadOutputs(Mode mode, Regs* out) {
  if (mode == Mode::k16) {
    for (unsigned i = 0; i < 8; i++) {
      uint32_t v;
      std::memcpy(&v, reinterpret_cast<void*>(kData16 + kOut16 + 8 * i), 4);
      out->gpr[i] = v;
    }
    uint32_t f;
    std::memcpy(&f, reinterpret_cast<void*>(kData16 + kOutFlags16), 4);
    out->flags = f;
    std::memcpy(out->xmm, reinterpret_cast<void*>(kData16 + kOutXmm16), 8 * 16);
  } else {
    std::memcpy(out->gpr, reinterpret_cast<void*>(kOutRegs), sizeof(out->gpr));
    std::memcpy(&out->flags, reinterpret_cast<void*>(kOutFlags), 8);
    std::memcpy(out->xmm, reinterpret_cast<void*>(kOutXmm), sizeof(out->xmm));
  }
  Normalize(mode, out);
}

// Runs the prepared snippet: true when it finished, false when the fault handler jumped
// back (no locals live across the jump).
__attribute__((noinline)) bool Execute() {
  if (sigsetjmp(g_jump, 0) != 0) return false;
  reinterpret_cast<void (*)()>(kCode64)();
  return true;
}

// The child: runs cases [first, n) in order, reporting each. Never returns.
[[noreturn]] void Child(const std::vector<Request>& reqs, size_t first, CaseReport* reports,
                        uint8_t* mem_area, const std::vector<size_t>& mem_off) {
  g_case = &reports[first];
  if (!MapFixed(kBase, kSize)) Fail("map harness area at 0x10000000");
  if (syscall(SYS_arch_prctl, kArchGetFs, reinterpret_cast<uint64_t*>(kSavedFsBase)) != 0) Fail("arch_prctl");
  stack_t ss{};
  ss.ss_sp = reinterpret_cast<void*>(kAltStack);
  ss.ss_size = kAltStackSize;
  if (sigaltstack(&ss, nullptr) != 0) Fail("sigaltstack");
  struct sigaction sa {};
  sa.sa_sigaction = OnFault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
  for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP}) sigaction(s, &sa, nullptr);
  MappedPages mapped;
  bool ldt_ready = false;
  for (size_t i = first; i < reqs.size(); i++) {
    CaseReport* rep = &reports[i];
    if (rep->state == kSkipped) continue;
    const Request& req = reqs[i];
    g_case = rep;
    rep->state = kStarted;
    uint64_t snippet_start = 0;
    if (!Prepare(req, &mapped, &ldt_ready, &snippet_start)) {
      rep->state = kSetupFailed;
      continue;
    }
    itimerval t{};
    t.it_value.tv_sec = req.timeout_ms / 1000;
    t.it_value.tv_usec = (req.timeout_ms % 1000) * 1000;
    setitimer(ITIMER_REAL, &t, nullptr);  // SIGALRM's default action ends a runaway snippet
    g_fs_changed = req.mode == Mode::k64 && req.fs_base;
    bool finished = Execute();
    g_fs_changed = false;
    if (finished) {
      ReadOutputs(req.mode, &rep->out);
      rep->state = kFinished;
    } else {
      Normalize(req.mode, &rep->out);
      rep->ip -= snippet_start;  // now the offset in the snippet
      rep->state = kFaulted;
    }
    itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    size_t pos = mem_off[i];
    for (const Region& r : req.mem) {
      uint64_t a = req.mode == Mode::k16 ? kData16 + r.addr : r.addr;
      std::memcpy(mem_area + pos, reinterpret_cast<void*>(a), r.bytes.size());
      pos += r.bytes.size();
    }
  }
  _exit(0);
}

// Why a request cannot run, or "".
std::string Validate(const Request& req) {
  std::string why;
  if (!Supported(req.mode, &why)) return why;
  if (req.code.size() > kMaxCode - kSnippetOffset - 0x200) return "snippet too long";
  for (const Region& r : req.mem) {
    bool bad = req.mode == Mode::k16
                   ? r.addr + r.bytes.size() > kData16Limit
                   : (r.addr + r.bytes.size() < r.addr ||
                      (req.mode == Mode::k32 && r.addr + r.bytes.size() > (1ull << 32)) ||
                      (r.addr < kBase + kSize && r.addr + r.bytes.size() > kBase));
    if (bad) return "memory region out of range for this mode or overlapping the harness area";
  }
  return "";
}

void FillResult(const Request& req, const CaseReport& rep, const uint8_t* mem, Result* res) {
  if (rep.state != kFinished && rep.state != kFaulted) return;
  res->out = rep.out;
  size_t pos = 0;
  for (const Region& r : req.mem) {
    Region o;
    o.addr = r.addr;
    o.bytes.assign(mem + pos, mem + pos + r.bytes.size());
    pos += r.bytes.size();
    res->mem.push_back(std::move(o));
  }
  if (rep.state == kFinished) {
    res->ok = true;
    return;
  }
  res->faulted = true;
  res->signal = rep.signal;
  res->trapno = static_cast<int>(rep.trapno);
  res->error_code = rep.err;
  res->fault_offset = static_cast<int64_t>(rep.ip);
  res->error = "exception: signal " + std::to_string(rep.signal) + ", vector " +
               std::to_string(rep.trapno) + " at snippet offset " +
               std::to_string(res->fault_offset);
}

}  // namespace

uint64_t SnippetAddress(Mode mode) {
  switch (mode) {
    case Mode::k64: return kCode64 + kSnippetOffset;
    case Mode::k32: return kCode32 + kSnippetOffset;
    default: return kSnippetOffset;
  }
}
uint64_t Code16Base() { return kCode16; }
uint64_t Data16Base() { return kData16; }

bool Supported(Mode mode, std::string* why) {
#if !defined(__x86_64__) || !defined(__linux__)
  (void)mode;
  *why = "the oracle needs an x86-64 Linux host";
  return false;
#else
  if (mode == Mode::k16) {
    user_desc d{};
    // Reading the LDT tells whether modify_ldt is available (CONFIG_MODIFY_LDT_SYSCALL).
    if (syscall(SYS_modify_ldt, 0, &d, sizeof(d)) < 0) {
      *why = std::string("modify_ldt is not available: ") + std::strerror(errno);
      return false;
    }
  }
  return true;
#endif
}

Result RunNative(const Request& req) { return RunNativeBatch({req})[0]; }

std::vector<Result> RunNativeBatch(const std::vector<Request>& reqs) {
  const size_t n = reqs.size();
  std::vector<Result> res(n);
  if (n == 0) return res;
  std::vector<size_t> mem_off(n);
  size_t mem_total = 0;
  unsigned max_timeout = 0;
  for (size_t i = 0; i < n; i++) {
    mem_off[i] = mem_total;
    for (const Region& r : reqs[i].mem) mem_total += r.bytes.size();
    max_timeout = std::max(max_timeout, reqs[i].timeout_ms);
  }
  size_t shared_size = sizeof(CaseReport) * n + mem_total;
  void* shm = mmap(nullptr, shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) {
    for (Result& r : res) r.error = "mmap of the report area failed";
    return res;
  }
  // A fresh anonymous mapping is zero-filled: every case starts as kNotRun.
  auto* reports = static_cast<CaseReport*>(shm);
  uint8_t* mem_area = static_cast<uint8_t*>(shm) + sizeof(CaseReport) * n;
  for (size_t i = 0; i < n; i++) {
    res[i].error = Validate(reqs[i]);
    if (!res[i].error.empty()) reports[i].state = kSkipped;
  }
  size_t first = 0;
  while (first < n) {
    pid_t pid = fork();
    if (pid < 0) {
      for (size_t i = first; i < n; i++) {
        if (reports[i].state != kSkipped) res[i].error = "fork failed";
      }
      break;
    }
    if (pid == 0) Child(reqs, first, reports, mem_area, mem_off);
    // Parent: wait, killing the child if it stops making progress for longer than any
    // case's own timer allows.
    int status = 0;
    timespec last;
    clock_gettime(CLOCK_MONOTONIC, &last);
    size_t progress = first;
    for (;;) {
      pid_t w = waitpid(pid, &status, WNOHANG);
      if (w == pid) break;
      if (w < 0 && errno != EINTR) break;
      timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      while (progress < n && (reports[progress].state >= kFinished)) progress++;
      if (progress != first) {
        last = now;
        first = progress;
      }
      double ms = (now.tv_sec - last.tv_sec) * 1e3 + (now.tv_nsec - last.tv_nsec) / 1e6;
      if (ms > max_timeout + 3000) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      usleep(200);
    }
    size_t i = first;
    while (i < n && reports[i].state >= kFinished) i++;
    if (i == n) break;
    bool global = WIFEXITED(status) && WEXITSTATUS(status) == kExitGlobalFailure;
    if (global || reports[i].state == kNotRun) {
      std::string why = global ? std::string("oracle setup failed: ") + reports[i].message
                               : "child exited without a report";
      for (; i < n; i++) {
        if (reports[i].state != kSkipped && reports[i].state != kFinished &&
            reports[i].state != kFaulted) {
          res[i].error = why;
        }
      }
      break;
    }
    // Case i started and took the child down: report it, go on after it.
    if (WIFSIGNALED(status)) {
      res[i].error = WTERMSIG(status) == SIGALRM
                         ? "timeout"
                         : "child killed by signal " + std::to_string(WTERMSIG(status));
    } else {
      res[i].error = "child exited during the case";
    }
    reports[i].state = kSkipped;
    first = i + 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (reports[i].state == kSetupFailed) {
      res[i].error = std::string("oracle setup failed: ") + reports[i].message;
    }
    FillResult(reqs[i], reports[i], mem_area + mem_off[i], &res[i]);
  }
  munmap(shm, shared_size);
  return res;
}

}  // namespace emu::x86::oracle
