#include "tests/integration/run_emu.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace emu::test {

namespace {
double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}
}  // namespace

std::string EmuPath() {
  if (const char* b = getenv("EMU_BUILD_ROOT")) return std::string(b) + "/system/emu";
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "emu";
  self[n] = 0;
  std::string p(self);
  p = p.substr(0, p.rfind('/'));  // tests/integration
  p = p.substr(0, p.rfind('/'));  // tests
  p = p.substr(0, p.rfind('/'));  // build root
  return p + "/system/emu";
}

std::string GuestFile(const std::string& name) {
  std::string p = GuestDir() + "/" + name;
  if (!FileExists(p)) ADD_FAILURE() << "missing guest " << p << " (run tests/guests/prepare)";
  return p;
}

std::vector<std::string> KernelArgs(const std::string& accel, const std::string& kernel) {
  return {"-accel", accel, "-m", "64", "-kernel", kernel, "-display", "none", "-serial", "stdio",
          "-device", "isa-debug-exit,iobase=0xf4,iosize=4"};
}

void ExpectMbkernPassed(const EmuRun& r) {
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("hello from mbkern"), std::string::npos) << r.out << r.err;
  // The ring-3 workload's checksum, printed after the return to ring 0.
  EXPECT_NE(r.out.find("result 84027f004df9374e"), std::string::npos) << r.out;
  // mbkern writes 0x10 to isa-debug-exit: status (0x10 << 1) | 1.
  EXPECT_EQ(r.status, 33) << r.err;
}

void ExpectSecondCpuUp(const EmuRun& r) {
  ASSERT_FALSE(r.timed_out) << r.out << r.err;
  EXPECT_NE(r.out.find("ap 1 up"), std::string::npos) << r.out << r.err;
  EXPECT_NE(r.out.find("all cpus up"), std::string::npos) << r.out;
  EXPECT_EQ(r.status, 33) << r.err;
}

std::string GuestDir() {
  if (const char* g = getenv("EMU_GUESTS")) return g;
  std::string emu = EmuPath();
  return emu.substr(0, emu.rfind("/system/")) + "/guests";
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::string KvmUnavailableReason() {
  int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("/dev/kvm: ") + strerror(errno);
  close(fd);
  return "";
}

std::string ReadFile(const std::string& path) {
  std::string s;
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, size_t(n));
  close(fd);
  return s;
}

namespace {
EmuRun RunCore(const std::vector<std::string>& args, double timeout_s, const std::string& input,
               const std::string& stop_when, const std::vector<Step>& steps, int uid = -1);
}  // namespace

EmuRun RunEmuAsUser(int uid, const std::vector<std::string>& args, double timeout_s) {
  return RunCore(args, timeout_s, "", "", {}, uid);
}

EmuRun RunEmu(const std::vector<std::string>& args, double timeout_s, const std::string& input,
              const std::string& stop_when) {
  return RunCore(args, timeout_s, input, stop_when, {});
}

EmuRun RunEmuInteractive(const std::vector<std::string>& args, double timeout_s,
                         const std::vector<Step>& steps) {
  return RunCore(args, timeout_s, "", "", steps);
}

namespace {
EmuRun RunCore(const std::vector<std::string>& args, double timeout_s, const std::string& input,
               const std::string& stop_when, const std::vector<Step>& steps, int uid) {
  EmuRun r;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) return r;
  std::string path = EmuPath();
  double start = Now();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    if (uid >= 0 && (setgid(uid) != 0 || setuid(uid) != 0)) _exit(126);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(path.c_str()));
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(path.c_str(), argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (!input.empty()) {
    ssize_t ignored = write(in[1], input.data(), input.size());
    (void)ignored;
  }
  size_t step = 0, searched = 0;
  if (steps.empty()) close(in[1]);
  bool out_open = true, err_open = true, stopped = false;
  while (out_open || err_open) {
    double left = timeout_s - (Now() - start);
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    int n = poll(fds, 2, int(left * 1000) + 1);
    if (n < 0 && errno == EINTR) continue;
    char buf[65536];
    for (int i = 0; i < 2; i++) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t k = read(fds[i].fd, buf, sizeof buf);
      if (k <= 0) {
        (i == 0 ? out_open : err_open) = false;
        continue;
      }
      (i == 0 ? r.out : r.err).append(buf, size_t(k));
    }
    while (step < steps.size()) {
      size_t at = r.out.find(steps[step].wait_for, searched);
      if (at == std::string::npos) break;
      searched = at + steps[step].wait_for.size();
      ssize_t ignored = write(in[1], steps[step].send.data(), steps[step].send.size());
      (void)ignored;
      if (++step == steps.size()) close(in[1]);
    }
    if (!stopped && !stop_when.empty() && r.out.find(stop_when) != std::string::npos) {
      stopped = true;
      kill(pid, SIGTERM);
    }
  }
  int st = 0;
  waitpid(pid, &st, 0);
  close(out[0]);
  close(err[0]);
  r.seconds = Now() - start;
  if (!steps.empty() && step < steps.size()) close(in[1]);
  if (WIFEXITED(st)) r.status = WEXITSTATUS(st);
  else if (WIFSIGNALED(st)) r.status = 128 + WTERMSIG(st);
  return r;
}
}  // namespace

}  // namespace emu::test
