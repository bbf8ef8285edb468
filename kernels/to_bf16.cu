// fp32 <-> bf16 conversions and the bf16 GEMM weight copies (layouts: kernels/to_bf16.cuh).
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

__global__ void weights_kernel(const float* __restrict__ wt, int K, int C, bool flip, int layers,
                               __nv_bfloat16* __restrict__ wg) {
  const int per_layer = K * C * 9, total = per_layer * layers;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int layer = i / per_layer, e = i % per_layer;
    const int Ci = flip ? K : C;  // the innermost (reduced) channel of wg
    const int ci = e % Ci, tap = (e / Ci) % 9, co = e / (Ci * 9);
    const int k = flip ? ci : co, c = flip ? co : ci;
    wg[i] = __float2bfloat16_rn(wt[layer * per_layer + (k * C + c) * 9 + (flip ? 8 - tap : tap)]);
  }
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

void conv3x3_weights_bf16_cuda(const float* wt, int K, int C, bool flip, __nv_bfloat16* wg,
                               cudaStream_t stream, int layers) {
  VDSR_CHECK(K > 0 && C > 0 && layers > 0 && int64_t(K) * C * 9 * layers < (int64_t(1) << 31) &&
                 wt != nullptr && wg != nullptr,
             "conv3x3_weights_bf16_cuda: bad arguments K=" << K << " C=" << C << " layers=" << layers);
  weights_kernel<<<grid_for(int64_t(K) * C * 9 * layers), 256, 0, stream>>>(wt, K, C, flip, layers,
                                                                           wg);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace vdsr
