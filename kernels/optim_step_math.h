// The per-element arithmetic of the optimizer step (kernels/optim_step.h), shared by the CPU pass
// and the CUDA kernel so the two cannot drift apart. Both are compiled without floating-point
// contraction (-ffp-contract=off, nvcc -fmad=false; kernels/CMakeLists.txt), and double +, *, /
// and sqrt are correctly rounded on both, so the CPU and the GPU give the same bits.
#pragma once

#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"
#include "kernels/optim_step.h"

namespace vdsr {

// Everything an element needs, derived once per step.
struct OptimCoeffs {
  double grad_scale;      // norm clipping's min(1, t / norm)
  float limit;            // value clipping's bound
  bool clamp;             // value clipping on
  double lr_w, lr_b;      // learning rates of weights and biases
  double c1;              // the first moment's decay: SGD's momentum or Adam's b1
  double c2, k1, k2;      // Adam: b2, 1 - b1, 1 - b2
  double bc1, bc2, eps;   // Adam's bias corrections and epsilon
  double wd;
  double ema_decay, ema_rate;  // e = ema_decay e + ema_rate w, ema_rate = 1 - ema_decay
};

VDSR_HOST_DEVICE OptimCoeffs optim_coeffs(const OptimConfig& c, const OptimScalars& s,
                                          double norm) {
  OptimCoeffs k{};
  k.grad_scale = c.clip_mode == ClipMode::Norm && norm > s.threshold ? s.threshold / norm : 1.0;
  k.clamp = c.clip_mode == ClipMode::Value;
  k.limit = static_cast<float>(s.threshold);
  k.lr_w = s.lr;
  k.lr_b = s.lr * c.bias_lr_mult;
  k.c1 = c.kind == Optimizer::Sgd ? c.momentum : c.beta1;
  k.c2 = c.beta2;
  k.k1 = 1.0 - c.beta1;
  k.k2 = 1.0 - c.beta2;
  k.bc1 = s.bc1;
  k.bc2 = s.bc2;
  k.eps = c.eps;
  k.wd = c.weight_decay;
  k.ema_decay = c.ema;
  k.ema_rate = 1.0 - c.ema;
  return k;
}

// One element. `weight`: inside the decayed prefix. v and e are touched only when used.
template <Optimizer kKind>
VDSR_HOST_DEVICE void optim_element(const OptimCoeffs& k, bool weight, bool with_ema, float& w,
                                    float& g, float& m, float* v, float* e) {
  float gi = g;
  if (k.clamp) {
    gi = gi < -k.limit ? -k.limit : gi;  // std::max(gi, -limit): NaN passes through
    gi = k.limit < gi ? k.limit : gi;    // std::min(gi, limit)
    g = gi;
  }
  const double wi = static_cast<double>(w);
  const double lr = weight ? k.lr_w : k.lr_b;
  const double decay = weight ? k.wd * wi : 0.0;
  const double gs = k.grad_scale * static_cast<double>(gi);
  double wn;
  if (kKind == Optimizer::Sgd) {
    const double mi = k.c1 * static_cast<double>(m) + (gs + decay);
    m = static_cast<float>(mi);
    wn = wi - lr * mi;
  } else {
    const double d = kKind == Optimizer::Adam ? gs + decay : gs;
    const double mi = k.c1 * static_cast<double>(m) + k.k1 * d;
    const double vi = k.c2 * static_cast<double>(*v) + k.k2 * (d * d);
    m = static_cast<float>(mi);
    *v = static_cast<float>(vi);
    const double u = (mi / k.bc1) / (sqrt(vi / k.bc2) + k.eps);
    wn = kKind == Optimizer::Adam ? wi - lr * u : wi - lr * (u + decay);
  }
  w = static_cast<float>(wn);
  if (with_ema)
    *e = static_cast<float>(k.ema_decay * static_cast<double>(*e) +
                            k.ema_rate * static_cast<double>(w));
}

}  // namespace vdsr
