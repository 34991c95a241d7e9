#include "tests/x86/diff/runner.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "target-x86/disas.h"

namespace emu::x86::difftest {
namespace {

using test::Desc;
using test::Seg;
using test::TestMachine;

// Guest-physical homes of the oracle's addresses (2 MiB pages remapped by the runner).
constexpr uint64_t kHarnessVirt = 0x10000000, kHarnessPhys = 0xc00000;
constexpr uint64_t kDataVirt = 0x20000000, kDataPhys = 0xa00000;
constexpr uint64_t kEdgeVirt = 0x2fe00000, kEdgePhys = 0xe00000;
constexpr uint64_t kUnmappedVirt = 0x30000000;
constexpr uint64_t kPage2M = 0x200000;
constexpr uint64_t kPd0 = TestMachine::kPml4 + 0x2000;  // the harness's first page directory
// The selectors of the oracle's process: Linux's user GDT entries (USER32_CS 0x23, USER_DS
// 0x2b, USER_CS 0x33) and the child's two LDT entries for 16-bit code (0x07 code, 0x0f
// data), so that PUSH/MOV of segment registers and segment loads see the same values.
constexpr uint16_t kCs64 = 0x33, kCs32 = 0x23, kCs16 = 0x07, kDs = 0x2b, kDs16 = 0x0f;
constexpr uint16_t kKernelCs = 0x08;  // the harness's exception stubs (was 0x28)
constexpr uint64_t kLdt = 0x3800;

// Flags compared at all (RF, VM, VIF, VIP and TF are not part of the state we set up).
constexpr uint64_t kCompared = kArith | DF | 0x200 /*IF*/ | 0x3000 /*IOPL*/ | 0x4000 /*NT*/ |
                               (1u << 18) /*AC*/ | (1u << 21) /*ID*/;

int ModeIndex(Mode m) { return m == Mode::k64 ? 0 : m == Mode::k32 ? 1 : 2; }

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string Regs(const oracle::Regs& r, int n) {
  static const char* const kNames[16] = {"ax", "cx", "dx", "bx", "sp", "bp", "si", "di",
                                         "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
  std::string s;
  char b[64];
  for (int i = 0; i < n; i++) {
    std::snprintf(b, sizeof b, "%s=%" PRIx64 " ", kNames[i], r.gpr[i]);
    s += b;
  }
  std::snprintf(b, sizeof b, "flags=%" PRIx64, r.flags);
  return s + b;
}

}  // namespace

const char* ModeName(Mode m) { return m == Mode::k64 ? "64" : m == Mode::k32 ? "32" : "16"; }

uint64_t CaseSeed(uint64_t seed, const std::string& family, Mode mode, uint64_t index) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a over the family name
  for (char ch : family) h = (h ^ static_cast<uint8_t>(ch)) * 1099511628211ull;
  h ^= static_cast<uint64_t>(ModeIndex(mode) + 1) * 0x9e3779b97f4a7c15ull;
  return seed * 0xbf58476d1ce4e5b9ull ^ h ^ (index * 0x94d049bb133111ebull);
}

TcgRunner::TcgRunner() {
  m_.Enter(test::Mode::kLong64);
  ready_ = m_.Read64(0xb000) != 0;  // the exception stubs were assembled
  // Page directory 0 with 4 KiB page tables that map, for CPL 3, exactly what the oracle's
  // child has mapped: its harness area, the case regions' pages, 32-bit mode's low region.
  // Everything else a case could reach is absent (or supervisor-only), so wild accesses
  // fault with #PF on both sides.
  struct Map {
    uint64_t virt, phys, pt;  // 2 MiB page, its home in RAM, its page table
    std::vector<std::pair<uint64_t, uint64_t>> user;  // user-accessible [from, to)
  };
  const Map maps[] = {
      {0, 0, 0xa000, {{0xc000, 0xd000}}},  // identity; the rest stays the harness's (CPL 0)
      {kHarnessVirt, kHarnessPhys, 0xd000, {{kHarnessVirt, kHarnessVirt + 0x80000}}},
      {kDataVirt, kDataPhys, 0xe000, {{kDataVirt, kDataVirt + 0x3000}}},
      {kEdgeVirt, kEdgePhys, 0xf000, {{kUnmappedVirt - 0x1000, kUnmappedVirt}}},
  };
  for (const Map& mp : maps) {
    for (uint64_t i = 0; i < 512; i++) {
      uint64_t v = mp.virt + i * 4096;
      bool user = false;
      for (auto [from, to] : mp.user) user |= v >= from && v < to;
      uint64_t pte = mp.virt == 0 ? (mp.phys + i * 4096) | 3 | (user ? 4 : 0)
                                  : user ? (mp.phys + i * 4096) | 7 : 0;
      m_.Write64(mp.pt + 8 * i, pte);
    }
    m_.Write64(kPd0 + 8 * (mp.virt / kPage2M), mp.pt | 7);
  }
  for (uint64_t i = 1; i < 512; i++) {
    bool ours = false;
    for (const Map& mp : maps) ours |= mp.virt / kPage2M == i;
    if (!ours) m_.Write64(kPd0 + 8 * i, 0);
  }
  for (uint64_t i = 1; i < 4; i++) m_.Write64(TestMachine::kPml4 + 0x1000 + 8 * i, 0);  // 1-4 GiB
  // A GDT shaped like Linux's where cases can see it: 16 entries; kernel (DPL 0) entries
  // 1-3, user entries 4-6; nothing a case may load above. The stubs' 64-bit code moves
  // to 0x08 (the TSS stays in TR's cache).
  const uint64_t gdt = TestMachine::kGdt;
  m_.Write64(gdt + 0x08, Desc(0, 0xfffff, 0x9b, 0xa));
  m_.Write64(gdt + 0x20, Desc(0, 0xfffff, 0xfb, 0xc));
  m_.Write64(gdt + 0x28, Desc(0, 0xfffff, 0xf3, 0xc));
  m_.Write64(gdt + 0x30, Desc(0, 0xfffff, 0xfb, 0xa));
  for (uint64_t e = 0x38; e < 0x80; e += 8) m_.Write64(gdt + e, 0);
  for (int v = 0; v < 256; v++) {
    uint64_t gate = m_.Read64(TestMachine::kIdt + 16 * v);
    gate = (gate & ~(0xffffull << 16)) | (static_cast<uint64_t>(kKernelCs) << 16);
    m_.Write64(TestMachine::kIdt + 16 * v, gate);
  }
  // The 16-bit code and data segments at the oracle's bases, in an LDT as in the child.
  m_.Write64(kLdt + 0, Desc(static_cast<uint32_t>(oracle::Code16Base()), 0xffff, 0xfb, 0));
  m_.Write64(kLdt + 8, Desc(static_cast<uint32_t>(oracle::Data16Base()), 0xffff, 0xf3, 0));
  m_.Write64(kLdt + 16, Desc(static_cast<uint32_t>(oracle::Data16Base()), oracle::kExpandDownLimit16, 0xf7, 0));
  m_.Write64(kLdt + 24, Desc(static_cast<uint32_t>(oracle::Data16Base()), 0xffff, 0xf1, 0));
  CpuState s = m_.State();
  s.gdtr.limit = 0x7f;
  s.ldtr = Seg(0x50, kLdt, 0x1f, 0x82);
  for (Mode mode : {Mode::k64, Mode::k32, Mode::k16}) {
    CpuState b = s;
    Segment data = Seg(kDs, 0, 0xffffffff, 0xc0f3);
    if (mode == Mode::k64) {
      b.seg[CS] = Seg(kCs64, 0, 0xffffffff, 0xa0fb);
    } else if (mode == Mode::k32) {
      b.seg[CS] = Seg(kCs32, 0, 0xffffffff, 0xc0fb);
    } else {
      b.seg[CS] = Seg(kCs16, oracle::Code16Base(), 0xffff, 0x00fb);
      data = Seg(kDs16, oracle::Data16Base(), 0xffff, 0x00f3);
    }
    for (int sr : {DS, ES, SS}) b.seg[sr] = data;
    for (int sr : {FS, GS}) b.seg[sr] = Seg(0, 0, 0xffffffff, 0xc0f3);
    if (mode == Mode::k64) {
      for (int sr : {DS, ES}) b.seg[sr] = Seg(0, 0, 0, 0);  // null, as in 64-bit processes
    }
    b.rip = oracle::SnippetAddress(mode);
    base_[ModeIndex(mode)] = b;
  }
  // One watchdog for all cases: kicks the vCPU when a case overruns its time.
  watchdog_ = std::thread([this] {
    while (!stop_.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      int64_t d = deadline_ns_.load();
      if (d != 0 && NowNs() > d) m_.vcpu().Kick();
    }
  });
}

TcgRunner::~TcgRunner() {
  stop_ = true;
  watchdog_.join();
}

uint64_t TcgRunner::Phys(Mode m, uint64_t addr) const {
  uint64_t lin = m == Mode::k16 ? oracle::Data16Base() + addr : addr;
  for (auto [virt, phys] : {std::pair{kHarnessVirt, kHarnessPhys}, std::pair{kDataVirt, kDataPhys},
                            std::pair{kEdgeVirt, kEdgePhys}}) {
    if (lin >= virt && lin < virt + kPage2M) return phys + (lin - virt);
  }
  return lin;  // the identity-mapped low 2 MiB (32-bit mode's low region)
}

Outcome TcgRunner::Run(const Case& c) {
  Outcome o;
  const Mode mode = c.req.mode;
  const bool m64 = mode == Mode::k64;
  std::vector<uint8_t> code = c.req.code;
  code.push_back(0xf4);  // HLT: #GP at CPL 3 marks the end
  uint64_t code_lin = mode == Mode::k16 ? oracle::Code16Base() + oracle::SnippetAddress(mode)
                                        : oracle::SnippetAddress(mode);
  uint64_t code_phys = kHarnessPhys + (code_lin - kHarnessVirt);
  m_.Write(code_phys, code.data(), code.size());
  for (const oracle::Region& r : c.req.mem) m_.Write(Phys(mode, r.addr), r.bytes.data(), r.bytes.size());
  m_.Write64(0x500, ~0ull);
  m_.Write64(0x510, ~0ull);
  CpuState s = base_[ModeIndex(mode)];
  for (int i = 0; i < 16; i++) {
    s.regs[i] = m64 ? c.req.in.gpr[i] : i < 8 ? c.req.in.gpr[i] & 0xffffffff : 0;
  }
  s.rflags = (c.req.in.flags & (kArith | DF)) | 0x202;
  if (m64) {
    s.seg[FS].base = c.req.fs_base;
    s.seg[GS].base = c.req.gs_base;
  }
  m_.SetState(s);
  deadline_ns_ = NowNs() + static_cast<int64_t>(c.req.timeout_ms) * 1000000;
  accel::RunResult r = m_.vcpu().Run();
  deadline_ns_ = 0;
  if (r.reason != accel::ExitReason::kHalt) {
    o.error = r.reason == accel::ExitReason::kStopped ? "timeout" : "run ended: " + r.detail;
    return o;
  }
  CpuState e = m_.State();
  uint64_t vector = m_.Read64(0x500), rip = m_.Read64(0x510);
  if (vector == ~0ull) {
    o.error = "halted without an exception (HLT at CPL 0?)";
    return o;
  }
  // The stub popped the error code: the ring-0 stack holds RIP, CS, RFLAGS, RSP, SS.
  uint64_t frame = e.regs[RSP];
  uint64_t end = oracle::SnippetAddress(mode) + c.req.code.size();
  o.faulted = !(vector == 13 && rip == end);
  o.vector = static_cast<int>(vector);
  o.offset = static_cast<int64_t>(rip - oracle::SnippetAddress(mode));
  for (int i = 0; i < 16; i++) o.regs.gpr[i] = e.regs[i];
  o.regs.gpr[RSP] = m_.Read64(frame + 24);
  o.regs.flags = m_.Read64(frame + 16);
  if (!m64) {
    for (int i = 0; i < 8; i++) o.regs.gpr[i] &= 0xffffffff;
    for (int i = 8; i < 16; i++) o.regs.gpr[i] = 0;
    o.regs.flags &= 0xffffffff;
  }
  for (const oracle::Region& reg : c.req.mem) {
    oracle::Region out;
    out.addr = reg.addr;
    out.bytes.resize(reg.bytes.size());
    std::memcpy(out.bytes.data(), m_.ram() + Phys(mode, reg.addr), reg.bytes.size());
    o.mem.push_back(std::move(out));
  }
  return o;
}

std::string Compare(const Case& c, const oracle::Result& nat, const Outcome& emu) {
  if (!nat.ok && !nat.faulted) return "oracle failed: " + nat.error;
  if (!emu.error.empty()) return "translator run failed: " + emu.error;
  std::string d;
  char b[200];
  if (nat.faulted != emu.faulted) {
    std::snprintf(b, sizeof b, "exception: host %s, translator %s\n",
                  nat.faulted ? ("vector " + std::to_string(nat.trapno) + " at +" + std::to_string(nat.fault_offset)).c_str() : "none",
                  emu.faulted ? ("vector " + std::to_string(emu.vector) + " at +" + std::to_string(emu.offset)).c_str() : "none");
    return d + b;
  }
  if (nat.faulted && (nat.trapno != emu.vector || nat.fault_offset != emu.offset)) {
    std::snprintf(b, sizeof b, "exception: host vector %d at +%" PRId64 ", translator vector %d at +%" PRId64 "\n",
                  nat.trapno, nat.fault_offset, emu.vector, emu.offset);
    d += b;
  }
  const bool m64 = c.req.mode == Mode::k64;
  for (int i = 0; i < (m64 ? 16 : 8); i++) {
    if ((c.regs_undefined >> i) & 1) continue;
    if (nat.out.gpr[i] != emu.regs.gpr[i]) {
      std::snprintf(b, sizeof b, "gpr %d: host %" PRIx64 ", translator %" PRIx64 "\n", i, nat.out.gpr[i], emu.regs.gpr[i]);
      d += b;
    }
  }
  uint64_t fmask = kCompared & ~c.flags_undefined;
  if ((nat.out.flags & fmask) != (emu.regs.flags & fmask)) {
    std::snprintf(b, sizeof b, "flags (mask %" PRIx64 "): host %" PRIx64 ", translator %" PRIx64 "\n", fmask,
                  nat.out.flags & fmask, emu.regs.flags & fmask);
    d += b;
  }
  for (size_t r = 0; r < c.req.mem.size() && r < nat.mem.size() && r < emu.mem.size(); r++) {
    const auto& x = nat.mem[r].bytes;
    const auto& y = emu.mem[r].bytes;
    for (size_t i = 0; i < x.size() && i < y.size(); i++) {
      if (x[i] != y[i]) {
        std::snprintf(b, sizeof b, "memory at %" PRIx64 ": host %02x, translator %02x (first difference)\n",
                      nat.mem[r].addr + i, x[i], y[i]);
        d += b;
        break;
      }
    }
  }
  return d;
}

std::string Describe(const Case& c, const oracle::Result& nat, const Outcome& emu, const std::string& diff) {
  const int n = c.req.mode == Mode::k64 ? 16 : 8;
  CpuMode cm = c.req.mode == Mode::k64 ? CpuMode::k64 : c.req.mode == Mode::k32 ? CpuMode::k32 : CpuMode::k16;
  std::string s = c.family + " in " + ModeName(c.req.mode) + "-bit mode: bytes " + Hex(c.req.code) + "\n";
  std::string notes;
  for (const auto& x : c.notes) notes += (notes.empty() ? "" : "; ") + x;
  s += "  generated: " + notes + "\n";
  s += Disassemble(c.req.code.data(), c.req.code.size(), oracle::SnippetAddress(c.req.mode), cm);
  char b[96];
  std::snprintf(b, sizeof b, "  undefined: flags %" PRIx64 " regs %x\n", c.flags_undefined, c.regs_undefined);
  s += b;
  s += "  input:      " + Regs(c.req.in, n) + "\n";
  s += "  host:       " + (nat.ok || nat.faulted ? Regs(nat.out, n) : nat.error) +
       (nat.faulted ? " (" + nat.error + ")" : "") + "\n";
  s += "  translator: " + (emu.error.empty() ? Regs(emu.regs, n) : emu.error) +
       (emu.faulted ? " (vector " + std::to_string(emu.vector) + " at +" + std::to_string(emu.offset) + ")" : "") + "\n";
  return s + diff;
}

void RunFamily(TcgRunner& runner, const Family& f, Mode mode, uint64_t seed, uint64_t first,
               uint64_t count, Tally* tally, size_t max_reports) {
  const uint64_t kChunk = 2048;
  for (uint64_t at = first; at < first + count; at += kChunk) {
    uint64_t n = std::min(kChunk, first + count - at);
    std::vector<Case> cases;
    std::vector<oracle::Request> reqs;
    cases.reserve(n);
    reqs.reserve(n);
    for (uint64_t i = 0; i < n; i++) {
      Gen g(mode, CaseSeed(seed, f.name, mode, at + i));
      cases.push_back(Generate(f, g));
      reqs.push_back(cases.back().req);
    }
    std::vector<oracle::Result> nat = oracle::RunNativeBatch(reqs);
    for (uint64_t i = 0; i < n; i++) {
      Outcome emu = runner.Run(cases[i]);
      tally->cases++;
      if (nat[i].faulted) tally->native_faults++;
      std::string diff = Compare(cases[i], nat[i], emu);
      if (diff.empty()) continue;
      tally->mismatches++;
      if (tally->reports.size() < max_reports) {
        char b[160];
        std::snprintf(b, sizeof b, "[repro: bench/difftest/run --seed %" PRIu64 " --family %s --mode %s --case %" PRIu64 "]\n",
                      seed, f.name, ModeName(mode), at + i);
        tally->reports.push_back(b + Describe(cases[i], nat[i], emu, diff));
      }
    }
  }
}

}  // namespace emu::x86::difftest
