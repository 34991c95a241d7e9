#include "system/main_loop.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace emu::system {
namespace {

// Ends a test loop that would otherwise hang, with a status no test expects.
class Watchdog {
 public:
  Watchdog(MainLoop& loop, int64_t ns = 5 * hw::kNsPerSec)
      : timer_(&loop.host_clock(), [&loop] { loop.RequestExit(-99); }) {
    timer_.Mod(loop.host_clock().Now() + ns);
  }

 private:
  hw::Timer timer_;
};

TEST(MainLoop, VirtualClockTimerFires) {
  MainLoop loop;
  hw::Clock vclock(hw::Clock::Type::kVirtual);
  loop.AddClock(&vclock);
  Watchdog wd(loop);
  int64_t start = vclock.Now();
  int64_t fired_at = 0;
  hw::Timer t(&vclock, [&] {
    fired_at = vclock.Now();
    loop.RequestExit(7);
  });
  t.Mod(start + 20 * 1000000);  // 20 ms
  EXPECT_EQ(loop.Run(), 7);
  EXPECT_GE(fired_at - start, 20 * 1000000);
  loop.RemoveClock(&vclock);
}

// A vCPU thread arming a timer must wake a loop that sleeps with no deadline.
TEST(MainLoop, TimerArmedFromAnotherThreadWakesTheLoop) {
  MainLoop loop;
  hw::Clock vclock(hw::Clock::Type::kVirtual);
  loop.AddClock(&vclock);
  Watchdog wd(loop);
  hw::Timer t(&vclock, [&] { loop.RequestExit(9); });
  std::thread vcpu([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    std::lock_guard<std::recursive_mutex> g(loop.lock());
    t.Mod(vclock.Now() + 1000000);
  });
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(loop.Run(), 9);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  vcpu.join();
  loop.RemoveClock(&vclock);
}

TEST(MainLoop, ManualClockTimerFiresWhenStepped) {
  MainLoop loop;
  hw::Clock vclock(hw::Clock::Type::kVirtual, /*manual=*/true);
  loop.AddClock(&vclock);
  Watchdog wd(loop);
  int fired = 0;
  hw::Timer t(&vclock, [&] {
    fired++;
    loop.RequestExit(3);
  });
  t.Mod(100);
  loop.Iterate(0);
  EXPECT_EQ(fired, 0);  // time has not moved
  loop.Post([&] { vclock.Step(150); });
  EXPECT_EQ(loop.Run(), 3);
  EXPECT_EQ(fired, 1);
  loop.RemoveClock(&vclock);
}

TEST(MainLoop, PostRunsOnLoopThreadUnderLockInOrder) {
  MainLoop loop;
  Watchdog wd(loop);
  std::thread::id loop_thread = std::this_thread::get_id();
  std::vector<int> order;
  bool lock_held_elsewhere = false;
  std::thread poster([&] {
    for (int i = 0; i < 3; i++)
      loop.Post([&, i] {
        EXPECT_EQ(std::this_thread::get_id(), loop_thread);
        order.push_back(i);
        if (i == 2) {
          // The machine lock is held: another thread cannot take it now.
          std::thread probe([&] {
            lock_held_elsewhere = !loop.lock().try_lock();
            if (!lock_held_elsewhere) loop.lock().unlock();
          });
          probe.join();
          loop.RequestExit(0);
        }
      });
  });
  EXPECT_EQ(loop.Run(), 0);
  poster.join();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(lock_held_elsewhere);
}

TEST(MainLoop, RequestExitFromAnotherThreadEndsRun) {
  MainLoop loop;
  Watchdog wd(loop);
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    loop.RequestExit(42);
  });
  EXPECT_EQ(loop.Run(), 42);
  t.join();
  // Run can be used again after a new request; the first request wins.
  loop.RequestExit(5);
  loop.RequestExit(6);
  EXPECT_EQ(loop.Run(), 5);
}

TEST(MainLoop, FdWatchSeesReadableFd) {
  MainLoop loop;
  Watchdog wd(loop);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  std::string got;
  unsigned id = loop.AddFdWatch(p[0], G_IO_IN, [&](GIOCondition) {
    char buf[16];
    ssize_t n = read(p[0], buf, sizeof buf);
    if (n > 0) got.append(buf, size_t(n));
    if (got == "hi") loop.RequestExit(1);
    return true;
  });
  EXPECT_NE(id, 0u);
  std::thread w([&] { EXPECT_EQ(write(p[1], "hi", 2), 2); });
  EXPECT_EQ(loop.Run(), 1);
  w.join();
  loop.RemoveWatch(id);
  loop.RemoveWatch(id);  // unknown ids are ignored
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace emu::system
