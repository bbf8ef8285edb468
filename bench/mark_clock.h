// Clocks for vdsr_bench --nodes (bench/nodes.h): the time at each op mark of one call, on the CPU
// (the wall clock) or on a GPU (CUDA events, which a graph recorded meanwhile holds as nodes).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace vdsr::bench {

// start() before the call, mark(k) from the model's marker for its k-th op, stop() after; then
// intervals_ms(marks) gives marks + 1 times: start -> mark 0, mark 0 -> mark 1, ..., last -> stop
// (waiting for the device). A mark recorded into a graph is re-recorded by every replay of it.
class MarkClock {
 public:
  virtual ~MarkClock() = default;
  virtual void start() = 0;
  virtual void mark(size_t k) = 0;
  virtual void stop() = 0;
  virtual std::vector<double> intervals_ms(size_t marks) = 0;
};

std::unique_ptr<MarkClock> cpu_mark_clock();

#ifdef VDSR_HAVE_CUDA
// Events on the engine's stream of `device`, recorded as external event nodes while that stream
// is being captured into a graph (cudaEventRecordExternal).
std::unique_ptr<MarkClock> cuda_mark_clock(int device);

// What a node costs with nothing to do, in a replayed graph: the median gap between two event
// nodes in a row, and between two event nodes with one empty kernel (1 block of 32 threads) between.
struct NodeFloor {
  double event_gap_ms = 0.0, empty_kernel_ms = 0.0;
};
NodeFloor cuda_node_floor(int device, int reps);
#endif

}  // namespace vdsr::bench
