// CUDA launchers of the element-wise and reduction ops of a training step (math: the matching
// kernels/<op>.h). Device pointers, scalars in device memory, queued on `stream`. Reductions
// use per-block partials finished by one block in a fixed order: deterministic, no atomics.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/optim_step.h"

namespace vdsr {

void residual_add_cuda(int64_t n, const float* x, const float* r, float* y, cudaStream_t stream);
void euclidean_loss_cuda(int64_t batch, int64_t n, const float* pred, const float* target,
                         float* grad, double* loss, cudaStream_t stream, int device);
void grad_norm_cuda(int64_t n, const float* g, double* norm, cudaStream_t stream, int device);
void flag_nonfinite_cuda(const double* value, int64_t step, int64_t* first_bad_step,
                         cudaStream_t stream);
// The optimizer step (clip, update, EMA) in one launch, and the store of its per-step scalars
// (kernels/ops.h).
void set_optim_scalars_cuda(const OptimScalars& s, OptimScalars* dst, cudaStream_t stream);
void optim_step_cuda(const OptimConfig& c, const OptimScalars* s, const double* norm, int64_t n,
                     int64_t n_decay, float* w, float* g, float* m, float* v, float* e,
                     cudaStream_t stream);

}  // namespace vdsr
