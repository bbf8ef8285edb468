#include "model/upscale.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/heap.h"
#include "engine/log.h"
#include "image/color.h"
#include "image/imresize.h"
#include "image/quantize.h"
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

// Rounds half away from zero and saturates (NaN to 0).
uint16_t to_pixel(double v01, int max) { return static_cast<uint16_t>(round_saturate(v01 * max, max)); }

// Row y of channel c from `row` (the image's width of values in [0, 1]).
void put_row(Image& img, int c, int y, const double* row) {
  const int max = img.max_value();
  uint16_t* o = &img.pixels[size_t(y) * size_t(img.width) * size_t(img.channels) + size_t(c)];
  for (int x = 0; x < img.width; ++x) o[size_t(x) * size_t(img.channels)] = to_pixel(row[x], max);
}

// Premultiplied colour back to straight, in place: each value over its pixel's upscaled alpha, or
// `none` where that alpha rounds to 0 at the output's depth (`half_step`: half a level), whose
// colour holds nothing. Over the alpha itself where bicubic overshoots 1 too: the YCbCr offsets
// were multiplied with the rest, and only the same alpha gives them back (a uniform colour stays
// itself).
void unpremultiply(double* v, const double* alpha, size_t n, double none, double half_step) {
  for (size_t i = 0; i < n; ++i) v[i] = alpha[i] >= half_step ? v[i] / alpha[i] : none;
}

constexpr int kMinTile = 32;

// The network on the upscaled luma w.net, tiled, its output into w.net (w.luma with TTA); a device
// out-of-memory error retries with half the tile (multiples of 8, down to kMinTile). Tiling never
// changes the result, so neither does a retry.
void run_luma(Vdsr& model, UpscaleWork& w, const UpscaleOptions& opt) {
  const NetPlane& up = w.net;
  // A -t above what the device's convolutions take in one piece is taken as the largest they do
  // (the same result: tiling never changes it).
  int tile = opt.tile == 0 ? auto_tile(model, up.height(), up.width())
                           : std::min(opt.tile, max_user_tile(model.config(), model.device()));
  // Progress: the layer-pixels of every forward against those of the whole pass (tiles with their
  // halos, times 8 with TTA).
  struct Observing {
    Vdsr& m;
    ~Observing() { m.set_forward_observer(nullptr); }
  } observing{model};
  for (;;) {
    if (opt.on_progress) {
      const double total = double(tiled_work_pixels(model.config(), model.device(), up.height(), up.width(), tile)) *
                           model.config().depth * (opt.tta ? 8 : 1);
      auto done = std::make_shared<double>(0.0);
      model.set_forward_observer([done, total, &opt](int64_t layer_pixels) {
        *done += double(layer_pixels);
        opt.on_progress(std::min(1.0, *done / total));
      });
    }
    try {
      if (opt.tta) {
        w.luma = run_model_tta(model, up, tile);
        w.net = NetPlane();
      } else {
        w.net = run_model_tiled(model, up, tile);
      }
      return;
    } catch (const OutOfMemory&) {
      const int side = std::max(up.height(), up.width());
      const int current = tile <= 0 ? side : std::min(tile, side);
      if (model.device().is_cpu() || current <= kMinTile) throw;
      tile = std::max(kMinTile, current / 2 / 8 * 8);
      log_warning("out of memory on " + model.device().name() + " with tile " +
                  std::to_string(current) + "; retrying with tile " + std::to_string(tile));
    }
  }
}

}  // namespace

double network_scale(double scale) {
  if (scale == 2 || scale == 3 || scale == 4) return scale;
  return scale < 2 ? 2.0 : 3.0;
}

double fit_scale(int in_width, int in_height, int width, int height) {
  VDSR_CHECK(in_width > 0 && in_height > 0 && width >= 0 && height >= 0 && (width > 0 || height > 0),
             "fit_scale: image " << in_width << "x" << in_height << ", target " << width << "x" << height);
  const double by_width = width > 0 ? double(width) / in_width : 0;
  const double by_height = height > 0 ? double(height) / in_height : 0;
  if (by_width == 0) return by_height;
  if (by_height == 0) return by_width;
  return std::min(by_width, by_height);
}

UpscaleWork prepare_upscale(const Image& in, double scale, const Vdsr* model, bool keep_alpha) {
  VDSR_CHECK(scale > 1 && scale <= kMaxUpscale, "scale must be in (1, " << kMaxUpscale << "], got " << scale);
  keep_working_memory();  // the planes below, for every image: from the heap, not fresh pages
  VDSR_USER_CHECK(in.channels >= 1 && in.channels <= 4, "unsupported channel count " << in.channels);
  const bool alpha = in.has_alpha();
  UpscaleWork w;
  w.info.width = in.width;
  w.info.height = in.height;
  w.info.channels = alpha && !keep_alpha ? in.channels - 1 : in.channels;
  w.info.bits = in.bits;
  w.info.icc = in.icc;  // the same colours, and the same photo's EXIF (its orientation already applied)
  w.info.exif = in.exif;
  w.info.png_colour = in.png_colour;
  w.scale = scale;
  w.out_width = imresize_length(scale, in.width);
  w.out_height = imresize_length(scale, in.height);
  w.net_scale = model == nullptr ? scale : network_scale(scale);
  Plane y;
  if (in.channels <= 2) {
    y = channel(in, 0);
  } else {
    YCbCr ycc = rgb_to_ycbcr(in);
    y = std::move(ycc.y);
    w.cb = std::move(ycc.cb);
    w.cr = std::move(ycc.cr);
  }
  if (alpha && keep_alpha) {
    w.alpha = channel(in, in.channels - 1);
    // Where some pixel is not opaque, the colour is upscaled premultiplied: the colour hidden under
    // a transparent pixel (often black) would otherwise bleed into its visible neighbours as a dark
    // fringe. YCbCr is RGB's affine image, so multiplying it is multiplying the RGB.
    w.premultiplied =
        std::any_of(w.alpha.v.begin(), w.alpha.v.end(), [](double a) { return a < 1; });
    if (w.premultiplied)
      for (Plane* p : {&y, &w.cb, &w.cr})
        for (size_t i = 0; i < p->v.size(); ++i) p->v[i] *= w.alpha.v[i];
  }
  if (model == nullptr) {
    w.luma = imresize(y, scale);
  } else {  // row by row into the staging plane: no double plane at the output's size
    const int H = imresize_length(w.net_scale, in.height), W = imresize_length(w.net_scale, in.width);
    w.net = NetPlane(H, W, model->device());
    ImresizeRows rows(y, H, W, w.net_scale, w.net_scale);
    std::vector<double> row(static_cast<size_t>(W));
    for (int r = 0; r < H; ++r) {
      rows.row(r, row.data());
      float* o = w.net.row(r);
      for (int x = 0; x < W; ++x) o[x] = static_cast<float>(row[size_t(x)]);
    }
  }
  return w;
}

void run_network(UpscaleWork& w, Vdsr* model, const UpscaleOptions& opt) {
  if (model == nullptr) return;
  if (w.net.empty()) {  // prepared for bicubic alone: the network's floats now
    VDSR_CHECK(w.net_scale == network_scale(w.scale),
               "run_network: a work prepared for bicubic alone at x" << w.scale << " holds no luma at the network's x"
                                                                    << network_scale(w.scale) << "; prepare it with the model");
    w.net = to_net_plane(w.luma, model->device());
    w.luma = Plane();
  }
  run_luma(*model, w, opt);
}

int64_t nonfinite_luma(const UpscaleWork& w) {
  if (!w.net.empty())
    return std::count_if(w.net.data(), w.net.data() + w.net.size(),
                         [](float v) { return !std::isfinite(v); });
  return std::count_if(w.luma.v.begin(), w.luma.v.end(),
                       [](double v) { return !std::isfinite(v); });
}

// Row by row: each output row's chroma (and alpha) is upscaled (ImresizeRows) and converted while
// it is in cache, so no full-size plane is made besides the output image (the planes were most of
// this stage's time: docs/perf.md, "Image I/O per stage"); only a factor the network does not run
// at makes one, the network's output resized to the output's size.
Image finish_upscale(const UpscaleWork& w) {
  keep_working_memory();
  Image out;
  out.width = w.out_width;
  out.height = w.out_height;
  out.channels = w.info.channels;
  out.bits = w.info.bits;
  out.icc = w.info.icc;
  out.exif = w.info.exif;
  out.png_colour = w.info.png_colour;
  bool from_net = !w.net.empty();
  const int lh = from_net ? w.net.height() : w.luma.height, lw = from_net ? w.net.width() : w.luma.width;
  const Plane* luma_plane = &w.luma;
  Plane resized;  // network_scale(scale) != scale: the network's output resized to the output's size
  if (w.net_scale != w.scale) {
    VDSR_CHECK(lh == imresize_length(w.net_scale, w.info.height) && lw == imresize_length(w.net_scale, w.info.width),
               "finish_upscale: the luma is " << lh << "x" << lw << ", not the network's x" << w.net_scale);
    resized = imresize_to(from_net ? to_plane(w.net) : w.luma, out.height, out.width);
    luma_plane = &resized;
    from_net = false;
  } else {
    VDSR_CHECK(lh == out.height && lw == out.width,
               "finish_upscale: the luma is " << lh << "x" << lw << ", not " << out.height << "x" << out.width);
  }
  // Row y of the luma in double: the network's floats widened (exact), or the double plane's row.
  std::vector<double> luma_row(from_net ? size_t(out.width) : 0);
  const auto luma = [&](int y) -> const double* {
    if (!from_net) return &luma_plane->v[size_t(y) * size_t(out.width)];
    const float* s = w.net.row(y);
    for (int x = 0; x < out.width; ++x) luma_row[size_t(x)] = static_cast<double>(s[x]);
    return luma_row.data();
  };
  out.pixels.resize(size_t(out.width) * size_t(out.height) * size_t(out.channels));
  const size_t n = size_t(out.width), row_values = n * size_t(out.channels);
  const bool colour = out.channels >= 3;
  std::optional<ImresizeRows> alpha, cb, cr;
  if (out.has_alpha()) alpha.emplace(w.alpha, out.height, out.width, w.scale, w.scale);
  if (colour) {
    cb.emplace(w.cb, out.height, out.width, w.scale, w.scale);
    cr.emplace(w.cr, out.height, out.width, w.scale, w.scale);
  }
  std::vector<double> a_row(alpha ? n : 0), cb_row(colour ? n : 0), cr_row(colour ? n : 0);
  std::vector<double> straight(w.premultiplied ? n : 0);  // the luma row over alpha
  const double half_step = 0.5 / out.max_value();
  for (int y = 0; y < out.height; ++y) {
    if (alpha) {
      alpha->row(y, a_row.data());
      put_row(out, out.channels - 1, y, a_row.data());
    }
    const double* l = luma(y);
    if (colour) {
      cb->row(y, cb_row.data());
      cr->row(y, cr_row.data());
    }
    if (w.premultiplied) {  // a transparent pixel's colour: black (Y 16/255, Cb = Cr = 128/255)
      std::copy(l, l + n, straight.begin());
      l = straight.data();
      unpremultiply(straight.data(), a_row.data(), n, colour ? 16.0 / 255 : 0.0, half_step);
      if (colour) {
        unpremultiply(cb_row.data(), a_row.data(), n, 128.0 / 255, half_step);
        unpremultiply(cr_row.data(), a_row.data(), n, 128.0 / 255, half_step);
      }
    }
    if (colour)
      ycbcr_to_rgb_row(l, cb_row.data(), cr_row.data(), n, out.bits,
                       &out.pixels[size_t(y) * row_values], size_t(out.channels));
    else
      put_row(out, 0, y, l);
  }
  return out;
}

Image upscale_image(const Image& in, Vdsr* model, const UpscaleOptions& opt) {
  UpscaleWork w = prepare_upscale(in, opt.scale, model, opt.keep_alpha);
  run_network(w, model, opt);
  return finish_upscale(w);
}

}  // namespace vdsr
