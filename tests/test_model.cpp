// Whole-network tests: a double-precision VDSR built from the *_ref ops is checked against finite
// differences, and the float model (kernels/*_cpu through model/vdsr) against it; a tiny training
// run must cut the loss; checkpoints round-trip and resume exactly; TTA transforms invert.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "engine/error.h"
#include "engine/thread_pool.h"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv_fwd.h"
#include "kernels/euclidean_loss.h"
#include "kernels/grad_norm.h"
#include "kernels/optim_step.h"
#include "kernels/residual_add.h"
#include "kernels/ops.h"
#include "model/checkpoint.h"
#include "model/precision.h"
#include "model/inference.h"
#include "model/patches.h"
#include "model/vdsr.h"
#include "tests/support/test_support.h"

using namespace vdsr;

namespace {

// The reference network: forward and backward in double from the _ref ops, mirroring
// Vdsr::forward_backward layer by layer.
struct RefNet {
  VdsrConfig cfg;
  std::vector<LayerDesc> layers;
  explicit RefNet(const VdsrConfig& c) : cfg(c), layers(layer_table(c)) {}

  double loss(const std::vector<double>& p, int64_t N, int64_t H, int64_t W,
              const std::vector<double>& x, const std::vector<double>& t,
              std::vector<double>* grads) const {
    const int64_t px = N * H * W;
    std::vector<std::vector<double>> acts;
    std::vector<double> in = x;
    for (const auto& l : layers) {
      std::vector<double> out(size_t(px * l.K));
      conv_fwd_ref({N, H, W, l.C, l.K}, in.data(), p.data() + l.w_offset,
                      l.b_offset >= 0 ? p.data() + l.b_offset : nullptr, l.relu, out.data());
      acts.push_back(in);
      in = out;
    }
    std::vector<double> pred(static_cast<size_t>(px)), dpred(static_cast<size_t>(px));
    residual_add_ref(px, x.data(), in.data(), pred.data());
    const double L = euclidean_loss_ref(N, px, pred.data(), t.data(), dpred.data());
    if (grads == nullptr) return L;
    grads->assign(p.size(), 0.0);
    std::vector<double> dy = dpred;
    for (size_t i = layers.size(); i-- > 0;) {
      const auto& l = layers[i];
      const ConvShape s{N, H, W, l.C, l.K};
      conv3x3_bwd_weight_ref(s, acts[i].data(), dy.data(), grads->data() + l.w_offset,
                             l.b_offset >= 0 ? grads->data() + l.b_offset : nullptr);
      if (i == 0) break;
      std::vector<double> dx(size_t(px * l.C));
      conv3x3_bwd_data_ref(s, dy.data(), p.data() + l.w_offset, acts[i].data(), dx.data());
      dy = dx;
    }
    return L;
  }
};

}  // namespace

TEST_CASE("reference network gradients match finite differences in double") {
  const VdsrConfig cfg{3, 4, true};
  RefNet net(cfg);
  Vdsr init(cfg);
  init.init_he(7);
  std::vector<double> p(init.params(), init.params() + init.num_params());
  // Non-zero biases so their gradients and the ReLU masks are exercised.
  for (const auto& l : net.layers)
    for (int k = 0; k < l.K; ++k) p[size_t(l.b_offset + k)] = 0.05 * (k % 3 - 1);
  const int64_t N = 2, H = 5, W = 6;
  const auto x = test::to_double(test::random_floats(size_t(N * H * W), 0.f, 1.f, 1));
  const auto t = test::to_double(test::random_floats(size_t(N * H * W), 0.f, 1.f, 2));
  std::vector<double> g;
  net.loss(p, N, H, W, x, t, &g);
  const double h = 1e-6;
  int checked = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    auto pp = p, pm = p;
    pp[i] += h;
    pm[i] -= h;
    const double fd = (net.loss(pp, N, H, W, x, t, nullptr) - net.loss(pm, N, H, W, x, t, nullptr)) / (2 * h);
    // Central differences have O(h^2) truncation and ~1e-10 rounding error here; a ReLU kink
    // inside [p-h, p+h] would break this, which random data at this size does not hit.
    INFO("parameter " << i << " analytic " << g[i] << " numeric " << fd);
    REQUIRE(std::abs(fd - g[i]) <= 1e-6 * (1.0 + std::abs(g[i])));
    ++checked;
  }
  REQUIRE(checked == int(param_count(cfg)));
}

TEST_CASE("float model loss and gradients match the double reference network") {
  for (const bool bias : {true, false}) {
    const VdsrConfig cfg{5, 8, bias};
    Vdsr model(cfg);
    model.init_he(3);
    RefNet net(cfg);
    const std::vector<double> p(model.params(), model.params() + model.num_params());
    const int64_t N = 3, H = 9, W = 7;
    const auto xf = test::random_floats(size_t(N * H * W), 0.f, 1.f, 4);
    const auto tf = test::random_floats(size_t(N * H * W), 0.f, 1.f, 5);
    std::vector<double> g;
    const double ref_loss = net.loss(p, N, H, W, test::to_double(xf), test::to_double(tf), &g);
    const double loss = model.forward_backward(N, H, W, xf.data(), tf.data());
    // float32 storage of every activation: relative error ~1e-6 per layer, a few layers deep.
    REQUIRE(std::abs(loss - ref_loss) <= 1e-5 * ref_loss);
    double gmax = 0;
    for (const double v : g) gmax = std::max(gmax, std::abs(v));
    for (size_t i = 0; i < g.size(); ++i) {
      INFO("bias " << bias << " parameter " << i);
      REQUIRE(std::abs(double(model.grads()[i]) - g[i]) <= 1e-4 * gmax);
    }
    // Inference forward equals the training forward's prediction.
    std::vector<float> y(xf.size());
    model.forward(N, H, W, xf.data(), y.data());
    std::vector<double> yd(y.begin(), y.end());
    const double l2 = euclidean_loss_ref(N, N * H * W, yd.data(), test::to_double(tf).data(), nullptr);
    REQUIRE(std::abs(l2 - loss) <= 1e-6 * loss);
  }
}

TEST_CASE("whole training steps of a tiny model equal the double reference network and optimizer") {
  // Two steps of model/vdsr (float ops, fused optimizer pass) against RefNet + optim_step_ref in
  // double, for SGD (norm clip binding), Adam and AdamW (value clip, EMA), with a weight decay large
  // enough (0.5) that decaying the biases too, or not decaying a weight, moves them by far more
  // than the tolerance, and a bias lr multiplier of 0.5.
  // Tolerance: the float gradients are within 1e-4 gmax of the reference (test above), so an SGD
  // step (lr <= 0.05) is within lr 2e-4 gmax, plus float rounding of the weights (2e-7 |w|). Adam
  // normalises every element's step to about lr, so an element whose gradient is within float
  // noise of zero can step either way: those (|g| < 1e-2 gmax) are left out, and the rest agree to
  // 5% of lr.
  const VdsrConfig cfg{4, 6, true};
  for (const Optimizer kind : {Optimizer::Sgd, Optimizer::Adam, Optimizer::AdamW}) {
    INFO(optimizer_name(kind));
    Vdsr model(cfg);
    model.init_he(9);
    std::vector<float> init(model.params(), model.params() + model.num_params());
    const auto layers = layer_table(cfg);
    for (const auto& l : layers)
      for (int k = 0; k < l.K; ++k) init[size_t(l.b_offset + k)] = 0.1f * float(k % 5 - 2) + 0.05f;
    model.set_params(init);
    RefNet net(cfg);
    const int64_t N = 2, H = 9, W = 8, n = model.num_params(), n_w = model.num_weights();
    std::vector<double> p(init.begin(), init.end()), m(size_t(n), 0.0), v(size_t(n), 0.0), e = p;
    StepOptions opt;
    opt.optim.kind = kind;
    opt.optim.weight_decay = 0.5;
    opt.optim.bias_lr_mult = 0.5;
    opt.lr = kind == Optimizer::Sgd ? 0.05 : 1e-3;
    opt.optim.ema = kind == Optimizer::AdamW ? 0.9 : 0.0;
    for (int step = 1; step <= 2; ++step) {
      INFO("step " << step);
      const auto xf = test::random_floats(size_t(N * H * W), 0.f, 1.f, 30 + uint32_t(step));
      const auto tf = test::random_floats(xf.size(), 0.f, 1.f, 40 + uint32_t(step));
      std::vector<double> g;
      const double ref_loss = net.loss(p, N, H, W, test::to_double(xf), test::to_double(tf), &g);
      const double norm = grad_norm_ref(n, g.data());
      double gmax = 0;
      for (const double gi : g) gmax = std::max(gmax, std::abs(gi));
      opt.optim.clip_mode = kind == Optimizer::Sgd ? ClipMode::Norm : kind == Optimizer::AdamW ? ClipMode::Value : ClipMode::None;
      opt.clip = kind == Optimizer::Sgd ? 0.5 * norm : 0.5 * gmax;  // both bind
      const std::vector<double> g_unclipped = g;
      const OptimConfig c = opt.optim;
      optim_step_ref(c, optim_scalars(c, opt.lr, opt.clip, step), norm, n, n_w, p.data(), g.data(), m.data(),
                     v.data(), e.data());
      const StepStats st = model.train_step(N, H, W, xf.data(), tf.data(), opt);
      CHECK(st.loss == Approx(ref_loss).epsilon(1e-5));
      CHECK(st.grad_norm == Approx(norm).epsilon(1e-4));
      int64_t bad = 0, compared = 0;
      const float* ema = model.ema();
      for (int64_t i = 0; i < n; ++i) {
        const double w = model.params()[i];
        double tol = opt.lr * 2e-4 * gmax + 2e-7 * std::abs(p[size_t(i)]);
        if (kind != Optimizer::Sgd) {
          if (std::abs(g_unclipped[size_t(i)]) < 1e-2 * gmax) continue;
          tol = 0.05 * opt.lr + 2e-7 * std::abs(p[size_t(i)]);
        }
        ++compared;
        bad += std::abs(w - p[size_t(i)]) <= tol ? 0 : 1;
        if (ema != nullptr) bad += std::abs(double(ema[i]) - e[size_t(i)]) <= tol ? 0 : 1;
      }
      CHECK(compared > n / 2);
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("the layer plan of each precision: math, map types and GEMM copies per layer") {
  const VdsrConfig cfg{4, 64, true};
  using P = Precision;
  using T = DType;
  const std::vector<LayerPlan> fp32(4, LayerPlan{P::Fp32, T::F32, T::F32, -1});
  CHECK(layer_plan(cfg, P::Fp32) == fp32);
  CHECK(layer_plan(cfg, P::Tf32) == std::vector<LayerPlan>{{P::Fp32, T::F32, T::F32, -1}, {P::Tf32, T::F32, T::F32, 0},
                                                           {P::Tf32, T::F32, T::F32, 1}, {P::Fp32, T::F32, T::F32, -1}});
  CHECK(layer_plan(cfg, P::Bf16) == std::vector<LayerPlan>{{P::Fp32, T::F32, T::BF16, -1}, {P::Bf16, T::BF16, T::BF16, 0},
                                                           {P::Bf16, T::BF16, T::BF16, 1}, {P::Fp32, T::BF16, T::F32, -1}});
  // Each plan chains: a layer reads what the one before it wrote.
  for (const P p : {P::Fp32, P::Tf32, P::Bf16}) {
    const auto plan = layer_plan(VdsrConfig{20, 64, true}, p);
    for (size_t i = 1; i < plan.size(); ++i) CHECK(plan[i].in == plan[i - 1].out);
  }
}

TEST_CASE("on the CPU the layer listing names Winograd for the 64 to 64 layers and the direct method for the thin ones") {
  const Vdsr model(VdsrConfig{4, 64, true}, Device::cpu());
  CHECK(model.layer_kernels_text(0, 1, 8, 8) == "fwd cpu-direct, bwd_data cpu-direct, bwd_weight cpu-direct");
  CHECK(model.layer_kernels_text(1, 1, 8, 8) ==
        "fwd cpu-winograd-f4, bwd_data cpu-winograd-f4, bwd_weight cpu-winograd-f2");
  CHECK(model.layer_kernels_text(3, 1, 8, 8) == "fwd cpu-direct, bwd_data cpu-direct, bwd_weight cpu-direct");
  setenv("VDSR_CPU_CONV", "winograd2", 1);
  CHECK(model.layer_kernels_text(1, 1, 8, 8) ==
        "fwd cpu-winograd-f2, bwd_data cpu-winograd-f2, bwd_weight cpu-winograd-f2");
  setenv("VDSR_CPU_CONV", "direct", 1);
  CHECK(model.layer_kernels_text(1, 1, 8, 8) == "fwd cpu-direct, bwd_data cpu-direct, bwd_weight cpu-direct");
  unsetenv("VDSR_CPU_CONV");
}

TEST_CASE("the CPU's Winograd models agree with the direct method within a tenth of the GPU tests' tolerances") {
  // tests/gpu/test_model_cuda.cpp holds the fp32 GPU model to the CPU's: the forward to 1e-4 of
  // max |y|, a training step's loss to 1e-5, its gradient norm to 1e-3 and each layer's gradient
  // (as a vector) to 1e-2. The GPU's fp32 kernels sum like the direct method; Winograd must not eat
  // those margins, so here it stays within a tenth of each against the direct method.
  const VdsrConfig cfg{};
  Vdsr he(cfg);
  he.init_he(11);
  std::vector<float> params = he.weights().params;
  const size_t nw = size_t(weight_count(cfg));
  const auto biases = test::random_floats(params.size() - nw, -0.05f, 0.05f, 1011);
  std::copy(biases.begin(), biases.end(), params.begin() + std::ptrdiff_t(nw));
  const int64_t N = 4, H = 41, W = 41;
  const auto x = test::random_floats(size_t(N * H * W), 0.0f, 1.0f, 23);
  const auto target = test::random_floats(x.size(), 0.0f, 1.0f, 24);

  struct Run {
    std::vector<float> y, grads;
    StepStats stats;
  };
  const auto run = [&](const char* method) {
    setenv("VDSR_CPU_CONV", method, 1);
    Vdsr m(cfg);
    m.set_params(params);
    Run r;
    r.y.resize(x.size());
    m.forward(N, H, W, x.data(), r.y.data());
    r.stats = m.train_step(N, H, W, x.data(), target.data(), StepOptions{});
    r.grads.assign(m.grads(), m.grads() + m.num_params());
    unsetenv("VDSR_CPU_CONV");
    return r;
  };
  const Run direct = run("direct");
  // Measured: the forward within 3.9e-6 of max |y| with F(2x2) ("winograd2"), 9.0e-6 with F(4x4)
  // ("auto", its backward-data too); each layer's gradient within 3.4e-4 and 5.5e-4.
  for (const char* method : {"winograd2", "auto"}) {
  INFO(method);
  const Run wino = run(method);
  double ymax = 0, ydiff = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    ymax = std::max(ymax, std::fabs(double(direct.y[i])));
    ydiff = std::max(ydiff, std::fabs(double(direct.y[i]) - double(wino.y[i])));
  }
  INFO("forward max |diff| " << ydiff << " of max |y| " << ymax);
  CHECK(ydiff > 0);  // Winograd did run
  CHECK(ydiff <= 1e-5 * ymax);
  INFO("loss " << direct.stats.loss << " / " << wino.stats.loss << ", norm " << direct.stats.grad_norm << " / "
               << wino.stats.grad_norm);
  CHECK(std::fabs(wino.stats.loss - direct.stats.loss) <= 1e-6 * direct.stats.loss);
  CHECK(std::fabs(wino.stats.grad_norm - direct.stats.grad_norm) <= 1e-4 * direct.stats.grad_norm);
  const Vdsr shape(cfg);
  for (size_t li = 0; li < shape.layers().size(); ++li) {
    const LayerDesc& l = shape.layers()[li];
    double diff = 0, norm = 0;
    for (int64_t i = l.w_offset; i < l.w_offset + int64_t(l.K) * l.C * 9; ++i) {
      diff += std::pow(double(wino.grads[size_t(i)]) - double(direct.grads[size_t(i)]), 2);
      norm += std::pow(double(direct.grads[size_t(i)]), 2);
    }
    INFO("layer " << li << " weight gradient: ||diff|| " << std::sqrt(diff) << " of " << std::sqrt(norm));
    CHECK(std::sqrt(diff) <= 1e-3 * std::sqrt(norm));
  }
  }
}

TEST_CASE("the conv entries refuse combinations they have no kernel for, naming them") {
  const ConvShape s{1, 4, 4, 2, 2};
  std::vector<float> x(32, 0.5f), w(36, 0.1f), y(32);
  CHECK_THROWS_WITH(ops::conv_fwd(Device::cpu(), Precision::Fp32, s, {x.data(), DType::BF16}, w.data(), nullptr,
                                     false, nullptr, {y.data(), DType::BF16}),
                    Catch::Contains("no kernel for fp32 math with BF16 -> BF16 maps at 2 -> 2 channels"));
  CHECK_THROWS_WITH(ops::conv_fwd(Device::cpu(), Precision::Tf32, s, {x.data(), DType::F32}, w.data(), nullptr,
                                     false, nullptr, {y.data(), DType::F32}),
                    Catch::Contains("tf32 mode needs a CUDA"));
  CHECK_THROWS_WITH(ops::conv_bwd_weight(Device::cpu(), Precision::Bf16, s, {x.data(), DType::BF16},
                                            {y.data(), DType::BF16}, w.data(), nullptr),
                    Catch::Contains("bf16 mode needs a CUDA"));
  // The bf16 mode's thin layers (fp32 math, one side F32 and the other BF16) are CUDA kernels: on
  // the CPU they throw rather than run the fp32 kernel into a BF16 map.
  CHECK_THROWS_WITH(ops::conv_fwd(Device::cpu(), Precision::Fp32, {1, 4, 4, 1, 2}, {x.data(), DType::F32}, w.data(),
                                     nullptr, true, nullptr, {y.data(), DType::BF16}),
                    Catch::Contains("bf16 mode needs a CUDA"));
  CHECK_THROWS_WITH(ops::conv_bwd_data(Device::cpu(), Precision::Fp32, {1, 4, 4, 2, 1}, {x.data(), DType::F32},
                                          w.data(), {nullptr, DType::BF16}, {y.data(), DType::BF16}),
                    Catch::Contains("bf16 mode needs a CUDA"));
  CHECK_THROWS_WITH(ops::conv_bwd_weight(Device::cpu(), Precision::Fp32, {1, 4, 4, 2, 1}, {x.data(), DType::BF16},
                                            {y.data(), DType::F32}, w.data(), nullptr),
                    Catch::Contains("bf16 mode needs a CUDA"));
  // fp32 with the global residual: conv, then + skip.
  ops::conv_fwd(Device::cpu(), Precision::Fp32, {1, 4, 4, 2, 1}, {x.data(), DType::F32}, w.data(), nullptr, false,
                   x.data(), {y.data(), DType::F32});
  std::vector<float> plain(16);
  conv_fwd_cpu({1, 4, 4, 2, 1}, x.data(), w.data(), nullptr, false, plain.data());
  for (size_t i = 0; i < 16; ++i) CHECK(y[i] == plain[i] + x[i]);
}

TEST_CASE("default VDSR has 665,921 parameters") {
  const VdsrConfig cfg;
  REQUIRE(weight_count(cfg) == 664704);
  REQUIRE(param_count(cfg) == 665921);
  REQUIRE(param_count(VdsrConfig{20, 64, false}) == 664704);
  REQUIRE_THROWS_AS(layer_table(VdsrConfig{1, 64, true}), Error);
}

TEST_CASE("He initialisation is seeded and has the right spread") {
  Vdsr a(VdsrConfig{}), b(VdsrConfig{}), c(VdsrConfig{});
  a.init_he(42);
  b.init_he(42);
  c.init_he(43);
  REQUIRE(std::equal(a.params(), a.params() + a.num_params(), b.params()));
  REQUIRE(!std::equal(a.params(), a.params() + a.num_params(), c.params()));
  const auto& l = a.layers()[5];  // 64 -> 64: std sqrt(2 / 576)
  double ss = 0;
  const int64_t n = int64_t(l.K) * l.C * 9;
  for (int64_t i = 0; i < n; ++i) { const double v = a.params()[l.w_offset + i]; ss += v * v; }
  REQUIRE(std::sqrt(ss / double(n)) == Approx(std::sqrt(2.0 / 576.0)).epsilon(0.02));
  for (int64_t i = a.num_weights(); i < a.num_params(); ++i) REQUIRE(a.params()[i] == 0.0f);
  // Fan-out: the spread follows the output channels, which differ from the inputs only in the
  // first layer (1 -> 64: std sqrt(2 / (9 x 64))) and the last (64 -> 1: std sqrt(2 / 9)).
  Vdsr f(VdsrConfig{});
  f.init_he(42, InitFan::Out);
  for (const size_t li : {size_t(0), f.layers().size() - 1}) {
    const auto& fl = f.layers()[li];
    INFO("layer " << li);
    double fs = 0;
    const int64_t fn = int64_t(fl.K) * fl.C * 9;
    for (int64_t i = 0; i < fn; ++i) { const double v = f.params()[fl.w_offset + i]; fs += v * v; }
    // 576 samples: the sample std is within 3 x 1/sqrt(2 x 576) = 9% of the true one.
    REQUIRE(std::sqrt(fs / double(fn)) == Approx(std::sqrt(2.0 / (9.0 * fl.K))).epsilon(0.09));
  }
}

TEST_CASE("a tiny VDSR learns: loss falls by at least 4x") {
  // Target: a fixed smooth residual of the input (what super-resolution asks for), 32 patches.
  const VdsrConfig cfg{4, 8, true};
  Vdsr model(cfg);
  model.init_he(11);
  const int64_t N = 16, S = 12;
  std::vector<float> x(size_t(N * S * S)), t(x.size());
  const auto base = test::random_floats(x.size(), 0.2f, 0.8f, 9);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < S; ++i)
      for (int64_t j = 0; j < S; ++j) {
        const size_t k = size_t((n * S + i) * S + j);
        x[k] = base[k];
        // target = input + 0.1 * (input - local mean of a 1-pixel neighbourhood along x).
        const size_t kl = size_t((n * S + i) * S + std::max<int64_t>(j - 1, 0));
        const size_t kr = size_t((n * S + i) * S + std::min<int64_t>(j + 1, S - 1));
        t[k] = base[k] + 0.3f * (base[k] - 0.5f * (base[kl] + base[kr]));
      }
  StepOptions opt;
  opt.lr = 0.05;
  opt.clip = 0.4;
  double first = 0, last = 0;
  for (int it = 0; it < 300; ++it) {
    const StepStats st = model.train_step(N, S, S, x.data(), t.data(), opt);
    REQUIRE(std::isfinite(st.loss));
    if (it == 0) first = st.loss;
    last = st.loss;
  }
  INFO("first loss " << first << " last loss " << last);
  REQUIRE(last < first / 4);
}

TEST_CASE("checkpoint round trip restores parameters, momentum and state, and resume is exact") {
  const VdsrConfig cfg{3, 4, true};
  const int64_t N = 4, S = 8;
  const auto x = test::random_floats(size_t(N * S * S), 0.f, 1.f, 21);
  const auto t = test::random_floats(x.size(), 0.f, 1.f, 22);
  StepOptions opt;
  opt.lr = 0.01;

  Vdsr a(cfg);
  a.init_he(5);
  std::vector<double> losses_a;
  for (int i = 0; i < 6; ++i) losses_a.push_back(a.train_step(N, S, S, x.data(), t.data(), opt).loss);

  Vdsr b(cfg);
  b.init_he(5);
  for (int i = 0; i < 3; ++i) REQUIRE(b.train_step(N, S, S, x.data(), t.data(), opt).loss == losses_a[size_t(i)]);
  const std::string dir = test::temp_dir("ckpt");
  TrainState st;
  st.step = 3;
  st.epoch = 1;
  st.config = {{"lr", "0.01"}};
  save_checkpoint(dir + "/c.safetensors", b, st);
  LoadedCheckpoint ck = load_checkpoint(dir + "/c.safetensors", Device::cpu());
  REQUIRE(ck.state.step == 3);
  REQUIRE(ck.state.epoch == 1);
  REQUIRE(ck.state.config.at("lr") == "0.01");
  REQUIRE(std::equal(b.params(), b.params() + b.num_params(), ck.model->params()));
  REQUIRE(std::equal(b.momentum(), b.momentum() + b.num_params(), ck.model->momentum()));
  for (int i = 3; i < 6; ++i)
    REQUIRE(ck.model->train_step(N, S, S, x.data(), t.data(), opt).loss == losses_a[size_t(i)]);
  // A checkpoint is also a weights file.
  const VdsrWeights w = load_weights(dir + "/c.safetensors");
  REQUIRE(w.config == cfg);
}

TEST_CASE("checkpoint round trip restores every field of the run state") {
  // Distinct values that no default or neighbouring field could give: the epoch record's running
  // loss average, the clip-bound count and the run time go on from them after a resume.
  Vdsr m(VdsrConfig{3, 4, true});
  m.init_he(3);
  TrainState st;
  st.step = 123;
  st.epoch = 4;
  st.seed = 0xF00DF00DF00DULL;
  st.lr = 3.25e-4;
  st.loss_sum = 1.0625;
  st.loss_count = 17;
  st.clip_bound = 11;
  st.seconds = 98.5;
  st.config = {{"optimizer", "sgd"}};
  const std::string dir = test::temp_dir("ckpt_state");
  save_checkpoint(dir + "/c.safetensors", m, st);
  const LoadedCheckpoint ck = load_checkpoint(dir + "/c.safetensors", Device::cpu());
  CHECK(ck.state.step == 123);
  CHECK(ck.state.epoch == 4);
  CHECK(ck.state.seed == 0xF00DF00DF00DULL);
  CHECK(ck.state.lr == 3.25e-4);
  CHECK(ck.state.loss_sum == 1.0625);
  CHECK(ck.state.loss_count == 17);
  CHECK(ck.state.clip_bound == 11);
  CHECK(ck.state.seconds == 98.5);
  CHECK(ck.state.config.at("optimizer") == "sgd");
}

TEST_CASE("batch sampler is a pure function of (seed, step) and covers every patch each pass") {
  const int64_t count = 37, batch = 5;
  std::vector<int> seen(size_t(count), 0);
  for (int64_t step = 0; step * batch < count * 2; ++step) {
    const auto a = batch_indices(count, batch, step, 99), b = batch_indices(count, batch, step, 99);
    REQUIRE(a == b);
    for (size_t i = 0; i < a.size(); ++i)
      if (step * batch + int64_t(i) < count) ++seen[size_t(a[i])];
  }
  for (const int s : seen) REQUIRE(s == 1);
  REQUIRE(batch_indices(count, batch, 0, 1) != batch_indices(count, batch, 0, 2));
  // The caching sampler gives the pure function's batches, in order and after jumps.
  BatchSampler sampler(count, batch, 99);
  for (const int64_t step : {0, 1, 2, 7, 8, 3, 20, 19})
    REQUIRE(sampler.indices(step) == batch_indices(count, batch, step, 99));
}

TEST_CASE("batch sampler: every order of three patches is drawn over seeds") {
  // A shuffle that skips its last swap (positions 0 and 1 never exchanged at the end) can draw
  // only half of the orders; 200 seeds draw all 6 of a uniform one (each missing with
  // probability (5/6)^200, about 1e-16).
  std::set<std::vector<int64_t>> orders;
  for (uint64_t seed = 1; seed <= 200; ++seed) orders.insert(batch_indices(3, 3, 0, seed));
  CHECK(orders.size() == 6);
}

TEST_CASE("batch sampler: every pass is a fresh uniform shuffle, not the previous pass's order") {
  // One batch is one whole pass, so batch p is pass p's permutation. A shuffle that ignored the
  // pass would repeat the order every epoch. A uniform shuffle leaves some index in place with
  // probability about 1 - 1/e, so over 8 seeds x 4 passes a permutation with a fixed point is
  // certain in practice (the chance of none is about 0.37^32); a cyclic-only draw (Sattolo's
  // algorithm, an off-by-one in the index draw) never has one.
  const int64_t count = 23;
  int with_fixed_point = 0;
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    std::vector<std::vector<int64_t>> passes;
    for (int64_t pass = 0; pass < 4; ++pass) {
      const auto p = batch_indices(count, count, pass, seed);
      std::vector<int64_t> sorted = p;
      std::sort(sorted.begin(), sorted.end());
      for (int64_t i = 0; i < count; ++i) REQUIRE(sorted[size_t(i)] == i);  // a permutation
      bool fixed = false;
      for (int64_t i = 0; i < count; ++i) fixed = fixed || p[size_t(i)] == i;
      with_fixed_point += fixed ? 1 : 0;
      for (const auto& q : passes) CHECK(p != q);  // 23! orders: a repeat is a bug
      passes.push_back(p);
    }
  }
  CHECK(with_fixed_point > 0);
}

TEST_CASE("the 8 TTA transforms invert exactly on non-square planes") {
  Plane p(3, 5);
  for (size_t i = 0; i < p.v.size(); ++i) p.v[i] = double(i);
  for (int t = 0; t < 8; ++t) {
    const Plane q = transform_plane(p, t);
    REQUIRE(q.height == ((t & 4) ? 5 : 3));
    const Plane r = invert_transform(q, t);
    REQUIRE(r.height == 3);
    REQUIRE(r.v == p.v);
  }
  // All 8 are distinct.
  for (int a = 0; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b) {
      const Plane qa = transform_plane(p, a), qb = transform_plane(p, b);
      REQUIRE((qa.height != qb.height || qa.v != qb.v));
    }
}

TEST_CASE("inference is deterministic and independent of the thread count") {
  Vdsr model(VdsrConfig{6, 16, true});
  model.init_he(8);
  const int64_t H = 23, W = 17;
  const auto x = test::random_floats(size_t(H * W), 0.f, 1.f, 3);
  std::vector<float> y1(x.size()), y2(x.size());
  ThreadPool::set_global_threads(1);
  model.forward(1, H, W, x.data(), y1.data());
  ThreadPool::set_global_threads(3);
  model.forward(1, H, W, x.data(), y2.data());
  REQUIRE(y1 == y2);
}

TEST_CASE("the CPU model computes in fp32 only: bf16 and tf32 are refused with the reason") {
  Vdsr m(VdsrConfig{});
  CHECK(m.precision() == Precision::Fp32);
  CHECK_THROWS_WITH(m.set_precision(Precision::Bf16), Catch::Contains("needs a GPU"));
  CHECK_THROWS_WITH(m.set_precision(Precision::Tf32), Catch::Contains("needs a GPU"));
  CHECK(m.precision() == Precision::Fp32);
  m.set_precision(Precision::Fp32);
  CHECK(m.precision() == Precision::Fp32);
  CHECK(parse_precision("fp32") == Precision::Fp32);
  CHECK(parse_precision("tf32") == Precision::Tf32);
  CHECK(parse_precision("bf16") == Precision::Bf16);
  for (const char* name : {"fp32", "tf32", "bf16"}) CHECK(std::string(precision_name(parse_precision(name))) == name);
  CHECK_THROWS_WITH(parse_precision("fp16"), Catch::Contains("fp32, tf32 or bf16"));
}
