// Table and JSON output of vdsr_bench, and the error measure used to verify rows (bench_rows.h).
#include "bench/bench_rows.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>

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
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json print_table(const std::vector<Row>& rows) {
  // Peaks: the fastest cuBLAS GEMM of each precision. Like-for-like cuDNN: fp32 rows against
  // cuDNN's FMA-math algorithms, tf32 / bf16 rows against its tensor-op ones of that precision.
  std::map<std::string, double> peak;
  std::map<std::string, double> cudnn_best;  // key op|shape|precision -> ms
  std::map<std::string, std::string> cudnn_best_algo;
  for (const auto& r : rows) {
    if (!r.ok()) continue;
    if (r.impl == "cublas" && r.op == "gemm") peak[r.precision] = std::max(peak[r.precision], r.tflops());
    if (r.impl == "cudnn") {
      const std::string key = r.op + "|" + r.shape + "|" + r.precision;
      auto it = cudnn_best.find(key);
      if (it == cudnn_best.end() || r.ms < it->second) {
        cudnn_best[key] = r.ms;
        cudnn_best_algo[key] = r.algo;
      }
    }
  }
  nlohmann::json out = nlohmann::json::array();
  std::printf("%-36s %-6s %-15s %-40s %10s %8s %6s %8s  %s\n", "row", "impl", "precision/math",
              "algorithm / variant", "median ms", "TFLOP/s", "%peak", "xcuDNN", "status");
  for (const auto& r : rows) {
    const double tf = r.tflops();
    const auto p = peak.find(r.precision);
    const double pct = (p != peak.end() && p->second > 0) ? 100.0 * tf / p->second
                                                          : std::numeric_limits<double>::quiet_NaN();
    double ratio = std::numeric_limits<double>::quiet_NaN();
    const std::string key = r.op + "|" + r.shape + "|" + r.precision;
    const auto b = cudnn_best.find(key);
    if (r.impl == "ours" && r.ok() && b != cudnn_best.end()) ratio = b->second / r.ms;
    const std::string name = r.op + " " + r.shape;
    std::printf("%-36s %-6s %-15s %-40s %10s %8s %6s %8s  %s\n", name.c_str(), r.impl.c_str(),
                (r.precision + "/" + r.math).c_str(), r.algo.c_str(), fmt(4, r.ms).c_str(),
                fmt(2, tf).c_str(), fmt(1, pct).c_str(), fmt(2, ratio).c_str(),
                r.status.c_str());
    nlohmann::json j = {{"op", r.op},         {"shape", r.shape},   {"impl", r.impl},
                        {"precision", r.precision}, {"math", r.math}, {"algo", r.algo},
                        {"flop", r.flop},     {"status", r.status}, {"reps", r.reps},
                        {"verified_against", r.ref}};
    auto num = [](double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); };
    j["median_ms"] = num(r.ms);
    j["tflops"] = num(tf);
    j["rel_err"] = num(r.err);
    j["pct_of_measured_peak"] = num(pct);
    j["x_cudnn_best"] = num(ratio);
    if (b != cudnn_best.end() && r.impl == "ours") j["cudnn_best_algo"] = cudnn_best_algo[key];
    if (!r.extra.empty()) j["extra"] = r.extra;
    out.push_back(j);
  }
  std::printf("TFLOP/s: 2*9*C*K*N*H*W per conv pass; train_iteration: fwd + bwd-weight (all layers) + "
              "bwd-data (layers 2..20); inference 2*664,704 per pixel. %%peak: of the cuBLAS GEMM of the "
              "same precision measured in this run. xcuDNN: cuDNN's best like-for-like time / ours "
              "(> 1 = ours faster).\n");
  std::fflush(stdout);
  return out;
}

}  // namespace vdsr::bench
