// Host side of the CUDA context; compiled in CUDA builds only (see engine/CMakeLists.txt).
#ifdef VDSR_HAVE_CUDA
#include "engine/cuda_context.h"

#include <mutex>
#include <vector>

#include "engine/cuda_check.h"

namespace vdsr {

namespace {
struct PerDevice {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  uint64_t workspace_generation = 0;  // bumped at every reallocation
};
std::mutex g_mu;
std::vector<PerDevice> g_devices;

PerDevice& slot(int device) {
  VDSR_CHECK(device >= 0, "bad CUDA device " << device);
  if (size_t(device) >= g_devices.size()) g_devices.resize(size_t(device) + 1);
  return g_devices[size_t(device)];
}
}  // namespace

cudaStream_t cuda_stream(int device) {
  std::lock_guard<std::mutex> lock(g_mu);
  PerDevice& d = slot(device);
  if (d.stream == nullptr) {
    VDSR_CUDA_CHECK(cudaSetDevice(device));
    // A blocking stream: work on the legacy default stream (a plain cudaMemcpy or cudaMemset in a
    // test or a bench) waits for the engine's kernels and they wait for it, so no caller can read
    // a buffer before the kernel writing it has finished.
    VDSR_CUDA_CHECK(cudaStreamCreate(&d.stream));
  }
  return d.stream;
}

void* cuda_workspace(int device, size_t bytes) {
  cudaStream_t stream = cuda_stream(device);
  std::lock_guard<std::mutex> lock(g_mu);
  PerDevice& d = slot(device);
  if (bytes > d.workspace_bytes) {
    VDSR_CUDA_CHECK(cudaSetDevice(device));
    // The old block may still be in use by queued kernels.
    VDSR_CUDA_CHECK(cudaStreamSynchronize(stream));
    if (d.workspace != nullptr) VDSR_CUDA_CHECK(cudaFree(d.workspace));
    d.workspace = nullptr;
    d.workspace_bytes = 0;
    ++d.workspace_generation;  // the old block is gone even if the new one cannot be had
    const size_t grown = bytes + bytes / 4;
    const cudaError_t err = cudaMalloc(&d.workspace, grown);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it so the caller may retry with less
      VDSR_OUT_OF_MEMORY("out of GPU memory on cuda:" << device << " allocating a " << grown
                                                       << "-byte workspace");
    }
    VDSR_CUDA_CHECK(err);
    d.workspace_bytes = grown;
  }
  return d.workspace;
}

uint64_t cuda_workspace_generation(int device) {
  std::lock_guard<std::mutex> lock(g_mu);
  return slot(device).workspace_generation;
}

void cuda_sync(int device) { VDSR_CUDA_CHECK(cudaStreamSynchronize(cuda_stream(device))); }

}  // namespace vdsr
#endif  // VDSR_HAVE_CUDA
