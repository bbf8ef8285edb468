// The CUDA convolutions as one suite over the precisions (kernels/precision.h): every property is
// written once and runs for each precision this GPU has, on every row of the kernel registry
// (kernels/conv_variants.cuh) usable at the shape and on the registry's default. The precisions
// are data (tests/gpu/conv_suite.h): the element type of their maps, how their kernels round
// operands, which shapes their rows take (fp32 any C -> K, tf32 and bf16 64 -> 64).
//   - Against the double references on awkward shapes: 1x1 images, odd and non-square H, W, N = 1,
//     batches; for fp32 the C = 1 / K = 1 ends and channels not multiples of 4 (direct paths) or of
//     the 16-channel stage / 64-channel tile; for the tensor cores narrow images (full-row tiles,
//     rows wrapping inside a fragment, the wgmma strip up to W = 53, across images) and wide ones
//     (2-D tiles, partial at the right and bottom edges).
//   - Exact on small integers at the training shape (64x41x41, 64 -> 64, and its 1 -> 64 and
//     64 -> 1 ends), a wide image and a 1080p frame.
//   - Position independence: an image of a batch run alone, and a crop cut differently into tiles
//     (away from its 1-pixel border, which sees the crop's zero padding), equal the whole bit for
//     bit.
//   - Determinism; the rows' preconditions.
// Outputs are poisoned with NaN (0xFF bytes) before every op, so unwritten elements fail.
// Properties of one precision or one kernel live beside this suite: test_conv_rounding_cuda.cpp
// (tf32 and bf16 rounding), test_conv_thin_bf16_cuda.cpp (the bf16 mode's thin layers),
// test_conv_general_cuda.cpp (the fp32 general forward: SRCNN's kernel sizes and padding); here
// the registry itself, the tf32 output-channel slices and the kernel families' variant numbers.
//
// Operands are rounded on the host as the precision's kernels round them (tf32 to nearest with ties
// away, bf16 to nearest even), so the reference sees exactly the values multiplied; products of
// those are exact in fp32. An output is an fp32 sum of `terms` products (forward 9 C, backward-data
// 9 K, weight gradient one per pixel), plus the bias; recursive or tree summation errs by at most
// gamma_terms sum|terms| < terms 2^-23 sum|terms| (Higham), sum|terms| being the reference run on
// |inputs| (conv_suite.h, bound()):
//   fp32   (terms + 2) 2^-23 sum|terms|: an FMA chain, one rounding per term; +2 covers the bias
//          (the weight gradient sums each chunk of pixels, then the chunks: `pixels` deep at most);
//   tf32   (4 chain + 2) 2^-23 sum|terms|, bf16 4 chain 2^-23 sum|terms|: four times the bound of
//          chain = terms + 2 (forward, weight gradient) or terms (backward-data), because the
//          tensor cores' fp32 accumulation is not specified to round like an FMA chain;
//   bf16 maps (forward, backward-data outputs) are rounded once more: + 2^-8 |want| (the final
//          rounding, 2^-9, doubled for the fp32 error in the value rounded). The weight gradient
//          is fp32 in every precision.
// Exact: |x|, |dy|, |w| <= 2, |b| <= 4: forward and backward-data partial sums are integers of at
// most 9*64*4 + 4, weight-gradient ones at most 64*41*41*4 = 430336 < 2^24: fp32 is exact in any
// order, so every row equals the reference (a bf16 map: the reference rounded to bf16). bf16
// results are compared bit for bit, fp32 and tf32 ones as values.
//
// A hidden [.perf] case times every usable row (CUDA events, median of 20 after warm-up):
//   build/bin/test_conv_cuda "[.perf]"
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv3x3_bf16_variants.cuh"
#include "kernels/conv3x3_bwd_data.cuh"
#include "kernels/conv3x3_bwd_weight.cuh"
#include "kernels/conv3x3_fwd.cuh"
#include "kernels/conv3x3_fwd_bf16.cuh"
#include "kernels/conv3x3_tf32.cuh"
#include "kernels/conv_variants.cuh"
#include "kernels/kernel_launch.cuh"
#include "kernels/programmatic_launch.h"
#include "tests/gpu/conv_suite.h"
#include "tests/gpu/conv_test_support.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using vdsr::ConvRole;
using vdsr::ConvShape;
using vdsr::Precision;
using namespace vdsr::test;  // NOLINT: the suite's vocabulary (conv_suite.h, conv_test_support.h)

namespace {

constexpr ConvRole kRoles[] = {ConvRole::Fwd, ConvRole::BwdData, ConvRole::BwdWeight};

// Awkward shapes, each run by the precisions it applies to: the fp32 kernels' (1x1 images, odd and
// non-square, N = 1, the C = 1 / K = 1 ends, channels not multiples of 4 or of the 16-channel stage
// / 64-channel tile, tile remainders), then the tensor-core kernels' 64 -> 64 ones (both tilings of
// each kernel; see the header).
const ConvShape kAwkward[] = {
    {1, 1, 1, 1, 1},     {1, 7, 5, 3, 5},     {1, 13, 17, 64, 64}, {3, 5, 3, 1, 64},
    {3, 7, 9, 64, 1},    {2, 4, 19, 5, 3},    {1, 6, 11, 64, 17},  {1, 9, 2, 16, 48},
    {2, 3, 130, 4, 4},   {3, 40, 41, 8, 16},  {2, 5, 9, 7, 1},     {1, 4, 7, 1, 13},
    {2, 9, 11, 64, 128}, {1, 3, 5, 132, 68},  {1, 11, 13, 24, 20}, {2, 1, 1, 64, 64},
    {1, 17, 1, 12, 8},   {1, 6, 7, 128, 1},   {2, 7, 5, 64, 4},    {1, 1, 1, 64, 64},
    {2, 7, 5, 64, 64},   {2, 41, 41, 64, 64}, {1, 3, 130, 64, 64}, {1, 70, 1, 64, 64},
    {1, 5, 64, 64, 64},  {1, 6, 65, 64, 64},  {2, 9, 100, 64, 64}, {3, 11, 53, 64, 64},
    {1, 12, 54, 64, 64},
};

// The weight gradient's chunks besides: several, the last one partial; the thin ends over several.
const ConvShape kWgradChunks[] = {{4, 23, 29, 64, 64}, {2, 33, 37, 1, 64}, {2, 33, 37, 64, 1}};

// Forward (with and without bias and ReLU) or backward-data (with and without the ReLU mask)
// against the reference on every awkward shape each precision takes, every row.
void check_awkward(ConvRole role, uint32_t first_seed) {
  const char* fused_name = role == ConvRole::Fwd ? " bias relu" : " masked";
  for (const PrecisionCase* pc : gpu_precisions()) {
    uint32_t seed = first_seed;
    for (const ConvShape& s : kAwkward) {
      if (!applies(*pc, s)) continue;
      for (const bool fused : {false, true}) {
        const Problem d = float_problem(*pc, s, seed += 10);
        const Ref r = role == ConvRole::Fwd ? ref_fwd(d, fused, fused) : ref_bwd_data(d, fused);
        const OnGpu g = upload(*pc, d);
        for (const Row row : rows_at(*pc, role, s))
          require_within(run_fwd_or_bwd_data(*pc, role, row, g, fused), r.want, r.sumabs,
                         bound(*pc, role, s),
                         std::string(vdsr::conv_role_name(role)) + " " + label(*pc, row) + " " +
                             shape_str(s) + (fused ? fused_name : ""));
      }
    }
  }
}

}  // namespace

TEST_CASE("conv fwd matches the reference on awkward shapes, every precision and row") {
  require_gpu();
  check_awkward(ConvRole::Fwd, 1000);
}

TEST_CASE("conv bwd_data matches the reference on awkward shapes, every precision and row") {
  require_gpu();
  check_awkward(ConvRole::BwdData, 2000);
}

TEST_CASE("conv bwd_weight matches the reference on awkward shapes, every precision and row") {
  require_gpu();
  std::vector<ConvShape> shapes(std::begin(kAwkward), std::end(kAwkward));
  shapes.insert(shapes.end(), std::begin(kWgradChunks), std::end(kWgradChunks));
  for (const PrecisionCase* pc : gpu_precisions()) {
    uint32_t seed = 3000;
    for (const ConvShape& s : shapes) {
      if (!applies(*pc, s)) continue;
      for (const bool with_db : {false, true}) {
        const Problem d = float_problem(*pc, s, seed += 10);
        const WgradRef r = ref_bwd_weight(d);
        const OnGpu g = upload(*pc, d);
        const Bound b = bound(*pc, ConvRole::BwdWeight, s);
        Wgrad first;
        for (const Row row : rows_at(*pc, ConvRole::BwdWeight, s)) {
          const Wgrad w = run_bwd_weight(*pc, row, g, with_db);
          const std::string tag = "bwd_weight " + label(*pc, row) + " " + shape_str(s);
          require_within(w.dw, r.dw.want, r.dw.sumabs, b, tag + " dw");
          if (with_db) {
            require_within(w.db, r.db.want, r.db.sumabs, b, tag + " db");
          } else {
            INFO(tag << ": db written without one");
            CHECK(std::all_of(w.db.begin(), w.db.end(), [](float f) { return std::isnan(f); }));
          }
          // fp32's rows add each chunk's pixels in order, then the chunks in order: same bits.
          if (row == nullptr) {
            first = w;
          } else if (pc->wgrad_rows_agree) {
            require_same_bits(w.dw, first.dw, tag + " dw against the default");
            if (with_db) require_same_bits(w.db, first.db, tag + " db against the default");
          }
        }
      }
    }
  }
}

TEST_CASE(
    "conv ops are exact on small integers (training shape and its ends, a wide image), every "
    "precision and row") {
  require_gpu();
  const ConvShape shapes[] = {{64, 41, 41, 64, 64},
                              {64, 41, 41, 1, 64},
                              {64, 41, 41, 64, 1},
                              {3, 9, 11, 12, 20},
                              {1, 37, 203, 64, 64}};
  const auto precisions = gpu_precisions();
  uint32_t seed = 4000;
  for (const ConvShape& s : shapes) {
    const Problem d = int_problem(s, seed += 10);  // the same integers for every precision
    const Ref y = ref_fwd(d, true, true, Sums::Skip), dx = ref_bwd_data(d, true, Sums::Skip);
    const WgradRef w = ref_bwd_weight(d, Sums::Skip);
    const std::string tag = " " + shape_str(s);
    for (const PrecisionCase* pc : precisions) {
      if (!applies(*pc, s)) continue;
      const OnGpu g = upload(*pc, d);
      for (const Row row : rows_at(*pc, ConvRole::Fwd, s))
        require_exactly(run_fwd(*pc, row, g, true), y.want, exactness(*pc, ConvRole::Fwd),
                        "fwd " + label(*pc, row) + tag);
      for (const Row row : rows_at(*pc, ConvRole::BwdData, s))
        require_exactly(run_bwd_data(*pc, row, g, true), dx.want, exactness(*pc, ConvRole::BwdData),
                        "bwd_data " + label(*pc, row) + tag);
      const Exactness e = exactness(*pc, ConvRole::BwdWeight);
      for (const Row row : rows_at(*pc, ConvRole::BwdWeight, s)) {
        const Wgrad got = run_bwd_weight(*pc, row, g, true);
        require_exactly(got.dw, w.dw.want, e, "bwd_weight dw " + label(*pc, row) + tag);
        require_exactly(got.db, w.db.want, e, "bwd_weight db " + label(*pc, row) + tag);
      }
    }
  }
}

TEST_CASE("conv fwd is exact on small integers at 1080p, every precision and row") {
  require_gpu();
  // One 1080x1920 frame through a hidden layer and both ends, integers as above: the default
  // equals a double oracle computed here on the border rows and columns and 4000 random pixels,
  // and every row equals the default bit for bit over the whole frame.
  const ConvShape shapes[] = {
      {1, 1080, 1920, 64, 64}, {1, 1080, 1920, 1, 64}, {1, 1080, 1920, 64, 1}};
  const auto precisions = gpu_precisions();
  uint32_t seed = 5000;
  for (const ConvShape& s : shapes) {
    const Problem d = int_problem(s, seed += 10);
    std::vector<std::pair<int64_t, int64_t>> pix;
    for (int64_t w = 0; w < s.W; ++w) pix.push_back({0, w}), pix.push_back({s.H - 1, w});
    for (int64_t h = 0; h < s.H; ++h) pix.push_back({h, 0}), pix.push_back({h, s.W - 1});
    std::mt19937 rng(seed);
    for (int i = 0; i < 4000; ++i)
      pix.push_back({int64_t(rng() % uint32_t(s.H)), int64_t(rng() % uint32_t(s.W))});
    std::vector<double> oracle;  // [pixel of pix][k]
    for (const auto& [h, w] : pix)
      for (int64_t k = 0; k < s.K; ++k) {
        double acc = d.b[size_t(k)];
        for (int64_t r = 0; r < 3; ++r)
          for (int64_t q = 0; q < 3; ++q) {
            const int64_t hh = h + r - 1, ww = w + q - 1;
            if (hh < 0 || hh >= s.H || ww < 0 || ww >= s.W) continue;
            for (int64_t c = 0; c < s.C; ++c)
              acc += double(d.x[size_t((hh * s.W + ww) * s.C + c)]) *
                     double(d.wt[size_t(((k * s.C + c) * 3 + r) * 3 + q)]);
          }
        oracle.push_back(std::max(acc, 0.0));
      }
    const std::string tag = " " + shape_str(s);
    for (const PrecisionCase* pc : precisions) {
      if (!applies(*pc, s)) continue;
      const OnGpu g = upload(*pc, d);
      const auto y0 = run_fwd(*pc, nullptr, g, true);
      int64_t bad = 0;
      for (size_t i = 0; i < pix.size(); ++i)
        for (int64_t k = 0; k < s.K; ++k) {
          const auto [h, w] = pix[i];
          bad += !exactly(y0[size_t((h * s.W + w) * s.K + k)], oracle[i * size_t(s.K) + size_t(k)],
                          exactness(*pc, ConvRole::Fwd));
        }
      INFO("fwd " << label(*pc, nullptr) << tag << ": " << bad
                  << " sampled outputs differ from the oracle");
      CHECK(bad == 0);
      for (const Row row : rows_at(*pc, ConvRole::Fwd, s))
        if (row != nullptr)
          require_same_bits(run_fwd(*pc, row, g, true), y0,
                            "fwd " + label(*pc, row) + tag + " against the default");
    }
  }
}

namespace {

// Image m of an [N][H][W][channels] map of shape s.
std::vector<float> image_of(const std::vector<float>& t, const ConvShape& s, int64_t channels,
                            int64_t m) {
  const auto n = std::ptrdiff_t(s.H * s.W * channels);
  return std::vector<float>(t.begin() + m * n, t.begin() + (m + 1) * n);
}

// Image m of a batch problem, as a problem of its own.
Problem image(const Problem& d, int64_t m) {
  const ConvShape& s = d.s;
  return {{1, s.H, s.W, s.C, s.K},   image_of(d.x, s, s.C, m),  d.wt, d.b,
          image_of(d.dy, s, s.K, m), image_of(d.src, s, s.C, m)};
}

// A crop of a one-image 64 -> 64 problem, as a problem of its own.
Problem cropped(const Problem& d, const Crop& c) {
  return {c.shape(), c.cut(d.x), d.wt, d.b, c.cut(d.dy), c.cut(d.src)};
}

struct CropCase {
  ConvShape whole;
  Crop crop;  // of the middle image
};

// A batch of 3 (image 1 alone, and a 20 x 33 crop of it) and single images cropped 4 rows and 3
// columns in, 5 and 4 from the far edges: the 20 x 60 image is tiled in 2-D by the wgmma variant
// while its 11 x 53 crop is cut from the strip.
const CropCase kCrops[] = {{{3, 37, 45, 64, 64}, {45, 5, 7, 20, 33}},
                           {{1, 41, 41, 64, 64}, {41, 4, 3, 32, 34}},
                           {{1, 23, 150, 64, 64}, {150, 4, 3, 14, 143}},
                           {{1, 20, 60, 64, 64}, {60, 4, 3, 11, 53}}};

}  // namespace

TEST_CASE(
    "conv fwd and bwd_data are position independent (batch members, crops), every precision and "
    "row") {
  require_gpu();
  for (const PrecisionCase* pc : gpu_precisions()) {
    uint32_t seed = 6000;
    for (const CropCase& cc : kCrops) {
      const ConvShape& s = cc.whole;
      const int64_t m = s.N / 2;
      const Problem d = float_problem(*pc, s, seed += 10);
      const Problem alone = image(d, m);
      const OnGpu whole = upload(*pc, d), one = upload(*pc, alone),
                  crop = upload(*pc, cropped(alone, cc.crop));
      for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdData}) {
        const bool fwd = role == ConvRole::Fwd;
        auto run = [&](Row row, const OnGpu& g) {
          return run_fwd_or_bwd_data(*pc, role, row, g, true);
        };
        for (const Row row : rows_at(*pc, role, s)) {
          const std::string tag =
              std::string(conv_role_name(role)) + " " + label(*pc, row) + " " + shape_str(s);
          REQUIRE((row == nullptr || row->usable(cc.crop.shape(), kGpu)));
          const auto all = run(row, whole);
          const auto mine = image_of(all, s, fwd ? s.K : s.C, m);
          if (s.N > 1) require_same_bits(run(row, one), mine, tag + ": image alone");
          const int64_t bad = cc.crop.interior_differences(mine, run(row, crop));
          INFO(tag << ": the crop differs from the whole in " << bad << " outputs");
          CHECK(bad == 0);
        }
      }
    }
  }
}

TEST_CASE("conv ops are deterministic at the training shape, every precision and row") {
  require_gpu();
  const ConvShape s{64, 41, 41, 64, 64};
  for (const PrecisionCase* pc : gpu_precisions()) {
    const OnGpu g = upload(*pc, float_problem(*pc, s, 7000));
    for (const Row row : rows_at(*pc, ConvRole::Fwd, s))
      require_same_bits(run_fwd(*pc, row, g, true), run_fwd(*pc, row, g, true),
                        "fwd twice " + label(*pc, row));
    for (const Row row : rows_at(*pc, ConvRole::BwdData, s))
      require_same_bits(run_bwd_data(*pc, row, g, true), run_bwd_data(*pc, row, g, true),
                        "bwd_data twice " + label(*pc, row));
    for (const Row row : rows_at(*pc, ConvRole::BwdWeight, s)) {
      const Wgrad a = run_bwd_weight(*pc, row, g, true), b = run_bwd_weight(*pc, row, g, true);
      require_same_bits(a.dw, b.dw, "bwd_weight dw twice " + label(*pc, row));
      require_same_bits(a.db, b.db, "bwd_weight db twice " + label(*pc, row));
    }
  }
}

// Programmatic dependent launch (kernels/pdl.cuh) lets a kernel start before the one ahead of it
// completes. The model's test (test_model_cuda.cpp) runs the default rows only; here every row of
// every role runs as the model runs a layer: behind a fresh GEMM weight copy and a forward that
// writes the row's input, both into memory poisoned with NaN (GpuArray), the row reading its
// weights early (weights_ready, as for every layer after the first). With PDL on, a read before
// its wait would see the poison or a half-written map; the bits must equal plain launches'. The
// clustered weight-gradient rows and the mask-prefetch row are launched with the programmatic
// attribute nowhere else.
TEST_CASE("every conv row under programmatic dependent launch gives the bits of plain launches") {
  require_gpu();
  struct Restore {
    bool was = vdsr::programmatic_launch();
    ~Restore() { vdsr::set_programmatic_launch(was); }
  } restore;
  for (const PrecisionCase* pc : gpu_precisions())
    for (const ConvShape& s : {ConvShape{64, 41, 41, 64, 64}, ConvShape{1, 270, 480, 64, 64}}) {
      const Problem d = float_problem(*pc, s, 7300);
      const OnGpu g = upload(*pc, d);
      const GpuArray master(d.wt);
      for (const ConvRole role : kRoles)
        for (const Row row : rows_at(*pc, role, s)) {
          const std::string what =
              std::string(vdsr::conv_role_name(role)) + " " + label(*pc, row) + " " + shape_str(s);
          const bool wgrad = role == ConvRole::BwdWeight;
          auto chain = [&](bool pdl) {
            vdsr::set_programmatic_launch(pdl);
            GpuArray wt(d.wt.size(), pc->maps), mid(size_t(s.out_elems()), pc->maps), db(size_t(s.K)),
                out(size_t(wgrad ? s.weight_elems() : s.in_elems()), wgrad ? vdsr::DType::F32 : pc->maps);
            const void* w =
                pc->any_channels ? (role == ConvRole::BwdData ? g.w_flip.get() : g.w.get()) : wt.get();
            if (!pc->any_channels)
              vdsr::ops::conv_weights(vdsr::Device::cuda(kGpu), pc->p, master.f32(), 1, int(s.K), int(s.C),
                                      role == ConvRole::BwdData, wt.get());
            launch(*pc, ConvRole::Fwd, nullptr,
                   fwd_launch(s, g.x.get(), g.w.get(), g.b.f32(), true, mid.get(), gpu_stream(), kGpu));
            cudaStream_t st = gpu_stream();
            vdsr::ConvLaunch a = role == ConvRole::Fwd ? fwd_launch(s, mid.get(), w, g.b.f32(), true, out.get(), st, kGpu)
                                 : role == ConvRole::BwdData
                                     ? bwd_data_launch(s, mid.get(), w, g.src.get(), out.get(), st, kGpu)
                                     : bwd_weight_launch(s, g.x.get(), mid.get(), out.f32(), db.f32(), st, kGpu);
            a.weights_ready = !wgrad;
            launch(*pc, role, row, a);
            std::vector<float> v = out.download();
            if (wgrad)
              for (const float f : db.download()) v.push_back(f);
            return v;
          };
          const std::vector<float> want = chain(false);
          for (int run = 0; run < 3; ++run)
            require_same_bits(chain(true), want, what + " with PDL, run " + std::to_string(run + 1));
        }
    }
}

TEST_CASE("conv rows check their preconditions, every precision") {
  require_gpu();
  // Big enough for any shape below, should a check be missing and a kernel run.
  const GpuArray a(64 * 64 * 9), b(64 * 64 * 9), w(64 * 64 * 9);
  const ConvShape ok{1, 3, 3, 64, 64}, no_pixels{1, 0, 3, 64, 64};
  const ConvShape not_64_to_64[] = {{1, 3, 3, 32, 64}, {1, 3, 3, 64, 16}};
  for (const PrecisionCase* pc : gpu_precisions())
    for (const ConvRole role : kRoles)
      for (const Row row : usable_conv_variants(role, pc->p, ok, kGpu)) {
        // Each role reads `in` (x, or dy for backward-data) and `with` (the weights, or dy for the
        // weight gradient) and writes `out`.
        auto call = [&](const ConvShape& s, const void* in, const void* with, void* out) {
          if (role == ConvRole::Fwd)
            row->launch(vdsr::fwd_launch(s, in, with, nullptr, false, out, gpu_stream(), kGpu));
          if (role == ConvRole::BwdData)
            row->launch(vdsr::bwd_data_launch(s, in, with, nullptr, out, gpu_stream(), kGpu));
          if (role == ConvRole::BwdWeight)
            row->launch(vdsr::bwd_weight_launch(s, in, with, static_cast<float*>(out), nullptr,
                                                gpu_stream(), kGpu));
        };
        INFO(vdsr::conv_role_name(role) << " " << label(*pc, row));
        CHECK_THROWS_AS(call(no_pixels, a.get(), w.get(), b.get()), vdsr::Error);
        if (!pc->any_channels)
          for (const ConvShape& s : not_64_to_64)
            CHECK_THROWS_WITH(call(s, a.get(), w.get(), b.get()), Catch::Contains("64 -> 64"));
        CHECK_THROWS_WITH(call(ok, nullptr, w.get(), b.get()), Catch::Contains("null"));
        CHECK_THROWS_WITH(call(ok, a.get(), nullptr, b.get()), Catch::Contains("null"));
        CHECK_THROWS_WITH(call(ok, a.get(), w.get(), nullptr), Catch::Contains("null"));
        if (role != ConvRole::BwdWeight)
          CHECK_THROWS_WITH(call(ok, a.get(), w.get(), a.get()), Catch::Contains("in place"));
      }
  // The GEMM weight copies of the tensor-core precisions refuse an empty layer.
  for (const PrecisionCase* pc : gpu_precisions())
    if (!pc->any_channels) {
      INFO(pc->name);
      CHECK_THROWS_AS(vdsr::ops::conv_weights(vdsr::Device::cuda(kGpu), pc->p, w.f32(), 1, 0, 64,
                                              false, a.get()),
                      vdsr::Error);
    }
  vdsr::cuda_sync(kGpu);
}

TEST_CASE("the kernel families refuse variant numbers they do not have") {
  require_gpu();
  const GpuArray a(64 * 64 * 9), b(64 * 64 * 9), w(64 * 64 * 9), y(64 * 64 * 9), bb(64);
  const ConvShape s{1, 3, 3, 4, 4}, ok{1, 3, 3, 64, 64};
  // fp32: forward and backward-data 0..3, the weight gradient 0..1.
  CHECK_THROWS_AS(
      vdsr::conv3x3_fwd_cuda(s, a.f32(), w.f32(), nullptr, false, y.f32(), gpu_stream(), 4),
      vdsr::Error);
  CHECK_THROWS_AS(
      vdsr::conv3x3_fwd_cuda(s, a.f32(), w.f32(), nullptr, false, y.f32(), gpu_stream(), -1),
      vdsr::Error);
  CHECK_THROWS_AS(
      vdsr::conv3x3_bwd_weight_cuda(s, a.f32(), y.f32(), w.f32(), bb.f32(), gpu_stream(), kGpu, 7),
      vdsr::Error);
  // fp32 backward-data cannot write over the mask's source either.
  CHECK_THROWS_AS(
      vdsr::conv3x3_bwd_data_cuda(s, y.f32(), w.f32(), a.f32(), a.f32(), gpu_stream(), 1),
      vdsr::Error);
  if (vdsr::current_device_cc() >= 80) {
    CHECK_THROWS_WITH(
        vdsr::conv3x3_fwd_tf32_cuda(ok, a.f32(), b.f32(), nullptr, false, w.f32(), gpu_stream(), 3),
        Catch::Contains("no tf32 variant"));
    const auto* m = static_cast<const __nv_bfloat16*>(a.get());
    auto* out = static_cast<__nv_bfloat16*>(w.get());
    CHECK_THROWS_WITH(vdsr::conv3x3_fwd_bf16_cuda(ok, m, m, nullptr, false, out, gpu_stream(), 6),
                      Catch::Contains("no bf16 variant"));
  }
  CHECK(!vdsr::conv3x3_tf32_variant_usable(-1, ok));
  CHECK(!vdsr::conv3x3_tf32_variant_usable(3, ok));
  vdsr::cuda_sync(kGpu);
}

TEST_CASE("the conv kernel registry: unique names, a default for every role and precision") {
  require_gpu();
  std::set<std::string> seen;
  for (const vdsr::ConvVariant& v : vdsr::conv_variants())
    CHECK(seen.insert(std::string(vdsr::conv_role_name(v.role)) + "/" +
                      std::to_string(int(v.precision)) + "/" + v.name)
              .second);
  const ConvShape train{64, 41, 41, 64, 64};
  for (const ConvRole role : kRoles) {
    CHECK(std::string(vdsr::default_conv_variant(role, Precision::Fp32, train, kGpu).name) ==
          (role == ConvRole::BwdWeight ? "tiled-64x192" : "tiled-128x64"));
    if (vdsr::current_device_cc() >= 80)
      for (const Precision p : {Precision::Tf32, Precision::Bf16}) {
        const auto usable = vdsr::usable_conv_variants(role, p, train, kGpu);
        REQUIRE(!usable.empty());
        CHECK(usable.front() == &vdsr::default_conv_variant(role, p, train, kGpu));
      }
  }
  // SRCNN's shapes have the general kernel alone; the tensor-core rows refuse other channel counts.
  ConvShape srcnn{1, 32, 32, 64, 32};
  srcnn.R = 5;
  srcnn.pad = vdsr::Padding::Replicate;
  CHECK(std::string(vdsr::default_conv_variant(ConvRole::Fwd, Precision::Fp32, srcnn, kGpu).name) ==
        "general");
  CHECK(vdsr::usable_conv_variants(ConvRole::Fwd, Precision::Bf16, ConvShape{1, 8, 8, 32, 32}, kGpu)
            .empty());
  CHECK_THROWS_AS(vdsr::default_conv_variant(ConvRole::BwdData, Precision::Fp32, srcnn, kGpu),
                  vdsr::Error);
}

TEST_CASE("tf32: the training shape runs with every output-channel slice on this GPU") {
  require_gpu();
  // Compute 9.0 (227 KB per CTA) holds all 64 channels' fp32 weights; 8.0 holds 32; the 99 KB
  // parts 16. The default picks the widest that fits.
  const ConvShape s{64, 41, 41, 64, 64};
  const auto slices = vdsr::usable_conv_variants(ConvRole::Fwd, Precision::Tf32, s, kGpu);
  REQUIRE(!slices.empty());
  if (vdsr::current_device_cc() == 90) CHECK(slices.size() == 3);
  // The default gives the widest slice's result bit for bit, and so does every slice (each output's
  // sum is the same sequence whichever slice computes it).
  const PrecisionCase& tf32 = precision_case(Precision::Tf32);
  const OnGpu g = upload(tf32, float_problem(tf32, {2, 41, 41, 64, 64}, 38000));
  const auto widest = run_fwd(tf32, slices.front(), g, true);
  require_same_bits(run_fwd(tf32, nullptr, g, true), widest,
                    "the default against the widest slice");
  for (const Row row : slices)
    require_same_bits(run_fwd(tf32, row, g, true), widest, label(tf32, row));
}

namespace {

constexpr size_t k99KB = 101376;  // the opt-in shared memory per CTA of compute 8.6 / 8.9

std::set<std::string> usable_names(ConvRole role, Precision p, const ConvShape& s) {
  std::set<std::string> names;
  for (const Row row : vdsr::usable_conv_variants(role, p, s, kGpu)) names.insert(row->name);
  return names;
}

// The shapes where tiles in full rows do not fit 99 KB beside tf32's weights (docs/kernels.md),
// the training shape, a wide image and a one-pixel image.
const std::vector<ConvShape>& small_smem_shapes() {
  static const std::vector<ConvShape> shapes = {
      {2, 41, 41, 64, 64}, {1, 5, 60, 64, 64},  {1, 3, 64, 64, 64}, {1, 200, 1, 64, 64},
      {1, 130, 2, 64, 64}, {1, 7, 300, 64, 64}, {1, 1, 1, 64, 64}};
  return shapes;
}

}  // namespace

TEST_CASE("a GPU granting 99 KB per CTA (compute 8.6 / 8.9, emulated): bf16 in slices of 32 channels") {
  require_gpu();
  if (vdsr::current_device_cc() < 80) return;  // no tensor cores: nothing to emulate
  const PrecisionCase& bf16 = precision_case(Precision::Bf16);
  const ConvShape train{64, 41, 41, 64, 64};
  // mma.sync's 64-channel CTAs at the training shape, where they fit: the bits its slices of 32
  // must give on the smaller device.
  const OnGpu g = upload(bf16, float_problem(bf16, {2, 41, 41, 64, 64}, 39000));
  std::vector<float> fwd64, bwd64;
  if (usable_names(ConvRole::Fwd, Precision::Bf16, train).count("mma.sync") != 0) {
    fwd64 = run_fwd(bf16, &vdsr::conv_variant(ConvRole::Fwd, Precision::Bf16, "mma.sync"), g, true);
    bwd64 = run_bwd_data(bf16, &vdsr::conv_variant(ConvRole::BwdData, Precision::Bf16, "mma.sync"), g, true);
  }
  const vdsr::ScopedSmemLimit cap(k99KB);
  REQUIRE(vdsr::max_dynamic_smem() <= k99KB);
  // 106 KB at the training shape: mma.sync is not offered there, its slices of 32 are.
  for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdData}) {
    const auto names = usable_names(role, Precision::Bf16, train);
    CHECK(names.count("mma.sync") == 0);
    CHECK(names.count("mma.sync-co32") == 1);
  }
  CHECK(usable_names(ConvRole::BwdWeight, Precision::Bf16, train).count("mma.sync") == 1);
  // Every role keeps an mma.sync row at every shape (the wgmma rows are compute 9.0's alone).
  for (const ConvShape& s : small_smem_shapes())
    for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdData, ConvRole::BwdWeight}) {
      INFO(shape_str(s) << " " << vdsr::conv_role_name(role));
      const auto names = usable_names(role, Precision::Bf16, s);
      CHECK((names.count("mma.sync") + names.count("mma.sync-co32")) >= 1);
    }
  // The slices of 32 give the bits of the whole 64 (each output's sum is the same sequence).
  const auto fwd32 = run_fwd(bf16, &vdsr::conv_variant(ConvRole::Fwd, Precision::Bf16, "mma.sync-co32"), g, true);
  const auto bwd32 =
      run_bwd_data(bf16, &vdsr::conv_variant(ConvRole::BwdData, Precision::Bf16, "mma.sync-co32"), g, true);
  if (!fwd64.empty()) {
    require_same_bits(fwd32, fwd64, "bf16 fwd mma.sync-co32 at 99 KB against mma.sync");
    require_same_bits(bwd32, bwd64, "bf16 bwd_data mma.sync-co32 at 99 KB against mma.sync");
  }
}

TEST_CASE("a GPU granting 99 KB per CTA (emulated): tf32 in compact tiles where full rows do not fit") {
  require_gpu();
  if (vdsr::current_device_cc() < 80) return;
  const PrecisionCase& tf32 = precision_case(Precision::Tf32);
  uint32_t seed = 39100;
  for (const ConvShape& s : small_smem_shapes()) {
    INFO(shape_str(s));
    // Small integers: every sum is exact in any order, so the device's own tiles and the compact
    // ones must give the same bits in all three roles.
    const OnGpu g = upload(tf32, int_problem(s, seed += 10));
    const auto fwd = run_fwd(tf32, nullptr, g, true);
    const auto bwd = run_bwd_data(tf32, nullptr, g, true);
    const Wgrad w = run_bwd_weight(tf32, nullptr, g, true);
    const vdsr::ScopedSmemLimit cap(k99KB);
    for (const ConvRole role : {ConvRole::Fwd, ConvRole::BwdData, ConvRole::BwdWeight})
      CHECK(!usable_names(role, Precision::Tf32, s).empty());
    require_same_bits(run_fwd(tf32, nullptr, g, true), fwd, "tf32 fwd at 99 KB");
    require_same_bits(run_bwd_data(tf32, nullptr, g, true), bwd, "tf32 bwd_data at 99 KB");
    const Wgrad w99 = run_bwd_weight(tf32, nullptr, g, true);
    require_same_bits(w99.dw, w.dw, "tf32 bwd_weight dw at 99 KB");
    require_same_bits(w99.db, w.db, "tf32 bwd_weight db at 99 KB");
  }
  // Below what even compact tiles need (64 KB, no such GPU today) tf32 has no kernel, and the
  // registry says so in words, as a choice for the user to change, not as an internal error.
  const vdsr::ScopedSmemLimit cap(65536);
  CHECK(vdsr::usable_conv_variants(ConvRole::Fwd, Precision::Tf32, {1, 41, 41, 64, 64}, kGpu).empty());
  CHECK_THROWS_AS(vdsr::default_conv_variant(ConvRole::Fwd, Precision::Tf32, {1, 41, 41, 64, 64}, kGpu),
                  vdsr::UserError);
  CHECK_THROWS_WITH(vdsr::default_conv_variant(ConvRole::Fwd, Precision::Tf32, {1, 41, 41, 64, 64}, kGpu),
                    Catch::Contains("--precision tf32 has no fwd kernel for 41 x 41 images") &&
                        Catch::Contains("use --precision bf16 or fp32"));
}

// --- timing ----------------------------------------------------------------------------------

namespace {

// Median of 20 timed runs (CUDA events on the engine's stream) after 3 warm-ups, in ms.
double time_ms(const std::function<void()>& op) {
  for (int i = 0; i < 3; ++i) op();
  vdsr::cuda_sync(kGpu);
  cudaEvent_t e0, e1;
  VDSR_CUDA_CHECK(cudaEventCreate(&e0));
  VDSR_CUDA_CHECK(cudaEventCreate(&e1));
  std::vector<float> t;
  for (int i = 0; i < 20; ++i) {
    VDSR_CUDA_CHECK(cudaEventRecord(e0, gpu_stream()));
    op();
    VDSR_CUDA_CHECK(cudaEventRecord(e1, gpu_stream()));
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

void report(const char* op, const PrecisionCase& pc, const ConvShape& s, const char* variant,
            double ms) {
  const double flop = 2.0 * s.macs();
  std::printf("%-10s %-4s %-22s %-20s %9.3f ms %7.2f TFLOP/s\n", op, pc.name, shape_str(s).c_str(),
              variant, ms, flop / (ms * 1e-3) / 1e12);
  std::fflush(stdout);
}

}  // namespace

TEST_CASE("conv kernel timings, every precision and row", "[.perf]") {
  require_gpu();
  // FLOP = 2 * 9 * C * K * N * H * W per op.
  const ConvShape shapes[] = {{64, 41, 41, 64, 64},   {64, 41, 41, 1, 64},
                              {64, 41, 41, 64, 1},    {1, 1080, 1920, 64, 64},
                              {1, 1080, 1920, 1, 64}, {1, 1080, 1920, 64, 1}};
  for (const PrecisionCase* pc : gpu_precisions())
    for (const ConvShape& s : shapes) {
      if (!applies(*pc, s)) continue;
      const bool big = s.N == 1;
      const OnGpu g = upload(*pc, float_problem(*pc, s, 1));
      const GpuArray y(size_t(s.out_elems()), pc->maps), dx(size_t(s.in_elems()), pc->maps),
          dw(size_t(s.weight_elems())), db(size_t(s.K));
      // The direct kernels are slow and timed on the training shapes only.
      auto slow = [](Row r) {
        return std::string(r->name).find("direct") == 0 || std::string(r->name) == "general";
      };
      for (const Row r : usable_conv_variants(ConvRole::Fwd, pc->p, s, kGpu))
        if (!(big && slow(r)))
          report("fwd", *pc, s, r->name, time_ms([&] {
                   r->launch(vdsr::fwd_launch(s, g.x.get(), g.w.get(), g.b.f32(), true, y.get(),
                                              gpu_stream(), kGpu));
                 }));
      if (big) continue;  // inference only at 1080p
      for (const Row r : usable_conv_variants(ConvRole::BwdData, pc->p, s, kGpu))
        report("bwd_data", *pc, s, r->name, time_ms([&] {
                 r->launch(vdsr::bwd_data_launch(s, g.dy.get(), g.w_flip.get(), g.src.get(),
                                                 dx.get(), gpu_stream(), kGpu));
               }));
      for (const Row r : usable_conv_variants(ConvRole::BwdWeight, pc->p, s, kGpu))
        report("bwd_weight", *pc, s, r->name, time_ms([&] {
                 r->launch(vdsr::bwd_weight_launch(s, g.x.get(), g.dy.get(), dw.f32(), db.f32(),
                                                   gpu_stream(), kGpu));
               }));
    }
}
