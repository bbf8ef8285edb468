// The rows vdsr_bench measures and how it prints them. A row is one (op, shape, implementation,
// precision / math mode, algorithm or variant); its status says whether it was verified and timed
// ("ok"), skipped (and why) or failed verification (and how).
//
// FLOP counts (one multiply-add = 2 FLOP):
//   a 3x3 conv pass (forward, backward-data or backward-weight): 2 * 9 * C * K * N * H * W;
//   the network forward: 2 * 664,704 per pixel (the sum of 9 C K over the 20 layers);
//   a training iteration: forward + backward-weight of every layer + backward-data of every layer
//   but the first (no gradient w.r.t. the input image), summed over the layers;
//   a GEMM M x N x K: 2 * M * N * K.
#pragma once

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kernels/conv_shape.h"
#include "model/vdsr_config.h"

namespace vdsr::bench {

struct Row {
  std::string op;         // conv3x3_fwd, conv3x3_bwd_data, conv3x3_bwd_weight, train_iteration,
                          // inference, gemm
  std::string shape;      // "64x41x41 64->64", "8192^3"
  std::string impl;       // cpu, ours, cudnn, cublas
  std::string precision;  // fp32, tf32, bf16 (storage / multiply precision; accumulation is fp32)
  std::string math;       // fma (no tensor cores), tf32-tensor-op, bf16-tensor-op
  std::string algo;       // our variant, cuDNN's algorithm, cuBLAS' routine
  double flop = 0.0;
  double ms = std::numeric_limits<double>::quiet_NaN();  // median per call (of the runs' medians)
  double block_ms = std::numeric_limits<double>::quiet_NaN();  // a block with end events only / its calls
  std::vector<double> run_ms;  // GPU: each run's median (vdsr_bench --runs)
  double err = std::numeric_limits<double>::quiet_NaN();  // verification: ||out - ref|| / ||ref||
  std::string ref;        // what it was verified against
  std::string status = "ok";  // ok | skipped: why | FAILED: why
  int reps = 0;
  nlohmann::json extra = nlohmann::json::object();

  bool ok() const { return status == "ok" && std::isfinite(ms); }
  double tflops() const { return ok() ? flop / (ms * 1e-3) / 1e12 : std::numeric_limits<double>::quiet_NaN(); }
};

inline std::string conv_shape_text(const ConvShape& s) {
  return std::to_string(s.N) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W) + " " +
         std::to_string(s.C) + "->" + std::to_string(s.K);
}

inline double conv_flop(const ConvShape& s) { return 2.0 * s.macs(); }

// Measured peaks by precision (the cuBLAS GEMM rows) and cuDNN's best like-for-like time per
// (op, shape, precision), then the rows as JSON with % of peak and ours' speed relative to cuDNN's
// best filled in. print_table also prints them as the table (stdout).
nlohmann::json table_json(const std::vector<Row>& rows);
nlohmann::json print_table(const std::vector<Row>& rows);

// ||a - b|| / ||b|| in double; +inf when a has a non-finite element or the sizes differ.
double rel_l2(const float* a, const float* b, size_t n);
double rel_l2(const float* a, const double* b, size_t n);

// The median wall time of `reps` calls of fn (at least one), after one untimed call.
double median_seconds(int reps, const std::function<void()>& fn);
// n floats uniform in [lo, hi) from std::mt19937(seed): the bench's test data, the same on every run.
std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi);
// The median (the mean of the middle two for an even count; NaN for none).
double median(std::vector<double> v);
// FLOP of one training iteration over `pixels` pixels (see the top of this file).
double train_step_flop(const std::vector<LayerDesc>& layers, int64_t pixels);

}  // namespace vdsr::bench
