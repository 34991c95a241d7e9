// A small worker pool for asynchronous requests from devices: Submit() queues a
// request, a worker runs it against the driver, then calls the completion on the
// worker thread (devices post it to their own loop if they need to).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "block/block_driver.h"

namespace emu::block {

class WorkerPool {
 public:
  explicit WorkerPool(int threads = 2);
  ~WorkerPool();  // drains the queue
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  void Submit(std::function<Status()> work, std::function<void(Status)> done);
  void Drain();  // waits until every submitted request completed

 private:
  void Loop();
  std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<std::pair<std::function<Status()>, std::function<void(Status)>>> q_;
  int busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Async requests on one driver. Drivers are not thread-safe, so requests on one
// AioBlock run one at a time (in submission order per worker pick-up).
class AioBlock {
 public:
  AioBlock(BlockDriver* d, WorkerPool* pool) : d_(d), pool_(pool) {}
  using Done = std::function<void(Status)>;
  void Read(uint64_t off, void* buf, uint64_t len, Done done);
  void Write(uint64_t off, const void* buf, uint64_t len, Done done);
  void Flush(Done done);
  void Discard(uint64_t off, uint64_t len, Done done);
  void WriteZeroes(uint64_t off, uint64_t len, Done done);

 private:
  BlockDriver* d_;
  WorkerPool* pool_;
  std::mutex mu_;
};

}  // namespace emu::block
