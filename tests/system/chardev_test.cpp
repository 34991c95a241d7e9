// Chardev back ends on a real main loop: file, tcp and unix sockets, pty, stdio.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <atomic>
#include <chrono>
#include <thread>

#include "hw/core/device.h"
#include "system/chardev.h"
#include "system/chardev_backends.h"
#include "system/main_loop.h"
#include "system/monitor.h"

namespace emu::system {
namespace {

class Watchdog {
 public:
  explicit Watchdog(MainLoop& loop, int64_t ns = 10 * hw::kNsPerSec)
      : timer_(&loop.host_clock(), [&loop] { loop.RequestExit(-99); }) {
    timer_.Mod(loop.host_clock().Now() + ns);
  }

 private:
  hw::Timer timer_;
};

// A front end that appends what it receives to *got, then calls `then` (if any).
hw::CharDev::Frontend Collect(std::string* got, std::function<void()> then = nullptr) {
  return {nullptr, [got, then](const uint8_t* d, size_t n) {
            got->append(reinterpret_cast<const char*>(d), n);
            if (then) then();
          }};
}

// The same, ending the loop once *got reads `until`.
hw::CharDev::Frontend CollectUntil(std::string* got, const std::string& until, MainLoop& loop) {
  return Collect(got, [got, until, &loop] {
    if (*got == until) loop.RequestExit(0);
  });
}

std::string TempPath(const std::string& name) {
  return "/tmp/emu-chardev-" + std::to_string(getpid()) + "-" + name;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Reads from fd until done(what was read) holds, the peer closes, or 5 s pass
// without data.
template <typename Done>
std::string ReadFor(int fd, Done&& done) {
  std::string got;
  while (!done(got)) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5000) <= 0) break;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, size_t(n));
  }
  return got;
}

std::string ReadN(int fd, size_t want) {
  return ReadFor(fd, [want](const std::string& got) { return got.size() >= want; });
}

std::string ReadUntil(int fd, const std::string& marker) {
  return ReadFor(fd, [&marker](const std::string& got) { return got.find(marker) != std::string::npos; });
}

// A TCP server chardev on a free local port (ChardevLocalPort tells which).
ChardevConfig LocalTcpServer(const std::string& id) {
  return {id, "socket", {{"host", "127.0.0.1"}, {"port", "0"}, {"server", "on"}, {"wait", "off"}}};
}

// `dev`'s output reaches the peer at `fd`, and what the peer writes reaches the
// device's front end (the loop runs until it has).
void ExpectBothWays(hw::CharDev& dev, int fd, MainLoop& loop, const std::string& out, const std::string& in) {
  std::string got;
  dev.SetFrontend(CollectUntil(&got, in, loop));
  dev.WriteString(out);
  EXPECT_EQ(ReadN(fd, out.size()), out);
  EXPECT_EQ(write(fd, in.data(), in.size()), ssize_t(in.size()));
  EXPECT_EQ(loop.Run(), 0);
}

int ConnectTcp(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(uint16_t(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

TEST(Chardev, FileWritesAndAppends) {
  MainLoop loop;
  std::string path = TempPath("file.txt");
  {
    auto dev = CreateChardev({"f", "file", {{"path", path}}}, loop);
    dev->WriteString("hello ");
    dev->WriteString("world\n");
  }
  EXPECT_EQ(ReadFile(path), "hello world\n");
  {
    auto dev = CreateChardev({"f", "file", {{"path", path}, {"append", "on"}}}, loop);
    dev->WriteString("more\n");
  }
  EXPECT_EQ(ReadFile(path), "hello world\nmore\n");
  {
    auto dev = CreateChardev({"f", "file", {{"path", path}}}, loop);  // truncates
    dev->WriteString("new\n");
  }
  EXPECT_EQ(ReadFile(path), "new\n");
  unlink(path.c_str());
  try {
    CreateChardev({"f", "file", {{"path", "/nonexistent-dir/x"}}}, loop);
    ADD_FAILURE() << "opening a file in a missing directory succeeded";
  } catch (const hw::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("No such file or directory"), std::string::npos);
  }
}

TEST(Chardev, NullSwallowsOutput) {
  MainLoop loop;
  auto dev = CreateChardev({"n", "null", {}}, loop);
  dev->WriteString("into the void");  // must not crash or block
}

TEST(Chardev, TcpServerPassesBytesBothWaysAndTakesNextClient) {
  MainLoop loop;
  Watchdog wd(loop);
  auto dev = CreateChardev(LocalTcpServer("t"), loop);
  int port = ChardevLocalPort(*dev);
  ASSERT_GT(port, 0);
  std::string got;
  dev->SetFrontend(Collect(&got, [&] {
    if (got == "hello") dev->WriteString("world");
    if (got == "hellosecond") dev->WriteString("again");
  }));
  std::string reply1, reply2;
  std::thread client([&] {
    int fd = ConnectTcp(port);
    if (fd < 0) return loop.RequestExit(-1);
    EXPECT_EQ(write(fd, "hello", 5), 5);
    reply1 = ReadN(fd, 5);
    close(fd);
    // The server accepts the next client after the first one left.
    fd = ConnectTcp(port);
    if (fd < 0) return loop.RequestExit(-2);
    EXPECT_EQ(write(fd, "second", 6), 6);
    reply2 = ReadN(fd, 5);
    close(fd);
    loop.RequestExit(0);
  });
  EXPECT_EQ(loop.Run(), 0);
  client.join();
  EXPECT_EQ(got, "hellosecond");
  EXPECT_EQ(reply1, "world");
  EXPECT_EQ(reply2, "again");
}

TEST(Chardev, TcpServerWithWaitBlocksUntilAClientConnects) {
  MainLoop loop;
  // Find a free port first: the server under test blocks in its constructor.
  int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(probe, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  socklen_t len = sizeof sa;
  getsockname(probe, reinterpret_cast<sockaddr*>(&sa), &len);
  int port = ntohs(sa.sin_port);
  close(probe);
  std::atomic<bool> connected{false};
  std::thread client([&] {
    for (int i = 0; i < 500 && !connected; i++) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      int fd = ConnectTcp(port);
      if (fd >= 0) {
        connected = true;
        EXPECT_EQ(write(fd, "x", 1), 1);
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        close(fd);
      }
    }
  });
  testing::internal::CaptureStderr();
  auto dev = CreateChardev({"t", "socket",
                            {{"host", "127.0.0.1"}, {"port", std::to_string(port)},
                             {"server", "on"}}},  // wait defaults to on for a server
                           loop);
  std::string msg = testing::internal::GetCapturedStderr();
  // The server's accept can return before the client thread records its connect.
  client.join();
  EXPECT_TRUE(connected);
  EXPECT_TRUE(dynamic_cast<SocketChardev&>(*dev).connected());
  EXPECT_NE(msg.find("waiting for a connection on tcp:127.0.0.1:" + std::to_string(port)),
            std::string::npos)
      << msg;
}

TEST(Chardev, TcpServerWithoutClientDropsOutput) {
  MainLoop loop;
  auto dev = CreateChardev(LocalTcpServer("t"), loop);
  dev->WriteString("nobody listens");  // must not block
  EXPECT_FALSE(dynamic_cast<SocketChardev&>(*dev).connected());
}

TEST(Chardev, TcpClientConnects) {
  MainLoop loop;
  Watchdog wd(loop);
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(listen(ls, 1), 0);
  socklen_t len = sizeof sa;
  getsockname(ls, reinterpret_cast<sockaddr*>(&sa), &len);
  std::string port = std::to_string(ntohs(sa.sin_port));
  auto dev = CreateChardev({"c", "socket", {{"host", "127.0.0.1"}, {"port", port}}}, loop);
  int peer = accept(ls, nullptr, nullptr);
  ASSERT_GE(peer, 0);
  ExpectBothWays(*dev, peer, loop, "pong", "ping");
  close(peer);
  close(ls);
  // Nobody listens on a closed port: a clear error, not a hang.
  try {
    CreateChardev({"c", "socket", {{"host", "127.0.0.1"}, {"port", port}}}, loop);
    ADD_FAILURE() << "connect to a closed port succeeded";
  } catch (const hw::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("Connection refused"), std::string::npos) << e.what();
  }
}

TEST(Chardev, UnixServerAndClient) {
  MainLoop loop;
  Watchdog wd(loop);
  std::string path = TempPath("sock");
  auto server = CreateChardev({"s", "socket", {{"path", path}, {"server", "on"}, {"wait", "off"}}},
                              loop);
  auto client = CreateChardev({"c", "socket", {{"path", path}}}, loop);
  std::string at_server, at_client;
  server->SetFrontend(Collect(&at_server, [&] {
    if (at_server == "up") server->WriteString("down");
  }));
  client->SetFrontend(CollectUntil(&at_client, "down", loop));
  // The server accepts from the loop; the client's first bytes wait in the socket.
  client->WriteString("up");
  EXPECT_EQ(loop.Run(), 0);
  EXPECT_EQ(at_server, "up");
  client.reset();
  server.reset();
  EXPECT_NE(access(path.c_str(), F_OK), 0) << "the server removes its socket file";
}

TEST(Chardev, InputWaitsUntilFrontendHasRoom) {
  MainLoop loop;
  Watchdog wd(loop);
  auto dev = CreateChardev(LocalTcpServer("t"), loop);
  int fd = ConnectTcp(ChardevLocalPort(*dev));
  ASSERT_GE(fd, 0);
  // A front end that takes one byte per call, and nothing until 'open' is set.
  bool open = false;
  std::string got;
  dev->SetFrontend({[&]() -> size_t { return open ? 1 : 0; },
                    [&](const uint8_t* d, size_t n) {
                      got.append(reinterpret_cast<const char*>(d), n);
                      if (got.size() == 10) loop.RequestExit(0);
                    }});
  EXPECT_EQ(write(fd, "0123456789", 10), 10);
  for (int i = 0; i < 20; i++) loop.Iterate(2 * 1000000);
  EXPECT_EQ(got, "");  // nothing delivered while the front end is full
  open = true;
  EXPECT_EQ(loop.Run(), 0);
  EXPECT_EQ(got, "0123456789");  // nothing lost, in order
  close(fd);
}

TEST(Chardev, PtyPassesBytesBothWays) {
  MainLoop loop;
  Watchdog wd(loop);
  testing::internal::CaptureStdout();
  auto dev = CreateChardev({"serial0", "pty", {}}, loop);
  std::string printed = testing::internal::GetCapturedStdout();
  auto& pty = dynamic_cast<PtyChardev&>(*dev);
  EXPECT_EQ(printed, "char device redirected to " + pty.slave_path() + " (label serial0)\n");
  int fd = open(pty.slave_path().c_str(), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ExpectBothWays(*dev, fd, loop, "shown", "typed");
  close(fd);
}

// stdio through pipes (no tty, so no raw mode), in a child process that owns fds 0/1.
TEST(Chardev, StdioPipes) {
  int in[2], out[2];
  ASSERT_EQ(pipe(in), 0);
  ASSERT_EQ(pipe(out), 0);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    MainLoop loop;
    int status = 2;
    {
      auto dev = CreateChardev({"serial0", "stdio", {}}, loop);
      dev->SetFrontend({nullptr, [&](const uint8_t* d, size_t n) {
                          for (size_t i = 0; i < n; i++) {
                            uint8_t c = uint8_t(toupper(d[i]));
                            if (c == 'Q') loop.RequestExit(0);
                            else dev->Write(&c, 1);
                          }
                        }});
      Watchdog wd(loop);
      status = loop.Run();
    }
    _exit(status == 0 ? 0 : 3);
  }
  close(in[0]);
  close(out[1]);
  EXPECT_EQ(write(in[1], "abcq", 4), 4);
  EXPECT_EQ(ReadN(out[0], 3), "ABC");
  int st = 0;
  waitpid(pid, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
  close(in[1]);
  close(out[0]);
}

TEST(Chardev, MonitorOnTcpGreetsEachClient) {
  MainLoop loop;
  Watchdog wd(loop);
  auto dev = CreateChardev(LocalTcpServer("mon"), loop);
  MonitorHooks hooks;
  hooks.quit = [&] { loop.RequestExit(0); };
  auto mon = std::make_unique<Monitor>(*dev, hooks);
  mon->Start();
  int port = ChardevLocalPort(*dev);
  std::string first, second;
  std::thread client([&] {
    int fd = ConnectTcp(port);
    first = ReadUntil(fd, "(emu) ");
    EXPECT_EQ(write(fd, "info version\r", 13), 13);
    first += ReadUntil(fd, "(emu) ");
    close(fd);
    fd = ConnectTcp(port);
    second = ReadUntil(fd, "(emu) ");
    EXPECT_EQ(write(fd, "quit\r", 5), 5);
    ReadUntil(fd, "never");  // until emu closes the connection at exit
    close(fd);
  });
  EXPECT_EQ(loop.Run(), 0);
  mon.reset();
  dev.reset();  // closes the connection, ending the client's read
  client.join();
  EXPECT_NE(first.find("monitor - type 'help'"), std::string::npos) << first;
  EXPECT_NE(first.find("0.1.0\r\n(emu) "), std::string::npos) << first;
  EXPECT_NE(second.find("monitor - type 'help'"), std::string::npos) << second;
}

TEST(Chardev, SetAttachesPlainOnceAndMuxManyTimes) {
  MainLoop loop;
  ChardevSet set(loop);
  set.Create({{"a", "null", {}}, {"m", "null", {{"mux", "on"}}}});
  EXPECT_EQ(set.Attach(""), nullptr);
  EXPECT_NE(set.Attach("a"), nullptr);
  EXPECT_THROW(set.Attach("a"), hw::ConfigError);
  hw::CharDev* m1 = set.Attach("m");
  hw::CharDev* m2 = set.Attach("m");
  EXPECT_NE(m1, m2);
  EXPECT_NE(dynamic_cast<MuxFrontend*>(m1), nullptr);
  EXPECT_THROW(set.Attach("zz"), hw::ConfigError);
}

}  // namespace
}  // namespace emu::system
