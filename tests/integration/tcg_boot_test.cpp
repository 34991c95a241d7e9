// Whole-emulator runs under the translator: multiboot test kernels, SeaBIOS POST.
#include <gtest/gtest.h>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

std::string Guest(const std::string& name) {
  std::string p = GuestDir() + "/" + name;
  if (!FileExists(p)) ADD_FAILURE() << "missing guest " << p << " (run tests/guests/prepare)";
  return p;
}

TEST(TcgBoot, MultibootKernelLongModeRing3AndExit) {
  EmuRun r = RunEmu({"-accel", "tcg", "-m", "64", "-kernel", Guest("mbkern.elf"), "-display",
                     "none", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4"},
                    120);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("hello from mbkern"), std::string::npos) << r.out << r.err;
  // Same checksum as the real CPU computes under KVM (kvm_boot_test.cpp).
  EXPECT_NE(r.out.find("result 84027f004df9374e"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 33) << r.err;
}

TEST(TcgBoot, SecondCpuComesUpThroughLapicInitSipi) {
  EmuRun r = RunEmu({"-accel", "tcg", "-smp", "2", "-m", "64", "-kernel", Guest("mbkern-smp.elf"),
                     "-display", "none", "-serial", "stdio", "-device",
                     "isa-debug-exit,iobase=0xf4,iosize=4"},
                    120);
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("ap 1 up"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("all cpus up"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 33) << r.err;
}

TEST(TcgBoot, SeaBiosPostsAndLooksForABootDevice) {
  const std::string bios = "/usr/share/seabios/bios.bin";
  ASSERT_TRUE(FileExists(bios)) << "seabios package missing";
  // SeaBIOS's log goes to port 0x402; stop once it has given up on the floppy.
  EmuRun r = RunEmu({"-accel", "tcg", "-m", "128", "-bios", bios, "-display", "none", "-serial",
                     "null", "-chardev", "stdio,id=seabios", "-device",
                     "isa-debugcon,iobase=0x402,chardev=seabios"},
                    60, "", "Booting from");
  const std::string& text = r.out;
  EXPECT_NE(text.find("SeaBIOS (version"), std::string::npos) << text << r.err;
  EXPECT_NE(text.find("Found QEMU fw_cfg"), std::string::npos) << text;
  // Our e820 reached the BIOS through fw_cfg.
  EXPECT_NE(text.find("e820 map has"), std::string::npos) << text;
  EXPECT_NE(text.find("Booting from"), std::string::npos) << text;
}

}  // namespace
}  // namespace emu::test
