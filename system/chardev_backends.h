// Concrete chardev back ends (internal to system/; tests may use them).
#pragma once

#include <termios.h>

#include <string>

#include "system/chardev.h"
#include "system/main_loop.h"

namespace emu::system {

class NullChardev : public hw::CharDev {
 public:
  void Write(const uint8_t*, size_t) override {}
};

// Output-only file (-serial file:PATH, -chardev file,path=...,append=on).
class FileChardev : public hw::CharDev {
 public:
  FileChardev(const std::string& label, const std::string& path, bool append);
  ~FileChardev() override;
  void Write(const uint8_t* data, size_t len) override;

 private:
  std::string label_, path_;
  int fd_ = -1;
  bool warned_ = false;
};

// Common part of the fd-based back ends: a read watch feeding an InputQueue (the
// watch pauses while the front end is full) and a bounded output buffer for fds
// that would block.
class FdChardev : public hw::CharDev {
 public:
  FdChardev(std::string label, MainLoop& loop);
  ~FdChardev() override;
  const std::string& label() const { return label_; }

 protected:
  // Starts reading `fd` (not owned). OnInputClosed() runs at EOF or on error.
  void StartReading(int fd);
  void StopReading();
  // Writes to `fd` (not owned); a non-blocking fd that is full gets the rest later.
  void WriteTo(int fd, const uint8_t* data, size_t len);
  void DropOutput();  // forget queued output (the peer went away)
  virtual void OnInputClosed() { StopReading(); }

  MainLoop& loop_;
  bool socket_output_ = false;  // send(MSG_NOSIGNAL): a vanished peer is EPIPE, not SIGPIPE

 private:
  bool OnReadable(GIOCondition cond);
  bool OnWritable();

  std::string label_;
  int in_fd_ = -1;
  unsigned read_watch_ = 0;
  InputQueue queue_;
  int out_fd_ = -1;
  std::string out_buf_;
  unsigned write_watch_ = 0;
};

// The terminal or pipes of the emu process. A tty is put in raw mode (Ctrl-C still
// signals unless signal=off) and restored at exit and on fatal signals.
class StdioChardev : public FdChardev {
 public:
  StdioChardev(const std::string& label, MainLoop& loop, bool signals);
  ~StdioChardev() override;
  void Write(const uint8_t* data, size_t len) override;
};

// A pseudo terminal; prints "char device redirected to /dev/pts/N (label ID)".
class PtyChardev : public FdChardev {
 public:
  PtyChardev(const std::string& label, MainLoop& loop);
  ~PtyChardev() override;
  void Write(const uint8_t* data, size_t len) override;
  const std::string& slave_path() const { return slave_path_; }

 private:
  int master_ = -1;
  int slave_ = -1;  // kept open so the master never sees a hangup between clients
  std::string slave_path_;
};

// TCP or unix stream socket, as server (one client at a time; later clients wait
// in the backlog until the current one leaves) or client (no reconnect).
class SocketChardev : public FdChardev {
 public:
  SocketChardev(const ChardevConfig& cfg, MainLoop& loop);
  ~SocketChardev() override;
  void Write(const uint8_t* data, size_t len) override;
  int local_port() const;  // TCP only; -1 otherwise
  bool connected() const { return conn_ >= 0; }
  // Runs (on the loop thread, under the lock) each time a peer connects, so that
  // a monitor can greet every new client with its banner and prompt.
  void SetConnectHandler(std::function<void()> fn) { on_connect_ = std::move(fn); }

 protected:
  void OnInputClosed() override;

 private:
  void Listen();
  void Connect();
  void WatchListen();
  void AcceptOne(bool blocking);
  void SetConnection(int fd);
  std::string Describe() const;

  ChardevConfig cfg_;
  bool unix_ = false;
  bool server_ = false;
  bool nodelay_ = false;
  int listen_fd_ = -1;
  unsigned listen_watch_ = 0;
  int conn_ = -1;
  std::function<void()> on_connect_;
};

}  // namespace emu::system
