// CUDA execution context (CUDA builds only): one stream per device on which every op of the
// engine runs in order, and one growable scratch workspace per device for kernels that need
// temporary memory (split reductions). Growing the workspace synchronises; it happens on the first
// iterations only, since shapes repeat.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace vdsr {

// The engine's stream on `device` (created on first use; it synchronises with the legacy
// default stream, so plain cudaMemcpy calls are ordered with the engine's kernels).
cudaStream_t cuda_stream(int device);

// At least `bytes` of device memory on `device`, valid until the next call for that device.
void* cuda_workspace(int device, size_t bytes);

// Counts the workspace's reallocations on `device`: work recorded with one workspace pointer (a
// CUDA graph) is stale once this changes.
uint64_t cuda_workspace_generation(int device);

// Waits for all work queued on the engine's stream of `device`; throws on an asynchronous error.
void cuda_sync(int device);

}  // namespace vdsr
