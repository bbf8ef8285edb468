#include "bench/cpu_peak.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/error.h"

namespace vdsr::bench {
namespace {

// Independent accumulators: an FMA unit's latency (4 cycles on current x86 cores) times its issue
// rate (2 per cycle) is 8 chains in flight. 16 with AVX-512's 32 registers, 12 with the 16 of AVX2
// and SSE (more would spill to memory, with the multiplier and the addend also in registers). The
// multiplier is just below 1 and the addend tiny, so the values stay finite and normal however long
// the loop runs.
constexpr int chain_count(int width) { return width == 16 ? 16 : 12; }

template <int V>
struct Vec {
  typedef float type __attribute__((vector_size(V * sizeof(float))));
};

// The loop body is the same template for every path; the target attribute of the caller decides
// the instructions (vfmadd on AVX2/AVX-512, mulps + addps on the generic x86-64 baseline).
template <int V>
inline __attribute__((always_inline)) float chains(int64_t iters) {
  typedef typename Vec<V>::type vf;
  constexpr int kChains = chain_count(V);
  vf acc[kChains];
#pragma GCC unroll 16
  for (int i = 0; i < kChains; ++i) acc[i] = vf{} + (1.0f + 0.001f * float(i));
  const vf m = vf{} + 0.999999f, c = vf{} + 1e-7f;
  for (int64_t k = 0; k < iters; ++k) {
#pragma GCC unroll 16
    for (int i = 0; i < kChains; ++i) acc[i] = acc[i] * m + c;
#if defined(__x86_64__) || defined(__i386__)
    asm volatile("" : "+v"(acc[0]));  // keep the loop a loop (no closed form, no hoisting)
#elif defined(__aarch64__)
    asm volatile("" : "+w"(acc[0]));
#endif
  }
  // Summed as vectors first: indexing lanes of the accumulators would keep them in memory.
  vf total = acc[0];
#pragma GCC unroll 16
  for (int i = 1; i < kChains; ++i) total += acc[i];
  float lanes[V];
  std::memcpy(lanes, &total, sizeof(lanes));
  float s = 0.0f;
  for (int l = 0; l < V; ++l) s += lanes[l];
  return s;
}

#if defined(__x86_64__) || defined(__i386__)
__attribute__((target("avx512f"))) float chains_avx512(int64_t iters) { return chains<16>(iters); }
__attribute__((target("avx2,fma"))) float chains_avx2(int64_t iters) { return chains<8>(iters); }
#endif
float chains_generic(int64_t iters) { return chains<4>(iters); }

float run_chains(Isa isa, int64_t iters) {
  switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
    case Isa::kAvx512:
      return chains_avx512(iters);
    case Isa::kAvx2:
      return chains_avx2(iters);
#endif
    default:
      return chains_generic(iters);
  }
}

// Seconds for `threads` threads each running `iters` iterations, started together.
double timed_run(Isa isa, int threads, int64_t iters) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<float> sink{0.0f};
  auto body = [&] {
    ready.fetch_add(1);
    while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
    const float s = run_chains(isa, iters);
    float old = sink.load();
    while (!sink.compare_exchange_weak(old, old + s)) {
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(body);
  while (ready.load() < threads - 1) std::this_thread::yield();  // every helper spinning on `go`
  const auto t0 = std::chrono::steady_clock::now();
  go.store(true, std::memory_order_release);
  const float s = run_chains(isa, iters);
  for (auto& th : pool) th.join();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  VDSR_CHECK(s + sink.load() != 0.0f, "the peak loop's result vanished");  // uses the sums
  return secs;
}

}  // namespace

double cpu_fma_peak_gflops(Isa isa, int threads, double seconds, int runs) {
  VDSR_CHECK(threads >= 1 && seconds > 0 && runs >= 1, "bad peak settings");
  // Calibrate on one thread, then size each run to `seconds`.
  int64_t iters = 1 << 16;
  double t = timed_run(isa, 1, iters);
  while (t < seconds / 8) {
    iters *= 4;
    t = timed_run(isa, 1, iters);
  }
  iters = std::max<int64_t>(1, int64_t(double(iters) * seconds / t));
  const int width = isa_width(isa);
  const double flop = 2.0 * chain_count(width) * width * double(iters) * threads;
  double best = 0.0;
  for (int r = 0; r < runs; ++r) best = std::max(best, flop / timed_run(isa, threads, iters) / 1e9);
  return best;
}

}  // namespace vdsr::bench
