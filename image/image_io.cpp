// Image files (see image_io.h). Reading: the format comes from the file's signature (TGA, which has
// none, only for a .tga name); PNG headers are parsed here (IHDR, then chunks up to IDAT for tRNS),
// so that an absurd size in the header meets our limits instead of stb's; JPEG, BMP and TGA headers
// come from stbi_info. Pixels are then decoded by stb_image asking for exactly the probed channel
// count (stb's own count ignores tRNS). Writing: 8-bit PNG, JPEG and BMP via stb_image_write, 16-bit
// PNG (and 8-bit PNG too large for stb's int sizes) via libpng; every byte goes through AtomicFile.
// JPEG cannot store alpha: grey+alpha is written as grey and RGBA as RGB. BMP keeps alpha (stb
// writes a 32-bit BMP with a V4 header) and stores grey as RGB, so grey reads back as 3 channels and
// grey+alpha as 4. JPEG EXIF orientation is parsed here (a few bounds-checked lines; stb ignores it)
// and applied after decoding.
#include "image/image_io.h"

#include <sys/stat.h>

#include <png.h>
#include <stb_image.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>

#include "engine/atomic_file.h"
#include "engine/error.h"

namespace vdsr {

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The extension after the last '.' of the file name (not of a folder), lower case; "" if none.
std::string extension_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return lower(path.substr(dot + 1));
}

struct FileCloser {
  FILE* f = nullptr;
  ~FileCloser() {
    if (f != nullptr) std::fclose(f);
  }
};

// Opens an existing, non-empty regular file for reading, or throws naming the cause.
FILE* open_for_reading(const std::string& path) {
  struct stat st {};
  VDSR_USER_CHECK(::stat(path.c_str(), &st) == 0,
             "cannot read image '" << path << "': " << std::strerror(errno));
  VDSR_USER_CHECK(!S_ISDIR(st.st_mode), "cannot read image '" << path << "': it is a folder");
  VDSR_USER_CHECK(S_ISREG(st.st_mode), "cannot read image '" << path << "': not a regular file");
  VDSR_USER_CHECK(st.st_size > 0, "cannot read image '" << path << "': the file is empty");
  FILE* f = std::fopen(path.c_str(), "rb");
  VDSR_USER_CHECK(f != nullptr, "cannot read image '" << path << "': " << std::strerror(errno));
  return f;
}

const char* stb_reason() {
  const char* r = stbi_failure_reason();
  return r != nullptr ? r : "unknown error";
}

uint32_t be32(const unsigned char* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// PNG header: signature, IHDR, then the chunks before the first IDAT (only tRNS matters here).
ImageInfo probe_png(FILE* f, const std::string& path) {
  unsigned char h[33];
  VDSR_USER_CHECK(std::fread(h, 1, sizeof h, f) == sizeof h,
             "cannot read image '" << path << "': truncated PNG header");
  VDSR_USER_CHECK(be32(h + 8) == 13 && std::memcmp(h + 12, "IHDR", 4) == 0,
             "cannot read image '" << path << "': corrupt PNG (first chunk is not a valid IHDR)");
  const uint32_t w = be32(h + 16), ht = be32(h + 20);
  const int depth = h[24], color = h[25];
  VDSR_USER_CHECK(w > 0 && ht > 0 && w <= uint32_t(INT_MAX) && ht <= uint32_t(INT_MAX),
             "cannot read image '" << path << "': corrupt PNG (size " << w << "x" << ht << ")");
  const bool depth_ok =
      (color == 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) ||
      (color == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
      ((color == 2 || color == 4 || color == 6) && (depth == 8 || depth == 16));
  VDSR_USER_CHECK(depth_ok, "cannot read image '" << path << "': corrupt PNG (colour type " << color
                                              << " with bit depth " << depth << ")");
  VDSR_USER_CHECK(h[26] == 0 && h[27] == 0 && h[28] <= 1,
             "cannot read image '" << path << "': corrupt PNG (unknown compression, filter or "
                                      "interlace method)");
  bool trns = false, idat = false;
  for (;;) {  // after IHDR's CRC
    unsigned char c[8];
    if (std::fread(c, 1, sizeof c, f) != sizeof c) break;
    const uint32_t len = be32(c);
    VDSR_USER_CHECK(len <= 0x7fffffffu, "cannot read image '" << path << "': corrupt PNG (chunk length)");
    if (std::memcmp(c + 4, "IDAT", 4) == 0) {
      idat = true;
      break;
    }
    if (std::memcmp(c + 4, "IEND", 4) == 0) break;
    if (std::memcmp(c + 4, "tRNS", 4) == 0) trns = true;
    if (std::fseek(f, long(len) + 4, SEEK_CUR) != 0) break;
  }
  VDSR_USER_CHECK(idat, "cannot read image '" << path << "': truncated or corrupt PNG (no image data)");
  ImageInfo info;
  info.width = int(w);
  info.height = int(ht);
  info.bits = depth == 16 ? 16 : 8;
  info.format = "png";
  switch (color) {
    case 0: info.channels = trns ? 2 : 1; break;
    case 2: info.channels = trns ? 4 : 3; break;
    case 3: info.channels = trns ? 4 : 3; break;  // palette, expanded on load
    case 4: info.channels = 2; break;
    default: info.channels = 4; break;
  }
  return info;
}

uint32_t le16(const unsigned char* p) { return uint32_t(p[0]) | (uint32_t(p[1]) << 8); }
uint32_t le32(const unsigned char* p) { return le16(p) | (le16(p + 2) << 16); }

// stb_image reads past the end of an uncompressed BMP or TGA as zeros; a file shorter than its
// header says is truncated. (Compressed ones are left to the decoder.)
void check_uncompressed_size(FILE* f, const std::string& path, const std::string& format, int w,
                             int h) {
  unsigned char b[34] = {};
  const size_t n = std::fread(b, 1, sizeof b, f);
  VDSR_USER_CHECK(std::fseek(f, 0, SEEK_END) == 0,
             "cannot read image '" << path << "': " << std::strerror(errno));
  const int64_t size = std::ftell(f);
  VDSR_USER_CHECK(size >= 0 && std::fseek(f, 0, SEEK_SET) == 0,
             "cannot read image '" << path << "': " << std::strerror(errno));
  int64_t need = 0;
  if (format == "bmp" && n >= 30) {
    const uint32_t header = le32(b + 14);
    const int64_t bpp = header == 12 ? le16(b + 24) : le16(b + 28);
    const uint32_t compression = header == 12 || n < 34 ? 0 : le32(b + 30);
    if (compression == 0 || compression == 3 || compression == 6)  // BI_RGB, (ALPHA)BITFIELDS
      need = int64_t(le32(b + 10)) + (int64_t(w) * bpp + 31) / 32 * 4 * h;
  } else if (format == "tga" && n >= 18 && b[2] >= 1 && b[2] <= 3) {  // uncompressed types
    const int64_t colormap = b[1] ? int64_t(le16(b + 5)) * ((b[7] + 7) / 8) : 0;
    need = 18 + b[0] + colormap + int64_t(w) * h * ((b[16] + 7) / 8);
  }
  VDSR_USER_CHECK(size >= need, "cannot read image '" << path << "': truncated " << format << " (the file has "
                                                 << size << " bytes, its header needs " << need << ")");
}

// stb_image (Debian's 2022-09 copy) builds a Huffman table from a DHT segment's 16 code counts
// without checking that they sum to at most 256, and writes one byte per code into a 257-byte
// array: a larger sum overwrites the rest of its decoder state (found by fuzzing, see
// docs/fuzzing.md). Every DHT that stb could reach is checked here first: segments are followed by
// their lengths, entropy-coded data is skipped up to the next marker (FF not followed by 00, FF or
// RSTn), and bytes between segments are skipped up to an FF as stb does before the frame header.
// Returns whether stb takes the file for a JPEG at all: SOI after any number of FF bytes, which is
// looser than our FF D8 FF signature (a fuzzed "FF FF D8 ..." named .tga reached stb's JPEG decoder
// unchecked).
bool stb_sees_jpeg_checked(FILE* f, const std::string& path) {
  std::vector<unsigned char> p;
  unsigned char buf[65536];
  for (size_t got; (got = std::fread(buf, 1, sizeof buf, f)) > 0;)
    p.insert(p.end(), buf, buf + got);
  VDSR_USER_CHECK(std::fseek(f, 0, SEEK_SET) == 0,
             "cannot read image '" << path << "': " << std::strerror(errno));
  const size_t n = p.size();
  size_t pos = 0;
  while (pos < n && p[pos] == 0xff) ++pos;
  if (pos == 0 || pos >= n || p[pos] != 0xd8) return false;
  ++pos;  // after SOI
  while (pos < n) {
    while (pos < n && p[pos] != 0xff) ++pos;
    while (pos < n && p[pos] == 0xff) ++pos;
    if (pos >= n) break;
    const unsigned m = p[pos++];
    if (m == 0xd9) break;                                      // EOI: stb stops here
    if (m == 0x00 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) continue;  // no length field
    if (pos + 2 > n) break;
    const size_t len = (size_t(p[pos]) << 8) | p[pos + 1];
    const size_t end = std::min(n, pos + std::max<size_t>(len, 2));
    if (m == 0xc4) {
      for (size_t i = pos + 2; i < end;) {  // tables: class/id byte, 16 counts, the values
        size_t codes = 0;
        for (size_t k = 0; k < 16 && i + 1 + k < n; ++k) codes += p[i + 1 + k];
        VDSR_USER_CHECK(codes <= 256, "cannot read image '" << path << "': corrupt jpeg (a Huffman "
                                 "table defines " << codes << " codes, at most 256)");
        i += 17 + codes;
      }
    }
    pos = end;
    if (m == 0xda) {  // scan: entropy-coded data up to the next marker
      while (pos < n) {
        if (p[pos] != 0xff) {
          ++pos;
          continue;
        }
        size_t q = pos + 1;
        while (q < n && p[q] == 0xff) ++q;
        if (q < n && (p[q] == 0x00 || (p[q] >= 0xd0 && p[q] <= 0xd7))) {
          pos = q + 1;
          continue;
        }
        break;  // a marker (or the end): the outer loop reads it
      }
    }
  }
  return true;
}

ImageInfo probe_open(FILE* f, const std::string& path) {
  unsigned char sig[8] = {};
  const size_t n = std::fread(sig, 1, sizeof sig, f);
  VDSR_USER_CHECK(std::fseek(f, 0, SEEK_SET) == 0,
             "cannot read image '" << path << "': " << std::strerror(errno));
  static const unsigned char kPng[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::string format;
  if (n >= 8 && std::memcmp(sig, kPng, 8) == 0) {
    return probe_png(f, path);
  } else if (n >= 1 && sig[0] == 0xff && stb_sees_jpeg_checked(f, path)) {
    format = "jpeg";
  } else if (n >= 2 && sig[0] == 'B' && sig[1] == 'M') {
    format = "bmp";
  } else if (extension_of(path) == "tga") {
    format = "tga";  // TGA has no signature: accepted only under its own name
  } else {
    VDSR_USER_FAIL("cannot read image '" << path
                                    << "': not a PNG, JPEG, BMP or TGA file (unknown signature)");
  }
  int w = 0, h = 0, c = 0;
  VDSR_USER_CHECK(stbi_info_from_file(f, &w, &h, &c) == 1,
             "cannot read image '" << path << "': bad or truncated " << format
                                   << " header (stb_image: " << stb_reason() << ")");
  // A top-down BMP stores its height negated and stbi_info passes it on as is (its decoder takes
  // abs(), undefined for INT_MIN, which the check below then rejects). Broke on: a valid 2x2
  // 32-bit top-down BMP (tests/fuzz/corpus/image/rgba32_v4.bmp) was refused as "2x-2".
  if (format == "bmp" && h < 0 && h != INT_MIN) h = -h;
  VDSR_USER_CHECK(w > 0 && h > 0 && c >= 1 && c <= 4,
             "cannot read image '" << path << "': invalid " << format << " header (" << w << "x" << h
                                   << ", " << c << " channels)");
  if (format == "bmp" || format == "tga") check_uncompressed_size(f, path, format, w, h);
  ImageInfo info;
  info.width = w;
  info.height = h;
  info.channels = c;
  info.bits = 8;
  info.format = format;
  return info;
}

// ---- JPEG EXIF orientation ----

// The orientation tag in an APP1 payload: "Exif\0\0", then a TIFF header ("II*\0" little-endian
// or "MM\0*" big-endian, IFD0's offset), then IFD0: a count and 12-byte entries (tag, type, count,
// value). Every offset is checked against the payload's size.
int exif_orientation_of_app1(const unsigned char* p, size_t n) {
  if (n < 6 + 8 || std::memcmp(p, "Exif\0\0", 6) != 0) return 1;
  const unsigned char* t = p + 6;  // TIFF header; offsets count from here
  const size_t tn = n - 6;
  bool little = false;
  if (t[0] == 'I' && t[1] == 'I' && t[2] == 42 && t[3] == 0)
    little = true;
  else if (!(t[0] == 'M' && t[1] == 'M' && t[2] == 0 && t[3] == 42))
    return 1;
  auto u16 = [&](size_t off) {
    return little ? uint32_t(t[off]) | (uint32_t(t[off + 1]) << 8)
                  : (uint32_t(t[off]) << 8) | uint32_t(t[off + 1]);
  };
  auto u32 = [&](size_t off) {
    return little ? u16(off) | (u16(off + 2) << 16) : (u16(off) << 16) | u16(off + 2);
  };
  const size_t ifd = u32(4);
  if (ifd < 8 || ifd > tn || tn - ifd < 2) return 1;
  const size_t count = u16(ifd);
  for (size_t i = 0; i < count; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if (e > tn || tn - e < 12) return 1;
    if (u16(e) != 0x0112) continue;
    if (u16(e + 2) != 3 || u32(e + 4) != 1) return 1;  // SHORT, one value (in the value field)
    const uint32_t v = u16(e + 8);
    return v >= 1 && v <= 8 ? int(v) : 1;
  }
  return 1;
}

// ---- writing ----

struct Sink {
  AtomicFile* file = nullptr;
  std::exception_ptr error;  // the first write failure; later bytes are dropped
  void put(const void* data, size_t size) {
    if (error) return;
    try {
      file->write(data, size);
    } catch (...) {
      error = std::current_exception();
    }
  }
};

void stb_write_cb(void* ctx, void* data, int size) {
  static_cast<Sink*>(ctx)->put(data, size_t(size));
}

struct PngErr {
  char message[256] = {};
};

void png_write_cb(png_structp png, png_bytep data, size_t size) {
  static_cast<Sink*>(png_get_io_ptr(png))->put(data, size);
}
void png_flush_cb(png_structp) {}
[[noreturn]] void png_error_cb(png_structp png, png_const_charp msg) {
  auto* e = static_cast<PngErr*>(png_get_error_ptr(png));
  std::snprintf(e->message, sizeof e->message, "%s", msg != nullptr ? msg : "unknown error");
  png_longjmp(png, 1);
}
void png_warning_cb(png_structp, png_const_charp) {}

// libpng reports errors by longjmp to here; only trivially destructible objects live in this frame.
bool encode_png_libpng(png_structp png, png_infop info, const Image& img, int level,
                       unsigned char* row) {
  if (setjmp(png_jmpbuf(png))) return false;
  static const int kColor[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                PNG_COLOR_TYPE_RGB_ALPHA};
  png_set_IHDR(png, info, png_uint_32(img.width), png_uint_32(img.height), img.bits,
               kColor[img.channels], PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, level);
  png_write_info(png, info);
  const size_t row_values = size_t(img.width) * size_t(img.channels);
  for (int y = 0; y < img.height; ++y) {
    const uint16_t* src = img.pixels.data() + size_t(y) * row_values;
    if (img.bits == 16) {
      for (size_t i = 0; i < row_values; ++i) {  // PNG samples are big-endian
        row[2 * i] = static_cast<unsigned char>(src[i] >> 8);
        row[2 * i + 1] = static_cast<unsigned char>(src[i] & 0xff);
      }
    } else {
      for (size_t i = 0; i < row_values; ++i) row[i] = static_cast<unsigned char>(src[i]);
    }
    png_write_row(png, row);
  }
  png_write_end(png, nullptr);
  return true;
}

void write_png_libpng(const std::string& path, const Image& img, int level, AtomicFile& file) {
  Sink sink;
  sink.file = &file;
  PngErr err;
  std::vector<unsigned char> row(size_t(img.width) * size_t(img.channels) * size_t(img.bits / 8));
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &err, png_error_cb, png_warning_cb);
  VDSR_USER_CHECK(png != nullptr, "cannot write '" << path << "': libpng initialisation failed");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    VDSR_USER_FAIL("cannot write '" << path << "': libpng initialisation failed");
  }
  png_set_write_fn(png, &sink, png_write_cb, png_flush_cb);
  const bool ok = encode_png_libpng(png, info, img, level, row.data());
  png_destroy_write_struct(&png, &info);
  if (sink.error) std::rethrow_exception(sink.error);
  VDSR_USER_CHECK(ok, "cannot write '" << path << "': libpng: " << err.message);
}

}  // namespace

bool has_image_extension(const std::string& path) {
  const std::string e = extension_of(path);
  return e == "png" || e == "jpg" || e == "jpeg" || e == "bmp" || e == "tga";
}

ImageFormat parse_image_format(const std::string& name) {
  const std::string n = lower(name);
  if (n == "png") return ImageFormat::PNG;
  if (n == "jpg" || n == "jpeg") return ImageFormat::JPEG;
  if (n == "bmp") return ImageFormat::BMP;
  VDSR_USER_FAIL("unknown image format '" << name << "' (expected png, jpg or bmp)");
}

const char* image_format_extension(ImageFormat f) {
  switch (f) {
    case ImageFormat::PNG: return "png";
    case ImageFormat::JPEG: return "jpg";
    case ImageFormat::BMP: return "bmp";
  }
  return "png";
}

int jpeg_exif_orientation(const unsigned char* data, size_t size) {
  if (data == nullptr || size < 4 || data[0] != 0xff || data[1] != 0xd8) return 1;
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xff) return 1;  // not at a marker: malformed
    const unsigned char marker = data[pos + 1];
    if (marker == 0xff) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xda || marker == 0xd9) return 1;  // image data or end: no Exif before it
    if ((marker >= 0xd0 && marker <= 0xd7) || marker == 0x01) {  // no length
      pos += 2;
      continue;
    }
    const size_t len = (size_t(data[pos + 2]) << 8) | data[pos + 3];  // includes its own 2 bytes
    if (len < 2 || len > size - pos - 2) return 1;
    // The first Exif segment decides; other APP1 segments (XMP) are passed over.
    if (marker == 0xe1 && len - 2 >= 6 && std::memcmp(data + pos + 4, "Exif\0\0", 6) == 0)
      return exif_orientation_of_app1(data + pos + 4, len - 2);
    pos += 2 + len;
  }
  return 1;
}

Image apply_exif_orientation(const Image& img, int orientation) {
  if (orientation < 2 || orientation > 8) return img;
  const bool swap = orientation >= 5;
  Image out;
  out.width = swap ? img.height : img.width;
  out.height = swap ? img.width : img.height;
  out.channels = img.channels;
  out.bits = img.bits;
  out.pixels = img.pixels;  // the size; every value is overwritten
  const int W = img.width, H = img.height, C = img.channels;
  for (int r = 0; r < out.height; ++r) {
    for (int c = 0; c < out.width; ++c) {
      int sy = r, sx = c;  // the source pixel of output (r, c)
      switch (orientation) {
        case 2: sx = W - 1 - c; break;
        case 3: sy = H - 1 - r; sx = W - 1 - c; break;
        case 4: sy = H - 1 - r; break;
        case 5: sy = c; sx = r; break;
        case 6: sy = H - 1 - c; sx = r; break;
        case 7: sy = H - 1 - c; sx = W - 1 - r; break;
        default: sy = c; sx = W - 1 - r; break;  // 8
      }
      const uint16_t* s = img.pixels.data() + (size_t(sy) * size_t(W) + size_t(sx)) * size_t(C);
      uint16_t* d = out.pixels.data() + (size_t(r) * size_t(out.width) + size_t(c)) * size_t(C);
      for (int k = 0; k < C; ++k) d[k] = s[k];
    }
  }
  return out;
}

ImageInfo probe_image(const std::string& path) {
  FileCloser f{open_for_reading(path)};
  return probe_open(f.f, path);
}

Image load_image(const std::string& path, const ImageLimits& limits) {
  FileCloser f{open_for_reading(path)};
  const ImageInfo info = probe_open(f.f, path);
  VDSR_USER_CHECK(info.width <= limits.max_side && info.height <= limits.max_side &&
                 int64_t(info.width) * info.height <= limits.max_pixels,
             "cannot read image '" << path << "': its size " << info.width << "x" << info.height
                                   << " exceeds the limits (at most " << limits.max_side
                                   << " pixels a side and " << limits.max_pixels
                                   << " pixels in all)");
  VDSR_USER_CHECK(std::fseek(f.f, 0, SEEK_SET) == 0,
             "cannot read image '" << path << "': " << std::strerror(errno));
  int w = 0, h = 0, file_channels = 0;
  const int c = info.channels;  // asked for explicitly: stb's own count ignores tRNS
  void* data = info.bits == 16 ? static_cast<void*>(stbi_load_from_file_16(f.f, &w, &h, &file_channels, c))
                               : static_cast<void*>(stbi_load_from_file(f.f, &w, &h, &file_channels, c));
  VDSR_USER_CHECK(data != nullptr, "cannot decode image '" << path << "': corrupt or truncated "
                                                      << info.format << " (stb_image: "
                                                      << stb_reason() << ")");
  const std::unique_ptr<void, void (*)(void*)> owner(data, stbi_image_free);
  VDSR_USER_CHECK(w == info.width && h == info.height,
             "cannot decode image '" << path << "': decoded size " << w << "x" << h
                                     << " differs from the header's " << info.width << "x"
                                     << info.height);
  Image img;
  const size_t n = size_t(w) * size_t(h) * size_t(c);
  if (info.bits == 16) {
    const auto* p = static_cast<const stbi_us*>(data);
    img.pixels.assign(p, p + n);
  } else {
    const auto* p = static_cast<const stbi_uc*>(data);
    img.pixels.assign(p, p + n);
  }
  img.width = w;
  img.height = h;
  img.channels = c;
  img.bits = info.bits;
  if (info.format == "jpeg") {
    // The Exif segment sits among the first segments; 1 MiB covers it (see image_io.h).
    std::vector<unsigned char> head(1 << 20);
    if (std::fseek(f.f, 0, SEEK_SET) == 0) {
      head.resize(std::fread(head.data(), 1, head.size(), f.f));
      const int orientation = jpeg_exif_orientation(head.data(), head.size());
      if (orientation != 1) img = apply_exif_orientation(img, orientation);
    }
  }
  return img;
}

void save_image(const std::string& path, const Image& img, ImageFormat format,
                const SaveOptions& opts) {
  VDSR_CHECK(img.width > 0 && img.height > 0 && img.channels >= 1 && img.channels <= 4 &&
                 (img.bits == 8 || img.bits == 16) &&
                 img.pixels.size() == size_t(img.width) * size_t(img.height) * size_t(img.channels),
             "cannot write '" << path << "': invalid image (" << img.width << "x" << img.height
                              << ", " << img.channels << " channels, " << img.bits << " bits, "
                              << img.pixels.size() << " values)");
  if (img.bits == 8) {
    VDSR_CHECK(std::all_of(img.pixels.begin(), img.pixels.end(), [](uint16_t v) { return v <= 255; }),
               "cannot write '" << path << "': an 8-bit image holds values above 255");
  }
  VDSR_USER_CHECK(img.bits == 8 || format == ImageFormat::PNG,
             "cannot write '" << path << "': 16-bit images can only be saved as PNG");
  VDSR_USER_CHECK(opts.png_level >= 0 && opts.png_level <= 9,
             "cannot write '" << path << "': PNG level " << opts.png_level << " is not in 0..9");
  VDSR_USER_CHECK(opts.jpeg_quality >= 1 && opts.jpeg_quality <= 100,
             "cannot write '" << path << "': JPEG quality " << opts.jpeg_quality
                              << " is not in 1..100");
  // stb_image_write counts bytes in int.
  const bool fits_stb = int64_t(img.width) * img.height * 4 + img.height < int64_t(INT_MAX) / 2;

  if (img.bits == 16 || (format == ImageFormat::PNG && !fits_stb)) {
    AtomicFile file(path);
    write_png_libpng(path, img, opts.png_level, file);
    file.commit();
    return;
  }
  VDSR_USER_CHECK(fits_stb, "cannot write '" << path << "': " << img.width << "x" << img.height
                                        << " is too large for the " << image_format_extension(format)
                                        << " writer");

  // 8-bit samples in the layout the encoder gets.
  int out_c = img.channels;
  if (format == ImageFormat::JPEG && (out_c == 2 || out_c == 4)) out_c -= 1;  // JPEG: no alpha
  if (format == ImageFormat::BMP && out_c == 2) out_c = 4;  // BMP: grey+alpha as RGBA
  const size_t npx = size_t(img.width) * size_t(img.height);
  std::vector<unsigned char> data(npx * size_t(out_c));
  for (size_t i = 0; i < npx; ++i) {
    const uint16_t* s = img.pixels.data() + i * size_t(img.channels);
    unsigned char* d = data.data() + i * size_t(out_c);
    if (out_c == img.channels) {
      for (int k = 0; k < out_c; ++k) d[k] = static_cast<unsigned char>(s[k]);
    } else if (img.channels == 2 && out_c == 4) {
      d[0] = d[1] = d[2] = static_cast<unsigned char>(s[0]);
      d[3] = static_cast<unsigned char>(s[1]);
    } else {  // alpha dropped
      for (int k = 0; k < out_c; ++k) d[k] = static_cast<unsigned char>(s[k]);
    }
  }

  AtomicFile file(path);
  Sink sink;
  sink.file = &file;
  int ok = 0;
  switch (format) {
    case ImageFormat::PNG:
      ok = stbi_write_png_to_func(stb_write_cb, &sink, img.width, img.height, out_c, data.data(),
                                  img.width * out_c);
      break;
    case ImageFormat::JPEG:
      ok = stbi_write_jpg_to_func(stb_write_cb, &sink, img.width, img.height, out_c, data.data(),
                                  opts.jpeg_quality);
      break;
    case ImageFormat::BMP:
      ok = stbi_write_bmp_to_func(stb_write_cb, &sink, img.width, img.height, out_c, data.data());
      break;
  }
  if (sink.error) std::rethrow_exception(sink.error);
  VDSR_USER_CHECK(ok != 0, "cannot write '" << path << "': the " << image_format_extension(format)
                                       << " encoder failed (out of memory?)");
  file.commit();
}

}  // namespace vdsr
