// Clocks and timers. Device time comes from a Clock, never from the wall clock.
//
// - kVirtual: guest time. Runs with the host monotonic clock while the VM runs and
//   stops while it is paused. In manual mode (tests, -icount) it only moves when
//   told to (Step/Set), which makes runs deterministic.
// - kHost: host monotonic time, for UI and back ends.
//
// Timers are kept per clock; whoever owns the loop calls RunExpired() (the main loop
// does, under the machine lock) and uses NextDeadline() to sleep.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace emu::hw {

constexpr int64_t kNsPerSec = 1000000000;

class Clock;

class Timer {
 public:
  Timer(Clock* clock, std::function<void()> cb);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Arms the timer to fire when the clock reaches `deadline_ns` (absolute).
  void Mod(int64_t deadline_ns);
  void Del();
  bool pending() const { return pending_; }
  int64_t deadline() const { return deadline_; }

 private:
  friend class Clock;
  Clock* clock_;
  std::function<void()> cb_;
  int64_t deadline_ = 0;
  bool pending_ = false;
};

class Clock {
 public:
  enum class Type { kVirtual, kHost };
  explicit Clock(Type type, bool manual = false);

  int64_t Now() const;
  // Virtual clock only: pause/resume (time stands still while paused).
  void Pause();
  void Resume();
  bool paused() const { return paused_; }
  // Manual mode: move time forward. Does not run timers by itself.
  void Step(int64_t ns);
  void Set(int64_t ns);
  bool manual() const { return manual_; }

  // Runs the callbacks of every timer whose deadline has passed; returns how many ran.
  int RunExpired();
  // Earliest pending deadline, or INT64_MAX.
  int64_t NextDeadline() const;
  // Called whenever a timer is (re)armed so a sleeping loop can wake up earlier.
  void SetNotify(std::function<void()> fn) { notify_ = std::move(fn); }

 private:
  friend class Timer;
  static int64_t HostNs();
  Type type_;
  bool manual_;
  bool paused_ = false;
  int64_t manual_now_ = 0;
  int64_t offset_ = 0;      // virtual = host - offset_ while running
  int64_t paused_at_ = 0;
  std::vector<Timer*> timers_;
  std::function<void()> notify_;
};

}  // namespace emu::hw
