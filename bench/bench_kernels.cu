// Kernels of the bench helpers (declarations and contracts: bench/bench_kernels.cuh).
#include "bench/bench_hash.h"
#include "bench/bench_kernels.cuh"
#include "engine/cuda_check.h"
#include "kernels/conv3x3_mma.cuh"
#include "kernels/wgrad_finish.h"

namespace vdsr::bench {

namespace {

constexpr int kThreads = 256;

unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 65535 * 16 ? blocks : 65535 * 16);  // grid-stride loops cover the rest
}

// Does nothing: the cost of a launch itself (vdsr_bench --nodes' node floor).
__global__ void empty_kernel() {}

__global__ void fill_uniform_kernel(float* p, int64_t n, uint32_t seed, float centre, float half) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    p[i] = centre + half * uniform_pm1(seed, i);
}

// One thread per element of col; consecutive threads walk c, so reads and writes are coalesced.
__global__ void im2col3x3_kernel(int64_t N, int64_t H, int64_t W, int64_t C, const float* x,
                                 float* col) {
  const int64_t total = N * H * W * 9 * C;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    const int64_t rs = (i / C) % 9;
    const int64_t p = i / (9 * C);
    const int64_t w = p % W, h = (p / W) % H, n = p / (H * W);
    const int64_t hh = h + rs / 3 - 1, ww = w + rs % 3 - 1;
    col[i] = (hh >= 0 && hh < H && ww >= 0 && ww < W) ? x[((n * H + hh) * W + ww) * C + c] : 0.0f;
  }
}

__global__ void finish_by_output_kernel(int chunks, const float* __restrict__ part,
                                        const float* __restrict__ part_b, float* __restrict__ dw,
                                        float* __restrict__ db) {
  finish_output(int(blockIdx.x * blockDim.x + threadIdx.x), chunks, part, part_b, dw, db);
}

}  // namespace

void fill_uniform_cuda(float* p, int64_t n, uint32_t seed, float centre, float half,
                       cudaStream_t stream) {
  VDSR_CHECK(p != nullptr && n >= 0, "fill_uniform_cuda: bad buffer");
  if (n == 0) return;
  fill_uniform_kernel<<<grid_for(n), kThreads, 0, stream>>>(p, n, seed, centre, half);
  VDSR_CUDA_CHECK(cudaGetLastError());
}


void im2col3x3_cuda(const ConvShape& s, const float* x, float* col, cudaStream_t stream) {
  VDSR_CHECK(x != nullptr && col != nullptr && s.N >= 1 && s.H >= 1 && s.W >= 1 && s.C >= 1,
             "im2col3x3_cuda: bad shape or buffers");
  im2col3x3_kernel<<<grid_for(s.pixels() * 9 * s.C), kThreads, 0, stream>>>(s.N, s.H, s.W, s.C,
                                                                             x, col);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

void empty_kernel_cuda(cudaStream_t stream) {
  empty_kernel<<<1, 32, 0, stream>>>();
  VDSR_CUDA_CHECK(cudaGetLastError());
}

void wgrad_finish_cuda(bool by_output, int chunks, const float* part, const float* part_b, float* dw,
                       float* db, cudaStream_t stream) {
  VDSR_CHECK(chunks >= 1 && part != nullptr && part_b != nullptr && dw != nullptr,
             "wgrad_finish_cuda: bad chunks or buffers");
  if (!by_output) return mma::launch_wgrad_finish(chunks, part, part_b, dw, db, stream);
  constexpr int kTotal = kPartWeights + kPartBias;  // 256-thread blocks, as the kernel had
  finish_by_output_kernel<<<(kTotal + kThreads - 1) / kThreads, kThreads, 0, stream>>>(chunks, part, part_b, dw, db);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace vdsr::bench
