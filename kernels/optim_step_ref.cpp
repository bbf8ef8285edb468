// Reference optimizer step (kernels/optim_step.h), written out plainly in double with double
// state, independently of optim_step_math.h.
#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "kernels/optim_step.h"

namespace vdsr {

void optim_step_ref(const OptimConfig& c, const OptimScalars& s, double norm, int64_t n,
                    int64_t n_decay, double* w, double* g, double* m, double* v, double* e) {
  VDSR_CHECK(n >= 0 && n_decay >= 0 && n_decay <= n, "bad sizes n " << n << ", n_decay " << n_decay);
  VDSR_CHECK(n == 0 || (w && g && m && (c.kind == Optimizer::Sgd || v) && (c.ema == 0 || e)),
             "null buffer pointer");
  double scale = 1.0;
  if (c.clip_mode == ClipMode::Norm && norm > s.threshold) scale = s.threshold / norm;
  for (int64_t i = 0; i < n; ++i) {
    if (c.clip_mode == ClipMode::Value) g[i] = std::min(std::max(g[i], -s.threshold), s.threshold);
    const bool is_weight = i < n_decay;
    const double lr = is_weight ? s.lr : s.lr * c.bias_lr_mult;
    const double wd = is_weight ? c.weight_decay : 0.0;
    const double grad = scale * g[i];
    if (c.kind == Optimizer::Sgd) {
      m[i] = c.momentum * m[i] + grad + wd * w[i];
      w[i] -= lr * m[i];
    } else {
      const double d = c.kind == Optimizer::Adam ? grad + wd * w[i] : grad;
      m[i] = c.beta1 * m[i] + (1 - c.beta1) * d;
      v[i] = c.beta2 * v[i] + (1 - c.beta2) * d * d;
      const double m_hat = m[i] / s.bc1, v_hat = v[i] / s.bc2;
      const double decoupled = c.kind == Optimizer::AdamW ? wd * w[i] : 0.0;
      w[i] -= lr * (m_hat / (std::sqrt(v_hat) + c.eps) + decoupled);
    }
    if (c.ema > 0) e[i] = c.ema * e[i] + (1 - c.ema) * w[i];
  }
}

}  // namespace vdsr
