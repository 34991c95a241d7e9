#include "system/main_loop.h"

#include <glib-unix.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <stdexcept>
#include <thread>

namespace emu::system {

MainLoop::MainLoop() : ctx_(g_main_context_new()), fds_(16) {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("main loop: eventfd failed");
  AddClock(&host_clock_);
}

MainLoop::MainLoop(hw::Clock* clock) : MainLoop() { AddClock(clock); }

MainLoop::~MainLoop() {
  for (hw::Clock* c : clocks_) c->SetNotify(nullptr);
  g_main_context_unref(ctx_);
  close(wake_fd_);
}

void MainLoop::AddClock(hw::Clock* clock) {
  clocks_.push_back(clock);
  // On the loop thread a newly armed timer is seen before the next sleep anyway
  // (deadlines are computed after timers, posted work and dispatch have run), so
  // only other threads need to interrupt the poll.
  clock->SetNotify([this] {
    if (std::this_thread::get_id() != loop_thread_.load()) Wakeup();
  });
}

void MainLoop::RemoveClock(hw::Clock* clock) {
  for (auto it = clocks_.begin(); it != clocks_.end(); ++it)
    if (*it == clock) {
      clock->SetNotify(nullptr);
      clocks_.erase(it);
      return;
    }
}

void MainLoop::Wakeup() {
  uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  ssize_t r = write(wake_fd_, &one, sizeof one);
  (void)r;
}

void MainLoop::RequestExit(int status) {
  {
    // The status is stored before the flag, so whoever sees the flag sees the status.
    std::lock_guard<std::mutex> g(exit_mutex_);
    if (exit_requested_.load()) return;
    exit_status_.store(status);
    exit_requested_.store(true);
  }
  Wakeup();
}

void MainLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> g(post_mutex_);
    posted_.push_back(std::move(fn));
  }
  Wakeup();
}

void MainLoop::RunPosted() {
  std::deque<std::function<void()>> run;
  {
    std::lock_guard<std::mutex> g(post_mutex_);
    run.swap(posted_);
  }
  for (auto& fn : run) fn();
}

void MainLoop::RunTimers() {
  for (hw::Clock* c : clocks_) c->RunExpired();
}

int64_t MainLoop::TimerWaitNs() {
  int64_t wait = -1;
  for (hw::Clock* c : clocks_) {
    // A stopped or manual clock does not reach its deadline by waiting; whoever
    // moves it wakes the loop.
    if (c->manual() || c->paused()) continue;
    int64_t d = c->NextDeadline();
    if (d == INT64_MAX) continue;
    int64_t rel = d - c->Now();
    if (rel < 0) rel = 0;
    if (wait < 0 || rel < wait) wait = rel;
  }
  return wait;
}

namespace {

int64_t MinWait(int64_t a, int64_t b) {
  if (a < 0) return b;
  if (b < 0) return a;
  return a < b ? a : b;
}

struct WatchData {
  MainLoop::WatchFn fn;
};

gboolean WatchTrampoline(gint, GIOCondition cond, gpointer data) {
  return static_cast<WatchData*>(data)->fn(cond) ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

void WatchDestroy(gpointer data) { delete static_cast<WatchData*>(data); }

gboolean SignalTrampoline(gpointer data) {
  auto* pair = static_cast<std::pair<MainLoop*, int>*>(data);
  std::fprintf(stderr, "emu: terminating on signal %d\n", pair->second);
  pair->first->RequestExit(0);
  return G_SOURCE_CONTINUE;
}

}  // namespace

unsigned MainLoop::AddFdWatch(int fd, GIOCondition cond, WatchFn cb) {
  GSource* src = g_unix_fd_source_new(fd, cond);
  g_source_set_callback(src, G_SOURCE_FUNC(WatchTrampoline), new WatchData{std::move(cb)},
                        WatchDestroy);
  unsigned id = g_source_attach(src, ctx_);
  g_source_unref(src);
  return id;
}

void MainLoop::RemoveWatch(unsigned id) {
  if (id == 0) return;
  GSource* src = g_main_context_find_source_by_id(ctx_, id);
  if (src) g_source_destroy(src);
}

void MainLoop::InstallSignalHandlers() {
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
    GSource* src = g_unix_signal_source_new(sig);
    g_source_set_callback(src, SignalTrampoline, new std::pair<MainLoop*, int>(this, sig),
                          [](gpointer p) { delete static_cast<std::pair<MainLoop*, int>*>(p); });
    g_source_attach(src, ctx_);
    g_source_unref(src);
  }
}

void MainLoop::Iterate(int64_t max_wait_ns) {
  loop_thread_.store(std::this_thread::get_id());
  {
    std::lock_guard<std::recursive_mutex> g(lock_);
    RunPosted();
    RunTimers();
  }
  if (!g_main_context_acquire(ctx_))
    throw std::runtime_error("main loop: the glib context is owned by another thread");
  gint max_prio = 0;
  g_main_context_prepare(ctx_, &max_prio);
  gint timeout_ms = -1;
  int n;
  while ((n = g_main_context_query(ctx_, max_prio, &timeout_ms, fds_.data(), int(fds_.size()))) >
         int(fds_.size()))
    fds_.resize(size_t(n));

  int64_t wait = timeout_ms < 0 ? -1 : int64_t(timeout_ms) * 1000000;
  wait = MinWait(wait, max_wait_ns);
  {
    std::lock_guard<std::recursive_mutex> g(lock_);
    wait = MinWait(wait, TimerWaitNs());
  }
  {
    std::lock_guard<std::mutex> g(post_mutex_);
    if (!posted_.empty()) wait = 0;
  }
  if (exit_requested_.load()) wait = 0;

  std::vector<pollfd> pfds(size_t(n) + 1);
  for (int i = 0; i < n; i++) pfds[size_t(i)] = {fds_[size_t(i)].fd, short(fds_[size_t(i)].events), 0};
  pfds[size_t(n)] = {wake_fd_, POLLIN, 0};
  timespec ts{}, *tsp = nullptr;
  if (wait >= 0) {
    ts.tv_sec = wait / 1000000000;
    ts.tv_nsec = wait % 1000000000;
    tsp = &ts;
  }
  int r = ppoll(pfds.data(), pfds.size(), tsp, nullptr);
  for (int i = 0; i < n; i++) fds_[size_t(i)].revents = r > 0 ? gushort(pfds[size_t(i)].revents) : 0;
  if (r > 0 && (pfds[size_t(n)].revents & POLLIN)) {
    uint64_t v;
    ssize_t rd = read(wake_fd_, &v, sizeof v);
    (void)rd;
  }
  if (g_main_context_check(ctx_, max_prio, fds_.data(), n)) {
    std::lock_guard<std::recursive_mutex> g(lock_);
    g_main_context_dispatch(ctx_);
  }
  g_main_context_release(ctx_);
  {
    std::lock_guard<std::recursive_mutex> g(lock_);
    RunPosted();
    RunTimers();
  }
}

int MainLoop::Run() {
  while (!exit_requested_.load()) Iterate(-1);
  std::lock_guard<std::mutex> g(exit_mutex_);
  int status = exit_status_.load();
  exit_requested_.store(false);
  return status;
}

}  // namespace emu::system
