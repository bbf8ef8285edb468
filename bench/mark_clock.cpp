// The CPU's MarkClock (bench/mark_clock.h): the wall clock read at every mark.
#include "bench/mark_clock.h"

#include <chrono>

#include "engine/error.h"

namespace vdsr::bench {

namespace {

class CpuMarkClock final : public MarkClock {
 public:
  void start() override { start_ = now(); }
  void mark(size_t k) override {
    if (marks_.size() <= k) marks_.resize(k + 1);
    marks_[k] = now();
  }
  void stop() override { stop_ = now(); }
  std::vector<double> intervals_ms(size_t marks) override {
    VDSR_CHECK(marks <= marks_.size(), "asked for " << marks << " marks, " << marks_.size() << " recorded");
    std::vector<double> ms;
    Clock::time_point from = start_;
    for (size_t i = 0; i <= marks; ++i) {
      const Clock::time_point to = i < marks ? marks_[i] : stop_;
      ms.push_back(std::chrono::duration<double, std::milli>(to - from).count());
      from = to;
    }
    return ms;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static Clock::time_point now() { return Clock::now(); }
  Clock::time_point start_, stop_;
  std::vector<Clock::time_point> marks_;
};

}  // namespace

std::unique_ptr<MarkClock> cpu_mark_clock() { return std::make_unique<CpuMarkClock>(); }

}  // namespace vdsr::bench
