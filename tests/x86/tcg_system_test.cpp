// System-level behaviour under the translator: interrupts and exceptions in each
// mode, precise faults, paging, self-modifying code, privilege transitions.
#include <gtest/gtest.h>

#include <cstring>

#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

using accel::ExitReason;

// Every test runs under both backends: native code (the default) and the interpreter.
class TcgSystem : public BackendTest {};
INSTANTIATE_TEST_SUITE_P(, TcgSystem, BackendValues(), BackendName);

TEST_P(TcgSystem, RunsOnTheBackendAsked) {
  TestMachine m(Opts());
  EXPECT_EQ(m.accel().cache().code() != nullptr, ExpectNativeCode());
  m.Enter(Mode::kLong64);
  accel::RunResult r = RunCode(m, "mov $40, %ecx\n1: add %ecx, %eax\nloop 1b\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.State().regs[RAX], 820u);
  // Native: the blocks it ran were emitted as host code.
  if (ExpectNativeCode()) {
    EXPECT_GT(m.accel().cache().code()->used(), 0u);
  }
}

TEST_P(TcgSystem, RealModeIntIretAndFarCall) {
  TestMachine m(Opts());
  m.Enter(Mode::kReal);
  // INT 0x40 handler at 0x2000:0x0010: adds to AX, sets a flag byte, IRET.
  m.Write32(0x40 * 4, 0x20000010);
  ASSERT_TRUE(m.Load("add $0x1111, %ax\nmovb $1, 0x600\niret\n", 0x20010));
  // Far procedure at 0x3000:0x0000.
  ASSERT_TRUE(m.Load("mov $0x4242, %bx\nlret\n", 0x30000));
  accel::RunResult r = RunCode(m,
                               "mov $0x1000, %ax\n"
                               "sti\n"
                               "int $0x40\n"
                               "mov %ax, %dx\n"
                               "lcall $0x3000, $0\n"
                               "pushf\n"
                               "pop %si\n"
                               "mov %cs, %di\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_EQ(s.regs[RDX] & 0xffff, 0x2111u);
  EXPECT_EQ(s.regs[RBX] & 0xffff, 0x4242u);
  EXPECT_EQ(m.ram()[0x600], 1);
  EXPECT_TRUE(s.regs[RSI] & kFlagIF);  // IRET restored IF
  EXPECT_EQ(s.regs[RDI] & 0xffff, 0x1000u);
  EXPECT_EQ(s.regs[RSP] & 0xffff, 0xfff0u);
}

TEST_P(TcgSystem, RealModeExceptionGoesThroughIvt) {
  TestMachine m(Opts());
  m.Enter(Mode::kReal);
  accel::RunResult r = RunCode(m, "mov $7, %cx\nud2\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kUD);
  EXPECT_EQ(m.Read32(0x510) & 0xffff, 3u);  // IP of the ud2 (after the 3-byte mov)
}

TEST_P(TcgSystem, ProtectedModeSegmentFaultIsPrecise) {
  TestMachine m(Opts());
  m.Enter(Mode::kProt32);
  accel::RunResult r = RunCode(m,
                               "mov $0x11, %ebx\n"
                               "mov $0x22, %ecx\n"
                               "mov $0x77, %dx\n"    // selector beyond the GDT limit
                               "mov %dx, %ds\n"
                               "mov $0x33, %ebx\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_EQ(m.Read32(0x508), 0x74u);  // error code: the selector index
  CpuState s = m.State();
  EXPECT_EQ(s.regs[RBX], 0x11u);
  EXPECT_EQ(s.regs[RCX], 0x22u);
  EXPECT_EQ(m.Read32(0x510), TestMachine::kCode + 14);  // rip of the faulting mov
}

TEST_P(TcgSystem, FarJumpToSixteenBitSegmentAndBack) {
  TestMachine m(Opts());
  m.Enter(Mode::kProt32);
  // 16-bit code at kCode+0x100 (segment 0x18 is based at kCode): mov, far jmp back.
  ASSERT_TRUE(m.Load(".code16\nmov $0x1234, %ax\nljmpl $0x08, $0x10200\n", TestMachine::kCode + 0x100));
  ASSERT_TRUE(m.Load("mov $0x5678, %ebx\nhlt\n", TestMachine::kCode + 0x200));
  accel::RunResult r = RunCode(m, "ljmp $0x18, $0x100\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_EQ(s.regs[RAX] & 0xffff, 0x1234u);
  EXPECT_EQ(s.regs[RBX], 0x5678u);
  EXPECT_EQ(s.seg[CS].selector, 0x08);
}

// Long mode with 4 KiB pages for 0x200000-0x3fffff so single pages can be unmapped.
void SplitSecondLargePage(TestMachine& m) {
  uint64_t pd = TestMachine::kPml4 + 0x2000;
  uint64_t pt = 0x60000;
  for (int i = 0; i < 512; i++) m.Write64(pt + 8 * i, (0x200000 + 0x1000ull * i) | 7);
  m.Write64(pd + 8, pt | 7);
}

TEST_P(TcgSystem, PageFaultInMidBlockIsPrecise) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  SplitSecondLargePage(m);
  m.Write64(0x60000 + 8 * 5, 0);  // unmap 0x205000
  accel::RunResult r = RunCode(m,
                               "mov $0x205010, %rax\n"
                               "mov $1, %rbx\n"
                               "add $5, %rbx\n"       // rbx = 6, flags from the add
                               "push %rbx\n"
                               "mov (%rax), %rcx\n"   // #PF here
                               "mov $99, %rbx\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kPF);
  CpuState s = m.State();
  EXPECT_EQ(s.cr2, 0x205010u);
  EXPECT_EQ(m.Read64(0x508), 0u);  // not present, read, supervisor
  EXPECT_EQ(s.regs[RBX], 6u);
  EXPECT_EQ(m.Read64(TestMachine::kStack - 8), 6u);  // the push happened
  // rip of the faulting instruction: 7 + 7 + 4 + 1 bytes in.
  EXPECT_EQ(m.Read64(0x510), TestMachine::kCode + 19);
}

TEST_P(TcgSystem, WriteProtectAndUserPagesInLegacyPaging) {
  TestMachine m(Opts());
  m.Enter(Mode::kProt32);
  // 2-level paging: page directory at 0x50000, one 4 MiB PSE page for 0-4 MiB
  // (supervisor), and a page table mapping 4-8 MiB with 0x401000 read-only.
  m.Write32(0x50000, 0x00000083);           // 4 MiB page, present, writable, supervisor
  m.Write32(0x50004, 0x51000 | 7);
  for (int i = 0; i < 1024; i++) m.Write32(0x51000 + 4 * i, (0x400000 + 0x1000 * i) | 7);
  m.Write32(0x51000 + 4 * 1, 0x401000 | 5);  // read-only, user
  CpuState s = m.State();
  s.cr3 = 0x50000;
  s.cr4 |= kCr4PSE;
  s.cr0 |= kCr0PG | kCr0WP;
  m.SetState(s);
  accel::RunResult r = RunCode(m,
                               "movl $5, 0x400000\n"
                               "mov 0x401000, %eax\n"
                               "movl $1, 0x401004\n"   // #PF: protection, write, supervisor (WP)
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kPF);
  EXPECT_EQ(m.Read32(0x508), 3u);
  EXPECT_EQ(m.State().cr2, 0x401004u);
  // Accessed and dirty bits were set.
  EXPECT_EQ(m.Read32(0x51000) & 0x60, 0x60u);
  EXPECT_EQ(m.Read32(0x51004) & 0x60, 0x20u);
}

TEST_P(TcgSystem, SelfModifyingCodeInTheSameBlock) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  // The store patches the immediate of the mov that follows it in the same block.
  accel::RunResult r = RunCode(m,
                               "lea patch+1(%rip), %rax\n"
                               "movl $0x2222, (%rax)\n"
                               "patch: mov $0x1111, %ebx\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.State().regs[RBX], 0x2222u);
}

TEST_P(TcgSystem, SelfModifyingCodeRewritesTheBranchThatEndsTheBlock) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  // The store turns the JNE right after it (the block's terminal) into a JE: the
  // new instruction must run, not the translated one.
  accel::RunResult r = RunCode(m,
                               "lea patch(%rip), %rax\n"
                               "xor %ecx, %ecx\n"          // ZF = 1
                               "movb $0x74, (%rax)\n"     // jne -> je
                               "patch: jne 1f\n"
                               "mov $1, %ebx\n"
                               "hlt\n"
                               "1: mov $2, %ebx\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.State().regs[RBX], 2u);
}

TEST_P(TcgSystem, SelfModifyingCodeInALoop) {
  TestMachine m(Opts());
  m.Enter(Mode::kProt32);
  // A hot loop calls a function whose first instruction is rewritten halfway.
  ASSERT_TRUE(m.Load("mov $1, %eax\nret\n", 0x20000));
  accel::RunResult r = RunCode(m,
                               "xor %ebx, %ebx\n"
                               "mov $100, %ecx\n"
                               "1: mov $0x20000, %edx\ncall *%edx\n"
                               "add %eax, %ebx\n"
                               "cmp $51, %ecx\n"
                               "jne 2f\n"
                               "movb $3, 0x20001\n"   // mov $1 -> mov $3
                               "2: loop 1b\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.State().regs[RBX], 50u * 1 + 50u * 3);
}

TEST_P(TcgSystem, SyscallSysretAndUserMode) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  CpuState s = m.State();
  s.star = (static_cast<uint64_t>(0x3b) << 48) | (static_cast<uint64_t>(0x28) << 32);
  s.lstar = 0x20000;
  s.fmask = kFlagIF;
  m.SetState(s);
  // Kernel entry: count, return to user with sysretq.
  ASSERT_TRUE(m.Load("add $1, %r12\nsysretq\n", 0x20000));
  // User code at 0x21000: syscall twice, then an int3 goes back to the kernel (IDT).
  ASSERT_TRUE(m.Load("syscall\nsyscall\nmov %cs, %r13\nint3\n", 0x21000));
  // Enter ring 3 with iretq: ss, rsp, rflags, cs, rip.
  accel::RunResult r = RunCode(m,
                               "xor %r12, %r12\n"
                               "pushq $0x4b\n"
                               "pushq $0x70000\n"
                               "pushq $0x202\n"
                               "pushq $0x53\n"
                               "pushq $0x21000\n"
                               "iretq\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState e = m.State();
  EXPECT_EQ(e.regs[R12], 2u);
  EXPECT_EQ(e.regs[R13] & 0xffff, 0x4bu);  // sysret to the 64-bit user CS (STAR[63:48]+16 | 3)
  EXPECT_EQ(m.vector(), kBP);
  EXPECT_EQ(e.seg[CS].selector, 0x28);     // back in the kernel
  EXPECT_EQ(e.regs[RSP], 0x90000u - 40);  // the 5-slot frame on the TSS rsp0 stack
}

TEST_P(TcgSystem, ProtectedModeRing3AndBackThroughTheTss) {
  TestMachine m(Opts());
  m.Enter(Mode::kProt32);
  // User code: load user data segments, then INT3 back to ring 0.
  ASSERT_TRUE(m.Load("mov $0x4b, %ax\nmov %ax, %ds\nmov %cs, %ebx\nmov $7, %ecx\nint3\n", 0x21000));
  accel::RunResult r = RunCode(m,
                               "pushl $0x4b\n"       // ss (user data, RPL 3)
                               "pushl $0x70000\n"    // esp
                               "pushl $0x202\n"      // eflags
                               "pushl $0x43\n"       // cs (user code, RPL 3)
                               "pushl $0x21000\n"    // eip
                               "iret\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  EXPECT_EQ(m.vector(), kBP);
  EXPECT_EQ(s.regs[RBX] & 0xffff, 0x43u);
  EXPECT_EQ(s.regs[RCX], 7u);
  EXPECT_EQ(s.seg[CS].selector, 0x08);
  EXPECT_EQ(s.seg[SS].selector, 0x10);      // SS0 from the TSS
  EXPECT_EQ(s.regs[RSP], 0x90000u - 20);    // ss, esp, eflags, cs, eip
  EXPECT_EQ(m.Read32(0x90000 - 8), 0x70000u);  // the user's esp
  EXPECT_EQ(m.Read32(0x90000 - 12) & 0x202, 0x202u);  // the user's eflags
  EXPECT_EQ(m.Read32(0x90000 - 4), 0x4bu);  // the user's ss
  EXPECT_EQ(m.Read32(0x510), 0x21000u + 14);  // return address after int3
  // A user-mode port access without I/O permission faults.
  TestMachine m2(Opts());
  m2.Enter(Mode::kProt32);
  ASSERT_TRUE(m2.Load("mov $0xe9, %dx\nout %al, %dx\n", 0x21000));
  r = RunCode(m2, "pushl $0x4b\npushl $0x70000\npushl $0x202\npushl $0x43\npushl $0x21000\niret\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m2.vector(), kGP);
  EXPECT_TRUE(m2.bus().debug_out.empty());
}

TEST_P(TcgSystem, TripleFaultShutsDown) {
  TestMachine m(Opts());
  m.Enter(Mode::kProt32);
  accel::RunResult r = RunCode(m,
                               "lidt 1f\n"
                               "int3\n"
                               "1: .word 0\n.long 0\n");
  EXPECT_EQ(r.reason, ExitReason::kShutdown);
}

struct OneShotSource : accel::tcg::InterruptSource {
  int vector = -1;
  bool Pending() override { return vector >= 0; }
  int Acknowledge() override {
    int v = vector;
    vector = -1;
    return v;
  }
};

TEST_P(TcgSystem, ExternalInterruptWakesHalt) {
  TestMachine m(Opts());
  m.Enter(Mode::kReal);
  OneShotSource src;
  m.vcpu().SetInterruptSource(&src);
  m.Write32(0x30 * 4, 0x20000000);
  ASSERT_TRUE(m.Load("movw $0xbeef, 0x600\niret\n", 0x20000));
  ASSERT_TRUE(m.Load("sti\nhlt\nmov 0x600, %bx\nhlt\n"));
  accel::RunResult r = m.Run();
  ASSERT_EQ(r.reason, ExitReason::kHalt);
  EXPECT_TRUE(m.State().halted);
  src.vector = 0x30;
  m.vcpu().InterruptRequest();
  r = m.Run();
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.State().regs[RBX] & 0xffff, 0xbeefu);
}

// An interrupt that arrives while IF=0 is taken in the next STI window, also when
// the instruction in STI's shadow has run (and could have been chained) before:
// a one-instruction block must return to the dispatcher, which checks interrupts.
TEST_P(TcgSystem, InterruptTakenAfterStiInHotLoop) {
  TestMachine m(Opts());
  m.Enter(Mode::kReal);
  OneShotSource src;
  m.vcpu().SetInterruptSource(&src);
  m.bus().on_port_write = [&](uint16_t port, uint64_t) {
    if (port != 0x80) return;
    src.vector = 0x30;
    m.vcpu().InterruptRequest();
  };
  m.Write32(0x30 * 4, 0x20000000);
  ASSERT_TRUE(m.Load("movw $0xbeef, %bx\niret\n", 0x20000));
  ASSERT_TRUE(m.Load(
      "xor %bx, %bx\n"
      "mov $2000, %si\n"
      "1: cli\n"
      "cmp $1000, %si\n"
      "jne 2f\n"
      "out %al, $0x80\n"  // the interrupt arrives while IF=0
      "2: mov $20, %cx\n"
      "3: loop 3b\n"
      "sti\n"
      "nop\n"  // in the interrupt shadow: a one-instruction block
      "cli\n"
      "cmp $0xbeef, %bx\n"
      "je 4f\n"
      "dec %si\n"
      "jnz 1b\n"
      "4: hlt\n"));
  accel::RunResult r = m.Run();
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.State().regs[RBX] & 0xffff, 0xbeefu);
  EXPECT_EQ(m.State().regs[RSI] & 0xffff, 1000u);  // in the iteration it arrived
}

TEST_P(TcgSystem, InitAndStartupIpi) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  m.vcpu().RequestInit();
  accel::RunResult r = m.Run();
  EXPECT_EQ(r.reason, ExitReason::kHalt);
  EXPECT_TRUE(m.vcpu().waiting_for_sipi());
  m.vcpu().InterruptRequest();  // interrupts do not wake a CPU waiting for SIPI
  EXPECT_EQ(m.Run().reason, ExitReason::kHalt);
  // Real-mode code at 0x9000 (SIPI vector 9).
  std::vector<uint8_t> code;
  std::string err;
  ASSERT_TRUE(Assemble("mov $0x1234, %ax\nhlt\n", 16, &code, &err)) << err;
  m.Write(0x9000, code.data(), code.size());
  m.vcpu().RequestSipi(9);
  r = m.Run();
  EXPECT_EQ(r.reason, ExitReason::kHalt);
  CpuState s = m.State();
  EXPECT_EQ(s.regs[RAX] & 0xffff, 0x1234u);
  EXPECT_EQ(s.seg[CS].selector, 0x900);
  EXPECT_EQ(s.cr0 & kCr0PE, 0u);
}

TEST_P(TcgSystem, KickStopsAnInfiniteLoop) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  ASSERT_TRUE(m.Load("1: inc %rax\njmp 1b\n"));
  accel::RunResult r = m.Run(200);
  EXPECT_EQ(r.reason, ExitReason::kStopped);
  EXPECT_GT(m.State().regs[RAX], 1000u);
  EXPECT_GT(m.accel().cache().size(), 0u);
}

TEST_P(TcgSystem, CpuidAndTsc) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  accel::RunResult r = RunCode(m,
                               "xor %eax, %eax\ncpuid\nmov %ebx, %r8d\nmov %edx, %r9d\nmov %ecx, %r10d\n"
                               "mov $0x80000001, %eax\ncpuid\nmov %edx, %r11d\n"
                               "rdtsc\nshl $32, %rdx\nor %rax, %rdx\nmov %rdx, %r12\n"
                               "rdtsc\nshl $32, %rdx\nor %rax, %rdx\nsub %r12, %rdx\nmov %rdx, %r13\n"
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState s = m.State();
  char vendor[13] = {};
  std::memcpy(vendor, &s.regs[R8], 4);
  std::memcpy(vendor + 4, &s.regs[R9], 4);
  std::memcpy(vendor + 8, &s.regs[R10], 4);
  EXPECT_STREQ(vendor, "GenuineIntel");
  EXPECT_TRUE(s.regs[R11] & (1u << 29));  // long mode
  EXPECT_LT(static_cast<int64_t>(s.regs[R13]), 1000000000);
  EXPECT_GE(static_cast<int64_t>(s.regs[R13]), 0);
}

TEST_P(TcgSystem, SseAlignmentAndX87Control) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  accel::RunResult r = RunCode(m,
                               "fninit\n"
                               "fnstcw 0x600\n"
                               "movw $0x27f, 0x602\n"
                               "fldcw 0x602\n"
                               "fnstcw 0x604\n"
                               "fnstsw %ax\n"
                               "mov $0x20001, %rbx\n"
                               "movdqu (%rbx), %xmm1\n"    // fine
                               "paddb (%rbx), %xmm1\n"     // #GP: misaligned m128
                               "hlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.Read32(0x600) & 0xffff, 0x37fu);
  EXPECT_EQ(m.Read32(0x604) & 0xffff, 0x27fu);
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_EQ(m.State().regs[RAX] & 0xffff, 0u);
}

TEST_P(TcgSystem, SseWithoutOsfxsrIsUndefined) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  CpuState s = m.State();
  s.cr4 &= ~kCr4OSFXSR;
  m.SetState(s);
  accel::RunResult r = RunCode(m, "pxor %xmm0, %xmm0\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  EXPECT_EQ(m.vector(), kUD);
}

TEST_P(TcgSystem, StepExecutesOneInstruction) {
  TestMachine m(Opts());
  m.Enter(Mode::kLong64);
  ASSERT_TRUE(m.Load("mov $1, %eax\nadd $2, %eax\nud2\nhlt\n"));
  accel::RunResult r = m.vcpu().Step();
  EXPECT_EQ(r.reason, ExitReason::kStopped);
  EXPECT_EQ(m.State().regs[RAX], 1u);
  EXPECT_EQ(m.State().rip, TestMachine::kCode + 5);
  m.vcpu().Step();
  EXPECT_EQ(m.State().regs[RAX], 3u);
  m.vcpu().Step();  // ud2: the #UD is delivered, rip at the handler
  EXPECT_EQ(m.State().rip, 0xb000u + 32 * kUD);
  r = m.Run();
  EXPECT_EQ(r.reason, ExitReason::kHalt);
  EXPECT_EQ(m.vector(), kUD);
}

TEST_P(TcgSystem, SingleStepOption) {
  accel::tcg::TcgOptions o = Opts();
  o.singlestep = true;
  TestMachine m(o);
  m.Enter(Mode::kLong64);
  accel::RunResult r = RunCode(m, "mov $1, %eax\nadd $2, %eax\nadd $3, %eax\nhlt\n");
  ASSERT_EQ(r.reason, ExitReason::kHalt);
  EXPECT_EQ(m.State().regs[RAX], 6u);
  EXPECT_GE(m.vcpu().blocks_executed(), 4u);
}

}  // namespace
}  // namespace emu::x86::test
