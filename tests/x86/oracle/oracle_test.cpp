// The real-CPU oracle: runs in each mode, flags in and out, memory, stack, exceptions.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/x86/oracle/oracle.h"

namespace emu::x86::oracle {
namespace {

constexpr uint64_t CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800;
constexpr uint64_t kArith = CF | PF | AF | ZF | SF | OF;

Request Make(Mode m, std::initializer_list<int> code) {
  Request r;
  r.mode = m;
  for (int b : code) r.code.push_back(static_cast<uint8_t>(b));
  return r;
}

#define REQUIRE_MODE(m)                                           \
  do {                                                            \
    std::string why;                                              \
    if (!Supported(m, &why)) GTEST_SKIP() << why;                 \
  } while (0)

TEST(Oracle, AddFlags64) {
  REQUIRE_MODE(Mode::k64);
  Request r = Make(Mode::k64, {0x01, 0xd8});  // add eax, ebx
  r.in.gpr[0] = 0xaaaaaaaaffffffffull;
  r.in.gpr[3] = 1;
  r.in.gpr[15] = 0x1234;
  Result res = RunNative(r);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.gpr[0], 0u);  // 32-bit result zero-extends
  EXPECT_EQ(res.out.flags & kArith, CF | PF | AF | ZF);
  EXPECT_EQ(res.out.gpr[15], 0x1234u);
  Request s = Make(Mode::k64, {0x48, 0x01, 0xd8});  // add rax, rbx
  s.in.gpr[0] = 0x7fffffffffffffffull;
  s.in.gpr[3] = 1;
  res = RunNative(s);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.gpr[0], 0x8000000000000000ull);
  EXPECT_EQ(res.out.flags & kArith, SF | OF | AF | PF);
}

TEST(Oracle, AddFlags32) {
  REQUIRE_MODE(Mode::k32);
  Request r = Make(Mode::k32, {0x01, 0xd8, 0x48});  // add eax, ebx; dec eax (0x48 is no REX here)
  r.in.gpr[0] = 0x7fffffff;
  r.in.gpr[3] = 1;
  Result res = RunNative(r);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.gpr[0], 0x7fffffffu);
  // dec leaves CF alone (0 from the add) and sets OF: 0x80000000 - 1 overflows.
  EXPECT_EQ(res.out.flags & kArith, OF | AF | PF);
  Request c = Make(Mode::k32, {0x83, 0xd0, 0x00});  // adc eax, 0 with CF in
  c.in.gpr[0] = 41;
  c.in.flags = CF;
  res = RunNative(c);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.gpr[0], 42u);
}

TEST(Oracle, AddFlags16) {
  REQUIRE_MODE(Mode::k16);
  Request r = Make(Mode::k16, {0x01, 0xd8});  // add ax, bx in a 16-bit code segment
  r.in.gpr[0] = 0x1234ffff;
  r.in.gpr[3] = 1;
  Result res = RunNative(r);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.gpr[0], 0x12340000u);  // only AX changed
  EXPECT_EQ(res.out.flags & kArith, CF | PF | AF | ZF);
  Request e = Make(Mode::k16, {0x66, 0x01, 0xd8});  // o32 add eax, ebx
  e.in.gpr[0] = 0x1234ffff;
  e.in.gpr[3] = 1;
  res = RunNative(e);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.gpr[0], 0x12350000u);
  EXPECT_EQ(res.out.flags & (CF | ZF), 0u);
}

TEST(Oracle, MemoryAndStack) {
  REQUIRE_MODE(Mode::k64);
  Request r = Make(Mode::k64, {0x89, 0x07, 0x50, 0x59});  // mov [rdi], eax; push rax; pop rcx
  r.in.gpr[0] = 0x11223344;
  r.in.gpr[7] = 0x20000010;
  r.mem.push_back({0x20000000, std::vector<uint8_t>(32, 0xee)});
  Result res = RunNative(r);
  ASSERT_TRUE(res.ok) << res.error;
  ASSERT_EQ(res.mem.size(), 1u);
  EXPECT_EQ(res.mem[0].bytes[0x10], 0x44);
  EXPECT_EQ(res.mem[0].bytes[0x13], 0x11);
  EXPECT_EQ(res.mem[0].bytes[0x14], 0xee);
  EXPECT_EQ(res.out.gpr[1], 0x11223344u);

  REQUIRE_MODE(Mode::k32);
  Request s = Make(Mode::k32, {0x8b, 0x03, 0x40, 0x89, 0x43, 0x04});  // mov eax,[ebx]; inc; mov [ebx+4],eax
  s.in.gpr[3] = 0x30000000;
  s.mem.push_back({0x30000000, {0x10, 0, 0, 0, 0, 0, 0, 0}});
  res = RunNative(s);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.mem[0].bytes[4], 0x11);

  REQUIRE_MODE(Mode::k16);
  Request t = Make(Mode::k16, {0x89, 0x07, 0x50, 0x59, 0x9c, 0x5a});  // mov [bx],ax; push ax; pop cx; pushf; pop dx
  t.in.gpr[0] = 0xbeef;
  t.in.gpr[3] = 0x100;
  t.in.flags = CF | ZF;
  t.mem.push_back({0x100, {0, 0, 0}});
  res = RunNative(t);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.mem[0].bytes[0], 0xef);
  EXPECT_EQ(res.mem[0].bytes[1], 0xbe);
  EXPECT_EQ(res.mem[0].bytes[2], 0);
  EXPECT_EQ(res.out.gpr[1] & 0xffff, 0xbeefu);
  EXPECT_EQ(res.out.gpr[2] & (CF | ZF), CF | ZF);
}

TEST(Oracle, Exceptions) {
  REQUIRE_MODE(Mode::k64);
  Result ud = RunNative(Make(Mode::k64, {0x90, 0x0f, 0x0b}));  // nop; ud2
  EXPECT_FALSE(ud.ok);
  EXPECT_EQ(ud.signal, SIGILL);
  EXPECT_EQ(ud.trapno, 6);
  EXPECT_EQ(ud.fault_offset, 1);
  Result de = RunNative(Make(Mode::k64, {0x31, 0xc9, 0xf7, 0xf1}));  // xor ecx, ecx; div ecx
  EXPECT_EQ(de.signal, SIGFPE);
  EXPECT_EQ(de.trapno, 0);
  EXPECT_EQ(de.fault_offset, 2);
  REQUIRE_MODE(Mode::k32);
  Result gp = RunNative(Make(Mode::k32, {0xfa}));  // cli at CPL 3
  EXPECT_EQ(gp.signal, SIGSEGV);
  EXPECT_EQ(gp.trapno, 13);
  EXPECT_EQ(gp.fault_offset, 0);
  Result pf = RunNative(Make(Mode::k32, {0x8b, 0x00}));  // mov eax, [eax] with eax = 0
  EXPECT_EQ(pf.trapno, 14);
  REQUIRE_MODE(Mode::k16);
  Result ud16 = RunNative(Make(Mode::k16, {0x40, 0x0f, 0x0b}));
  EXPECT_EQ(ud16.trapno, 6);
  EXPECT_EQ(ud16.fault_offset, 1);
}

TEST(Oracle, XmmRegisters) {
  for (Mode m : {Mode::k64, Mode::k32, Mode::k16}) {
    std::string why;
    if (!Supported(m, &why)) continue;
    Request r = Make(m, {0x66, 0x0f, 0xfe, 0xc1});  // paddd xmm0, xmm1
    for (int i = 0; i < 16; i++) {
      r.in.xmm[0][i] = static_cast<uint8_t>(i);
      r.in.xmm[1][i] = 1;
      r.in.xmm[7][i] = 0x77;
    }
    Result res = RunNative(r);
    ASSERT_TRUE(res.ok) << res.error;
    EXPECT_EQ(res.out.xmm[0][0], 1);   // 0x03020100 + 0x01010101
    EXPECT_EQ(res.out.xmm[0][1], 2);
    EXPECT_EQ(res.out.xmm[0][15], 16);
    EXPECT_EQ(res.out.xmm[7][3], 0x77);  // untouched registers survive the round trip
  }
  Request r8 = Make(Mode::k64, {0x66, 0x45, 0x0f, 0xef, 0xc0});  // pxor xmm8, xmm8
  r8.in.xmm[8][5] = 0x55;
  r8.in.xmm[15][0] = 0xf0;
  Result res = RunNative(r8);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.xmm[8][5], 0);
  EXPECT_EQ(res.out.xmm[15][0], 0xf0);
}

// Settles a decoder question on the CPU: with a 67 prefix, SIB base 101 and mod 00 still
// mean "no base, disp32" under REX.B (Zydis 4.0 reports base r13d instead).
TEST(Oracle, SibNoBaseWithRexB) {
  REQUIRE_MODE(Mode::k64);
  Request r = Make(Mode::k64, {0x67, 0x41, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x30});
  r.in.gpr[13] = 0x100;  // with r13 as base the load would come from 0x30000100
  std::vector<uint8_t> m(0x200, 0);
  m[0] = 0x11;
  m[0x100] = 0x22;
  r.mem.push_back({0x30000000, m});
  Result res = RunNative(r);
  ASSERT_TRUE(res.ok) << res.error;
  EXPECT_EQ(res.out.gpr[0], 0x11u);
}

TEST(Oracle, TimeoutAndBadRequests) {
  REQUIRE_MODE(Mode::k64);
  Request loop = Make(Mode::k64, {0xeb, 0xfe});
  loop.timeout_ms = 100;
  Result res = RunNative(loop);
  EXPECT_FALSE(res.ok);
  EXPECT_EQ(res.error, "timeout");
  Request bad = Make(Mode::k32, {0x90});
  bad.mem.push_back({0xfffff000, std::vector<uint8_t>(0x2000)});
  res = RunNative(bad);
  EXPECT_FALSE(res.ok);
  EXPECT_NE(res.error.find("out of range"), std::string::npos) << res.error;
}

}  // namespace
}  // namespace emu::x86::oracle
