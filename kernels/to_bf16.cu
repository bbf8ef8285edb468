// fp32 <-> bf16 conversions (kernels/to_bf16.cuh).
#include "kernels/to_bf16.cuh"

#include <algorithm>

#include "engine/cuda_check.h"
#include "engine/error.h"

namespace vdsr {

namespace {

unsigned grid_for(int64_t n) { return unsigned(std::min<int64_t>((n + 255) / 256, 1 << 16)); }

__global__ void to_bf16_kernel(const float* __restrict__ x, int64_t n,
                               __nv_bfloat16* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void to_float_kernel(const __nv_bfloat16* __restrict__ x, int64_t n,
                                float* __restrict__ y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = __bfloat162float(x[i]);
}

}  // namespace

void to_bf16_cuda(const float* x, int64_t n, __nv_bfloat16* y, cudaStream_t stream) {
  VDSR_CHECK(n >= 0 && (n == 0 || (x != nullptr && y != nullptr)), "to_bf16_cuda: bad arguments");
  if (n == 0) return;
  to_bf16_kernel<<<grid_for(n), 256, 0, stream>>>(x, n, y);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

void to_float_cuda(const __nv_bfloat16* x, int64_t n, float* y, cudaStream_t stream) {
  VDSR_CHECK(n >= 0 && (n == 0 || (x != nullptr && y != nullptr)), "to_float_cuda: bad arguments");
  if (n == 0) return;
  to_float_kernel<<<grid_for(n), 256, 0, stream>>>(x, n, y);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace vdsr
