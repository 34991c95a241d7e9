// The real emu binary: error messages and exit status of bad command lines,
// -version, -h, -device help.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>

namespace {

std::string EmuPath() {
  if (const char* root = std::getenv("EMU_BUILD_ROOT")) return std::string(root) + "/system/emu";
  // Fall back to the build tree layout: <build>/tests/system/system_tests.
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "emu";
  self[n] = 0;
  std::string dir = dirname(self);
  return dir + "/../../system/emu";
}

struct Result {
  int status = -1;  // exit status, or 128 + signal
  std::string out, err;
  bool timed_out = false;
};

// Runs emu with stdin from /dev/null. A command line that unexpectedly starts a
// machine is killed after `timeout_s`.
Result RunEmu(const std::vector<std::string>& args, int timeout_s = 20, uid_t run_as = 0) {
  Result r;
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return r;
  std::string exe = EmuPath();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (run_as && (setgid(run_as) != 0 || setuid(run_as) != 0)) _exit(125);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open_fds = 2;
  while (open_fds > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, int(left)) <= 0) continue;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP))) continue;
      char buf[4096];
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      } else {
        (i == 0 ? r.out : r.err).append(buf, size_t(n));
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int st = 0;
  waitpid(pid, &st, 0);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r;
}

class EmuBinary : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(EmuPath().c_str(), X_OK) != 0)
      GTEST_SKIP() << "emu binary not found at " << EmuPath() << " (set EMU_BUILD_ROOT)";
    char tmpl[] = "/tmp/emu-exe-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override {
    if (dir_.empty()) return;
    std::string cmd = "rm -rf '" + dir_ + "'";
    int rc = std::system(cmd.c_str());
    (void)rc;
  }
  std::string dir_;
};

TEST_F(EmuBinary, BadCommandLines) {
  std::string kernel = dir_ + "/bzImage";
  std::ofstream(kernel) << "not really a kernel";
  std::string subdir = dir_ + "/a-directory";
  mkdir(subdir.c_str(), 0755);
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  std::vector<Case> cases = {
      {{"-foo"}, "emu: -foo: invalid option"},
      {{"--bar", "1"}, "emu: --bar: invalid option"},
      {{"-m", "0"}, "emu: -m 0: RAM size must be at least 1 MiB"},
      {{"-m", "100T"}, "emu: -m 100T: RAM size is larger than the limit of 1 TiB"},
      {{"-m", "abc"}, "emu: -m abc: invalid RAM size"},
      {{"-m"}, "emu: -m: requires an argument"},
      {{"-display", "none", "-kernel"}, "emu: -kernel: requires an argument"},
      {{"-kernel", dir_ + "/missing-bzImage"},
       "emu: -kernel: cannot open '" + dir_ + "/missing-bzImage': No such file or directory"},
      {{"-kernel", subdir}, "emu: -kernel: cannot read '" + subdir + "': Is a directory"},
      {{"-kernel", kernel, "-initrd", dir_ + "/nope.img"},
       "emu: -initrd: cannot open '" + dir_ + "/nope.img': No such file or directory"},
      {{"-initrd", kernel}, "emu: -initrd requires -kernel"},
      {{"-device", "no-such-device"}, "emu: -device no-such-device: unknown device 'no-such-device'"},
      {{"-hda", "x"}, "emu: -hda: not supported yet"},
      {{"-cdrom", "x.iso"}, "emu: -cdrom: not supported yet"},
      {{"-netdev", "user,id=n"}, "emu: -netdev: not supported yet"},
      {{"-snapshot"}, "emu: -snapshot: not supported yet"},
      {{"-display", "sdl"}, "emu: -display sdl: not supported yet"},
      {{"-smp", "0"}, "emu: -smp 0: the number of CPUs must be between 1 and 255"},
      {{"-accel", "tcg,backend=foo"},
       "emu: -accel tcg,backend=foo: invalid backend 'foo' (available: native, interp)"},
      {{"-accel", "kvm,backend=interp"}, "emu: -accel kvm,backend=interp: backend= is a property of tcg"},
      {{"-d", "in_asm,bogus"}, "emu: -d bogus: unknown log item (see -d help)"},
      {{"-d", "op_ind"}, "emu: -d op_ind: not supported yet"},
      {{"-d", "mmu,trace:foo*"}, "emu: -d trace:foo*: not supported yet"},
      // Device properties are checked when the machine creates the device.
      {{"-display", "none", "-device", "isa-debug-exit,foo=1"}, "unknown property 'foo'"},
      {{"-display", "none", "-device", "isa-debug-exit,iobase=zz"},
       "property 'iobase' expects a number, not 'zz'"},
  };
  for (const auto& tc : cases) {
    std::string line;
    for (const auto& a : tc.args) line += a + " ";
    SCOPED_TRACE("emu " + line);
    Result r = RunEmu(tc.args);
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.err.find(tc.message), std::string::npos) << "stderr: " << r.err;
  }
}

// Root reads any file whatever its mode, so the EACCES case runs as 'nobody'.
TEST_F(EmuBinary, UnreadableFileNamesErrno) {
  chmod(dir_.c_str(), 0755);
  std::string kernel = dir_ + "/secret-bzImage";
  std::ofstream(kernel) << "x";
  chmod(kernel.c_str(), 0);
  uid_t as = 0;
  if (geteuid() == 0) as = 65534;
  Result r = RunEmu({"-kernel", kernel}, 20, as);
  if (r.status == 125 || r.status == 127)
    GTEST_SKIP() << "cannot run emu as uid 65534 here (status " << r.status << ")";
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("emu: -kernel: cannot open '" + kernel + "': Permission denied"),
            std::string::npos)
      << r.err;
}

TEST_F(EmuBinary, Version) {
  Result r = RunEmu({"-version"});
  EXPECT_EQ(r.status, 0);
  // Scripts parse "version X.Y.Z" from the first line, as with QEMU.
  std::string first = r.out.substr(0, r.out.find('\n'));
  EXPECT_TRUE(std::regex_match(first, std::regex("emu version [0-9]+\\.[0-9]+\\.[0-9]+")))
      << first;
  EXPECT_EQ(first, "emu version 0.1.0");
  EXPECT_NE(r.out.find("Copyright"), std::string::npos);
}

TEST_F(EmuBinary, Help) {
  for (const char* opt : {"-h", "-help", "--help"}) {
    Result r = RunEmu({opt});
    EXPECT_EQ(r.status, 0) << opt;
    EXPECT_NE(r.out.find("usage: emu"), std::string::npos) << opt;
    EXPECT_NE(r.out.find("Standard options:"), std::string::npos) << opt;
  }
}

TEST_F(EmuBinary, DeviceHelp) {
  Result r = RunEmu({"-device", "help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("Available devices:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("isa-debug-exit"), std::string::npos) << r.out;
}

TEST_F(EmuBinary, OtherHelps) {
  Result r = RunEmu({"-machine", "help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("pc "), std::string::npos);
  r = RunEmu({"-d", "help"});
  EXPECT_EQ(r.status, 0);
  for (const char* item : {"in_asm ", "op ", "op_opt ", "out_asm ", "exec ", "cpu ", "int ", "mmu ",
                           "unimp ", "guest_errors "})
    EXPECT_NE(r.out.find(std::string("\n") + item), std::string::npos) << item << "\n" << r.out;
}

}  // namespace
