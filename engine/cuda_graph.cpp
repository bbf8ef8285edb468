#include "engine/cuda_graph.h"

#include <utility>

#include "engine/error.h"

#ifdef VDSR_HAVE_CUDA
#include <cuda_runtime_api.h>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#endif

namespace vdsr {

CudaGraph::~CudaGraph() { reset(); }

CudaGraph::CudaGraph(CudaGraph&& o) noexcept
    : graph_(std::exchange(o.graph_, nullptr)),
      exec_(std::exchange(o.exec_, nullptr)),
      device_(std::exchange(o.device_, -1)) {}

CudaGraph& CudaGraph::operator=(CudaGraph&& o) noexcept {
  if (this != &o) {
    reset();
    graph_ = std::exchange(o.graph_, nullptr);
    exec_ = std::exchange(o.exec_, nullptr);
    device_ = std::exchange(o.device_, -1);
  }
  return *this;
}

#ifdef VDSR_HAVE_CUDA

void CudaGraph::reset() {
  // Errors are ignored here: reset runs in destructors, and a failed destroy leaks at worst.
  if (exec_ != nullptr) cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_));
  if (graph_ != nullptr) cudaGraphDestroy(static_cast<cudaGraph_t>(graph_));
  exec_ = graph_ = nullptr;
  device_ = -1;
}

void CudaGraph::capture(int device, const std::function<void()>& enqueue) {
  reset();
  VDSR_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t stream = cuda_stream(device);
  // Thread-local mode: only this thread's calls are checked for capture safety, so other threads
  // (image decoding, logging) are not affected.
  VDSR_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t graph = nullptr;
  try {
    enqueue();
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);  // leaves the stream usable again
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();  // clears the capture error the failed call left
    throw;
  }
  // A failure here leaves the runtime's last error set, which the next launch's check would take
  // for its own; the caller goes on eagerly (model/vdsr.cpp), so clear it before throwing.
  const cudaError_t ended = cudaStreamEndCapture(stream, &graph);
  if (ended != cudaSuccess) {
    if (graph != nullptr) cudaGraphDestroy(graph);
    cudaGetLastError();
    VDSR_FAIL("cannot end a CUDA graph recording: " << cudaGetErrorString(ended));
  }
  cudaGraphExec_t exec = nullptr;
  const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
  if (err != cudaSuccess) {
    cudaGraphDestroy(graph);
    cudaGetLastError();
    VDSR_FAIL("cannot instantiate a CUDA graph: " << cudaGetErrorString(err));
  }
  graph_ = graph;
  exec_ = exec;
  device_ = device;
}

void CudaGraph::launch() {
  VDSR_CHECK(exec_ != nullptr, "CudaGraph::launch: nothing recorded");
  VDSR_CUDA_CHECK(cudaSetDevice(device_));
  VDSR_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), cuda_stream(device_)));
}

#else  // CPU-only build

void CudaGraph::reset() { exec_ = graph_ = nullptr; device_ = -1; }
void CudaGraph::capture(int, const std::function<void()>&) {
  VDSR_FAIL("CUDA graphs need a CUDA build");
}
void CudaGraph::launch() { VDSR_FAIL("CUDA graphs need a CUDA build"); }

#endif

}  // namespace vdsr
