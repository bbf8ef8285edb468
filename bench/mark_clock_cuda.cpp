// The GPU's MarkClock and the node floor (bench/mark_clock.h): CUDA events on the engine's stream.
#include <cuda_runtime_api.h>

#include "bench/bench_kernels.cuh"
#include "bench/bench_rows.h"
#include "bench/mark_clock.h"
#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/cuda_graph.h"
#include "engine/error.h"

namespace vdsr::bench {

namespace {

struct Event {
  cudaEvent_t e = nullptr;
  Event() { VDSR_CUDA_CHECK(cudaEventCreate(&e)); }
  ~Event() { cudaEventDestroy(e); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
};

float elapsed_ms(const Event& a, const Event& b) {
  float ms = 0.0f;
  VDSR_CUDA_CHECK(cudaEventElapsedTime(&ms, a.e, b.e));
  return ms;
}

// Records e on stream; while the stream is being captured, as an event node of the graph (a plain
// record there would only order streams, not time anything).
void record(const Event& e, cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  VDSR_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  VDSR_CUDA_CHECK(cudaEventRecordWithFlags(
      e.e, stream, status == cudaStreamCaptureStatusActive ? cudaEventRecordExternal : cudaEventRecordDefault));
}

class CudaMarkClock final : public MarkClock {
 public:
  explicit CudaMarkClock(int device) : device_(device), stream_(cuda_stream(device)) {}
  void start() override { record(start_, stream_); }
  void mark(size_t k) override {
    // Events are made during the untimed calls, before any graph is recorded.
    while (marks_.size() <= k) marks_.push_back(std::make_unique<Event>());
    record(*marks_[k], stream_);
  }
  void stop() override { record(stop_, stream_); }
  std::vector<double> intervals_ms(size_t marks) override {
    VDSR_CHECK(marks <= marks_.size(), "asked for " << marks << " marks, " << marks_.size() << " recorded");
    VDSR_CUDA_CHECK(cudaEventSynchronize(stop_.e));
    cuda_sync(device_);  // surfaces an asynchronous error of the timed work
    std::vector<double> ms;
    const Event* from = &start_;
    for (size_t i = 0; i <= marks; ++i) {
      const Event* to = i < marks ? marks_[i].get() : &stop_;
      ms.push_back(elapsed_ms(*from, *to));
      from = to;
    }
    return ms;
  }

 private:
  int device_;
  cudaStream_t stream_;
  Event start_, stop_;
  std::vector<std::unique_ptr<Event>> marks_;
};

// The median gap between consecutive event nodes of a graph of `count` of them, with an empty
// kernel before each but the first when `kernels`.
double graph_gap_ms(int device, int reps, bool kernels) {
  constexpr int count = 33;
  std::vector<std::unique_ptr<Event>> ev;
  for (int i = 0; i < count; ++i) ev.push_back(std::make_unique<Event>());
  cudaStream_t stream = cuda_stream(device);
  CudaGraph g;
  g.capture(device, [&] {
    for (int i = 0; i < count; ++i) {
      if (kernels && i > 0) empty_kernel_cuda(stream);
      record(*ev[size_t(i)], stream);
    }
  });
  std::vector<double> gaps;
  for (int r = 0; r < reps + 3; ++r) {
    g.launch();
    VDSR_CUDA_CHECK(cudaEventSynchronize(ev.back()->e));
    if (r < 3) continue;  // warm-up replays
    for (int i = 1; i < count; ++i) gaps.push_back(elapsed_ms(*ev[size_t(i) - 1], *ev[size_t(i)]));
  }
  cuda_sync(device);
  return median(std::move(gaps));
}

}  // namespace

std::unique_ptr<MarkClock> cuda_mark_clock(int device) { return std::make_unique<CudaMarkClock>(device); }

NodeFloor cuda_node_floor(int device, int reps) {
  NodeFloor f;
  f.event_gap_ms = graph_gap_ms(device, reps, false);
  f.empty_kernel_ms = graph_gap_ms(device, reps, true);
  return f;
}

}  // namespace vdsr::bench
