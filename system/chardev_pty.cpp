// pty back end: a pseudo terminal that programs like screen or minicom open.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hw/core/device.h"
#include "system/chardev_backends.h"

namespace emu::system {

PtyChardev::PtyChardev(const std::string& label, MainLoop& loop) : FdChardev(label, loop) {
  auto fail = [&](const char* what) {
    int e = errno;
    if (master_ >= 0) close(master_);
    throw hw::ConfigError("chardev '" + label + "': " + what + ": " + std::strerror(e));
  };
  master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master_ < 0) fail("cannot open a pseudo terminal");
  if (grantpt(master_) != 0 || unlockpt(master_) != 0) fail("cannot unlock the pseudo terminal");
  char name[128];
  if (ptsname_r(master_, name, sizeof name) != 0) fail("ptsname");
  slave_path_ = name;
  slave_ = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave_ < 0) fail("cannot open the pseudo terminal's slave side");
  // Raw on both sides: no echo of our own output back to us, no line discipline.
  struct termios t;
  if (tcgetattr(slave_, &t) == 0) {
    cfmakeraw(&t);
    tcsetattr(slave_, TCSANOW, &t);
  }
  fcntl(master_, F_SETFL, fcntl(master_, F_GETFL) | O_NONBLOCK);
  std::printf("char device redirected to %s (label %s)\n", name, label.c_str());
  std::fflush(stdout);
  StartReading(master_);
}

PtyChardev::~PtyChardev() {
  StopReading();
  DropOutput();
  if (slave_ >= 0) close(slave_);
  if (master_ >= 0) close(master_);
}

void PtyChardev::Write(const uint8_t* data, size_t len) { WriteTo(master_, data, len); }

}  // namespace emu::system
