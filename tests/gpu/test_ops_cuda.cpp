// The CUDA small training ops (kernels/residual_add.cu, euclidean_loss.cu, grad_norm.cu,
// flag_nonfinite.cu, optim_step.cu), through the kernels/ops.h launchers on cuda:0, against the CPU
// implementations and the double references at sizes 0, 1, 7, 1000, 2^20 + 3 and the VDSR
// parameter count 665,921. Outputs are poisoned with NaN (all bytes 0xFF) before every call, so an
// element the kernel does not write fails.
//
// Pass/fail:
//   residual_add        bit-identical to the CPU and to the reference rounded to float (one float
//                       add per element, correctly rounded on both; double rounding of a sum of two
//                       floats through double is innocuous). Aligned (float4) and misaligned
//                       (scalar) pointers and in place.
//   euclidean_loss      grad bit-identical to the CPU (difference and division in IEEE double,
//                       rounded once); loss within 1e-12 relative of the reference (double sums of
//                       n <= 2^21 non-negative terms in a different order: the error bound is about
//                       depth * 2^-53 with depth < 2^12 here, i.e. < 5e-13); small-integer inputs
//                       make every partial sum exact in double, so there the loss is bit-identical
//                       to the reference; two runs bit-identical.
//   grad_norm           the same: 1e-12 relative, exact on small integers, two runs bit-identical.
//   flag_nonfinite      exact: records the first NaN / inf step, sticky afterwards.
//   optim_step          w, m, v, e bit-identical to the CPU (one element function,
//                       kernels/optim_step_math.h, compiled without FMA contraction on both sides;
//                       double +, *, / and sqrt are correctly rounded) for SGD, Adam and AdamW, the
//                       clip modes None, Norm above and below the threshold, and Value, with and
//                       without the EMA, over three steps; value-clipped g bit-identical.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/buffer.h"
#include "engine/device.h"
#include "engine/error.h"
#include "kernels/euclidean_loss.h"
#include "kernels/grad_norm.h"
#include "kernels/ops.h"
#include "kernels/residual_add.h"
#include "kernels/optim_step.h"
#include "tests/support/test_support.h"

using namespace vdsr;
using vdsr::test::random_floats;
using vdsr::test::random_ints;
using vdsr::test::to_double;

namespace {

const Device kCpu = Device::cpu();
const Device kGpu = Device::cuda(0);

const std::vector<int64_t> kSizes = {0, 1, 7, 1000, (int64_t(1) << 20) + 3, 665921};

template <class T>
Buffer upload(const std::vector<T>& host) {
  Buffer b(kGpu, host.size() * sizeof(T));
  copy_bytes(kGpu, b.data(), kCpu, host.data(), b.bytes());
  return b;
}

template <class T>
std::vector<T> download(const Buffer& b, size_t count) {
  std::vector<T> host(count);
  copy_bytes(kCpu, host.data(), kGpu, b.data(), count * sizeof(T));
  return host;
}

// Every byte 0xFF: NaN as float and as double.
void poison(Buffer& b) {
  const std::vector<unsigned char> bytes(b.bytes(), 0xFF);
  copy_bytes(kGpu, b.data(), kCpu, bytes.data(), b.bytes());
}

float* fptr(Buffer& b) { return static_cast<float*>(b.data()); }
double* dptr(Buffer& b) { return static_cast<double*>(b.data()); }

double read_double(const Buffer& b) { return download<double>(b, 1)[0]; }

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

// Distance in units in the last place between two finite floats (0 for +0 and -0).
int64_t ulp_distance(float a, float b) {
  auto ordered = [](float f) {
    int32_t i = 0;
    std::memcpy(&i, &f, sizeof i);
    const int64_t k = i;
    return k < 0 ? int64_t(std::numeric_limits<int32_t>::min()) - k : k;
  };
  return std::abs(ordered(a) - ordered(b));
}

// Largest ulp distance over two arrays; a NaN or an infinity anywhere counts as a huge distance.
int64_t max_ulps(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  int64_t worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) return std::numeric_limits<int64_t>::max();
    worst = std::max(worst, ulp_distance(a[i], b[i]));
  }
  return worst;
}

bool close_rel(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::fabs(b); }

}  // namespace

TEST_CASE("residual_add CUDA: bit-identical to the CPU and the reference, any alignment") {
  vdsr::test::require_gpu();
  for (const int64_t n : kSizes) {
    INFO("n " << n);
    const size_t un = size_t(n);
    // One spare element in front so that the +1 views are misaligned (the scalar kernel).
    const auto x = random_floats(un + 1, -2.0f, 2.0f, 11);
    const auto r = random_floats(un + 1, -1.0f, 1.0f, 12);
    std::vector<float> want(un), cpu(un);
    std::vector<double> ref(un);
    residual_add_ref(n, to_double(x).data(), to_double(r).data(), ref.data());
    for (size_t i = 0; i < un; ++i) want[i] = static_cast<float>(ref[i]);
    ops::residual_add(kCpu, n, x.data(), r.data(), cpu.data());
    REQUIRE(same_bits(cpu, want));

    Buffer dx = upload(x), dr = upload(r);
    Buffer dy(kGpu, (un + 1) * sizeof(float));

    {  // aligned: the float4 kernel
      poison(dy);
      ops::residual_add(kGpu, n, fptr(dx), fptr(dr), fptr(dy));
      CHECK(same_bits(download<float>(dy, un), want));
    }
    {  // misaligned x + 1, r + 1, y + 1: the scalar kernel, summing x[1..n] and r[1..n]
      std::vector<double> ref1(un);
      residual_add_ref(n, to_double(x).data() + 1, to_double(r).data() + 1, ref1.data());
      std::vector<float> want1(un + 1);
      for (size_t i = 0; i < un; ++i) want1[i + 1] = static_cast<float>(ref1[i]);
      poison(dy);
      ops::residual_add(kGpu, n, fptr(dx) + 1, fptr(dr) + 1, fptr(dy) + 1);
      auto got = download<float>(dy, un + 1);
      CHECK(std::isnan(got[0]));  // the element in front is not touched
      got[0] = want1[0];
      CHECK(same_bits(got, want1));
    }
    {  // in place, y = x + y, as Vdsr::forward calls it
      ops::residual_add(kGpu, n, fptr(dx), fptr(dr), fptr(dr));
      CHECK(same_bits(download<float>(dr, un), want));
    }
  }
}

TEST_CASE("euclidean_loss CUDA: grad equals the CPU, loss matches the reference, runs repeat") {
  vdsr::test::require_gpu();
  std::vector<int64_t> sizes = kSizes;
  sizes.push_back(64 * 41 * 41);  // a training batch
  for (const int64_t n : sizes) {
    for (const int64_t batch : {int64_t(1), int64_t(3), int64_t(64)}) {
      INFO("n " << n << ", batch " << batch);
      const size_t un = size_t(n);
      const auto pred = random_floats(un, -1.0f, 2.0f, 21);
      const auto target = random_floats(un, 0.0f, 1.0f, 22);
      std::vector<double> ref_grad(un);
      const double ref = euclidean_loss_ref(batch, n, to_double(pred).data(),
                                            to_double(target).data(), ref_grad.data());
      std::vector<float> cpu_grad(un);
      double cpu_loss = 0.0;
      ops::euclidean_loss(kCpu, batch, n, pred.data(), target.data(), cpu_grad.data(), &cpu_loss);

      Buffer dp = upload(pred), dt = upload(target);
      Buffer dg(kGpu, un * sizeof(float)), dl(kGpu, sizeof(double));
      double first = 0.0;
      for (int run = 0; run < 2; ++run) {
        INFO("run " << run);
        poison(dg);
        poison(dl);
        ops::euclidean_loss(kGpu, batch, n, fptr(dp), fptr(dt), fptr(dg), dptr(dl));
        const double loss = read_double(dl);
        CHECK(same_bits(download<float>(dg, un), cpu_grad));
        if (n == 0) {
          CHECK(same_bits(loss, 0.0));
        } else {
          CHECK(close_rel(loss, ref, 1e-12));
          CHECK(close_rel(loss, cpu_loss, 1e-12));
        }
        if (run == 0) {
          first = loss;
        } else {
          CHECK(same_bits(loss, first));
        }
      }
      // Without a gradient buffer the loss is the same, bit for bit.
      poison(dl);
      ops::euclidean_loss(kGpu, batch, n, fptr(dp), fptr(dt), nullptr, dptr(dl));
      CHECK(same_bits(read_double(dl), first));
    }
  }
}

TEST_CASE("euclidean_loss CUDA: exact on small integers") {
  vdsr::test::require_gpu();
  // |pred - target| <= 16, so every square is <= 256 and every partial sum < 2^53: any summation
  // order gives the exact sum, and the loss equals the reference bit for bit.
  for (const int64_t n : kSizes) {
    INFO("n " << n);
    const auto pred = random_ints(size_t(n), -8, 8, 31);
    const auto target = random_ints(size_t(n), -8, 8, 32);
    const double ref =
        euclidean_loss_ref(7, n, to_double(pred).data(), to_double(target).data(), nullptr);
    Buffer dp = upload(pred), dt = upload(target), dl(kGpu, sizeof(double));
    poison(dl);
    ops::euclidean_loss(kGpu, 7, n, fptr(dp), fptr(dt), nullptr, dptr(dl));
    CHECK(same_bits(read_double(dl), ref));
  }
}

TEST_CASE("grad_norm CUDA: matches the reference, exact on small integers, runs repeat") {
  vdsr::test::require_gpu();
  for (const int64_t n : kSizes) {
    INFO("n " << n);
    const auto g = random_floats(size_t(n), -0.5f, 0.5f, 41);
    const double ref = grad_norm_ref(n, to_double(g).data());
    double cpu = 0.0;
    ops::grad_norm(kCpu, n, g.data(), &cpu);
    Buffer dg = upload(g), dn(kGpu, sizeof(double));
    double first = 0.0;
    for (int run = 0; run < 2; ++run) {
      INFO("run " << run);
      poison(dn);
      ops::grad_norm(kGpu, n, fptr(dg), dptr(dn));
      const double norm = read_double(dn);
      if (n == 0) {
        CHECK(same_bits(norm, 0.0));
      } else {
        CHECK(close_rel(norm, ref, 1e-12));
        CHECK(close_rel(norm, cpu, 1e-12));
      }
      if (run == 0) {
        first = norm;
      } else {
        CHECK(same_bits(norm, first));
      }
    }
    // Small integers: the sum of squares is exact in any order and sqrt is correctly rounded.
    const auto gi = random_ints(size_t(n), -16, 16, 42);
    Buffer dgi = upload(gi);
    poison(dn);
    ops::grad_norm(kGpu, n, fptr(dgi), dptr(dn));
    CHECK(same_bits(read_double(dn), grad_norm_ref(n, to_double(gi).data())));
  }
}

TEST_CASE("grad_norm and euclidean_loss CUDA: alternating on the shared workspace") {
  vdsr::test::require_gpu();
  // Both take the device's one workspace; growing it between calls must not disturb the results.
  const int64_t small = 1000, big = (int64_t(1) << 20) + 3;
  const auto a = random_floats(size_t(big), -1.0f, 1.0f, 51);
  const auto b = random_floats(size_t(big), -1.0f, 1.0f, 52);
  Buffer da = upload(a), db = upload(b), dl(kGpu, sizeof(double)), dn(kGpu, sizeof(double));
  for (const int64_t n : {small, big, small, big}) {
    INFO("n " << n);
    poison(dl);
    poison(dn);
    ops::euclidean_loss(kGpu, 2, n, fptr(da), fptr(db), nullptr, dptr(dl));
    ops::grad_norm(kGpu, n, fptr(db), dptr(dn));
    CHECK(close_rel(read_double(dl),
                    euclidean_loss_ref(2, n, to_double(a).data(), to_double(b).data(), nullptr),
                    1e-12));
    CHECK(close_rel(read_double(dn), grad_norm_ref(n, to_double(b).data()), 1e-12));
  }
}

TEST_CASE("flag_nonfinite CUDA: records the first non-finite step and is sticky") {
  vdsr::test::require_gpu();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  Buffer value(kGpu, sizeof(double)), flag(kGpu, sizeof(int64_t));
  auto set_value = [&](double v) { copy_bytes(kGpu, value.data(), kCpu, &v, sizeof v); };
  auto set_flag = [&](int64_t f) { copy_bytes(kGpu, flag.data(), kCpu, &f, sizeof f); };
  auto get_flag = [&] { return download<int64_t>(flag, 1)[0]; };
  auto call = [&](int64_t step) {
    ops::flag_nonfinite(kGpu, static_cast<const double*>(value.data()), step,
                        static_cast<int64_t*>(flag.data()));
  };

  set_flag(-1);
  for (const double v : {0.0, 1.5, -3.0e300, std::numeric_limits<double>::denorm_min()}) {
    set_value(v);
    call(0);
  }
  CHECK(get_flag() == -1);
  set_value(1.0);
  call(4);
  CHECK(get_flag() == -1);
  set_value(nan);
  call(5);
  CHECK(get_flag() == 5);
  call(6);  // still NaN: the first step stays
  CHECK(get_flag() == 5);
  set_value(inf);
  call(7);
  CHECK(get_flag() == 5);
  set_value(0.25);
  call(8);  // finite again: still flagged
  CHECK(get_flag() == 5);

  for (const double bad : {inf, -inf, nan}) {
    INFO("value " << bad);
    set_flag(-1);
    set_value(bad);
    call(123456789012LL);
    CHECK(get_flag() == 123456789012LL);
  }

  // The CPU path gives the same answers.
  int64_t cpu_flag = -1;
  double cpu_value = 1.0;
  ops::flag_nonfinite(kCpu, &cpu_value, 4, &cpu_flag);
  cpu_value = nan;
  ops::flag_nonfinite(kCpu, &cpu_value, 5, &cpu_flag);
  ops::flag_nonfinite(kCpu, &cpu_value, 6, &cpu_flag);
  CHECK(cpu_flag == 5);
}

// The step's scalars in device memory, as the model keeps them.
Buffer device_scalars(const OptimScalars& s) {
  Buffer b(kGpu, sizeof(OptimScalars));
  ops::set_optim_scalars(kGpu, s, static_cast<OptimScalars*>(b.data()));
  return b;
}

const OptimScalars* sptr(Buffer& b) { return static_cast<const OptimScalars*>(b.data()); }

TEST_CASE("optim_step CUDA: bit-identical to the CPU for every optimizer, clip mode and EMA") {
  vdsr::test::require_gpu();
  struct Clip {
    const char* name;
    ClipMode mode;
    double threshold_over_norm;  // threshold = this * the gradient's norm (Norm), or a value
  };
  const Clip clips[] = {{"none", ClipMode::None, 0.0},
                        {"norm above the threshold (scaled)", ClipMode::Norm, 0.5},
                        {"norm below the threshold (unscaled)", ClipMode::Norm, 2.0},
                        {"value", ClipMode::Value, 0.0}};
  for (const Optimizer kind : {Optimizer::Sgd, Optimizer::Adam, Optimizer::AdamW})
    for (const Clip& clip : clips)
      for (const double ema : {0.0, 0.999})
        for (const int64_t n : {int64_t(0), int64_t(1), int64_t(7), int64_t(1000), int64_t(665921)}) {
          // The VDSR layout: weights decay, the 1,217 biases do not; other sizes: a tail without decay.
          const int64_t n_decay = n == 665921 ? 664704 : n - n / 7;
          INFO(optimizer_name(kind) << ", clip " << clip.name << ", ema " << ema << ", n " << n);
          OptimConfig c;
          c.kind = kind;
          c.clip_mode = clip.mode;
          c.bias_lr_mult = 0.1;
          c.ema = ema;
          const size_t un = size_t(n);
          auto w = random_floats(un, -1.0f, 1.0f, 61);
          auto m = random_floats(un, -0.1f, 0.1f, 62);
          auto v = random_floats(un, 0.0f, 0.01f, 63);
          auto e = w;
          Buffer dw = upload(w), dm = upload(m), dv = upload(v), de = upload(e);
          Buffer dnorm(kGpu, sizeof(double));
          for (int step = 1; step <= 3; ++step) {
            INFO("step " << step);
            auto g = random_floats(un, -1.0f, 1.0f, 100 + uint32_t(step));
            double norm = 0.0;
            ops::grad_norm(kCpu, n, g.data(), &norm);
            double threshold = 0.0;
            if (clip.mode == ClipMode::Norm) threshold = n == 0 ? 1.0 : clip.threshold_over_norm * norm;
            if (clip.mode == ClipMode::Value) threshold = 0.5;  // clamps about half of g
            const OptimScalars s = optim_scalars(c, kind == Optimizer::Sgd ? 0.1 : 1e-3, threshold, step);
            copy_bytes(kGpu, dnorm.data(), kCpu, &norm, sizeof norm);
            Buffer dg = upload(g), ds = device_scalars(s);
            ops::optim_step(kCpu, c, &s, &norm, n, n_decay, w.data(), g.data(), m.data(), v.data(), e.data());
            ops::optim_step(kGpu, c, sptr(ds), dptr(dnorm), n, n_decay, fptr(dw), fptr(dg), fptr(dm),
                            fptr(dv), fptr(de));
            CHECK(same_bits(download<float>(dw, un), w));
            CHECK(same_bits(download<float>(dm, un), m));
            CHECK(same_bits(download<float>(dv, un), v));  // SGD: untouched on both sides
            CHECK(same_bits(download<float>(de, un), e));  // no EMA: untouched on both sides
            // g: clamped in place for Value (exact), untouched otherwise; equal to the CPU's either way.
            CHECK(same_bits(download<float>(dg, un), g));
          }
        }
}

TEST_CASE("optim_step CUDA: one Adam step equals the double reference rounded to float") {
  vdsr::test::require_gpu();
  // From float state the reference's double result, rounded once, is what the kernel stores (up to
  // 2 ulps: the reference groups the decayed gradient's sum as written, not as the kernel does).
  const int64_t n = 665921, n_decay = 664704;
  for (const Optimizer kind : {Optimizer::Adam, Optimizer::AdamW}) {
    INFO(optimizer_name(kind));
    OptimConfig c;
    c.kind = kind;
    c.clip_mode = ClipMode::Norm;
    c.ema = 0.99;
    const auto w = random_floats(size_t(n), -1.0f, 1.0f, 71);
    const auto m = random_floats(size_t(n), -0.1f, 0.1f, 72);
    const auto v = random_floats(size_t(n), 0.0f, 0.01f, 74);
    const auto g = random_floats(size_t(n), -1.0f, 1.0f, 73);
    const double norm = grad_norm_ref(n, to_double(g).data());
    const OptimScalars s = optim_scalars(c, 1e-3, 0.4, 5);
    REQUIRE(norm > s.threshold);
    auto wd = to_double(w), md = to_double(m), vd = to_double(v), gd = to_double(g), ed = wd;
    optim_step_ref(c, s, norm, n, n_decay, wd.data(), gd.data(), md.data(), vd.data(), ed.data());
    auto rounded = [](const std::vector<double>& a) { return std::vector<float>(a.begin(), a.end()); };
    Buffer dw = upload(w), dm = upload(m), dv = upload(v), de = upload(w), dg = upload(g), dn(kGpu, sizeof(double));
    Buffer ds = device_scalars(s);
    copy_bytes(kGpu, dn.data(), kCpu, &norm, sizeof norm);
    ops::optim_step(kGpu, c, sptr(ds), dptr(dn), n, n_decay, fptr(dw), fptr(dg), fptr(dm), fptr(dv), fptr(de));
    CHECK(max_ulps(download<float>(dw, size_t(n)), rounded(wd)) <= 2);
    CHECK(max_ulps(download<float>(dm, size_t(n)), rounded(md)) <= 2);
    CHECK(max_ulps(download<float>(dv, size_t(n)), rounded(vd)) <= 2);
    CHECK(same_bits(download<float>(dg, size_t(n)), g));  // norm clipping does not rewrite g
  }
}

TEST_CASE("optim_step CUDA: NaN norm means no scaling, NaN gradients pass through") {
  vdsr::test::require_gpu();
  // As on the CPU: `*norm > threshold` is false for NaN, so the scale stays 1; a NaN gradient
  // survives the value clamp (std::min/std::max semantics) and poisons its w and m only.
  const int64_t n = 7;
  OptimConfig c;  // SGD
  std::vector<float> w(7, 0.5f), m(7, 0.0f), g = {0.1f, -2.0f, 3.0f, 0.0f, -0.3f, 0.7f, 1.0f};
  g[3] = std::numeric_limits<float>::quiet_NaN();
  for (const ClipMode clip : {ClipMode::Norm, ClipMode::Value}) {
    INFO("clip " << clip_mode_name(clip));
    c.clip_mode = clip;
    const OptimScalars s = optim_scalars(c, 0.1, 0.5, 1);
    double norm = std::numeric_limits<double>::quiet_NaN();
    std::vector<float> cw = w, cm = m, cg = g;
    ops::optim_step(kCpu, c, &s, &norm, n, 5, cw.data(), cg.data(), cm.data(), nullptr, nullptr);
    Buffer dw = upload(w), dm = upload(m), dg = upload(g), dn(kGpu, sizeof(double)), ds = device_scalars(s);
    copy_bytes(kGpu, dn.data(), kCpu, &norm, sizeof norm);
    ops::optim_step(kGpu, c, sptr(ds), dptr(dn), n, 5, fptr(dw), fptr(dg), fptr(dm), nullptr, nullptr);
    const auto gw = download<float>(dw, 7), gm = download<float>(dm, 7), gg = download<float>(dg, 7);
    for (size_t i = 0; i < 7; ++i) {
      INFO("i " << i);
      CHECK(std::isnan(gw[i]) == (i == 3));
      CHECK(std::isnan(gm[i]) == (i == 3));
      if (i != 3) {
        CHECK(gw[i] == cw[i]);
        CHECK(gm[i] == cm[i]);
        CHECK(gg[i] == cg[i]);
      }
    }
  }
}

TEST_CASE("CUDA small ops: preconditions throw vdsr::Error") {
  vdsr::test::require_gpu();
  Buffer a = upload(std::vector<float>(8, 1.0f)), b = upload(std::vector<float>(8, 2.0f));
  Buffer c = upload(std::vector<float>(8, 0.0f)), d(kGpu, 2 * sizeof(double));
  CHECK_THROWS_AS(ops::residual_add(kGpu, -1, fptr(a), fptr(b), fptr(c)), Error);
  CHECK_THROWS_AS(ops::residual_add(kGpu, 8, nullptr, fptr(b), fptr(c)), Error);
  CHECK_THROWS_AS(ops::euclidean_loss(kGpu, 0, 8, fptr(a), fptr(b), fptr(c), dptr(d)), Error);
  CHECK_THROWS_AS(ops::euclidean_loss(kGpu, 1, -1, fptr(a), fptr(b), fptr(c), dptr(d)), Error);
  CHECK_THROWS_AS(ops::euclidean_loss(kGpu, 1, 8, nullptr, fptr(b), fptr(c), dptr(d)), Error);
  CHECK_THROWS_AS(ops::euclidean_loss(kGpu, 1, 8, fptr(a), fptr(b), fptr(c), nullptr), Error);
  CHECK_THROWS_AS(ops::grad_norm(kGpu, -1, fptr(a), dptr(d)), Error);
  CHECK_THROWS_AS(ops::grad_norm(kGpu, 8, nullptr, dptr(d)), Error);
  CHECK_THROWS_AS(ops::grad_norm(kGpu, 8, fptr(a), nullptr), Error);
  CHECK_THROWS_AS(ops::flag_nonfinite(kGpu, nullptr, 0, nullptr), Error);
  OptimConfig sgd, adam;
  adam.kind = Optimizer::Adam;
  Buffer sc = device_scalars(optim_scalars(sgd, 0.1, 0.4, 1));
  const OptimScalars* ds = sptr(sc);
  CHECK_THROWS_AS(ops::optim_step(kGpu, sgd, ds, nullptr, -1, 0, fptr(a), fptr(b), fptr(c), nullptr, nullptr), Error);
  CHECK_THROWS_AS(ops::optim_step(kGpu, sgd, ds, nullptr, 8, 9, fptr(a), fptr(b), fptr(c), nullptr, nullptr), Error);
  CHECK_THROWS_AS(ops::optim_step(kGpu, sgd, ds, nullptr, 8, -1, fptr(a), fptr(b), fptr(c), nullptr, nullptr), Error);
  CHECK_THROWS_AS(ops::optim_step(kGpu, sgd, ds, nullptr, 8, 4, fptr(a), nullptr, fptr(c), nullptr, nullptr), Error);
  CHECK_THROWS_AS(ops::optim_step(kGpu, sgd, nullptr, nullptr, 8, 4, fptr(a), fptr(b), fptr(c), nullptr, nullptr), Error);
  CHECK_THROWS_AS(ops::optim_step(kGpu, adam, ds, nullptr, 8, 4, fptr(a), fptr(b), fptr(c), nullptr, nullptr), Error);
  sgd.clip_mode = ClipMode::Norm;
  CHECK_THROWS_AS(ops::optim_step(kGpu, sgd, ds, nullptr, 8, 4, fptr(a), fptr(b), fptr(c), nullptr, nullptr), Error);
  sgd.clip_mode = ClipMode::None;
  // A failed check launches nothing: the buffers are as they were.
  CHECK(download<float>(a, 8) == std::vector<float>(8, 1.0f));
  CHECK(download<float>(b, 8) == std::vector<float>(8, 2.0f));
  CHECK(download<float>(c, 8) == std::vector<float>(8, 0.0f));
  // The boundaries are valid: n = 0 with null pointers, n_decay = 0 and n_decay = n.
  CHECK_NOTHROW(ops::residual_add(kGpu, 0, nullptr, nullptr, nullptr));
  CHECK_NOTHROW(ops::grad_norm(kGpu, 0, nullptr, dptr(d)));
  CHECK_NOTHROW(ops::euclidean_loss(kGpu, 1, 0, nullptr, nullptr, nullptr, dptr(d)));
  CHECK_NOTHROW(ops::optim_step(kGpu, sgd, ds, nullptr, 0, 0, nullptr, nullptr, nullptr, nullptr, nullptr));
  CHECK_NOTHROW(ops::optim_step(kGpu, sgd, ds, nullptr, 8, 0, fptr(a), fptr(b), fptr(c), nullptr, nullptr));
  CHECK_NOTHROW(ops::optim_step(kGpu, sgd, ds, nullptr, 8, 8, fptr(a), fptr(b), fptr(c), nullptr, nullptr));
}
