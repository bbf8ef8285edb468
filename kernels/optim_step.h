// The optimizer step: clipping, the update (SGD with momentum, Adam or AdamW) and the EMA of the
// weights in one pass over the flat parameter buffer (weights first, then biases; model/vdsr_config.h).
// Per element i, in double from the float state, each state value rounded once when stored:
//   g'   = clip(g[i])            Value: clamp to [-t, t] (written back to g); Norm: s g[i] with
//                                s = min(1, t / norm) (NaN norm: s = 1); None: g[i]
//   wt   = i < n_decay           (a weight, not a bias: decay and the full learning rate)
//   lr_i = wt ? lr : lr * bias_lr_mult
//   SGD:   d = g' + (wt ? wd w : 0);  m = momentum m + d;  w -= lr_i m          (PyTorch's SGD)
//   Adam:  d = g' + (wt ? wd w : 0);  m = b1 m + (1 - b1) d;  v = b2 v + (1 - b2) d^2;
//          w -= lr_i (m / bc1) / (sqrt(v / bc2) + eps)                       (L2 in the gradient)
//   AdamW: d = g';  m, v as Adam;  w -= lr_i ((m / bc1) / (sqrt(v / bc2) + eps) + (wt ? wd w : 0))
//                                                   (decoupled decay, PyTorch's AdamW)
//   EMA (ema > 0): e = ema e + (1 - ema) w_new, from the stored (float) new weight
// with bc1 = 1 - b1^t, bc2 = 1 - b2^t for the t-th step (t from 1), computed on the host.
// Shapes: w, g, m, v, e [n]; v only for Adam/AdamW, e only with ema > 0 (else may be null).
#pragma once

#include <cstdint>

namespace vdsr {

// How gradients are clipped before the step: by their global L2 norm (scaled down to the
// threshold) or element by element (clamped to [-threshold, threshold]).
enum class ClipMode { None, Norm, Value };

enum class Optimizer { Sgd, Adam, AdamW };

const char* optimizer_name(Optimizer o);  // "sgd", "adam", "adamw"
const char* clip_mode_name(ClipMode m);   // "none", "norm", "value"

// The settings that stay fixed over a run (a recorded CUDA graph keys on them).
struct OptimConfig {
  Optimizer kind = Optimizer::Sgd;
  ClipMode clip_mode = ClipMode::None;
  double momentum = 0.9;  // SGD
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam, AdamW
  double weight_decay = 1e-4;  // weights only
  double bias_lr_mult = 1.0;   // the biases' learning rate is lr times this (Caffe's lr_mult)
  double ema = 0.0;            // decay of the weights' exponential moving average; 0 = off

  bool operator==(const OptimConfig& o) const;
  bool uses_second_moment() const { return kind != Optimizer::Sgd; }
};

// What changes from step to step. In device memory, so a recorded graph replays with new values.
struct OptimScalars {
  double lr = 0.0;         // the step's learning rate
  double bc1 = 1.0;        // 1 - beta1^t
  double bc2 = 1.0;        // 1 - beta2^t
  double threshold = 0.0;  // the clip threshold (ignored with ClipMode::None)
};

// The scalars of the t-th step (t >= 1) of a run with this config.
OptimScalars optim_scalars(const OptimConfig& c, double lr, double clip_threshold, int64_t t);

// Plain double-state reference (tests compare the CPU and CUDA passes against it). `norm` is the
// gradient norm for ClipMode::Norm.
void optim_step_ref(const OptimConfig& c, const OptimScalars& s, double norm, int64_t n,
                    int64_t n_decay, double* w, double* g, double* m, double* v, double* e);
void optim_step_cpu(const OptimConfig& c, const OptimScalars& s, double norm, int64_t n,
                    int64_t n_decay, float* w, float* g, float* m, float* v, float* e);

}  // namespace vdsr
