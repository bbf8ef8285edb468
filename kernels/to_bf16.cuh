// CUDA conversions for the bf16 mode: activations fp32 <-> bf16 (round to nearest even) and the
// bf16 GEMM copies of the fp32 master weights that the tensor-core convolutions read:
//   flip = false (forward):       wg[k][tap][c] = wt[k][c][tap]
//   flip = true  (backward-data): wg[c][tap][k] = wt[k][c][8 - tap]
// for `layers` consecutive layers of the same shape (wt [layers][K][C][3][3] -> wg [layers][...]),
// so one launch converts every hidden layer of the model. Device pointers; queued on `stream`.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

namespace vdsr {

void to_bf16_cuda(const float* x, int64_t n, __nv_bfloat16* y, cudaStream_t stream);
void to_float_cuda(const __nv_bfloat16* x, int64_t n, float* y, cudaStream_t stream);
void conv3x3_weights_bf16_cuda(const float* wt,  // [K][C][3][3]
                               int K, int C, bool flip,
                               __nv_bfloat16* wg,  // [K][9][C], or [C][9][K] with flip
                               cudaStream_t stream, int layers = 1);

}  // namespace vdsr
