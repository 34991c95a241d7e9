// TCP and unix stream socket back ends.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hw/core/device.h"
#include "system/chardev_backends.h"

namespace emu::system {

namespace {

std::string Prop(const ChardevConfig& c, const char* k, const std::string& def = "") {
  auto it = c.props.find(k);
  return it == c.props.end() ? def : it->second;
}

void SetNonBlocking(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

}  // namespace

SocketChardev::SocketChardev(const ChardevConfig& cfg, MainLoop& loop)
    : FdChardev(cfg.id, loop), cfg_(cfg) {
  socket_output_ = true;
  unix_ = cfg.props.count("path") != 0;
  server_ = Prop(cfg, "server") == "on";
  nodelay_ = Prop(cfg, "nodelay") == "on";
  if (server_) {
    Listen();
    if (Prop(cfg, "wait", "on") == "on") {
      std::fprintf(stderr, "emu: chardev '%s': waiting for a connection on %s\n",
                   cfg.id.c_str(), Describe().c_str());
      AcceptOne(true);
    }
  } else {
    Connect();
  }
}

SocketChardev::~SocketChardev() {
  StopReading();
  DropOutput();
  loop_.RemoveWatch(listen_watch_);
  if (conn_ >= 0) close(conn_);
  if (listen_fd_ >= 0) {
    close(listen_fd_);
    if (unix_) unlink(Prop(cfg_, "path").c_str());
  }
}

std::string SocketChardev::Describe() const {
  if (unix_) return "unix:" + Prop(cfg_, "path");
  std::string host = Prop(cfg_, "host");
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  int port = local_port();
  return "tcp:" + host + ":" + (port >= 0 ? std::to_string(port) : Prop(cfg_, "port"));
}

void SocketChardev::Listen() {
  const std::string where = "chardev '" + cfg_.id + "': cannot listen on ";
  if (unix_) {
    std::string path = Prop(cfg_, "path");
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path)
      throw hw::ConfigError(where + "'" + path + "': path too long");
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    // A socket left behind by an earlier run would make bind fail; other files stay.
    struct stat st;
    if (lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path.c_str());
    listen_fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        listen(listen_fd_, 1) != 0) {
      int e = errno;
      if (listen_fd_ >= 0) close(listen_fd_);
      listen_fd_ = -1;
      throw hw::ConfigError(where + "'" + path + "': " + std::strerror(e));
    }
  } else {
    std::string host = Prop(cfg_, "host"), port = Prop(cfg_, "port");
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0) throw hw::ConfigError(where + host + ":" + port + ": " + gai_strerror(rc));
    int err = 0;
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        err = errno;
        continue;
      }
      int one = 1;
      setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1) == 0) {
        listen_fd_ = fd;
        break;
      }
      err = errno;
      close(fd);
    }
    freeaddrinfo(res);
    if (listen_fd_ < 0) throw hw::ConfigError(where + host + ":" + port + ": " + std::strerror(err));
  }
  SetNonBlocking(listen_fd_);
  WatchListen();
}

void SocketChardev::WatchListen() {
  listen_watch_ = loop_.AddFdWatch(listen_fd_, G_IO_IN, [this](GIOCondition) {
    AcceptOne(false);
    if (conn_ >= 0) {
      listen_watch_ = 0;  // one client at a time; the next waits in the backlog
      return false;
    }
    return true;
  });
}

void SocketChardev::AcceptOne(bool blocking) {
  for (;;) {
    if (blocking) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, -1) < 0 && errno != EINTR) return;
    }
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      SetConnection(fd);
      if (blocking) {
        loop_.RemoveWatch(listen_watch_);
        listen_watch_ = 0;
      }
      return;
    }
    if (!blocking || (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)) return;
  }
}

void SocketChardev::Connect() {
  std::string target;
  int fd = -1, err = 0;
  if (unix_) {
    std::string path = Prop(cfg_, "path");
    target = "'" + path + "'";
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path)
      throw hw::ConfigError("chardev '" + cfg_.id + "': socket path too long: " + target);
    std::memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  } else {
    std::string host = Prop(cfg_, "host", "localhost"), port = Prop(cfg_, "port");
    if (host.empty()) host = "localhost";
    target = host + ":" + port;
    addrinfo hints{}, *res = nullptr;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
    if (rc != 0)
      throw hw::ConfigError("chardev '" + cfg_.id + "': cannot connect to " + target + ": " +
                            gai_strerror(rc));
    for (addrinfo* ai = res; ai && fd < 0; ai = ai->ai_next) {
      fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) {
        err = errno;
        continue;
      }
      if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        err = errno;
        close(fd);
        fd = -1;
      }
    }
    freeaddrinfo(res);
  }
  if (fd < 0)
    throw hw::ConfigError("chardev '" + cfg_.id + "': cannot connect to " + target + ": " +
                          std::strerror(err ? err : errno));
  SetNonBlocking(fd);
  SetConnection(fd);
}

void SocketChardev::SetConnection(int fd) {
  conn_ = fd;
  if (!unix_ && nodelay_) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  StartReading(fd);
  if (on_connect_) on_connect_();
}

void SocketChardev::OnInputClosed() {
  StopReading();
  DropOutput();
  if (conn_ >= 0) close(conn_);
  conn_ = -1;
  // A server takes the next client; a client stays disconnected (no reconnect yet).
  if (server_ && listen_fd_ >= 0 && !listen_watch_) WatchListen();
}

void SocketChardev::Write(const uint8_t* data, size_t len) {
  // Without a peer the output goes nowhere, like a serial line with nothing plugged in.
  if (conn_ >= 0) WriteTo(conn_, data, len);
}

int SocketChardev::local_port() const {
  if (unix_ || listen_fd_ < 0) return -1;
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return -1;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return -1;
}

}  // namespace emu::system
