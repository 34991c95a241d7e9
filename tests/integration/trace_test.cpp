// -d/-D from the user's side: a small paging guest (tests/guests/tiny/trace.S)
// under the translator, with the log items a student would turn on.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <unistd.h>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

class Trace : public ::testing::Test {
 protected:
  void SetUp() override {
    guest_ = GuestDir() + "/tiny-trace.elf";
    if (!FileExists(guest_)) GTEST_SKIP() << "missing " << guest_ << " (run tests/guests/prepare)";
    log_ = "/tmp/emu-trace-test-" + std::to_string(getpid()) + ".log";
  }
  void TearDown() override {
    if (!log_.empty()) std::remove(log_.c_str());
  }
  // Runs the guest with `-d items -D log`; returns the log. The guest powers off
  // (status 0) only when its page mapping worked.
  std::string Run(const std::string& items, EmuRun* out = nullptr) {
    std::vector<std::string> args = KernelArgs("tcg", guest_);
    args.insert(args.end(), {"-d", items, "-D", log_});
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    EmuRun r = RunEmu(args, 60);
    EXPECT_FALSE(r.timed_out) << r.err;
    EXPECT_EQ(r.status, 0) << r.err;
    if (out) *out = r;
    return ReadFile(log_);
  }
  std::string guest_, log_;
  std::vector<std::string> extra_args_;  // more emu options
};

TEST_F(Trace, MmuIntOpsAndGuestErrorsGoToTheLogFile) {
  EmuRun r;
  std::string log = Run("mmu,int,guest_errors,op,op_opt,out_asm", &r);
  ASSERT_FALSE(log.empty());
  auto has = [&](const std::string& s) {
    EXPECT_NE(log.find(s), std::string::npos) << "missing \"" << s << "\" in\n" << log;
  };
  // The front end's IR of the first block, and the same block after the passes.
  has("OP: pc=0x10000c ");
  has("OP after passes: pc=0x10000c ");
  has("st_env.i64 rdi, $0x120000");  // mov $PD, %edi, folded
  // What the interpreter runs for it: the constant stored straight into rdi.
  has("OUT: pc=0x10000c ");
  has(" rdi = 0x120000");  // a movi (or movi2 paired with the next constant)
#if defined(__x86_64__)
  // And the host code the native backend made of it (capstone): the same store.
  has("OUT: host code at 0x");
  has("], 0x120000");
#endif
  // Paging: the CR3 load, the flush when CR0.PG turns on, the walk of the test
  // page through both levels, INVLPG.
  has("mmu: CR3 load 0x120000 (TLB flush)");
  has("mmu: TLB flush: CR0 0x");
  has("mmu: walk 0x40000000 write sup -> 0x200000 4K rwx [pde@0x120400=0x122003 "
      "pte@0x122000=0x200003]");
  has("mmu: INVLPG 0x40000000");
  // Guest errors: the unassigned port and the read-only RTC register.
  has("io: unassigned read of 1 byte at 0x9999");
  has("mc146818: write 0x55 to read-only register C");
  // Nothing on stderr but what the user asked for (the log went to the file).
  EXPECT_EQ(r.err.find("mmu:"), std::string::npos) << r.err;
}

TEST_F(Trace, ItemsNotAskedForStayOut) {
  std::string log = Run("guest_errors");
  EXPECT_NE(log.find("io: unassigned read of 1 byte at 0x9999"), std::string::npos) << log;
  EXPECT_EQ(log.find("mmu:"), std::string::npos) << log;
  EXPECT_EQ(log.find("OP"), std::string::npos) << log;
}

TEST_F(Trace, DisassemblyExecAndCpu) {
  std::string log = Run("in_asm,exec,cpu");
  EXPECT_NE(log.find("IN: "), std::string::npos) << log;
  EXPECT_NE(log.find("invlpg"), std::string::npos) << log;  // capstone's spelling
  EXPECT_NE(log.find("Trace 0: "), std::string::npos) << log;
  EXPECT_NE(log.find("CR3=0000000000120000"), std::string::npos) << log;
}

TEST_F(Trace, DfilterKeepsOnlyCodeInItsRanges) {
  // The block that reads the unassigned port starts at 0x100085 (see the op log
  // of the first test); nothing before it is in range.
  std::string log = Run("in_asm,op_opt,exec");
  ASSERT_NE(log.find("IN: 0010:100085"), std::string::npos) << log;
  extra_args_ = {"-dfilter", "0x100085..0x100090"};
  log = Run("in_asm,op_opt,exec");
  EXPECT_NE(log.find("IN: 0010:100085"), std::string::npos) << log;
  EXPECT_NE(log.find("OP after passes: pc=0x100085"), std::string::npos) << log;
  EXPECT_NE(log.find("Trace 0: [0000000000100085/"), std::string::npos) << log;
  EXPECT_EQ(log.find("IN: 0010:10000c"), std::string::npos) << log;
  EXPECT_EQ(log.find("pc=0x10000c"), std::string::npos) << log;
  EXPECT_EQ(log.find("Trace 0: [000000000010000c/"), std::string::npos) << log;
}

}  // namespace
}  // namespace emu::test
