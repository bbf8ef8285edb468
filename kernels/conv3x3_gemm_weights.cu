// The tensor cores' GEMM weight copies (layouts and rounding: kernels/conv3x3_gemm_weights.cuh).
#include "kernels/conv3x3_gemm_weights.cuh"

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/error.h"
#include "kernels/conv3x3_tf32.cuh"
#include "kernels/kernel_launch.cuh"
#include "kernels/pdl.cuh"
#include "kernels/tf32.cuh"

namespace vdsr {

namespace {

__device__ __forceinline__ void store_rounded(__nv_bfloat16* p, float v) {
  *p = __float2bfloat16_rn(v);
}
// The PTX ISA leaves the layout of cvt's tf32 result to the implementation; the copy is stored
// as an fp32 value (tests compare it with the host's rounding), so its low 13 bits are cleared
// here rather than trusted to be zero. The multiplies ignore them either way.
__device__ __forceinline__ void store_rounded(float* p, float v) {
  *p = __uint_as_float(dev::to_tf32(__float_as_uint(v)) & 0xFFFFE000u);
}

template <typename T>
__global__ void weights_kernel(const float* __restrict__ wt, int K, int C, bool flip, int layers,
                               T* __restrict__ wg) {
  dev::pdl_begin();
  const int per_layer = K * C * 9, total = per_layer * layers;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
    const int layer = i / per_layer, e = i % per_layer;
    const int Ci = flip ? K : C;  // the innermost (reduced) channel of wg
    const int ci = e % Ci, tap = (e / Ci) % 9, co = e / (Ci * 9);
    const int k = flip ? ci : co, c = flip ? co : ci;
    store_rounded(wg + i, wt[layer * per_layer + (k * C + c) * 9 + (flip ? 8 - tap : tap)]);
  }
}

template <typename T>
void launch_weights(const char* who, const float* wt, int K, int C, bool flip, T* wg,
                    cudaStream_t stream, int layers) {
  VDSR_CHECK(K > 0 && C > 0 && layers > 0 && int64_t(K) * C * 9 * layers < (int64_t(1) << 31) &&
                 wt != nullptr && wg != nullptr,
             who << ": bad arguments K=" << K << " C=" << C << " layers=" << layers);
  const int64_t n = int64_t(K) * C * 9 * layers;
  const unsigned grid = unsigned(std::min<int64_t>((n + 255) / 256, 1 << 16));
  launch_kernel(weights_kernel<T>, grid, 256, 0, stream, wt, K, C, flip, layers, wg);
}

}  // namespace

void conv3x3_weights_bf16_cuda(const float* wt, int K, int C, bool flip, __nv_bfloat16* wg,
                               cudaStream_t stream, int layers) {
  launch_weights("conv3x3_weights_bf16_cuda", wt, K, C, flip, wg, stream, layers);
}

void conv3x3_weights_tf32_cuda(const float* wt, int K, int C, bool flip, float* wg,
                               cudaStream_t stream, int layers) {
  require_tf32_tensor_cores("conv3x3_weights_tf32_cuda");  // cvt.rna.tf32 is sm_80 code
  launch_weights("conv3x3_weights_tf32_cuda", wt, K, C, flip, wg, stream, layers);
}

}  // namespace vdsr
