// A minimal HMP monitor on a CharDev: prompt "(emu) ", line editing with
// backspace, and the commands help, quit/q, info status, info version,
// info registers, info cpus, system_reset, system_powerdown, stop, cont/c, xp.
//
// Commands run on the main loop thread with the machine lock held (they arrive
// as chardev input). What they do to the machine goes through MonitorHooks,
// which the machine fills in; a command whose hook is empty answers
// "unimplemented: <command>".
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "hw/core/chardev.h"

namespace emu::system {

struct MonitorHooks {
  std::function<void()> quit;                   // end emu (status 0)
  std::function<void()> system_reset;           // reset the machine
  std::function<void()> stop;                   // pause the vCPUs and the virtual clock
  std::function<void()> cont;                   // resume
  std::function<std::string()> status;          // "running", "paused" ... for "info status"
  std::function<std::string()> info_registers;  // register dump of every vCPU
  std::function<std::string()> info_cpus;       // one line per vCPU: pc, halted
  std::function<void()> system_powerdown;       // ACPI power button
  // Reads guest physical memory for "xp"; false if [addr, addr+len) is not all RAM/ROM.
  std::function<bool(uint64_t addr, void* buf, size_t len)> read_physical;
};

class Monitor {
 public:
  // Attaches to `chr` as its front end. With a mux front end the banner waits
  // until the monitor first gets the focus (Ctrl-a c); on a socket server every
  // new client gets the banner and a prompt.
  Monitor(hw::CharDev& chr, MonitorHooks hooks);
  Monitor(hw::CharDev* chr, MonitorHooks hooks) : Monitor(*chr, std::move(hooks)) {}
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Prints the banner and the first prompt (now, or at the first focus).
  void Start();
  // Runs one command line and prints its output (no prompt). For tests and scripts.
  void Execute(const std::string& line);

 private:
  void Receive(const uint8_t* data, size_t len);
  void Print(const std::string& text);  // "\n" -> "\r\n"
  void Prompt();
  void PhysicalDump(const std::vector<std::string>& words);

  hw::CharDev& chr_;
  MonitorHooks hooks_;
  std::string line_;
  bool started_ = false;
  bool banner_shown_ = false;
  bool last_cr_ = false;
  int escape_state_ = 0;  // skipping a terminal escape sequence (arrow keys)
};

}  // namespace emu::system
