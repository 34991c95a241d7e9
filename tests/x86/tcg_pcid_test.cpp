// PCIDs and global pages under the translator: which TLB entries a CR3 load
// keeps (those of other PCIDs, all of them with bit 63, global pages), which it
// drops, and the #GPs of CR4.PCIDE. The tests change a page-table entry without
// INVLPG and look whether the old translation is still used: the SDM allows a
// CPU to have dropped it anyway, ours keeps it exactly as long as allowed.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "tests/x86/tcg_harness.h"

namespace emu::x86::test {
namespace {

using accel::ExitReason;

// Long mode with 4 KiB pages for 0x200000-0x3fffff; 0x300000 (the page the
// tests remap) holds 0x1111 and 0x301000 holds 0x2222.
constexpr uint64_t kPt = 0x60000, kPage = 0x300000, kPte = kPt + 8 * 256;
void MapTestPage(TestMachine& m, uint64_t pte_flags) {
  m.Enter(Mode::kLong64);
  // A first run, so that the TLB flush of the first memory-map change (the
  // memory's flat view is built on first use) is behind us.
  CpuState s = m.State();
  EXPECT_EQ(RunCode(m, "hlt\n").reason, ExitReason::kHalt);
  m.SetState(s);
  for (int i = 0; i < 512; i++) m.Write64(kPt + 8 * i, (0x200000 + 0x1000ull * i) | 7);
  m.Write64(TestMachine::kPml4 + 0x2000 + 8, kPt | 7);
  m.Write64(kPte, kPage | pte_flags);
  m.Write64(kPage, 0x1111);
  m.Write64(kPage + 0x1000, 0x2222);
}

// Reads the page, points its PTE at 0x301000 (no INVLPG), then runs `reload`
// (CR3/CR4 writes; %rax holds the original CR3) and reads the page into %r9.
// Returns r8 (the first read) and r9.
std::string Remap(uint64_t pte_flags, const std::string& reload) {
  char buf[160];
  std::snprintf(buf, sizeof buf,
                "mov 0x%llx, %%r8\nmovq $0x%llx, 0x%llx\nmov %%cr3, %%rax\n",
                static_cast<unsigned long long>(kPage),
                static_cast<unsigned long long>((kPage + 0x1000) | pte_flags),
                static_cast<unsigned long long>(kPte));
  return buf + reload + "mov 0x300000, %r9\nhlt\n";
}

struct Result {
  int64_t vector;
  uint64_t first, second, cr3;
};
Result RunRemap(uint64_t pte_flags, uint64_t cr4_extra, const std::string& reload) {
  TestMachine m;
  MapTestPage(m, pte_flags);
  CpuState s = m.State();
  s.cr4 |= cr4_extra;
  m.SetState(s);
  accel::RunResult r = RunCode(m, Remap(pte_flags, reload));
  EXPECT_EQ(r.reason, ExitReason::kHalt) << r.detail;
  CpuState e = m.State();
  return {m.vector(), e.regs[R8], e.regs[R9], e.cr3};
}

TEST(TcgPcid, CpuidEnumeratesPcid) {
  TestMachine m;
  m.Enter(Mode::kLong64);
  ASSERT_EQ(RunCode(m, "mov $1, %eax\ncpuid\nhlt\n").reason, ExitReason::kHalt);
  EXPECT_TRUE(m.State().regs[RCX] & (1u << 17));
}

TEST(TcgPcid, Cr3LoadDropsNonGlobalPages) {
  Result r = RunRemap(7, 0, "mov %rax, %cr3\n");
  EXPECT_EQ(r.vector, -1);
  EXPECT_EQ(r.first, 0x1111u);
  EXPECT_EQ(r.second, 0x2222u);
}

TEST(TcgPcid, Cr3LoadKeepsGlobalPagesUntilPgeChanges) {
  // G set and CR4.PGE: the CR3 load keeps the old translation.
  Result kept = RunRemap(0x107, kCr4PGE, "mov %rax, %cr3\n");
  EXPECT_EQ(kept.vector, -1);
  EXPECT_EQ(kept.second, 0x1111u);
  // Toggling CR4.PGE flushes global pages too.
  Result dropped = RunRemap(0x107, kCr4PGE,
                       "mov %cr4, %rbx\nbtr $7, %rbx\nmov %rbx, %cr4\n"
                       "bts $7, %rbx\nmov %rbx, %cr4\n");
  EXPECT_EQ(dropped.vector, -1);
  EXPECT_EQ(dropped.second, 0x2222u);
  // G without CR4.PGE means nothing.
  Result no_pge = RunRemap(0x107, 0, "mov %rax, %cr3\n");
  EXPECT_EQ(no_pge.second, 0x2222u);
}

TEST(TcgPcid, InvlpgDropsAGlobalPage) {
  Result r = RunRemap(0x107, kCr4PGE, "invlpg 0x300000\n");
  EXPECT_EQ(r.vector, -1);
  EXPECT_EQ(r.second, 0x2222u);
}

constexpr char kEnablePcid[] = "mov %cr4, %rbx\nbts $17, %rbx\nmov %rbx, %cr4\n";

TEST(TcgPcid, Bit63KeepsThePcidsEntriesAndIsNotStored) {
  Result r = RunRemap(7, kCr4PCIDE, "bts $63, %rax\nmov %rax, %cr3\n");
  EXPECT_EQ(r.vector, -1);
  EXPECT_EQ(r.first, 0x1111u);
  EXPECT_EQ(r.second, 0x1111u);
  EXPECT_EQ(r.cr3, TestMachine::kPml4);
}

TEST(TcgPcid, EachPcidKeepsItsOwnEntries) {
  // The first read filled PCID 0's entry. PCID 1 (flushed by its load) walks and
  // sees the new PTE; back to PCID 0 with bit 63: its old entry is still there;
  // PCID 0 without bit 63: flushed.
  TestMachine m;
  MapTestPage(m, 7);
  CpuState pcide = m.State();
  pcide.cr4 |= kCr4PCIDE;
  m.SetState(pcide);
  accel::RunResult run = RunCode(
      m, Remap(7, "mov %rax, %rdx\nor $1, %rdx\nmov %rdx, %cr3\nmov 0x300000, %r10\n"
                      "mov %rax, %rdx\nbts $63, %rdx\nmov %rdx, %cr3\nmov 0x300000, %r11\n"
                      "mov %rax, %cr3\n"));
  ASSERT_EQ(run.reason, ExitReason::kHalt) << run.detail;
  EXPECT_EQ(m.vector(), -1);
  CpuState s = m.State();
  EXPECT_EQ(s.regs[R10], 0x2222u);
  EXPECT_EQ(s.regs[R11], 0x1111u);
  EXPECT_EQ(s.regs[R9], 0x2222u);
}

TEST(TcgPcid, SettingPcideNeedsPcid0AndLongMode) {
  // CR3[11:0] != 0 when PCIDE goes from 0 to 1: #GP.
  TestMachine m;
  m.Enter(Mode::kLong64);
  ASSERT_EQ(RunCode(m, "mov %cr3, %rax\nor $8, %rax\nmov %rax, %cr3\n" +
                           std::string(kEnablePcid) + "hlt\n").reason,
            ExitReason::kHalt);
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_FALSE(m.State().cr4 & kCr4PCIDE);
  // Outside IA-32e mode: #GP.
  TestMachine p;
  p.Enter(Mode::kProt32);
  ASSERT_EQ(RunCode(p, "mov %cr4, %ebx\nbts $17, %ebx\nmov %ebx, %cr4\nhlt\n").reason,
            ExitReason::kHalt);
  EXPECT_EQ(p.vector(), kGP);
}

TEST(TcgPcid, ClearingPagingWithPcideFaults) {
  // From compatibility mode, clearing CR0.PG would leave long mode; with
  // CR4.PCIDE set it #GPs instead.
  TestMachine m;
  m.Enter(Mode::kCompat32);
  CpuState s = m.State();
  s.cr4 |= kCr4PCIDE;
  m.SetState(s);
  ASSERT_EQ(RunCode(m, "mov %cr0, %eax\nbtr $31, %eax\nmov %eax, %cr0\nhlt\n").reason,
            ExitReason::kHalt);
  EXPECT_EQ(m.vector(), kGP);
  EXPECT_TRUE(m.State().cr0 & kCr0PG);
}

}  // namespace
}  // namespace emu::x86::test
