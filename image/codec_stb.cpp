// BMP and TGA through stb_image, BMP written by stb_image_write: the formats no field library
// covers better (stb_impl.cpp compiles stb with only these decoders, so nothing else reaches it).
// Headers come from stbi_info; a BMP or TGA without compression that is shorter than its header
// says is refused (stb would read zeros past the end), and so is a run-length TGA whose packets end
// before its last pixel; stb reads no run-length BMP, which is said as such. BMP keeps alpha (stb
// writes a 32-bit BMP with a V4 header) and stores grey as RGB, so grey reads back as 3 channels
// and grey+alpha as 4; it has no place for a colour profile or EXIF.
#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>

#include "engine/error.h"
#include "image/codec.h"

namespace vdsr::codec {

namespace {

const char* stb_reason() {
  const char* r = stbi_failure_reason();
  return r != nullptr ? r : "unknown error";
}

uint32_t le16(const unsigned char* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8); }
uint32_t le32(const unsigned char* p) { return le16(p) | (le16(p + 2) << 16); }

void check_uncompressed_size(Bytes b, const std::string& path, const std::string& format, int w, int h) {
  const unsigned char* p = b.data;
  const size_t n = b.size;
  int64_t need = 0;
  if (format == "bmp" && n >= 30) {
    const uint32_t header = le32(p + 14);
    const int64_t bpp = header == 12 ? le16(p + 24) : le16(p + 28);
    const uint32_t compression = header == 12 || n < 34 ? 0 : le32(p + 30);
    if (compression == 0 || compression == 3 || compression == 6)  // BI_RGB, (ALPHA)BITFIELDS
      need = int64_t(le32(p + 10)) + (int64_t(w) * bpp + 31) / 32 * 4 * h;
  } else if (format == "tga" && n >= 18) {
    // Where stb starts reading pixels: after the id and, for a colour-mapped image, after the map's
    // first-entry offset (read as a byte count, as stb does) and its entries; a true-colour file's
    // map stb does not skip, but the file holds it, so it counts toward the size needed.
    const bool mapped = p[2] == 1 || p[2] == 9;
    const int64_t map_bytes = p[1] ? int64_t(le16(p + 5)) * ((p[7] + 7) / 8) : 0;
    const int64_t start = 18 + p[0] + (mapped ? le16(p + 3) + map_bytes : 0);
    const int64_t pixel = (p[16] + 7) / 8, pixels = int64_t(w) * h;
    if (p[2] >= 1 && p[2] <= 3) {  // uncompressed
      need = start + (mapped ? 0 : map_bytes) + pixels * pixel;
    } else if (p[2] >= 9 && p[2] <= 11) {
      // Packets: a byte (bit 7: a run of one pixel repeated; else that many pixels as they are, the
      // count in bits 0-6 plus one), then the pixels, walked to the last pixel the header claims
      // (stb reads no further into a packet): stb would decode a cut file's missing pixels as
      // black, and a few bytes could claim 65535 x 65535.
      int64_t at = start, done = 0;
      while (done < pixels && at < int64_t(n)) {
        const int64_t count = std::min<int64_t>((p[at] & 0x7f) + 1, pixels - done);
        at += 1 + ((p[at] & 0x80) != 0 ? pixel : count * pixel);
        done += count;
      }
      if (done < pixels || at > int64_t(n))
        fail_read(path, "truncated tga (its run-length data ends after " +
                            std::to_string(std::min(done, pixels)) + " of the " +
                            std::to_string(pixels) + " pixels its header claims)");
    }
  }
  if (int64_t(n) < need)
    fail_read(path, "truncated " + format + " (the file has " + std::to_string(n) + " bytes, its header needs " +
                        std::to_string(need) + ")");
}

bool sniff_bmp(Bytes b, const std::string&) { return b.size >= 2 && b.data[0] == 'B' && b.data[1] == 'M'; }
bool sniff_tga(Bytes, const std::string& extension) { return extension == "tga"; }  // TGA has no signature

int stb_len(Bytes b, const std::string& path) {
  if (b.size > size_t(INT_MAX)) fail_read(path, "the file is larger than 2 GiB, too large for stb_image");
  return int(b.size);
}

ImageInfo probe_as(Bytes b, const std::string& path, const std::string& format) {
  // BI_RLE8, BI_RLE4 (and JPEG or PNG inside a BMP): stb's "unknown image type" would read as a
  // damaged file.
  // (Windows headers: 40 bytes and the later 52, 56, 108, 124; OS/2's 64-byte one numbers its
  // compressions otherwise, and stb reads none of its compressed kinds either.)
  const uint32_t header = b.size >= 18 ? le32(b.data + 14) : 0;
  if (format == "bmp" && b.size >= 34 && header >= 40 && header != 64) {
    const uint32_t compression = le32(b.data + 30);
    if (compression == 1 || compression == 2 || compression == 4 || compression == 5)
      fail_read(path, std::string("a ") +
                          (compression == 1   ? "run-length (RLE8)"
                           : compression == 2 ? "run-length (RLE4)"
                           : compression == 4 ? "JPEG-compressed"
                                              : "PNG-compressed") +
                          " BMP, which vdsr does not read (stb_image reads uncompressed BMPs); "
                          "save it uncompressed");
  }
  int w = 0, h = 0, c = 0;
  if (stbi_info_from_memory(b.data, stb_len(b, path), &w, &h, &c) != 1)
    fail_read(path, "bad or truncated " + format + " header (stb_image: " + stb_reason() + ")");
  // A top-down BMP stores its height negated and stbi_info passes it on as is (its decoder takes
  // abs(), undefined for INT_MIN, which the check below then rejects). Broke on: a valid 2x2
  // 32-bit top-down BMP (tests/fuzz/corpus/image/rgba32_v4.bmp) was refused as "2x-2".
  if (format == "bmp" && h < 0 && h != INT_MIN) h = -h;
  if (!(w > 0 && h > 0 && c >= 1 && c <= 4))
    fail_read(path, "invalid " + format + " header (" + std::to_string(w) + "x" + std::to_string(h) + ", " +
                        std::to_string(c) + " channels)");
  check_uncompressed_size(b, path, format, w, h);
  ImageInfo info;
  info.width = w;
  info.height = h;
  info.channels = c;
  info.bits = 8;
  info.format = format;
  return info;
}
ImageInfo probe_bmp(Bytes b, const std::string& path) { return probe_as(b, path, "bmp"); }
ImageInfo probe_tga(Bytes b, const std::string& path) { return probe_as(b, path, "tga"); }

Image decode(Bytes b, const std::string& path, const ImageInfo& info, int& orientation) {
  int w = 0, h = 0, file_channels = 0;
  stbi_uc* data = stbi_load_from_memory(b.data, stb_len(b, path), &w, &h, &file_channels, info.channels);
  VDSR_USER_CHECK(data != nullptr, "cannot decode image '" << path << "': corrupt or truncated " << info.format
                                                           << " (stb_image: " << stb_reason() << ")");
  const std::unique_ptr<stbi_uc, void (*)(void*)> owner(data, stbi_image_free);
  VDSR_USER_CHECK(w == info.width && h == info.height, "cannot decode image '" << path << "': decoded size " << w << "x"
                                                                               << h << " differs from the header's "
                                                                               << info.width << "x" << info.height);
  Image img = blank_image(w, h, info.channels, 8);
  std::copy(data, data + img.pixels.size(), img.pixels.begin());
  orientation = 1;
  return img;
}

void append_cb(void* ctx, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(ctx);
  const auto* p = static_cast<const unsigned char*>(data);
  out->insert(out->end(), p, p + size);  // stb is C++-compiled here: a bad_alloc unwinds through it safely
}

// stb_image_write counts bytes in int.
std::string bmp_too_large(int64_t width, int64_t height) {
  if (width * height * 4 + height < int64_t(INT_MAX) / 2) return "";
  return "too large for the bmp writer (at most about " + std::to_string(int64_t(INT_MAX) / 8 / 1000000) +
         " million pixels)";
}

std::vector<unsigned char> encode_bmp(const Image& img, const SaveOptions&, const std::string& path) {
  int channels = 0;
  // Grey+alpha as RGBA; plain grey stays one channel (stb writes it as 24-bit RGB).
  const std::vector<unsigned char> s = samples8(img, false, img.channels == 2, channels);
  std::vector<unsigned char> out;
  const int ok = stbi_write_bmp_to_func(append_cb, &out, img.width, img.height, channels, s.data());
  VDSR_USER_CHECK(ok != 0, "cannot write '" << path << "': the bmp encoder failed");
  return out;
}

}  // namespace

const Codec& bmp_codec() {
  static const Codec c{"bmp", "stb_image", nullptr, sniff_bmp, probe_bmp, decode, encode_bmp, bmp_too_large};
  return c;
}

const Codec& tga_codec() {
  static const Codec c{"tga", "stb_image", nullptr, sniff_tga, probe_tga, decode, nullptr};
  return c;
}

}  // namespace vdsr::codec
