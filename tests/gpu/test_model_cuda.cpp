// The whole network on cuda:0 against the same network on the CPU (model/vdsr.h): inference,
// one training step, determinism, the non-finite flag, run_model and the evaluation protocol's
// PSNR. Both models start from the same seeded He initialisation (with random biases so the bias
// paths matter); the CUDA model takes device pointers, the CPU model host pointers.
//
// Tolerances, and why:
//   Forward: max |y_gpu - y_cpu| <= 1e-4 * max |y_cpu|. Every conv output is a float sum of up to
//     9 C = 576 products that the two backends add in different orders: about sqrt(576) * 2^-24
//     ~ 1.4e-6 relative to the activations per layer, compounding over 20 layers (He init keeps
//     the gain near 1) to ~1e-5 of the output's scale. 1e-4 leaves a 10x margin; an indexing or
//     layout bug gives errors of the order of the output itself.
//   Training step: loss within 1e-5 relative (forward error as above, summed in double), gradient
//     norm within 1e-3 relative, and per layer ||a_gpu - a_cpu||_2 <= 1e-2 ||a_cpu||_2 for the
//     gradients, the momentum and the parameter change (plus the float rounding of the stored
//     parameters, 2^-23 ||w||). Looser than the forward because a pre-activation within float
//     noise of 0 can fall on different sides of the ReLU on the two devices: its gradient then
//     passes on one and is masked on the other, one pixel's term out of N H W = 6,724 in that
//     channel's weight gradient (~1e-3 of the layer's gradient norm each; a 20 x 64 network has
//     ~8 million activations, so a few such flips per step are expected).
//   Determinism, graph replay against eager launches (SGD and Adam with the EMA, the lr changing
//     at every step): bit-identical (no atomics, fixed reduction orders).
//   Adam with the EMA against the CPU: losses within 1e-5, and at most 0.1% of the weights off by
//     more than 1e-6 after 3 steps (why: at that test).
//   PSNR: within 0.001 dB; SSIM within 1e-4 (a pixel whose 255 * output lies within float noise of
//     a rounding boundary may quantise one level apart; the small model keeps that rare).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/buffer.h"
#include "engine/device.h"
#include "engine/pinned_pool.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/plane.h"
#include "kernels/programmatic_launch.h"
#include "model/inference.h"
#include "model/tiled.h"
#include "model/vdsr.h"
#include "model/vdsr_config.h"
#include "tests/support/test_support.h"

using namespace vdsr;
using vdsr::test::random_floats;

namespace {

const Device kCpu = Device::cpu();
const Device kGpu = Device::cuda(0);

const VdsrConfig kSmall{5, 16, true};
const VdsrConfig kSmallNoBias{3, 8, false};

Buffer upload(const std::vector<float>& host) {
  Buffer b(kGpu, host.size() * sizeof(float));
  copy_bytes(kGpu, b.data(), kCpu, host.data(), b.bytes());
  return b;
}

std::vector<float> download(Device dev, const float* p, size_t count) {
  std::vector<float> host(count);
  copy_bytes(kCpu, host.data(), dev, p, count * sizeof(float));
  return host;
}

void poison(Buffer& b) {
  const std::vector<unsigned char> bytes(b.bytes(), 0xFF);
  copy_bytes(kGpu, b.data(), kCpu, bytes.data(), b.bytes());
}

// He weights from `seed`, biases uniform in [-0.05, 0.05] (He init leaves them 0).
std::vector<float> seeded_params(const VdsrConfig& cfg, uint64_t seed) {
  Vdsr m(cfg);
  m.init_he(seed);
  std::vector<float> p = m.weights().params;
  const size_t nw = size_t(weight_count(cfg));
  const auto b = random_floats(p.size() - nw, -0.05f, 0.05f, uint32_t(seed) + 1000);
  std::copy(b.begin(), b.end(), p.begin() + std::ptrdiff_t(nw));
  return p;
}

std::vector<float> forward_cpu(Vdsr& m, int64_t N, int64_t H, int64_t W,
                               const std::vector<float>& x) {
  std::vector<float> y(x.size());
  m.forward(N, H, W, x.data(), y.data());
  return y;
}

std::vector<float> forward_gpu(Vdsr& m, int64_t N, int64_t H, int64_t W,
                               const std::vector<float>& x) {
  Buffer dx = upload(x), dy(kGpu, x.size() * sizeof(float));
  poison(dy);
  m.forward(N, H, W, static_cast<const float*>(dx.data()), static_cast<float*>(dy.data()));
  return download(kGpu, static_cast<const float*>(dy.data()), x.size());
}

double max_abs(const std::vector<float>& a) {
  double m = 0.0;
  for (const float v : a) m = std::max(m, std::fabs(static_cast<double>(v)));
  return m;
}

// max |a - b|; infinity when either holds a NaN or an infinity.
double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double m = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i]))
      return std::numeric_limits<double>::infinity();
    m = std::max(m, std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  }
  return m;
}

// L2 norm of a[r] - b[r] (or of a[r] alone when b is null) over a range, in double.
double range_norm(const std::vector<float>& a, const std::vector<float>* b, int64_t begin,
                  int64_t count) {
  double s = 0.0;
  for (int64_t i = begin; i < begin + count; ++i) {
    const double d = static_cast<double>(a[size_t(i)]) -
                     (b != nullptr ? static_cast<double>((*b)[size_t(i)]) : 0.0);
    s += d * d;
  }
  return std::sqrt(s);
}

// Per layer (weights and biases separately): ||got - want|| <= rel * ||scale_ref|| + abs_rel *
// ||want||, where scale_ref is the quantity whose size sets the tolerance.
void check_by_layer(const Vdsr& model, const char* what, const std::vector<float>& got,
                    const std::vector<float>& want, const std::vector<float>& scale_ref, double rel,
                    double abs_rel) {
  for (size_t li = 0; li < model.layers().size(); ++li) {
    const LayerDesc& l = model.layers()[li];
    struct Range {
      const char* name;
      int64_t begin, count;
    };
    std::vector<Range> ranges = {{"weight", l.w_offset, int64_t(l.K) * l.C * 9}};
    if (l.b_offset >= 0) ranges.push_back({"bias", l.b_offset, l.K});
    for (const Range& r : ranges) {
      const double diff = range_norm(got, &want, r.begin, r.count);
      const double tol = rel * range_norm(scale_ref, nullptr, r.begin, r.count) +
                         abs_rel * range_norm(want, nullptr, r.begin, r.count);
      INFO(what << ": layer " << li << " " << r.name << ": ||diff|| " << diff << ", tolerance "
                << tol);
      CHECK(std::isfinite(diff));
      CHECK(diff <= tol);
    }
  }
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// A training batch: inputs in [0, 1] and unrelated targets in [0, 1], so the loss is large and the
// gradients are far from zero.
struct Batch {
  int64_t N, H, W;
  std::vector<float> x, target;
  Batch(int64_t n, int64_t h, int64_t w, uint32_t seed)
      : N(n),
        H(h),
        W(w),
        x(random_floats(size_t(n * h * w), 0.0f, 1.0f, seed)),
        target(random_floats(size_t(n * h * w), 0.0f, 1.0f, seed + 1)) {}
};

StepStats train_gpu(Vdsr& m, const Batch& b, const StepOptions& opt) {
  Buffer dx = upload(b.x), dt = upload(b.target);
  return m.train_step(b.N, b.H, b.W, static_cast<const float*>(dx.data()),
                      static_cast<const float*>(dt.data()), opt);
}

// 64 x 48 RGB with smooth gradients, a sinusoid and hard edges, so the bicubic round trip and the
// network both have something to do.
Image synthetic_image() {
  Image img;
  img.width = 64;
  img.height = 48;
  img.channels = 3;
  img.bits = 8;
  img.pixels.resize(size_t(64) * 48 * 3);
  for (int y = 0; y < 48; ++y)
    for (int x = 0; x < 64; ++x) {
      const double s = 128.0 + 100.0 * std::sin(x / 5.0) * std::cos(y / 7.0);
      const int r = int(std::lround(s));
      const int g = (x * 4 + y * 2) % 256;
      const int b = ((x / 8 + y / 8) % 2) * 200 + 20;
      uint16_t* px = &img.pixels[(size_t(y) * 64 + size_t(x)) * 3];
      px[0] = uint16_t(r);
      px[1] = uint16_t(g);
      px[2] = uint16_t(b);
    }
  return img;
}

}  // namespace

TEST_CASE("CUDA model: inference forward matches the CPU") {
  vdsr::test::require_gpu();
  struct Shape {
    int64_t N, H, W;
  };
  for (const VdsrConfig& cfg : {VdsrConfig{}, kSmall, kSmallNoBias}) {
    const auto params = seeded_params(cfg, 7);
    Vdsr cpu(cfg), gpu(cfg, kGpu);
    cpu.set_params(params);
    gpu.set_params(params);
    for (const Shape s : {Shape{1, 37, 53}, Shape{2, 41, 41}}) {
      INFO(cfg.describe() << ", input " << s.N << "x" << s.H << "x" << s.W);
      const auto x = random_floats(size_t(s.N * s.H * s.W), 0.0f, 1.0f, 17);
      const auto want = forward_cpu(cpu, s.N, s.H, s.W, x);
      const auto got = forward_gpu(gpu, s.N, s.H, s.W, x);
      const double scale = max_abs(want), diff = max_abs_diff(got, want);
      INFO("max |diff| " << diff << ", max |y| " << scale);
      CHECK(diff <= 1e-4 * scale);
      // The same model again: the same bits.
      CHECK(same_bits(forward_gpu(gpu, s.N, s.H, s.W, x), got));
    }
  }
}

TEST_CASE("CUDA model: one training step matches the CPU") {
  vdsr::test::require_gpu();
  for (const VdsrConfig& cfg : {VdsrConfig{}, kSmall}) {
    for (const ClipMode clip : {ClipMode::Norm, ClipMode::Value}) {
      INFO(cfg.describe() << ", clip " << (clip == ClipMode::Norm ? "norm" : "value"));
      const auto params = seeded_params(cfg, 11);
      Vdsr cpu(cfg), gpu(cfg, kGpu);
      cpu.set_params(params);
      gpu.set_params(params);
      StepOptions opt;  // lr 0.1, momentum 0.9, weight decay 1e-4, norm clip 0.4
      opt.optim.clip_mode = clip;
      // About the rms gradient element (norm ~1e4 over 665,921 elements): clamps a good share of
      // the elements but not all. A threshold far below every |g| would turn each element into
      // +-threshold, so that one element whose tiny gradient lands on the other side of zero on
      // the two devices would cost 2 thresholds, far above the per-layer tolerance.
      if (clip == ClipMode::Value) opt.clip = 10.0;

      const Batch b(4, 41, 41, 23);
      const StepStats sc = cpu.train_step(b.N, b.H, b.W, b.x.data(), b.target.data(), opt);
      const StepStats sg = train_gpu(gpu, b, opt);
      INFO("loss cpu " << sc.loss << " gpu " << sg.loss << "; norm cpu " << sc.grad_norm << " gpu "
                       << sg.grad_norm);
      REQUIRE(std::isfinite(sc.loss));
      CHECK(std::fabs(sg.loss - sc.loss) <= 1e-5 * sc.loss);
      CHECK(std::fabs(sg.grad_norm - sc.grad_norm) <= 1e-3 * sc.grad_norm);
      if (clip == ClipMode::Norm) REQUIRE(sc.grad_norm > opt.clip);  // the clip scale is used

      const size_t n = size_t(cpu.num_params());
      const auto g_cpu = download(kCpu, cpu.grads(), n), g_gpu = download(kGpu, gpu.grads(), n);
      const auto v_cpu = download(kCpu, cpu.momentum(), n);
      const auto v_gpu = download(kGpu, gpu.momentum(), n);
      const auto w_cpu = cpu.weights().params, w_gpu = gpu.weights().params;
      std::vector<float> delta(n);  // the CPU's parameter change
      for (size_t i = 0; i < n; ++i) delta[i] = w_cpu[i] - params[i];

      check_by_layer(cpu, "gradient", g_gpu, g_cpu, g_cpu, 1e-2, 0.0);
      check_by_layer(cpu, "momentum", v_gpu, v_cpu, v_cpu, 1e-2, 0.0);
      check_by_layer(cpu, "parameters", w_gpu, w_cpu, delta, 1e-2, 0x1.0p-23);
      CHECK(gpu.steps_taken() == 1);
      CHECK(gpu.first_nonfinite_step() == -1);
    }
  }
}

TEST_CASE("CUDA model: training is deterministic") {
  vdsr::test::require_gpu();
  const auto params = seeded_params(VdsrConfig{}, 13);
  StepOptions opt;
  std::vector<float> first_params, first_momentum;
  std::vector<StepStats> first_stats;
  for (int run = 0; run < 2; ++run) {
    INFO("run " << run);
    Vdsr gpu(VdsrConfig{}, kGpu);
    gpu.set_params(params);
    std::vector<StepStats> stats;
    for (uint32_t step = 0; step < 3; ++step)
      stats.push_back(train_gpu(gpu, Batch(4, 41, 41, 31 + 2 * step), opt));
    const auto w = gpu.weights().params;
    const auto v = download(kGpu, gpu.momentum(), size_t(gpu.num_params()));
    if (run == 0) {
      first_params = w;
      first_momentum = v;
      first_stats = stats;
    } else {
      CHECK(same_bits(w, first_params));
      CHECK(same_bits(v, first_momentum));
      for (size_t i = 0; i < stats.size(); ++i) {
        CHECK(same_bits(stats[i].loss, first_stats[i].loss));
        CHECK(same_bits(stats[i].grad_norm, first_stats[i].grad_norm));
      }
    }
  }
}

TEST_CASE("CUDA model: a NaN input sets the non-finite flag at its step") {
  vdsr::test::require_gpu();
  const auto params = seeded_params(kSmall, 17);
  Vdsr gpu(kSmall, kGpu), cpu(kSmall);
  gpu.set_params(params);
  cpu.set_params(params);
  const StepOptions opt;
  for (uint32_t step = 0; step < 5; ++step) {
    INFO("step " << step);
    Batch b(2, 21, 19, 41 + 2 * step);
    if (step == 2) b.x[123] = std::numeric_limits<float>::quiet_NaN();
    Buffer dx = upload(b.x), dt = upload(b.target);
    gpu.train_step_async(b.N, b.H, b.W, static_cast<const float*>(dx.data()),
                         static_cast<const float*>(dt.data()), opt);
    cpu.train_step_async(b.N, b.H, b.W, b.x.data(), b.target.data(), opt);
    const int64_t want = step < 2 ? -1 : 2;  // sticky from the first bad step on
    CHECK(gpu.first_nonfinite_step() == want);
    CHECK(cpu.first_nonfinite_step() == want);
    if (step == 2) {
      CHECK(std::isnan(gpu.read_stats().loss));
    }
  }
  CHECK(gpu.steps_taken() == 5);
}

TEST_CASE("CUDA model: run_model and the evaluation protocol's scores match the CPU") {
  vdsr::test::require_gpu();
  for (const VdsrConfig& cfg : {VdsrConfig{}, kSmall}) {
    INFO(cfg.describe());
    const auto params = seeded_params(cfg, 19);
    Vdsr cpu(cfg), gpu(cfg, kGpu);
    cpu.set_params(params);
    gpu.set_params(params);
    Plane in(37, 53);
    const auto r = random_floats(in.v.size(), 0.0f, 1.0f, 47);
    for (size_t i = 0; i < r.size(); ++i) in.v[i] = static_cast<double>(r[i]);
    const Plane oc = run_model(cpu, in), og = run_model(gpu, in);
    REQUIRE(og.height == oc.height);
    REQUIRE(og.width == oc.width);
    double scale = 0.0, diff = 0.0;
    for (size_t i = 0; i < oc.v.size(); ++i) {
      scale = std::max(scale, std::fabs(oc.v[i]));
      diff = std::max(diff, std::isfinite(og.v[i]) ? std::fabs(og.v[i] - oc.v[i])
                                                   : std::numeric_limits<double>::infinity());
    }
    INFO("max |diff| " << diff << ", max |y| " << scale);
    CHECK(diff <= 1e-4 * scale);
  }

  // The protocol on a synthetic image with a random small model.
  const auto params = seeded_params(kSmall, 23);
  Vdsr cpu(kSmall), gpu(kSmall, kGpu);
  cpu.set_params(params);
  gpu.set_params(params);
  const Image img = synthetic_image();
  for (const int scale : {2, 3, 4}) {
    INFO("scale " << scale);
    const EvalSample s = make_eval_sample(img, scale, "synthetic");
    const Scores sc = score_output(run_model(cpu, s.input), s.hr, scale);
    const Scores sg = score_output(run_model(gpu, s.input), s.hr, scale);
    INFO("PSNR cpu " << sc.psnr << " gpu " << sg.psnr << "; SSIM cpu " << sc.ssim << " gpu "
                     << sg.ssim);
    REQUIRE(std::isfinite(sc.psnr));
    CHECK(std::fabs(sg.psnr - sc.psnr) <= 0.001);
    CHECK(std::fabs(sg.ssim - sc.ssim) <= 1e-4);
  }
}

// ---- The bf16 and tf32 modes and the graph-replayed iteration ----
//
// bf16 against fp32 on the same weights. Every feature map is rounded to bf16 (relative error
// uniform in +-2^-9, rms 2^-9 / sqrt(3) ~ 0.11% per element) and so are the hidden weights; over
// ~40 such roundings in a 20-layer network of gain ~1 the errors add roughly in quadrature, to
// ~0.7% of the signal. Tolerances: 3% of the residual's norm for inference, 5% per layer for the
// gradients (which also see the rounded dL/dmaps and ReLU flips). tf32 keeps the maps in fp32 and
// rounds only the tensor cores' operands, to 10 fraction bits (8x finer than bf16's 7): expected
// ~0.1% for inference (a CPU emulation of the rounding on this test's model and inputs: 5.7e-4),
// tolerance 0.5%. The gradients see more: the rounding flips some ReLUs in the forward, and the
// flips reach the layers below, so the same emulation gives 1.0-1.35% per layer (1.15% from the
// forward's rounding alone; in float or double sums), and bf16's emulation gives 3.8-4.6% against
// its 5% (which the GPU passed at 84a9732): tf32's tolerance is 3%. A layout or indexing bug gives
// errors of the order of the signal itself.

namespace {

// ||a - b|| / ||b|| over the residuals a - x, b - x.
double residual_rel_error(const std::vector<float>& a, const std::vector<float>& b,
                          const std::vector<float>& x) {
  double d = 0.0, n = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double ra = double(a[i]) - double(x[i]), rb = double(b[i]) - double(x[i]);
    if (!std::isfinite(ra)) return std::numeric_limits<double>::infinity();
    d += (ra - rb) * (ra - rb);
    n += rb * rb;
  }
  return std::sqrt(d / n);
}

// A default-config model on the GPU with these parameters, in this precision.
std::unique_ptr<Vdsr> gpu_model(const std::vector<float>& params, Precision prec) {
  auto m = std::make_unique<Vdsr>(VdsrConfig{}, kGpu);
  m->set_params(params);
  m->set_precision(prec);
  return m;
}

// The tensor-core modes and their tolerances against fp32 (see above); `tc` below is the model
// in the mode under test.
struct Mode {
  Precision precision;
  double inference, loss, gradient;
};
const Mode kModes[] = {{Precision::Bf16, 3e-2, 1e-2, 5e-2}, {Precision::Tf32, 5e-3, 2e-3, 3e-2}};

}  // namespace

TEST_CASE("CUDA model bf16 and tf32: inference is close to fp32, repeatable, tiles agree") {
  vdsr::test::require_gpu();
  for (const Mode& mode : kModes) {
    INFO(precision_name(mode.precision));
    const auto params = seeded_params(VdsrConfig{}, 29);
    const auto fp32_model = gpu_model(params, Precision::Fp32),
               tc_model = gpu_model(params, mode.precision);
    Vdsr &fp32 = *fp32_model, &tc = *tc_model;
    struct Shape {
      int64_t N, H, W;
    };
    for (const Shape s : {Shape{1, 37, 53}, Shape{2, 41, 41}, Shape{1, 1, 1}, Shape{1, 5, 200}}) {
      INFO("input " << s.N << "x" << s.H << "x" << s.W);
      const auto x = random_floats(size_t(s.N * s.H * s.W), 0.0f, 1.0f, 53);
      const auto want = forward_gpu(fp32, s.N, s.H, s.W, x);
      const auto got = forward_gpu(tc, s.N, s.H, s.W, x);
      const double rel = residual_rel_error(got, want, x);
      INFO("||r_mode - r_fp32|| / ||r_fp32|| = " << rel);
      CHECK(rel <= mode.inference);
      CHECK(same_bits(forward_gpu(tc, s.N, s.H, s.W, x), got));
    }
    Plane in(45, 61);
    const auto r = random_floats(in.v.size(), 0.0f, 1.0f, 59);
    for (size_t i = 0; i < r.size(); ++i) in.v[i] = static_cast<double>(r[i]);
    const Plane whole = run_model(tc, in), tiled = run_model_tiled(tc, in, 16);
    CHECK(whole.v == tiled.v);
  }
}

TEST_CASE("CUDA model: a plane over 2^31 / 64 pixels goes through -t 0 in pieces, the bits of small tiles") {
  // The CUDA convolutions take fewer than 2^31 elements per image (33,554,431 pixels at 64
  // channels); an H100's or H200's free memory alone would send a 5800 x 5800 plane whole, and it
  // failed there. auto_tile keeps every region within the limit (model/tiled.h). Depth 3 keeps it
  // quick; the limit is the 64 channels'.
  vdsr::test::require_gpu();
  const VdsrConfig cfg{3, 64, true};
  Vdsr m(cfg, kGpu);
  m.set_params(seeded_params(cfg, 61));
  Plane in(5800, 5800);
  const auto r = random_floats(in.v.size(), 0.0f, 1.0f, 62);
  for (size_t i = 0; i < r.size(); ++i) in.v[i] = static_cast<double>(r[i]);
  REQUIRE(int64_t(in.height) * in.width > max_region_pixels(cfg, kGpu));
  const int tile = auto_tile(m, in.height, in.width);
  INFO("auto tile " << tile);
  CHECK(tile > 0);
  const Plane got = run_model_tiled(m, in, tile);
  CHECK(got.v == run_model_tiled(m, in, 2048).v);
}

TEST_CASE("CUDA model: forward_host through page-locked staging is forward on device buffers, bit for bit") {
  vdsr::test::require_gpu();
  const auto params = seeded_params(VdsrConfig{}, 37);
  for (const Precision p : {Precision::Fp32, Precision::Bf16, Precision::Tf32}) {
    INFO(precision_name(p));
    const auto model = gpu_model(params, p);
    // Growing sizes and then a smaller one: the device planes are kept and reused.
    for (const int64_t side : {int64_t(17), int64_t(64), int64_t(33)}) {
      INFO("side " << side);
      const size_t n = size_t(side * side);
      const auto x = random_floats(n, 0.0f, 1.0f, 71);
      const auto want = forward_gpu(*model, 1, side, side, x);
      PinnedBlock staging(n * sizeof(float), kGpu);
      CHECK(staging.page_locked());
      auto* io = static_cast<float*>(staging.data());
      std::copy(x.begin(), x.end(), io);
      std::vector<float> out(n, -7.0f);
      model->forward_host(1, side, side, io, out.data());  // pageable output
      CHECK(same_bits(out, want));
      model->forward_host(1, side, side, io, io);  // in place, page-locked
      CHECK(same_bits(std::vector<float>(io, io + n), want));
    }
  }
}

TEST_CASE("CUDA model bf16 and tf32: a training step is close to fp32") {
  vdsr::test::require_gpu();
  for (const Mode& mode : kModes) {
    INFO(precision_name(mode.precision));
    const auto params = seeded_params(VdsrConfig{}, 31);
    const auto fp32_model = gpu_model(params, Precision::Fp32),
               tc_model = gpu_model(params, mode.precision);
    Vdsr &fp32 = *fp32_model, &tc = *tc_model;
    const StepOptions opt;
    const Batch b(4, 41, 41, 61);
    const StepStats sf = train_gpu(fp32, b, opt);
    const StepStats sb = train_gpu(tc, b, opt);
    INFO("loss fp32 " << sf.loss << " mode " << sb.loss << "; norm fp32 " << sf.grad_norm
                      << " mode " << sb.grad_norm);
    REQUIRE(std::isfinite(sb.loss));
    CHECK(std::fabs(sb.loss - sf.loss) <= mode.loss * sf.loss);
    CHECK(std::fabs(sb.grad_norm - sf.grad_norm) <= mode.gradient * sf.grad_norm);
    const size_t n = size_t(fp32.num_params());
    const auto gf = download(kGpu, fp32.grads(), n), gb = download(kGpu, tc.grads(), n);
    const auto wf = fp32.weights().params, wb = tc.weights().params;
    std::vector<float> delta(n);
    for (size_t i = 0; i < n; ++i) delta[i] = wf[i] - params[i];
    check_by_layer(fp32, "gradient", gb, gf, gf, mode.gradient, 0.0);
    check_by_layer(fp32, "parameters", wb, wf, delta, mode.gradient, 0x1.0p-23);
    CHECK(tc.first_nonfinite_step() == -1);
  }
}

TEST_CASE("CUDA model: graph-replayed training equals eager training bit for bit") {
  vdsr::test::require_gpu();
  StepOptions sgd, adam;
  adam.optim.kind = Optimizer::Adam;
  adam.optim.ema = 0.99;
  adam.optim.bias_lr_mult = 0.1;
  adam.optim.clip_mode = ClipMode::Value;
  adam.clip = 0.05;
  adam.clip_scale_by_lr = true;  // the threshold follows the lr too
  for (const Precision prec : {Precision::Fp32, Precision::Bf16, Precision::Tf32})
    for (const StepOptions& base : {sgd, adam}) {
      INFO(precision_name(prec) << ", " << optimizer_name(base.optim.kind));
      const auto params = seeded_params(VdsrConfig{}, 37);
      const auto graphed_model = gpu_model(params, prec), eager_model = gpu_model(params, prec);
      Vdsr &graphed = *graphed_model, &eager = *eager_model;
      eager.set_use_graphs(false);
      // The trainer's pattern: fixed device buffers refilled every step; a schedule changes the
      // learning rate at every step, which the recorded graph reads from device memory.
      const int64_t N = 4, H = 41, W = 41;
      Buffer dx(kGpu, size_t(N * H * W) * sizeof(float)), dt(kGpu, dx.bytes());
      StepOptions opt = base;
      for (uint32_t step = 0; step < 7; ++step) {
        INFO("step " << step);
        const Batch b(N, H, W, 71 + 2 * step);
        copy_bytes(kGpu, dx.data(), kCpu, b.x.data(), dx.bytes());
        copy_bytes(kGpu, dt.data(), kCpu, b.target.data(), dt.bytes());
        opt.lr = (base.optim.kind == Optimizer::Sgd ? 0.01 : 1e-3) * (1.0 - 0.1 * step);
        const auto* x = static_cast<const float*>(dx.data());
        const auto* t = static_cast<const float*>(dt.data());
        const StepStats sg = graphed.train_step(N, H, W, x, t, opt);
        const StepStats se = eager.train_step(N, H, W, x, t, opt);
        CHECK(same_bits(sg.loss, se.loss));
        CHECK(same_bits(sg.grad_norm, se.grad_norm));
      }
      CHECK(same_bits(graphed.weights().params, eager.weights().params));
      const size_t n = size_t(graphed.num_params());
      CHECK(same_bits(download(kGpu, graphed.momentum(), n), download(kGpu, eager.momentum(), n)));
      if (base.optim.kind == Optimizer::Adam) {
        CHECK(same_bits(download(kGpu, graphed.second_moment(), n), download(kGpu, eager.second_moment(), n)));
        CHECK(same_bits(graphed.ema_weights().params, eager.ema_weights().params));
      }
      // Step 0 runs eagerly (a new key), step 1 records, the others replay: the lr changing at
      // every step never re-records.
      CHECK(graphed.graph_replays() == 6);
      CHECK(eager.graph_replays() == 0);
      CHECK(graphed.steps_taken() == 7);
    }
}

// Programmatic dependent launch (kernels/pdl.cuh) lets a kernel start before the one ahead of it
// finishes; a kernel that read or wrote too early would change results now and then. So: the same
// training steps (graph-replayed and eager) and frames with it on and off, bit for bit, in every
// precision, and enough steps at the training shape for a race to show. (Below compute 9.0 the
// launcher never sets the attribute and this compares plain launches with themselves.)
TEST_CASE("CUDA model: programmatic dependent launch changes no bit") {
  vdsr::test::require_gpu();
  struct Restore {
    bool was = programmatic_launch();
    ~Restore() { set_programmatic_launch(was); }
  } restore;
  for (const Precision prec : {Precision::Fp32, Precision::Bf16, Precision::Tf32}) {
    INFO(precision_name(prec));
    const auto params = seeded_params(VdsrConfig{}, 43);
    const auto on_graph = gpu_model(params, prec), on_eager = gpu_model(params, prec),
               off = gpu_model(params, prec);
    on_eager->set_use_graphs(false);
    off->set_use_graphs(false);
    const int64_t N = 64, H = 41, W = 41;
    Buffer dx(kGpu, size_t(N * H * W) * sizeof(float)), dt(kGpu, dx.bytes());
    StepOptions opt;
    opt.lr = 0.01;
    for (uint32_t step = 0; step < 6; ++step) {
      INFO("step " << step);
      const Batch b(N, H, W, 91 + 2 * step);
      copy_bytes(kGpu, dx.data(), kCpu, b.x.data(), dx.bytes());
      copy_bytes(kGpu, dt.data(), kCpu, b.target.data(), dt.bytes());
      const auto* x = static_cast<const float*>(dx.data());
      const auto* t = static_cast<const float*>(dt.data());
      set_programmatic_launch(false);
      const StepStats want = off->train_step(N, H, W, x, t, opt);
      set_programmatic_launch(true);
      const StepStats graphed = on_graph->train_step(N, H, W, x, t, opt);
      const StepStats eager = on_eager->train_step(N, H, W, x, t, opt);
      CHECK(same_bits(graphed.loss, want.loss));
      CHECK(same_bits(graphed.grad_norm, want.grad_norm));
      CHECK(same_bits(eager.loss, want.loss));
      CHECK(same_bits(eager.grad_norm, want.grad_norm));
    }
    CHECK(on_graph->graph_replays() == 5);  // step 0 eager, step 1 recorded, then replays
    CHECK(same_bits(on_graph->weights().params, off->weights().params));
    CHECK(same_bits(on_eager->weights().params, off->weights().params));
    // Frames: the linear plan (narrow) and the 2-D tiles (wide) of the wgmma kernels.
    for (const auto& [h, w] : {std::pair<int64_t, int64_t>{41, 41}, {270, 480}}) {
      INFO("frame " << h << "x" << w);
      const auto x = random_floats(size_t(h * w), 0.0f, 1.0f, 97);
      set_programmatic_launch(false);
      const auto want = forward_gpu(*off, 1, h, w, x);
      set_programmatic_launch(true);
      CHECK(same_bits(forward_gpu(*on_eager, 1, h, w, x), want));
    }
  }
}

TEST_CASE("CUDA model: Adam with the EMA trains like the CPU, step for step") {
  vdsr::test::require_gpu();
  // fp32: the conv kernels differ from the CPU's in summation order only, so losses agree to
  // float rounding, and the optimizer pass itself is bit-identical (test_ops_cuda). Adam
  // normalises each element's step, so an element whose gradient is at the rounding level can
  // step (by up to lr = 1e-3) in different directions on the two devices: at most 0.1% of the
  // weights and of their EMA may differ by more than 1e-6 after 3 steps.
  const VdsrConfig cfg{6, 16, true};
  const auto params = seeded_params(cfg, 41);
  Vdsr cpu(cfg, kCpu), gpu(cfg, kGpu);
  cpu.set_params(params);
  gpu.set_params(params);
  StepOptions opt;
  opt.optim.kind = Optimizer::AdamW;
  opt.optim.ema = 0.9;
  opt.optim.clip_mode = ClipMode::None;
  for (uint32_t step = 0; step < 3; ++step) {
    INFO("step " << step);
    const Batch b(2, 23, 19, 91 + 2 * step);
    opt.lr = 1e-3 * (step + 1) / 3.0;  // a warm-up
    const StepStats sc = cpu.train_step(b.N, b.H, b.W, b.x.data(), b.target.data(), opt);
    const StepStats sg = train_gpu(gpu, b, opt);
    CHECK(sg.loss == Approx(sc.loss).epsilon(1e-5));
    CHECK(sg.grad_norm == Approx(sc.grad_norm).epsilon(1e-4));
  }
  const auto wc = cpu.weights().params, wg = gpu.weights().params;
  const auto ec = cpu.ema_weights().params, eg = gpu.ema_weights().params;
  size_t off = 0, off_ema = 0;
  for (size_t i = 0; i < wc.size(); ++i) {
    off += std::fabs(double(wc[i]) - double(wg[i])) > 1e-6 ? 1 : 0;
    off_ema += std::fabs(double(ec[i]) - double(eg[i])) > 1e-6 ? 1 : 0;
  }
  CHECK(off * 1000 <= wc.size());
  CHECK(off_ema * 1000 <= wc.size());
  CHECK(wc != params);  // the steps moved the weights
}

TEST_CASE("CUDA model bf16 and tf32: configurations they cannot run are refused") {
  vdsr::test::require_gpu();
  Vdsr narrow(kSmall, kGpu);
  CHECK_THROWS_WITH(narrow.set_precision(Precision::Bf16), Catch::Contains("64 hidden channels"));
  CHECK_THROWS_WITH(narrow.set_precision(Precision::Tf32), Catch::Contains("64 hidden channels"));
  CHECK(narrow.precision() == Precision::Fp32);
}
