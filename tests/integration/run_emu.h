// Runs the built `emu` binary as a child process with a time limit and captures
// what it prints: the integration tests' view of emu is the user's view.
#pragma once

#include <string>
#include <vector>

namespace emu::test {

struct EmuRun {
  int status = -1;       // exit status, or 128+signal
  bool timed_out = false;
  std::string out;       // stdout
  std::string err;       // stderr
  double seconds = 0;
};

// Path of build/system/emu (from EMU_BUILD_ROOT, else relative to the test binary).
std::string EmuPath();
// Folder of the guest cache (EMU_GUESTS, else $EMU_BUILD_ROOT/guests).
std::string GuestDir();
// Path of test guest `name` in the guest cache; a missing file fails the test.
std::string GuestFile(const std::string& name);
// emu's command line for a test kernel that reports on the serial port and ends
// through isa-debug-exit: -accel <accel> -m 64 -kernel <kernel> -display none
// -serial stdio -device isa-debug-exit,iobase=0xf4,iosize=4.
std::vector<std::string> KernelArgs(const std::string& accel, const std::string& kernel);
// Runs emu with `args`; `input` is written to its stdin (then stdin is closed unless
// keep_stdin_open). Kills it after `timeout_s`.
// When `stop_when` is non-empty, emu gets SIGTERM as soon as its stdout contains it
// (for guests that never exit by themselves, like firmware with nothing to boot).
EmuRun RunEmu(const std::vector<std::string>& args, double timeout_s,
              const std::string& input = "", const std::string& stop_when = "");
// Interactive run: each step waits until stdout contains `wait_for` (searching only
// what came after the previous step's match), then writes `send` to emu's stdin.
struct Step {
  std::string wait_for;
  std::string send;
};
EmuRun RunEmuInteractive(const std::vector<std::string>& args, double timeout_s,
                         const std::vector<Step>& steps);
// Same as RunEmu, as another user (the test must run as root to switch).
EmuRun RunEmuAsUser(int uid, const std::vector<std::string>& args, double timeout_s);
// mbkern.elf (tests/guests/make-mbkern) ran to its end: greeting, the ring-3
// workload's checksum (what the real CPU computes), isa-debug-exit status 33.
void ExpectMbkernPassed(const EmuRun& r);
// mbkern-smp.elf brought its second CPU up.
void ExpectSecondCpuUp(const EmuRun& r);
// Reads a whole file ("" if it can't).
std::string ReadFile(const std::string& path);
bool FileExists(const std::string& path);
// Why KVM can't be used here ("" if it can).
std::string KvmUnavailableReason();

}  // namespace emu::test
