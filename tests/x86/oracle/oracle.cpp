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

#include <cerrno>
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

void PushCalleeSaved(Code& c) { c.B({0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57}); }
void PopCalleeSavedAndReturn(Code& c) {
  c.B({0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b, 0xc3});
}

// 64-bit: everything in one function called from C.
std::vector<uint8_t> Build64(const std::vector<uint8_t>& snippet, uint64_t* snippet_start) {
  Code c;
  PushCalleeSaved(c);
  MovRegAbs64(c, 4, kSavedRsp, true);
  c.B({0x48, 0xc7, 0xc4}).D32(kStack2Top);  // mov rsp, imm32
  c.B({0xff, 0x34, 0x25}).D32(kInFlags);    // push qword [abs]
  c.B({0x9d});                              // popfq
  for (unsigned r = 0; r < 16; r++) MovXmmAbs64(c, r, kInXmm + 16 * r, false);
  for (unsigned r = 0; r < 16; r++) {
    if (r != 4) MovRegAbs64(c, r, kInRegs + 8 * r, false);
  }
  MovRegAbs64(c, 4, kInRegs + 32, false);
  *snippet_start = kCode64 + c.v.size();
  c.Bytes(snippet);
  for (unsigned r = 0; r < 16; r++) MovRegAbs64(c, r, kOutRegs + 8 * r, true);
  for (unsigned r = 0; r < 16; r++) MovXmmAbs64(c, r, kOutXmm + 16 * r, true);
  c.B({0x48, 0xc7, 0xc4}).D32(kStack2Top);
  c.B({0x9c, 0x8f, 0x04, 0x25}).D32(kOutFlags);  // pushfq; pop qword [abs]
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
  *snippet_start = kCode32 + c.v.size();
  c.Bytes(snippet);
  for (unsigned r = 0; r < 8; r++) c.B({0x89, int((r << 3) | 5)}).D32(kOutRegs + 8 * r);
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
  c.B({0xff, 0x36}).D16(kInFlags16);             // push word [disp16]
  c.B({0x9d});
  for (unsigned r = 0; r < 8; r++) c.B({0xf3, 0x0f, 0x6f, int((r << 3) | 6)}).D16(kInXmm16 + 16 * r);
  for (unsigned r = 0; r < 8; r++) {
    if (r != 4) c.B({0x66, 0x8b, int((r << 3) | 6)}).D16(kIn16 + 8 * r);
  }
  c.B({0x66, 0x8b, 0x26}).D16(kIn16 + 32);
  *snippet_start = c.v.size();  // an offset in the code segment, as EIP will be
  c.Bytes(snippet);
  for (unsigned r = 0; r < 8; r++) c.B({0x66, 0x89, int((r << 3) | 6)}).D16(kOut16 + 8 * r);
  for (unsigned r = 0; r < 8; r++) c.B({0xf3, 0x0f, 0x7f, int((r << 3) | 6)}).D16(kOutXmm16 + 16 * r);
  c.B({0xbc}).D16(kScratchSp16);
  c.B({0x9c, 0x8f, 0x06}).D16(kOutFlags16);  // pushf; pop word [disp16]
  c.B({0xb8}).D16(flat_data_sel);
  c.B({0x8e, 0xd8, 0x8e, 0xc0, 0x8e, 0xd0});
  c.B({0x66, 0x67, 0x8b, 0x25}).D32(kSavedEsp);
  c.B({0xfc, 0x66, 0xcb});  // cld; o32 retf
  return c.v;
}

// Shared with the parent: what the child reports.
struct Report {
  uint32_t state;  // 0 nothing yet, 1 finished, 2 faulted, 3 setup failed
  int32_t signal;
  int64_t trapno;
  uint64_t err;
  uint64_t ip;
  Regs out;
  char message[200];
  uint8_t mem[];  // Request::mem contents, in order
};

Report* g_report;

void OnFault(int sig, siginfo_t*, void* ctx) {
  auto* uc = static_cast<ucontext_t*>(ctx);
  g_report->signal = sig;
  g_report->trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
  g_report->err = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_ERR]);
  g_report->ip = static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RIP]);
  g_report->state = 2;
  _exit(0);
}

void Fail(const char* what) {
  std::snprintf(g_report->message, sizeof(g_report->message), "%s: %s", what, std::strerror(errno));
  g_report->state = 3;
  _exit(0);
}

bool MapFixed(uint64_t addr, uint64_t size) {
  void* p = mmap(reinterpret_cast<void*>(addr), size, PROT_READ | PROT_WRITE | PROT_EXEC,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  return p == reinterpret_cast<void*>(addr);
}

bool SetLdt(unsigned entry, uint64_t base, bool code) {
  user_desc d{};
  d.entry_number = entry;
  d.base_addr = static_cast<unsigned>(base);
  d.limit = 0xffff;
  d.seg_32bit = 0;
  d.contents = code ? MODIFY_LDT_CONTENTS_CODE : MODIFY_LDT_CONTENTS_DATA;
  d.read_exec_only = 0;
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

// The child: set up, run, report. Never returns.
[[noreturn]] void Child(const Request& req, const std::vector<uint8_t>& tramp,
                        const std::vector<uint8_t>& entry, uint64_t snippet_start) {
  const uint64_t page = 4096;
  if (!MapFixed(kBase, kSize)) Fail("map harness area at 0x10000000");
  std::memcpy(reinterpret_cast<void*>(kCode64), tramp.data(), tramp.size());
  if (req.mode == Mode::k32) {
    std::memcpy(reinterpret_cast<void*>(kCode32), entry.data(), entry.size());
  } else if (req.mode == Mode::k16) {
    std::memcpy(reinterpret_cast<void*>(kCode16), entry.data(), entry.size());
    if (!SetLdt(0, kCode16, true) || !SetLdt(1, kData16, false)) Fail("modify_ldt");
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
        bool inside_harness = p >= kBase && p < kBase + kSize;
        if (!inside_harness && !MapFixed(p, page) && errno != EEXIST) Fail("map a memory region");
      }
      std::memcpy(reinterpret_cast<void*>(r.addr), r.bytes.data(), r.bytes.size());
    }
    std::memcpy(reinterpret_cast<void*>(kInRegs), in.gpr, sizeof(in.gpr));
    std::memcpy(reinterpret_cast<void*>(kInFlags), &in.flags, 8);
    std::memcpy(reinterpret_cast<void*>(kInXmm), in.xmm, sizeof(in.xmm));
  }
  uint32_t off = 0;
  uint16_t sel = req.mode == Mode::k32 ? 0x23 : kCodeSel16;
  off = req.mode == Mode::k32 ? static_cast<uint32_t>(kCode32) : 0;
  std::memcpy(reinterpret_cast<void*>(kFarPtr), &off, 4);
  std::memcpy(reinterpret_cast<void*>(kFarPtr + 4), &sel, 2);

  stack_t ss{};
  ss.ss_sp = reinterpret_cast<void*>(kAltStack);
  ss.ss_size = kAltStackSize;
  if (sigaltstack(&ss, nullptr) != 0) Fail("sigaltstack");
  struct sigaction sa {};
  sa.sa_sigaction = OnFault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  for (int s : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP}) sigaction(s, &sa, nullptr);
  itimerval t{};
  t.it_value.tv_sec = req.timeout_ms / 1000;
  t.it_value.tv_usec = (req.timeout_ms % 1000) * 1000;
  setitimer(ITIMER_REAL, &t, nullptr);  // SIGALRM's default action ends a runaway snippet

  reinterpret_cast<void (*)()>(kCode64)();

  Regs out;
  if (req.mode == Mode::k16) {
    for (unsigned i = 0; i < 8; i++) {
      uint32_t v;
      std::memcpy(&v, reinterpret_cast<void*>(kData16 + kOut16 + 8 * i), 4);
      out.gpr[i] = v;
    }
    uint16_t f;
    std::memcpy(&f, reinterpret_cast<void*>(kData16 + kOutFlags16), 2);
    out.flags = f;
    std::memcpy(out.xmm, reinterpret_cast<void*>(kData16 + kOutXmm16), 8 * 16);
  } else {
    std::memcpy(out.gpr, reinterpret_cast<void*>(kOutRegs), sizeof(out.gpr));
    std::memcpy(&out.flags, reinterpret_cast<void*>(kOutFlags), 8);
    std::memcpy(out.xmm, reinterpret_cast<void*>(kOutXmm), sizeof(out.xmm));
    if (req.mode == Mode::k32) {
      std::memset(out.xmm[8], 0, 8 * 16);
      for (unsigned i = 0; i < 8; i++) out.gpr[i] &= 0xffffffff;
      for (unsigned i = 8; i < 16; i++) out.gpr[i] = 0;
      out.flags &= 0xffffffff;
    }
  }
  g_report->out = out;
  size_t pos = 0;
  for (const Region& r : req.mem) {
    uint64_t a = req.mode == Mode::k16 ? kData16 + r.addr : r.addr;
    std::memcpy(g_report->mem + pos, reinterpret_cast<void*>(a), r.bytes.size());
    pos += r.bytes.size();
  }
  (void)snippet_start;
  g_report->state = 1;
  _exit(0);
}

}  // namespace

bool Supported(Mode mode, std::string* why) {
#if !defined(__x86_64__) || !defined(__linux__)
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

Result RunNative(const Request& req) {
  Result res;
  std::string why;
  if (!Supported(req.mode, &why)) {
    res.error = why;
    return res;
  }
  if (req.code.size() > kMaxCode - 0x200) {
    res.error = "snippet too long";
    return res;
  }
  size_t mem_total = 0;
  for (const Region& r : req.mem) {
    bool bad = req.mode == Mode::k16
                   ? r.addr + r.bytes.size() > kData16Limit
                   : (r.addr + r.bytes.size() < r.addr ||
                      (req.mode == Mode::k32 && r.addr + r.bytes.size() > (1ull << 32)) ||
                      (r.addr < kBase + kSize && r.addr + r.bytes.size() > kBase));
    if (bad) {
      res.error = "memory region out of range for this mode or overlapping the harness area";
      return res;
    }
    mem_total += r.bytes.size();
  }
  uint64_t snippet_start = 0;
  std::vector<uint8_t> tramp, entry;
  if (req.mode == Mode::k64) {
    tramp = Build64(req.code, &snippet_start);
  } else {
    tramp = BuildFarCallTrampoline();
    entry = req.mode == Mode::k32 ? Build32(req.code, &snippet_start)
                                  : Build16(req.code, FlatDataSelector(), &snippet_start);
  }
  size_t shared_size = sizeof(Report) + mem_total;
  void* shm = mmap(nullptr, shared_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (shm == MAP_FAILED) {
    res.error = "mmap of the report area failed";
    return res;
  }
  auto* rep = static_cast<Report*>(shm);
  // A fresh anonymous mapping is zero-filled: state 0 = no report yet.
  pid_t pid = fork();
  if (pid < 0) {
    munmap(shm, shared_size);
    res.error = "fork failed";
    return res;
  }
  if (pid == 0) {
    g_report = rep;
    Child(req, tramp, entry, snippet_start);
  }
  // Parent: wait, with a margin over the child's own timer.
  int status = 0;
  timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double ms = (now.tv_sec - start.tv_sec) * 1e3 + (now.tv_nsec - start.tv_nsec) / 1e6;
    if (ms > req.timeout_ms + 3000) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    usleep(200);
  }
  if (rep->state == 1) {
    res.ok = true;
    res.out = rep->out;
    size_t pos = 0;
    for (const Region& r : req.mem) {
      Region o;
      o.addr = r.addr;
      o.bytes.assign(rep->mem + pos, rep->mem + pos + r.bytes.size());
      pos += r.bytes.size();
      res.mem.push_back(std::move(o));
    }
  } else if (rep->state == 2) {
    res.signal = rep->signal;
    res.trapno = static_cast<int>(rep->trapno);
    res.error_code = rep->err;
    res.fault_offset = static_cast<int64_t>(rep->ip - snippet_start);
    res.error = "exception: signal " + std::to_string(rep->signal) + ", vector " +
                std::to_string(rep->trapno) + " at snippet offset " +
                std::to_string(res.fault_offset);
  } else if (rep->state == 3) {
    res.error = std::string("oracle setup failed: ") + rep->message;
  } else if (WIFSIGNALED(status)) {
    res.error = WTERMSIG(status) == SIGALRM ? "timeout"
                                            : "child killed by signal " + std::to_string(WTERMSIG(status));
  } else {
    res.error = "child exited without a report";
  }
  munmap(shm, shared_size);
  return res;
}

}  // namespace emu::x86::oracle
