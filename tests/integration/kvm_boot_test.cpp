// Whole-emulator runs under KVM: the multiboot test kernels built by
// tests/guests/make-mbkern, booted by `emu -accel kvm` as a user would.
#include <gtest/gtest.h>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

class KvmBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = KvmUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "KVM unavailable: " << why;
  }
  std::string Kernel(const std::string& name) {
    std::string p = GuestDir() + "/" + name;
    if (!FileExists(p)) ADD_FAILURE() << "missing test kernel " << p << " (tests/guests/prepare)";
    return p;
  }
};

TEST_F(KvmBoot, MultibootKernelReachesRing3AndExits) {
  EmuRun r = RunEmu({"-accel", "kvm", "-m", "64", "-kernel", Kernel("mbkern.elf"), "-display",
                     "none", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"},
                    60);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("hello from mbkern"), std::string::npos) << r.out << r.err;
  // The ring-3 workload's checksum, printed after the return to ring 0.
  EXPECT_NE(r.out.find("result 84027f004df9374e"), std::string::npos) << r.out;
  // mbkern writes 0x10 to isa-debug-exit: status (0x10 << 1) | 1.
  EXPECT_EQ(r.status, 33) << r.err;
}

TEST_F(KvmBoot, SecondCpuComesUpThroughInitSipi) {
  EmuRun r = RunEmu({"-accel", "kvm", "-smp", "2", "-m", "64", "-kernel", Kernel("mbkern-smp.elf"),
                     "-display", "none", "-serial", "stdio", "-device",
                     "isa-debug-exit,iobase=0xf4,iosize=4"},
                    60);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("ap 1 up"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("all cpus up"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 33) << r.err;
}

TEST_F(KvmBoot, KvmTcgListUsesKvmWhenPresent) {
  EmuRun r = RunEmu({"-accel", "kvm:tcg", "-m", "64", "-kernel", Kernel("mbkern.elf"), "-display",
                     "none", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"},
                    60);
  EXPECT_EQ(r.err.find("falling back"), std::string::npos) << r.err;
  EXPECT_EQ(r.status, 33) << r.out << r.err;
}

}  // namespace
}  // namespace emu::test
