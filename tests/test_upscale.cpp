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

// An alpha channel with some pixel below its maximum: the colour is upscaled premultiplied.
bool translucent(const Image& in) {
  if (in.channels != 2 && in.channels != 4) return false;
  for (size_t i = size_t(in.channels) - 1; i < in.pixels.size(); i += size_t(in.channels))
    if (in.pixels[i] < in.max_value()) return true;
  return false;
}

// The input's alpha in [0, 1] (all 1 where it is opaque or has none): what the colour is times.
std::vector<double> alpha_by_hand(const Image& in) {
  std::vector<double> a(size_t(in.width) * size_t(in.height), 1.0);
  if (translucent(in))
    for (size_t i = 0; i < a.size(); ++i)
      a[i] = in.pixels[i * size_t(in.channels) + size_t(in.channels) - 1] / double(in.max_value());
  return a;
}

// finish_upscale as whole planes: every full-size plane made, then converted; a premultiplied
// colour divided by the upscaled alpha, black where that alpha rounds to 0.
Image finish_whole(const UpscaleWork& w, bool premultiplied) {
  Image out;
  out.width = w.out_width;
  out.height = w.out_height;
  out.channels = w.info.channels;
  out.bits = w.info.bits;
  const size_t n = size_t(out.width) * size_t(out.height), c = size_t(out.channels);
  out.pixels.assign(n * c, 0);
  const double max = out.max_value();
  const Plane a = c == 2 || c == 4 ? imresize(w.alpha, w.scale) : Plane();
  Plane y = w.luma, cb = c >= 3 ? imresize(w.cb, w.scale) : Plane(),
        cr = c >= 3 ? imresize(w.cr, w.scale) : Plane();
  if (premultiplied)
    for (size_t i = 0; i < n; ++i) {
      const bool shown = std::round(a.v[i] * max) >= 1;
      y.v[i] = shown ? y.v[i] / a.v[i] : (c >= 3 ? 16.0 / 255 : 0.0);
      if (c >= 3) {
        cb.v[i] = shown ? cb.v[i] / a.v[i] : 128.0 / 255;
        cr.v[i] = shown ? cr.v[i] / a.v[i] : 128.0 / 255;
      }
    }
  if (c <= 2) {
    for (size_t i = 0; i < n; ++i) out.pixels[i * c] = uint16_t(round_saturate(y.v[i] * max, max));
  } else {
    const Image rgb = ycbcr_to_rgb(YCbCr{y, cb, cr}, out.bits);
    for (size_t i = 0; i < n; ++i)
      for (size_t k = 0; k < 3; ++k) out.pixels[i * c + k] = rgb.pixels[i * 3 + k];
  }
  if (c == 2 || c == 4)
    for (size_t i = 0; i < n; ++i)
      out.pixels[i * c + c - 1] = uint16_t(round_saturate(a.v[i] * max, max));
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

// The luma of a prepared image by hand: imresize of the Y (the grey value itself for grey), times
// alpha where the image is translucent.
Plane luma_by_hand(const Image& in, double scale) {
  Plane p(in.height, in.width);
  if (in.channels >= 3) {
    p = rgb_to_ycbcr(in).y;
  } else {
    for (size_t i = 0; i < p.v.size(); ++i)
      p.v[i] = in.pixels[i * size_t(in.channels)] / double(in.max_value());
  }
  const std::vector<double> a = alpha_by_hand(in);
  for (size_t i = 0; i < p.v.size(); ++i) p.v[i] *= a[i];
  return imresize(p, scale);
}

// A random image, and for channels 2 and 4 with `opaque`, its alpha all at the maximum.
Image random_test_image(int h, int w, int channels, int bits, uint32_t seed, bool opaque) {
  Image in = test::random_image(h, w, channels, bits, seed);
  if (opaque && (channels == 2 || channels == 4))
    for (size_t i = size_t(channels) - 1; i < in.pixels.size(); i += size_t(channels))
      in.pixels[i] = uint16_t(in.max_value());
  return in;
}

}  // namespace

TEST_CASE("finish_upscale, row by row, is the whole-plane bicubic composition sample for sample") {
  uint32_t seed = 1;
  for (const int channels : {1, 2, 3, 4})
    for (const bool opaque : {false, true})
      for (const int bits : {8, 16})
        for (const double scale : {2.0, 3.0, 4.0, 1.5, 2.5, 6.0})
          for (const auto& [h, w] :
               std::vector<std::pair<int, int>>{{1, 1}, {5, 7}, {16, 3}, {23, 31}}) {
            const Image in = random_test_image(h, w, channels, bits, seed++, opaque);
            const UpscaleWork work = prepare_upscale(in, scale);
            INFO(channels << " channels, " << (opaque ? "opaque, " : "") << bits << " bits, x"
                          << scale << ", " << h << "x" << w);
            CHECK(work.premultiplied == translucent(in));
            if (channels >= 3) {  // the chroma at the input's size, times alpha where translucent
              const YCbCr ycc = rgb_to_ycbcr(in);
              const std::vector<double> a = alpha_by_hand(in);
              for (size_t i = 0; i < a.size(); ++i) {
                REQUIRE(work.cb.v[i] == ycc.cb.v[i] * a[i]);
                REQUIRE(work.cr.v[i] == ycc.cr.v[i] * a[i]);
              }
            }
            const Image got = finish_upscale(work);
            const Image want = finish_whole(work, translucent(in));
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

TEST_CASE("a colour beside transparent pixels keeps its colour: no fringe of the hidden colour") {
  // A red (or grey) cut-out on transparent black, the case of every logo: where the output's alpha
  // is not 0 its colour is the cut-out's, not darkened by the black under the transparent half.
  for (const int channels : {2, 4})
    for (const double scale : {2.0, 3.0, 2.5}) {
      Image in;
      in.width = 20;
      in.height = 8;
      in.channels = channels;
      in.pixels.assign(size_t(in.width) * size_t(in.height) * size_t(channels), 0);
      const std::vector<uint16_t> colour =
          channels == 4 ? std::vector<uint16_t>{255, 0, 0} : std::vector<uint16_t>{200};
      for (int y = 0; y < in.height; ++y)
        for (int x = 0; x < in.width / 2; ++x) {
          uint16_t* px = &in.pixels[(size_t(y) * size_t(in.width) + size_t(x)) * size_t(channels)];
          std::copy(colour.begin(), colour.end(), px);
          px[channels - 1] = 255;
        }
      INFO(channels << " channels, x" << scale);
      UpscaleOptions opt;
      opt.scale = scale;
      const Image out = upscale_image(in, nullptr, opt);
      int partial = 0;
      for (size_t i = 0; i < out.pixels.size(); i += size_t(channels)) {
        const uint16_t a = out.pixels[i + size_t(channels) - 1];
        partial += a > 0 && a < 255;
        for (size_t k = 0; k < colour.size(); ++k)
          CHECK(std::abs(int(out.pixels[i + k]) - int(a > 0 ? colour[k] : 0)) <= 1);
      }
      CHECK(partial > 0);  // the edge has translucent pixels, which straight alpha darkened
      // Left out for a format without alpha, the colour is upscaled as stored (black included).
      opt.keep_alpha = false;
      const Image flat = upscale_image(in, nullptr, opt);
      REQUIRE(flat.channels == channels - 1);
      Image stored = in;  // the same image without its alpha channel
      stored.channels = channels - 1;
      stored.pixels.clear();
      for (size_t i = 0; i < in.pixels.size(); i += size_t(channels))
        stored.pixels.insert(stored.pixels.end(), in.pixels.begin() + std::ptrdiff_t(i),
                             in.pixels.begin() + std::ptrdiff_t(i) + channels - 1);
      CHECK(flat.pixels == upscale_image(stored, nullptr, opt).pixels);
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
        const Image in = random_test_image(9, 13, channels, bits, seed, seed % 3 == 0);
        ++seed;
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
        const Image ref = finish_whole(want, translucent(in));
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
        CHECK(upscale_image(in, &model, topt).pixels == finish_whole(tta, translucent(in)).pixels);
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
