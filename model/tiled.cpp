// Tiled inference (model/tiled.h). Output tile [y0, y0 + th) x [x0, x0 + tw) is computed from the
// input region [y0 - halo, y0 + th + halo) x [x0 - halo, x0 + tw + halo) clipped to the image; a
// pixel at distance d from the region's edge has the same bits as in the whole image while
// d >= the halo (each layer widens the inputs an output's bits depend on by its reach: R / 2, or 3
// for the CPU's F(4x4) Winograd layers; tile_halo), and at the image border the region edge is the
// image edge, where the network pads (zeros, or SRCNN's replicated edge) exactly as in whole-image
// inference. Regions start at multiples of 4, which the CPU's Winograd layers need to give the whole
// image's bits (make_tile).
#include "model/tiled.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "kernels/ops.h"
#include "model/inference.h"

namespace vdsr {

namespace {

struct Tile {
  int y0, x0, th, tw;  // output piece
  int ry0, rx0, rh, rw;  // input region: the piece plus the halo, clipped to the image
  int64_t region_pixels() const { return int64_t(rh) * rw; }
};

// Runs regions through Vdsr::forward_host with float staging blocks grown to the largest region
// seen (the model keeps its device planes), so a run of tiles allocates only when a region grows.
class RegionRunner {
 public:
  explicit RegionRunner(Vdsr& model) : model_(model) {}

  // Runs `t`'s input region of `in` and writes the piece's interior into `out`, whose pixel (0, 0)
  // is the image's (origin_y, origin_x).
  void run(const NetPlane& in, const Tile& t, NetPlane& out, int origin_y = 0, int origin_x = 0) {
    const size_t n = size_t(t.region_pixels());
    if (x_.capacity() < n * sizeof(float)) {
      x_ = PinnedBlock();  // back to the pool before the larger ones are taken
      x_ = PinnedBlock(n * sizeof(float), model_.device());
    }
    float* x = static_cast<float*>(x_.data());  // [rh][rw], in and then out
    for (int y = 0; y < t.rh; ++y)
      std::memcpy(x + size_t(y) * size_t(t.rw), in.row(t.ry0 + y) + t.rx0, size_t(t.rw) * sizeof(float));
    model_.forward_host(1, t.rh, t.rw, x, x);
    const int oy = t.y0 - t.ry0, ox = t.x0 - t.rx0;  // the piece inside the region
    for (int y = 0; y < t.th; ++y)
      std::memcpy(out.row(t.y0 - origin_y + y) + (t.x0 - origin_x), x + size_t(oy + y) * size_t(t.rw) + size_t(ox),
                  size_t(t.tw) * sizeof(float));
  }

 private:
  Vdsr& model_;
  PinnedBlock x_;  // the region's input, then its output
};

// The output piece [y0, y0 + th) x [x0, x0 + tw) of an H x W plane with its haloed input region.
Tile make_tile(int H, int W, int y0, int x0, int th, int tw, int halo) {
  Tile t{};
  t.y0 = y0;
  t.x0 = x0;
  t.th = th;
  t.tw = tw;
  // Regions start at rows and columns that are multiples of 4: the CPU's Winograd forward computes
  // each 4 x 4 (or 2 x 2) block of outputs together, at multiples of 4 (or 2) of the plane it is
  // given (kernels/conv_fwd.h), so such an origin puts every pixel in the same place of its block as
  // in the whole image (three more rows or columns of halo at most).
  t.ry0 = std::max(0, y0 - halo) & ~3;
  t.rx0 = std::max(0, x0 - halo) & ~3;
  t.rh = std::min(H, y0 + th + halo) - t.ry0;
  t.rw = std::min(W, x0 + tw + halo) - t.rx0;
  return t;
}

// The pieces of a tile x tile pass (tile > 0 and smaller than the plane).
std::vector<Tile> make_tiles(int H, int W, int tile, int halo) {
  std::vector<Tile> tiles;
  for (int y0 = 0; y0 < H; y0 += tile)
    for (int x0 = 0; x0 < W; x0 += tile)
      tiles.push_back(make_tile(H, W, y0, x0, std::min(tile, H - y0), std::min(tile, W - x0), halo));
  return tiles;
}

}  // namespace

int tile_halo(const VdsrConfig& cfg, Device d) {
  int halo = 0;
  for (const LayerDesc& l : layer_table(cfg)) halo += ops::conv_fwd_reach(d, l.shape(1, 1, 1));
  return halo;
}

int64_t tiled_work_pixels(const VdsrConfig& cfg, Device d, int H, int W, int tile) {
  if (tile <= 0 || (tile >= H && tile >= W)) return int64_t(H) * W;
  int64_t sum = 0;
  for (const Tile& t : make_tiles(H, W, tile, tile_halo(cfg, d))) sum += t.region_pixels();
  return sum;
}

Plane run_model_tiled(Vdsr& model, const Plane& input01, int tile) {
  return to_plane(run_model_tiled(model, to_net_plane(input01, model.device()), tile));
}

NetPlane run_model_tiled(Vdsr& model, const NetPlane& input, int tile) {
  const int H = input.height(), W = input.width();
  VDSR_CHECK(H >= 1 && W >= 1, "empty input plane " << H << "x" << W);
  if (tile <= 0 || (tile >= H && tile >= W)) return run_model(model, input);
  std::vector<Tile> tiles = make_tiles(H, W, tile, tile_halo(model.config(), model.device()));
  // Largest region first, so the model's activation arena and the staging buffers are allocated
  // once, at their final size (pieces are independent: the order does not change the output).
  std::stable_sort(tiles.begin(), tiles.end(), [](const Tile& a, const Tile& b) {
    return a.region_pixels() > b.region_pixels();
  });

  NetPlane out(H, W, model.device());
  RegionRunner runner(model);
  for (const Tile& t : tiles) runner.run(input, t, out);
  return out;
}

Plane run_model_region(Vdsr& model, const Plane& input01, int y0, int x0, int h, int w) {
  const int H = input01.height, W = input01.width;
  VDSR_CHECK(h >= 1 && w >= 1 && y0 >= 0 && x0 >= 0 && y0 + h <= H && x0 + w <= W,
             "region " << w << "x" << h << " at (" << x0 << ", " << y0 << ") is not inside the " << W << "x" << H
                       << " plane");
  // The region and its halo alone become floats: the rest of the plane is not read.
  const Tile t = make_tile(H, W, y0, x0, h, w, tile_halo(model.config(), model.device()));
  NetPlane region(t.rh, t.rw, model.device()), out(h, w, model.device());
  for (int y = 0; y < t.rh; ++y)
    for (int x = 0; x < t.rw; ++x) region.row(y)[x] = static_cast<float>(input01.at(t.ry0 + y, t.rx0 + x));
  RegionRunner(model).run(region, make_tile(t.rh, t.rw, y0 - t.ry0, x0 - t.rx0, h, w, tile_halo(model.config(), model.device())),
                          out, y0 - t.ry0, x0 - t.rx0);
  return to_plane(out);
}

int64_t inference_bytes_per_pixel(const VdsrConfig& cfg) { return 2 * int64_t(cfg.widest()) * 4 + 2 * 4; }

int64_t max_region_pixels(const VdsrConfig& cfg, Device d) { return ops::conv_max_image_pixels(d, cfg.widest()); }

namespace {

// A tile's haloed region at its largest: the halo on both sides and up to three rows and columns
// of alignment (make_tile).
int64_t region_side(int64_t tile, int halo) { return tile + 2 * int64_t(halo) + 3; }

}  // namespace

int auto_tile_size(const VdsrConfig& cfg, Device d, int64_t budget_bytes) {
  constexpr int kMin = 32, kStep = 8, kMax = 1 << 16;
  const int halo = tile_halo(cfg, d);
  const int64_t per_pixel = inference_bytes_per_pixel(cfg), most = max_region_pixels(cfg, d);
  auto fits = [&](int t) {
    const int64_t side = int64_t(t) + 2 * halo, region = region_side(t, halo);
    return side * side * per_pixel <= budget_bytes && region * region <= most;
  };
  if (budget_bytes <= 0 || !fits(kMin)) return kMin;
  // Start near the answer from the square root, then settle it exactly in integers.
  const double side = std::sqrt(static_cast<double>(budget_bytes) / static_cast<double>(per_pixel));
  int t = static_cast<int>(std::min<double>(kMax, std::max<double>(kMin, side - 2 * halo)));
  t = t / kStep * kStep;
  while (t > kMin && !fits(t)) t -= kStep;
  while (t + kStep <= kMax && fits(t + kStep)) t += kStep;
  return t;
}

int auto_tile(const VdsrConfig& cfg, Device d, int H, int W, int64_t budget_bytes) {
  const int64_t pixels = int64_t(H) * W;
  if (pixels * inference_bytes_per_pixel(cfg) <= budget_bytes && pixels <= max_region_pixels(cfg, d)) return 0;
  return auto_tile_size(cfg, d, budget_bytes);
}

int64_t activation_budget(const Vdsr& model) {
  if (model.device().is_cpu()) {
    const int64_t cap = int64_t(4) << 30;
    const uint64_t physical = memory_bytes(Device::cpu());
    if (physical == 0) return cap;  // unknown: the cap
    return std::min(cap, int64_t(physical / 4));
  }
  return int64_t(cuda_memory_info(model.device()).free_bytes / 2);
}

int auto_tile(const Vdsr& model, int H, int W) {
  return auto_tile(model.config(), model.device(), H, W, activation_budget(model));
}

int max_user_tile(const VdsrConfig& cfg, Device d) {
  const int64_t most = max_region_pixels(cfg, d);
  const int halo = tile_halo(cfg, d);
  const double side = std::floor(std::sqrt(static_cast<double>(most)));
  if (side >= double(INT32_MAX)) return INT32_MAX;
  int64_t t = int64_t(side) - (region_side(0, halo));
  while (t > 0 && region_side(t, halo) * region_side(t, halo) > most) --t;  // the square root's rounding
  while (region_side(t + 1, halo) * region_side(t + 1, halo) <= most) ++t;
  return int(std::max<int64_t>(t, 0));
}

}  // namespace vdsr
