// Machine-level behaviour seen from outside: guest reset and poweroff, under each
// accelerator available here.
#include <gtest/gtest.h>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

class Machine : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "kvm") {
      std::string why = KvmUnavailableReason();
      if (!why.empty()) GTEST_SKIP() << "KVM unavailable: " << why;
    }
  }
  // Runs a tiny test guest (32 MiB, serial on stdout) under the accelerator of
  // this instance, with `extra` options.
  EmuRun RunTiny(const std::string& guest, const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"-accel", GetParam(), "-m", "32", "-kernel", GuestFile(guest),
                                     "-display", "none", "-serial", "stdio"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunEmu(args, 60);
  }
};

TEST_P(Machine, KeyboardControllerResetRebootsTheGuest) {
  // tiny-reset counts boots in CMOS and exits with the count on the third boot.
  EmuRun r = RunTiny("tiny-reset.elf", {"-device", "isa-debug-exit,iobase=0xf4,iosize=1"});
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.out, "boot 1\nboot 2\nboot 3\n") << r.err;
  EXPECT_EQ(r.status, (3 << 1) | 1) << r.err;
}

TEST_P(Machine, NoRebootTurnsResetIntoExit) {
  EmuRun r = RunTiny("tiny-reset.elf", {"-no-reboot"});
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.out, "boot 1\n") << r.err;
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_P(Machine, AcpiPoweroffExitsZero) {
  EmuRun r = RunTiny("tiny-poweroff.elf", {"-device", "isa-debug-exit,iobase=0xf4,iosize=1"});
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.status, 0) << "guest reached its failure path: " << r.out << r.err;
}

TEST_P(Machine, MonitorShowsEveryCpu) {
  // SeaBIOS on two CPUs with nothing to boot; the monitor on stdio.
  EmuRun r = RunEmuInteractive({"-accel", GetParam(), "-smp", "2", "-m", "32", "-display", "none",
                                "-serial", "none", "-monitor", "stdio"},
                               60, {{"(emu) ", "info cpus\n"}, {"CPU #1", "quit\n"}});
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("* CPU #0: pc=0x"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  CPU #1: pc=0x"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 0) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Accel, Machine, ::testing::Values("kvm", "tcg"));

}  // namespace
}  // namespace emu::test
