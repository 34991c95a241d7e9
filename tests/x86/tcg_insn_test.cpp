// Snippets with expected final state, in each CPU mode.
#include <gtest/gtest.h>

#include <cstring>

#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

using accel::ExitReason;

// Runs `src` + hlt in `mode`; returns the final state.
CpuState RunIn(TestMachine& m, Mode mode, const std::string& src, CpuState* init = nullptr) {
  m.Enter(mode);
  if (init) {
    CpuState s = m.State();
    for (int i = 0; i < 16; i++)
      if (i != RSP) s.regs[i] = init->regs[i];
    m.SetState(s);
  }
  EXPECT_TRUE(m.Load(src + "\nhlt\n"));
  accel::RunResult r = m.Run();
  EXPECT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  return m.State();
}

const Mode kAllModes[] = {Mode::kProt32, Mode::kReal, Mode::kProt16, Mode::kLong64, Mode::kCompat32};

TEST(TcgInsn, LoopSumInEveryMode) {
  for (Mode mode : kAllModes) {
    TestMachine m;
    CpuState s = RunIn(m, mode,
                       "xor %ax, %ax\n"
                       "mov $100, %cx\n"
                       "1: add %cx, %ax\n"
                       "dec %cx\n"
                       "jnz 1b\n");
    EXPECT_EQ(s.regs[RAX] & 0xffff, 5050u) << "mode " << static_cast<int>(mode);
    EXPECT_EQ(m.vector(), -1);
  }
}

TEST(TcgInsn, Alu64AndZeroExtension) {
  TestMachine m;
  CpuState s = RunIn(m, Mode::kLong64,
                     "mov $-1, %rax\n"
                     "mov $0x12345678, %eax\n"       // zero-extends
                     "mov $-1, %rbx\n"
                     "mov $0x55, %bl\n"              // merges
                     "mov $-1, %rcx\n"
                     "mov $0x1234, %cx\n"
                     "mov $0x8000000000000000, %rdx\n"
                     "add %rdx, %rdx\n"              // CF=1 ZF=1 OF=1
                     "pushf\n"
                     "pop %rsi\n"
                     "mov $0x7f, %r8b\n"
                     "inc %r8b\n"                    // OF=1 SF=1
                     "pushf\n"
                     "pop %rdi\n"
                     "lea 0x10(%rax,%rbx,2), %r9\n");
  EXPECT_EQ(s.regs[RAX], 0x12345678u);
  EXPECT_EQ(s.regs[RBX], 0xffffffffffffff55ull);
  EXPECT_EQ(s.regs[RCX], 0xffffffffffff1234ull);
  EXPECT_EQ(s.regs[RDX], 0u);
  EXPECT_EQ(s.regs[RSI] & 0x8d5, kFlagCF | kFlagZF | kFlagOF | kFlagPF);
  EXPECT_EQ(s.regs[RDI] & 0x8d5, kFlagOF | kFlagSF | kFlagAF | kFlagCF);  // INC keeps CF
  EXPECT_EQ(s.regs[R8] & 0xff, 0x80u);
  EXPECT_EQ(s.regs[R9], 0x12345678u + 2 * 0xffffffffffffff55ull + 0x10);
}

TEST(TcgInsn, MulDivAndDivideError) {
  TestMachine m;
  CpuState s = RunIn(m, Mode::kLong64,
                     "mov $0x100000000, %rax\n"
                     "mov $0x100000000, %rbx\n"
                     "mul %rbx\n"                    // rdx:rax = 2^64
                     "mov %rdx, %r8\n"
                     "mov %rax, %r9\n"
                     "mov $-7, %rax\n"
                     "cqo\n"
                     "mov $2, %rcx\n"
                     "idiv %rcx\n"                   // -3 rem -1
                     "mov %rax, %r10\n"
                     "mov %rdx, %r11\n"
                     "mov $-3, %eax\n"
                     "imul $7, %eax, %r12d\n"
                     "xor %ecx, %ecx\n"
                     "mov $0x1111, %r13\n"
                     "div %rcx\n"                    // #DE: nothing changes
                     "mov $0x2222, %r13\n");
  EXPECT_EQ(s.regs[R8], 1u);
  EXPECT_EQ(s.regs[R9], 0u);
  EXPECT_EQ(s.regs[R10], static_cast<uint64_t>(-3));
  EXPECT_EQ(s.regs[R11], static_cast<uint64_t>(-1));
  EXPECT_EQ(s.regs[R12], 0xffffffebu);
  EXPECT_EQ(m.vector(), kDE);
  EXPECT_EQ(s.regs[R13], 0x1111u);
  EXPECT_EQ(s.regs[RAX], static_cast<uint32_t>(-3));  // unchanged by the faulting div
}

TEST(TcgInsn, StringOps) {
  TestMachine m;
  m.Enter(Mode::kProt32);
  const char msg[] = "hello, world";
  m.Write(0x20000, msg, sizeof msg);
  CpuState s = RunIn(m, Mode::kProt32,
                     "cld\n"
                     "mov $0x20000, %esi\n"
                     "mov $0x21000, %edi\n"
                     "mov $13, %ecx\n"
                     "rep movsb\n"
                     "mov $0x21000, %edi\n"
                     "xor %eax, %eax\n"
                     "mov $-1, %ecx\n"
                     "repne scasb\n"
                     "not %ecx\n"
                     "dec %ecx\n"                    // strlen
                     "mov %ecx, %ebx\n"
                     "mov $0x22000, %edi\n"
                     "mov $0xabababab, %eax\n"
                     "mov $4, %ecx\n"
                     "rep stosl\n"
                     "mov $0x20000, %esi\n"
                     "mov $0x21000, %edi\n"
                     "mov $13, %ecx\n"
                     "repe cmpsb\n"
                     "setz %dl\n");
  EXPECT_EQ(std::string(reinterpret_cast<char*>(m.ram() + 0x21000)), "hello, world");
  EXPECT_EQ(s.regs[RBX], 12u);
  EXPECT_EQ(m.Read64(0x22008), 0xababababababababull);
  EXPECT_EQ(s.regs[RDX] & 0xff, 1u);
  EXPECT_EQ(s.regs[RCX], 0u);
}

TEST(TcgInsn, BulkRepMovsStosAcrossPagesAndOverlap) {
  TestMachine m;
  m.Enter(Mode::kLong64);
  for (int i = 0; i < 20000; i++) m.ram()[0x100000 + i] = static_cast<uint8_t>(i * 7);
  CpuState s = RunIn(m, Mode::kLong64,
                     "cld\n"
                     "mov $0x100000, %rsi\nmov $0x200003, %rdi\nmov $2500, %rcx\nrep movsq\n"  // unaligned, crosses pages
                     "mov $0x300000, %rdi\nmov $0x1122334455667788, %rax\nmov $1000, %rcx\nrep stosq\n"
                     "mov $0x400000, %rdi\nmov $0x5a, %al\nmov $9000, %rcx\nrep stosb\n"
                     // Overlapping forward copy replicates the first byte (byte semantics).
                     "movb $0x42, 0x500000\nmov $0x500000, %rsi\nmov $0x500001, %rdi\nmov $100, %rcx\nrep movsb\n"
                     "mov %rdi, %rbx\n");
  EXPECT_EQ(std::memcmp(m.ram() + 0x100000, m.ram() + 0x200003, 20000), 0);
  EXPECT_EQ(m.Read64(0x300000 + 8 * 999), 0x1122334455667788ull);
  EXPECT_EQ(m.Read64(0x300000 + 8 * 1000), 0u);
  EXPECT_EQ(m.ram()[0x400000 + 8999], 0x5a);
  EXPECT_EQ(m.ram()[0x400000 + 9000], 0);
  EXPECT_EQ(m.ram()[0x500000 + 100], 0x42);
  EXPECT_EQ(s.regs[RBX], 0x500065u);
  EXPECT_EQ(s.regs[RCX], 0u);
}

TEST(TcgInsn, PortAndMmioAccess) {
  TestMachine m;
  m.bus().port_values[0x60] = 0x5a;
  CpuState s = RunIn(m, Mode::kLong64,
                     "mov $0xe9, %dx\n"
                     "mov $'O', %al\n"
                     "out %al, %dx\n"
                     "mov $'K', %al\n"
                     "out %al, %dx\n"
                     "in $0x60, %al\n"
                     "mov %eax, %ebx\n"
                     "mov $0xfe000010, %ecx\n"
                     "movl $0xdeadbeef, (%rcx)\n"
                     "mov (%rcx), %edx\n");
  EXPECT_EQ(m.bus().debug_out, "OK");
  EXPECT_EQ(s.regs[RBX] & 0xff, 0x5au);
  EXPECT_EQ(s.regs[RDX], 0xdeadbeefu);
}

}  // namespace
}  // namespace emu::x86::test
