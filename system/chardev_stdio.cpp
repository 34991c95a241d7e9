// stdio back end: the emu process's own terminal or pipes.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "system/chardev_backends.h"

namespace emu::system {
namespace {

// Terminal state to put back. Plain globals because the fatal-signal handler
// must reach them without allocation or locks.
struct termios g_saved_tty;
volatile sig_atomic_t g_tty_raw = 0;

void RestoreTty() {
  if (g_tty_raw) {
    tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tty);
    g_tty_raw = 0;
  }
}

// A crash must not leave the user's shell in raw mode: restore, then die of the
// same signal (SA_RESETHAND put the default action back).
void FatalSignal(int sig) {
  if (g_tty_raw) tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_tty);
  raise(sig);
}

void EnterRawMode(bool signals) {
  if (tcgetattr(STDIN_FILENO, &g_saved_tty) != 0) return;
  static bool hooks_installed = false;
  if (!hooks_installed) {
    hooks_installed = true;
    std::atexit(RestoreTty);
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = FatalSignal;
    sa.sa_flags = SA_RESETHAND;
    for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGQUIT}) sigaction(sig, &sa, nullptr);
  }
  struct termios t = g_saved_tty;
  // Every key goes to the guest as typed: no line editing, echo or CR->NL mapping.
  t.c_iflag &= ~tcflag_t(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
  // The guest does its own output processing (it sends CR LF): pass bytes verbatim.
  t.c_oflag &= ~tcflag_t(OPOST);
  t.c_lflag &= ~tcflag_t(ECHO | ECHONL | ICANON | IEXTEN);
  if (!signals) t.c_lflag &= ~tcflag_t(ISIG);
  t.c_cflag &= ~tcflag_t(CSIZE | PARENB);
  t.c_cflag |= CS8;
  t.c_cc[VMIN] = 1;
  t.c_cc[VTIME] = 0;
  if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) g_tty_raw = 1;
}

}  // namespace

StdioChardev::StdioChardev(const std::string& label, MainLoop& loop, bool signals)
    : FdChardev(label, loop) {
  if (isatty(STDIN_FILENO)) EnterRawMode(signals);
  StartReading(STDIN_FILENO);
}

StdioChardev::~StdioChardev() { RestoreTty(); }

void StdioChardev::Write(const uint8_t* data, size_t len) { WriteTo(STDOUT_FILENO, data, len); }

}  // namespace emu::system
