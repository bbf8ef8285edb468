// CUDA global L2 norm of the flat gradient buffer (math: kernels/grad_norm.h):
//   *norm = sqrt(sum_i g[i]^2), accumulated in double.
// Shapes: g [n]; norm one double in device memory.
// Deterministic, no atomics: pass 1 runs a grid whose size depends on n only (not on the device);
// each thread sums a fixed grid-stride subset in order and each block reduces its threads with a
// fixed shared-memory tree into one double partial in the device workspace; pass 2, one block, sums
// the partials in a fixed order and tree and writes *norm.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/block_reduce.cuh"
#include "kernels/kernel_launch.cuh"
#include "kernels/pdl.cuh"
#include "kernels/small_ops.cuh"

namespace vdsr {

namespace {

constexpr int kThreads = kReduceThreads;
constexpr int64_t kBlockElems = kReduceBlockElems;
constexpr int64_t kMaxBlocks = kReduceMaxBlocks;

__global__ void __launch_bounds__(kThreads)
    norm_partials_kernel(int64_t n, const float* g, double* partial /* [gridDim.x] */) {
  __shared__ double s[kThreads];
  dev::pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  double acc = 0.0;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const double x = static_cast<double>(g[i]);
    acc += x * x;
  }
  const double sum = block_sum(acc, s);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void __launch_bounds__(kThreads)
    norm_finish_kernel(int64_t count, const double* partial /* [count] */, double* norm) {
  __shared__ double s[kThreads];
  dev::pdl_begin();
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double sum = block_sum(acc, s);
  if (threadIdx.x == 0) *norm = sqrt(sum);
}

}  // namespace

void grad_norm_cuda(int64_t n, const float* g, double* norm, cudaStream_t stream, int device) {
  VDSR_CHECK(n >= 0, "grad_norm_cuda: negative element count " << n);
  VDSR_CHECK(n == 0 || g != nullptr, "grad_norm_cuda: null gradient pointer");
  VDSR_CHECK(norm != nullptr, "grad_norm_cuda: null norm pointer");
  const int64_t blocks = std::min((n + kBlockElems - 1) / kBlockElems, kMaxBlocks);
  double* partial = nullptr;
  if (blocks > 0) {
    // The workspace is the device's one scratch block: taken here, used by the next two launches
    // on the same stream, never held past this call.
    partial = static_cast<double*>(cuda_workspace(device, size_t(blocks) * sizeof(double)));
    launch_kernel(norm_partials_kernel, unsigned(blocks), kThreads, 0, stream, n, g, partial);
  }
  launch_kernel(norm_finish_kernel, 1, kThreads, 0, stream, blocks, partial, norm);
}

}  // namespace vdsr
