// vdsr_bench's own checks and arithmetic, on the CPU. It checks its CPU rows at the timed shapes
// before it times them (bench/cpu_verify.h); a checker that always passes would let a wrong kernel
// be timed unnoticed, so here it is given right results (the double references rounded to float),
// which it must accept, and results with one thing wrong (a transposed tap, an unmasked gradient, a
// dropped image, a bias off by a little), which it must refuse, naming the row. Its table's ratios
// to cuDNN and shares of the measured peak (bench/bench_rows.h) are checked on figures chosen by hand.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "bench/bench_rows.h"
#include "bench/cpu_verify.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "tests/support/test_support.h"

using namespace vdsr;
using test::random_floats;
using test::to_double;

namespace {

std::vector<float> to_float(const std::vector<double>& v) { return std::vector<float>(v.begin(), v.end()); }

// One shape's inputs and the four results of its rows.
struct ConvRows {
  ConvShape s;
  std::vector<float> x, wt, b, y, dy, dx, dw, db;
};

// The same seeded inputs every time; the outputs computed with `wt_used` (the weights, or a wrong
// version of them).
ConvRows right_rows(const ConvShape& s, const std::vector<float>& wt_used) {
  ConvRows r;
  r.s = s;
  r.x = random_floats(size_t(s.in_elems()), -1, 1, 91);
  r.b = random_floats(size_t(s.K), -1, 1, 92);
  r.wt = random_floats(size_t(s.weight_elems()), -1, 1, 93);
  r.dy = random_floats(size_t(s.out_elems()), -1, 1, 94);
  const auto xd = to_double(r.x), wd = to_double(wt_used), bd = to_double(r.b), dyd = to_double(r.dy);
  std::vector<double> y(size_t(s.out_elems())), dx(size_t(s.in_elems())), dw(size_t(s.weight_elems())),
      db(size_t(s.K));
  conv_fwd_ref(s, xd.data(), wd.data(), bd.data(), true, y.data());
  conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), xd.data(), dx.data());
  conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), dw.data(), db.data());
  r.y = to_float(y);
  r.dx = to_float(dx);
  r.dw = to_float(dw);
  r.db = to_float(db);
  return r;
}

void verify(const ConvRows& r) {
  bench::verify_conv_rows(r.s, r.x.data(), r.wt.data(), r.b.data(), r.y.data(), r.dy.data(), r.dx.data(),
                          r.dw.data(), r.db.data(), 64);
}

}  // namespace

TEST_CASE("vdsr_bench's CPU verification accepts right conv results and refuses wrong ones, naming the row") {
  const ConvShape s{2, 9, 11, 16, 16};
  ConvRows ok = right_rows(s, random_floats(size_t(s.weight_elems()), -1, 1, 93));
  REQUIRE_NOTHROW(verify(ok));

  // The forward and backward-data computed with each 3x3 filter transposed (r and q swapped): the
  // wrong tap for 6 of the 9 weights, an error about the size of the sum itself.
  std::vector<float> transposed(ok.wt.size());
  for (size_t f = 0; f < transposed.size() / 9; ++f)
    for (int r = 0; r < 3; ++r)
      for (int q = 0; q < 3; ++q) transposed[f * 9 + size_t(r * 3 + q)] = ok.wt[f * 9 + size_t(q * 3 + r)];
  const ConvRows tap = right_rows(s, transposed);
  ConvRows bad = ok;
  bad.y = tap.y;
  CHECK_THROWS_WITH(verify(bad), Catch::Contains("conv3x3_fwd is wrong at the timed shape"));
  bad = ok;
  bad.dx = tap.dx;
  CHECK_THROWS_WITH(verify(bad), Catch::Contains("conv3x3_bwd_data is wrong at the timed shape"));

  // Backward-data without the ReLU mask: wrong wherever the input is not positive (about half).
  bad = ok;
  {
    const auto dyd = to_double(ok.dy), wd = to_double(ok.wt);
    std::vector<double> unmasked(ok.dx.size());
    conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), nullptr, unmasked.data());
    bad.dx = to_float(unmasked);
  }
  CHECK_THROWS_WITH(verify(bad), Catch::Contains("conv3x3_bwd_data is wrong"));

  // The weight gradient summed without the last image of the batch.
  bad = ok;
  {
    const ConvShape one{1, s.H, s.W, s.C, s.K};
    const auto xd = to_double(ok.x), dyd = to_double(ok.dy);
    std::vector<double> dw(ok.dw.size()), db(ok.db.size());
    conv3x3_bwd_weight_ref(one, xd.data(), dyd.data(), dw.data(), db.data());
    bad.dw = to_float(dw);
  }
  CHECK_THROWS_WITH(verify(bad), Catch::Contains("conv3x3_bwd_weight is wrong"));

  // One bias gradient off by 1e-3 of its terms' magnitude (the bound is 2e-5 of it): every bias
  // gradient is checked, not sampled.
  bad = ok;
  double magnitude = 0;
  for (int64_t p = 0; p < s.pixels(); ++p) magnitude += std::abs(double(ok.dy[size_t(p * s.K + 5)]));
  bad.db[5] += float(1e-3 * magnitude);
  CHECK_THROWS_WITH(verify(bad), Catch::Contains("conv3x3_bwd_weight (bias) is wrong"));
}

TEST_CASE("vdsr_bench's table: cuDNN's best is the median over the runs of each run's fastest algorithm") {
  // Figures chosen by hand. Two cuDNN algorithms timed in 4 runs; each run's fastest is 0.050 (A),
  // 0.080 (B), 0.065 (B), 0.058 (A): the median of an even count is the mean of the middle two,
  // (0.058 + 0.065) / 2 = 0.0615, the spread 0.050..0.080. Ours at 0.03075 ms is then 2x cuDNN.
  auto row = [](const std::string& impl, const std::string& precision, const std::string& algo, double ms,
                std::vector<double> runs) {
    bench::Row r;
    r.op = "conv3x3_fwd";
    r.shape = "64x41x41 64->64";
    r.impl = impl;
    r.precision = precision;
    r.math = "bf16-tensor-op";
    r.algo = algo;
    r.flop = 1e9;
    r.ms = ms;
    r.run_ms = std::move(runs);
    return r;
  };
  std::vector<bench::Row> rows = {row("cudnn", "bf16", "A", 0.050, {0.050, 0.090, 0.070, 0.058}),
                                  row("cudnn", "bf16", "B", 0.055, {0.055, 0.080, 0.065, 0.075}),
                                  row("cudnn", "fp32", "C", 0.010, {0.010}),  // another precision: not like for like
                                  row("ours", "bf16", "wgmma", 0.03075, {0.03075})};
  bench::Row gemm;  // the measured peak: 1e12 FLOP in 1 ms, 1,000 TFLOP/s
  gemm.op = "gemm";
  gemm.shape = "8192^3";
  gemm.impl = "cublas";
  gemm.precision = "bf16";
  gemm.math = "bf16-tensor-op";
  gemm.flop = 1e12;
  gemm.ms = 1.0;
  rows.push_back(gemm);
  const nlohmann::json t = bench::print_table(rows);
  REQUIRE(t.size() == rows.size());
  CHECK(t == bench::table_json(rows));  // the JSON --json writes, checkpoints included
  const nlohmann::json& ours = t[3];
  REQUIRE(ours.at("impl") == "ours");
  CHECK(ours.at("cudnn_best_ms").get<double>() == Approx(0.0615).epsilon(1e-12));
  CHECK(ours.at("cudnn_best_run_ms") == nlohmann::json({0.050, 0.080, 0.065, 0.058}));
  CHECK(ours.at("x_cudnn_best").get<double>() == Approx(2.0).epsilon(1e-12));
  CHECK((ours.at("cudnn_best_algo") == "A" || ours.at("cudnn_best_algo") == "B"));  // the two middle runs tie
  // 1e9 FLOP in 0.03075 ms is 32.52 TFLOP/s: 3.252 % of the bf16 GEMM's 1,000.
  CHECK(ours.at("tflops").get<double>() == Approx(1e9 / 0.03075e-3 / 1e12).epsilon(1e-12));
  CHECK(ours.at("pct_of_measured_peak").get<double>() == Approx(100.0 * (1e9 / 0.03075e-3 / 1e12) / 1000.0).epsilon(1e-12));
  CHECK(t[0].at("x_cudnn_best").is_null());  // cuDNN's own rows have no ratio
  // One run: its fastest row is the best, and the median of one value is that value.
  CHECK(bench::median({0.3}) == 0.3);
  CHECK(bench::median({0.4, 0.1, 0.3}) == 0.3);
  CHECK(bench::median({0.4, 0.1, 0.3, 0.2}) == Approx(0.25).epsilon(1e-15));
  CHECK(std::isnan(bench::median({})));
}
