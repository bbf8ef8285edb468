// Image files (see image_io.h): the public entry points over the codec table (image/codec.h). A file
// is read whole into memory once; its format comes from the signature (TGA, which has none, only
// under a .tga name), the header is probed and checked against the limits before any pixel is
// decoded, and the orientation the file asks for is applied. Output is validated, encoded into
// memory by the format's codec and written with one checked write, fsync and rename.
#include "image/image_io.h"

#include <algorithm>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/values.h"
#include "image/codec.h"

namespace vdsr {

namespace {

}  // namespace

bool has_image_extension(const std::string& path) {
  const std::string e = codec::extension_of(path);
  return e == "png" || e == "jpg" || e == "jpeg" || e == "webp" || e == "tif" || e == "tiff" || e == "bmp" ||
         e == "tga";
}

ImageFormat parse_image_format(const std::string& name) {
  const std::string n = lower_case(name);
  ImageFormat f = ImageFormat::PNG;
  if (n == "png") f = ImageFormat::PNG;
  else if (n == "jpg" || n == "jpeg") f = ImageFormat::JPEG;
  else if (n == "webp") f = ImageFormat::WEBP;
  else if (n == "tif" || n == "tiff") f = ImageFormat::TIFF;
  else if (n == "bmp") f = ImageFormat::BMP;
  else VDSR_USER_FAIL("unknown image format '" << name << "' (expected png, jpg, webp, tif or bmp)");
  const char* missing = codec::codec_for(f).missing;
  VDSR_USER_CHECK(missing == nullptr, "cannot write " << name << " images: " << missing);
  return f;
}

const char* image_format_extension(ImageFormat f) {
  switch (f) {
    case ImageFormat::PNG: return "png";
    case ImageFormat::JPEG: return "jpg";
    case ImageFormat::WEBP: return "webp";
    case ImageFormat::TIFF: return "tif";
    case ImageFormat::BMP: return "bmp";
  }
  return "png";
}

bool image_format_stores_alpha(ImageFormat f) { return f != ImageFormat::JPEG; }

std::string image_codecs_text() {
  std::string s;
  for (const codec::Codec* c : codec::all_codecs()) {
    if (!s.empty()) s += ", ";
    s += std::string(c->format) + " " + (c->missing != nullptr ? "off" : c->library);
  }
  return s;
}

ImageInfo probe_image(const std::string& path) {
  const std::vector<unsigned char> bytes = codec::read_file(path);
  return codec::codec_of({bytes.data(), bytes.size()}, path).probe({bytes.data(), bytes.size()}, path);
}

void check_image_limits(const ImageInfo& info, const std::string& path, const ImageLimits& limits) {
  VDSR_USER_CHECK(info.width <= limits.max_side && info.height <= limits.max_side &&
                      int64_t(info.width) * info.height <= limits.max_pixels,
                  "cannot read image '" << path << "': its size " << info.width << "x" << info.height
                                        << " exceeds the limits (at most " << limits.max_side
                                        << " pixels a side and " << limits.max_pixels << " pixels in all)");
}

Image load_image(const std::string& path, const ImageLimits& limits) {
  return decode_image(codec::read_file(path), path, limits);
}

Image decode_image(const std::vector<unsigned char>& bytes, const std::string& path, const ImageLimits& limits) {
  VDSR_USER_CHECK(!bytes.empty(), "cannot read image '" << path << "': it is empty");
  const codec::Bytes b{bytes.data(), bytes.size()};
  const codec::Codec& c = codec::codec_of(b, path);
  const ImageInfo info = c.probe(b, path);
  check_image_limits(info, path, limits);
  int orientation = 1;
  Image img = c.decode(b, path, info, orientation);
  VDSR_CHECK(img.width == info.width && img.height == info.height && img.channels == info.channels &&
                 img.bits == info.bits && img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "the " << c.format << " decoder returned another layout than its probe for '" << path << "'");
  if (orientation != 1) {
    Image upright = apply_exif_orientation(img, orientation);
    upright.icc = std::move(img.icc);
    upright.exif = std::move(img.exif);
    upright.png_colour = img.png_colour;
    exif_reset_orientation(upright.exif);  // applied: a viewer must not turn it again
    img = std::move(upright);
  }
  return img;
}

std::string save_size_problem(ImageFormat format, int64_t width, int64_t height) {
  const codec::Codec& c = codec::codec_for(format);
  const std::string why = c.too_large != nullptr ? c.too_large(width, height) : std::string();
  return why.empty() ? why : why + "; use png or tif";
}

void save_image(const std::string& path, const Image& img, ImageFormat format, const SaveOptions& opts) {
  const std::vector<unsigned char> bytes = encode_image(img, format, opts, path);
  write_file_atomic(path, bytes.data(), bytes.size());
}

std::vector<unsigned char> encode_image(const Image& img, ImageFormat format, const SaveOptions& opts,
                                        const std::string& path) {
  VDSR_CHECK(img.width > 0 && img.height > 0 && img.channels >= 1 && img.channels <= 4 &&
                 (img.bits == 8 || img.bits == 16) &&
                 img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "cannot write '" << path << "': invalid image (" << img.width << "x" << img.height << ", "
                              << img.channels << " channels, " << img.bits << " bits, " << img.pixels.size()
                              << " values)");
  if (img.bits == 8) {
    VDSR_CHECK(std::all_of(img.pixels.begin(), img.pixels.end(), [](uint16_t v) { return v <= 255; }),
               "cannot write '" << path << "': an 8-bit image holds values above 255");
  }
  VDSR_USER_CHECK(img.bits == 8 || format == ImageFormat::PNG || format == ImageFormat::TIFF,
                  "cannot write '" << path << "': 16-bit images can only be saved as PNG or TIFF");
  VDSR_USER_CHECK(opts.png_level >= 0 && opts.png_level <= 9,
                  "cannot write '" << path << "': PNG level " << opts.png_level << " is not in 0..9");
  VDSR_USER_CHECK(opts.jpeg_quality >= 1 && opts.jpeg_quality <= 100,
                  "cannot write '" << path << "': JPEG quality " << opts.jpeg_quality << " is not in 1..100");
  VDSR_USER_CHECK(opts.webp_quality >= 1 && opts.webp_quality <= 101,
                  "cannot write '" << path << "': WebP quality " << opts.webp_quality
                                   << " is not in 1..101 (101: lossless)");
  const codec::Codec& c = codec::codec_for(format);
  VDSR_USER_CHECK(c.missing == nullptr, "cannot write '" << path << "': " << c.missing);
  const std::string big = save_size_problem(format, img.width, img.height);
  VDSR_USER_CHECK(big.empty(), "cannot write '" << path << "': " << img.width << "x" << img.height
                                                << " is " << big);
  return c.encode(img, opts, path);
}

}  // namespace vdsr
