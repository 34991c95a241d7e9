// Whole-emulator runs under the translator: multiboot test kernels, SeaBIOS POST.
#include <gtest/gtest.h>

#include "tests/integration/run_emu.h"

namespace emu::test {
namespace {

// The same checksum as the real CPU computes under KVM (kvm_boot_test.cpp).
TEST(TcgBoot, MultibootKernelLongModeRing3AndExit) {
  ExpectMbkernPassed(RunEmu(KernelArgs("tcg", GuestFile("mbkern.elf")), 120));
}

TEST(TcgBoot, SecondCpuComesUpThroughLapicInitSipi) {
  std::vector<std::string> args = KernelArgs("tcg", GuestFile("mbkern-smp.elf"));
  args.insert(args.end(), {"-smp", "2"});
  ExpectSecondCpuUp(RunEmu(args, 120));
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
