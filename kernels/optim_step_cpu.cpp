// CPU optimizer step (math: kernels/optim_step.h; per element: kernels/optim_step_math.h, shared
// with the CUDA kernel), threaded over the flat buffer. Also the small config helpers.
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/optim_step.h"
#include "kernels/optim_step_math.h"

namespace vdsr {

const char* optimizer_name(Optimizer o) {
  return o == Optimizer::Sgd ? "sgd" : o == Optimizer::Adam ? "adam" : "adamw";
}

const char* clip_mode_name(ClipMode m) {
  return m == ClipMode::Norm ? "norm" : m == ClipMode::Value ? "value" : "none";
}

bool OptimConfig::operator==(const OptimConfig& o) const {
  return kind == o.kind && clip_mode == o.clip_mode && momentum == o.momentum &&
         beta1 == o.beta1 && beta2 == o.beta2 && eps == o.eps && weight_decay == o.weight_decay &&
         bias_lr_mult == o.bias_lr_mult && ema == o.ema;
}

OptimScalars optim_scalars(const OptimConfig& c, double lr, double clip_threshold, int64_t t) {
  VDSR_CHECK(t >= 1, "optimizer step numbers start at 1, got " << t);
  OptimScalars s;
  s.lr = lr;
  s.threshold = clip_threshold;
  if (c.uses_second_moment()) {
    s.bc1 = 1.0 - std::pow(c.beta1, double(t));
    s.bc2 = 1.0 - std::pow(c.beta2, double(t));
  }
  return s;
}

namespace {

template <Optimizer kKind>
void optim_range(const OptimCoeffs& k, int64_t begin, int64_t end, int64_t n_decay, float* w,
                 float* g, float* m, float* v, float* e) {
  const bool ema = e != nullptr;
  for (int64_t i = begin; i < end; ++i)
    optim_element<kKind>(k, i < n_decay, ema, w[i], g[i], m[i], v ? v + i : nullptr,
                         ema ? e + i : nullptr);
}

}  // namespace

void optim_step_cpu(const OptimConfig& c, const OptimScalars& s, double norm, int64_t n,
                    int64_t n_decay, float* w, float* g, float* m, float* v, float* e) {
  VDSR_CHECK(n >= 0, "negative element count " << n);
  VDSR_CHECK(n_decay >= 0 && n_decay <= n, "n_decay " << n_decay << " outside [0, " << n << "]");
  VDSR_CHECK(n == 0 || (w != nullptr && g != nullptr && m != nullptr), "null buffer pointer");
  VDSR_CHECK(n == 0 || !c.uses_second_moment() || v != nullptr,
             optimizer_name(c.kind) << " needs the second-moment buffer");
  VDSR_CHECK(n == 0 || c.ema == 0 || e != nullptr, "the EMA needs its buffer");
  if (c.ema == 0) e = nullptr;
  if (!c.uses_second_moment()) v = nullptr;
  const OptimCoeffs k = optim_coeffs(c, s, norm);
  parallel_for(n, 1 << 15, [&](int64_t begin, int64_t end) {
    switch (c.kind) {
      case Optimizer::Sgd: return optim_range<Optimizer::Sgd>(k, begin, end, n_decay, w, g, m, v, e);
      case Optimizer::Adam: return optim_range<Optimizer::Adam>(k, begin, end, n_decay, w, g, m, v, e);
      case Optimizer::AdamW: return optim_range<Optimizer::AdamW>(k, begin, end, n_decay, w, g, m, v, e);
    }
  });
}

}  // namespace vdsr
