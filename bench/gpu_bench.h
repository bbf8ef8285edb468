// The GPU rows of vdsr_bench (defined in CUDA builds; the options are parsed in every build): our
// conv kernels (every variant), the whole training iteration and 1080p inference, cuDNN's
// algorithms and the cuBLAS peaks / im2col + SGEMM.
#pragma once

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/bench_rows.h"

namespace vdsr::bench {

struct GpuOptions {
  int device = 0;
  int reps = 50;
  int batch = 64;         // training shape: batch x 41 x 41 (the conv rows, and the iteration rows
                          // unless train_batches lists others)
  std::vector<int> train_batches;  // the training-iteration rows' batches (batch scaling) [batch]
  std::vector<int> conv_batches;   // the per-op conv rows' batches of 41 x 41 (fixed cost) [batch]
  int runs = 1;           // times each row is timed (GpuCtx::runs)
  int hd_h = 1080, hd_w = 1920;  // inference shape
  bool ours = true, cudnn = true, cublas = true;
  bool hd_convs = true;   // the per-op rows at 1 x hd_h x hd_w (the inference row is always there)
  bool probes = false;    // the bf16 default's wgmma kernels with parts switched off (probe_rows.h)
  int gemm = 8192;        // peak GEMM size (M = N = K)
  std::string precision = "all";  // fp32, tf32, bf16: that precision's rows only (the cuBLAS
                                  // peaks always run: they are the % of peak column's base)
  // --time-limit: no row or group of rows starts once this many seconds have passed since
  // `started` (what is left becomes "skipped" rows), so that a caller's hard timeout does not
  // kill the run before its JSON; 0 = none.
  double time_limit_s = 0;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  // Called with the rows so far after each row or group of rows (vdsr_bench rewrites --json with
  // them, so a run killed all the same leaves what it had measured).
  std::function<void(const std::vector<Row>&)> checkpoint;
};

// Prints the conv kernel registry (kernels/conv_variants.cuh): every row with whether `device` runs
// it at the training shape, the defaults marked.
void list_kernels(int device, int batch);

// Appends the rows; fills `meta` with the GPU and library facts.
void run_gpu_benchmarks(const GpuOptions& opt, std::vector<Row>& rows, nlohmann::json& meta);

}  // namespace vdsr::bench
