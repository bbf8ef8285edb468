// The upscaler's bicubic stages (model/upscale.h): finish_upscale, which converts row by row, is
// the whole-plane composition of the image functions (imresize the chroma and alpha, ycbcr2rgb,
// round and saturate), sample for sample, for every channel layout, bit depth and scale; and
// prepare_upscale's luma is imresize of rgb2ycbcr's Y.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include "engine/error.h"
#include "image/color.h"
#include "image/imresize.h"
#include "image/quantize.h"
#include "model/upscale.h"
#include "tests/support/test_support.h"

using namespace vdsr;

namespace {

// finish_upscale as whole planes: every full-size plane made, then converted.
Image finish_whole(const UpscaleWork& w) {
  Image out;
  out.width = w.info.width * w.scale;
  out.height = w.info.height * w.scale;
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

}  // namespace

TEST_CASE("finish_upscale, row by row, is the whole-plane bicubic composition sample for sample") {
  uint32_t seed = 1;
  for (const int channels : {1, 2, 3, 4})
    for (const int bits : {8, 16})
      for (const int scale : {2, 3, 4})
        for (const auto& [h, w] : std::vector<std::pair<int, int>>{{1, 1}, {5, 7}, {16, 3}, {23, 31}}) {
          const Image in = test::random_image(h, w, channels, bits, seed++);
          const UpscaleWork work = prepare_upscale(in, scale);
          INFO(channels << " channels, " << bits << " bits, x" << scale << ", " << h << "x" << w);
          const Image got = finish_upscale(work);
          const Image want = finish_whole(work);
          REQUIRE(got.width == want.width);
          REQUIRE(got.height == want.height);
          REQUIRE(got.channels == channels);
          REQUIRE(got.bits == bits);
          CHECK(got.pixels == want.pixels);
          // The luma the network reads: imresize of the Y (the grey value itself for grey).
          const Plane y = channels <= 2 ? [&] {
            Plane p(h, w);
            for (size_t i = 0; i < p.v.size(); ++i) p.v[i] = in.pixels[i * size_t(channels)] / double(in.max_value());
            return p;
          }()
                                        : rgb_to_ycbcr(in).y;
          CHECK(work.luma.v == imresize(y, scale).v);
        }
}

TEST_CASE("finish_upscale refuses a luma of the wrong size") {
  UpscaleWork w = prepare_upscale(test::random_image(4, 4, 3, 8, 9), 2);
  w.luma = Plane(7, 8);
  CHECK_THROWS_AS(finish_upscale(w), Error);
}
