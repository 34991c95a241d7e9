// Character device back ends (null, stdio, file, pty, tcp/unix socket) and the
// mux that shares one back end between a serial port and the monitor.
//
// Threads: Write() may be called from any thread holding the machine lock; input
// is delivered on the main loop thread under the lock (from fd watches), and only
// as much as the front end's can_receive() allows -- the rest is kept and retried.
//
// Lifetime: every chardev must be destroyed before the MainLoop it was created with.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hw/core/chardev.h"
#include "hw/core/clock.h"
#include "system/config.h"

namespace emu::system {

class MainLoop;

// Input the front end could not take yet. Push() delivers what fits now and keeps
// the rest (up to `limit` bytes; more is dropped, like a UART overrun); a 1 ms
// host-clock timer retries until the queue is empty, then calls the drained hook.
class InputQueue {
 public:
  InputQueue(hw::CharDev& dev, MainLoop& loop, size_t limit = 4096);
  // Returns how many bytes were taken (delivered or queued).
  size_t Push(const uint8_t* data, size_t len);
  bool empty() const { return pending_.empty(); }
  size_t size() const { return pending_.size(); }
  void SetDrained(std::function<void()> fn) { drained_ = std::move(fn); }
  // Delivers queued bytes now if the front end has room.
  void Flush();

 private:
  hw::CharDev& dev_;
  MainLoop& loop_;
  size_t limit_;
  std::string pending_;
  hw::Timer retry_;
  std::function<void()> drained_;
};

// One front end's view of a mux chardev. Writes go to the shared back end; input
// arrives only while this view has the focus (Ctrl-a c moves it).
class MuxFrontend : public hw::CharDev {
 public:
  void Write(const uint8_t* data, size_t len) override;
  // Called with true when the view gains the focus and false when it loses it.
  void SetFocusHandler(std::function<void(bool)> fn) { on_focus_ = std::move(fn); }
  bool focused() const;

 private:
  friend class MuxChardev;
  MuxFrontend(class MuxChardev& mux, MainLoop& loop) : mux_(mux), queue_(*this, loop) {}
  MuxChardev& mux_;
  InputQueue queue_;
  std::function<void(bool)> on_focus_;
};

// Shares `backend` between up to 4 front ends and interprets the escape keys:
// Ctrl-a x exits (status 0), Ctrl-a h prints help, Ctrl-a c moves the input focus
// to the next front end, Ctrl-a Ctrl-a sends one Ctrl-a. The first front end
// added starts with the focus (attach the serial port before the monitor).
class MuxChardev : public hw::CharDev {
 public:
  static constexpr int kMaxFrontends = 4;
  MuxChardev(std::unique_ptr<hw::CharDev> backend, MainLoop& loop);
  ~MuxChardev() override;

  MuxFrontend* AddFrontend();
  int focus() const { return focus_; }
  void SetFocus(int index);
  // Writing to the mux itself goes straight to the back end.
  void Write(const uint8_t* data, size_t len) override { backend_->Write(data, len); }
  hw::CharDev& backend() { return *backend_; }

 private:
  friend class MuxFrontend;
  void Receive(const uint8_t* data, size_t len);
  void Escape(uint8_t key);
  void ToFocused(const uint8_t* data, size_t len);

  std::unique_ptr<hw::CharDev> backend_;
  MainLoop& loop_;
  std::vector<std::unique_ptr<MuxFrontend>> frontends_;
  int focus_ = 0;
  bool escape_ = false;
};

// Creates one back end from its config; wraps it in a MuxChardev when
// props["mux"] == "on". Throws hw::ConfigError naming the chardev on failure
// (cannot open a file, bind or connect a socket ...). A socket server with
// wait=on blocks here until the first client connects.
std::unique_ptr<hw::CharDev> CreateChardev(const ChardevConfig& cfg, MainLoop& loop);

// Local TCP port of a socket chardev created by CreateChardev (for port=0 servers),
// or -1 if `dev` is not a TCP socket chardev.
int ChardevLocalPort(hw::CharDev& dev);

// All chardevs of a machine, by id.
class ChardevSet {
 public:
  explicit ChardevSet(MainLoop& loop) : loop_(loop) {}
  // Creates every chardev in `cfgs` (in order).
  void Create(const std::vector<ChardevConfig>& cfgs);
  // The CharDev a front end (serial port, monitor, debugcon) should use. For a mux
  // chardev each call adds a new MuxFrontend; a plain chardev can be attached once.
  // Returns nullptr for ""; throws hw::ConfigError for an unknown id.
  hw::CharDev* Attach(const std::string& id);
  hw::CharDev* Find(const std::string& id);

 private:
  MainLoop& loop_;
  std::map<std::string, std::unique_ptr<hw::CharDev>> devs_;
  std::map<std::string, bool> attached_;
};

}  // namespace emu::system
