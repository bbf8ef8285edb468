#include "model/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace vdsr {

const char* lr_schedule_name(LrSchedule s) {
  return s == LrSchedule::Step ? "step" : s == LrSchedule::Cosine ? "cosine" : "constant";
}

double lr_at(const LrPlan& p, int64_t step, int64_t steps_per_epoch, int64_t total) {
  VDSR_CHECK(step >= 0 && steps_per_epoch >= 1 && p.lr_step >= 1 && p.warmup >= 0,
             "lr_at: bad arguments (step " << step << ", steps per epoch " << steps_per_epoch << ")");
  double lr = p.lr;
  switch (p.schedule) {
    case LrSchedule::Step:
      lr = p.lr * std::pow(0.1, double(step / steps_per_epoch / p.lr_step));
      break;
    case LrSchedule::Cosine: {
      const int64_t span = total - 1 - p.warmup;
      const double t = span > 0 ? std::clamp(double(step - p.warmup) / double(span), 0.0, 1.0)
                                : (step >= p.warmup ? 1.0 : 0.0);
      lr = p.lr_min + (p.lr - p.lr_min) * 0.5 * (1.0 + std::cos(M_PI * t));
      break;
    }
    case LrSchedule::Constant:
      break;
  }
  if (step < p.warmup) lr *= double(step + 1) / double(p.warmup);
  return lr;
}

}  // namespace vdsr
