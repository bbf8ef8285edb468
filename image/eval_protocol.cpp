// The evaluation protocol (docs/evaluation.md) (see eval_protocol.h).
#include "image/eval_protocol.h"

#include "engine/error.h"
#include "image/color.h"
#include "image/imresize.h"
#include "image/metrics.h"

namespace vdsr {

namespace {
void require_8bit(int bits, const std::string& name) {
  VDSR_USER_CHECK(bits == 8, "image '"
                                 << name << "' has " << bits
                                 << "-bit samples; the evaluation protocol scores 8-bit images "
                                    "(docs/evaluation.md)");
}
}  // namespace

EvalSample make_eval_sample(const Image& img, int scale, const std::string& name, bool with_chroma) {
  VDSR_USER_CHECK(scale >= 1, "evaluation scale must be at least 1, got " << scale);
  EvalSample s;
  s.name = name;
  s.scale = scale;
  require_8bit(img.bits, name);
  s.hr = modcrop(y_channel_u8(img), scale);
  s.rgb_grey = rgb_with_equal_channels(img);
  VDSR_USER_CHECK(s.hr.height >= scale && s.hr.width >= scale,
             "image '" << name << "' (" << img.width << "x" << img.height
                       << ") is too small for scale " << scale);
  Plane x = s.hr;
  for (double& v : x.v) v /= 255.0;
  s.lr = imresize(x, 1.0 / scale);
  s.input = imresize(s.lr, double(scale));
  VDSR_CHECK(s.input.height == s.hr.height && s.input.width == s.hr.width,
             "bicubic round trip of '" << name << "' gave " << s.input.height << "x"
                                       << s.input.width << " for " << s.hr.height << "x"
                                       << s.hr.width);
  if (with_chroma && img.channels >= 3) {
    const YCbCr ycc = rgb_to_ycbcr(img);
    s.cb = imresize(imresize(modcrop(ycc.cb, scale), 1.0 / scale), double(scale));
    s.cr = imresize(imresize(modcrop(ycc.cr, scale), 1.0 / scale), double(scale));
  }
  return s;
}

void require_scorable(int width, int height, int bits, int scale, const std::string& name) {
  require_8bit(bits, name);
  const int need = 2 * scale + 11, w = width - width % scale, h = height - height % scale;
  VDSR_USER_CHECK(h >= need && w >= need,
                  "image '" << name << "' (" << w << "x" << h << " after modcrop) is too small "
                            << "to score at x" << scale << ": it needs " << need << "x" << need
                            << " (a shave of " << scale
                            << " pixels on each side, then SSIM's 11x11 window)");
}

void require_scorable(const EvalSample& s) {
  require_scorable(s.hr.width, s.hr.height, 8, s.scale, s.name);
}

Scores score_output(const Plane& output01, const Plane& hr, int scale) {
  VDSR_CHECK(output01.height == hr.height && output01.width == hr.width,
             "output " << output01.height << "x" << output01.width << " does not match HR "
                       << hr.height << "x" << hr.width);
  const Plane pred = shave(quantize_u8(output01), scale);
  const Plane ref = shave(hr, scale);
  return Scores{psnr(pred, ref), ssim(pred, ref)};
}

Image prediction_u8(const Plane& output01) {
  const Plane q = quantize_u8(output01);
  Image img;
  img.width = q.width;
  img.height = q.height;
  img.channels = 1;
  img.pixels.resize(q.v.size());
  for (size_t i = 0; i < q.v.size(); ++i) img.pixels[i] = static_cast<uint16_t>(q.v[i]);
  return img;
}

Image picture_u8(const Plane& y01, const Plane& cb, const Plane& cr) {
  if (cb.v.empty()) return prediction_u8(y01);
  VDSR_CHECK(cb.height == y01.height && cb.width == y01.width && cr.height == y01.height && cr.width == y01.width,
             "picture_u8: chroma " << cb.height << "x" << cb.width << " for a Y of " << y01.height << "x" << y01.width);
  return ycbcr_to_rgb(YCbCr{y01, cb, cr}, 8);
}

}  // namespace vdsr
