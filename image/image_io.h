// Image files: PNG (8 and 16 bit, grey, grey+alpha, RGB, RGBA, palette), JPEG, BMP, TGA read with
// stb_image; PNG, JPEG, BMP written with stb_image_write, and 16-bit PNG with libpng. Sizes are read
// from the header and checked against limits before any pixel is decoded. Every error throws an
// Error naming the file and the cause; writes are atomic (engine/atomic_file.h).
// JPEG EXIF orientation: load_image reads the orientation tag (0x0112 of IFD0 in the APP1 "Exif"
// segment, parsed here with bounds checks; absent or malformed = 1, upright) and returns the image
// the way it is meant to be seen: orientations 5-8 swap width and height. Only the segments in the
// first 1 MiB of the file are searched (Exif comes before the image data, in the first 64 KiB in
// practice). probe_image reports the stored size, before the orientation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vdsr {

struct Image {
  int width = 0, height = 0;
  int channels = 0;  // 1 grey, 2 grey+alpha, 3 RGB, 4 RGBA
  int bits = 8;      // 8 (values 0..255) or 16 (values 0..65535)
  std::vector<uint16_t> pixels;  // interleaved [height][width][channels]

  uint16_t at(int y, int x, int c) const {
    return pixels[(size_t(y) * size_t(width) + size_t(x)) * size_t(channels) + size_t(c)];
  }
  int max_value() const { return bits == 16 ? 65535 : 255; }
};

struct ImageInfo {
  int width = 0, height = 0, channels = 0, bits = 8;
  std::string format;  // "png", "jpeg", "bmp", "tga"
};

struct ImageLimits {
  int64_t max_side = 65535;                 // either dimension
  int64_t max_pixels = int64_t(1) << 28;    // width * height (268 Mpx, ~1 GiB as 8-bit RGBA)
};

enum class ImageFormat { PNG, JPEG, BMP };

struct SaveOptions {
  int jpeg_quality = 95;  // 1..100
  int png_level = 6;      // zlib level 0..9 (16-bit PNG via libpng); stb uses its own default
};

// True for names ending in .png .jpg .jpeg .bmp .tga (any case).
bool has_image_extension(const std::string& path);
// "png" / "jpg" / "jpeg" / "bmp" (any case) to a format; throws on anything else.
ImageFormat parse_image_format(const std::string& name);
const char* image_format_extension(ImageFormat f);  // "png", "jpg", "bmp"

// Reads only the header. Throws for unreadable, empty, truncated-header or unsupported files.
ImageInfo probe_image(const std::string& path);
// Probes, checks the limits, then decodes. Throws with the file name and cause on any failure.
Image load_image(const std::string& path, const ImageLimits& limits = {});
// The EXIF orientation (1..8) of a JPEG file's bytes (from its SOI); 1 when there is none or the
// Exif data is malformed or cut short.
int jpeg_exif_orientation(const unsigned char* data, size_t size);
// The image turned upright for an EXIF orientation: 1 as is, 2 mirrored left-right, 3 turned 180
// degrees, 4 mirrored top-bottom, 5 transposed, 6 turned 90 degrees clockwise, 7 transversed (mirrored
// along the anti-diagonal), 8 turned 90 degrees counter-clockwise. Other values: as is.
Image apply_exif_orientation(const Image& img, int orientation);
// Writes atomically. 16-bit images are written as 16-bit PNG (other formats: an Error).
void save_image(const std::string& path, const Image& img, ImageFormat format,
                const SaveOptions& opts = {});

}  // namespace vdsr
