// The translator's system architecture beyond the basics: hardware task switches
// (JMP/CALL/IRET/INT/exceptions through task gates, 32- and 16-bit TSS), call
// gates to inner rings, virtual-8086 mode, and the debug registers.
#include <gtest/gtest.h>

#include <cstring>
#include <utility>

#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

using accel::ExitReason;
using TM = TestMachine;

uint64_t Desc(uint32_t base, uint32_t limit, uint8_t access, uint8_t flags) {
  return (limit & 0xffffull) | (static_cast<uint64_t>(base & 0xffffff) << 16) |
         (static_cast<uint64_t>(access) << 40) | (static_cast<uint64_t>((limit >> 16) & 0xf) << 48) |
         (static_cast<uint64_t>(flags & 0xf) << 52) | (static_cast<uint64_t>(base >> 24) << 56);
}

// A gate descriptor: call gate (type 0xC/0x4), interrupt/trap gate (0xE/0xF), task gate (0x5).
uint64_t Gate(uint16_t sel, uint32_t off, unsigned type, unsigned dpl, unsigned params = 0) {
  return (off & 0xffff) | (static_cast<uint64_t>(sel) << 16) | (static_cast<uint64_t>(params & 0x1f) << 32) |
         (static_cast<uint64_t>(0x80 | (dpl << 5) | type) << 40) |
         (static_cast<uint64_t>(off >> 16) << 48);
}

// Selectors added to the harness GDT by these tests.
constexpr uint16_t kTssB = 0x60, kTssC = 0x68, kTss16 = 0x70, kCallGate = 0x78, kTaskGate = 0x80;
constexpr uint64_t kTssBAt = 0x5000, kTssCAt = 0x5100, kTss16At = 0x5200;

void SetGdt(TM& m, uint16_t sel, uint64_t d) { m.Write64(TM::kGdt + (sel & ~7u), d); }

// Room for the descriptors below; the current TSS (0x30) marked busy as LTR does.
void WideGdt(TM& m) {
  CpuState s = m.State();
  s.gdtr.limit = 0xfff;
  m.SetState(s);
  SetGdt(m, 0x30, Desc(TM::kTss, 0x67, 0x8b, 0));
}
void SetIdt(TM& m, int vec, uint64_t d) { m.Write64(TM::kIdt + 8 * vec, d); }
uint64_t GdtEntry(TM& m, uint16_t sel) { return m.Read64(TM::kGdt + (sel & ~7u)); }
bool Busy(TM& m, uint16_t sel) { return (GdtEntry(m, sel) >> 41) & 1; }

// A 32-bit TSS with flat ring-0 segments.
void WriteTss32(TM& m, uint64_t at, uint32_t eip, uint32_t esp, uint32_t eflags = 2,
                uint16_t cs = 0x08, uint16_t ss = 0x10, uint16_t ds = 0x10, uint32_t cr3 = 0,
                uint16_t ldt = 0) {
  std::vector<uint8_t> t(0x68, 0);
  auto put32 = [&](unsigned off, uint32_t v) { std::memcpy(&t[off], &v, 4); };
  put32(0x04, 0x90000);  // ESP0/SS0 for interrupts from an outer ring (vm86)
  put32(0x08, 0x10);
  put32(0x1c, cr3);
  put32(0x20, eip);
  put32(0x24, eflags);
  put32(0x38, esp);
  const uint16_t segs[6] = {ds, cs, ss, ds, ds, ds};
  for (int i = 0; i < 6; i++) put32(0x48 + 4 * i, segs[i]);
  put32(0x60, ldt);
  put32(0x64, 0x68u << 16);  // I/O map base beyond the limit: no bitmap
  m.Write(at, t.data(), t.size());
}

// An IDT handler that records (vector, error code if any, stacked EIP) like the
// harness stubs but loads DS first (it may come from vm86 with null segments),
// then HLTs.
void RecordingHandler(TM& m, int vec, bool err, uint64_t at) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "mov $0x10, %%ax\nmov %%ax, %%ds\nmovl $%d, 0x500\n%s"
                "pushl (%%esp)\npopl 0x510\nhlt\n",
                vec, err ? "popl 0x508\n" : "");
  ASSERT_TRUE(m.Load(buf, at));
  SetIdt(m, vec, Gate(0x08, static_cast<uint32_t>(at), 0xe, 3));
}

// ---- Task switches -------------------------------------------------------------

TEST(TcgTask, JmpToTssAndBack) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  SetGdt(m, kTssB, Desc(kTssBAt, 0x67, 0x89, 0));
  WriteTss32(m, kTssBAt, 0x20000, 0x60000);
  // Task B: note that it ran, look at the busy bits, jump back to the first task.
  ASSERT_TRUE(m.Load("movl $0xb, 0x600\n"
                     "mov 0x1034, %eax\nmov %eax, 0x604\n"  // TSS A descriptor, high half
                     "mov 0x1064, %eax\nmov %eax, 0x608\n"  // TSS B descriptor, high half
                     "pushf\npop 0x60c\n"
                     "ljmp $0x30, $0\n",
                     0x20000));
  accel::RunResult r = RunCode(m,
                               "mov $0x1234, %ebx\n"
                               "ljmp $0x60, $0\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_EQ(m.Read32(0x600), 0xbu);
  EXPECT_EQ((m.Read32(0x604) >> 9) & 1, 0u);  // A not busy while B runs (JMP)
  EXPECT_EQ((m.Read32(0x608) >> 9) & 1, 1u);  // B busy
  EXPECT_EQ(m.Read32(0x60c) & kFlagNT, 0u);   // JMP does not nest
  EXPECT_EQ(s.tr.selector, 0x30);
  EXPECT_EQ(s.rip, TM::kCode + 5 + 7 + 1);    // after the HLT in task A
  EXPECT_EQ(s.regs[RBX], 0x1234u);            // restored from TSS A
  EXPECT_TRUE(s.cr0 & kCr0TS);
  EXPECT_TRUE(Busy(m, 0x30));
  EXPECT_FALSE(Busy(m, kTssB));
  // B's state was saved: EIP after its far jump.
  EXPECT_EQ(m.Read32(kTssBAt + 0x20), 0x20000u + 10 + 10 + 10 + 7 + 7);
}

TEST(TcgTask, CallThroughTaskGateNestsAndIretReturns) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  SetGdt(m, kTssB, Desc(kTssBAt, 0x67, 0x89, 0));
  SetGdt(m, kTaskGate, Gate(kTssB, 0, 0x5, 0));
  WriteTss32(m, kTssBAt, 0x20000, 0x60000);
  ASSERT_TRUE(m.Load("pushf\npop 0x60c\n"
                     "mov 0x1034, %eax\nmov %eax, 0x604\n"
                     "movw 0x5000, %ax\nmovw %ax, 0x610\n"  // back link
                     "iret\n",
                     0x20000));
  accel::RunResult r = RunCode(m,
                               "mov $0x77, %esi\n"
                               "lcall $0x80, $0\n"
                               "mov %esi, %edi\n"
                               "pushf\npop %ecx\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_TRUE(m.Read32(0x60c) & kFlagNT);          // nested task
  EXPECT_EQ((m.Read32(0x604) >> 9) & 1, 1u);       // caller stays busy
  EXPECT_EQ(m.Read32(0x610) & 0xffff, 0x30u);      // previous task link
  EXPECT_EQ(s.regs[RDI], 0x77u);
  EXPECT_EQ(s.regs[RCX] & kFlagNT, 0u);
  EXPECT_EQ(s.tr.selector, 0x30);
  EXPECT_FALSE(Busy(m, kTssB));                    // IRET frees the nested task
  EXPECT_TRUE(Busy(m, 0x30));
}

TEST(TcgTask, SoftwareInterruptThroughTaskGate) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  SetGdt(m, kTssB, Desc(kTssBAt, 0x67, 0x89, 0));
  SetIdt(m, 0x40, Gate(kTssB, 0, 0x5, 3));
  WriteTss32(m, kTssBAt, 0x20000, 0x60000);
  // The handler task runs twice: IRET saves its EIP after the IRET, so the second
  // switch continues there (the classic task-gate handler loop).
  ASSERT_TRUE(m.Load("1: incl 0x600\niret\njmp 1b\n", 0x20000));
  accel::RunResult r = RunCode(m, "int $0x40\nint $0x40\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.Read32(0x600), 2u);
  EXPECT_EQ(m.State().rip, TM::kCode + 5);
}

TEST(TcgTask, DoubleFaultThroughTaskGate) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  SetGdt(m, kTssC, Desc(kTssCAt, 0x67, 0x89, 0));
  SetIdt(m, kDF, Gate(kTssC, 0, 0x5, 0));
  SetIdt(m, kGP, Gate(0x08, 0xb000 + 32 * kGP, 0xe, 0) & ~(1ull << 47));  // not present
  WriteTss32(m, kTssCAt, 0x21000, 0x68000);
  // The #DF task: the error code (0) is on its own stack; record, HLT.
  ASSERT_TRUE(m.Load("popl 0x600\nmov %esp, 0x604\nmovw 0x5100, %ax\nmovw %ax, 0x608\n"
                     "pushf\npop 0x60c\nhlt\n",
                     0x21000));
  accel::RunResult r = RunCode(m,
                               "mov $0x99, %ecx\n"
                               "mov $0x77, %dx\n"
                               "mov %dx, %ds\n"  // #GP -> #NP (gate not present) -> #DF
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_EQ(s.tr.selector, kTssC);
  EXPECT_EQ(m.Read32(0x600), 0u);
  EXPECT_EQ(m.Read32(0x604), 0x68000u);
  EXPECT_EQ(m.Read32(0x608) & 0xffff, 0x30u);
  EXPECT_TRUE(m.Read32(0x60c) & kFlagNT);
  // The faulting task's state: EIP of the faulting mov, ECX.
  EXPECT_EQ(m.Read32(TM::kTss + 0x20), TM::kCode + 5 + 4);
  EXPECT_EQ(m.Read32(TM::kTss + 0x2c), 0x99u);
}

TEST(TcgTask, NewTaskLoadsCr3AndLdt) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  // Two page directories of 4 MiB pages: both identity-map 0-4 MiB; linear
  // 4-8 MiB is physical 4 MiB in the first and 8 MiB in the second.
  for (uint32_t pd : {0x50000u, 0x51000u}) {
    m.Write32(pd, 0x83);
    m.Write32(pd + 4, (pd == 0x50000 ? 0x400000u : 0x800000u) | 0x83);
  }
  CpuState s = m.State();
  s.cr3 = 0x50000;
  s.cr4 |= kCr4PSE;
  s.cr0 |= kCr0PG;
  m.SetState(s);
  // An LDT (GDT 0x88) whose entry 0 is a data segment based at 1 MiB.
  SetGdt(m, 0x88, Desc(0x6000, 0xf, 0x82, 0));
  m.Write64(0x6000, Desc(0x100000, 0xfffff, 0x93, 0x8));
  SetGdt(m, kTssB, Desc(kTssBAt, 0x67, 0x89, 0));
  WriteTss32(m, kTssBAt, 0x20000, 0x60000, 2, 0x08, 0x10, 0x04, 0x51000, 0x88);
  ASSERT_TRUE(m.Load("movl $0x1111, 0x10\n"                 // DS from the LDT
                     "movl $0xabcd, %ss:0x400000\n"         // the new task's page tables
                     "sldt %ss:0x620\nhlt\n",
                     0x20000));
  m.Write32(0x400000, 0);
  accel::RunResult r = RunCode(m, "movl $0x5555, 0x400000\nljmp $0x60, $0\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  s = m.State();
  EXPECT_EQ(s.cr3, 0x51000u);
  EXPECT_EQ(s.ldtr.selector, 0x88);
  EXPECT_EQ(s.seg[DS].base, 0x100000u);
  EXPECT_EQ(m.Read32(0x100010), 0x1111u);
  EXPECT_EQ(m.Read32(0x800000), 0xabcdu);  // not through a stale TLB entry
  EXPECT_EQ(m.Read32(0x400000), 0x5555u);
  EXPECT_EQ(m.Read32(0x620) & 0xffff, 0x88u);
}

struct OneShotSource : accel::tcg::InterruptSource {
  int vector = -1;
  bool Pending() override { return vector >= 0; }
  int Acknowledge() override { return std::exchange(vector, -1); }
};

TEST(TcgTask, ExternalInterruptThroughTaskGate) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  OneShotSource src;
  m.vcpu().SetInterruptSource(&src);
  SetGdt(m, kTssB, Desc(kTssBAt, 0x67, 0x89, 0));
  SetIdt(m, 0x30, Gate(kTssB, 0, 0x5, 0));
  WriteTss32(m, kTssBAt, 0x20000, 0x60000);
  ASSERT_TRUE(m.Load("movl $0x1234, 0x600\niret\n", 0x20000));
  ASSERT_TRUE(m.Load("sti\nhlt\nmov 0x600, %ebx\nhlt\n"));
  accel::RunResult r = m.Run();
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  src.vector = 0x30;
  m.vcpu().InterruptRequest();
  r = m.Run();
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_EQ(s.regs[RBX], 0x1234u);
  EXPECT_EQ(s.tr.selector, 0x30);
  EXPECT_EQ(m.Read32(kTssBAt) & 0xffff, 0x30u);  // back link written by the interrupt
}

TEST(TcgTask, StackOverflowDoubleFaultsIntoATask) {
  // The classic use: the kernel stack runs into an unmapped page, the #PF cannot
  // be delivered on that stack, and the #DF task gate switches to a good stack.
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  for (uint32_t i = 0; i < 1024; i++) m.Write32(0x52000 + 4 * i, (i << 12) | 3);
  m.Write32(0x52000 + 4 * 0x7f, 0);  // 0x7f000-0x7ffff unmapped: just below kStack
  m.Write32(0x50000, 0x52000 | 3);
  CpuState s = m.State();
  s.cr3 = 0x50000;
  s.cr0 |= kCr0PG;
  m.SetState(s);
  SetGdt(m, kTssC, Desc(kTssCAt, 0x67, 0x89, 0));
  SetIdt(m, kDF, Gate(kTssC, 0, 0x5, 0));
  WriteTss32(m, kTssCAt, 0x21000, 0x68000, 2, 0x08, 0x10, 0x10, 0x50000);
  ASSERT_TRUE(m.Load("popl 0x600\nmov %cr2, %eax\nmov %eax, 0x604\nhlt\n", 0x21000));
  accel::RunResult r = RunCode(m, "pushl $1\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.State().tr.selector, kTssC);
  EXPECT_EQ(m.Read32(0x600), 0u);                       // #DF error code
  EXPECT_EQ(m.Read32(0x604), TM::kStack - 4);            // the push that faulted
  EXPECT_EQ(m.Read32(TM::kTss + 0x20), TM::kCode);       // faulting EIP saved
  EXPECT_EQ(m.Read32(TM::kTss + 0x38), TM::kStack);      // ESP before the push
}

TEST(TcgTask, BadTssLimitIsInvalidTss) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  SetGdt(m, kTssB, Desc(kTssBAt, 0x20, 0x89, 0));  // too small for a 32-bit TSS
  accel::RunResult r = RunCode(m, "ljmp $0x60, $0\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kTS);
  EXPECT_EQ(m.Read32(0x508), kTssB);
  EXPECT_EQ(m.Read32(0x510), TM::kCode);  // fault on the JMP, in the old task
  EXPECT_EQ(m.State().tr.selector, 0x30);
}

TEST(TcgTask, BusyTssAndBadSegmentInNewTask) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  // JMP to the busy current TSS: #GP(selector).
  accel::RunResult r = RunCode(m, "ljmp $0x30, $0\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_EQ(m.Read32(0x508), 0x30u);

  // A TSS whose DS is beyond the GDT: #TS(DS) reported in the new task.
  TM m2;
  m2.Enter(Mode::kProt32);
  CpuState s = m2.State();
  s.gdtr.limit = 0x6f;
  m2.SetState(s);
  SetGdt(m2, kTssB, Desc(kTssBAt, 0x67, 0x89, 0));
  WriteTss32(m2, kTssBAt, 0x20000, 0x60000, 2, 0x08, 0x10, 0x0ff0);
  r = RunCode(m2, "ljmp $0x60, $0\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m2.vector(), kTS);
  EXPECT_EQ(m2.Read32(0x508), 0x0ff0u);
  EXPECT_EQ(m2.Read32(0x510), 0x20000u);  // EIP of the new task
  EXPECT_EQ(m2.State().tr.selector, kTssB);
}

TEST(TcgTask, SixteenBitTss) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  SetGdt(m, kTss16, Desc(kTss16At, 0x2b, 0x81, 0));
  // 16-bit TSS: IP 0x300 in the 16-bit code segment 0x18 (based at kCode), SP, DS.
  std::vector<uint8_t> t(0x2c, 0);
  auto put16 = [&](unsigned off, uint16_t v) { std::memcpy(&t[off], &v, 2); };
  put16(0x0e, 0x300);
  put16(0x10, 0x2);
  put16(0x12, 0x4444);  // AX
  put16(0x1a, 0xf000);  // SP
  put16(0x22, 0x20);    // ES
  put16(0x24, 0x18);    // CS
  put16(0x26, 0x20);    // SS
  put16(0x28, 0x20);    // DS
  m.Write(kTss16At, t.data(), t.size());
  ASSERT_TRUE(m.Load(".code16\nmovw %ax, 0x600\nlcall $0x30, $0\n", TM::kCode + 0x300));
  accel::RunResult r = RunCode(m, "mov $0xaaaa5555, %eax\nljmp $0x70, $0\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.Read32(0x600) & 0xffff, 0x4444u);
  CpuState s = m.State();
  EXPECT_EQ(s.tr.selector, 0x30);
  EXPECT_EQ(s.regs[RAX], 0xaaaa5555u);
  EXPECT_EQ(m.Read32(kTss16At + 0x0e) & 0xffff, 0x300u + 3 + 5);  // saved IP (16-bit TSS)
  EXPECT_EQ(m.Read32(TM::kTss) & 0xffff, kTss16);                  // back link of task A
}

// ---- Call gates ---------------------------------------------------------------------

TEST(TcgCallGate, Ring3ToRing0WithParametersAndBack) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  SetGdt(m, kCallGate, Gate(0x08, 0x22000, 0xc, 3, 2));
  // Ring 0: copy the frame (EIP, CS, 2 params, ESP, SS) and CS/SS, return with RET 8.
  ASSERT_TRUE(m.Load("mov %esp, %esi\nmov $0x700, %edi\nmov $6, %ecx\nrep movsl\n"
                     "mov %cs, 0x720\nmov %ss, 0x724\nmov %esp, 0x728\nlret $8\n",
                     0x22000));
  // Ring 3: push two parameters, call through the gate, record, INT3 back.
  ASSERT_TRUE(m.Load("mov $0x4b, %ax\nmov %ax, %ds\nmov %ax, %es\n"
                     "push $0x1111\npush $0x2222\nlcall $0x7b, $0\n"
                     "mov %esp, 0x730\nmov %cs, 0x734\nint3\n",
                     0x21000));
  accel::RunResult r = RunCode(m,
                               "pushl $0x4b\npushl $0x70000\npushl $0x202\npushl $0x43\n"
                               "pushl $0x21000\niret\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kBP);
  EXPECT_EQ(m.Read32(0x700), 0x21000u + 8 + 5 + 5 + 7);  // return EIP
  EXPECT_EQ(m.Read32(0x704), 0x43u);
  EXPECT_EQ(m.Read32(0x708), 0x2222u);
  EXPECT_EQ(m.Read32(0x70c), 0x1111u);
  EXPECT_EQ(m.Read32(0x710), 0x70000u - 8);          // caller's ESP
  EXPECT_EQ(m.Read32(0x714), 0x4bu);
  EXPECT_EQ(m.Read32(0x720) & 0xffff, 0x08u);
  EXPECT_EQ(m.Read32(0x724) & 0xffff, 0x10u);        // SS0 from the TSS
  EXPECT_EQ(m.Read32(0x728), 0x90000u - 24);
  EXPECT_EQ(m.Read32(0x730), 0x70000u);              // parameters released by RET 8
  EXPECT_EQ(m.Read32(0x734) & 0xffff, 0x43u);
}

TEST(TcgCallGate, SixteenBitGateCopiesWords) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  // 16-bit gate (2 word parameters) from 32-bit ring 3 into the 16-bit ring-0 code
  // segment 0x18; everything below 64 KiB since the gate pushes 16-bit IP and SP.
  SetGdt(m, kCallGate, Gate(0x18, 0x400, 0x4, 3, 2));
  ASSERT_TRUE(m.Load(".code16\nmov %esp, %ebx\n"
                     "movl (%ebx), %eax\nmovl %eax, 0x700\nmovl 4(%ebx), %eax\nmovl %eax, 0x704\n"
                     "movl 8(%ebx), %eax\nmovl %eax, 0x708\nmov %ss, 0x720\nlret $4\n",
                     TM::kCode + 0x400));
  ASSERT_TRUE(m.Load("mov $0x4b, %ax\nmov %ax, %ds\nmov %ax, %es\n"
                     "pushw $0x1111\npushw $0x2222\nlcall $0x7b, $0\n"
                     "mov %esp, 0x730\nint3\n",
                     0xc000));
  accel::RunResult r = RunCode(m,
                               "pushl $0x4b\npushl $0xf000\npushl $0x202\npushl $0x43\n"
                               "pushl $0xc000\niret\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kBP);
  EXPECT_EQ(m.Read32(0x700), 0xc000u + 8 + 4 + 4 + 7 + (0x43u << 16));  // IP, CS
  EXPECT_EQ(m.Read32(0x704), 0x2222u | (0x1111u << 16));               // parameters
  EXPECT_EQ(m.Read32(0x708), 0xeffcu | (0x4bu << 16));                 // SP, SS
  EXPECT_EQ(m.Read32(0x720) & 0xffff, 0x10u);
  EXPECT_EQ(m.Read32(0x730), 0xf000u);
}

TEST(TcgCallGate, SixtyFourBitCallGate) {
  TM m;
  m.Enter(Mode::kLong64);
  WideGdt(m);
  SetGdt(m, 0x60, Gate(0x28, 0x22000, 0xc, 3));
  SetGdt(m, 0x68, 0);  // upper half: offset 63:32 = 0, type 0
  ASSERT_TRUE(m.Load("mov %rsp, %rsi\nmov $0x700, %edi\nmov $4, %ecx\nrep movsq\n"
                     "mov %ss, 0x720\nlretq\n",
                     0x22000));
  ASSERT_TRUE(m.Load("lcall *(%rax)\nmov %rsp, 0x730\nint3\n", 0x21000));
  m.Write32(0x680, 0);
  m.Write32(0x684, 0x63);
  accel::RunResult r = RunCode(m,
                               "mov $0x680, %eax\n"
                               "pushq $0x4b\npushq $0x70000\npushq $0x202\npushq $0x53\n"
                               "pushq $0x21000\niretq\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kBP);
  EXPECT_EQ(m.Read64(0x700), 0x21000u + 2);
  EXPECT_EQ(m.Read64(0x708), 0x53u);
  EXPECT_EQ(m.Read64(0x710), 0x70000u);
  EXPECT_EQ(m.Read64(0x718), 0x4bu);
  EXPECT_EQ(m.Read32(0x720) & 0xffff, 0u);  // null SS at the inner level
  EXPECT_EQ(m.Read64(0x730), 0x70000u);
}

// ---- Virtual-8086 mode ----------------------------------------------------------------

// Enters vm86 at 2000:0000 (linear 0x20000) with the given IOPL by IRET from ring 0.
std::string EnterVm86(unsigned iopl) {
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "pushl $0x3000\npushl $0x3000\npushl $0x3000\npushl $0x3000\n"  // GS FS DS ES
                "pushl $0x7000\npushl $0xfff0\n"                                  // SS ESP
                "pushl $0x%x\npushl $0x2000\npushl $0\niret\n",
                0x20002 | (iopl << 12));
  return buf;
}

TEST(TcgVm86, IretEntersAndIntReturnsWithIopl3) {
  TM m;
  m.Enter(Mode::kProt32);
  RecordingHandler(m, kGP, true, 0x23000);
  // Ring-0 handler for INT 0x40: copy the 9-dword frame, the segment registers it
  // got, then IRET back to vm86.
  ASSERT_TRUE(m.Load("mov %ds, %bx\nmov $0x10, %ax\nmov %ax, %ds\nmov %ax, %es\n"
                     "mov %esp, %esi\nmov $0x700, %edi\nmov $9, %ecx\nrep movsl\n"
                     "mov %bx, 0x740\nmov %ss, 0x744\nmov %cs, 0x748\nincl 0x74c\niret\n",
                     0x22000));
  SetIdt(m, 0x40, Gate(0x08, 0x22000, 0xe, 3));
  // vm86 code: real-mode addressing through DS=0x3000 (linear 0x30000).
  ASSERT_TRUE(m.Load(".code16\nmovw $0x5a5a, 0x10\nmov %cs, %ax\nmov %ax, 0x12\n"
                     "pushf\npop %ax\nmov %ax, 0x14\nint $0x40\nmovw $0x6b6b, 0x16\ncli\nsti\nhlt\n",
                     0x20000));
  accel::RunResult r = RunCode(m, EnterVm86(3));
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.Read32(0x30010) & 0xffff, 0x5a5au);
  EXPECT_EQ(m.Read32(0x30012) & 0xffff, 0x2000u);
  EXPECT_EQ((m.Read32(0x30014) >> 12) & 3, 3u);   // IOPL 3 visible to PUSHF
  EXPECT_EQ(m.Read32(0x74c), 1u);                 // INT handler ran once
  EXPECT_EQ(m.Read32(0x700), 18u);                // IP after INT 0x40
  EXPECT_EQ(m.Read32(0x704), 0x2000u);            // CS
  EXPECT_TRUE(m.Read32(0x708) & kFlagVM);         // EFLAGS with VM
  EXPECT_EQ(m.Read32(0x70c), 0xfff0u);            // ESP
  EXPECT_EQ(m.Read32(0x710), 0x7000u);            // SS
  for (int i = 0; i < 4; i++) EXPECT_EQ(m.Read32(0x714 + 4 * i), 0x3000u) << i;  // ES DS FS GS
  EXPECT_EQ(m.Read32(0x740) & 0xffff, 0u);        // DS nulled on entry to ring 0
  EXPECT_EQ(m.Read32(0x744) & 0xffff, 0x10u);     // SS0 from the TSS
  EXPECT_EQ(m.Read32(0x30016) & 0xffff, 0x6b6bu); // back in vm86 after IRET
  // HLT in vm86 (CPL 3): #GP(0) with the vm86 IP.
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_EQ(m.Read32(0x508), 0u);
  EXPECT_EQ(m.Read32(0x510), 18u + 6 + 2);
}

TEST(TcgVm86, IoplSensitiveInstructionsFaultBelowIopl3) {
  for (const char* insn : {"int $0x40", "cli", "sti", "pushf", "popf", "iret"}) {
    TM m;
    m.Enter(Mode::kProt32);
    RecordingHandler(m, kGP, true, 0x23000);
    ASSERT_TRUE(m.Load(std::string(".code16\nnop\n") + insn + "\nhlt\n", 0x20000));
    accel::RunResult r = RunCode(m, EnterVm86(0));
    ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
    EXPECT_EQ(m.vector(), kGP) << insn;
    EXPECT_EQ(m.Read32(0x508), 0u) << insn;
    EXPECT_EQ(m.Read32(0x510), 1u) << insn;  // IP of the instruction after the NOP
  }
}

TEST(TcgVm86, IoPermissionBitmap) {
  TM m;
  m.Enter(Mode::kProt32);
  RecordingHandler(m, kGP, true, 0x23000);
  // TSS I/O bitmap covering ports 0-0x107: all denied but 0x80.
  std::vector<uint8_t> bm(0x22, 0xff);
  bm[0x80 / 8] = 0xfe;
  m.Write(TM::kTss + 0x68, bm.data(), bm.size());
  SetGdt(m, 0x30, Desc(TM::kTss, 0x68 + 0x21, 0x8b, 0));
  CpuState s = m.State();
  s.tr.limit = 0x68 + 0x21;
  m.SetState(s);
  ASSERT_TRUE(m.Load(".code16\nmov $0x42, %al\nout %al, $0x80\nout %al, $0x81\nhlt\n", 0x20000));
  accel::RunResult r = RunCode(m, EnterVm86(0));
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  ASSERT_FALSE(m.bus().port_writes.empty());
  EXPECT_EQ(m.bus().port_writes[0].first, 0x80);
  EXPECT_EQ(m.bus().port_writes.size(), 1u);
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_EQ(m.Read32(0x510), 4u);  // the OUT to 0x81
}

TEST(TcgVm86, TaskSwitchIntoVm86) {
  TM m;
  m.Enter(Mode::kProt32);
  WideGdt(m);
  RecordingHandler(m, kGP, true, 0x23000);
  SetGdt(m, kTssB, Desc(kTssBAt, 0x67, 0x89, 0));
  // EFLAGS.VM in the new TSS: the selectors are real-mode paragraphs.
  WriteTss32(m, kTssBAt, 0x0, 0xfff0, 0x23002, 0x2000, 0x7000, 0x3000);
  ASSERT_TRUE(m.Load(".code16\nmovw $0x7777, 0x20\nhlt\n", 0x20000));
  accel::RunResult r = RunCode(m, "ljmp $0x60, $0\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.Read32(0x30020) & 0xffff, 0x7777u);
  EXPECT_EQ(m.vector(), kGP);  // the HLT at CPL 3
  EXPECT_EQ(m.Read32(0x510), 6u);
}

TEST(TcgVm86, VmeIsNotAdvertisedNorAccepted) {
  TM m;
  m.Enter(Mode::kProt32);
  accel::RunResult r = RunCode(m,
                               "mov $1, %eax\ncpuid\nmov %edx, 0x600\n"
                               "mov %cr4, %eax\nor $1, %eax\nmov %eax, %cr4\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.Read32(0x600) & 2, 0u);
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_EQ(m.State().cr4 & kCr4VME, 0u);
}

// ---- Debug registers --------------------------------------------------------------------

// #DB handler: count, record DR6 and the stacked EIP/EFLAGS, clear DR6, set RF in the
// stacked EFLAGS so the breakpoint instruction runs on return.
void DebugHandler(TM& m) {
  ASSERT_TRUE(m.Load("push %eax\npush %ecx\nincl 0x700\nmov %db6, %eax\nmov %eax, 0x704\n"
                     "mov 8(%esp), %eax\nmov 0x708, %ecx\nmov %eax, 0x710(,%ecx,4)\nincl 0x708\n"
                     "xor %eax, %eax\nmov %eax, %db6\n"
                     "orl $0x10000, 16(%esp)\npop %ecx\npop %eax\niret\n",
                     0x24000));
  SetIdt(m, kDB, Gate(0x08, 0x24000, 0xe, 0));
}

TEST(TcgDebug, InstructionBreakpointWithResumeFlag) {
  TM m;
  m.Enter(Mode::kProt32);
  DebugHandler(m);
  accel::RunResult r = RunCode(m,
                               "mov $0x10018, %eax\nmov %eax, %db0\nmov $1, %eax\nmov %eax, %db7\n"
                               "xor %ebx, %ebx\nmov $2, %edi\n"
                               "1: nop\ninc %ebx\ndec %edi\njnz 1b\n"
                               "xor %eax, %eax\nmov %eax, %db7\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_EQ(s.regs[RBX], 2u);
  EXPECT_EQ(m.Read32(0x700), 2u);  // once per pass: RF suppressed only the re-execution
  EXPECT_EQ(m.Read32(0x704) & 0xf, 1u);
  uint32_t bp = m.Read32(0x710);
  EXPECT_EQ(m.Read32(0x714), bp);
  EXPECT_EQ(bp, TM::kCode + 5 + 3 + 5 + 3 + 2 + 5 + 1);
  EXPECT_EQ(s.rflags & kFlagRF, 0u);
}

TEST(TcgDebug, DataBreakpointsTrapAfterTheAccess) {
  TM m;
  m.Enter(Mode::kProt32);
  DebugHandler(m);
  // DR1: write-only watch of the dword at 0x7000; DR2: read/write of the word at 0x7104.
  uint32_t dr7 = (1u << 2) | (1u << 20) | (3u << 22) | (1u << 4) | (3u << 24) | (1u << 26);
  char buf[600];
  std::snprintf(buf, sizeof buf,
                "mov $0x7000, %%eax\nmov %%eax, %%db1\nmov $0x7104, %%eax\nmov %%eax, %%db2\n"
                "mov $0x%x, %%eax\nmov %%eax, %%db7\n"
                "mov 0x7000, %%ebx\n"       // read: DR1 watches writes only
                "movl $5, 0x7002\n"         // overlaps DR1's dword
                "a1: mov 0x7105, %%cl\n"    // read inside DR2's word
                "a2: movl $6, 0x7200\n"     // same page as DR2, not watched
                "mov $0x7200, %%edi\nmov $9, %%eax\nstosl\n"
                "xor %%eax, %%eax\nmov %%eax, %%db7\nhlt\n",
                dr7);
  accel::RunResult r = RunCode(m, buf);
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.Read32(0x700), 2u);
  uint32_t base = TM::kCode + 5 + 3 + 5 + 3 + 5 + 3 + 6 + 10;
  EXPECT_EQ(m.Read32(0x710), base);      // trap after the write: rip = a1
  EXPECT_EQ(m.Read32(0x714), base + 6);  // after the read: rip = a2
  EXPECT_EQ(m.Read32(0x704) & 0xf, 4u);      // the last one was DR2
  EXPECT_EQ(m.Read32(0x7000), 0x50000u);     // the store happened
  EXPECT_EQ(m.Read32(0x7200), 9u);
}

TEST(TcgDebug, IoBreakpointsTrapAfterTheAccess) {
  TM m;
  m.Enter(Mode::kProt32);
  DebugHandler(m);
  // CR4.DE; DR3: I/O breakpoint (R/W = 10) on ports 0x80-0x81 (LEN = 2 bytes).
  uint32_t dr7 = (1u << 6) | (2u << 28) | (1u << 30);
  char buf[700];
  std::snprintf(buf, sizeof buf,
                "mov %%cr4, %%eax\nor $8, %%eax\nmov %%eax, %%cr4\n"
                "mov $0x80, %%eax\nmov %%eax, %%db3\nmov $0x%x, %%eax\nmov %%eax, %%db7\n"
                "out %%al, $0x70\n"  // not watched
                "out %%al, $0x81\n"  // inside the range
                "a1: in $0x80, %%al\n"  // reads break too
                "a2: mov $0x82, %%dx\nout %%al, (%%dx)\n"  // just past the range
                "mov $0x80, %%dx\nmov $0x7000, %%esi\nmov $3, %%ecx\ncld\n"
                "a3: rep outsb\n"  // traps after each iteration, resumes the REP
                "xor %%eax, %%eax\nmov %%eax, %%db7\nhlt\n",
                dr7);
  accel::RunResult r = RunCode(m, buf);
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  uint32_t a1 = TM::kCode + 3 + 3 + 3 + 5 + 3 + 5 + 3 + 2 + 2;
  uint32_t a3 = a1 + 2 + 4 + 1 + 4 + 5 + 5 + 1;
  EXPECT_EQ(m.Read32(0x700), 5u);  // OUT 0x81, IN 0x80, three OUTSB iterations
  EXPECT_EQ(m.Read32(0x704) & 0xf, 8u);  // B3
  EXPECT_EQ(m.Read32(0x710), a1);      // trap after the OUT: eip = a1
  EXPECT_EQ(m.Read32(0x714), a1 + 2);  // after the IN: eip = a2
  EXPECT_EQ(m.Read32(0x718), a3);      // REP OUTSB: eip = the REP, to resume it...
  EXPECT_EQ(m.Read32(0x71c), a3);
  EXPECT_EQ(m.Read32(0x720), a3 + 2);  // ...until the last iteration completes it
  size_t outs = 0;
  for (auto& w : m.bus().port_writes) outs += w.first == 0x80;
  EXPECT_EQ(outs, 3u);  // each iteration ran once
}

TEST(TcgDebug, FaultsPushResumeFlag) {
  TM m;
  m.Enter(Mode::kProt32);
  // #GP handler: the stacked EFLAGS (above the error code, EIP, CS) to 0x600; then
  // INT 0x40 (a software interrupt: RF pushed as 0) to the same kind of handler.
  ASSERT_TRUE(m.Load("mov 12(%esp), %eax\nmov %eax, 0x600\naddl $2, 4(%esp)\n"
                     "add $4, %esp\niret\n", 0x22000));
  ASSERT_TRUE(m.Load("mov 8(%esp), %eax\nmov %eax, 0x604\niret\n", 0x22100));
  SetIdt(m, kGP, Gate(0x08, 0x22000, 0xe, 0));
  SetIdt(m, 0x40, Gate(0x08, 0x22100, 0xe, 3));
  accel::RunResult r = RunCode(m, "mov $0x77, %dx\nmov %dx, %ds\nint $0x40\npushf\npop %ecx\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_TRUE(m.Read32(0x600) & kFlagRF);
  EXPECT_FALSE(m.Read32(0x604) & kFlagRF);
  EXPECT_EQ(m.State().rflags & kFlagRF, 0u);  // cleared again after the IRET
}

TEST(TcgDebug, SingleStepSetsBsAndGeneralDetect) {
  TM m;
  m.Enter(Mode::kProt32);
  DebugHandler(m);
  // TF: one #DB after the instruction following POPF, with DR6.BS.
  accel::RunResult r = RunCode(m,
                               "pushf\norl $0x100, (%esp)\npopf\nnop\n"
                               "pushf\nandl $~0x100, (%esp)\npopf\n"
                               "mov $0x2000, %eax\nmov %eax, %db7\n"  // GD
                               "gd: mov %db0, %eax\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  uint32_t n = m.Read32(0x700);
  ASSERT_GE(n, 2u);
  // The last #DB is the general-detect fault on the MOV from DR0 (BD, bit 13).
  EXPECT_EQ(m.Read32(0x710 + 4 * (n - 1)), TM::kCode + 1 + 7 + 1 + 1 + 1 + 7 + 1 + 5 + 3);
  EXPECT_TRUE(m.Read32(0x704) & (1u << 13));
  // The first was the single step with BS.
  EXPECT_EQ(m.Read32(0x710), TM::kCode + 1 + 7 + 1 + 1);
}

TEST(TcgDebug, ReservedUpperHalfOfDr7Faults) {
  TM m;
  m.Enter(Mode::kLong64);
  accel::RunResult r = RunCode(m, "mov $0x100000401, %rax\nmov %rax, %db7\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_EQ(m.State().dr[7], 0x400u);  // unchanged
}

}  // namespace
}  // namespace emu::x86::test
