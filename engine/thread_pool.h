// A small fixed-size thread pool for the CPU backend. parallel_for splits [0, n) into contiguous
// chunks; the calling thread takes part, so a pool of size 1 runs everything inline. Work must not
// depend on which thread runs a chunk: reductions keep per-chunk partials (chunking by a grain that
// does not depend on the thread count) and combine them in order, so results are deterministic.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace vdsr {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over [0, n) in chunks of at least `grain` items, one chunk per task,
  // spread over the pool; returns when all are done. Exceptions from fn are rethrown here (first one).
  // A call made while the pool is busy (nested, or from another thread) runs the same chunks on
  // the calling thread instead of waiting.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

  // The process-wide pool: VDSR_THREADS from the environment, else the hardware concurrency.
  static ThreadPool& global();
  // The global pool's size as the environment asks: VDSR_THREADS, a whole number from 1 to
  // kMaxThreads (else a UserError naming it and the value), or the hardware concurrency when unset.
  // The tools call it at start (tools/cli.h run_main), so a bad value stops them before any work.
  static int threads_from_environment();
  static constexpr int kMaxThreads = 1024;
  // Replaces the global pool's size (call before heavy work starts, e.g. from a --threads flag).
  static void set_global_threads(int threads);

 private:
  void worker_loop();
  void run_tasks();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, num_chunks_ = 0, next_chunk_ = 0, done_chunks_ = 0;
  uint64_t generation_ = 0;
  bool stop_ = false;
  std::exception_ptr error_;
};

// Shorthand for ThreadPool::global().parallel_for.
inline void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  ThreadPool::global().parallel_for(n, grain, fn);
}

}  // namespace vdsr
