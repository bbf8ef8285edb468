// Per-scale sanity of the training pairs (model/dataset.h) and of the sampler (model/patches.h):
// for every scale, the pairs' bicubic error matches the evaluation protocol's on the same images,
// the input is not shifted against the target (integer, half-pixel and least-squares sub-pixel
// estimates), inputs and targets are in [0, 1], and each scale gets its share of the patches and of
// the drawn batches. A hidden [.diag] case prints the same numbers for the full 291-image set.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "image/color.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/metrics.h"
#include "io/file_plan.h"
#include "model/dataset.h"
#include "model/inference.h"
#include "model/patches.h"
#include "tests/support/test_support.h"

using namespace vdsr;
using vdsr::test::grey_image;

namespace {

int64_t windows(int len, int patch, int stride) {
  return len < patch ? 0 : int64_t((len - patch) / stride) + 1;
}

// The scale of every patch, from the documented order (image, transform, scale, row, column);
// no down-scaled copies.
std::vector<int> patch_scales(const std::vector<Image>& imgs, const DatasetOptions& opt) {
  std::vector<int> out;
  for (const Image& img : imgs)
    for (int t = 0; t < (opt.augment ? 8 : 1); ++t) {
      const int h = (t & 4) ? img.width : img.height, w = (t & 4) ? img.height : img.width;
      for (const int s : opt.scales) {
        const int64_t n = windows(h - h % s, opt.patch, opt.stride) * windows(w - w % s, opt.patch, opt.stride);
        out.insert(out.end(), size_t(n), s);
      }
    }
  return out;
}

struct ScaleStats {
  int64_t patches = 0;
  double sq = 0;  // sum of squared errors (0..255 units), unshifted
  int64_t px = 0;
  double in_min = 1e9, in_max = -1e9, tg_min = 1e9, tg_max = -1e9;
  // Shift search on the interior (1-pixel border dropped): MSE of the input shifted by
  // (dy, dx) in half pixels, -2..2 each (bilinear for the half pixels).
  double shift_sq[5][5] = {};
  int64_t shift_px = 0;
  // Least squares  target - input ~ a * d(input)/dx + b * d(input)/dy  (central differences).
  double gxx = 0, gxy = 0, gyy = 0, gxr = 0, gyr = 0;
  double psnr_of_mean_mse() const { return 10 * std::log10(255.0 * 255.0 / (sq / double(px))); }
  double shift_mse(int dy, int dx) const { return shift_sq[dy + 2][dx + 2] / double(shift_px); }
  double lk_dx() const { return (gyy * gxr - gxy * gyr) / (gxx * gyy - gxy * gxy); }
  double lk_dy() const { return (gxx * gyr - gxy * gxr) / (gxx * gyy - gxy * gxy); }
};

// Input sampled at (r + dy/2, c + dx/2), bilinear (exact at integer positions).
double sample_half(const float* x, int p, int r, int c, int dy, int dx) {
  const int r0 = r + (dy >= 0 ? dy / 2 : -((-dy + 1) / 2)), c0 = c + (dx >= 0 ? dx / 2 : -((-dx + 1) / 2));
  const int r1 = r0 + (dy % 2 != 0), c1 = c0 + (dx % 2 != 0);
  return 0.25 * (double(x[r0 * p + c0]) + double(x[r0 * p + c1]) + double(x[r1 * p + c0]) +
                 double(x[r1 * p + c1]));
}

std::map<int, ScaleStats> scale_stats(const TrainingSet& set, const std::vector<int>& scales) {
  std::map<int, ScaleStats> st;
  const int p = set.patch();
  const size_t area = size_t(p) * size_t(p);
  const int64_t chunk = 1024;
  std::vector<float> x, y;
  for (int64_t b = 0; b < set.count(); b += chunk) {
    const int64_t n = std::min(chunk, set.count() - b);
    std::vector<int64_t> idx(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) idx[size_t(k)] = b + k;
    x.resize(size_t(n) * area);
    y.resize(size_t(n) * area);
    set.fill_batch(idx, x.data(), y.data());
    for (int64_t k = 0; k < n; ++k) {
      ScaleStats& s = st[scales[size_t(b + k)]];
      const float* xi = &x[size_t(k) * area];
      const float* yi = &y[size_t(k) * area];
      ++s.patches;
      for (size_t i = 0; i < area; ++i) {
        const double d = 255.0 * (double(xi[i]) - double(yi[i]));
        s.sq += d * d;
        s.in_min = std::min(s.in_min, double(xi[i]));
        s.in_max = std::max(s.in_max, double(xi[i]));
        s.tg_min = std::min(s.tg_min, double(yi[i]));
        s.tg_max = std::max(s.tg_max, double(yi[i]));
      }
      s.px += int64_t(area);
      for (int r = 1; r < p - 1; ++r)
        for (int c = 1; c < p - 1; ++c) {
          const double t = 255.0 * double(yi[r * p + c]);
          for (int dy = -2; dy <= 2; ++dy)
            for (int dx = -2; dx <= 2; ++dx) {
              const double d = 255.0 * sample_half(xi, p, r, c, dy, dx) - t;
              s.shift_sq[dy + 2][dx + 2] += d * d;
            }
          const double gx = 0.5 * 255.0 * (double(xi[r * p + c + 1]) - double(xi[r * p + c - 1]));
          const double gy = 0.5 * 255.0 * (double(xi[(r + 1) * p + c]) - double(xi[(r - 1) * p + c]));
          const double res = t - 255.0 * double(xi[r * p + c]);
          s.gxx += gx * gx;
          s.gxy += gx * gy;
          s.gyy += gy * gy;
          s.gxr += gx * res;
          s.gyr += gy * res;
        }
      s.shift_px += int64_t(p - 2) * (p - 2);
    }
  }
  return st;
}

// The protocol on the same images: mean per-image PSNR (quantised, shaved: docs/evaluation.md) and the PSNR
// of the pooled unquantised, unshaved MSE over the whole images (t = 0), and over exactly the
// patches' windows of the 8 transformed images (make_eval_sample of the grey transformed Y).
struct ProtocolStats {
  double mean_psnr = 0, pooled_psnr = 0, windows_psnr = 0;
};
ProtocolStats protocol_stats(const std::vector<Image>& imgs, int s, const DatasetOptions& opt) {
  double psum = 0, sq = 0, wsq = 0;
  int64_t px = 0, wpx = 0;
  for (const Image& img : imgs) {
    const EvalSample e = make_eval_sample(img, s, "train");
    psum += score_output(e.input, e.hr, s).psnr;
    for (size_t i = 0; i < e.hr.v.size(); ++i) {
      const double d = 255.0 * e.input.v[i] - e.hr.v[i];
      sq += d * d;
    }
    px += e.hr.size();
    const Plane y = y_channel_u8(img);
    for (int t = 0; t < (opt.augment ? 8 : 1); ++t) {
      const EvalSample et = make_eval_sample(grey_image(transform_plane(y, t)), s, "train");
      const int64_t ny = windows(et.hr.height, opt.patch, opt.stride), nx = windows(et.hr.width, opt.patch, opt.stride);
      for (int64_t by = 0; by < ny; ++by)
        for (int64_t bx = 0; bx < nx; ++bx)
          for (int r = 0; r < opt.patch; ++r)
            for (int c = 0; c < opt.patch; ++c) {
              const int rr = int(by) * opt.stride + r, cc = int(bx) * opt.stride + c;
              // The set stores the input as float32.
              const double d = 255.0 * double(float(et.input.at(rr, cc))) - et.hr.at(rr, cc);
              wsq += d * d;
              ++wpx;
            }
    }
  }
  return {psum / double(imgs.size()), 10 * std::log10(255.0 * 255.0 / (sq / double(px))),
          10 * std::log10(255.0 * 255.0 / (wsq / double(wpx)))};
}

std::map<int, int64_t> sampler_counts(const std::vector<int>& scales, int64_t batch, int64_t steps, uint64_t seed) {
  std::map<int, int64_t> c;
  BatchSampler sampler(int64_t(scales.size()), batch, seed);
  for (int64_t st = 0; st < steps; ++st)
    for (const int64_t i : sampler.indices(st)) ++c[scales[size_t(i)]];
  return c;
}

}  // namespace

TEST_CASE("training pairs: per-scale error equals the protocol's, no shift, [0, 1], fair share", "[dataset]") {
  const std::string dir = test::require_data("T91");
  std::vector<std::string> files = list_image_files(dir, "T91");
  files.resize(6);
  std::vector<Image> imgs;
  for (const auto& f : files) imgs.push_back(load_image(f));
  for (const bool augment : {false, true}) {
    INFO("augment " << augment);
    DatasetOptions opt;  // the paper's: 2, 3, 4; 41 / 41; (8 rotations/flips)
    opt.augment = augment;
    const TrainingSet set = TrainingSet::build(files, opt);
    const std::vector<int> scales = patch_scales(imgs, opt);
    REQUIRE(int64_t(scales.size()) == set.count());
    const auto st = scale_stats(set, scales);
    REQUIRE(st.size() == 3);
    for (const int s : opt.scales) {
      INFO("scale " << s);
      const ScaleStats& a = st.at(s);
      const ProtocolStats pr = protocol_stats(imgs, s, opt);
      // The same error as the protocol's input on the same windows of the same transformed images.
      CHECK(std::fabs(a.psnr_of_mean_mse() - pr.windows_psnr) < 1e-6);
      // No shift: the unshifted input is the best of the 25 (half-)pixel shifts, and the sub-pixel
      // least-squares estimate is near 0 (without augmentation too, where flips cannot cancel it).
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx)
          if (dy != 0 || dx != 0) CHECK(a.shift_mse(0, 0) < a.shift_mse(dy, dx));
      CHECK(std::fabs(a.lk_dx()) < 0.05);
      CHECK(std::fabs(a.lk_dy()) < 0.05);
      // Ranges: targets are 8-bit levels in [0, 1]; the bicubic input overshoots only a little.
      CHECK(a.tg_min >= 0.0);
      CHECK(a.tg_max <= 1.0);
      CHECK(a.in_min > -0.1);
      CHECK(a.in_max < 1.1);
    }
    // Each scale has about a third of the patches, and of the patches drawn.
    const auto drawn = sampler_counts(scales, 64, 200, 1);
    for (const int s : opt.scales) {
      INFO("scale " << s);
      const double share = double(st.at(s).patches) / double(set.count());
      CHECK(share > 0.25);
      CHECK(share < 0.42);
      CHECK(std::fabs(double(drawn.at(s)) / (64.0 * 200) - share) < 0.03);
    }
  }
}

// The numbers for the full 291 set (T91 + BSD200, the trainer's file order), printed.
//   build/bin/test_dataset_scales "[.diag]"
TEST_CASE("training pairs of the 291 set, per scale (prints)", "[.diag]") {
  std::vector<std::string> files;
  for (const char* sub : {"T91", "BSD200"})
    for (auto& f : list_image_files(test::require_data(sub), sub)) files.push_back(f);
  std::vector<Image> imgs;
  for (const auto& f : files) imgs.push_back(load_image(f));
  DatasetOptions opt;
  const TrainingSet set = TrainingSet::build(files, opt);
  const std::vector<int> scales = patch_scales(imgs, opt);
  REQUIRE(int64_t(scales.size()) == set.count());
  const auto st = scale_stats(set, scales);
  const int64_t steps = 5000, batch = 64;
  const auto drawn = sampler_counts(scales, batch, steps, 1);
  std::printf("%lld patches, %zu images\n", static_cast<long long>(set.count()), files.size());
  for (const int s : opt.scales) {
    const ScaleStats& a = st.at(s);
    const ProtocolStats pr = protocol_stats(imgs, s, opt);
    std::printf("x%d: patches %lld (%.4f), drawn in %lld steps %lld (%.4f)\n", s,
                static_cast<long long>(a.patches), double(a.patches) / double(set.count()),
                static_cast<long long>(steps), static_cast<long long>(drawn.at(s)),
                double(drawn.at(s)) / double(steps * batch));
    std::printf("  patch pooled MSE %.3f -> PSNR %.4f; protocol: same windows %.4f, whole images pooled "
                "(unshaved, unquantised) %.4f, per-image mean (docs/evaluation.md) %.4f\n",
                a.sq / double(a.px), a.psnr_of_mean_mse(), pr.windows_psnr, pr.pooled_psnr, pr.mean_psnr);
    std::printf("  input [%.4f, %.4f], target [%.4f, %.4f]\n", a.in_min, a.in_max, a.tg_min, a.tg_max);
    std::printf("  shift MSE (rows dy, cols dx, half pixels -1..1):\n");
    for (int dy = -2; dy <= 2; ++dy) {
      std::printf("   ");
      for (int dx = -2; dx <= 2; ++dx) std::printf(" %8.3f", a.shift_mse(dy, dx));
      std::printf("\n");
    }
    std::printf("  least-squares sub-pixel shift dx %.4f dy %.4f\n", a.lk_dx(), a.lk_dy());
  }
}
