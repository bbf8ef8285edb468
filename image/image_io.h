// Image files, read and written through the field's libraries (one codec per file,
// image/codec_*.cpp, behind image/codec.h): PNG with libpng (8 and 16 bit, grey, grey+alpha, RGB,
// RGBA, palette), JPEG with libjpeg-turbo, WebP with libwebp, TIFF with libtiff (8 and 16 bit), BMP
// and TGA with stb_image (BMP written by stb_image_write). libpng is required; libjpeg-turbo,
// libwebp or libtiff missing at build time turns its format off, refused with a message naming the
// library. The format comes from the file's signature; sizes are read from the header and checked
// against the limits before any pixel is decoded. Every error throws an Error naming the file and
// the cause. Output is encoded into memory and written with one checked write, then fsync and
// rename (engine/atomic_file.h).
//
// Colour profiles and EXIF travel with the pixels (Image::icc, Image::exif): read from JPEG (APP2
// ICC, APP1 Exif), PNG (iCCP, eXIf), WebP (ICCP, EXIF chunks) and TIFF (the ICC tag), written back
// where the output container has a place for them (BMP has none; TIFF output keeps the profile
// only). PNG's own colour chunks (sRGB, gAMA, cHRM; Image::png_colour) go from a PNG to a PNG only:
// no other container has their place, and a profile made up from them would be a new claim. The
// EXIF orientation (tag 0x0112 of IFD0, or TIFF's own Orientation tag) is applied on load: the
// image comes back the way it is meant to be seen (orientations 5-8 swap width and height) and the
// kept EXIF says 1, upright, so no viewer turns it twice. probe_image reports the stored size.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vdsr {

// A PNG's sRGB, gAMA and cHRM chunks, as stored (libpng's fixed point: value x 100000).
struct PngColour {
  int srgb_intent = -1;            // the sRGB chunk's rendering intent, 0..3; -1: none
  uint32_t gamma = 0;              // gAMA (45455 is 1/2.2); 0: none
  std::array<uint32_t, 8> chrm{};  // cHRM: white x, y, red x, y, green x, y, blue x, y; all 0: none
  bool operator==(const PngColour& o) const {
    return srgb_intent == o.srgb_intent && gamma == o.gamma && chrm == o.chrm;
  }
  bool empty() const { return *this == PngColour{}; }
};

struct Image {
  int width = 0, height = 0;
  int channels = 0;  // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
  int bits = 8;      // 8 (values 0..255) or 16 (values 0..65535)
  std::vector<uint16_t> pixels;  // interleaved [height][width][channels]
  // Carried from input to output file (see above); empty when the file had none.
  std::vector<unsigned char> icc;   // an ICC colour profile, as stored
  std::vector<unsigned char> exif;  // EXIF from its TIFF header on ("II*\0" or "MM\0*")
  PngColour png_colour;             // a PNG's colour chunks (written to a PNG only)

  uint16_t at(int y, int x, int c) const {
    return pixels[(size_t(y) * size_t(width) + size_t(x)) * size_t(channels) + size_t(c)];
  }
  int max_value() const { return bits == 16 ? 65535 : 255; }
  bool has_alpha() const { return channels == 2 || channels == 4; }  // its last channel
};

struct ImageInfo {
  int width = 0, height = 0, channels = 0, bits = 8;
  std::string format;  // "png", "jpeg", "webp", "tiff", "bmp", "tga"
};

struct ImageLimits {
  int64_t max_side = 65535;                 // either dimension
  int64_t max_pixels = int64_t(1) << 28;    // width * height (268 Mpx, ~1 GiB as 8-bit RGBA)
};

enum class ImageFormat { PNG, JPEG, BMP, WEBP, TIFF };

struct SaveOptions {
  int jpeg_quality = 95;  // 1..100
  int png_level = 1;      // zlib level 0..9 of PNG, and the Deflate level of TIFF
  int webp_quality = 90;  // 1..100 lossy, 101 lossless
};

// True for names ending in .png .jpg .jpeg .webp .tif .tiff .bmp .tga (any case), whether or not
// this build reads them (an unreadable one is then refused by name, not silently skipped).
bool has_image_extension(const std::string& path);
// "png" / "jpg" / "jpeg" / "webp" / "tif" / "tiff" / "bmp" (any case) to a format; throws on anything
// else, and for a format this build cannot write (saying which library it lacks).
ImageFormat parse_image_format(const std::string& name);
const char* image_format_extension(ImageFormat f);  // "png", "jpg", "bmp", "webp", "tif"
bool image_format_stores_alpha(ImageFormat f);      // all but JPEG
// Which library reads / writes each format in this build, for --version: "png libpng 1.6.39, jpeg
// libjpeg-turbo 2.1.5, webp libwebp 1.2.4, tiff off, bmp stb_image, tga stb_image".
std::string image_codecs_text();

// Reads only the header. Throws for unreadable, empty, truncated-header or unsupported files.
ImageInfo probe_image(const std::string& path);
// A UserError naming the file when a probed size exceeds the limits (decode_image's check, for
// callers that decode through a codec themselves).
void check_image_limits(const ImageInfo& info, const std::string& path, const ImageLimits& limits = {});
// Probes, checks the limits, then decodes. Throws with the file name and cause on any failure.
Image load_image(const std::string& path, const ImageLimits& limits = {});
// load_image on bytes already read (standard input, say); `name` stands for the file in messages
// and picks the codec of a format without a signature (.tga) by its extension.
Image decode_image(const std::vector<unsigned char>& bytes, const std::string& name, const ImageLimits& limits = {});
// The EXIF orientation (1..8) of a JPEG file's bytes (from its SOI); 1 when there is none or the
// Exif data is malformed or cut short.
int jpeg_exif_orientation(const unsigned char* data, size_t size);
// The orientation in EXIF bytes from the TIFF header on (Image::exif); 1 when none or malformed.
int exif_orientation(const std::vector<unsigned char>& exif);
// Rewrites the orientation tag of EXIF bytes (Image::exif) to 1 in place; false if it has none.
bool exif_reset_orientation(std::vector<unsigned char>& exif);
// The image turned upright for an EXIF orientation: 1 as is, 2 mirrored left-right, 3 turned 180
// degrees, 4 mirrored top-bottom, 5 transposed, 6 turned 90 degrees clockwise, 7 transversed (mirrored
// along the anti-diagonal), 8 turned 90 degrees counter-clockwise. Other values: as is.
Image apply_exif_orientation(const Image& img, int orientation);
// Why an image of width x height cannot be saved as `format`, in words, naming the formats that can
// take it ("too large for WebP (at most 16383 pixels a side); use png or tif"; "" when it can):
// WebP's 16383 pixels a side, JPEG's 65500, the BMP writer's 268 million pixels. save_image
// refuses such an image with it; vdsr_sr asks before it upscales, so the refusal comes before the
// work.
std::string save_size_problem(ImageFormat format, int64_t width, int64_t height);
// Writes atomically. 16-bit images are written as 16-bit PNG or TIFF (other formats: an Error).
// JPEG drops alpha; WebP stores grey as RGB; BMP stores grey as RGB and drops the profile and EXIF.
void save_image(const std::string& path, const Image& img, ImageFormat format,
                const SaveOptions& opts = {});
// save_image's bytes, with the same checks, for a destination that is not a file (standard
// output); `name` stands for it in messages.
std::vector<unsigned char> encode_image(const Image& img, ImageFormat format, const SaveOptions& opts,
                                        const std::string& name);

}  // namespace vdsr
