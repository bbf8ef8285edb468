#include "bench/cpu_verify.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "engine/error.h"
#include "kernels/conv_fwd.h"
#include "kernels/euclidean_loss.h"

namespace vdsr::bench {

namespace {

// A sum written out in double with the sum of its terms' magnitudes, for the error bound.
struct Sum {
  double value = 0, magnitude = 0;
  void add(double t) {
    value += t;
    magnitude += std::abs(t);
  }
};

void check(const char* row, double got, const Sum& want, double rel) {
  const double err = std::abs(got - want.value);
  VDSR_CHECK(err <= rel * want.magnitude + 1e-30,
             "vdsr_bench: " << row << " is wrong at the timed shape: " << got << " against " << want.value
                            << " (error " << err << ", bound " << rel * want.magnitude << ")");
}

}  // namespace

void verify_conv_rows(const ConvShape& s, const float* x, const float* wt, const float* b,
                      const float* y, const float* dy, const float* dx, const float* dw,
                      const float* db, int samples) {
  std::mt19937_64 rng(12345);
  auto pick = [&](int64_t n) { return int64_t(rng() % uint64_t(n)); };
  auto X = [&](int64_t n, int64_t h, int64_t w, int64_t c) -> double {
    return h < 0 || h >= s.H || w < 0 || w >= s.W ? 0.0 : double(x[((n * s.H + h) * s.W + w) * s.C + c]);
  };
  auto DY = [&](int64_t n, int64_t h, int64_t w, int64_t k) -> double {
    return h < 0 || h >= s.H || w < 0 || w >= s.W ? 0.0 : double(dy[((n * s.H + h) * s.W + w) * s.K + k]);
  };
  auto WT = [&](int64_t k, int64_t c, int r, int q) -> double { return wt[((k * s.C + c) * 3 + r) * 3 + q]; };
  constexpr double kRel = 2e-5;
  for (int i = 0; i < samples; ++i) {
    // Forward (bias and ReLU included: |relu(a) - relu(b)| <= |a - b|).
    {
      const int64_t n = pick(s.N), h = pick(s.H), w = pick(s.W), k = pick(s.K);
      Sum sum;
      sum.add(b[k]);
      for (int64_t c = 0; c < s.C; ++c)
        for (int r = 0; r < 3; ++r)
          for (int q = 0; q < 3; ++q) sum.add(X(n, h + r - 1, w + q - 1, c) * WT(k, c, r, q));
      sum.value = std::max(sum.value, 0.0);
      check("conv3x3_fwd", y[((n * s.H + h) * s.W + w) * s.K + k], sum, kRel);
    }
    // Backward-data, masked where the input (the ReLU source) is not positive.
    {
      const int64_t n = pick(s.N), h = pick(s.H), w = pick(s.W), c = pick(s.C);
      Sum sum;
      for (int64_t k = 0; k < s.K; ++k)
        for (int r = 0; r < 3; ++r)
          for (int q = 0; q < 3; ++q) sum.add(DY(n, h - r + 1, w - q + 1, k) * WT(k, c, r, q));
      if (X(n, h, w, c) <= 0) sum.value = 0;
      check("conv3x3_bwd_data", dx[((n * s.H + h) * s.W + w) * s.C + c], sum, kRel);
    }
  }
  // Backward-weight: a sum over every pixel per element, so fewer samples.
  for (int i = 0; i < std::max(1, samples / 16); ++i) {
    const int64_t k = pick(s.K), c = pick(s.C);
    const int r = int(pick(3)), q = int(pick(3));
    Sum sum;
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t h = 0; h < s.H; ++h)
        for (int64_t w = 0; w < s.W; ++w) sum.add(DY(n, h, w, k) * X(n, h + r - 1, w + q - 1, c));
    check("conv3x3_bwd_weight", dw[((k * s.C + c) * 3 + r) * 3 + q], sum, kRel);
  }
  for (int64_t k = 0; k < s.K; ++k) {
    Sum sum;
    for (int64_t p = 0; p < s.pixels(); ++p) sum.add(dy[p * s.K + k]);
    check("conv3x3_bwd_weight (bias)", db[k], sum, kRel);
  }
}

void verify_network_forward(const Vdsr& model, int H, int W, const float* in, const float* out) {
  constexpr int kR = 20, kSide = 2 * kR + 1;  // the receptive field
  const std::vector<float> p = model.weights().params;
  const std::vector<double> params(p.begin(), p.end());
  for (const auto& centre : {std::pair<int, int>{H / 2, W / 2}, std::pair<int, int>{0, 0}}) {
    // Plain ints, not a structured binding: C++17 lambdas (mask, below) cannot capture one.
    const int py = centre.first, px = centre.second;
    // The window around (py, px), zero outside the image as the network pads.
    std::vector<double> a(size_t(kSide) * kSide, 0.0);
    for (int y = 0; y < kSide; ++y)
      for (int x = 0; x < kSide; ++x) {
        const int iy = py + y - kR, ix = px + x - kR;
        if (iy >= 0 && iy < H && ix >= 0 && ix < W) a[size_t(y) * kSide + x] = in[size_t(iy) * W + ix];
      }
    // The window's own zero padding is 20 pixels from its centre: after 20 layers it has not
    // reached it. Where the window passes the image's edge, the network's maps are zero (its
    // padding), so every map is masked there.
    auto mask = [&](std::vector<double>& m, int channels) {
      for (int y = 0; y < kSide; ++y)
        for (int x = 0; x < kSide; ++x) {
          const int iy = py + y - kR, ix = px + x - kR;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W)
            std::fill_n(m.begin() + (size_t(y) * kSide + x) * size_t(channels), channels, 0.0);
        }
    };
    std::vector<double> cur = a;
    for (const auto& l : model.layers()) {
      std::vector<double> next(size_t(kSide) * kSide * size_t(l.K));
      conv_fwd_ref({1, kSide, kSide, l.C, l.K}, cur.data(), params.data() + l.w_offset,
                      l.b_offset >= 0 ? params.data() + l.b_offset : nullptr, l.relu, next.data());
      mask(next, l.K);
      cur.swap(next);
    }
    const double want = a[size_t(kR) * kSide + kR] + cur[size_t(kR) * kSide + kR];
    const double got = out[size_t(py) * W + px];
    VDSR_CHECK(std::abs(got - want) <= 1e-4 * std::max(1.0, std::abs(want)),
               "vdsr_bench: network forward is wrong at pixel (" << py << ", " << px << "): " << got
                                                                 << " against " << want);
  }
}

void verify_training_step(Vdsr& model, int N, const float* x, const float* target) {
  const int64_t px = int64_t(N) * 41 * 41;
  std::vector<float> pred(static_cast<size_t>(px));
  model.forward(N, 41, 41, x, pred.data());
  StepOptions zero;
  zero.lr = 1e-300;  // the step changes nothing representable: the weights stay
  zero.optim.clip_mode = ClipMode::None;
  zero.optim.weight_decay = 0;
  const StepStats st = model.train_step(N, 41, 41, x, target, zero);
  const std::vector<double> pd(pred.begin(), pred.end()), td(target, target + px);
  const double want = euclidean_loss_ref(N, px, pd.data(), td.data(), nullptr);
  VDSR_CHECK(std::abs(st.loss - want) <= 1e-5 * want,
             "vdsr_bench: training step loss " << st.loss << " against " << want << " from the forward");
  const auto& last = model.layers().back();
  if (last.b_offset < 0) return;
  Sum sum;
  for (int64_t i = 0; i < px; ++i) sum.add((pd[size_t(i)] - td[size_t(i)]) / N);
  check("training step (last bias gradient)", model.grads()[last.b_offset], sum, 1e-4);
}

}  // namespace vdsr::bench
