#include "model/upscale.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <string>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/log.h"
#include "image/color.h"
#include "image/imresize.h"
#include "model/inference.h"
#include "model/tiled.h"

namespace vdsr {

namespace {

Plane channel(const Image& img, int c) {
  Plane p(img.height, img.width);
  const double max = img.max_value();
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x) p.at(y, x) = img.at(y, x, c) / max;
  return p;
}

// Rounds half away from zero (values are non-negative after the clamp) and saturates.
uint16_t to_pixel(double v01, int max) {
  const double v = std::round(v01 * max);
  return static_cast<uint16_t>(v < 0 ? 0 : v > max ? max : v);
}

void put_channel(Image& img, int c, const Plane& p) {
  const int max = img.max_value();
  for (int y = 0; y < img.height; ++y)
    for (int x = 0; x < img.width; ++x)
      img.pixels[(size_t(y) * size_t(img.width) + size_t(x)) * size_t(img.channels) + size_t(c)] =
          to_pixel(p.at(y, x), max);
}

constexpr int kMinTile = 32;

// Bytes the activations of one piece may take: on the CPU a quarter of physical memory, at most
// 4 GiB; on a GPU half of its free memory.
int64_t activation_budget(const Vdsr& model) {
  if (model.device().is_cpu()) {
    const int64_t cap = int64_t(4) << 30;
    const uint64_t physical = memory_bytes(Device::cpu());
    if (physical == 0) return cap;  // unknown: the cap
    return std::min(cap, int64_t(physical / 4));
  }
  return int64_t(cuda_memory_info(model.device()).free_bytes / 2);
}

// -t 0: the whole image in one piece when its activations fit the budget, else auto_tile_size.
int auto_tile(const Vdsr& model, const Plane& up) {
  const VdsrConfig& cfg = model.config();
  const int64_t budget = activation_budget(model);
  if (up.size() * inference_bytes_per_pixel(cfg) <= budget) return 0;
  return auto_tile_size(cfg, budget);
}

// The network on the upscaled luma, tiled; a device out-of-memory error retries with half the
// tile (multiples of 8, down to kMinTile). Tiling never changes the result, so neither does a retry.
Plane run_luma(Vdsr& model, const Plane& up, const UpscaleOptions& opt) {
  int tile = opt.tile == 0 ? auto_tile(model, up) : opt.tile;
  // Progress: the layer-pixels of every forward against those of the whole pass (tiles with their
  // halos, times 8 with TTA).
  struct Observing {
    Vdsr& m;
    ~Observing() { m.set_forward_observer(nullptr); }
  } observing{model};
  for (;;) {
    if (opt.on_progress) {
      const double total = double(tiled_work_pixels(model.config(), up.height, up.width, tile)) *
                           model.config().depth * (opt.tta ? 8 : 1);
      auto done = std::make_shared<double>(0.0);
      model.set_forward_observer([done, total, &opt](int64_t layer_pixels) {
        *done += double(layer_pixels);
        opt.on_progress(std::min(1.0, *done / total));
      });
    }
    try {
      return opt.tta ? run_model_tta(model, up, tile) : run_model_tiled(model, up, tile);
    } catch (const OutOfMemory&) {
      const int side = std::max(up.height, up.width);
      const int current = tile <= 0 ? side : std::min(tile, side);
      if (model.device().is_cpu() || current <= kMinTile) throw;
      tile = std::max(kMinTile, current / 2 / 8 * 8);
      log_warning("out of memory on " + model.device().name() + " with tile " +
                  std::to_string(current) + "; retrying with tile " + std::to_string(tile));
    }
  }
}

Plane luma_up(const Plane& y, Vdsr* model, const UpscaleOptions& opt) {
  const Plane up = imresize(y, opt.scale);
  if (model == nullptr) return up;
  return run_luma(*model, up, opt);
}

}  // namespace

Image upscale_image(const Image& in, Vdsr* model, const UpscaleOptions& opt) {
  VDSR_CHECK(opt.scale >= 2 && opt.scale <= 4, "scale must be 2, 3 or 4, got " << opt.scale);
  VDSR_USER_CHECK(in.channels >= 1 && in.channels <= 4, "unsupported channel count " << in.channels);
  Image out;
  out.width = in.width * opt.scale;
  out.height = in.height * opt.scale;
  out.channels = in.channels;
  out.bits = in.bits;
  out.icc = in.icc;  // the same colours, and the same photo's EXIF (its orientation already applied)
  out.exif = in.exif;
  out.pixels.resize(size_t(out.width) * size_t(out.height) * size_t(out.channels));
  const bool grey = in.channels <= 2;
  const bool alpha = in.channels == 2 || in.channels == 4;

  if (grey) {
    put_channel(out, 0, luma_up(channel(in, 0), model, opt));
  } else {
    YCbCr ycc = rgb_to_ycbcr(in);
    ycc.y = luma_up(ycc.y, model, opt);
    ycc.cb = imresize(ycc.cb, opt.scale);
    ycc.cr = imresize(ycc.cr, opt.scale);
    const Image rgb = ycbcr_to_rgb(ycc, in.bits);
    for (size_t px = 0; px < size_t(out.width) * size_t(out.height); ++px)
      for (size_t c = 0; c < 3; ++c) out.pixels[px * size_t(out.channels) + c] = rgb.pixels[px * 3 + c];
  }
  if (alpha) put_channel(out, in.channels - 1, imresize(channel(in, in.channels - 1), opt.scale));
  return out;
}

}  // namespace vdsr
