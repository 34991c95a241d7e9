// The translator's CPUID/MSR model of speculation: the "not affected" bits of
// IA32_ARCH_CAPABILITIES, the IBRS/IBPB/BHI_DIS_S controls and their #GPs, and
// none of it when the translator only steps instructions for KVM.
#include <gtest/gtest.h>

#include <string>

#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

using accel::ExitReason;

struct Outcome {
  int64_t vector = -1;  // exception raised (-1: none)
  CpuState state;
};

// Runs `src` in 64-bit mode on a fresh machine whose CPU is (not) the plain
// translator's.
Outcome Run64(const std::string& src, bool nonspeculative = true) {
  TestMachine m;
  m.Enter(Mode::kLong64);
  m.cpu().nonspeculative = nonspeculative;
  accel::RunResult r = RunCode(m, src + "hlt\n");
  EXPECT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  return {m.vector(), m.State()};
}

constexpr char kCpuid7[] =
    "mov $7, %eax\nxor %ecx, %ecx\ncpuid\nmov %eax, %r8d\nmov %edx, %r9d\n"
    "mov $7, %eax\nmov $2, %ecx\ncpuid\nmov %edx, %r10d\n";

TEST(TcgCpuidMsr, Leaf7EnumeratesTheSpeculationControls) {
  Outcome o = Run64(kCpuid7);
  ASSERT_EQ(o.vector, -1);
  EXPECT_EQ(o.state.regs[R8], 2u);                         // subleaves 0-2
  EXPECT_EQ(o.state.regs[R9], (1u << 26) | (1u << 29));    // IBRS/IBPB, ARCH_CAPABILITIES
  EXPECT_EQ(o.state.regs[R10], 1u << 4);                   // BHI_CTRL
}

TEST(TcgCpuidMsr, ArchCapabilitiesSaysNotAffected) {
  Outcome o = Run64("mov $0x10a, %ecx\nrdmsr\nshl $32, %rdx\nor %rax, %rdx\nmov %rdx, %r8\n");
  ASSERT_EQ(o.vector, -1);
  const uint64_t caps = o.state.regs[R8];
  // RDCL_NO, IBRS_ALL, SSB_NO, MDS_NO, IF_PSCHANGE_MC_NO, TAA_NO, SBDR_SSDP_NO,
  // FBSDP_NO, PSDP_NO, BHI_NO, PBRSB_NO, GDS_NO, RFDS_NO, ITS_NO.
  for (int bit : {0, 1, 4, 5, 6, 8, 13, 14, 15, 20, 24, 26, 27, 62})
    EXPECT_TRUE(caps >> bit & 1) << "bit " << bit;
  // Nothing that promises an MSR we lack or admits a weakness: RSBA,
  // TSX_CTRL, FB_CLEAR, RRSBA, GDS_CTRL, RFDS_CLEAR, DOITM, ...
  for (int bit : {2, 3, 7, 9, 10, 11, 12, 17, 18, 19, 21, 23, 25, 28})
    EXPECT_FALSE(caps >> bit & 1) << "bit " << bit;
}

TEST(TcgCpuidMsr, ArchCapabilitiesIsReadOnly) {
  EXPECT_EQ(Run64("mov $0x10a, %ecx\nxor %eax, %eax\nxor %edx, %edx\nwrmsr\n").vector, kGP);
}

TEST(TcgCpuidMsr, SpecCtrlKeepsTheEnumeratedBits) {
  Outcome o = Run64(
      "mov $0x48, %ecx\nmov $0x401, %eax\nxor %edx, %edx\nwrmsr\n"  // IBRS | BHI_DIS_S
      "xor %eax, %eax\nrdmsr\nmov %eax, %r8d\n");
  ASSERT_EQ(o.vector, -1);
  EXPECT_EQ(o.state.regs[R8], 0x401u);
  EXPECT_EQ(o.state.spec_ctrl, 0x401u);
}

TEST(TcgCpuidMsr, SpecCtrlReservedBitsFault) {
  // STIBP and SSBD are not enumerated; neither is anything in the high half.
  EXPECT_EQ(Run64("mov $0x48, %ecx\nmov $2, %eax\nxor %edx, %edx\nwrmsr\n").vector, kGP);
  EXPECT_EQ(Run64("mov $0x48, %ecx\nmov $4, %eax\nxor %edx, %edx\nwrmsr\n").vector, kGP);
  EXPECT_EQ(Run64("mov $0x48, %ecx\nxor %eax, %eax\nmov $1, %edx\nwrmsr\n").vector, kGP);
}

TEST(TcgCpuidMsr, PredCmdIsWriteOnlyIbpb) {
  EXPECT_EQ(Run64("mov $0x49, %ecx\nmov $1, %eax\nxor %edx, %edx\nwrmsr\n").vector, -1);
  EXPECT_EQ(Run64("mov $0x49, %ecx\nmov $0x80, %eax\nxor %edx, %edx\nwrmsr\n").vector, kGP);
  EXPECT_EQ(Run64("mov $0x49, %ecx\nrdmsr\n").vector, kGP);
}

TEST(TcgCpuidMsr, NoClaimsWhenSteppingForKvm) {
  // The guest then runs on the host's CPU, which may well speculate.
  Outcome o = Run64(kCpuid7, false);
  ASSERT_EQ(o.vector, -1);
  EXPECT_EQ(o.state.regs[R8], 0u);
  EXPECT_EQ(o.state.regs[R9], 0u);
  EXPECT_EQ(o.state.regs[R10], 0u);
  EXPECT_EQ(Run64("mov $0x10a, %ecx\nrdmsr\n", false).vector, kGP);
  EXPECT_EQ(Run64("mov $0x48, %ecx\nrdmsr\n", false).vector, kGP);
  EXPECT_EQ(Run64("mov $0x48, %ecx\nmov $1, %eax\nxor %edx, %edx\nwrmsr\n", false).vector, kGP);
  EXPECT_EQ(Run64("mov $0x49, %ecx\nmov $1, %eax\nxor %edx, %edx\nwrmsr\n", false).vector, kGP);
}

}  // namespace
}  // namespace emu::x86::test
