// Differential tests of 64-bit integer instructions: each snippet runs natively
// on the host CPU and under the translator from the same random states; all
// general registers and the flags the SDM defines for the instruction must agree.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cpuid.h>

#include <cstring>
#include <random>

#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

constexpr uint64_t kAll = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;
constexpr uint64_t kCO = kFlagCF | kFlagOF;
constexpr uint64_t kStateAddr = 0x30000;

struct Case {
  const char* asm_src;
  uint64_t flags;  // defined flags to compare
};

// Registers the snippets may use: rax rcx rdx rbx rsi r8-r15 (not rsp/rbp/rdi).
std::string Trampoline(const std::string& body, bool native) {
  std::string s =
      "push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\npush %r15\n"
      "mov 0(%rdi),%rax\nmov 8(%rdi),%rcx\nmov 16(%rdi),%rdx\nmov 24(%rdi),%rbx\n"
      "mov 48(%rdi),%rsi\nmov 64(%rdi),%r8\nmov 72(%rdi),%r9\nmov 80(%rdi),%r10\n"
      "mov 88(%rdi),%r11\nmov 96(%rdi),%r12\nmov 104(%rdi),%r13\nmov 112(%rdi),%r14\n"
      "mov 120(%rdi),%r15\nmovdqu 160(%rdi),%xmm0\nmovdqu 176(%rdi),%xmm1\n"
      "movdqu 192(%rdi),%xmm2\nmovdqu 208(%rdi),%xmm3\npushq 128(%rdi)\npopfq\n";
  s += body + "\n";
  s += "pushfq\n"
       "mov %rax,0(%rdi)\nmov %rcx,8(%rdi)\nmov %rdx,16(%rdi)\nmov %rbx,24(%rdi)\n"
       "mov %rsi,48(%rdi)\nmov %r8,64(%rdi)\nmov %r9,72(%rdi)\nmov %r10,80(%rdi)\n"
       "mov %r11,88(%rdi)\nmov %r12,96(%rdi)\nmov %r13,104(%rdi)\nmov %r14,112(%rdi)\n"
       "mov %r15,120(%rdi)\nmovdqu %xmm0,160(%rdi)\nmovdqu %xmm1,176(%rdi)\n"
       "movdqu %xmm2,192(%rdi)\nmovdqu %xmm3,208(%rdi)\npopq 128(%rdi)\n"
       "pop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\npop %rbx\n";
  s += native ? "ret\n" : "hlt\n";
  return s;
}

uint64_t Interesting(std::mt19937_64& rng) {
  static const uint64_t kVals[] = {0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
                                   0x7fffffff, 0x80000000, 0xffffffff, 0x100000000ull,
                                   0x7fffffffffffffffull, 0x8000000000000000ull, ~0ull, 63, 31, 33};
  switch (rng() % 4) {
    case 0: return kVals[rng() % (sizeof kVals / sizeof kVals[0])];
    case 1: return rng() & 0xff;
    case 2: return rng() & 0xffffffff;
    default: return rng();
  }
}

bool HostHas(unsigned leaf, int reg, unsigned bit) {
  unsigned r[4];
  if (!__get_cpuid_count(leaf, 0, &r[0], &r[1], &r[2], &r[3])) return false;
  return (r[reg] >> bit) & 1;
}

class NativeDiff : public ::testing::Test {
 protected:
  void Check(const Case& c, int iterations = 48) {
    std::vector<uint8_t> native, emu;
    std::string err;
    ASSERT_TRUE(Assemble(Trampoline(c.asm_src, true), 64, &native, &err)) << err;
    ASSERT_TRUE(Assemble(Trampoline(c.asm_src, false), 64, &emu, &err)) << err;
    void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    std::memcpy(mem, native.data(), native.size());
    ASSERT_EQ(mprotect(mem, 4096, PROT_READ | PROT_EXEC), 0);
    auto fn = reinterpret_cast<void (*)(uint64_t*)>(mem);
    m_.Write(TestMachine::kCode, emu.data(), emu.size());
    std::mt19937_64 rng(std::hash<std::string>()(c.asm_src));
    for (int it = 0; it < iterations; it++) {
      uint64_t init[28];
      for (uint64_t& v : init) v = Interesting(rng);
      init[16] = (rng() & kAll) | 2;
      alignas(16) uint64_t host[28];
      uint64_t guest[28];
      std::memcpy(host, init, sizeof host);
      // The guest starts with the reset MXCSR; host code run earlier in this
      // process may have left sticky exception flags in the host's.
      uint32_t csr = 0x1f80;
      asm volatile("ldmxcsr %0" : : "m"(csr));
      fn(host);
      m_.Write(kStateAddr, init, sizeof init);
      CpuState s = base_;
      s.regs[RDI] = kStateAddr;
      m_.SetState(s);
      accel::RunResult r = m_.Run();
      ASSERT_EQ(r.reason, accel::ExitReason::kHalt) << c.asm_src << " " << r.detail;
      ASSERT_EQ(m_.vector(), -1) << c.asm_src << ": unexpected exception";
      std::memcpy(guest, m_.ram() + kStateAddr, sizeof guest);
      static const char* const kNames[16] = {"rax", "rcx", "rdx", "rbx", "-", "-", "rsi", "-",
                                             "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"};
      for (int i = 0; i < 16; i++) {
        if (i == RSP || i == RBP || i == RDI) continue;
        EXPECT_EQ(guest[i], host[i]) << c.asm_src << ": " << kNames[i] << " differs; inputs rax="
                                     << std::hex << init[0] << " rcx=" << init[1] << " rdx=" << init[2]
                                     << " rbx=" << init[3] << " flags=" << init[16];
      }
      for (int i = 20; i < 28; i++)
        EXPECT_EQ(guest[i], host[i]) << c.asm_src << ": xmm" << (i - 20) / 2 << (i % 2 ? " high" : " low")
                                     << " differs";
      EXPECT_EQ(guest[16] & c.flags, host[16] & c.flags)
          << c.asm_src << ": flags differ; inputs rax=" << std::hex << init[0] << " rcx=" << init[1]
          << " rdx=" << init[2] << " rbx=" << init[3] << " flags=" << init[16];
      if (HasFailure()) break;
    }
    munmap(mem, 4096);
  }

  void SetUp() override {
    m_.Enter(Mode::kLong64);
    base_ = m_.State();
  }
  TestMachine m_;
  CpuState base_;
};

TEST_F(NativeDiff, Alu) {
  const Case cases[] = {
      {"add %rbx,%rax", kAll}, {"add %ebx,%eax", kAll}, {"add %bx,%ax", kAll}, {"add %bl,%al", kAll},
      {"add %bh,%ah", kAll}, {"adc %rbx,%rax", kAll}, {"adc %bx,%ax", kAll}, {"adc %bl,%al", kAll},
      {"sub %rbx,%rax", kAll}, {"sub %ebx,%eax", kAll}, {"sbb %rbx,%rax", kAll}, {"sbb %ebx,%eax", kAll},
      {"sbb %bl,%al", kAll}, {"cmp %rbx,%rax\nsetb %cl\nsetl %dl\nsetle %sil\nsetbe %r8b\nseto %r9b\nsetp %r10b", kAll},
      {"cmp %bl,%al\nsetb %cl\nsetl %dl\nsetle %sil\nsetbe %r8b\nsets %r9b\nsetnp %r10b", kAll},
      {"and %rbx,%rax", kAll & ~kFlagAF}, {"or %ebx,%eax", kAll & ~kFlagAF}, {"xor %bx,%ax", kAll & ~kFlagAF},
      {"test %rbx,%rax\nsetle %cl\nsetg %dl", kAll & ~kFlagAF},
      {"inc %rax", kAll}, {"inc %bl", kAll}, {"dec %eax", kAll}, {"dec %bx", kAll},
      {"neg %rax", kAll}, {"neg %al", kAll}, {"not %eax", kAll},
      {"adc $0x7f, %al", kAll}, {"sub $-1, %rax", kAll}, {"cmp $-0x80000000, %rax\nsetl %cl", kAll},
      {"add %rbx,%rax\nadc %rcx,%rdx\nsbb %rsi,%r8", kAll},
      {"cmc", kAll}, {"stc\nadc $0,%rax", kAll}, {"clc\nsbb $0,%eax", kAll},
      {"lahf", kAll}, {"sahf", kAll}, {"xchg %rax,%rbx", kAll}, {"xchg %eax,%ecx", kAll},
      {"movsx %bl,%rax\nmovzx %cx,%edx\nmovsxd %esi,%r8\nmovsx %cl,%r9w", kAll},
      {"cbw\ncwde\ncdqe\ncqo", kAll}, {"cwd", kAll}, {"cdq", kAll},
      {"bswap %rax\nbswap %ebx", kAll}, {"lea 7(%rax,%rbx,4),%ecx\nlea -1(%rdx),%si", kAll},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(NativeDiff, ConditionsAfterEachFlagSource) {
  const char* const sources[] = {"add %rbx,%rax", "sub %ebx,%eax", "sub %bl,%al", "and %rbx,%rax",
                                 "inc %eax", "dec %bl", "shl $1,%rax", "sar $3,%ebx",
                                 "imul %rbx,%rax", "adc %rbx,%rax", "sbb %ebx,%eax"};
  for (const char* src : sources) {
    std::string body = std::string(src) +
                       "\nseto %cl\nsetb %dl\nsetz %sil\nsetbe %r8b\nsets %r9b\nsetp %r10b\n"
                       "setl %r11b\nsetle %r12b\ncmovg %rbx,%r13\ncmova %rbx,%r14\ncmovns %rbx,%r15";
    uint64_t flags = std::string(src).find("imul") != std::string::npos ? kCO : kAll;
    if (std::string(src).find("sh") == 0 || std::string(src).find("sa") == 0) flags &= ~(kFlagAF | kFlagOF);
    if (std::string(src).find("and") == 0) flags &= ~kFlagAF;
    // Undefined flags must not feed the setcc checks: only compare when all are defined.
    if (flags != kAll && flags != (kAll & ~kFlagAF)) continue;
    Check({body.c_str(), flags});
  }
}

TEST_F(NativeDiff, ShiftsAndRotates) {
  const Case cases[] = {
      {"shl $1,%rax", kAll & ~kFlagAF}, {"shl $7,%eax", kAll & ~kFlagAF & ~kFlagOF},
      {"shr $1,%ax", kAll & ~kFlagAF}, {"shr $9,%rax", kAll & ~kFlagAF & ~kFlagOF},
      {"sar $1,%al", kAll & ~kFlagAF}, {"sar $5,%rax", kAll & ~kFlagAF & ~kFlagOF},
      {"and $63,%cl\nor $2,%cl\nshl %cl,%rax", kAll & ~kFlagAF & ~kFlagOF},
      {"and $31,%cl\nor $2,%cl\nshr %cl,%eax", kAll & ~kFlagAF & ~kFlagOF},
      {"and $7,%cl\nor $2,%cl\nsar %cl,%bl", kAll & ~kFlagAF & ~kFlagOF},
      {"xor %ecx,%ecx\nshl %cl,%rax", kAll},  // count 0: flags unchanged
      {"rol $1,%rax", kCO}, {"ror $1,%eax", kCO}, {"rol $5,%bx", kFlagCF}, {"ror $13,%rax", kFlagCF},
      {"and $15,%cl\nor $1,%cl\nrol %cl,%ax", kFlagCF}, {"rcl $1,%rax", kCO}, {"rcr $1,%ebx", kCO},
      {"rcl $3,%al", kFlagCF}, {"rcr $7,%ax", kFlagCF}, {"and $31,%cl\nrcr %cl,%eax", kFlagCF},
      {"shld $4,%rbx,%rax", kAll & ~kFlagAF & ~kFlagOF}, {"shrd $1,%ebx,%eax", kAll & ~kFlagAF},
      {"and $15,%cl\nor $1,%cl\nshld %cl,%bx,%ax", kAll & ~kFlagAF & ~kFlagOF},
      {"and $63,%cl\nor $1,%cl\nshrd %cl,%rbx,%rax", kAll & ~kFlagAF & ~kFlagOF},
  };
  for (const Case& c : cases) Check(c);
}

// A jump ends the translated block, so the instruction after it starts one whose lazy
// flags state (cc_op) is only known at run time: INC/DEC keep the old state for CF,
// BT keeps ZF, shifts by CL keep everything for a count of 0.
TEST_F(NativeDiff, LazyFlagsAcrossBlocks) {
  const Case cases[] = {
      {"add %rbx,%rax\njmp 1f\n1: inc %rcx\njmp 2f\n2: adc %rdx,%rsi", kAll},
      {"sub %rbx,%rax\njmp 1f\n1: dec %ecx\ninc %dl\njmp 2f\n2: inc %r8\nsetb %r9b\nseta %r10b\n"
       "setl %r11b", kAll},
      {"shl %cl,%rax\njmp 1f\n1: inc %rbx", kAll},
      {"sbb %ebx,%eax\njmp 1f\n1: dec %rcx\ninc %rdx\nadc %rsi,%r8", kAll},
      {"bt %rbx,%rax\njmp 1f\n1: dec %rcx\njmp 2f\n2: cmc\nsbb %rdx,%rsi", kAll},
      {"xor %ecx,%ecx\nshl %cl,%rax\njmp 1f\n1: inc %rbx\njmp 2f\n2: dec %rdx\njmp 3f\n"
       "3: rol $1,%rsi\nadc $0,%r8", kAll},
      {"cmp %rbx,%rax\njmp 1f\n1: bt %rcx,%rdx\nsetz %r8b\nsetb %r9b", kFlagCF | kFlagZF},
      {"and %rbx,%rax\njmp 1f\n1: bt $3,%rcx\njmp 2f\n2: sete %r8b\nsetc %r9b", kFlagCF | kFlagZF},
      {"inc %rbx\njmp 1f\n1: btc $3,%rcx\njmp 2f\n2: sete %r8b\nsetc %r9b", kFlagCF | kFlagZF},
      {"and $1,%cl\nadd %rbx,%rax\njmp 1f\n1: shr %cl,%rdx\nsetb %r8b\nsetz %r9b", kAll & ~kFlagAF},
      {"and $1,%cl\nimul %rbx,%rax\njmp 1f\n1: sar %cl,%dx\nsetb %r8b\nsetz %r9b", kCO},
      {"and $7,%cl\nsub %rbx,%rax\njmp 1f\n1: rol %cl,%edx\nsetb %r8b", kAll & ~kFlagOF},
      {"and $3,%cl\nor %rbx,%rax\nror %cl,%dl\njmp 1f\n1: setb %r8b\nsetz %r9b", kAll & ~kFlagOF & ~kFlagAF},
      {"and $1,%cl\nxor %rbx,%rax\nshrd %cl,%rbx,%rax\njmp 1f\n1: seto %r8b", kAll & ~kFlagAF},
      {"and $1,%cl\ndec %rbx\njmp 1f\n1: shld %cl,%edx,%esi\nsetb %r8b", kAll & ~kFlagAF},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(NativeDiff, MultiplyDivide) {
  const Case cases[] = {
      {"mul %rbx", kCO}, {"mul %ebx", kCO}, {"mul %bx", kCO}, {"mul %bl", kCO},
      {"imul %rbx", kCO}, {"imul %ebx", kCO}, {"imul %bl", kCO}, {"imul %rbx,%rax", kCO},
      {"imul %bx,%ax", kCO}, {"imul $-3,%rbx,%rcx", kCO}, {"imul $1000,%ebx,%ecx", kCO},
      {"xor %edx,%edx\nshr $1,%rbx\nor $1,%rbx\ndiv %rbx", 0},
      {"xor %edx,%edx\nshr $1,%ebx\nor $1,%ebx\ndiv %ebx", 0},
      {"movzx %al,%eax\nor $1,%bl\nshr $1,%bl\nor $1,%bl\ndiv %bl", 0},
      {"cqo\nshr $1,%rbx\nor $1,%rbx\nidiv %rbx", 0},
      {"cdq\nshr $1,%ebx\nor $1,%ebx\nidiv %ebx", 0},
      {"cwd\nshr $1,%bx\nor $1,%bx\nidiv %bx", 0},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(NativeDiff, BitOps) {
  std::vector<Case> cases = {
      {"bt %rbx,%rax", kFlagCF}, {"bts $5,%eax", kFlagCF}, {"btr %bx,%ax", kFlagCF},
      {"btc $63,%rax", kFlagCF}, {"or $1,%rbx\nbsf %rbx,%rax", kFlagZF}, {"or $1,%ebx\nbsr %ebx,%eax", kFlagZF},
      {"popcnt %rbx,%rax", kAll}, {"popcnt %bx,%ax", kAll},
      {"xadd %rbx,%rax", kAll}, {"xadd %bl,%al", kAll},
      {"cmpxchg %rbx,%rcx", kAll}, {"cmpxchg %ebx,%ecx", kAll}, {"mov %rcx,%rax\ncmpxchg %rbx,%rcx", kAll},
      {"cmpxchg %bl,%cl", kAll},
  };
  if (HostHas(0x80000001, 2, 5)) {
    cases.push_back({"lzcnt %rbx,%rax", kFlagCF | kFlagZF});
    cases.push_back({"lzcnt %bx,%ax", kFlagCF | kFlagZF});
  }
  if (HostHas(7, 1, 3)) {
    cases.push_back({"tzcnt %ebx,%eax", kFlagCF | kFlagZF});
    cases.push_back({"tzcnt %rbx,%rax", kFlagCF | kFlagZF});
  }
  for (const Case& c : cases) Check(c);
}

TEST_F(NativeDiff, MemoryForms) {
  // Read-modify-write on a scratch slot in the state block.
  const Case cases[] = {
      {"mov %rbx,136(%rdi)\nadd %rax,136(%rdi)\nmov 136(%rdi),%rcx", kAll},
      {"mov %rbx,136(%rdi)\nsubl $7,136(%rdi)\nmov 136(%rdi),%rcx", kAll},
      {"mov %rbx,136(%rdi)\nnegw 136(%rdi)\nmov 136(%rdi),%rcx", kAll},
      {"mov %rbx,136(%rdi)\nshlq $3,136(%rdi)\nmov 136(%rdi),%rcx", kAll & ~kFlagAF & ~kFlagOF},
      {"mov %rbx,136(%rdi)\nand $63,%rax\nbtsq %rax,136(%rdi)\nmov 136(%rdi),%rcx", kFlagCF},
      {"mov %rbx,136(%rdi)\nand $7,%rax\nbtcq %rax,136(%rdi)\nmov 136(%rdi),%rcx", kFlagCF},
      {"mov %rbx,136(%rdi)\nxchg %rax,136(%rdi)\nmov 136(%rdi),%rcx", kAll},
      {"mov %rbx,136(%rdi)\ncmpxchg %rcx,136(%rdi)\nmov 136(%rdi),%rsi", kAll},
      {"push %rax\npush %rbx\npop %rcx\npop %rdx", kAll},
      {"mov %rax,136(%rdi)\nincb 137(%rdi)\nmovzwl 136(%rdi),%ecx", kAll},
      {"mov %rbx,136(%rdi)\ncmpxchg8b 136(%rdi)\nmov 136(%rdi),%rsi", kFlagZF},
      {"mov %rax,136(%rdi)\nmov %rdx,%r8\nshl $32,%r8\nmov %eax,%r9d\nor %r8,%r9\nmov %r9,136(%rdi)\n"
       "cmpxchg8b 136(%rdi)\nmov 136(%rdi),%rsi", kFlagZF},
      {"mov %rbx,144(%rdi)\nmov %rcx,152(%rdi)\ncmpxchg16b 144(%rdi)\nmov 144(%rdi),%rsi\nmov 152(%rdi),%r8", kFlagZF},
      {"mov %rax,144(%rdi)\nmov %rdx,152(%rdi)\ncmpxchg16b 144(%rdi)\nmov 144(%rdi),%rsi\nmov 152(%rdi),%r8", kFlagZF},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(NativeDiff, Sse2Integer) {
  const Case cases[] = {
      {"pxor %xmm1,%xmm0\npor %xmm2,%xmm3\npand %xmm0,%xmm2\npandn %xmm3,%xmm1", 0},
      {"paddb %xmm1,%xmm0\npaddw %xmm1,%xmm2\npaddd %xmm0,%xmm3\npaddq %xmm3,%xmm1", 0},
      {"psubb %xmm1,%xmm0\npsubw %xmm1,%xmm2\npsubd %xmm0,%xmm3\npsubq %xmm3,%xmm1", 0},
      {"paddusb %xmm1,%xmm0\npsubusw %xmm1,%xmm2\npaddsw %xmm0,%xmm3\npsubsb %xmm3,%xmm1", 0},
      {"pcmpeqb %xmm1,%xmm0\npcmpeqw %xmm0,%xmm2\npcmpeqd %xmm0,%xmm3\npcmpgtb %xmm2,%xmm1", 0},
      {"pcmpgtw %xmm1,%xmm0\npcmpgtd %xmm0,%xmm2\npminub %xmm0,%xmm3\npmaxub %xmm2,%xmm1", 0},
      {"pminsw %xmm1,%xmm0\npmaxsw %xmm0,%xmm2\npavgb %xmm0,%xmm3\npavgw %xmm2,%xmm1", 0},
      {"pmullw %xmm1,%xmm0\npmulhw %xmm0,%xmm2\npmulhuw %xmm0,%xmm3\npmuludq %xmm2,%xmm1", 0},
      {"pmaddwd %xmm1,%xmm0\npsadbw %xmm0,%xmm2", 0},
      {"punpcklbw %xmm1,%xmm0\npunpcklwd %xmm0,%xmm2\npunpckldq %xmm0,%xmm3\npunpcklqdq %xmm2,%xmm1", 0},
      {"punpckhbw %xmm1,%xmm0\npunpckhwd %xmm0,%xmm2\npunpckhdq %xmm0,%xmm3\npunpckhqdq %xmm2,%xmm1", 0},
      {"packsswb %xmm1,%xmm0\npackuswb %xmm0,%xmm2\npackssdw %xmm0,%xmm3", 0},
      {"pshufd $0x1b,%xmm1,%xmm0\npshuflw $0xc6,%xmm0,%xmm2\npshufhw $0x39,%xmm0,%xmm3\nshufps $0x8d,%xmm2,%xmm1", 0},
      {"psllw $3,%xmm0\npslld $17,%xmm1\npsllq $40,%xmm2\npsrlw $1,%xmm3", 0},
      {"psrld $9,%xmm0\npsrlq $63,%xmm1\npsraw $15,%xmm2\npsrad $5,%xmm3", 0},
      {"pslldq $3,%xmm0\npsrldq $9,%xmm1\npsrldq $16,%xmm2", 0},
      {"psllw %xmm1,%xmm0\npsrad %xmm2,%xmm3", 0},
      {"pmovmskb %xmm0,%eax\nmovmskps %xmm1,%ebx\nmovmskpd %xmm2,%ecx\npextrw $5,%xmm3,%edx", 0},
      {"pinsrw $3,%eax,%xmm0\nmovd %ebx,%xmm1\nmovq %rcx,%xmm2\nmovd %xmm3,%esi\nmovq %xmm0,%r8", 0},
      {"movq %xmm1,%xmm0\nmovdqa %xmm2,%xmm3\nmovaps %xmm0,%xmm1\nmovss %xmm3,%xmm2", 0},
      {"movsd %xmm3,%xmm0\nunpcklps %xmm1,%xmm2\nunpckhpd %xmm0,%xmm3\nxorps %xmm0,%xmm0", 0},
      {"movdqu %xmm1,144(%rdi)\npcmpeqb 144(%rdi),%xmm0\nmovq 144(%rdi),%xmm2\nmovhps 148(%rdi),%xmm3", 0},
      {"movdqa %xmm2,144(%rdi)\npaddb 144(%rdi),%xmm1\nmovdqa 144(%rdi),%xmm0", 0},
      {"movss 136(%rdi),%xmm0\nmovsd %xmm1,136(%rdi)\nmovlps 136(%rdi),%xmm2\nmovd 136(%rdi),%xmm3", 0},
      {"stmxcsr 136(%rdi)\nldmxcsr 136(%rdi)\nmov 136(%rdi),%eax", 0},
      // Lanes partly equal (the translator compares lanes inline, 64 bits at a time).
      {"movabs $0x1200ff0000ff3480,%rax\nmovq %rax,%xmm0\nmovabs $0x1201ff0180ff3400,%rbx\n"
       "movq %rbx,%xmm1\npunpcklqdq %xmm1,%xmm0\npunpcklqdq %xmm0,%xmm1\nmovdqa %xmm0,%xmm2\n"
       "movdqa %xmm0,%xmm3\npcmpeqb %xmm1,%xmm0\npcmpeqw %xmm1,%xmm2\npcmpeqd %xmm1,%xmm3\n"
       "pmovmskb %xmm0,%eax\npmovmskb %xmm2,%ebx\npmovmskb %xmm3,%rcx", 0},
      {"movabs $0x0000000180000000,%rax\nmovq %rax,%xmm0\nmovabs $0x7fff80000000ffff,%rbx\n"
       "movq %rbx,%xmm1\npunpckhqdq %xmm1,%xmm0\npshufd $0x4e,%xmm0,%xmm2\npaddw %xmm1,%xmm2\n"
       "paddd %xmm1,%xmm0\npsubw %xmm2,%xmm1\npsubd %xmm0,%xmm2\npcmpeqd %xmm0,%xmm0\npsubb %xmm3,%xmm3", 0},
      {"movdqa %xmm2,144(%rdi)\npshufd $0xe4,144(%rdi),%xmm1\npxor 144(%rdi),%xmm0\n"
       "punpckhqdq 144(%rdi),%xmm3\npsubq 144(%rdi),%xmm2\npandn 144(%rdi),%xmm3", 0},
  };
  for (const Case& c : cases) Check(c);
}

}  // namespace
}  // namespace emu::x86::test
