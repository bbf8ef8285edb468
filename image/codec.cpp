// The codec table (image/codec.h) and the helpers its rows share.
#include "image/codec.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/error.h"
#include "engine/log.h"
#include "engine/values.h"

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

std::string extension_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return lower_case(path.substr(dot + 1));
}

std::vector<unsigned char> read_file(const std::string& path) {
  struct stat st {};
  VDSR_USER_CHECK(::stat(path.c_str(), &st) == 0, "cannot read image '" << path << "': " << std::strerror(errno));
  VDSR_USER_CHECK(!S_ISDIR(st.st_mode), "cannot read image '" << path << "': it is a folder");
  VDSR_USER_CHECK(S_ISREG(st.st_mode), "cannot read image '" << path << "': not a regular file");
  VDSR_USER_CHECK(st.st_size > 0, "cannot read image '" << path << "': the file is empty");
  FILE* f = std::fopen(path.c_str(), "rb");
  VDSR_USER_CHECK(f != nullptr, "cannot read image '" << path << "': " << std::strerror(errno));
  // The opened file's size: one replaced since the stat by name (a folder another program is
  // writing into) is read whole, not cut to the old one's length.
  if (::fstat(::fileno(f), &st) != 0) st.st_size = 0;
  std::vector<unsigned char> bytes(size_t(st.st_size));
  const size_t got = std::fread(bytes.data(), 1, bytes.size(), f);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  VDSR_USER_CHECK(!failed, "cannot read image '" << path << "': " << std::strerror(errno));
  bytes.resize(got);  // the file may have shrunk since stat
  VDSR_USER_CHECK(!bytes.empty(), "cannot read image '" << path << "': the file is empty");
  return bytes;
}

const Codec& codec_of(Bytes b, const std::string& path) {
  const std::string ext = extension_of(path);
  for (const Codec* c : all_codecs()) {
    if (!c->sniff(b, ext)) continue;
    if (c->missing != nullptr) fail_read(path, c->missing);
    return *c;
  }
  // TGA has no signature: it is known by a .tga name, which standard input does not have.
  fail_read(path, ext.empty()
                      ? "not a PNG, JPEG, WebP, TIFF or BMP file (unknown signature; a TGA, "
                        "which has none, is read only from a file named .tga)"
                      : "not a PNG, JPEG, WebP, TIFF, BMP or TGA file (unknown signature)");
}

const std::vector<unsigned char>& fitting_profile(const Image& img, bool grey_stored,
                                                  const std::string& path) {
  static const std::vector<unsigned char> none;
  const char* space = grey_stored && img.channels <= 2 ? "GRAY" : "RGB ";
  if (img.icc.empty() || (img.icc.size() >= 128 && std::memcmp(img.icc.data() + 16, space, 4) == 0))
    return img.icc;
  log_verbose(path + ": the input's colour profile (" +
              (img.icc.size() < 128 ? std::string("malformed")
                                    : printable(std::string(
                                          reinterpret_cast<const char*>(img.icc.data()) + 16, 4))) +
              ") does not describe the output's " + (space[0] == 'G' ? "grey" : "RGB") +
              " pixels: left out");
  return none;
}

std::vector<unsigned char> exif_from_chunk(const unsigned char* data, size_t size) {
  const size_t skip = size >= 6 && std::memcmp(data, "Exif\0\0", 6) == 0 ? 6 : 0;
  return std::vector<unsigned char>(data + skip, data + size);
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
