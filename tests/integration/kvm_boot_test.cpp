// Whole-emulator runs under KVM: the multiboot test kernels built by
// tests/guests/make-mbkern, booted by `emu -accel kvm` as a user would.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

class KvmBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why = KvmUnavailableReason();
    if (!why.empty()) GTEST_SKIP() << "KVM unavailable: " << why;
  }
};

TEST_F(KvmBoot, MultibootKernelReachesRing3AndExits) {
  ExpectMbkernPassed(RunEmu(KernelArgs("kvm", GuestFile("mbkern.elf")), 60));
}

TEST_F(KvmBoot, SecondCpuComesUpThroughInitSipi) {
  std::vector<std::string> args = KernelArgs("kvm", GuestFile("mbkern-smp.elf"));
  args.insert(args.end(), {"-smp", "2"});
  ExpectSecondCpuUp(RunEmu(args, 60));
}

// The translator fallback (accel/kvm/kvm_fallback.h) in a whole run: the systest
// debug kernel's #DB handler returns with IRETD, which kvm_pvm cannot emulate in
// ring 0. Its first use is announced once on stderr, and -d unimp counts it at exit.
TEST_F(KvmBoot, EmulationFallbackIsAnnouncedAndCounted) {
  EmuRun r = RunEmu({"-accel", "kvm", "-m", "64", "-kernel", GuestFile("systest-debug.elf"),
                     "-nographic", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-d", "unimp"},
                    30);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("done: checks 00000011"), std::string::npos) << r.out << r.err;
  const std::string announce = "emu: kvm: KVM cannot execute the instruction at ";
  size_t a = r.err.find(announce);
  if (a == std::string::npos) {
    EXPECT_NE(r.err.find("kvm: the translator executed 0 instructions in 0 "), std::string::npos)
        << r.err;
    GTEST_SKIP() << "this KVM ran the kernel without an emulation failure";
  }
  EXPECT_EQ(a, r.err.rfind(announce)) << "announced more than once:\n" << r.err;
  EXPECT_NE(r.err.find("(iretd)"), std::string::npos) << r.err;  // the instruction, disassembled
  unsigned long long insns = 0, exits = 0;
  size_t sum = r.err.find("kvm: the translator executed ");
  ASSERT_NE(sum, std::string::npos) << r.err;
  ASSERT_EQ(std::sscanf(r.err.c_str() + sum,
                        "kvm: the translator executed %llu instructions in %llu", &insns, &exits),
            2)
      << r.err;
  EXPECT_GE(exits, 1u);
  EXPECT_GE(insns, exits);
}

TEST_F(KvmBoot, KvmTcgListUsesKvmWhenPresent) {
  EmuRun r = RunEmu(KernelArgs("kvm:tcg", GuestFile("mbkern.elf")), 60);
  EXPECT_EQ(r.err.find("falling back"), std::string::npos) << r.err;
  EXPECT_EQ(r.status, 33) << r.out << r.err;
}

}  // namespace
}  // namespace emu::test

namespace emu::test {
namespace {

// /dev/kvm is root-only (crw-------) on these machines, so an unprivileged user
// sees exactly what a user without KVM access sees.
class KvmUnusable : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to run emu as an unprivileged user";
    struct stat st;
    if (stat("/dev/kvm", &st) == 0 && (st.st_mode & 0006))
      GTEST_SKIP() << "/dev/kvm is usable by everyone here";
    char dir[] = "/tmp/emu-kvmfb-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    chmod(dir, 0755);
    kernel_ = dir_ + "/mbkern.elf";
    std::string src = ReadFile(GuestDir() + "/mbkern.elf");
    ASSERT_FALSE(src.empty()) << "missing " << GuestDir() << "/mbkern.elf";
    FILE* f = fopen(kernel_.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    fwrite(src.data(), 1, src.size(), f);
    fclose(f);
    chmod(kernel_.c_str(), 0644);
  }
  void TearDown() override {
    if (!kernel_.empty()) unlink(kernel_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }
  std::vector<std::string> Args(const std::string& accel) { return KernelArgs(accel, kernel_); }
  std::string dir_, kernel_;
};

TEST_F(KvmUnusable, KvmTcgFallsBackWithAWarning) {
  EmuRun r = RunEmuAsUser(65534, Args("kvm:tcg"), 120);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.err.find("/dev/kvm"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("falling back to tcg"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("hello from mbkern"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 33) << r.err;
}

TEST_F(KvmUnusable, KvmAloneFailsWithAClearMessage) {
  EmuRun r = RunEmuAsUser(65534, Args("kvm"), 60);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("emu: -accel kvm: /dev/kvm"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("hello"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace emu::test
