// Small CUDA helpers used only by vdsr_bench: fast deterministic random fills for large device
// buffers, im2col (the im2col + SGEMM conv baseline), an empty kernel (the launch floor) and the
// weight gradient's ordered finish in two thread orders (the finish rows).
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

// The 64 -> 64 weight gradient's ordered finish (kernels/wgrad_finish.h) of `chunks` partials
// (part [chunks][3][64][192], part_b [chunks][64]; db may be null): the model's kernel
// (by_output false: a thread per partial element, kFinishAhead loads ahead), or one thread per dw
// element with the plain loop, as the kernel was before. The same bits either way.
void wgrad_finish_cuda(bool by_output, int chunks, const float* part, const float* part_b, float* dw,
                       float* db, cudaStream_t stream);

}  // namespace vdsr::bench
