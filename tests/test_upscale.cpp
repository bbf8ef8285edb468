// The upscaler's stages (model/upscale.h): finish_upscale, which converts row by row, is the
// whole-plane composition of the image functions (imresize the chroma and alpha, ycbcr2rgb, round
// and saturate), sample for sample, for every channel layout, bit depth and scale; prepare_upscale's
// luma is imresize of rgb2ycbcr's Y. With a network, the luma travels as staged floats
// (model/net_plane.h) and the result is the test's own composition in doubles around a bare
// Vdsr::forward on float vectors, sample for sample, with and without TTA and tiles; factors other
// than 2, 3 and 4 too (the network runs at network_scale, x2 or x3, and its output is resized to
// the output's size).
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "image/color.h"
#include "image/imresize.h"
#include "image/quantize.h"
#include "model/inference.h"
#include "model/upscale.h"
#include "model/vdsr.h"
#include "tests/support/test_support.h"

using namespace vdsr;

namespace {

// finish_upscale as whole planes: every full-size plane made, then converted.
Image finish_whole(const UpscaleWork& w) {
  Image out;
  out.width = w.out_width;
  out.height = w.out_height;
  out.channels = w.info.channels;
  out.bits = w.info.bits;
  const size_t n = size_t(out.width) * size_t(out.height), c = size_t(out.channels);
  out.pixels.assign(n * c, 0);
  const double max = out.max_value();
  if (c <= 2) {
    for (size_t i = 0; i < n; ++i) out.pixels[i * c] = uint16_t(round_saturate(w.luma.v[i] * max, max));
  } else {
    const Image rgb = ycbcr_to_rgb(YCbCr{w.luma, imresize(w.cb, w.scale), imresize(w.cr, w.scale)}, out.bits);
    for (size_t i = 0; i < n; ++i)
      for (size_t k = 0; k < 3; ++k) out.pixels[i * c + k] = rgb.pixels[i * 3 + k];
  }
  if (c == 2 || c == 4) {
    const Plane a = imresize(w.alpha, w.scale);
    for (size_t i = 0; i < n; ++i) out.pixels[i * c + c - 1] = uint16_t(round_saturate(a.v[i] * max, max));
  }
  return out;
}

// The network's output on a double plane by hand: each value to float, Vdsr::forward, back to
// double (what the upscaler always did around the network).
Plane forward_by_hand(Vdsr& model, const Plane& in) {
  std::vector<float> x(in.v.begin(), in.v.end()), y(x.size());
  model.forward(1, in.height, in.width, x.data(), y.data());
  Plane out(in.height, in.width);
  for (size_t i = 0; i < y.size(); ++i) out.v[i] = double(y[i]);
  return out;
}

// The luma of a prepared image by hand: imresize of the Y (the grey value itself for grey).
Plane luma_by_hand(const Image& in, double scale) {
  if (in.channels >= 3) return imresize(rgb_to_ycbcr(in).y, scale);
  Plane p(in.height, in.width);
  for (size_t i = 0; i < p.v.size(); ++i) p.v[i] = in.pixels[i * size_t(in.channels)] / double(in.max_value());
  return imresize(p, scale);
}

}  // namespace

TEST_CASE("finish_upscale, row by row, is the whole-plane bicubic composition sample for sample") {
  uint32_t seed = 1;
  for (const int channels : {1, 2, 3, 4})
    for (const int bits : {8, 16})
      for (const double scale : {2.0, 3.0, 4.0, 1.5, 2.5, 6.0})
        for (const auto& [h, w] : std::vector<std::pair<int, int>>{{1, 1}, {5, 7}, {16, 3}, {23, 31}}) {
          const Image in = test::random_image(h, w, channels, bits, seed++);
          const UpscaleWork work = prepare_upscale(in, scale);
          INFO(channels << " channels, " << bits << " bits, x" << scale << ", " << h << "x" << w);
          const Image got = finish_upscale(work);
          const Image want = finish_whole(work);
          REQUIRE(got.width == want.width);
          REQUIRE(got.height == want.height);
          CHECK(got.width == int(std::ceil(w * scale - 1e-9)));  // MATLAB's ceil(s n)
          CHECK(got.height == int(std::ceil(h * scale - 1e-9)));
          REQUIRE(got.channels == channels);
          REQUIRE(got.bits == bits);
          CHECK(got.pixels == want.pixels);
          // The luma the network reads: imresize of the Y (the grey value itself for grey).
          CHECK(work.luma.v == luma_by_hand(in, scale).v);
        }
}

TEST_CASE("finish_upscale refuses a luma of the wrong size") {
  UpscaleWork w = prepare_upscale(test::random_image(4, 4, 3, 8, 9), 2);
  w.luma = Plane(7, 8);
  CHECK_THROWS_AS(finish_upscale(w), Error);
}

TEST_CASE("the network's path through staged floats is the double composition around a bare forward") {
  Vdsr model(VdsrConfig{5, 8, true});
  model.init_he(31);
  uint32_t seed = 40;
  for (const int channels : {1, 2, 3, 4})
    for (const int bits : {8, 16})
      for (const auto& [scale, net_scale] : std::vector<std::pair<double, double>>{
               {2.0, 2.0}, {3.0, 3.0}, {2.5, 3.0}, {2.1, 3.0}, {3.5, 3.0}, {1.5, 2.0}, {6.0, 3.0}}) {
        const Image in = test::random_image(9, 13, channels, bits, seed++);
        INFO(channels << " channels, " << bits << " bits, x" << scale);
        // prepare_upscale for a model stages the luma as floats at the network's factor; bicubic
        // alone keeps doubles at the output's.
        REQUIRE(network_scale(scale) == net_scale);  // 2, 3, 4 themselves; 2 below x2; 3 otherwise
        const Plane luma = luma_by_hand(in, net_scale);
        const auto to_output = [&](const Plane& net_out, const UpscaleWork& w) {
          return net_scale == scale ? net_out : imresize_to(net_out, w.out_height, w.out_width);
        };
        const UpscaleWork staged = prepare_upscale(in, scale, &model);
        REQUIRE(staged.luma.v.empty());
        REQUIRE(staged.net.height() == luma.height);
        REQUIRE(staged.net.width() == luma.width);
        for (size_t i = 0; i < luma.v.size(); ++i) REQUIRE(staged.net.data()[i] == static_cast<float>(luma.v[i]));

        UpscaleWork want = prepare_upscale(in, scale);  // doubles at the output's size: the oracle's frame
        want.luma = to_output(forward_by_hand(model, luma), want);
        const Image ref = finish_whole(want);
        UpscaleOptions opt;
        opt.scale = scale;
        CHECK(upscale_image(in, &model, opt).pixels == ref.pixels);
        // The pipeline's three calls, staged and not (run_network stages a bicubic preparation).
        UpscaleWork a = prepare_upscale(in, scale, &model), b = prepare_upscale(in, scale);
        run_network(a, &model, opt);
        CHECK(finish_upscale(a).pixels == ref.pixels);
        if (net_scale == scale) {
          run_network(b, &model, opt);
          CHECK(finish_upscale(b).pixels == ref.pixels);
        } else {  // a bicubic preparation has no luma at the network's factor
          CHECK_THROWS_AS(run_network(b, &model, opt), Error);
        }
        opt.tile = 5;  // tiles: the same pixels
        CHECK(upscale_image(in, &model, opt).pixels == ref.pixels);

        // TTA: the mean in double of the eight transformed outputs, by hand.
        Plane mean(luma.height, luma.width);
        for (int t = 0; t < 8; ++t) {
          const Plane o = invert_transform(forward_by_hand(model, transform_plane(luma, t)), t);
          for (size_t i = 0; i < mean.v.size(); ++i) mean.v[i] += o.v[i];
        }
        for (auto& v : mean.v) v /= 8.0;
        UpscaleWork tta = prepare_upscale(in, scale);
        tta.luma = to_output(mean, tta);
        UpscaleOptions topt;
        topt.scale = scale;
        topt.tta = true;
        CHECK(upscale_image(in, &model, topt).pixels == finish_whole(tta).pixels);
      }
}

TEST_CASE("on_progress: after every layer, rising to exactly 1 at the end, with and without TTA and tiles") {
  const VdsrConfig cfg{4, 4, true};
  Vdsr model(cfg);
  model.init_he(5);
  const Image in = test::random_image(11, 9, 3, 8, 50);
  for (const bool tta : {false, true})
    for (const int tile : {0, 8}) {
      INFO((tta ? "TTA" : "no TTA") << ", tile " << tile);
      std::vector<double> seen;
      UpscaleOptions opt;
      opt.tta = tta;
      opt.tile = tile;
      opt.on_progress = [&](double f) { seen.push_back(f); };
      upscale_image(in, &model, opt);
      // One call per layer of every forward: 8 forwards with TTA, one per tile without.
      REQUIRE(seen.size() >= size_t(cfg.depth) * (tta ? 8 : 1));
      CHECK(seen.size() % size_t(cfg.depth) == 0);
      for (size_t i = 1; i < seen.size(); ++i) CHECK(seen[i] > seen[i - 1]);
      CHECK(seen.back() == 1.0);
    }
}

TEST_CASE("a NetPlane widens back to the same doubles and copies into a block of its own") {
  Plane p(3, 5);
  for (size_t i = 0; i < p.v.size(); ++i) p.v[i] = 0.1 * double(i) + 1e-9;
  const NetPlane n = to_net_plane(p, Device::cpu());
  const Plane back = to_plane(n);
  for (size_t i = 0; i < p.v.size(); ++i) CHECK(back.v[i] == double(static_cast<float>(p.v[i])));
  const NetPlane copy = n;
  CHECK(copy.data() != n.data());
  CHECK(to_plane(copy).v == back.v);
  CHECK(NetPlane().empty());
  CHECK(NetPlane(NetPlane()).empty());
}

TEST_CASE("fit_scale: the side a target comes from is exactly its target, the other within its own") {
  // Every width from 1 to 300 against every target up to 8x it (and a few heights): the factor
  // W / w through imresize_length gives W itself, never W + 1 from the quotient's rounding.
  int64_t checked = 0;
  for (int w = 1; w <= 300; ++w)
    for (int W = w + 1; W <= 8 * w; W += 1 + w / 16)
      for (const int h : {1, 7, w, 2 * w + 1, 1000}) {
        const double s = fit_scale(w, h, W, 0);
        REQUIRE(imresize_length(s, w) == W);
        REQUIRE(imresize_length(s, h) == int(std::ceil(double(h) * W / w - 1e-9)));
        const double t = fit_scale(h, w, 0, W);  // the same by height
        REQUIRE(imresize_length(t, w) == W);
        ++checked;
      }
  CHECK(checked > 100000);
  // Both: the smaller factor, so one side is its target and the other fits inside its own.
  for (const auto& [w, h, W, H] : std::vector<std::array<int, 4>>{
           {13, 10, 30, 30}, {20, 8, 30, 30}, {1920, 1080, 3840, 3840}, {1080, 1920, 3840, 2160}, {7, 7, 20, 21}}) {
    INFO(w << "x" << h << " into " << W << "x" << H);
    const double s = fit_scale(w, h, W, H);
    CHECK(s == std::min(double(W) / w, double(H) / h));
    const int ow = imresize_length(s, w), oh = imresize_length(s, h);
    CHECK(ow <= W);
    CHECK(oh <= H);
    CHECK((ow == W || oh == H));
  }
  CHECK(fit_scale(1080, 1920, 3840, 2160) == 1.125);  // a portrait photo into a landscape frame: its height
  CHECK(fit_scale(100, 50, 0, 40) == 0.8);            // below 1: the caller refuses it
}
