// Launch facts of the persistent tensor-core kernels (conv3x3_mma.cuh, conv3x3_wgmma_sm90a.cu),
// which run for every layer of every step: found once per device (and kernel) instead of at
// every launch, safe when several host threads share a device.
#pragma once

#include <cstddef>

namespace vdsr {

// The current device's compute capability, major * 10 + minor.
int current_device_cc();

// The most dynamic shared memory one CTA may be granted on the current device (the opt-in limit:
// 227 KB on compute 9.0, 163 KB on 8.0, 99 KB on 8.6 / 8.9).
size_t max_dynamic_smem();

// Grants `kernel` (a __global__ function) `smem` bytes of dynamic shared memory on the current
// device, unless an earlier call already granted as much; returns the multiprocessor count. An
// Error naming `who` when `smem` is more than max_dynamic_smem().
int grant_dynamic_smem(const void* kernel, size_t smem, const char* who);

// The grid of a persistent kernel: as many CTAs of `threads` threads and `smem` bytes as the GPU
// holds at once, at most `work`. An Error naming `who` when not even one fits.
int persistent_grid(const void* kernel, int threads, size_t smem, int work, const char* who);

}  // namespace vdsr
