#include "io/batch_pipeline.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <new>
#include <thread>

#include "engine/error.h"
#include "engine/log.h"

namespace vdsr {

namespace {

struct Item {
  size_t job = 0;
  std::any work;
};

// A blocking queue of at most `capacity` items, closed when its last producer is done.
class BoundedQueue {
 public:
  BoundedQueue(size_t capacity, int producers) : capacity_(capacity), producers_(producers) {}

  void push(Item item) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(item));
    not_empty_.notify_one();
  }

  // False once the queue is closed and drained.
  bool pop(Item* item) {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty() || producers_ == 0; });
    if (items_.empty()) return false;
    *item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return true;
  }

  void producer_done() {
    std::lock_guard<std::mutex> lock(mu_);
    if (--producers_ == 0) not_empty_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable not_empty_, not_full_;
  std::deque<Item> items_;
  size_t capacity_;
  int producers_;
};

std::string reason_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return describe_error(x, log_level() == LogLevel::Verbose);
  } catch (...) {
    return "internal error: an exception of unknown type";
  }
}

}  // namespace

PipelineThreads parse_pipeline_threads(const std::string& text) {
  int v[3] = {0, 0, 0};
  size_t pos = 0;
  for (int k = 0; k < 3; ++k) {
    const size_t end = k < 2 ? text.find(':', pos) : text.size();
    VDSR_USER_CHECK(end != std::string::npos,
               "--threads: '" << text << "' is not LOAD:PROCESS:SAVE (three counts, e.g. 1:2:2)");
    const std::string part = text.substr(pos, end - pos);
    VDSR_USER_CHECK(!part.empty() && part.find_first_not_of("0123456789") == std::string::npos,
               "--threads: '" << text << "' is not LOAD:PROCESS:SAVE (three counts, e.g. 1:2:2)");
    v[k] = part.size() <= 9 ? std::stoi(part) : 1000;  // more digits: out of range, said below
    VDSR_USER_CHECK(v[k] >= 1 && v[k] <= kMaxPipelineThreads, "--threads: each count must be 1.."
                                                                  << kMaxPipelineThreads
                                                                  << ", got '" << text << "'");
    pos = end + 1;
  }
  return {v[0], v[1], v[2]};
}

double save_cost_ratio(ImageFormat f, const SaveOptions& o) {
  // Per-thread rates of record 9e1243f (Set14 x2): a load thread 124.7 output Mpx/s; a save thread
  // 29.4 (PNG level 1), 3.8 (level 6), 81.4 (JPEG q95), 10.3 (WebP q90), 2.9 (lossless), 25.5
  // (TIFF Deflate 1), 96.9 (BMP). Uncompressed PNG and TIFF count as BMP, their other levels as
  // PNG's level 6.
  switch (f) {
    case ImageFormat::PNG:
    case ImageFormat::TIFF:
      return o.png_level == 0 ? 1.3 : o.png_level == 1 ? (f == ImageFormat::PNG ? 4.2 : 4.9) : 33.0;
    case ImageFormat::JPEG: return 1.5;
    case ImageFormat::WEBP: return o.webp_quality > 100 ? 43.0 : 12.0;
    case ImageFormat::BMP: return 1.3;
  }
  return 4.0;
}

PipelineThreads gpu_pipeline_threads(int hardware_threads, int gpus, double save_cost) {
  gpus = std::max(gpus, 1);
  const int cpu = std::max(hardware_threads - gpus, 3);
  const double cost = save_cost > 0 ? save_cost : 1.0;
  // Load and save rates, in load-thread units: L and (T - L) / cost; the slower one sets the pace.
  int load = 1;
  for (int l = 2; l <= cpu - 2; ++l)
    if (std::min(double(l), double(cpu - l) / cost) > std::min(double(load), double(cpu - load) / cost)) load = l;
  return {std::clamp(load, 1, kMaxPipelineThreads), gpus,
          std::clamp(cpu - load, 2, kMaxPipelineThreads)};
}

std::vector<JobOutcome> run_pipeline_any(size_t n, const PipelineThreads& threads,
                                         const PipelineStages<std::any>& stages, const JobFinished& on_finished) {
  VDSR_USER_CHECK(threads.load >= 1 && threads.process >= 1 && threads.save >= 1,
             "pipeline thread counts must be at least 1");
  VDSR_CHECK(stages.load && stages.process && stages.save, "pipeline stage missing");
  std::vector<JobOutcome> outcomes(n);
  std::mutex finish_mu;
  auto finish = [&](size_t job, JobOutcome o) {
    std::lock_guard<std::mutex> lock(finish_mu);
    outcomes[job] = std::move(o);
    if (on_finished) {
      try {
        on_finished(job, outcomes[job]);
      } catch (...) {  // a reporting failure must not stop the batch
      }
    }
  };
  auto fail = [&](size_t job, const char* stage, const std::exception_ptr& e) {
    JobOutcome o;
    o.stage = stage;
    o.reason = reason_of(e);
    finish(job, std::move(o));
  };

  BoundedQueue to_process(2 * size_t(threads.process), threads.load);
  BoundedQueue to_save(2 * size_t(threads.save), threads.process);
  std::atomic<size_t> next{0};

  std::vector<std::thread> pool;
  for (int t = 0; t < threads.load; ++t) {
    pool.emplace_back([&] {
      for (size_t job; (job = next.fetch_add(1)) < n;) {
        Item item;
        item.job = job;
        try {
          item.work = stages.load(job);
        } catch (...) {
          fail(job, "load", std::current_exception());
          continue;
        }
        to_process.push(std::move(item));
      }
      to_process.producer_done();
    });
  }
  for (int t = 0; t < threads.process; ++t) {
    pool.emplace_back([&, t] {
      for (Item item; to_process.pop(&item);) {
        try {
          item.work = stages.process(t, item.job, std::move(item.work));
        } catch (...) {
          item.work.reset();
          fail(item.job, "process", std::current_exception());
          continue;
        }
        to_save.push(std::move(item));
      }
      to_save.producer_done();
    });
  }
  for (int t = 0; t < threads.save; ++t) {
    pool.emplace_back([&] {
      for (Item item; to_save.pop(&item);) {
        try {
          stages.save(item.job, item.work);
        } catch (...) {
          item.work.reset();
          fail(item.job, "save", std::current_exception());
          continue;
        }
        item.work.reset();  // free it before the report
        JobOutcome o;
        o.ok = true;
        finish(item.job, std::move(o));
      }
    });
  }
  for (auto& th : pool) th.join();
  return outcomes;
}

}  // namespace vdsr
