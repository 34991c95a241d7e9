// The Debian kernel with a busybox initramfs (tests/guests/make-linux and
// make-initramfs) booted under the translator: a real workload whose results are
// compared with the same script run on the host, and typing into the shell.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

// Lines between "=== BEGIN name" and "=== END name", without '\r', minus `drop`.
std::string Section(const std::string& out, const std::string& name, const std::string& drop) {
  std::string text;
  for (char c : out)
    if (c != '\r') text += c;
  size_t b = text.find("=== BEGIN " + name + "\n");
  size_t e = text.find("=== END " + name);
  if (b == std::string::npos || e == std::string::npos || e < b) return "(no section)";
  std::string body = text.substr(b + name.size() + 11, e - b - name.size() - 11);
  std::string kept;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t nl = body.find('\n', pos);
    std::string line = body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos + 1);
    pos = nl == std::string::npos ? body.size() : nl + 1;
    if (line.rfind(drop, 0) != 0 && line.find("] ") == std::string::npos) kept += line;
  }
  return kept;
}

// The workload run on the host by the same busybox binary, every applet on PATH.
std::string HostWorkload(const std::string& script) {
  char dir[] = "/tmp/emu-bb-XXXXXX";
  if (!mkdtemp(dir)) return "(mkdtemp failed)";
  std::string d = dir;
  std::string cmd = "cd " + d + " && for a in $(/bin/busybox --list); do ln -s /bin/busybox $a; done"
                    " && mkdir tmp && sed 's#/tmp/#" + d + "/tmp/#g' " + script +
                    " > w.sh && PATH=" + d + " /bin/busybox sh w.sh";
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return "(popen failed)";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  pclose(p);
  std::system(("rm -rf " + d).c_str());
  std::string kept;
  size_t pos = 0;
  while (pos < out.size()) {
    size_t nl = out.find('\n', pos);
    std::string line = out.substr(pos, nl - pos + 1);
    pos = nl + 1;
    if (line.rfind("cpus ", 0) != 0) kept += line;
  }
  return kept;
}

TEST(LinuxTcg, WorkloadMatchesHostAndPowersOff) {
  std::string kernel = GuestFile("linux/vmlinuz"), initrd = GuestFile("initramfs.gz");
  EmuRun r = RunEmu({"-accel", "tcg", "-m", "512", "-kernel", kernel, "-initrd", initrd,
                     "-append", "console=ttyS0 emu.run=workload panic=-1", "-display", "none",
                     "-serial", "stdio", "-no-reboot"},
                    900);
  ASSERT_FALSE(r.timed_out) << r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0);
  std::string guest = Section(r.out, "workload", "cpus ");
  EXPECT_NE(guest.find("sorted-md5 "), std::string::npos) << r.out;
  EXPECT_EQ(guest, HostWorkload(GuestFile("workload.sh")));
  EXPECT_NE(r.out.find("cpus 1"), std::string::npos);
  EXPECT_NE(r.out.find("=== END workload rc=0"), std::string::npos);
  // poweroff -f goes through ACPI S5: emu exits 0.
  EXPECT_EQ(r.status, 0) << r.err;
  std::printf("linux boot + workload under tcg: %.1f s\n", r.seconds);
}

// The suite runs the native backend by default; the portable interpreter
// (-accel tcg,backend=interp) boots the same kernel to user space once (~20 s).
TEST(LinuxTcg, InterpreterBackendBootsAndRunsHello) {
  std::string kernel = GuestFile("linux/vmlinuz"), initrd = GuestFile("initramfs.gz");
  EmuRun r = RunEmu({"-accel", "tcg,backend=interp", "-m", "256", "-kernel", kernel, "-initrd",
                     initrd, "-append", "console=ttyS0 emu.run=hello panic=-1", "-display", "none",
                     "-serial", "stdio", "-no-reboot"},
                    600);
  ASSERT_FALSE(r.timed_out) << r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0);
  EXPECT_EQ(Section(r.out, "hello", "Linux "), "hello from the guest\n") << r.out;
  EXPECT_NE(r.out.find("\nLinux "), std::string::npos) << r.out;  // uname -sr
  EXPECT_NE(r.out.find("=== END hello rc=0"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 0) << r.err;
  std::printf("linux boot + hello under tcg,backend=interp: %.1f s\n", r.seconds);
}

TEST(LinuxTcg, TwoCpusComeUpAndPowerOff) {
  std::string kernel = GuestFile("linux/vmlinuz"), initrd = GuestFile("initramfs.gz");
  EmuRun r = RunEmu({"-accel", "tcg", "-smp", "2", "-m", "256", "-kernel", kernel, "-initrd",
                     initrd, "-append", "console=ttyS0 emu.run=cpus panic=-1", "-display", "none",
                     "-serial", "stdio", "-no-reboot"},
                    600);
  ASSERT_FALSE(r.timed_out) << r.out.substr(r.out.size() > 4000 ? r.out.size() - 4000 : 0);
  EXPECT_NE(r.out.find("smp: Brought up 1 node, 2 CPUs"), std::string::npos) << r.out;
  // The vCPUs share one TSC, as CPUs reset together do: Linux's cross-CPU check
  // finds no warp and keeps the TSC as its clocksource.
  EXPECT_EQ(r.out.find("Marking TSC unstable"), std::string::npos) << r.out;
  EXPECT_EQ(Section(r.out, "cpus", "-"), "online 0-1\ncpus 2\n") << r.out;
  EXPECT_EQ(r.status, 0) << r.err;
}

TEST(LinuxTcg, TypingIntoTheShellOverNographic) {
  std::string kernel = GuestFile("linux/vmlinuz"), initrd = GuestFile("initramfs.gz");
  EmuRun r = RunEmuInteractive({"-accel", "tcg", "-m", "256", "-kernel", kernel, "-initrd",
                                initrd, "-append", "console=ttyS0 panic=-1 quiet", "-nographic",
                                "-no-reboot"},
                               600,
                               {{"shell ready", "echo typed-$((6*7))\n"},
                                {"typed-42", "cd /sys/devices/system/cpu/vulnerabilities; "
                                             "grep . *; echo listed-$((6*7))\n"},
                                {"listed-42", "poweroff -f\n"}});
  ASSERT_FALSE(r.timed_out) << r.out.substr(r.out.size() > 3000 ? r.out.size() - 3000 : 0);
  // The shell echoes what we typed, then prints the arithmetic result.
  EXPECT_NE(r.out.find("typed-42"), std::string::npos) << r.out;
  // The translator does not speculate and CPUID/IA32_ARCH_CAPABILITIES say so
  // (target-x86/helpers/cpuid_msr.cpp): Linux leaves out page-table isolation,
  // buffer clearing, retpolines, return thunks and the branch-history loop.
  for (const char* v : {"meltdown:Not affected", "mds:Not affected", "l1tf:Not affected",
                        "spec_store_bypass:Not affected", "mmio_stale_data:Not affected",
                        "retbleed:Not affected", "indirect_target_selection:Not affected",
                        "reg_file_data_sampling:Not affected", "tsx_async_abort:Not affected",
                        "spectre_v2:Mitigation: Enhanced / Automatic IBRS", "BHI: BHI_DIS_S"})
    EXPECT_NE(r.out.find(v), std::string::npos) << v << "\n" << r.out;
  EXPECT_EQ(r.out.find("Retpolines"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 0) << r.err;
}

}  // namespace
}  // namespace emu::test
