// System-level test kernels (tests/guests/systest/*.S, built into the guest cache
// by tests/guests/make-systest): each one switches into its mode(s), provokes
// faults and interrupts and prints `ok <check>` or `FAIL <check>: expected X got Y`
// on COM1, then `done: checks N failed F`, and exits through isa-debug-exit
// (status 33 all passed, 35 a check failed, 37 an unexpected exception).
// The report must equal tests/guests/systest/<kernel>.expected line for line.
// The same kernels run under QEMU's TCG (when installed) to validate the expected
// values against a second implementation, and under KVM where it can run them.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

std::string SourceRoot() {
  if (const char* s = getenv("EMU_SOURCE_ROOT")) return s;
  std::string emu = EmuPath();
  return emu.substr(0, emu.rfind("/system/")) + "/..";
}

// The report lines of a run: `ok`, `FAIL` and `done:` lines, in order.
std::string Report(const std::string& out) {
  std::istringstream in(out);
  std::string line, r;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind("ok ", 0) == 0 || line.rfind("FAIL", 0) == 0 || line.rfind("done: ", 0) == 0)
      r += line + "\n";
  }
  return r;
}

std::string Expected(const std::string& kernel) {
  std::string path = SourceRoot() + "/tests/guests/systest/" + kernel + ".expected";
  std::string e = ReadFile(path);
  if (e.empty()) ADD_FAILURE() << "missing " << path;
  return e;
}

std::string Kernel(const std::string& name) {
  std::string p = GuestDir() + "/systest-" + name + ".elf";
  if (!FileExists(p)) ADD_FAILURE() << "missing guest " << p << " (run tests/guests/prepare)";
  return p;
}

std::vector<std::string> Args(const std::string& accel, const std::string& kernel) {
  return {"-accel", accel, "-m", "64", "-kernel", Kernel(kernel), "-nographic",
          "-device", "isa-debug-exit,iobase=0xf4,iosize=4"};
}

void RunTcg(const std::string& kernel) {
  EmuRun r = RunEmu(Args("tcg", kernel), 30);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_EQ(Report(r.out), Expected(kernel)) << r.err;
  EXPECT_EQ(r.status, 33) << r.out << r.err;
}

// kvm_pvm (this host's /dev/kvm) cannot emulate INT n in ring 0 (docs/kvm.md): the
// run then stops with an emulation failure, which is a skip, not a result.
void RunKvm(const std::string& kernel) {
  std::string why = KvmUnavailableReason();
  if (!why.empty()) GTEST_SKIP() << why;
  EmuRun r = RunEmu(Args("kvm", kernel), 30);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  if (r.err.find("KVM internal error") != std::string::npos)
    GTEST_SKIP() << "this KVM cannot run the kernel's ring-0 code (emulation failure): " << r.err;
  EXPECT_EQ(Report(r.out), Expected(kernel)) << r.err;
  EXPECT_EQ(r.status, 33) << r.out << r.err;
}

// QEMU's TCG as a second implementation of the same checks.
void RunQemu(const std::string& kernel) {
  const char* qemu = "/usr/bin/qemu-system-x86_64";
  if (!FileExists(qemu)) GTEST_SKIP() << qemu << " not installed (package qemu-system-x86)";
  std::string cmd = std::string("timeout 30 ") + qemu +
                    " -accel tcg -cpu max -m 64 -display none -serial stdio -monitor none"
                    " -device isa-debug-exit,iobase=0xf4,iosize=4 -kernel " +
                    Kernel(kernel) + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int st = pclose(p);
  // The kernel's output follows SeaBIOS's on the same line.
  const std::string booting = "Booting from ROM..";
  if (size_t b = out.find(booting); b != std::string::npos) out = out.substr(b + booting.size());
  EXPECT_EQ(Report(out), Expected(kernel)) << out;
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 33) << out;
}

#define SYSTEST(Name, kernel)                     \
  TEST(Systest, Name) { RunTcg(kernel); }         \
  TEST(SystestQemu, Name) { RunQemu(kernel); }    \
  TEST(SystestKvm, Name) { RunKvm(kernel); }

SYSTEST(ProtectedMode32, "pm32")

}  // namespace
}  // namespace emu::test
