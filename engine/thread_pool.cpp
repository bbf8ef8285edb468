#include "engine/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>

#include "engine/error.h"

namespace vdsr {

namespace {
// Chunk c of [0, n) split in `chunks`: n = size * chunks + rem, the first rem chunks take one extra
// item, so every chunk has at least n / chunks >= grain items (a ceil-sized split could leave a
// last chunk below the grain).
std::pair<int64_t, int64_t> chunk_range(int64_t c, int64_t n, int64_t chunks) {
  const int64_t size = n / chunks, rem = n - size * chunks;
  const int64_t begin = c * size + std::min(c, rem);
  return {begin, begin + size + (c < rem ? 1 : 0)};
}
}  // namespace

ThreadPool::ThreadPool(int threads) {
  VDSR_CHECK(threads >= 1, "thread count must be at least 1, got " << threads);
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks() {
  // Called with mu_ held; releases it while running a chunk.
  while (fn_ != nullptr && next_chunk_ < num_chunks_) {
    const int64_t c = next_chunk_++;
    const auto* fn = fn_;
    const auto [begin, end] = chunk_range(c, n_, num_chunks_);
    mu_.unlock();
    std::exception_ptr err;
    try {
      (*fn)(begin, end);
    } catch (...) {
      err = std::current_exception();
    }
    mu_.lock();
    if (err && !error_) error_ = err;
    if (++done_chunks_ == num_chunks_) cv_done_.notify_all();
  }
}

void ThreadPool::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  uint64_t seen = generation_;
  for (;;) {
    cv_work_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    run_tasks();
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  const int64_t max_chunks = std::max<int64_t>(1, n / grain);
  // A few chunks per thread balance uneven work without much scheduling overhead.
  const int64_t chunks = std::min<int64_t>(max_chunks, int64_t(size()) * 4);
  if (chunks == 1 || workers_.empty()) {
    fn(0, n);
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (fn_ != nullptr) {
    // The pool is busy: a call from inside a task, or from a second application thread (e.g. the
    // load and save threads of a batch). Run this one on the calling thread, chunk by chunk in the
    // same split, so the results are those of a parallel run.
    lock.unlock();
    for (int64_t c = 0; c < chunks; ++c) {
      const auto [begin, end] = chunk_range(c, n, chunks);
      fn(begin, end);
    }
    return;
  }
  fn_ = &fn;
  n_ = n;
  num_chunks_ = chunks;
  next_chunk_ = 0;
  done_chunks_ = 0;
  error_ = nullptr;
  ++generation_;
  cv_work_.notify_all();
  run_tasks();
  cv_done_.wait(lock, [&] { return done_chunks_ == num_chunks_; });
  fn_ = nullptr;
  if (error_) {
    auto err = error_;
    error_ = nullptr;
    std::rethrow_exception(err);
  }
}

namespace {
std::unique_ptr<ThreadPool>& global_slot() {
  // A function-local static is initialised once even when several threads get here first.
  static std::unique_ptr<ThreadPool> pool = std::make_unique<ThreadPool>(ThreadPool::threads_from_environment());
  return pool;
}
}  // namespace

int ThreadPool::threads_from_environment() {
  const char* env = std::getenv("VDSR_THREADS");
  if (env == nullptr || *env == '\0') return int(std::max(1u, std::thread::hardware_concurrency()));
  // Digits only: atoi would take "2.5" as 2 and "abc" as 0, and an unbounded count would start
  // that many threads before any work.
  const std::string text(env);
  const bool digits = text.size() <= 9 && text.find_first_not_of("0123456789") == std::string::npos;
  const int t = digits ? std::stoi(text) : 0;
  VDSR_USER_CHECK(t >= 1 && t <= kMaxThreads, "VDSR_THREADS must be a whole number of threads from 1 to "
                                                  << kMaxThreads << ", got '" << text << "'");
  return t;
}

ThreadPool& ThreadPool::global() {
  return *global_slot();
}

void ThreadPool::set_global_threads(int threads) {
  global_slot() = std::make_unique<ThreadPool>(threads);
}

}  // namespace vdsr
