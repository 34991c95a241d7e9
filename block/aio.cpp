#include "block/aio.h"

namespace emu::block {

WorkerPool::WorkerPool(int threads) {
  for (int i = 0; i < threads; i++) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::Submit(std::function<Status()> work, std::function<void(Status)> done) {
  {
    std::lock_guard<std::mutex> g(mu_);
    q_.emplace_back(std::move(work), std::move(done));
  }
  cv_.notify_one();
}

void WorkerPool::Drain() {
  std::unique_lock<std::mutex> l(mu_);
  idle_cv_.wait(l, [this] { return q_.empty() && busy_ == 0; });
}

void WorkerPool::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [this] { return stop_ || !q_.empty(); });
    if (q_.empty()) return;  // stop_ and drained
    auto item = std::move(q_.front());
    q_.pop_front();
    busy_++;
    l.unlock();
    Status s = item.first();
    if (item.second) item.second(s);
    l.lock();
    busy_--;
    if (q_.empty() && busy_ == 0) idle_cv_.notify_all();
  }
}

void AioBlock::Read(uint64_t off, void* buf, uint64_t len, Done done) {
  pool_->Submit([=, this] { std::lock_guard<std::mutex> g(mu_); return d_->Read(off, buf, len); },
                std::move(done));
}
void AioBlock::Write(uint64_t off, const void* buf, uint64_t len, Done done) {
  pool_->Submit([=, this] { std::lock_guard<std::mutex> g(mu_); return d_->Write(off, buf, len); },
                std::move(done));
}
void AioBlock::Flush(Done done) {
  pool_->Submit([this] { std::lock_guard<std::mutex> g(mu_); return d_->Flush(); }, std::move(done));
}
void AioBlock::Discard(uint64_t off, uint64_t len, Done done) {
  pool_->Submit([=, this] { std::lock_guard<std::mutex> g(mu_); return d_->Discard(off, len); },
                std::move(done));
}

void AioBlock::WriteZeroes(uint64_t off, uint64_t len, Done done) {
  pool_->Submit([=, this] { std::lock_guard<std::mutex> g(mu_); return d_->WriteZeroes(off, len); },
                std::move(done));
}

}  // namespace emu::block
