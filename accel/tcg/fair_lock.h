// A FIFO (ticket) mutex for the translator's execution lock. vCPUs hand the
// lock to each other every few thousand blocks; with std::mutex the releasing
// thread usually re-acquires it at once, starving a waiting vCPU (seen as Linux
// -smp 2 hanging with one vCPU spinning on a lock the other one holds).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace emu::accel::tcg {

class FairLock {
 public:
  void lock() {
    std::unique_lock<std::mutex> l(m_);
    uint64_t ticket = next_++;
    cv_.wait(l, [&] { return serving_ == ticket; });
  }
  void unlock() {
    {
      std::lock_guard<std::mutex> l(m_);
      serving_++;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  uint64_t next_ = 0;
  uint64_t serving_ = 0;
};

}  // namespace emu::accel::tcg
