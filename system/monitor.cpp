#include "system/monitor.h"

#include <cctype>
#include <cstdio>
#include <sstream>
#include <vector>

#include "system/chardev.h"
#include "system/chardev_backends.h"

#ifndef EMU_VERSION
#error "EMU_VERSION must be defined by the build"
#endif

namespace emu::system {

namespace {

std::vector<std::string> Words(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

const char kHelp[] =
    "cont|c  -- resume emulation\n"
    "help|?  -- show this help\n"
    "info status  -- show the VM status (running or paused)\n"
    "info version  -- show the version of emu\n"
    "info registers  -- show the CPU registers\n"
    "info cpus  -- show each CPU's pc and whether it is halted\n"
    "quit|q  -- quit the emulator\n"
    "stop  -- stop emulation\n"
    "system_powerdown  -- send the ACPI power button event\n"
    "system_reset  -- reset the system\n"
    "xp /fmt addr  -- dump guest physical memory (fmt: count, x/d/u, b/h/w/g)\n";

// Parses a number the way users type addresses: 0x hex, else decimal.
bool ParseNumber(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  size_t pos = 0;
  try {
    *out = std::stoull(s, &pos, 0);
  } catch (...) {
    return false;
  }
  return pos == s.size() && s[0] != '-';
}

}  // namespace

Monitor::Monitor(hw::CharDev& chr, MonitorHooks hooks) : chr_(chr), hooks_(std::move(hooks)) {
  chr_.SetFrontend({[]() -> size_t { return 4096; },
                    [this](const uint8_t* d, size_t n) { Receive(d, n); }});
  if (auto* fe = dynamic_cast<MuxFrontend*>(&chr_)) {
    fe->SetFocusHandler([this](bool focused) {
      if (!focused || !started_) return;
      if (!banner_shown_) {
        banner_shown_ = true;
        Print("emu " EMU_VERSION " monitor - type 'help' for more information\n");
      }
      Prompt();
    });
  }
  if (auto* sock = dynamic_cast<SocketChardev*>(&chr_)) {
    // Every client of a socket monitor gets the banner and a prompt to wait for.
    sock->SetConnectHandler([this] {
      if (!started_) return;
      line_.clear();
      Print("emu " EMU_VERSION " monitor - type 'help' for more information\n");
      Prompt();
    });
  }
}

Monitor::~Monitor() {
  chr_.SetFrontend({});
  if (auto* fe = dynamic_cast<MuxFrontend*>(&chr_)) fe->SetFocusHandler(nullptr);
  if (auto* sock = dynamic_cast<SocketChardev*>(&chr_)) sock->SetConnectHandler(nullptr);
}

void Monitor::Start() {
  started_ = true;
  auto* fe = dynamic_cast<MuxFrontend*>(&chr_);
  if (fe && !fe->focused()) return;
  banner_shown_ = true;
  Print("emu " EMU_VERSION " monitor - type 'help' for more information\n");
  Prompt();
}

void Monitor::Print(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out += '\r';
    out += c;
  }
  chr_.WriteString(out);
}

void Monitor::Prompt() { chr_.WriteString("(emu) "); }

void Monitor::Receive(const uint8_t* data, size_t len) {
  for (size_t i = 0; i < len; i++) {
    uint8_t c = data[i];
    // ESC [ ... final byte: arrow and function keys, which this monitor ignores.
    if (escape_state_ == 1) {
      escape_state_ = (c == '[' || c == 'O') ? 2 : 0;
      continue;
    }
    if (escape_state_ == 2) {
      if (c >= 0x40 && c <= 0x7e) escape_state_ = 0;
      continue;
    }
    if (c == 0x1b) {
      escape_state_ = 1;
      continue;
    }
    if (c == '\n' && last_cr_) {  // CR LF is one line end
      last_cr_ = false;
      continue;
    }
    last_cr_ = c == '\r';
    if (c == '\r' || c == '\n') {
      chr_.WriteString("\r\n");
      std::string line;
      line.swap(line_);
      Execute(line);
      // After quit emu is going away: a fresh prompt would only be noise.
      std::vector<std::string> w = Words(line);
      if (w.empty() || (w[0] != "quit" && w[0] != "q")) Prompt();
    } else if (c == 0x7f || c == 0x08) {
      if (!line_.empty()) {
        line_.pop_back();
        chr_.WriteString("\b \b");
      }
    } else if (c >= 0x20 && c < 0x7f) {
      if (line_.size() < 1024) {
        line_ += char(c);
        chr_.Write(&c, 1);  // echo
      }
    }
  }
}

void Monitor::Execute(const std::string& line) {
  std::vector<std::string> w = Words(line);
  if (w.empty()) return;
  auto call = [&](const std::function<void()>& fn, const std::string& name) {
    if (fn) fn();
    else Print("unimplemented: " + name + "\n");
  };
  const std::string& cmd = w[0];
  if (cmd == "help" || cmd == "?" || cmd == "h") {
    Print(kHelp);
  } else if (cmd == "quit" || cmd == "q") {
    call(hooks_.quit, "quit");
  } else if (cmd == "system_powerdown") {
    call(hooks_.system_powerdown, "system_powerdown");
  } else if (cmd == "xp") {
    PhysicalDump(w);
  } else if (cmd == "system_reset") {
    call(hooks_.system_reset, "system_reset");
  } else if (cmd == "stop") {
    call(hooks_.stop, "stop");
  } else if (cmd == "cont" || cmd == "c") {
    call(hooks_.cont, "cont");
  } else if (cmd == "info") {
    const std::string what = w.size() > 1 ? w[1] : "";
    if (what == "status") {
      if (!hooks_.status) Print("unimplemented: info status\n");
      else Print("VM status: " + hooks_.status() + "\n");
    } else if (what == "version") {
      Print(EMU_VERSION "\n");
    } else if (what == "registers") {
      if (!hooks_.info_registers) Print("unimplemented: info registers\n");
      else Print(hooks_.info_registers());
    } else if (what == "cpus") {
      if (!hooks_.info_cpus) Print("unimplemented: info cpus\n");
      else Print(hooks_.info_cpus());
    } else if (what.empty()) {
      Print("info status -- show the VM status\ninfo version -- show the version of emu\n"
            "info registers -- show the CPU registers\ninfo cpus -- show each CPU's pc\n");
    } else {
      Print("unknown info command: '" + what + "'\n");
    }
  } else {
    Print("unknown command: '" + cmd + "'\n");
  }
}

// xp [/[count][format][size]] addr -- e.g. "xp /4xw 0x1000".
void Monitor::PhysicalDump(const std::vector<std::string>& w) {
  if (!hooks_.read_physical) return Print("unimplemented: xp\n");
  size_t count = 1, size = 4;
  char format = 'x';
  size_t arg = 1;
  if (w.size() > 1 && w[1][0] == '/') {
    const std::string& f = w[1];
    size_t i = 1;
    size_t digits = 0;
    count = 0;
    while (i < f.size() && isdigit(static_cast<unsigned char>(f[i]))) {
      if (count < 100000) count = count * 10 + size_t(f[i] - '0');
      i++;
      digits++;
    }
    if (!digits) count = 1;
    for (; i < f.size(); i++) {
      switch (f[i]) {
        case 'x': case 'd': case 'u': format = f[i]; break;
        case 'b': size = 1; break;
        case 'h': size = 2; break;
        case 'w': size = 4; break;
        case 'g': size = 8; break;
        default: return Print(std::string("xp: invalid format character '") + f[i] + "'\n");
      }
    }
    arg = 2;
  }
  uint64_t addr = 0;
  if (w.size() != arg + 1 || !ParseNumber(w[arg], &addr))
    return Print("usage: xp /fmt addr  (e.g. xp /4xw 0x1000)\n");
  // Bounded so that a typo cannot flood the console.
  constexpr size_t kMaxBytes = 64 * 1024;
  if (count == 0 || count * size > kMaxBytes)
    return Print("xp: count must be between 1 and " + std::to_string(kMaxBytes / size) + "\n");
  std::vector<uint8_t> buf(count * size);
  if (!hooks_.read_physical(addr, buf.data(), buf.size())) {
    char msg[80];
    std::snprintf(msg, sizeof msg, "xp: cannot read %zu bytes at 0x%llx\n", buf.size(),
                  static_cast<unsigned long long>(addr));
    return Print(msg);
  }
  const size_t per_line = size == 1 ? 8 : 16 / size;
  std::string out;
  char tmp[64];
  for (size_t i = 0; i < count; i++) {
    if (i % per_line == 0) {
      if (i) out += "\n";
      std::snprintf(tmp, sizeof tmp, "%016llx:", static_cast<unsigned long long>(addr + i * size));
      out += tmp;
    }
    uint64_t v = 0;
    for (size_t b = 0; b < size; b++) v |= uint64_t(buf[i * size + b]) << (8 * b);  // little endian
    if (format == 'x') {
      std::snprintf(tmp, sizeof tmp, " 0x%0*llx", int(size * 2), static_cast<unsigned long long>(v));
    } else if (format == 'u') {
      std::snprintf(tmp, sizeof tmp, " %llu", static_cast<unsigned long long>(v));
    } else {
      int64_t sv = size == 8 ? int64_t(v) : (int64_t(v << (64 - 8 * size)) >> (64 - 8 * size));
      std::snprintf(tmp, sizeof tmp, " %lld", static_cast<long long>(sv));
    }
    out += tmp;
  }
  Print(out + "\n");
}

}  // namespace emu::system
