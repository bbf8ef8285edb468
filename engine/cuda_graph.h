// A recorded sequence of the engine's GPU work, replayed with one launch (a CUDA graph). A training
// iteration queues about a hundred kernels; replaying them as a graph removes the per-launch host
// cost and the gaps between short kernels. The recorded work keeps every pointer and scalar it
// was queued with, so the owner re-records when any of them changes.
//
// Recording runs the queuing code without executing anything: that code must not synchronise,
// allocate or read results back (it would throw here), so the same work is normally run once
// eagerly first, which sizes every buffer and workspace it needs.
#pragma once

#include <functional>

namespace vdsr {

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(CudaGraph&& o) noexcept;
  CudaGraph& operator=(CudaGraph&& o) noexcept;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Records what `enqueue` queues on the engine stream of CUDA `device` (kernels/ops.h), replacing
  // any previous recording. Throws (and keeps nothing) if recording fails; an Error in CPU-only
  // builds.
  void capture(int device, const std::function<void()>& enqueue);
  // Queues the recorded work on the engine stream of its device.
  void launch();
  bool empty() const { return exec_ == nullptr; }
  void reset();

 private:
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  int device_ = -1;
};

}  // namespace vdsr
