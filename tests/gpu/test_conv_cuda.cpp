// The CUDA fp32 convolution kernels (kernels/conv3x3_*.cu, conv_fwd_general.cu), every row of the
// registry (kernels/conv_variants.cuh) and its default: against the double
// references on awkward shapes (odd and non-square H, W; N = 1; C = 1 and K = 1 ends; C, K not
// multiples of 4 or of the tiles), bit for bit on small integers at the training shape
// (64x41x41, 64->64) and at 1080p, position independence (a crop's interior and an image alone
// equal the whole batch bit for bit), determinism, preconditions. Outputs are poisoned with NaN
// (0xFF bytes) before every op so unwritten elements fail.
//
// Float tolerances: each output is a float sum of `chain` products of exactly the reference's
// inputs (FMA: one rounding per term); recursive or tree summation errs by at most
// gamma_chain * sum|terms| < chain 2^-23 sum|terms| (Higham), with sum|terms| the reference run
// on |inputs|; +2 covers the bias addition. The weight gradient sums each chunk of pixels then
// the chunks, at most `pixels` additions deep.
//
// A hidden [.perf] case times every variant (CUDA events, median of 20 after warm-up):
//   build/bin/test_conv_cuda "[.perf]"
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv3x3_bwd_data.cuh"
#include "kernels/conv3x3_bwd_data.h"
#include "kernels/conv3x3_bwd_weight.cuh"
#include "kernels/conv3x3_bwd_weight.h"
#include "kernels/conv3x3_fwd.cuh"
#include "kernels/conv_fwd.h"
#include "kernels/conv_fwd_general.cuh"
#include "kernels/conv_variants.cuh"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvShape;
using vdsr::test::random_floats;
using vdsr::test::random_ints;
using vdsr::test::to_double;
using vdsr::test::abs_of;
using vdsr::test::relu_source;
using vdsr::test::require_close;
using vdsr::test::require_exact;
using vdsr::test::shape_str;

namespace {

constexpr int kDev = 0;

cudaStream_t stream() { return vdsr::cuda_stream(kDev); }

// A device array of floats.
class DevBuf {
 public:
  explicit DevBuf(size_t n) : n_(n) {
    VDSR_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * 4));
  }
  explicit DevBuf(const std::vector<float>& v) : DevBuf(v.size()) { upload(v); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() { cudaFree(p_); }
  float* get() const { return p_; }
  void upload(const std::vector<float>& v) {
    REQUIRE(v.size() == n_);
    // On the engine's stream, so the order with the kernels is explicit.
    VDSR_CUDA_CHECK(cudaMemcpyAsync(p_, v.data(), n_ * 4, cudaMemcpyHostToDevice, stream()));
    vdsr::cuda_sync(kDev);
  }
  void poison() { VDSR_CUDA_CHECK(cudaMemsetAsync(p_, 0xFF, n_ * 4, stream())); }  // NaN
  std::vector<float> download() const {
    vdsr::cuda_sync(kDev);
    std::vector<float> v(n_);
    VDSR_CUDA_CHECK(cudaMemcpy(v.data(), p_, n_ * 4, cudaMemcpyDeviceToHost));
    return v;
  }

 private:
  float* p_ = nullptr;
  size_t n_;
};

void require_same_bits(const std::vector<float>& a, const std::vector<float>& b,
                       const std::string& what) {
  REQUIRE(a.size() == b.size());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], 4) != 0 && bad++ == 0) first = int64_t(i);
  INFO(what << ": " << bad << " of " << a.size() << " differ in bits; first at " << first);
  CHECK(bad == 0);
}

// Awkward shapes: 1x1 images, odd and non-square, N = 1, the C = 1 / K = 1 ends, channels not
// multiples of 4 (direct paths) or of the 16-channel stage / 64-channel tile, tile remainders.
const ConvShape kShapes[] = {
    {1, 1, 1, 1, 1},    {1, 7, 5, 3, 5},     {1, 13, 17, 64, 64}, {3, 5, 3, 1, 64},
    {3, 7, 9, 64, 1},   {2, 4, 19, 5, 3},    {1, 6, 11, 64, 17},  {1, 9, 2, 16, 48},
    {2, 3, 130, 4, 4},  {3, 40, 41, 8, 16},  {2, 5, 9, 7, 1},     {1, 4, 7, 1, 13},
    {2, 9, 11, 64, 128}, {1, 3, 5, 132, 68}, {1, 11, 13, 24, 20}, {2, 1, 1, 64, 64},
    {1, 17, 1, 12, 8},  {1, 6, 7, 128, 1},   {2, 7, 5, 64, 4},
};

// --- running the ops on the GPU -------------------------------------------------------------

// A row of the kernel registry (kernels/conv_variants.cuh); null: the registry's default.
using Variant = vdsr::ConvVariant;
using vdsr::ConvRole;

// The default, then every fp32 row of `role` (all of them run 3x3 shapes on any CUDA device).
std::vector<const Variant*> rows(ConvRole role) {
  std::vector<const Variant*> v{nullptr};
  for (const Variant& r : vdsr::conv_variants())
    if (r.role == role && r.precision == vdsr::Precision::Fp32) v.push_back(&r);
  return v;
}

const Variant* row(ConvRole role, const std::string& name) {
  return &vdsr::conv_variant(role, vdsr::Precision::Fp32, name);
}

std::string label(const Variant* v) { return v == nullptr ? std::string("default") : std::string(v->name); }

void launch(ConvRole role, const Variant* v, const vdsr::ConvLaunch& a) {
  if (v == nullptr)
    vdsr::launch_default_conv(role, vdsr::Precision::Fp32, a);
  else
    v->launch(a);
}

std::vector<float> gpu_fwd(const ConvShape& s, const DevBuf& x, const DevBuf& wt, const DevBuf* b,
                           bool relu, const Variant* v) {
  DevBuf y(size_t(s.out_elems()));
  y.poison();
  launch(ConvRole::Fwd, v,
         vdsr::fwd_launch(s, x.get(), wt.get(), b != nullptr ? b->get() : nullptr, relu, y.get(), stream(), kDev));
  return y.download();
}

std::vector<float> gpu_bwd_data(const ConvShape& s, const DevBuf& dy, const DevBuf& wt,
                                const DevBuf* src, const Variant* v) {
  DevBuf dx(size_t(s.in_elems()));
  dx.poison();
  launch(ConvRole::BwdData, v,
         vdsr::bwd_data_launch(s, dy.get(), wt.get(), src != nullptr ? src->get() : nullptr, dx.get(), stream(), kDev));
  return dx.download();
}

void gpu_bwd_weight(const ConvShape& s, const DevBuf& x, const DevBuf& dy, bool with_db,
                    const Variant* v, std::vector<float>* dw, std::vector<float>* db) {
  DevBuf dwd(size_t(s.weight_elems())), dbd(size_t(s.K));
  dwd.poison();
  dbd.poison();
  launch(ConvRole::BwdWeight, v,
         vdsr::bwd_weight_launch(s, x.get(), dy.get(), dwd.get(), with_db ? dbd.get() : nullptr, stream(), kDev));
  *dw = dwd.download();
  *db = dbd.download();
}

}  // namespace

TEST_CASE("conv3x3_fwd_cuda matches the reference on awkward shapes, every variant") {
  vdsr::test::require_gpu();
  uint32_t seed = 1000;
  for (const ConvShape& s : kShapes)
    for (int bias_relu = 0; bias_relu < 2; ++bias_relu) {
      const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
      const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
      const auto b = random_floats(size_t(s.K), -1, 1, ++seed);
      const auto xd = to_double(x), wd = to_double(wt), bd = to_double(b);
      std::vector<double> want(size_t(s.out_elems())), sumabs(want.size());
      vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bias_relu ? bd.data() : nullptr,
                            bias_relu != 0, want.data());
      const auto xa = abs_of(xd), wa = abs_of(wd), ba = abs_of(bd);
      vdsr::conv_fwd_ref(s, xa.data(), wa.data(), bias_relu ? ba.data() : nullptr, false,
                            sumabs.data());
      const DevBuf xg(x), wg(wt), bg(b);
      for (const Variant* v : rows(ConvRole::Fwd)) {
        const auto y = gpu_fwd(s, xg, wg, bias_relu ? &bg : nullptr, bias_relu != 0, v);
        require_close(y, want, sumabs, double(9 * s.C),
                      "fwd " + label(v) + " " + shape_str(s) +
                          (bias_relu ? " bias relu" : ""));
      }
    }
}

// The general forward (any odd R, zero or replicate padding: SRCNN's layers) against the double
// reference, and bit for bit on small integers.
TEST_CASE("conv_fwd_general_cuda matches the reference for kernel sizes 1 to 9, both paddings") {
  vdsr::test::require_gpu();
  uint32_t seed = 1900;
  for (const vdsr::Padding pad : {vdsr::Padding::Replicate, vdsr::Padding::Zero})
    for (const ConvShape base : {ConvShape{1, 11, 13, 1, 64}, ConvShape{2, 7, 6, 64, 32}, ConvShape{1, 9, 10, 32, 1},
                                 ConvShape{1, 2, 3, 3, 5}, ConvShape{3, 1, 1, 2, 17}})
      for (const int64_t R : {9, 5, 1, 3}) {
        ConvShape s = base;
        s.R = R;
        s.pad = pad;
        const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
        const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
        const auto b = random_floats(size_t(s.K), -1, 1, ++seed);
        const DevBuf xd(x), wd(wt), bd(b);
        DevBuf y(size_t(s.out_elems()));
        y.poison();
        vdsr::conv_fwd_general_cuda(s, xd.get(), wd.get(), bd.get(), true, y.get(), stream());
        const auto xx = to_double(x), ww = to_double(wt), bb = to_double(b);
        std::vector<double> want(size_t(s.out_elems())), sumabs(want.size());
        vdsr::conv_fwd_ref(s, xx.data(), ww.data(), bb.data(), true, want.data());
        const auto xa = abs_of(xx), wa = abs_of(ww), ba = abs_of(bb);
        vdsr::conv_fwd_ref(s, xa.data(), wa.data(), ba.data(), false, sumabs.data());
        require_close(y.download(), want, sumabs, double(s.R * s.R * s.C + 2), "general " + shape_str(s));

        const auto xi = random_ints(size_t(s.in_elems()), -3, 3, ++seed);
        const auto wi = random_ints(size_t(s.weight_elems()), -2, 2, ++seed);
        const DevBuf xid(xi), wid(wi);
        y.poison();
        vdsr::conv_fwd_general_cuda(s, xid.get(), wid.get(), nullptr, false, y.get(), stream());
        const auto xid_d = to_double(xi), wid_d = to_double(wi);
        vdsr::conv_fwd_ref(s, xid_d.data(), wid_d.data(), nullptr, false, want.data());
        require_exact(y.download(), want, "general integers " + shape_str(s));
      }
}

TEST_CASE("conv3x3_bwd_data_cuda matches the reference on awkward shapes, every variant") {
  vdsr::test::require_gpu();
  uint32_t seed = 2000;
  for (const ConvShape& s : kShapes)
    for (int masked = 0; masked < 2; ++masked) {
      const auto dy = random_floats(size_t(s.out_elems()), -1, 1, ++seed);
      const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
      const auto src = relu_source(size_t(s.in_elems()), ++seed);
      const auto dyd = to_double(dy), wd = to_double(wt), srcd = to_double(src);
      std::vector<double> want(size_t(s.in_elems())), sumabs(want.size());
      vdsr::conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), masked ? srcd.data() : nullptr,
                                 want.data());
      const auto dya = abs_of(dyd), wa = abs_of(wd);
      vdsr::conv3x3_bwd_data_ref(s, dya.data(), wa.data(), nullptr, sumabs.data());
      const DevBuf dyg(dy), wg(wt), srcg(src);
      for (const Variant* v : rows(ConvRole::BwdData)) {
        const auto dx = gpu_bwd_data(s, dyg, wg, masked ? &srcg : nullptr, v);
        require_close(dx, want, sumabs, double(9 * s.K),
                      "bwd_data " + label(v) + " " + shape_str(s) +
                          (masked ? " masked" : ""));
      }
    }
}

TEST_CASE("conv3x3_bwd_weight_cuda matches the reference on awkward shapes, every variant") {
  vdsr::test::require_gpu();
  uint32_t seed = 3000;
  std::vector<ConvShape> shapes(std::begin(kShapes), std::end(kShapes));
  shapes.push_back({4, 23, 29, 64, 64});  // several chunks, the last one partial
  shapes.push_back({2, 33, 37, 1, 64});   // the first layer over several chunks
  shapes.push_back({2, 33, 37, 64, 1});   // the last layer over several chunks
  for (const ConvShape& s : shapes)
    for (int with_db = 0; with_db < 2; ++with_db) {
      const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
      const auto dy = random_floats(size_t(s.out_elems()), -1, 1, ++seed);
      const auto xd = to_double(x), dyd = to_double(dy);
      std::vector<double> want_w(size_t(s.weight_elems())), want_b(size_t(s.K));
      std::vector<double> abs_w(want_w.size()), abs_b(want_b.size());
      vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), want_w.data(), want_b.data());
      const auto xa = abs_of(xd), dya = abs_of(dyd);
      vdsr::conv3x3_bwd_weight_ref(s, xa.data(), dya.data(), abs_w.data(), abs_b.data());
      const DevBuf xg(x), dyg(dy);
      std::vector<float> dw0, db0;
      for (const Variant* v : rows(ConvRole::BwdWeight)) {
        std::vector<float> dw, db;
        gpu_bwd_weight(s, xg, dyg, with_db != 0, v, &dw, &db);
        const std::string tag = "bwd_weight " + label(v) + " " + shape_str(s);
        const double chain = double(s.pixels());
        require_close(dw, want_w, abs_w, chain, tag + " dw");
        if (with_db) {
          require_close(db, want_b, abs_b, chain, tag + " db");
        } else {
          CHECK(std::isnan(db[0]));  // untouched without db
        }
        // Both variants add each chunk's pixels in order, then the chunks in order: same bits.
        if (v == nullptr) {
          dw0 = dw;
          db0 = db;
        } else {
          require_same_bits(dw, dw0, tag + " dw against the default");
          if (with_db) require_same_bits(db, db0, tag + " db against the default");
        }
      }
    }
}

TEST_CASE("conv3x3 CUDA ops are bit exact on small integers at the training shape") {
  vdsr::test::require_gpu();
  // |x|, |dy|, |w| <= 2, |b| <= 4: forward and backward-data partial sums are integers of at most
  // 9*64*4 + 4, weight-gradient ones at most 64*41*41*4 = 430336 < 2^24: float is exact in any
  // order, so every variant must equal the double reference exactly.
  const ConvShape shapes[] = {{64, 41, 41, 64, 64}, {64, 41, 41, 1, 64}, {64, 41, 41, 64, 1},
                              {3, 9, 11, 12, 20}};
  uint32_t seed = 4000;
  for (const ConvShape& s : shapes) {
    const auto x = random_ints(size_t(s.in_elems()), -2, 2, ++seed);
    const auto wt = random_ints(size_t(s.weight_elems()), -2, 2, ++seed);
    const auto b = random_ints(size_t(s.K), -4, 4, ++seed);
    const auto dy = random_ints(size_t(s.out_elems()), -2, 2, ++seed);
    const auto xd = to_double(x), wd = to_double(wt), bd = to_double(b), dyd = to_double(dy);
    const DevBuf xg(x), wg(wt), bg(b), dyg(dy);
    const std::string tag = " " + shape_str(s);

    std::vector<double> y_ref(size_t(s.out_elems()));
    vdsr::conv_fwd_ref(s, xd.data(), wd.data(), bd.data(), true, y_ref.data());
    for (const Variant* v : rows(ConvRole::Fwd))
      require_exact(gpu_fwd(s, xg, wg, &bg, true, v), y_ref, "fwd " + label(v) + tag);

    std::vector<double> dx_ref(size_t(s.in_elems()));
    vdsr::conv3x3_bwd_data_ref(s, dyd.data(), wd.data(), xd.data(), dx_ref.data());
    for (const Variant* v : rows(ConvRole::BwdData))
      require_exact(gpu_bwd_data(s, dyg, wg, &xg, v), dx_ref,
                    "bwd_data " + label(v) + tag);

    std::vector<double> dw_ref(size_t(s.weight_elems())), db_ref(size_t(s.K));
    vdsr::conv3x3_bwd_weight_ref(s, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());
    for (const Variant* v : rows(ConvRole::BwdWeight)) {
      std::vector<float> dw, db;
      gpu_bwd_weight(s, xg, dyg, true, v, &dw, &db);
      require_exact(dw, dw_ref, "bwd_weight dw " + label(v) + tag);
      require_exact(db, db_ref, "bwd_weight db " + label(v) + tag);
    }
  }
}

TEST_CASE("conv3x3_fwd_cuda is bit exact on small integers at 1080p") {
  vdsr::test::require_gpu();
  // One 1080x1920 frame through a hidden layer and both ends. Integers as above, so every variant
  // equals the exact result: all of them are compared with variant 0 over the whole frame, and
  // the border rows and columns plus 4000 random pixels with a double oracle computed here.
  const ConvShape shapes[] = {{1, 1080, 1920, 64, 64}, {1, 1080, 1920, 1, 64},
                              {1, 1080, 1920, 64, 1}};
  uint32_t seed = 5000;
  for (const ConvShape& s : shapes) {
    const auto x = random_ints(size_t(s.in_elems()), -2, 2, ++seed);
    const auto wt = random_ints(size_t(s.weight_elems()), -2, 2, ++seed);
    const auto b = random_ints(size_t(s.K), -4, 4, ++seed);
    const DevBuf xg(x), wg(wt), bg(b);
    const std::string tag = " " + shape_str(s);
    const Variant* direct = row(ConvRole::Fwd, "direct");
    const auto y0 = gpu_fwd(s, xg, wg, &bg, true, direct);

    std::vector<std::pair<int64_t, int64_t>> pix;
    for (int64_t w = 0; w < s.W; ++w) pix.push_back({0, w}), pix.push_back({s.H - 1, w});
    for (int64_t h = 0; h < s.H; ++h) pix.push_back({h, 0}), pix.push_back({h, s.W - 1});
    std::mt19937 rng(++seed);
    for (int i = 0; i < 4000; ++i)
      pix.push_back({int64_t(rng() % uint32_t(s.H)), int64_t(rng() % uint32_t(s.W))});
    int64_t bad = 0;
    for (const auto& [h, w] : pix)
      for (int64_t k = 0; k < s.K; ++k) {
        double acc = b[size_t(k)];
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t q = 0; q < 3; ++q) {
            const int64_t hh = h + r - 1, ww = w + q - 1;
            if (hh < 0 || hh >= s.H || ww < 0 || ww >= s.W) continue;
            for (int64_t c = 0; c < s.C; ++c)
              acc += double(x[size_t((hh * s.W + ww) * s.C + c)]) *
                     double(wt[size_t(((k * s.C + c) * 3 + r) * 3 + q)]);
          }
        acc = std::max(acc, 0.0);
        if (double(y0[size_t((h * s.W + w) * s.K + k)]) != acc) ++bad;
      }
    INFO("fwd direct" << tag << ": " << bad << " sampled outputs differ from the oracle");
    CHECK(bad == 0);
    for (const Variant* v : rows(ConvRole::Fwd))
      if (v != direct)
        require_same_bits(gpu_fwd(s, xg, wg, &bg, true, v), y0, "fwd " + label(v) + tag + " against direct");
  }
}

TEST_CASE("conv3x3 CUDA fwd and bwd_data are position independent (crops, batch members)") {
  vdsr::test::require_gpu();
  // Float data. Image 1 of a batch of 3 run alone, and a crop of it, must give bit for bit the
  // batch's outputs (the crop: except its 1-pixel border, which sees the crop's zero padding).
  const ConvShape s{3, 37, 45, 64, 64};
  const int64_t h0 = 5, w0 = 7, ch = 20, cw = 33;
  const ConvShape one{1, s.H, s.W, s.C, s.K}, crop{1, ch, cw, s.C, s.K};
  uint32_t seed = 6000;
  const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
  const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
  const auto b = random_floats(size_t(s.K), -1, 1, ++seed);
  const auto dy = random_floats(size_t(s.out_elems()), -1, 1, ++seed);
  const auto src = relu_source(size_t(s.in_elems()), ++seed);
  auto image1 = [&](const std::vector<float>& t, int64_t C) {
    const size_t n = size_t(s.H * s.W * C);
    return std::vector<float>(t.begin() + std::ptrdiff_t(n), t.begin() + std::ptrdiff_t(2 * n));
  };
  auto cut = [&](const std::vector<float>& img, int64_t C) {  // img: [H][W][C] -> crop
    std::vector<float> o;
    for (int64_t h = h0; h < h0 + ch; ++h)
      for (int64_t w = w0; w < w0 + cw; ++w)
        for (int64_t c = 0; c < C; ++c) o.push_back(img[size_t((h * s.W + w) * C + c)]);
    return o;
  };
  auto interior = [&](const std::vector<float>& t, int64_t C) {  // crop [ch][cw][C], no border
    std::vector<float> o;
    for (int64_t h = 1; h < ch - 1; ++h)
      for (int64_t w = 1; w < cw - 1; ++w)
        for (int64_t c = 0; c < C; ++c) o.push_back(t[size_t((h * cw + w) * C + c)]);
    return o;
  };
  const DevBuf xg(x), wg(wt), bg(b), dyg(dy), srcg(src);
  const DevBuf x1(image1(x, s.C)), dy1(image1(dy, s.K)), src1(image1(src, s.C));
  const DevBuf xc(cut(image1(x, s.C), s.C)), dyc(cut(image1(dy, s.K), s.K)),
      srcc(cut(image1(src, s.C), s.C));
  for (const Variant* v : rows(ConvRole::Fwd)) {
    const std::string tag = " " + label(v);
    const auto whole = image1(gpu_fwd(s, xg, wg, &bg, true, v), s.K);
    require_same_bits(gpu_fwd(one, x1, wg, &bg, true, v), whole, "fwd image alone" + tag);
    require_same_bits(interior(gpu_fwd(crop, xc, wg, &bg, true, v), s.K),
                      interior(cut(whole, s.K), s.K), "fwd crop" + tag);
  }
  for (const Variant* v : rows(ConvRole::BwdData)) {
    const std::string tag = " " + label(v);
    const auto whole = image1(gpu_bwd_data(s, dyg, wg, &srcg, v), s.C);
    require_same_bits(gpu_bwd_data(one, dy1, wg, &src1, v), whole, "bwd_data image alone" + tag);
    require_same_bits(interior(gpu_bwd_data(crop, dyc, wg, &srcc, v), s.C),
                      interior(cut(whole, s.C), s.C), "bwd_data crop" + tag);
  }
}

TEST_CASE("conv3x3 CUDA ops are deterministic at the training shape") {
  vdsr::test::require_gpu();
  const ConvShape s{64, 41, 41, 64, 64};
  uint32_t seed = 7000;
  const auto x = random_floats(size_t(s.in_elems()), -1, 1, ++seed);
  const auto wt = random_floats(size_t(s.weight_elems()), -1, 1, ++seed);
  const auto b = random_floats(size_t(s.K), -1, 1, ++seed);
  const auto dy = random_floats(size_t(s.out_elems()), -1, 1, ++seed);
  const DevBuf xg(x), wg(wt), bg(b), dyg(dy);
  for (const Variant* v : rows(ConvRole::Fwd))
    require_same_bits(gpu_fwd(s, xg, wg, &bg, true, v), gpu_fwd(s, xg, wg, &bg, true, v),
                      "fwd twice " + label(v));
  for (const Variant* v : rows(ConvRole::BwdData))
    require_same_bits(gpu_bwd_data(s, dyg, wg, &xg, v), gpu_bwd_data(s, dyg, wg, &xg, v),
                      "bwd_data twice " + label(v));
  for (const Variant* v : rows(ConvRole::BwdWeight)) {
    std::vector<float> dw1, db1, dw2, db2;
    gpu_bwd_weight(s, xg, dyg, true, v, &dw1, &db1);
    gpu_bwd_weight(s, xg, dyg, true, v, &dw2, &db2);
    require_same_bits(dw1, dw2, "bwd_weight dw twice " + label(v));
    require_same_bits(db1, db2, "bwd_weight db twice " + label(v));
  }
}

TEST_CASE("the conv kernel registry: unique names, a default for every role and precision") {
  vdsr::test::require_gpu();
  std::set<std::string> seen;
  for (const Variant& v : vdsr::conv_variants())
    CHECK(seen.insert(std::string(vdsr::conv_role_name(v.role)) + "/" + std::to_string(int(v.precision)) + "/" + v.name)
              .second);
  const ConvShape train{64, 41, 41, 64, 64};
  int cc_major = 0;
  VDSR_CUDA_CHECK(cudaDeviceGetAttribute(&cc_major, cudaDevAttrComputeCapabilityMajor, kDev));
  for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdData, ConvRole::BwdWeight}) {
    CHECK(std::string(vdsr::default_conv_variant(role, vdsr::Precision::Fp32, train, kDev).name) ==
          (role == ConvRole::BwdWeight ? "tiled-64x192" : "tiled-128x64"));
    if (cc_major >= 8)
      for (const vdsr::Precision p : {vdsr::Precision::Tf32, vdsr::Precision::Bf16}) {
        const auto usable = vdsr::usable_conv_variants(role, p, train, kDev);
        REQUIRE(!usable.empty());
        CHECK(usable.front() == &vdsr::default_conv_variant(role, p, train, kDev));
      }
  }
  // SRCNN's shapes have the general kernel alone; the tensor-core rows refuse other channel counts.
  ConvShape srcnn{1, 32, 32, 64, 32};
  srcnn.R = 5;
  srcnn.pad = vdsr::Padding::Replicate;
  CHECK(std::string(vdsr::default_conv_variant(ConvRole::Fwd, vdsr::Precision::Fp32, srcnn, kDev).name) == "general");
  CHECK(vdsr::usable_conv_variants(ConvRole::Fwd, vdsr::Precision::Bf16, ConvShape{1, 8, 8, 32, 32}, kDev).empty());
  CHECK_THROWS_AS(vdsr::default_conv_variant(ConvRole::BwdData, vdsr::Precision::Fp32, srcnn, kDev), vdsr::Error);
}

TEST_CASE("conv3x3 CUDA launchers check their preconditions") {
  vdsr::test::require_gpu();
  const ConvShape s{1, 3, 3, 4, 4}, bad{1, 0, 3, 4, 4};
  DevBuf a(size_t(s.in_elems())), w(size_t(s.weight_elems())), y(size_t(s.out_elems())),
      bb(size_t(s.K));
  CHECK_THROWS_AS(vdsr::conv3x3_fwd_cuda(bad, a.get(), w.get(), nullptr, false, y.get(), stream(), 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_fwd_cuda(s, nullptr, w.get(), nullptr, false, y.get(), stream(), 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_fwd_cuda(s, a.get(), w.get(), nullptr, false, y.get(), stream(), 4), vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_fwd_cuda(s, a.get(), w.get(), nullptr, false, y.get(), stream(), -1), vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_fwd_cuda(s, a.get(), w.get(), nullptr, false, a.get(), stream(), 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_cuda(bad, y.get(), w.get(), nullptr, a.get(), stream(), 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_cuda(s, y.get(), nullptr, nullptr, a.get(), stream(), 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_data_cuda(s, y.get(), w.get(), a.get(), a.get(), stream(), 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_cuda(bad, a.get(), y.get(), w.get(), bb.get(), stream(), kDev, 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_cuda(s, a.get(), y.get(), nullptr, bb.get(), stream(), kDev, 1),
                  vdsr::Error);
  CHECK_THROWS_AS(vdsr::conv3x3_bwd_weight_cuda(s, a.get(), y.get(), w.get(), bb.get(), stream(), kDev, 7),
                  vdsr::Error);
  vdsr::cuda_sync(kDev);
}

// --- timing ----------------------------------------------------------------------------------

namespace {

// Median of 20 timed runs (CUDA events on the engine's stream) after 3 warm-ups, in ms.
double time_ms(const std::function<void()>& op) {
  for (int i = 0; i < 3; ++i) op();
  vdsr::cuda_sync(kDev);
  cudaEvent_t e0, e1;
  VDSR_CUDA_CHECK(cudaEventCreate(&e0));
  VDSR_CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<float> t;
  for (int i = 0; i < 20; ++i) {
    VDSR_CUDA_CHECK(cudaEventRecord(e0, stream()));
    op();
    VDSR_CUDA_CHECK(cudaEventRecord(e1, stream()));
    VDSR_CUDA_CHECK(cudaEventSynchronize(e1));
    float ms = 0.0f;
    VDSR_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
    t.push_back(ms);
  }
  VDSR_CUDA_CHECK(cudaEventDestroy(e0));
  VDSR_CUDA_CHECK(cudaEventDestroy(e1));
  std::sort(t.begin(), t.end());
  return 0.5 * double(t[9] + t[10]);
}

void report(const char* op, const ConvShape& s, const char* variant, double ms) {
  const double flop = 2.0 * s.macs();
  std::printf("%-10s %-22s %-20s %9.3f ms %7.2f TFLOP/s\n", op, shape_str(s).c_str(), variant, ms,
              flop / (ms * 1e-3) / 1e12);
  std::fflush(stdout);
}

}  // namespace

TEST_CASE("conv3x3 CUDA kernel timings", "[.perf]") {
  vdsr::test::require_gpu();
  // FLOP = 2 * 9 * C * K * N * H * W per op.
  const ConvShape shapes[] = {{64, 41, 41, 64, 64}, {64, 41, 41, 1, 64}, {64, 41, 41, 64, 1},
                              {1, 1080, 1920, 64, 64}, {1, 1080, 1920, 1, 64},
                              {1, 1080, 1920, 64, 1}};
  for (const ConvShape& s : shapes) {
    const bool big = s.N == 1;
    const auto x = random_floats(size_t(s.in_elems()), -1, 1, 1);
    const auto wt = random_floats(size_t(s.weight_elems()), -0.1f, 0.1f, 2);
    const auto b = random_floats(size_t(s.K), -1, 1, 3);
    const DevBuf xg(x), wg(wt), bg(b), dyg(random_floats(size_t(s.out_elems()), -1, 1, 4));
    DevBuf y(size_t(s.out_elems())), dx(size_t(s.in_elems())), dw(size_t(s.weight_elems())),
        db(size_t(s.K));
    // Every fp32 row of the registry; the direct kernels are slow and timed on the training shapes
    // only.
    auto slow = [](const Variant* v) {
      return std::string(v->name).find("direct") == 0 || std::string(v->name) == "general";
    };
    for (const Variant* v : rows(ConvRole::Fwd))
      if (v != nullptr && !(big && slow(v)))
        report("fwd", s, v->name, time_ms([&] {
                 v->launch(vdsr::fwd_launch(s, xg.get(), wg.get(), bg.get(), true, y.get(), stream(), kDev));
               }));
    if (big) continue;  // inference only at 1080p
    for (const Variant* v : rows(ConvRole::BwdData))
      if (v != nullptr)
        report("bwd_data", s, v->name, time_ms([&] {
                 v->launch(vdsr::bwd_data_launch(s, dyg.get(), wg.get(), xg.get(), dx.get(), stream(), kDev));
               }));
    for (const Variant* v : rows(ConvRole::BwdWeight))
      if (v != nullptr)
        report("bwd_weight", s, v->name, time_ms([&] {
                 v->launch(vdsr::bwd_weight_launch(s, xg.get(), dyg.get(), dw.get(), db.get(), stream(), kDev));
               }));
  }
}
