// Shared GPU plumbing of vdsr_bench (CUDA builds): event timing with buffer rotation, device
// buffers, and one conv "case" (a shape with its rotating buffer sets and reference outputs) that
// our kernels, cuDNN and cuBLAS are all timed on.
#pragma once

#include <cuda_runtime_api.h>

#include <functional>
#include <string>
#include <vector>

#include "bench/bench_rows.h"
#include "engine/buffer.h"
#include "kernels/conv_shape.h"

namespace vdsr::bench {

struct GpuCtx {
  int device = 0;
  cudaStream_t stream = nullptr;
  int reps = 50;            // timed repeats per row (at most; see time_calls)
  int runs = 1;             // times each conv row is timed (time_row)
  size_t l2_bytes = 0;
  double row_budget_ms = 1500.0;  // fewer repeats (never under kMinReps) for slow rows
  std::string precision = "all";  // --precision: the rows of this one only ("all": every one)
  bool wants(const std::string& p) const { return precision == "all" || precision == p; }
  // "" while --time-limit has not passed (or none was given), else why a row is not started: for
  // a group long enough to need checks between its own rows (cuDNN's at 1080p).
  std::function<std::string()> out_of_time;
};

constexpr int kMinReps = 5;
constexpr int kWarmup = 3;

// Times fn(i) for i = 0, 1, 2, ...: kWarmup untimed calls, then up to ctx.reps calls queued back
// to back with an event between consecutive calls (no host synchronisation in the timed loop). fn
// rotates its buffers by i. ms: the median of the per-call times; reps: those calls. block_ms: the
// mean of block_reps further calls (a quarter as many, at least 2) queued back to back with events
// at the block's two ends only: the cross-check, since events between calls can add a gap or hide
// one (a launch with programmatic dependent launch overlaps only the kernel right before it).
struct Timing {
  double ms = 0.0, block_ms = 0.0;
  int reps = 0, block_reps = 0;
};
Timing time_calls(const GpuCtx& ctx, const std::function<void(int)>& fn);
// time_calls' median; *reps_used gets the number of timed calls.
double time_ms(const GpuCtx& ctx, const std::function<void(int)>& fn, int* reps_used);
// A row's timing: time_calls ctx.runs times; r.ms and r.block_ms the medians over the runs,
// r.run_ms each run's median, r.reps the calls of one run.
void time_row(const GpuCtx& ctx, Row& r, const std::function<void(int)>& fn);

// A row that was not timed, and why (its status "skipped: why").
Row skipped(const std::string& op, const std::string& shape, const std::string& impl, const std::string& why,
            const std::string& precision = "fp32");

// Owned device float buffer.
struct DevFloats {
  Buffer buf;
  size_t n = 0;
  DevFloats() = default;
  DevFloats(int device, size_t count);
  float* get() { return static_cast<float*>(buf.data()); }
  const float* get() const { return static_cast<const float*>(buf.data()); }
};

std::vector<float> download(const float* d, size_t n);
// The same values in double (the CPU references' operands).
inline std::vector<double> to_double(const std::vector<float>& v) { return {v.begin(), v.end()}; }
void upload(float* d, const std::vector<float>& h);
void poison(float* d, size_t n, cudaStream_t stream);  // all bytes 0xFF: NaN floats
void sync(cudaStream_t stream);

// Weights [K][C][3][3] -> [K][3][3][C] (cuDNN's NHWC filter format; the GEMM's B operand).
std::vector<float> kcrs_to_krsc(const std::vector<float>& w, int64_t K, int64_t C);
std::vector<float> krsc_to_kcrs(const std::vector<float>& w, int64_t K, int64_t C);

// One set of conv operands: inputs x, w (KCRS and a KRSC copy), b, dy; outputs y, dx, dw, db.
struct ConvSet {
  float *x, *w, *w_krsc, *b, *dy, *y, *dx, *dw, *db;
};

struct ConvCase {
  ConvShape s;
  std::string shape_text;
  std::vector<DevFloats> storage;
  std::vector<ConvSet> sets;  // rotated between timed calls so the working set exceeds L2
  // Host copies of our default variant's outputs on set 0: "plain" = no bias, no ReLU, no mask
  // (what cuDNN and cuBLAS compute), "real" = the network's configuration (bias + ReLU forward,
  // ReLU mask of x in backward-data). dw is KCRS. Empty when our default failed (ref_error says).
  std::vector<float> y_plain, dx_plain, y_real, dx_real, dw, db;
  std::string ref_error;
  const ConvSet& set(int i) const { return sets[size_t(i) % sets.size()]; }
};

// Allocates and fills the sets (random inputs, outputs poisoned) and computes the references.
ConvCase make_conv_case(const GpuCtx& ctx, const ConvShape& s);

// The error tolerance of an fp32 row against an fp32 reference with another summation order:
// rounding of sums of up to 9*64*N*H*W terms lands around 1e-6 relative; 1e-4 catches any
// indexing or layout mistake (those give errors of order 1) with a wide margin.
constexpr double kFp32Tol = 1e-4;
// TF32 operands (10-bit mantissa): about 3e-4 expected; bf16 operands and output: about 4e-3.
constexpr double kTf32Tol = 5e-3;
constexpr double kBf16Tol = 2e-2;

}  // namespace vdsr::bench
