// Tiled inference (model/tiled.h) must equal whole-image inference bit for bit: on random planes of
// awkward sizes, for tile sizes that divide neither the image nor any vector width, directly and
// through upscale_image (RGB and grey, with and without TTA). A halo one pixel short must differ,
// which shows the comparison can fail. run_model_region: one region, the same pixels.
// auto_tile_size: a multiple of 8, >= 32, monotone in the budget.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "image/image_io.h"
#include "image/metrics.h"
#include "model/inference.h"
#include "model/tiled.h"
#include "model/upscale.h"
#include "model/vdsr.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using namespace vdsr;

namespace {

Plane random_plane(int h, int w, uint32_t seed) {
  Plane p(h, w);
  p.v = test::to_double(test::random_floats(size_t(h) * size_t(w), 0.f, 1.f, seed));
  return p;
}

Image random_image(int h, int w, int channels, uint32_t seed) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = channels;
  img.bits = 8;
  const auto v = test::random_ints(size_t(h) * size_t(w) * size_t(channels), 0, 255, seed);
  img.pixels.assign(v.begin(), v.end());
  return img;
}

// The piece [y0, y0+th) x [x0, x0+tw) computed from its input region widened by `halo` (clipped to
// the image, and started at a row and column that are multiples of 4 as model/tiled.cpp does for the
// CPU's Winograd layers), by hand: the test's own oracle of what run_model_tiled does for one piece.
Plane piece_with_halo(Vdsr& model, const Plane& in, int y0, int x0, int th, int tw, int halo) {
  const int ry0 = std::max(0, y0 - halo) / 4 * 4, rx0 = std::max(0, x0 - halo) / 4 * 4;
  const int ry1 = std::min(in.height, y0 + th + halo), rx1 = std::min(in.width, x0 + tw + halo);
  Plane region(ry1 - ry0, rx1 - rx0);
  for (int y = 0; y < region.height; ++y)
    for (int x = 0; x < region.width; ++x) region.at(y, x) = in.at(ry0 + y, rx0 + x);
  const Plane out = run_model(model, region);
  Plane piece(th, tw);
  for (int y = 0; y < th; ++y)
    for (int x = 0; x < tw; ++x) piece.at(y, x) = out.at(y0 - ry0 + y, x0 - rx0 + x);
  return piece;
}

void check_tiled_equals_whole(const VdsrConfig& cfg, uint64_t seed, const std::vector<int>& tiles,
                              const std::vector<std::pair<int, int>>& sizes) {
  Vdsr model(cfg);
  model.init_he(seed);
  uint32_t plane_seed = 100;
  for (const auto& hw : sizes) {
    const Plane in = random_plane(hw.first, hw.second, plane_seed++);
    const Plane whole = run_model(model, in);
    for (int tile : tiles) {
      INFO("depth " << cfg.depth << ", " << hw.first << "x" << hw.second << ", tile " << tile);
      const Plane tiled = run_model_tiled(model, in, tile);
      REQUIRE(tiled.height == whole.height);
      REQUIRE(tiled.width == whole.width);
      REQUIRE(tiled.v == whole.v);  // bit for bit
    }
  }
}

}  // namespace

TEST_CASE("tile halo is the network depth, and on the CPU three per F(4x4) Winograd layer") {
  // On a GPU (and for the CPU's direct and F(2x2) layers) each 3x3 layer reaches one pixel; the
  // CPU's F(4x4) layers (32 or more channels each side, VDSR_CPU_CONV=auto) reach three.
  REQUIRE(tile_halo(VdsrConfig{}, Device::cuda(0)) == 20);
  REQUIRE(tile_halo(VdsrConfig{}, Device::cpu()) == 1 + 18 * 3 + 1);
  REQUIRE(tile_halo(VdsrConfig{6, 8, true}, Device::cpu()) == 6);
  REQUIRE(tile_halo(VdsrConfig{4, 32, true}, Device::cpu()) == 8);
  for (const char* method : {"winograd2", "direct"}) {
    test::CpuConvScope scope(method);
    INFO(method);
    REQUIRE(tile_halo(VdsrConfig{}, Device::cpu()) == 20);
  }
}

TEST_CASE("tiled inference equals whole-image inference bit for bit (depth 6, halo 6)") {
  check_tiled_equals_whole(VdsrConfig{6, 8, true}, 11, {1, 5, 7, 13, 17, 31, 33, 53, 54, 1000},
                           {{37, 53}, {61, 29}, {1, 40}, {100, 7}});
}

TEST_CASE("tiled inference equals whole-image inference bit for bit (depth 20, halo 20)") {
  // Tile 1 on the large planes costs ~40x40 regions per pixel; keep it for the thin ones.
  check_tiled_equals_whole(VdsrConfig{20, 4, true}, 12, {5, 7, 13, 17, 31, 33, 200},
                           {{37, 53}, {61, 29}, {1, 40}, {100, 7}});
  check_tiled_equals_whole(VdsrConfig{20, 4, true}, 12, {1, 3}, {{1, 40}, {100, 7}, {9, 11}});
}

TEST_CASE("tiled inference equals whole-image inference bit for bit with the CPU's Winograd layers") {
  // 32 channels: the middle layers run Winograd, F(4x4) (halo 1 + 3 + 3 + 1) or F(2x2) (halo 4),
  // whose outputs depend on their place in their tile (regions start at multiples of 4).
  for (const char* method : {"auto", "winograd2"}) {
    test::CpuConvScope scope(method);
    INFO(method);
    check_tiled_equals_whole(VdsrConfig{4, 32, true}, 17, {5, 7, 13, 18}, {{37, 29}, {23, 10}});
  }
}

TEST_CASE("tiled inference without biases equals whole-image inference") {
  check_tiled_equals_whole(VdsrConfig{5, 12, false}, 13, {3, 9, 17}, {{29, 43}});
}

TEST_CASE("tile_halo gives the whole image's bits, and a shorter halo does not") {
  // The direct method's layers (8 channels): the halo is the depth, and one pixel less changes the
  // output. The CPU's F(4x4) Winograd layers (32 channels: the two middle layers), whose outputs
  // round terms from up to 3 pixels away (kernels/conv_fwd.h): tile_halo's 1 + 3 + 3 + 1, where the
  // depth (the GPU's halo) plus one is not enough (3 per layer is a bound: this piece needs 6).
  struct Piece { int y0, x0, th, tw; };
  struct Case {
    VdsrConfig cfg;
    int short_halo;
    std::vector<Piece> pieces;  // interior (the halo not clipped on any side), on the top border
  };
  for (const Case& c : {Case{VdsrConfig{6, 8, true}, 5, {{13, 17, 7, 11}, {0, 20, 5, 9}}},
                        Case{VdsrConfig{4, 32, true}, 5, {{13, 17, 7, 11}}}}) {
    Vdsr model(c.cfg);
    model.init_he(14);
    const Plane in = random_plane(37, 53, 7);
    const Plane whole = run_model(model, in);
    const int halo = tile_halo(c.cfg, Device::cpu());
    for (const Piece& p : c.pieces) {
      INFO(c.cfg.describe() << ", halo " << halo << ", piece at " << p.y0 << "," << p.x0);
      const Plane expect = crop(whole, p.y0, p.x0, p.th, p.tw);
      // The hand-made oracle with the right halo agrees with the whole image ...
      REQUIRE(piece_with_halo(model, in, p.y0, p.x0, p.th, p.tw, halo).v == expect.v);
      // ... and with a shorter one it does not: the comparison above can fail.
      REQUIRE(piece_with_halo(model, in, p.y0, p.x0, p.th, p.tw, c.short_halo).v != expect.v);
    }
  }
}

TEST_CASE("run_model_region equals the whole-image output on its region, inside and on the borders") {
  const VdsrConfig cfg{6, 8, true};
  Vdsr model(cfg);
  model.init_he(15);
  const Plane in = random_plane(37, 53, 8);
  const Plane whole = run_model(model, in);
  struct Piece { int y0, x0, h, w; };
  for (const Piece& p : {Piece{13, 17, 7, 11}, Piece{0, 0, 5, 9}, Piece{30, 40, 7, 13}, Piece{0, 0, 37, 53},
                         Piece{36, 1, 1, 50}}) {
    INFO("piece " << p.h << "x" << p.w << " at " << p.y0 << "," << p.x0);
    const Plane region = run_model_region(model, in, p.y0, p.x0, p.h, p.w);
    REQUIRE(region.height == p.h);
    REQUIRE(region.width == p.w);
    REQUIRE(region.v == crop(whole, p.y0, p.x0, p.h, p.w).v);  // bit for bit
  }
  REQUIRE(test::error_of([&] { run_model_region(model, in, 30, 40, 8, 13); }).find("not inside") != std::string::npos);
}

TEST_CASE("upscale_image with small tiles equals the whole image (RGB and grey, x2 and x3)") {
  Vdsr model(VdsrConfig{6, 8, true});
  model.init_he(15);
  const Image rgb = random_image(13, 11, 3, 21), grey = random_image(9, 14, 1, 22);
  const Image rgba = random_image(7, 10, 4, 23);
  for (const Image* img : {&rgb, &grey, &rgba}) {
    for (int scale : {2, 3}) {
      UpscaleOptions whole;
      whole.scale = scale;
      whole.tile = 0;  // auto: these images fit in one piece
      const Image ref = upscale_image(*img, &model, whole);
      UpscaleOptions huge = whole;
      huge.tile = 4096;
      REQUIRE(upscale_image(*img, &model, huge).pixels == ref.pixels);
      for (int tile : {1, 5, 7, 13}) {
        INFO(img->channels << " channels, scale " << scale << ", tile " << tile);
        UpscaleOptions tiled = whole;
        tiled.tile = tile;
        const Image out = upscale_image(*img, &model, tiled);
        REQUIRE(out.width == ref.width);
        REQUIRE(out.height == ref.height);
        REQUIRE(out.channels == ref.channels);
        REQUIRE(out.pixels == ref.pixels);
      }
    }
  }
}

TEST_CASE("TTA with tiles equals TTA on the whole image") {
  Vdsr model(VdsrConfig{6, 8, true});
  model.init_he(16);
  const Plane in = random_plane(23, 31, 9);
  const Plane whole = run_model_tta(model, in);
  for (int tile : {5, 7, 13}) {
    INFO("tile " << tile);
    REQUIRE(run_model_tta(model, in, tile).v == whole.v);
  }
  const Image rgb = random_image(8, 11, 3, 24);
  UpscaleOptions opt;
  opt.scale = 3;
  opt.tta = true;
  const Image ref = upscale_image(rgb, &model, opt);
  opt.tile = 7;
  REQUIRE(upscale_image(rgb, &model, opt).pixels == ref.pixels);
}

TEST_CASE("auto_tile_size is a multiple of 8, at least 32, fits the budget and grows with it") {
  for (const VdsrConfig& cfg : {VdsrConfig{}, VdsrConfig{6, 8, true}, VdsrConfig{20, 4, false}}) {
    const int halo = tile_halo(cfg, Device::cpu());
    const int64_t per_pixel = 2 * int64_t(cfg.channels) * 4 + 2 * 4;
    int prev = 0;
    for (int64_t budget = 0; budget <= (int64_t(64) << 30); budget = budget * 3 / 2 + 1000) {
      const int t = auto_tile_size(cfg, Device::cpu(), budget);
      INFO(cfg.describe() << ", budget " << budget << ", tile " << t);
      REQUIRE(t >= 32);
      REQUIRE(t % 8 == 0);
      REQUIRE(t >= prev);
      const int64_t side = int64_t(t) + 2 * halo, bigger = side + 8;
      if (t > 32) REQUIRE(side * side * per_pixel <= budget);  // fits ...
      REQUIRE(bigger * bigger * per_pixel > budget);            // ... and is the largest that does
      prev = t;
    }
  }
  // 1 GiB for the default model: on a GPU (halo 20) (t + 40)^2 * 520 bytes <= 2^30 gives t = 1392
  // (1432^2 * 520 = 1,066,324,480); on the CPU (halo 56) (t + 112)^2 * 520 gives 1320.
  REQUIRE(auto_tile_size(VdsrConfig{}, Device::cuda(0), int64_t(1) << 30) == 1392);
  REQUIRE(auto_tile_size(VdsrConfig{}, Device::cpu(), int64_t(1) << 30) == 1320);
}

TEST_CASE("on a GPU every region stays within what its convolutions take in one image (2^31 elements)") {
  // The CUDA convolutions index an image's H x W x 64 elements in 32 bits; an H200's memory alone
  // would allow regions four times that (half of ~140 GB at 520 bytes a pixel), and a 4032 x 3024
  // photo at x2 (48.8 M pixels) went to them whole and failed.
  const VdsrConfig cfg;
  const Device gpu = Device::cuda(0), cpu = Device::cpu();
  const int64_t most = (int64_t(1) << 31) / 64 - 1;
  REQUIRE(max_region_pixels(cfg, gpu) == most);
  REQUIRE(max_region_pixels(VdsrConfig{20, 32, true}, gpu) == (int64_t(1) << 31) / 32 - 1);
  REQUIRE(max_region_pixels(cfg, cpu) == INT64_MAX);
  const int halo = tile_halo(cfg, gpu);
  const auto region = [&](int64_t t) { return (t + 2 * halo + 3) * (t + 2 * halo + 3); };
  for (int64_t budget = int64_t(1) << 30; budget <= (int64_t(256) << 30); budget *= 2) {
    const int t = auto_tile_size(cfg, gpu, budget);
    INFO("budget " << budget << ", tile " << t);
    REQUIRE(region(t) <= most);
  }
  const int64_t h200 = int64_t(70) << 30;  // half of an idle H200's free memory
  REQUIRE(auto_tile_size(cfg, gpu, h200) == 5744);  // (5744 + 43)^2 <= 33,554,431 < (5752 + 43)^2
  REQUIRE(auto_tile(cfg, gpu, 6048, 8064, h200) == 5744);
  REQUIRE(auto_tile(cfg, gpu, 1080, 1920, h200) == 0);  // a frame goes whole
  REQUIRE(auto_tile(cfg, gpu, 5793, 5793, h200) == 5744);  // 33,558,849 pixels: tiled
  REQUIRE(auto_tile(cfg, gpu, 5792, 5793, h200) == 0);     // 33,553,056: whole
  REQUIRE(auto_tile(cfg, cpu, 6048, 8064, int64_t(4) << 30) > 0);  // the CPU's budget tiles it anyway
  // A user's -t is taken as at most this (the same output: tiling never changes it).
  REQUIRE(max_user_tile(cfg, gpu) == 5749);
  REQUIRE(region(5749) <= most);
  REQUIRE(region(5750) > most);
  REQUIRE(max_user_tile(cfg, cpu) == INT32_MAX);
}

TEST_CASE("upscale progress rises to exactly 1 over the network's work, tiled, untiled and with TTA") {
  Vdsr model(VdsrConfig{5, 4, true});
  model.init_he(3);
  const Image img = test::test_image(23, 17, 3, 5);
  for (const int tile : {0, 16})
    for (const bool tta : {false, true}) {
      INFO("tile " << tile << ", tta " << tta);
      UpscaleOptions o;
      o.scale = 2;
      o.tile = tile;
      o.tta = tta;
      std::vector<double> seen;
      o.on_progress = [&](double f) { seen.push_back(f); };
      const Image with = upscale_image(img, &model, o);
      REQUIRE(!seen.empty());
      CHECK(std::is_sorted(seen.begin(), seen.end()));
      CHECK(seen.back() == 1.0);
      CHECK(seen.front() > 0.0);
      // Layer by layer on the CPU: depth reports per forward.
      const size_t forwards = (tta ? 8 : 1) * (tile == 0 ? 1 : size_t((46 + 15) / 16) * size_t((34 + 15) / 16));
      CHECK(seen.size() == forwards * 5);
      o.on_progress = nullptr;
      CHECK(upscale_image(img, &model, o).pixels == with.pixels);  // observing changes nothing
    }
}
