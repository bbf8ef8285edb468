// The codecs behind image_io.h: one file per format family (codec_png.cpp, codec_jpeg.cpp,
// codec_webp.cpp, codec_tiff.cpp, codec_stb.cpp), each a row of one table. image_io.cpp reads the
// whole file into memory, picks the row by signature, probes the header, checks the limits, then
// decodes; on save it validates the image, encodes into memory and writes once, atomically. So a
// codec sees bytes in and bytes out, never a file, and the fuzz targets (tests/fuzz/) drive each
// decoder on its own.
//
// A codec whose library was not found at build time is a row with `missing` set: the format is
// recognised by its signature and extension, and refused with that message.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "image/image_io.h"

namespace vdsr::codec {

struct Bytes {
  const unsigned char* data = nullptr;
  size_t size = 0;
};

struct Codec {
  const char* format;    // ImageInfo::format: "png", "jpeg", "webp", "tiff", "bmp", "tga"
  const char* library;   // "libpng 1.6.39", "stb_image", ...
  const char* missing;   // null when built; else why the format is off and how to get it
  // Whether `b` starts like this format (TGA, which has no signature: by the name's extension).
  bool (*sniff)(Bytes b, const std::string& extension);
  // The stored size, channels and bits from the header alone; throws naming `path` on a bad header.
  ImageInfo (*probe)(Bytes b, const std::string& path);
  // The pixels as stored (size, channels and bits as `info` says), the ICC profile and EXIF when the
  // file has them, and in `orientation` the turn the file asks for (1..8, EXIF's meanings: from the
  // EXIF, or TIFF's own tag), which the caller applies.
  Image (*decode)(Bytes b, const std::string& path, const ImageInfo& info, int& orientation);
  // The encoded file; null where this build has no writer for the format.
  std::vector<unsigned char> (*encode)(const Image& img, const SaveOptions& o, const std::string& path);
  // Why an image of width x height is too large for the writer, in words ("" when it is not); null
  // for a writer with no limit of its own below the int sizes of Image. save_image asks it before
  // encode (image_io.h, save_size_problem).
  std::string (*too_large)(int64_t width, int64_t height) = nullptr;
};

// The rows, each defined in its codec's file (the row of a library not found at build time comes
// from the same file, compiled without it).
const Codec& png_codec();
const Codec& jpeg_codec();
const Codec& webp_codec();
const Codec& tiff_codec();
const Codec& bmp_codec();
const Codec& tga_codec();

// Every row, in sniffing order.
const std::vector<const Codec*>& all_codecs();
// The row that reads these bytes (by signature; TGA by the name's extension); an Error naming
// `path` for an unknown signature or a format whose library this build lacks.
const Codec& codec_of(Bytes b, const std::string& path);
// The bytes of an existing, non-empty regular file, or an Error naming it and the cause.
std::vector<unsigned char> read_file(const std::string& path);
// The extension after the last '.' of the file name (not of a folder), lower case; "" if none.
std::string extension_of(const std::string& path);
// The row that writes `f`.
const Codec& codec_for(ImageFormat f);

// Helpers the codecs share.
uint32_t be32(const unsigned char* p);
// The profile an encoder writes: img.icc when it describes the pixels as written (its colour space,
// header bytes 16-19: "GRAY" where the format stores grey as one channel, `grey_stored`, else
// "RGB "), else none (said with -v, naming `path`). A CMYK JPEG's profile (its pixels were made
// RGB), a grey one on WebP (which stores grey as RGB) or one too short for a header would
// misdescribe the pixels to a colour-managed viewer. (libpng makes the same check for PNG.)
const std::vector<unsigned char>& fitting_profile(const Image& img, bool grey_stored,
                                                  const std::string& path);
// EXIF bytes as a container chunk holds them, from the TIFF header on (Image::exif): JPEG's
// "Exif\0\0" prefix, which some PNG and WebP writers keep, removed.
std::vector<unsigned char> exif_from_chunk(const unsigned char* data, size_t size);
// Throws "cannot read image '<path>': <what>" (the file is the user's input).
[[noreturn]] void fail_read(const std::string& path, const std::string& what);
// The 8-bit samples of img (values already checked to be <= 255), with alpha dropped (`drop_alpha`)
// and grey expanded to RGB (`grey_to_rgb`); out_channels is set to the channel count produced.
std::vector<unsigned char> samples8(const Image& img, bool drop_alpha, bool grey_to_rgb, int& out_channels);
// A new Image of the given layout with its pixel vector sized.
Image blank_image(int width, int height, int channels, int bits);

}  // namespace vdsr::codec
