// CUDA Euclidean loss (math: kernels/euclidean_loss.h):
//   grad[i] = (pred[i] - target[i]) / batch        (when grad is not null)
//   *loss   = 1/(2 batch) * sum_i (pred[i] - target[i])^2, accumulated in double
// Shapes: pred, target, grad [n]; loss one double in device memory.
// Deterministic, no atomics: pass 1 runs a grid whose size depends on n only (not on the device);
// each thread sums a fixed grid-stride subset in order and each block reduces its threads with a
// fixed shared-memory tree into one double partial in the device workspace; pass 2, one block, sums
// the partials in a fixed order and tree and writes *loss. The difference of two floats is computed
// in double and divided by batch in double (IEEE), then rounded once: grad equals the CPU's.
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
    loss_partials_kernel(int64_t n, double batch, const float* pred, const float* target,
                         float* grad, double* partial /* [gridDim.x] */) {
  __shared__ double s[kThreads];
  dev::pdl_begin();
  const int64_t stride = int64_t(gridDim.x) * kThreads;
  double acc = 0.0;
  for (int64_t i = int64_t(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    const double d = static_cast<double>(pred[i]) - static_cast<double>(target[i]);
    acc += d * d;
    if (grad != nullptr) grad[i] = static_cast<float>(d / batch);
  }
  const double sum = block_sum(acc, s);
  if (threadIdx.x == 0) partial[blockIdx.x] = sum;
}

__global__ void __launch_bounds__(kThreads)
    loss_finish_kernel(int64_t count, const double* partial /* [count] */, double batch,
                       double* loss) {
  __shared__ double s[kThreads];
  dev::pdl_begin();
  double acc = 0.0;
  for (int64_t i = threadIdx.x; i < count; i += kThreads) acc += partial[i];
  const double sum = block_sum(acc, s);
  if (threadIdx.x == 0) *loss = sum / (2.0 * batch);
}

}  // namespace

void euclidean_loss_cuda(int64_t batch, int64_t n, const float* pred, const float* target,
                         float* grad, double* loss, cudaStream_t stream, int device) {
  VDSR_CHECK(batch >= 1, "euclidean_loss_cuda: batch must be at least 1, got " << batch);
  VDSR_CHECK(n >= 0, "euclidean_loss_cuda: negative element count " << n);
  VDSR_CHECK(n == 0 || (pred != nullptr && target != nullptr),
             "euclidean_loss_cuda: null input pointer");
  VDSR_CHECK(loss != nullptr, "euclidean_loss_cuda: null loss pointer");
  const double b = static_cast<double>(batch);
  const int64_t blocks = std::min((n + kBlockElems - 1) / kBlockElems, kMaxBlocks);
  double* partial = nullptr;
  if (blocks > 0) {
    // The workspace is the device's one scratch block: taken here, used by the next two launches
    // on the same stream, never held past this call.
    partial = static_cast<double*>(cuda_workspace(device, size_t(blocks) * sizeof(double)));
    launch_kernel(loss_partials_kernel, unsigned(blocks), kThreads, 0, stream, n, b, pred, target, grad, partial);
  }
  launch_kernel(loss_finish_kernel, 1, kThreads, 0, stream, blocks, partial, b, loss);
}

}  // namespace vdsr
