// Table and JSON output of vdsr_bench, and the error measure used to verify rows (bench_rows.h).
#include "bench/bench_rows.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>

#include "tools/cli.h"

namespace vdsr::bench {

namespace {

template <typename T>
double rel_l2_impl(const float* a, const T* b, size_t n) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double x = double(a[i]), r = double(b[i]);
    if (!std::isfinite(x)) return std::numeric_limits<double>::infinity();
    num += (x - r) * (x - r);
    den += r * r;
  }
  if (den == 0.0) return num == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  return std::sqrt(num / den);
}

std::string fmt(int decimals, double v) {
  if (!std::isfinite(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

double rel_l2(const float* a, const float* b, size_t n) { return rel_l2_impl(a, b, n); }
double rel_l2(const float* a, const double* b, size_t n) { return rel_l2_impl(a, b, n); }

double median_seconds(int reps, const std::function<void()>& fn) {
  fn();  // warm-up
  std::vector<double> t;
  for (int i = 0; i < std::max(1, reps); ++i) {
    const auto a = std::chrono::steady_clock::now();
    fn();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
  }
  return median(std::move(t));
}

std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double median(std::vector<double> v) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const size_t h = v.size() / 2;
  return v.size() % 2 ? v[h] : 0.5 * (v[h - 1] + v[h]);
}

double train_step_flop(const std::vector<LayerDesc>& layers, int64_t pixels) {
  double f = 0.0;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerDesc& l = layers[i];
    f += 2.0 * double(l.R) * double(l.R) * double(l.C) * double(l.K) * double(pixels) * (i == 0 ? 2.0 : 3.0);
  }
  return f;
}

namespace {

// cuDNN's best like-for-like time for one (op, shape, precision): each run's fastest algorithm,
// then the median over the runs (vdsr_bench --runs; one run: the fastest row), with the spread.
struct Best {
  std::vector<double> per_run;  // the fastest row's time in run k
  std::vector<std::string> algo;
  double ms = 0.0, lo = 0.0, hi = 0.0;
  std::string median_algo;  // the algorithm of the run closest to the median
};

std::map<std::string, Best> cudnn_bests(const std::vector<Row>& rows) {
  std::map<std::string, Best> best;
  for (const auto& r : rows) {
    if (!r.ok() || r.impl != "cudnn") continue;
    Best& b = best[r.op + "|" + r.shape + "|" + r.precision];
    const std::vector<double> runs = r.run_ms.empty() ? std::vector<double>{r.ms} : r.run_ms;
    if (b.per_run.size() < runs.size()) {
      b.per_run.resize(runs.size(), std::numeric_limits<double>::infinity());
      b.algo.resize(runs.size());
    }
    for (size_t k = 0; k < runs.size(); ++k)
      if (runs[k] < b.per_run[k]) {
        b.per_run[k] = runs[k];
        b.algo[k] = r.algo;
      }
  }
  for (auto& [key, b] : best) {
    b.ms = median(b.per_run);
    b.lo = *std::min_element(b.per_run.begin(), b.per_run.end());
    b.hi = *std::max_element(b.per_run.begin(), b.per_run.end());
    size_t at = 0;
    for (size_t k = 1; k < b.per_run.size(); ++k)
      if (std::abs(b.per_run[k] - b.ms) < std::abs(b.per_run[at] - b.ms)) at = k;
    b.median_algo = b.algo[at];
  }
  return best;
}

}  // namespace

nlohmann::json table_json(const std::vector<Row>& rows) {
  // Peaks: the fastest cuBLAS GEMM of each precision. Like-for-like cuDNN: fp32 rows against
  // cuDNN's FMA-math algorithms, tf32 / bf16 rows against its tensor-op ones of that precision.
  std::map<std::string, double> peak;
  for (const auto& r : rows)
    if (r.ok() && r.impl == "cublas" && r.op == "gemm") peak[r.precision] = std::max(peak[r.precision], r.tflops());
  const std::map<std::string, Best> cudnn_best = cudnn_bests(rows);
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    const double tf = r.tflops();
    // CUDA-core rows (math fma: the fp32 rows, and the bf16 mode's thin layers) against the fp32 peak.
    const auto p = peak.find(r.math == "fma" ? std::string("fp32") : r.precision);
    const double pct = (p != peak.end() && p->second > 0) ? 100.0 * tf / p->second
                                                          : std::numeric_limits<double>::quiet_NaN();
    double ratio = std::numeric_limits<double>::quiet_NaN();
    const auto b = cudnn_best.find(r.op + "|" + r.shape + "|" + r.precision);
    if (r.impl == "ours" && r.ok() && b != cudnn_best.end()) ratio = b->second.ms / r.ms;
    nlohmann::json j = {{"op", r.op},         {"shape", r.shape},   {"impl", r.impl},
                        {"precision", r.precision}, {"math", r.math}, {"algo", r.algo},
                        {"flop", r.flop},     {"status", r.status}, {"reps", r.reps},
                        {"verified_against", r.ref}};
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    j["median_ms"] = num(r.ms);
    j["block_ms"] = num(r.block_ms);
    if (!r.run_ms.empty()) j["run_ms"] = r.run_ms;
    j["tflops"] = num(tf);
    j["rel_err"] = num(r.err);
    j["pct_of_measured_peak"] = num(pct);
    j["x_cudnn_best"] = num(ratio);
    if (b != cudnn_best.end() && r.impl == "ours") {
      j["cudnn_best_algo"] = b->second.median_algo;
      j["cudnn_best_ms"] = b->second.ms;
      j["cudnn_best_run_ms"] = b->second.per_run;
    }
    if (!r.extra.empty()) j["extra"] = r.extra;
    out.push_back(j);
  }
  return out;
}

nlohmann::json print_table(const std::vector<Row>& rows) {
  const nlohmann::json table = table_json(rows);
  const auto num = [](const nlohmann::json& v) {
    return v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
  };
  std::printf("%-36s %-6s %-15s %-40s %10s %10s %17s %8s %6s %8s  %s\n", "row", "impl", "precision/math",
              "algorithm / variant", "median ms", "block ms", "runs min..max", "TFLOP/s", "%peak", "xcuDNN", "status");
  for (const auto& j : table) {
    std::string spread = "-";
    if (j["status"] == "ok" && j.contains("run_ms") && j["run_ms"].size() > 1) {
      const std::vector<double> runs = j["run_ms"].get<std::vector<double>>();
      spread = fmt(4, *std::min_element(runs.begin(), runs.end())) + ".." +
               fmt(4, *std::max_element(runs.begin(), runs.end()));
    }
    const std::string name = j["op"].get<std::string>() + " " + j["shape"].get<std::string>();
    std::printf("%-36s %-6s %-15s %-40s %10s %10s %17s %8s %6s %8s  %s\n", name.c_str(),
                j["impl"].get<std::string>().c_str(),
                (j["precision"].get<std::string>() + "/" + j["math"].get<std::string>()).c_str(),
                j["algo"].get<std::string>().c_str(), fmt(4, num(j["median_ms"])).c_str(),
                fmt(4, num(j["block_ms"])).c_str(), spread.c_str(), fmt(2, num(j["tflops"])).c_str(),
                fmt(1, num(j["pct_of_measured_peak"])).c_str(), fmt(2, num(j["x_cudnn_best"])).c_str(),
                j["status"].get<std::string>().c_str());
  }
  std::printf("TFLOP/s: 2*9*C*K*N*H*W per conv pass; train_iteration: fwd + bwd-weight (all layers) + "
              "bwd-data (layers 2..20); inference 2*664,704 per pixel. %%peak: of the cuBLAS GEMM of the "
              "same precision measured in this run. median ms: of per-call event times; block ms: one "
              "back-to-back block of the same calls / their number (the cross-check). With --runs N each "
              "row is timed N times: median ms is the median of the runs' medians, min..max their spread. "
              "xcuDNN: cuDNN's best like-for-like time (each run's fastest algorithm, the median over the "
              "runs) / ours (> 1 = ours faster).\n");
  const std::map<std::string, Best> cudnn_best = cudnn_bests(rows);
  if (!cudnn_best.empty()) {
    std::printf("cuDNN's best per op, shape and precision (median over the runs of each run's fastest algorithm):\n");
    for (const auto& [key, b] : cudnn_best)
      std::printf("  %-50s %10s ms  (runs %s..%s)  %s\n", key.c_str(), fmt(4, b.ms).c_str(), fmt(4, b.lo).c_str(),
                  fmt(4, b.hi).c_str(), b.median_algo.c_str());
  }
  cli::flush_stdout();
  return table;
}

}  // namespace vdsr::bench
