// Small CUDA helpers used only by vdsr_bench: fast deterministic random fills for large device
// buffers, im2col (the im2col + SGEMM conv baseline) and an empty kernel (the launch floor).
// Device pointers; queued on `stream`; each checks the launch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/conv_shape.h"

namespace vdsr::bench {

// p[i] = centre + half * u(seed, i), u in [-1, 1) with 24-bit resolution (bench_hash.h has the
// identical host function, so references can be recomputed on the host without copying).
void fill_uniform_cuda(float* p, int64_t n, uint32_t seed, float centre, float half,
                       cudaStream_t stream);

// One block of 32 threads that does nothing.
void empty_kernel_cuda(cudaStream_t stream);

// col[p][(r*3 + s)*C + c] = x[n][h+r-1][w+s-1][c] (0 outside the image), p = (n*H + h)*W + w.
// Shapes: x [N][H][W][C], col [N*H*W][9*C].
void im2col3x3_cuda(const ConvShape& s, const float* x, float* col, cudaStream_t stream);

}  // namespace vdsr::bench
