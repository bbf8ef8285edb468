// WebP through libwebp (decode, encode) and libwebpmux (the ICCP and EXIF chunks of the extended
// format, read and written). WebP has no grey: grey decodes as RGB (the three channels equal) and is
// written as RGB. Animated WebP is refused by name; a still image with alpha reads as RGBA.
// Written lossy at SaveOptions::webp_quality 1..100, lossless at 101. A side is at most 16383 pixels.
#include "image/codec.h"

#include <cstring>

namespace vdsr::codec {
namespace {
bool sniff_webp(Bytes b, const std::string&) {
  return b.size >= 12 && std::memcmp(b.data, "RIFF", 4) == 0 && std::memcmp(b.data + 8, "WEBP", 4) == 0;
}
}  // namespace
}  // namespace vdsr::codec

#if VDSR_HAVE_WEBP

#include <webp/decode.h>
#include <webp/encode.h>
#include <webp/mux.h>

#include <algorithm>
#include <memory>

#include "engine/error.h"

namespace vdsr::codec {

namespace {

constexpr int kMaxSide = 16383;  // WebP's own limit (14-bit sizes)

ImageInfo probe(Bytes b, const std::string& path) {
  WebPBitstreamFeatures f;
  const VP8StatusCode st = WebPGetFeatures(b.data, b.size, &f);
  if (st == VP8_STATUS_NOT_ENOUGH_DATA) fail_read(path, "truncated webp header");
  if (st != VP8_STATUS_OK) fail_read(path, "bad webp header (libwebp status " + std::to_string(int(st)) + ")");
  if (f.has_animation) fail_read(path, "an animated WebP; only still images are supported");
  if (f.width <= 0 || f.height <= 0)
    fail_read(path, "invalid webp header (" + std::to_string(f.width) + "x" + std::to_string(f.height) + ")");
  ImageInfo info;
  info.width = f.width;
  info.height = f.height;
  info.channels = f.has_alpha ? 4 : 3;
  info.bits = 8;
  info.format = "webp";
  return info;
}

struct MuxDeleter {
  void operator()(WebPMux* m) const { WebPMuxDelete(m); }
};
using MuxPtr = std::unique_ptr<WebPMux, MuxDeleter>;

void read_chunk(WebPMux* mux, const char* fourcc, std::vector<unsigned char>& out) {
  WebPData d{nullptr, 0};
  if (WebPMuxGetChunk(mux, fourcc, &d) == WEBP_MUX_OK && d.bytes != nullptr) out.assign(d.bytes, d.bytes + d.size);
}

Image decode(Bytes b, const std::string& path, const ImageInfo& info, int& orientation) {
  const size_t stride = size_t(info.width) * size_t(info.channels);
  std::vector<unsigned char> px(stride * size_t(info.height));
  const uint8_t* ok = info.channels == 4
                          ? WebPDecodeRGBAInto(b.data, b.size, px.data(), px.size(), int(stride))
                          : WebPDecodeRGBInto(b.data, b.size, px.data(), px.size(), int(stride));
  VDSR_USER_CHECK(ok != nullptr, "cannot decode image '" << path << "': corrupt or truncated webp");
  Image img = blank_image(info.width, info.height, info.channels, 8);
  std::copy(px.begin(), px.end(), img.pixels.begin());
  const WebPData whole{b.data, b.size};
  const MuxPtr mux(WebPMuxCreate(&whole, 0));
  if (mux) {
    read_chunk(mux.get(), "ICCP", img.icc);
    read_chunk(mux.get(), "EXIF", img.exif);
    img.exif = exif_from_chunk(img.exif.data(), img.exif.size());
  }
  orientation = exif_orientation(img.exif);
  return img;
}

std::string too_large(int64_t width, int64_t height) {
  if (width <= kMaxSide && height <= kMaxSide) return "";
  return "too large for WebP (at most " + std::to_string(kMaxSide) + " pixels a side)";
}

std::vector<unsigned char> encode(const Image& img, const SaveOptions& o, const std::string& path) {
  int channels = 0;
  const std::vector<unsigned char> s = samples8(img, false, true, channels);
  // The advanced API for `exact`: the simple lossless calls change the colour under fully transparent
  // pixels, so an RGBA image would not come back as written.
  WebPConfig config;
  VDSR_CHECK(WebPConfigInit(&config) != 0, "libwebp: version mismatch");
  config.lossless = o.webp_quality > 100 ? 1 : 0;
  config.quality = o.webp_quality > 100 ? 75.0f : static_cast<float>(o.webp_quality);  // lossless: effort
  config.exact = 1;
  WebPPicture pic;
  VDSR_CHECK(WebPPictureInit(&pic) != 0, "libwebp: version mismatch");
  pic.use_argb = config.lossless;
  pic.width = img.width;
  pic.height = img.height;
  WebPMemoryWriter writer;
  WebPMemoryWriterInit(&writer);
  pic.writer = WebPMemoryWrite;
  pic.custom_ptr = &writer;
  const int stride = img.width * channels;
  const int imported = channels == 4 ? WebPPictureImportRGBA(&pic, s.data(), stride) : WebPPictureImportRGB(&pic, s.data(), stride);
  const int encoded = imported != 0 ? WebPEncode(&config, &pic) : 0;
  const int error = int(pic.error_code);
  WebPPictureFree(&pic);
  const std::unique_ptr<uint8_t, void (*)(void*)> owner(writer.mem, WebPFree);
  const uint8_t* raw = writer.mem;
  const size_t n = writer.size;
  VDSR_USER_CHECK(encoded != 0 && raw != nullptr && n > 0,
                  "cannot write '" << path << "': the WebP encoder failed (libwebp error " << error << ")");
  const std::vector<unsigned char>& profile =
      fitting_profile(img, false, path);  // grey is stored as RGB
  if (profile.empty() && img.exif.empty()) return std::vector<unsigned char>(raw, raw + n);

  const WebPData bitstream{raw, n};
  const MuxPtr mux(WebPMuxCreate(&bitstream, 0));
  VDSR_CHECK(mux != nullptr, "libwebpmux could not take the encoded image");
  const WebPData icc{profile.data(), profile.size()}, exif{img.exif.data(), img.exif.size()};
  if (!profile.empty())
    VDSR_CHECK(WebPMuxSetChunk(mux.get(), "ICCP", &icc, 0) == WEBP_MUX_OK, "WebPMuxSetChunk ICCP");
  if (!img.exif.empty()) VDSR_CHECK(WebPMuxSetChunk(mux.get(), "EXIF", &exif, 0) == WEBP_MUX_OK, "WebPMuxSetChunk EXIF");
  WebPData out{nullptr, 0};
  VDSR_CHECK(WebPMuxAssemble(mux.get(), &out) == WEBP_MUX_OK, "WebPMuxAssemble failed");
  std::vector<unsigned char> file(out.bytes, out.bytes + out.size);
  WebPDataClear(&out);
  return file;
}

std::string version_text(int v) {  // libwebp packs major.minor.revision as 0xMMmmrr
  return std::to_string(v >> 16) + "." + std::to_string((v >> 8) & 0xff) + "." + std::to_string(v & 0xff);
}

}  // namespace

}  // namespace vdsr::codec

#endif  // VDSR_HAVE_WEBP

namespace vdsr::codec {

const Codec& webp_codec() {
#if VDSR_HAVE_WEBP
  static const std::string library = "libwebp " + version_text(WebPGetDecoderVersion());
  static const Codec c{"webp", library.c_str(), nullptr, sniff_webp, probe, decode, encode, too_large};
#else  // no libwebp at build time: the format is recognised and refused with this message
  static const Codec c{"webp", "off",
                       "WebP support is not built in: libwebp was not found when vdsr was built (Debian: libwebp-dev; "
                       "./setup.sh installs it, then rebuild)",
                       sniff_webp, nullptr, nullptr, nullptr};
#endif
  return c;
}

}  // namespace vdsr::codec
