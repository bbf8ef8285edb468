// CUDA optimizer step: clipping, the update and the EMA in one grid-stride pass over the flat
// parameter buffer (math: kernels/optim_step.h). The per-step scalars (lr, bias corrections, clip
// threshold) and the gradient norm are read from device memory, so one recorded graph serves every
// step of a schedule. The element arithmetic is kernels/optim_step_math.h, shared with the CPU;
// this file is compiled with -fmad=false (kernels/CMakeLists.txt), so the result equals the CPU's
// bit for bit.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/error.h"
#include "kernels/kernel_launch.cuh"
#include "kernels/optim_step_math.h"
#include "kernels/pdl.cuh"
#include "kernels/small_ops.cuh"

namespace vdsr {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;  // grid-stride beyond this

template <Optimizer kKind>
__global__ void __launch_bounds__(kThreads)
    optim_step_kernel(OptimConfig c, const OptimScalars* s, const double* norm, int64_t n,
                      int64_t n_decay, float* w /* [n] */, float* g /* [n] */, float* m /* [n] */,
                      float* v /* [n] or null */, float* e /* [n] or null */) {
  dev::pdl_begin();
  const OptimCoeffs k = optim_coeffs(c, *s, norm != nullptr ? *norm : 0.0);
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride)
    optim_element<kKind>(k, i < n_decay, e != nullptr, w[i], g[i], m[i], v ? v + i : nullptr,
                         e ? e + i : nullptr);
}

__global__ void store_scalars_kernel(OptimScalars s, OptimScalars* dst) { *dst = s; }

}  // namespace

void set_optim_scalars_cuda(const OptimScalars& s, OptimScalars* dst, cudaStream_t stream) {
  VDSR_CHECK(dst != nullptr, "set_optim_scalars_cuda: null destination");
  store_scalars_kernel<<<1, 1, 0, stream>>>(s, dst);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

void optim_step_cuda(const OptimConfig& c, const OptimScalars* s, const double* norm, int64_t n,
                     int64_t n_decay, float* w, float* g, float* m, float* v, float* e,
                     cudaStream_t stream) {
  VDSR_CHECK(s != nullptr, "optim_step_cuda: the step's scalars are missing");
  if (n == 0) return;
  const int blocks =
      static_cast<int>(std::clamp<int64_t>((n + kThreads - 1) / kThreads, 1, kMaxBlocks));
  if (c.ema == 0) e = nullptr;
  if (!c.uses_second_moment()) v = nullptr;
  switch (c.kind) {
    case Optimizer::Sgd:
      launch_kernel(optim_step_kernel<Optimizer::Sgd>, blocks, kThreads, 0, stream, c, s, norm, n, n_decay, w, g, m, v, e);
      break;
    case Optimizer::Adam:
      launch_kernel(optim_step_kernel<Optimizer::Adam>, blocks, kThreads, 0, stream, c, s, norm, n, n_decay, w, g, m, v, e);
      break;
    case Optimizer::AdamW:
      launch_kernel(optim_step_kernel<Optimizer::AdamW>, blocks, kThreads, 0, stream, c, s, norm, n, n_decay, w, g, m, v, e);
      break;
  }
}

}  // namespace vdsr
