// The host arithmetic of the mma.sync kernels (kernels/conv3x3_mma.cuh): how an image is cut into
// tiles and how much shared memory a CTA then needs. Compiled by nvcc in CUDA builds and run on
// any machine, GPU or not: the tiling is what decides, before any launch, whether a kernel fits a
// device, and a tile that misses a pixel or reads past its staged window would be wrong on every
// GPU.
#include <cstdint>
#include <vector>

#include <catch2/catch.hpp>

#include "kernels/conv3x3_mma.cuh"

namespace {

using namespace vdsr::mma;

constexpr size_t k99KB = 101376;  // the opt-in shared memory per CTA of compute 8.6 / 8.9

// Every pixel of an H x W image is the output of exactly one slot of one tile, and every slot's
// 3 x 3 window lies inside its tile's staged pixels.
void require_tiling(const Tiles& t) {
  INFO(t.H << " x " << t.W << " in " << t.TW << " x " << t.TH << " tiles");
  REQUIRE(t.TW >= 1);
  REQUIRE(t.TH >= 1);
  REQUIRE(t.TW * t.TH <= kSlots);
  REQUIRE(t.staged == (t.TH + 2) * (t.TW + 2));
  std::vector<int> seen(size_t(t.H) * size_t(t.W), 0);
  int64_t outside = 0, first_tile = 0;
  for (int tile = 0; tile < t.per_image; ++tile) {
    const TileOrigin o = tile_origin(t, tile);
    first_tile += o.n != 0;
    for (int slot = 0; slot < kSlots; ++slot) {
      outside += slot_window(t, slot) + 2 * t.halo_w + 2 >= t.staged;  // the window's last tap
      const int64_t p = slot_pixel(t, o, slot);
      if (p >= 0) ++seen[size_t(p)];
    }
  }
  CHECK(first_tile == 0);
  CHECK(outside == 0);
  int64_t not_once = 0;
  for (const int n : seen) not_once += n != 1;
  CHECK(not_once == 0);
  const TileOrigin next = tile_origin(t, t.per_image);  // the batch's next image starts afresh
  CHECK((next.n == 1 && next.y0 == 0 && next.x0 == 0));
}

}  // namespace

TEST_CASE("mma tiles: every pixel in exactly one tile, every window inside the staged tile") {
  for (int H = 1; H <= 80; ++H)
    for (int W = 1; W <= 140; ++W) {
      require_tiling(make_tiles(H, W));
      require_tiling(make_compact_tiles(H, W));
    }
  for (const auto& [H, W] : std::vector<std::pair<int, int>>{{1080, 1920}, {5000, 1}, {3000, 2}, {7, 1931}})
    require_tiling(make_compact_tiles(H, W));
}

TEST_CASE("mma tiles: on 99 KB per CTA every tf32 and bf16 kernel fits some tiling, at every shape") {
  // What the registry offers a compute 8.6 / 8.9 device (kernels/conv3x3_tf32.cu,
  // conv3x3_bf16_variants.cu): the usual tiles where they fit, else the compact ones.
  const auto fits = [](size_t rows, size_t compact) { return rows <= k99KB || compact <= k99KB; };
  int compact_needed = 0;
  for (int H = 1; H <= 300; ++H)
    for (int W = 1; W <= 700; ++W) {
      const Tiles r = make_tiles(H, W), c = make_compact_tiles(H, W);
      INFO(H << " x " << W);
      REQUIRE(c.staged <= kCompactStaged);
      REQUIRE(fits(conv_smem_bytes<Tf32Math, 16>(r), conv_smem_bytes<Tf32Math, 16>(c)));
      REQUIRE(fits(wgrad_smem_bytes<Tf32Math>(r), wgrad_smem_bytes<Tf32Math>(c)));
      REQUIRE(conv_smem_bytes<Bf16Math, 32>(r) <= k99KB);  // bf16's slices of 32 need no compact tiles
      REQUIRE(wgrad_smem_bytes<Bf16Math>(r) <= k99KB);
      compact_needed += conv_smem_bytes<Tf32Math, 16>(r) > k99KB || wgrad_smem_bytes<Tf32Math>(r) > k99KB;
    }
  // The holes the compact tiles close (docs/kernels.md): rows 55 to 64 wide, narrow columns.
  CHECK(conv_smem_bytes<Tf32Math, 16>(make_tiles(2, 60)) > k99KB);
  CHECK(wgrad_smem_bytes<Tf32Math>(make_tiles(2, 55)) > k99KB);
  CHECK(conv_smem_bytes<Tf32Math, 16>(make_tiles(77, 1)) > k99KB);
  CHECK(compact_needed > 0);
  // The training shape as documented: mma.sync's 64 channels need 105,712 bytes, its slices of 32
  // 68,336; tf32's weight gradient 98,784.
  const Tiles train = make_tiles(41, 41);
  CHECK(conv_smem_bytes<Bf16Math, 64>(train) == 105712);
  CHECK(conv_smem_bytes<Bf16Math, 32>(train) == 68336);
  CHECK(wgrad_smem_bytes<Tf32Math>(train) == 98784);
}
