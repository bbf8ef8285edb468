// Launch facts of the persistent tensor-core kernels (conv3x3_mma.cuh, conv3x3_wgmma_sm90a.cu),
// which run for every layer of every step: found once per device (and kernel) instead of at
// every launch, safe when several host threads share a device. And the launch of the kernels of an
// iteration with programmatic dependent launch (kernels/pdl.cuh).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "engine/cuda_check.h"

namespace vdsr {

// The current device's compute capability, major * 10 + minor.
int current_device_cc();

// The most dynamic shared memory one CTA may be granted on the current device (the opt-in limit:
// 227 KB on compute 9.0, 163 KB on 8.0, 99 KB on 8.6 / 8.9).
size_t max_dynamic_smem();

// For tests: while one lives, max_dynamic_smem() and the grants answer as on a device whose
// opt-in limit is at most `bytes` (101,376, a compute 8.6 / 8.9 part's, on a Hopper): the kernel
// choice of such a device, run and checked where the suite runs. Not for concurrent use.
class ScopedSmemLimit {
 public:
  explicit ScopedSmemLimit(size_t bytes);
  ~ScopedSmemLimit();
  ScopedSmemLimit(const ScopedSmemLimit&) = delete;
  ScopedSmemLimit& operator=(const ScopedSmemLimit&) = delete;

 private:
  size_t saved_;
};

// Grants `kernel` (a __global__ function) `smem` bytes of dynamic shared memory on the current
// device, unless an earlier call already granted as much; returns the multiprocessor count. An
// Error naming `who` when `smem` is more than max_dynamic_smem().
int grant_dynamic_smem(const void* kernel, size_t smem, const char* who);

// The grid of a persistent kernel: as many CTAs of `threads` threads and `smem` bytes as the GPU
// holds at once, at most `work`. An Error naming `who` when not even one fits.
int persistent_grid(const void* kernel, int threads, size_t smem, int work, const char* who);

// The launch attribute of thread block clusters of `cluster` CTAs along x.
inline cudaLaunchAttribute cluster_attribute(unsigned cluster) {
  cudaLaunchAttribute a = {};
  a.id = cudaLaunchAttributeClusterDimension;
  a.val.clusterDim.x = cluster;
  a.val.clusterDim.y = 1;
  a.val.clusterDim.z = 1;
  return a;
}

// How many thread block clusters of `cluster` CTAs (along x) of `kernel` the current device runs at
// once, with `threads` threads and `smem` bytes per CTA (granted here); found once per device.
// active_clusters: 0 when not even one fits (a MIG slice, an MPS limit, a smaller part), for the
// registry's usable checks; max_active_clusters: an Error naming `who` then, for launches.
int active_clusters(const void* kernel, int threads, size_t smem, int cluster, const char* who);
int max_active_clusters(const void* kernel, int threads, size_t smem, int cluster, const char* who);

// Whether a launch of `kernel` on the current device now gets the programmatic attribute: the
// setting of kernels/programmatic_launch.h on, a device of compute 9.0 or later, and the kernel's
// code built from PTX 9.0 or later. The last because the griddepcontrol instructions are compiled
// out below sm_90 (kernels/pdl.cuh): a build whose architectures leave out 90 runs on a Hopper from
// older PTX, where a kernel launched early would never wait for the one ahead of it.
bool programmatic_launch_here(const void* kernel);

// kernel<<<grid, block, smem, stream>>>(args...) in thread block clusters of `cluster` CTAs along
// x (1: no clusters; more needs compute 9.0 and a grid.x that is a multiple), with programmatic
// dependent launch when programmatic_launch_here(kernel); an Error when the launch fails. Only for
// kernels that follow the rules of kernels/pdl.cuh (pdl_wait before touching what the kernel ahead
// writes).
template <typename... Params, typename... Args>
void launch_kernel_in_clusters(unsigned cluster, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                               cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[2] = {};
  unsigned n = 0;
  if (programmatic_launch_here(reinterpret_cast<const void*>(kernel))) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cluster > 1) attr[n++] = cluster_attribute(cluster);
  cfg.attrs = n > 0 ? attr : nullptr;
  cfg.numAttrs = n;
  VDSR_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

// The same without clusters.
template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                   Args&&... args) {
  launch_kernel_in_clusters(1, kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

}  // namespace vdsr
