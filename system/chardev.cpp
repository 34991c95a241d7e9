// Shared chardev machinery: the input queue, the fd-based back end base class,
// null and file back ends, the factory and the per-machine set.
#include "system/chardev.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "hw/core/device.h"
#include "system/chardev_backends.h"
#include "system/main_loop.h"

namespace emu::system {

namespace {
constexpr int64_t kRetryNs = 1000000;     // 1 ms between delivery attempts
constexpr size_t kReadChunk = 4096;
constexpr size_t kOutputLimit = 1 << 16;  // queued output per fd before dropping
}  // namespace

// ---- InputQueue ----

InputQueue::InputQueue(hw::CharDev& dev, MainLoop& loop, size_t limit)
    : dev_(dev), loop_(loop), limit_(limit), retry_(&loop.host_clock(), [this] { Flush(); }) {}

size_t InputQueue::Push(const uint8_t* data, size_t len) {
  size_t taken = 0;
  if (pending_.empty()) {
    taken = dev_.Deliver(data, len);
    data += taken;
    len -= taken;
  }
  size_t keep = std::min(len, limit_ > pending_.size() ? limit_ - pending_.size() : 0);
  pending_.append(reinterpret_cast<const char*>(data), keep);
  taken += keep;
  if (!pending_.empty() && !retry_.pending()) retry_.Mod(loop_.host_clock().Now() + kRetryNs);
  return taken;
}

void InputQueue::Flush() {
  if (pending_.empty()) return;
  size_t n = dev_.Deliver(reinterpret_cast<const uint8_t*>(pending_.data()), pending_.size());
  pending_.erase(0, n);
  if (!pending_.empty()) {
    retry_.Mod(loop_.host_clock().Now() + kRetryNs);
  } else if (drained_) {
    drained_();
  }
}

// ---- FdChardev ----

FdChardev::FdChardev(std::string label, MainLoop& loop)
    : loop_(loop), label_(std::move(label)), queue_(*this, loop) {
  queue_.SetDrained([this] {
    if (in_fd_ >= 0 && !read_watch_)
      read_watch_ = loop_.AddFdWatch(in_fd_, GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR),
                                     [this](GIOCondition c) { return OnReadable(c); });
  });
}

FdChardev::~FdChardev() {
  loop_.RemoveWatch(read_watch_);
  loop_.RemoveWatch(write_watch_);
}

void FdChardev::StartReading(int fd) {
  StopReading();
  in_fd_ = fd;
  read_watch_ = loop_.AddFdWatch(fd, GIOCondition(G_IO_IN | G_IO_HUP | G_IO_ERR),
                                 [this](GIOCondition c) { return OnReadable(c); });
}

void FdChardev::StopReading() {
  loop_.RemoveWatch(read_watch_);
  read_watch_ = 0;
  in_fd_ = -1;
}

bool FdChardev::OnReadable(GIOCondition) {
  uint8_t buf[kReadChunk];
  ssize_t n = read(in_fd_, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    read_watch_ = 0;  // this watch ends by returning false
    in_fd_ = -1;
    OnInputClosed();
    return false;
  }
  queue_.Push(buf, size_t(n));
  if (!queue_.empty()) {
    // The front end is full: stop reading until the queue drains.
    read_watch_ = 0;
    return false;
  }
  return true;
}

void FdChardev::WriteTo(int fd, const uint8_t* data, size_t len) {
  if (fd != out_fd_) {
    DropOutput();
    out_fd_ = fd;
  }
  if (out_buf_.empty()) {
    while (len > 0) {
      ssize_t n = socket_output_ ? send(fd, data, len, MSG_NOSIGNAL) : write(fd, data, len);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) break;
      data += n;
      len -= size_t(n);
    }
    if (len == 0) return;
    if (errno != EAGAIN && errno != EWOULDBLOCK) return;  // EPIPE etc.: the reader is gone
  }
  size_t keep = std::min(len, kOutputLimit > out_buf_.size() ? kOutputLimit - out_buf_.size() : 0);
  out_buf_.append(reinterpret_cast<const char*>(data), keep);
  if (!write_watch_ && !out_buf_.empty())
    write_watch_ = loop_.AddFdWatch(fd, GIOCondition(G_IO_OUT | G_IO_ERR | G_IO_HUP),
                                    [this](GIOCondition) { return OnWritable(); });
}

bool FdChardev::OnWritable() {
  while (!out_buf_.empty()) {
    ssize_t n = socket_output_ ? send(out_fd_, out_buf_.data(), out_buf_.size(), MSG_NOSIGNAL)
                               : write(out_fd_, out_buf_.data(), out_buf_.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    if (n < 0) {
      out_buf_.clear();
      break;
    }
    out_buf_.erase(0, size_t(n));
  }
  write_watch_ = 0;
  return false;
}

void FdChardev::DropOutput() {
  out_buf_.clear();
  loop_.RemoveWatch(write_watch_);
  write_watch_ = 0;
}

// ---- file ----

FileChardev::FileChardev(const std::string& label, const std::string& path, bool append)
    : label_(label), path_(path) {
  fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0666);
  if (fd_ < 0)
    throw hw::ConfigError("chardev '" + label + "': cannot open '" + path +
                          "': " + std::strerror(errno));
}

FileChardev::~FileChardev() {
  if (fd_ >= 0) close(fd_);
}

void FileChardev::Write(const uint8_t* data, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd_, data, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!warned_)
        std::fprintf(stderr, "emu: chardev '%s': writing '%s' failed: %s (output dropped)\n",
                     label_.c_str(), path_.c_str(), std::strerror(errno));
      warned_ = true;
      return;
    }
    data += n;
    len -= size_t(n);
  }
}

// ---- factory ----

std::unique_ptr<hw::CharDev> CreateChardev(const ChardevConfig& cfg, MainLoop& loop) {
  auto prop = [&](const char* k, const std::string& def = "") {
    auto it = cfg.props.find(k);
    return it == cfg.props.end() ? def : it->second;
  };
  std::unique_ptr<hw::CharDev> dev;
  if (cfg.backend == "null") {
    dev = std::make_unique<NullChardev>();
  } else if (cfg.backend == "stdio") {
    dev = std::make_unique<StdioChardev>(cfg.id, loop, prop("signal", "on") == "on");
  } else if (cfg.backend == "file") {
    dev = std::make_unique<FileChardev>(cfg.id, prop("path"), prop("append") == "on");
  } else if (cfg.backend == "pty") {
    dev = std::make_unique<PtyChardev>(cfg.id, loop);
  } else if (cfg.backend == "socket") {
    dev = std::make_unique<SocketChardev>(cfg, loop);
  } else {
    throw hw::ConfigError("chardev '" + cfg.id + "': unimplemented backend '" + cfg.backend + "'");
  }
  if (prop("mux") == "on") return std::make_unique<MuxChardev>(std::move(dev), loop);
  return dev;
}

int ChardevLocalPort(hw::CharDev& dev) {
  auto* s = dynamic_cast<SocketChardev*>(&dev);
  if (!s) {
    auto* m = dynamic_cast<MuxChardev*>(&dev);
    if (m) s = dynamic_cast<SocketChardev*>(&m->backend());
  }
  return s ? s->local_port() : -1;
}

// ---- ChardevSet ----

void ChardevSet::Create(const std::vector<ChardevConfig>& cfgs) {
  for (const auto& c : cfgs) {
    if (devs_.count(c.id)) throw hw::ConfigError("duplicate chardev id '" + c.id + "'");
    devs_[c.id] = CreateChardev(c, loop_);
  }
}

hw::CharDev* ChardevSet::Find(const std::string& id) {
  auto it = devs_.find(id);
  return it == devs_.end() ? nullptr : it->second.get();
}

hw::CharDev* ChardevSet::Attach(const std::string& id) {
  if (id.empty()) return nullptr;
  hw::CharDev* dev = Find(id);
  if (!dev) throw hw::ConfigError("no chardev with id '" + id + "'");
  if (auto* mux = dynamic_cast<MuxChardev*>(dev)) return mux->AddFrontend();
  if (attached_[id])
    throw hw::ConfigError("chardev '" + id + "' is already in use; give it mux=on to share it");
  attached_[id] = true;
  return dev;
}

}  // namespace emu::system
