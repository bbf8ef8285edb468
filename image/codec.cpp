// The codec table (image/codec.h) and the helpers its rows share.
#include "image/codec.h"

#include "engine/error.h"

namespace vdsr::codec {

const std::vector<const Codec*>& all_codecs() {
  // TGA last: it has no signature and is only taken under its own name.
  static const std::vector<const Codec*> rows = {&png_codec(), &jpeg_codec(), &webp_codec(),
                                                 &tiff_codec(), &bmp_codec(),  &tga_codec()};
  return rows;
}

const Codec& codec_for(ImageFormat f) {
  switch (f) {
    case ImageFormat::PNG: return png_codec();
    case ImageFormat::JPEG: return jpeg_codec();
    case ImageFormat::WEBP: return webp_codec();
    case ImageFormat::TIFF: return tiff_codec();
    case ImageFormat::BMP: return bmp_codec();
  }
  VDSR_FAIL("unknown image format " << int(f));
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

void fail_read(const std::string& path, const std::string& what) {
  VDSR_USER_FAIL("cannot read image '" << path << "': " << what);
}

std::vector<unsigned char> samples8(const Image& img, bool drop_alpha, bool grey_to_rgb, int& out_channels) {
  const int c = img.channels;
  const bool alpha = c == 2 || c == 4;
  const int colour = alpha ? c - 1 : c;
  const int out_colour = colour == 1 && grey_to_rgb ? 3 : colour;
  out_channels = out_colour + (alpha && !drop_alpha ? 1 : 0);
  const size_t n = size_t(img.width) * size_t(img.height);
  std::vector<unsigned char> s(n * size_t(out_channels));
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* src = img.pixels.data() + i * size_t(c);
    unsigned char* dst = s.data() + i * size_t(out_channels);
    for (int k = 0; k < out_colour; ++k) dst[k] = static_cast<unsigned char>(src[colour == 1 ? 0 : k]);
    if (out_channels > out_colour) dst[out_colour] = static_cast<unsigned char>(src[c - 1]);
  }
  return s;
}

Image blank_image(int width, int height, int channels, int bits) {
  Image img;
  img.width = width;
  img.height = height;
  img.channels = channels;
  img.bits = bits;
  img.pixels.resize(size_t(width) * size_t(height) * size_t(channels));
  return img;
}

}  // namespace vdsr::codec
