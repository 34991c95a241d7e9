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
  std::string Guest(const std::string& name) {
    std::string p = GuestDir() + "/" + name;
    if (!FileExists(p)) ADD_FAILURE() << "missing guest " << p << " (run tests/guests/prepare)";
    return p;
  }
};

TEST_P(Machine, KeyboardControllerResetRebootsTheGuest) {
  // tiny-reset counts boots in CMOS and exits with the count on the third boot.
  EmuRun r = RunEmu({"-accel", GetParam(), "-m", "32", "-kernel", Guest("tiny-reset.elf"),
                     "-display", "none", "-serial", "stdio", "-device",
                     "isa-debug-exit,iobase=0xf4,iosize=1"},
                    60);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.out, "boot 1\nboot 2\nboot 3\n") << r.err;
  EXPECT_EQ(r.status, (3 << 1) | 1) << r.err;
}

TEST_P(Machine, NoRebootTurnsResetIntoExit) {
  EmuRun r = RunEmu({"-accel", GetParam(), "-m", "32", "-kernel", Guest("tiny-reset.elf"),
                     "-display", "none", "-serial", "stdio", "-no-reboot"},
                    60);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.out, "boot 1\n") << r.err;
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST_P(Machine, AcpiPoweroffExitsZero) {
  EmuRun r = RunEmu({"-accel", GetParam(), "-m", "32", "-kernel", Guest("tiny-poweroff.elf"),
                     "-display", "none", "-serial", "stdio", "-device",
                     "isa-debug-exit,iobase=0xf4,iosize=1"},
                    60);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.status, 0) << "guest reached its failure path: " << r.out << r.err;
}

INSTANTIATE_TEST_SUITE_P(Accel, Machine, ::testing::Values("kvm", "tcg"));

}  // namespace
}  // namespace emu::test
