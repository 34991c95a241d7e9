// The main loop: a glib GMainContext driven from the main thread, plus the
// machine lock and the clock timers.
//
// Machine lock: a std::recursive_mutex. Everything that touches device state
// holds it: vCPU threads around an I/O exit or MMIO callback, and the loop itself
// around timer callbacks, Post()ed functions and glib dispatch (chardev input,
// monitor commands). It is recursive because those callbacks legitimately call
// code that locks again (a monitor command resetting devices, a timer callback
// raising an IRQ that ends in a device that locks defensively).
//
// Thread safety: RequestExit(), Post() and Wakeup() may be called from any thread
// with or without the lock. Everything else belongs to the thread calling Run().
#pragma once

#include <glib.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "hw/core/clock.h"

namespace emu::system {

class MainLoop {
 public:
  MainLoop();
  // Same, plus AddClock(clock) (typically the machine's virtual clock).
  explicit MainLoop(hw::Clock* clock);
  ~MainLoop();
  MainLoop(const MainLoop&) = delete;
  MainLoop& operator=(const MainLoop&) = delete;

  std::recursive_mutex& lock() { return lock_; }
  GMainContext* context() { return ctx_; }

  // A host-time clock owned by the loop, for back ends (chardev retries, UI).
  hw::Clock& host_clock() { return host_clock_; }

  // Runs the timers of `clock` from the loop (under the lock) and sleeps no longer
  // than its next deadline. Installs a Clock::SetNotify that wakes the loop. The
  // clock must outlive the loop or be removed with RemoveClock.
  void AddClock(hw::Clock* clock);
  void RemoveClock(hw::Clock* clock);

  // Ends Run() with `status`. The first request wins; later ones are ignored.
  void RequestExit(int status);
  bool exit_requested() const { return exit_requested_.load(); }
  int exit_status() const { return exit_status_.load(); }

  // Runs fn on the loop thread, under the machine lock, in the order posted.
  void Post(std::function<void()> fn);

  // Makes a sleeping Run() iteration return early (e.g. after changing a clock).
  void Wakeup();

  // Calls cb (under the lock, on the loop thread) whenever fd matches `cond`
  // (G_IO_IN, G_IO_OUT, G_IO_HUP, G_IO_ERR). cb returns false to remove the watch.
  // Returns an id for RemoveWatch; 0 is never used.
  using WatchFn = std::function<bool(GIOCondition)>;
  unsigned AddFdWatch(int fd, GIOCondition cond, WatchFn cb);
  // Safe to call from inside the watch's own callback; ignores unknown ids.
  void RemoveWatch(unsigned id);

  // SIGINT/SIGTERM/SIGHUP print "emu: terminating on signal N" and end Run()
  // with status 0 (as QEMU does). Call once, from main().
  void InstallSignalHandlers();

  // Runs until RequestExit; returns its status. May be called again after it returns
  // (a new RequestExit is needed then).
  int Run();
  // One iteration: runs due work, then waits at most `max_wait_ns` (-1: no limit)
  // for fds, timers or a wakeup. For tests and for Run().
  void Iterate(int64_t max_wait_ns);

 private:
  void RunPosted();
  void RunTimers();
  int64_t TimerWaitNs();

  GMainContext* ctx_;
  std::recursive_mutex lock_;
  hw::Clock host_clock_{hw::Clock::Type::kHost};
  std::vector<hw::Clock*> clocks_;
  int wake_fd_ = -1;  // eventfd: Post/RequestExit/clock notifications
  std::mutex post_mutex_;
  std::deque<std::function<void()>> posted_;
  std::mutex exit_mutex_;
  std::atomic<bool> exit_requested_{false};
  std::atomic<int> exit_status_{0};
  std::vector<GPollFD> fds_;
  std::atomic<std::thread::id> loop_thread_{};  // the thread running Iterate()
};

}  // namespace emu::system
