// The optimizer step (kernels/optim_step.h: SGD, Adam, AdamW, clipping, EMA, bias lr multiplier)
// and the learning-rate schedules (model/lr_schedule.h): hand-computed steps, the CPU pass against
// the double reference over many steps, decay on weights only, and the lr at chosen steps.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "kernels/optim_step.h"
#include "model/lr_schedule.h"
#include "model/vdsr.h"
#include "tests/support/test_support.h"

using namespace vdsr;
using vdsr::test::random_floats;
using vdsr::test::to_double;

namespace {

bool close(double a, double b, double rel, double abs) { return std::fabs(a - b) <= abs + rel * std::fabs(b); }

OptimConfig config(Optimizer kind, ClipMode clip, double ema) {
  OptimConfig c;
  c.kind = kind;
  c.clip_mode = clip;
  c.weight_decay = 1e-2;  // large enough to matter over ten steps
  c.bias_lr_mult = 0.5;
  c.ema = ema;
  return c;
}

// The state of one flat buffer in float (the pass) and double (the reference).
struct State {
  std::vector<float> w, m, v, e;
  std::vector<double> wd, md, vd, ed;
  explicit State(size_t n)
      : w(random_floats(n, -1.0f, 1.0f, 61)), m(random_floats(n, -0.1f, 0.1f, 62)),
        v(random_floats(n, 0.0f, 0.01f, 63)), e(w), wd(to_double(w)), md(to_double(m)),
        vd(to_double(v)), ed(to_double(e)) {}
};

}  // namespace

TEST_CASE("optim_step SGD: one step by hand, with norm clipping, decay on the weights, a bias lr") {
  // lr 0.5, momentum 0.5, weight decay 0.25 on elements 0 and 1, norm 2 clipped to 1 (scale 0.5),
  // biases (elements 2, 3) at lr 0.5 x 2 = 1:
  //   d = 0.5 g + [0.25 w, 0.25 w, 0, 0] = {1.25, -1.5, 4, 0.5}
  //   m = 0.5 m + d                      = {1.75, -1.5, 3, 2.5}
  //   w = w - [0.5, 0.5, 1, 1] m         = {0.125, 2.75, 0, 1.5}
  // All values are exact in float.
  OptimConfig c;
  c.clip_mode = ClipMode::Norm;
  c.momentum = 0.5;
  c.weight_decay = 0.25;
  c.bias_lr_mult = 2.0;
  OptimScalars s;
  s.lr = 0.5;
  s.threshold = 1.0;
  const std::vector<double> want_w = {0.125, 2.75, 0.0, 1.5}, want_m = {1.75, -1.5, 3.0, 2.5};
  std::vector<float> w = {1, 2, 3, 4}, g = {2, -4, 8, 1}, m = {1, 0, -2, 4};
  optim_step_cpu(c, s, 2.0, 4, 2, w.data(), g.data(), m.data(), nullptr, nullptr);
  CHECK(to_double(w) == want_w);
  CHECK(to_double(m) == want_m);
  std::vector<double> wd = {1, 2, 3, 4}, gd = {2, -4, 8, 1}, md = {1, 0, -2, 4};
  optim_step_ref(c, s, 2.0, 4, 2, wd.data(), gd.data(), md.data(), nullptr, nullptr);
  CHECK(wd == want_w);
  CHECK(md == want_m);
}

TEST_CASE("optim_step Adam: the bias-corrected first step moves each weight by lr against its gradient") {
  // t = 1: m = (1 - b1) d, v = (1 - b2) d^2, so m / bc1 = d and v / bc2 = d^2: the step is
  // lr d / (|d| + eps), lr sign(d) to within lr eps / |d|.
  for (const Optimizer kind : {Optimizer::Adam, Optimizer::AdamW}) {
    OptimConfig c = config(kind, ClipMode::None, 0.0);
    c.weight_decay = 0;
    const OptimScalars s = optim_scalars(c, 1e-3, 0.0, 1);
    CHECK(s.bc1 == Approx(0.1).epsilon(1e-12));
    CHECK(s.bc2 == Approx(0.001).epsilon(1e-9));
    std::vector<float> w = {0.5f, -0.25f, 1.0f}, g = {3.0f, -1e-3f, 0.0f}, m(3, 0.0f), v(3, 0.0f);
    optim_step_cpu(c, s, 0.0, 3, 3, w.data(), g.data(), m.data(), v.data(), nullptr);
    CHECK(w[0] == Approx(0.5 - 1e-3).margin(1e-7));
    CHECK(w[1] == Approx(-0.25 + 1e-3).margin(1e-7));
    CHECK(w[2] == 1.0f);  // no gradient: 0 / (0 + eps)
  }
}

TEST_CASE("optim_step: weight decay reaches the weights only, the EMA follows the stored weights") {
  // A zero gradient isolates the decay: SGD and AdamW shrink the weights by exactly lr wd w (here
  // with m = 0 and v = 0), Adam's L2 decay becomes a normalised step; biases never move.
  for (const Optimizer kind : {Optimizer::Sgd, Optimizer::Adam, Optimizer::AdamW}) {
    INFO(optimizer_name(kind));
    OptimConfig c = config(kind, ClipMode::None, 0.75);
    const OptimScalars s = optim_scalars(c, 0.5, 0.0, 1);
    std::vector<float> w = {2.0f, -4.0f, 3.0f, -1.0f}, g(4, 0.0f), m(4, 0.0f), v(4, 0.0f), e = {0, 0, 3, 1};
    optim_step_cpu(c, s, 0.0, 4, 2, w.data(), g.data(), m.data(), v.data(), e.data());
    CHECK(w[2] == 3.0f);  // biases
    CHECK(w[3] == -1.0f);
    if (kind == Optimizer::Adam) {
      CHECK(w[0] == Approx(2.0 - 0.5).margin(1e-6));  // lr sign(wd w)
      CHECK(w[1] == Approx(-4.0 + 0.5).margin(1e-6));
    } else {
      CHECK(w[0] == 2.0f - 0.5f * 0.01f * 2.0f);
      CHECK(w[1] == -4.0f + 0.5f * 0.01f * 4.0f);
    }
    // e = 0.75 e + 0.25 w_new
    CHECK(e[0] == Approx(0.25 * double(w[0])).epsilon(1e-7));
    CHECK(e[2] == Approx(0.75 * 3 + 0.25 * 3).epsilon(1e-7));
    CHECK(e[3] == Approx(0.75 * 1 + 0.25 * -1).epsilon(1e-7));
  }
}

TEST_CASE("optim_step: the CPU pass follows the double reference over ten steps, every mode") {
  // The pass does the reference's arithmetic in double and rounds the state to float at every
  // store: after one step it is within a float ulp or two of the reference (the reference groups
  // two sums differently; the EMA reads the float-rounded new weight, whose half-ulp error shows
  // as an absolute 1e-7 where e nearly cancels); over ten steps the rounding of the state (~6e-8 relative per store)
  // accumulates, amplified at most 1 / (1 - momentum) = 10 times: 1e-5 covers it.
  const int64_t n = 70001;  // spans several threads' chunks, odd tail
  const int64_t n_decay = n - n / 7;
  for (const Optimizer kind : {Optimizer::Sgd, Optimizer::Adam, Optimizer::AdamW})
    for (const ClipMode clip : {ClipMode::None, ClipMode::Norm, ClipMode::Value})
      for (const double ema : {0.0, 0.9}) {
        INFO(optimizer_name(kind) << ", clip " << clip_mode_name(clip) << ", ema " << ema);
        const OptimConfig c = config(kind, clip, ema);
        State st(static_cast<size_t>(n));
        int64_t bad = 0;
        for (int step = 1; step <= 10; ++step) {
          auto g = random_floats(static_cast<size_t>(n), -1.0f, 1.0f, 100 + uint32_t(step));
          auto gd = to_double(g);
          const double norm = step % 2 ? 400.0 : 0.1;  // binds, then does not
          const double lr = kind == Optimizer::Sgd ? 0.05 : 1e-3;
          const OptimScalars s = optim_scalars(c, lr, clip == ClipMode::Value ? 0.5 : 2.0, step);
          optim_step_cpu(c, s, norm, n, n_decay, st.w.data(), g.data(), st.m.data(), st.v.data(), st.e.data());
          optim_step_ref(c, s, norm, n, n_decay, st.wd.data(), gd.data(), st.md.data(), st.vd.data(), st.ed.data());
          const double rel = step == 1 ? 2.5e-7 : 1e-5, abs = step == 1 ? 1e-7 : 1e-5;
          for (int64_t i = 0; i < n; ++i) {
            const bool ok = close(st.w[i], st.wd[i], rel, abs) && close(st.m[i], st.md[i], rel, abs) &&
                            (kind == Optimizer::Sgd || close(st.v[i], st.vd[i], rel, abs)) &&
                            (ema == 0 || close(st.e[i], st.ed[i], rel, abs)) &&
                            (clip != ClipMode::Value || double(g[i]) == gd[i]);
            bad += ok ? 0 : 1;
          }
          if (kind == Optimizer::Sgd) CHECK(st.v == State(static_cast<size_t>(n)).v);  // untouched
        }
        CHECK(bad == 0);
      }
}

TEST_CASE("optim_step at a rate of 0, a cosine's last step to --lr-min 0: the weights stay, the state moves") {
  // Every optimizer's move is lr times something, decay included; momentum and Adam's moments
  // still take the gradient in, and the EMA still follows the (unmoved) weights.
  for (const Optimizer kind : {Optimizer::Sgd, Optimizer::Adam, Optimizer::AdamW})
    for (const ClipMode clip : {ClipMode::None, ClipMode::Norm, ClipMode::Value}) {
      INFO(optimizer_name(kind) << ", clip " << clip_mode_name(clip));
      StepOptions so;
      so.lr = 0;
      so.clip = 0.4;
      so.clip_scale_by_lr = true;
      so.optim = config(kind, clip, 0.9);
      const double threshold = so.clip_threshold();
      CHECK(std::isinf(threshold));  // theta / lr: no bound
      const OptimScalars s = optim_scalars(so.optim, so.lr, threshold, 3);
      std::vector<float> w = {0.5f, -2.0f, 1.5f, -0.25f}, g = {3.0f, -1.0f, 0.5f, 8.0f}, m(4, 0.0f),
                         v(4, 0.0f), e = {0, 0, 0, 0};
      const std::vector<float> w0 = w, g0 = g;
      optim_step_cpu(so.optim, s, 50.0, 4, 2, w.data(), g.data(), m.data(), v.data(), e.data());
      CHECK(w == w0);
      CHECK(g == g0);  // an infinite bound clamps nothing
      CHECK(m[3] != 0.0f);
      CHECK(e[0] == Approx(0.1 * 0.5).epsilon(1e-6));
    }
}

TEST_CASE("optim_step: preconditions") {
  float f[4] = {1, 2, 3, 4}, g[4] = {}, m[4] = {};
  const OptimConfig sgd = config(Optimizer::Sgd, ClipMode::None, 0.0);
  const OptimConfig adam = config(Optimizer::Adam, ClipMode::None, 0.0);
  const OptimConfig ema = config(Optimizer::Sgd, ClipMode::None, 0.9);
  const OptimScalars s = optim_scalars(sgd, 0.1, 0.0, 1);
  CHECK_THROWS_AS(optim_step_cpu(sgd, s, 0, -1, 0, f, g, m, nullptr, nullptr), Error);
  CHECK_THROWS_AS(optim_step_cpu(sgd, s, 0, 4, 5, f, g, m, nullptr, nullptr), Error);
  CHECK_THROWS_AS(optim_step_cpu(sgd, s, 0, 4, 2, f, nullptr, m, nullptr, nullptr), Error);
  CHECK_THROWS_WITH(optim_step_cpu(adam, s, 0, 4, 2, f, g, m, nullptr, nullptr), Catch::Contains("second-moment"));
  CHECK_THROWS_WITH(optim_step_cpu(ema, s, 0, 4, 2, f, g, m, nullptr, nullptr), Catch::Contains("EMA"));
  CHECK_THROWS_AS(optim_scalars(adam, 0.1, 0.0, 0), Error);
  CHECK(f[0] == 1.0f);  // a failed check leaves the buffers untouched
  CHECK_NOTHROW(optim_step_cpu(sgd, s, 0, 0, 0, nullptr, nullptr, nullptr, nullptr, nullptr));
}

TEST_CASE("lr schedule step: divided by 10 at every lr_step epochs, over several decays") {
  LrPlan p;  // the defaults: step, lr 0.01, every 70 epochs
  CHECK(p.schedule == LrSchedule::Step);
  const int64_t iters = 1000, total = 90 * iters;
  CHECK(lr_at(p, 0, iters, total) == 0.01);
  CHECK(lr_at(p, 69999, iters, total) == 0.01);
  CHECK(lr_at(p, 70000, iters, total) == Approx(0.001).epsilon(1e-15));
  CHECK(lr_at(p, 89999, iters, total) == Approx(0.001).epsilon(1e-15));
  p.lr = 0.1;
  p.lr_step = 2;
  for (int64_t e = 0; e < 9; ++e) {
    INFO("epoch " << e);
    CHECK(lr_at(p, e * 5, 5, 45) == Approx(0.1 * std::pow(0.1, double(e / 2))).epsilon(1e-14));
    CHECK(lr_at(p, e * 5 + 4, 5, 45) == lr_at(p, e * 5, 5, 45));
  }
  CHECK(lr_at(p, 40, 5, 45) == Approx(1e-5).epsilon(1e-12));  // the fourth decay
}

TEST_CASE("lr schedule cosine and constant, with a linear warm-up") {
  LrPlan p;
  p.schedule = LrSchedule::Cosine;
  p.lr = 2e-3;
  p.lr_min = 2e-5;
  p.warmup = 100;
  const int64_t total = 1101;  // cosine over steps 100 .. 1100
  CHECK(lr_at(p, 0, 10, total) == Approx(2e-3 / 100).epsilon(1e-14));
  CHECK(lr_at(p, 49, 10, total) == Approx(2e-3 * 50 / 100).epsilon(1e-14));
  CHECK(lr_at(p, 99, 10, total) == Approx(2e-3).epsilon(1e-14));
  CHECK(lr_at(p, 100, 10, total) == Approx(2e-3).epsilon(1e-14));
  CHECK(lr_at(p, 600, 10, total) == Approx((2e-3 + 2e-5) / 2).epsilon(1e-12));  // half way
  CHECK(lr_at(p, 350, 10, total) == Approx(2e-5 + (2e-3 - 2e-5) * (1 + std::cos(M_PI / 4)) / 2).epsilon(1e-12));
  CHECK(lr_at(p, 1100, 10, total) == Approx(2e-5).epsilon(1e-12));  // the last step
  CHECK(lr_at(p, 5000, 10, total) == Approx(2e-5).epsilon(1e-12));  // past the end (extended run)
  for (int64_t t = 100; t < 1100; ++t) REQUIRE(lr_at(p, t + 1, 10, total) <= lr_at(p, t, 10, total));
  // A run no longer than its warm-up plus one step has no cosine span: the step after the warm-up
  // (the run's last) is already at the end of the decay.
  CHECK(lr_at(p, 99, 10, 101) == Approx(2e-3).epsilon(1e-14));
  CHECK(lr_at(p, 100, 10, 101) == Approx(2e-5).epsilon(1e-12));
  CHECK(lr_at(p, 100, 10, 100) == Approx(2e-5).epsilon(1e-12));
  p.schedule = LrSchedule::Constant;
  CHECK(lr_at(p, 9, 10, total) == Approx(2e-3 / 10).epsilon(1e-14));
  CHECK(lr_at(p, 100, 10, total) == 2e-3);
  CHECK(lr_at(p, 100000, 10, total) == 2e-3);
}
