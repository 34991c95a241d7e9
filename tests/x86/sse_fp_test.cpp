// Differential tests of the SSE/SSE2 floating-point instructions: each snippet
// runs natively on the host CPU and under the translator from the same states
// (edge operands: zeros, denormals, infinities, NaNs, huge values; random
// MXCSR rounding modes); xmm0-3, the general registers, the flags and MXCSR
// (sticky exception flags included) must agree.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <cmath>
#include <cstring>
#include <random>
#include <sstream>

#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

constexpr uint64_t kStateAddr = 0x30000;
constexpr uint64_t kArith = kFlagCF | kFlagPF | kFlagAF | kFlagZF | kFlagSF | kFlagOF;
// State block (uint64 slots): 0-15 GPRs, 16 rflags, 17-19 scratch, 20-27
// xmm0-3, 28 MXCSR, 30-31 a 16-byte aligned memory operand.
constexpr int kSlots = 32;

enum class Lane { kF32, kF64, kI32, kI64 };

struct Case {
  const char* asm_src;
  Lane lane;           // how to fill xmm registers and the memory slot
  bool approx = false; // RCP/RSQRT: xmm results compared within 1.5 * 2^-12
  uint32_t csr = 0;     // extra MXCSR bits (FTZ, DAZ)
};

std::string Trampoline(const std::string& body, bool native) {
  std::string s =
      "push %rbx\npush %rbp\npush %r12\npush %r13\npush %r14\npush %r15\n"
      "mov 0(%rdi),%rax\nmov 8(%rdi),%rcx\nmov 16(%rdi),%rdx\nmov 24(%rdi),%rbx\n"
      "mov 48(%rdi),%rsi\nmov 64(%rdi),%r8\nmov 72(%rdi),%r9\n"
      "movdqu 160(%rdi),%xmm0\nmovdqu 176(%rdi),%xmm1\n"
      "movdqu 192(%rdi),%xmm2\nmovdqu 208(%rdi),%xmm3\nldmxcsr 224(%rdi)\npushq 128(%rdi)\npopfq\n";
  s += body + "\n";
  s += "pushfq\nstmxcsr 224(%rdi)\n"
       "mov %rax,0(%rdi)\nmov %rcx,8(%rdi)\nmov %rdx,16(%rdi)\nmov %rbx,24(%rdi)\n"
       "mov %rsi,48(%rdi)\nmov %r8,64(%rdi)\nmov %r9,72(%rdi)\n"
       "movdqu %xmm0,160(%rdi)\nmovdqu %xmm1,176(%rdi)\n"
       "movdqu %xmm2,192(%rdi)\nmovdqu %xmm3,208(%rdi)\npopq 128(%rdi)\n"
       "pop %r15\npop %r14\npop %r13\npop %r12\npop %rbp\npop %rbx\n";
  s += native ? "ret\n" : "hlt\n";
  return s;
}

uint32_t F32(std::mt19937_64& rng) {
  static const uint32_t kVals[] = {
      0, 0x80000000, 1, 0x80000001, 0x007fffff, 0x00800000, 0x3f800000, 0xbf800000, 0x3fc00000,
      0x40490fdb, 0x7f7fffff, 0xff7fffff, 0x7f800000, 0xff800000, 0x7fc00000, 0xffc00000,
      0x7f800001, 0xffa00005, 0x4f000000, 0xcf000000, 0x5f000000, 0xdf000000, 0x4effffff,
      0x3f000000, 0x3fc00001, 0x40200000, 0xc0200000, 0x0c000000, 0x1f800000, 0x7e800000};
  switch (rng() % 4) {
    case 0: case 1: return kVals[rng() % (sizeof kVals / sizeof kVals[0])];
    case 2: {  // moderate magnitudes, often with a fraction
      float f = static_cast<float>((static_cast<double>(rng() % 2000000) - 1000000.0) / 64.0);
      uint32_t u;
      std::memcpy(&u, &f, 4);
      return u;
    }
    default: return static_cast<uint32_t>(rng());
  }
}

uint64_t F64(std::mt19937_64& rng) {
  static const uint64_t kVals[] = {
      0, 0x8000000000000000ull, 1, 0x8000000000000001ull, 0x000fffffffffffffull,
      0x0010000000000000ull, 0x3ff0000000000000ull, 0xbff0000000000000ull, 0x3ff8000000000000ull,
      0x400921fb54442d18ull, 0x7fefffffffffffffull, 0xffefffffffffffffull, 0x7ff0000000000000ull,
      0xfff0000000000000ull, 0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff0000000000001ull,
      0xfff4000000000005ull, 0x41e0000000000000ull, 0xc1e0000000000000ull, 0x41dfffffffc00000ull,
      0xc1e0000000200000ull, 0x43e0000000000000ull, 0xc3e0000000000000ull, 0x3fe0000000000000ull,
      0x3ff8000000000001ull, 0x47efffffe0000000ull, 0x3810000000000000ull, 0x36a0000000000000ull,
      0x4004000000000000ull, 0xc004000000000000ull, 0x47f0000000000000ull, 0x380fffffffffffffull};
  switch (rng() % 4) {
    case 0: case 1: return kVals[rng() % (sizeof kVals / sizeof kVals[0])];
    case 2: {
      double d = (static_cast<double>(rng() % 2000000) - 1000000.0) / 64.0;
      uint64_t u;
      std::memcpy(&u, &d, 8);
      return u;
    }
    default: return rng();
  }
}

uint64_t Int(std::mt19937_64& rng) {
  static const uint64_t kVals[] = {0, 1, ~0ull, 0x7fffffff, 0x80000000, 0xffffffff, 0x1000001,
                                   0x7fffffffffffffffull, 0x8000000000000000ull, 0x20000000000001ull};
  if (rng() % 2) return kVals[rng() % (sizeof kVals / sizeof kVals[0])];
  uint64_t v = rng();
  return v >> (rng() % 64);
}

uint64_t Fill(Lane lane, std::mt19937_64& rng) {
  switch (lane) {
    case Lane::kF32: return F32(rng) | uint64_t{F32(rng)} << 32;
    case Lane::kF64: return F64(rng);
    case Lane::kI32: return (Int(rng) & 0xffffffff) | Int(rng) << 32;
    default: return Int(rng);
  }
}

// Within the hardware's RCP/RSQRT error bound; specials must match exactly.
bool ApproxEqual(uint32_t a, uint32_t b) {
  if (a == b) return true;
  float x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  // Results at the bottom of the normal range may be flushed to zero or not.
  if (std::fabs(x) < 0x1p-125f && std::fabs(y) < 0x1p-125f && std::signbit(x) == std::signbit(y)) return true;
  if (!std::isfinite(x) || !std::isfinite(y) || x == 0 || y == 0) return false;
  return std::fabs(x - y) <= std::fabs(y) * (1.5 / 4096);
}

class SseFp : public ::testing::Test {
 protected:
  void Check(const Case& c, int iterations = 64) {
    std::vector<uint8_t> native, emu;
    std::string err;
    if (!Assemble(Trampoline(c.asm_src, true), 64, &native, &err)) GTEST_SKIP() << err;
    ASSERT_TRUE(Assemble(Trampoline(c.asm_src, false), 64, &emu, &err)) << err;
    void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    std::memcpy(mem, native.data(), native.size());
    ASSERT_EQ(mprotect(mem, 4096, PROT_READ | PROT_EXEC), 0);
    auto fn = reinterpret_cast<void (*)(uint64_t*)>(mem);
    m_.Write(TestMachine::kCode, emu.data(), emu.size());
    std::mt19937_64 rng(std::hash<std::string>()(c.asm_src));
    for (int it = 0; it < iterations; it++) {
      alignas(16) uint64_t init[kSlots];
      for (uint64_t& v : init) v = Int(rng);
      init[16] = (rng() & kArith) | 2;
      for (int i = 20; i < 28; i++) init[i] = Fill(c.lane, rng);
      for (int i = 30; i < 32; i++) init[i] = Fill(c.lane, rng);
      // Some iterations share operands between registers (x op x, equal compares).
      if (rng() % 8 == 0) init[22] = init[20], init[23] = init[21];
      // All exceptions masked (unmasked ones would trap natively), random
      // rounding control, fresh sticky flags.
      init[28] = 0x1f80 | (rng() % 4) << 13 | c.csr;
      alignas(16) uint64_t host[kSlots];
      uint64_t guest[kSlots];
      std::memcpy(host, init, sizeof host);
      fn(host);
      uint32_t csr = 0x1f80;
      asm volatile("ldmxcsr %0" : : "m"(csr));
      m_.Write(kStateAddr, init, sizeof init);
      CpuState s = base_;
      s.regs[RDI] = kStateAddr;
      m_.SetState(s);
      accel::RunResult r = m_.Run();
      ASSERT_EQ(r.reason, accel::ExitReason::kHalt) << c.asm_src << " " << r.detail;
      ASSERT_EQ(m_.vector(), -1) << c.asm_src << ": unexpected exception";
      std::memcpy(guest, m_.ram() + kStateAddr, sizeof guest);
      std::ostringstream in;
      in << std::hex << " inputs xmm0=" << init[21] << ":" << init[20] << " xmm1=" << init[23] << ":"
         << init[22] << " xmm2=" << init[25] << ":" << init[24] << " mem=" << init[31] << ":" << init[30]
         << " rax=" << init[0] << " mxcsr=" << init[28];
      for (int i : {0, 1, 2, 3, 6, 8, 9}) EXPECT_EQ(guest[i], host[i]) << c.asm_src << ": gpr " << i << in.str();
      for (int i = 20; i < 28; i++) {
        if (c.approx) {
          for (int h = 0; h < 2; h++) {
            uint32_t g = static_cast<uint32_t>(guest[i] >> (32 * h)), n = static_cast<uint32_t>(host[i] >> (32 * h));
            EXPECT_TRUE(ApproxEqual(g, n)) << c.asm_src << ": xmm" << (i - 20) / 2 << " lane " << (i % 2) * 2 + h
                                           << std::hex << " guest " << g << " host " << n << in.str();
          }
        } else {
          EXPECT_EQ(guest[i], host[i]) << c.asm_src << ": xmm" << (i - 20) / 2 << (i % 2 ? " high" : " low")
                                       << in.str();
        }
      }
      EXPECT_EQ(guest[16] & kArith, host[16] & kArith) << c.asm_src << ": flags" << in.str();
      EXPECT_EQ(guest[28] & 0xffffffff, host[28] & 0xffffffff) << c.asm_src << ": mxcsr" << in.str();
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

TEST_F(SseFp, ScalarArithmetic) {
  const Case cases[] = {
      {"addss %xmm1,%xmm0", Lane::kF32}, {"subss %xmm2,%xmm1", Lane::kF32},
      {"mulss %xmm0,%xmm3", Lane::kF32}, {"divss %xmm1,%xmm0", Lane::kF32},
      {"sqrtss %xmm1,%xmm0", Lane::kF32}, {"minss %xmm1,%xmm0", Lane::kF32},
      {"maxss %xmm1,%xmm0", Lane::kF32},
      {"addsd %xmm1,%xmm0", Lane::kF64}, {"subsd %xmm2,%xmm1", Lane::kF64},
      {"mulsd %xmm0,%xmm3", Lane::kF64}, {"divsd %xmm1,%xmm0", Lane::kF64},
      {"sqrtsd %xmm1,%xmm0", Lane::kF64}, {"minsd %xmm1,%xmm0", Lane::kF64},
      {"maxsd %xmm1,%xmm0", Lane::kF64},
      {"addsd 240(%rdi),%xmm0\nmulss 244(%rdi),%xmm1\ndivsd 248(%rdi),%xmm2", Lane::kF64},
      {"sqrtsd 240(%rdi),%xmm0\nminss 240(%rdi),%xmm1\nmaxsd 248(%rdi),%xmm2", Lane::kF32},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(SseFp, PackedArithmetic) {
  const Case cases[] = {
      {"addps %xmm1,%xmm0", Lane::kF32}, {"subps %xmm2,%xmm1", Lane::kF32},
      {"mulps %xmm0,%xmm3", Lane::kF32}, {"divps %xmm1,%xmm0", Lane::kF32},
      {"sqrtps %xmm1,%xmm0", Lane::kF32}, {"minps %xmm1,%xmm0", Lane::kF32},
      {"maxps %xmm1,%xmm0", Lane::kF32},
      {"addpd %xmm1,%xmm0", Lane::kF64}, {"subpd %xmm2,%xmm1", Lane::kF64},
      {"mulpd %xmm0,%xmm3", Lane::kF64}, {"divpd %xmm1,%xmm0", Lane::kF64},
      {"sqrtpd %xmm1,%xmm0", Lane::kF64}, {"minpd %xmm1,%xmm0", Lane::kF64},
      {"maxpd %xmm1,%xmm0", Lane::kF64},
      {"addpd 240(%rdi),%xmm0\nmulpd 240(%rdi),%xmm1", Lane::kF64},
      {"divps 240(%rdi),%xmm0\nmaxps 240(%rdi),%xmm1", Lane::kF32},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(SseFp, Compares) {
  std::vector<Case> cases;
  static std::vector<std::string> srcs;  // the cases point into these
  srcs.clear();
  for (int p = 0; p < 8; p++) {
    srcs.push_back("cmpss $" + std::to_string(p) + ",%xmm1,%xmm0\ncmpps $" + std::to_string(p) + ",%xmm3,%xmm2");
    srcs.push_back("cmpsd $" + std::to_string(p) + ",%xmm1,%xmm0\ncmppd $" + std::to_string(p) + ",%xmm3,%xmm2");
  }
  for (size_t i = 0; i < srcs.size(); i++) cases.push_back({srcs[i].c_str(), i % 2 ? Lane::kF64 : Lane::kF32});
  cases.push_back({"cmpsd $1,248(%rdi),%xmm0\ncmppd $6,240(%rdi),%xmm1", Lane::kF64});
  cases.push_back({"comiss %xmm1,%xmm0", Lane::kF32});
  cases.push_back({"ucomiss %xmm1,%xmm0", Lane::kF32});
  cases.push_back({"comisd %xmm1,%xmm0", Lane::kF64});
  cases.push_back({"ucomisd %xmm1,%xmm0\nseta %cl\nsetp %dl\nsetbe %bl", Lane::kF64});
  cases.push_back({"ucomisd 240(%rdi),%xmm0\ncomiss 244(%rdi),%xmm1\nsetb %cl", Lane::kF64});
  for (const Case& c : cases) Check(c, 48);
}

TEST_F(SseFp, Conversions) {
  const Case cases[] = {
      {"cvtsi2sd %eax,%xmm0\ncvtsi2sd %rcx,%xmm1\ncvtsi2ss %edx,%xmm2\ncvtsi2ss %rbx,%xmm3", Lane::kI64},
      {"cvtsi2sdl 240(%rdi),%xmm0\ncvtsi2sdq 240(%rdi),%xmm1\ncvtsi2ssq 248(%rdi),%xmm2", Lane::kI64},
      {"cvtsd2si %xmm0,%eax\ncvtsd2si %xmm1,%rcx\ncvttsd2si %xmm2,%edx\ncvttsd2si %xmm3,%rbx", Lane::kF64},
      {"cvtss2si %xmm0,%eax\ncvtss2si %xmm1,%rcx\ncvttss2si %xmm2,%edx\ncvttss2si %xmm3,%rbx", Lane::kF32},
      {"cvtsd2si 240(%rdi),%rax\ncvttss2si 244(%rdi),%ecx", Lane::kF64},
      {"cvtss2sd %xmm1,%xmm0\ncvtsd2ss %xmm3,%xmm2", Lane::kF32},
      {"cvtss2sd %xmm1,%xmm0\ncvtsd2ss %xmm3,%xmm2", Lane::kF64},
      {"cvtps2pd %xmm1,%xmm0\ncvtpd2ps %xmm3,%xmm2", Lane::kF32},
      {"cvtps2pd %xmm1,%xmm0\ncvtpd2ps %xmm3,%xmm2", Lane::kF64},
      {"cvtdq2pd %xmm1,%xmm0\ncvtdq2ps %xmm3,%xmm2", Lane::kI32},
      {"cvtpd2dq %xmm1,%xmm0\ncvttpd2dq %xmm3,%xmm2", Lane::kF64},
      {"cvtps2dq %xmm1,%xmm0\ncvttps2dq %xmm3,%xmm2", Lane::kF32},
      {"cvtdq2pd 240(%rdi),%xmm0\ncvtps2pd 240(%rdi),%xmm1\ncvtpd2dq 240(%rdi),%xmm2", Lane::kF64},
      {"cvtss2sd 240(%rdi),%xmm0\ncvtsd2ss 240(%rdi),%xmm1\ncvttps2dq 240(%rdi),%xmm2", Lane::kF32},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(SseFp, ShufflesAndApproximations) {
  const Case cases[] = {
      {"shufpd $0,%xmm1,%xmm0\nshufpd $3,%xmm0,%xmm2\nshufpd $1,240(%rdi),%xmm3", Lane::kF64},
      {"movhlps %xmm1,%xmm0\nmovlhps %xmm3,%xmm2", Lane::kF32},
      {"rcpss %xmm1,%xmm0\nrcpps %xmm3,%xmm2", Lane::kF32, true},
      {"rsqrtss %xmm1,%xmm0\nrsqrtps %xmm3,%xmm2", Lane::kF32, true},
  };
  for (const Case& c : cases) Check(c);
}

TEST_F(SseFp, FlushToZeroAndDenormalsAreZero) {
  constexpr uint32_t kFtz = 1u << 15, kDaz = 1u << 6;
  const Case cases[] = {
      {"mulss %xmm1,%xmm0\naddps %xmm3,%xmm2", Lane::kF32, false, kFtz},
      {"mulss %xmm1,%xmm0\naddps %xmm3,%xmm2", Lane::kF32, false, kDaz},
      {"mulsd %xmm1,%xmm0\ndivpd %xmm3,%xmm2", Lane::kF64, false, kFtz | kDaz},
      {"subsd %xmm1,%xmm0\nsqrtpd %xmm3,%xmm2", Lane::kF64, false, kDaz},
      {"minss %xmm1,%xmm0\nmaxpd %xmm3,%xmm2", Lane::kF32, false, kDaz},
      {"comisd %xmm1,%xmm0\ncmppd $2,%xmm3,%xmm2", Lane::kF64, false, kDaz},
      {"cvtsd2ss %xmm1,%xmm0\ncvtpd2ps %xmm3,%xmm2", Lane::kF64, false, kFtz},
      {"cvtss2sd %xmm1,%xmm0\ncvttss2si %xmm3,%eax\ncvtps2dq %xmm2,%xmm2", Lane::kF32, false, kDaz},
  };
  for (const Case& c : cases) Check(c);
}

// An unmasked exception leaves the destination alone and raises #XM with
// CR4.OSXMMEXCPT, #UD without (the test IDT records the vector at 0x500).
TEST_F(SseFp, UnmaskedExceptionTraps) {
  if (!m_.Load("ldmxcsr 0x600\nxorps %xmm1,%xmm1\nmov $0x3ff0000000000000,%rax\nmovq %rax,%xmm0\n"
               "divsd %xmm1,%xmm0\nmovq %xmm0,%rbx\nhlt"))
    return;
  for (bool osxmmexcpt : {true, false}) {
    m_.Write32(0x500, 0xffffffffu);
    m_.Write32(0x600, 0x1f80 & ~(1u << 9));  // ZM clear
    CpuState s = base_;
    s.cr4 = osxmmexcpt ? (s.cr4 | (1u << 10)) : (s.cr4 & ~uint64_t{1u << 10});
    s.regs[RBX] = 0x1234;
    m_.SetState(s);
    accel::RunResult r = m_.Run();
    ASSERT_EQ(r.reason, accel::ExitReason::kHalt) << r.detail;
    EXPECT_EQ(m_.vector(), osxmmexcpt ? 19 : 6);
    CpuState after = m_.State();
    EXPECT_EQ(after.regs[RBX], 0x1234u) << "the handler ran instead of the rest";
    uint64_t lo;
    std::memcpy(&lo, after.fpu.xmm[0], 8);
    EXPECT_EQ(lo, 0x3ff0000000000000ull) << "destination unchanged";
    EXPECT_EQ(after.fpu.mxcsr & 0x3f, 4u) << "ZE set";
  }
}

}  // namespace
}  // namespace emu::x86::test
