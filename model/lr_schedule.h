// The learning rate of every step (0-based `step` of `total`), a pure function of the recipe so a
// resumed run continues the same curve:
//   step:     lr * 0.1^floor(epoch / lr_step), epoch = step / steps_per_epoch (the paper's)
//   cosine:   lr_min + (lr - lr_min) (1 + cos(pi p)) / 2, p = (step - warmup) / (total - 1 - warmup)
//             clamped to [0, 1]: lr right after the warm-up, lr_min at the last step
//   constant: lr
// then, for the first `warmup` steps, times (step + 1) / warmup: a linear ramp from lr / warmup
// (the first step) to the full rate.
#pragma once

#include <cstdint>

namespace vdsr {

enum class LrSchedule { Step, Cosine, Constant };

const char* lr_schedule_name(LrSchedule s);  // "step", "cosine", "constant"

struct LrPlan {
  LrSchedule schedule = LrSchedule::Step;
  double lr = 0.01;      // the starting (peak) rate
  double lr_min = 0.0;   // cosine's final rate
  int lr_step = 70;      // step schedule: epochs between divisions by 10
  int64_t warmup = 0;    // warm-up steps
};

double lr_at(const LrPlan& p, int64_t step, int64_t steps_per_epoch, int64_t total);

}  // namespace vdsr
