#include "hw/core/clock.h"

#include <time.h>

#include <algorithm>
#include <climits>

namespace emu::hw {

Timer::Timer(Clock* clock, std::function<void()> cb) : clock_(clock), cb_(std::move(cb)) {
  clock_->timers_.push_back(this);
}

Timer::~Timer() {
  auto& v = clock_->timers_;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
}

void Timer::Mod(int64_t deadline_ns) {
  deadline_ = deadline_ns;
  pending_ = true;
  if (clock_->notify_) clock_->notify_();
}

void Timer::Del() { pending_ = false; }

Clock::Clock(Type type, bool manual) : type_(type), manual_(manual) {
  if (!manual_ && type_ == Type::kVirtual) offset_ = HostNs();
}

int64_t Clock::HostNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

int64_t Clock::Now() const {
  if (manual_) return manual_now_;
  if (type_ == Type::kHost) return HostNs();
  if (paused_) return paused_at_;
  return HostNs() - offset_;
}

void Clock::Pause() {
  if (paused_ || manual_) return;
  paused_at_ = Now();
  paused_ = true;
}

void Clock::Resume() {
  if (!paused_) return;
  paused_ = false;
  offset_ = HostNs() - paused_at_;
}

void Clock::Step(int64_t ns) { manual_now_ += ns; }
void Clock::Set(int64_t ns) { manual_now_ = ns; }

int Clock::RunExpired() {
  int ran = 0;
  // A callback may re-arm its own or another timer; loop until nothing is due.
  for (;;) {
    int64_t now = Now();
    Timer* due = nullptr;
    for (Timer* t : timers_)
      if (t->pending_ && t->deadline_ <= now && (!due || t->deadline_ < due->deadline_)) due = t;
    if (!due) return ran;
    due->pending_ = false;
    due->cb_();
    ran++;
  }
}

int64_t Clock::NextDeadline() const {
  int64_t d = INT64_MAX;
  for (const Timer* t : timers_)
    if (t->pending_) d = std::min(d, t->deadline_);
  return d;
}

}  // namespace emu::hw
