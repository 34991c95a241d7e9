#include "system/monitor.h"

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
    "quit|q  -- quit the emulator\n"
    "stop  -- stop emulation\n"
    "system_reset  -- reset the system\n";

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
    } else if (what.empty()) {
      Print("info status -- show the VM status\ninfo version -- show the version of emu\n"
            "info registers -- show the CPU registers\n");
    } else {
      Print("unknown info command: '" + what + "'\n");
    }
  } else {
    Print("unknown command: '" + cmd + "'\n");
  }
}

}  // namespace emu::system
