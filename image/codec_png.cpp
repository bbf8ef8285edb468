// PNG through libpng. The header is parsed here first (IHDR, then the chunks before the first IDAT,
// for tRNS), so that an absurd size meets our limits before libpng allocates anything; libpng then
// decodes with the transformations that give the probed layout: palette to RGB, tRNS to alpha, grey
// below 8 bits scaled to 8, 16-bit samples to host order. iCCP and eXIf are kept. libpng reports
// errors by longjmp: the functions that call it keep only trivially destructible objects in their
// frames and hand C++ results out through pointers.
#include <png.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engine/error.h"
#include "image/codec.h"

namespace vdsr::codec {

namespace {

struct PngContext {
  Bytes in;
  size_t pos = 0;
  std::vector<unsigned char>* out = nullptr;
  char message[256] = {};
};

[[noreturn]] void on_error(png_structp png, png_const_charp msg) {
  auto* c = static_cast<PngContext*>(png_get_error_ptr(png));
  std::snprintf(c->message, sizeof c->message, "%s", msg != nullptr ? msg : "unknown error");
  png_longjmp(png, 1);
}
void on_warning(png_structp, png_const_charp) {}

void read_cb(png_structp png, png_bytep data, size_t size) {
  auto* c = static_cast<PngContext*>(png_get_io_ptr(png));
  if (size > c->in.size - c->pos) png_error(png, "the file ends inside the image data");
  std::memcpy(data, c->in.data + c->pos, size);
  c->pos += size;
}
void write_cb(png_structp png, png_bytep data, size_t size) {
  auto* c = static_cast<PngContext*>(png_get_io_ptr(png));
  bool grown = true;
  try {
    c->out->insert(c->out->end(), data, data + size);
  } catch (const std::bad_alloc&) {
    grown = false;
  }
  if (!grown) png_error(png, "out of memory for the encoded file");  // outside the handler
}
void flush_cb(png_structp) {}

bool sniff(Bytes b, const std::string&) {
  static const unsigned char kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  return b.size >= 8 && std::memcmp(b.data, kSig, 8) == 0;
}

ImageInfo probe(Bytes b, const std::string& path) {
  if (b.size < 33) fail_read(path, "truncated PNG header");
  const unsigned char* h = b.data;
  if (!(be32(h + 8) == 13 && std::memcmp(h + 12, "IHDR", 4) == 0))
    fail_read(path, "corrupt PNG (first chunk is not a valid IHDR)");
  const uint32_t w = be32(h + 16), ht = be32(h + 20);
  const int depth = h[24], color = h[25];
  if (!(w > 0 && ht > 0 && w <= uint32_t(INT_MAX) && ht <= uint32_t(INT_MAX)))
    fail_read(path, "corrupt PNG (size " + std::to_string(w) + "x" + std::to_string(ht) + ")");
  const bool depth_ok =
      (color == 0 && (depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16)) ||
      (color == 3 && (depth == 1 || depth == 2 || depth == 4 || depth == 8)) ||
      ((color == 2 || color == 4 || color == 6) && (depth == 8 || depth == 16));
  if (!depth_ok)
    fail_read(path, "corrupt PNG (colour type " + std::to_string(color) + " with bit depth " +
                        std::to_string(depth) + ")");
  if (!(h[26] == 0 && h[27] == 0 && h[28] <= 1))
    fail_read(path, "corrupt PNG (unknown compression, filter or interlace method)");
  bool trns = false, idat = false;
  for (size_t pos = 33; pos + 8 <= b.size;) {  // after IHDR's CRC
    const uint32_t len = be32(b.data + pos);
    if (len > 0x7fffffffu) fail_read(path, "corrupt PNG (chunk length)");
    const unsigned char* type = b.data + pos + 4;
    if (std::memcmp(type, "IDAT", 4) == 0) {
      idat = true;
      break;
    }
    if (std::memcmp(type, "IEND", 4) == 0) break;
    if (std::memcmp(type, "tRNS", 4) == 0) trns = true;
    pos += 12 + size_t(len);
  }
  if (!idat) fail_read(path, "truncated or corrupt PNG (no image data)");
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

// Decodes into img->pixels (sized by the caller); false with ctx->message set on an error.
bool decode_libpng(png_structp png, png_infop pinfo, const ImageInfo* info, Image* img, unsigned char* row) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, pinfo);
  png_set_expand(png);  // palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha
  if (info->bits == 16) png_set_swap(png);  // big-endian samples -> host order (little-endian)
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, pinfo);
  if (int(png_get_channels(png, pinfo)) != info->channels || int(png_get_bit_depth(png, pinfo)) != info->bits ||
      png_get_rowbytes(png, pinfo) != size_t(info->width) * size_t(info->channels) * size_t(info->bits / 8))
    png_error(png, "the decoded layout differs from the header's");
  const size_t values = size_t(info->width) * size_t(info->channels);
  const size_t row_bytes = values * size_t(info->bits / 8);
  for (int pass = 0; pass < passes; ++pass) {
    for (int y = 0; y < info->height; ++y) {
      uint16_t* dst = img->pixels.data() + size_t(y) * values;
      if (pass > 0) {  // interlaced: libpng combines into the row as it stands
        if (info->bits == 16) std::memcpy(row, dst, row_bytes);
        else for (size_t i = 0; i < values; ++i) row[i] = static_cast<unsigned char>(dst[i]);
      }
      png_read_row(png, row, nullptr);
      if (info->bits == 16) std::memcpy(dst, row, row_bytes);
      else for (size_t i = 0; i < values; ++i) dst[i] = row[i];
    }
  }
  png_read_end(png, pinfo);
  png_charp name = nullptr;
  int compression = 0;
  png_bytep profile = nullptr;
  png_uint_32 profile_len = 0;
  if (png_get_iCCP(png, pinfo, &name, &compression, &profile, &profile_len) != 0 && profile != nullptr)
    img->icc.assign(profile, profile + profile_len);
  png_bytep exif = nullptr;
  png_uint_32 exif_len = 0;
  if (png_get_eXIf_1(png, pinfo, &exif_len, &exif) != 0 && exif != nullptr)
    img->exif = exif_from_chunk(exif, exif_len);
  return true;
}

// libpng discards an eXIf chunk that starts with JPEG's "Exif\0\0" (it wants the TIFF header's II
// or MM), which some writers put there: such a chunk is taken from the file's bytes instead.
std::vector<unsigned char> prefixed_exif(Bytes b) {
  for (size_t at = 8; at + 12 <= b.size;) {
    const uint32_t len = be32(b.data + at);
    if (len > b.size - at - 12 || std::memcmp(b.data + at + 4, "IEND", 4) == 0) break;
    // Its CRC checked as libpng checks an ancillary chunk's (a bad one is dropped).
    if (std::memcmp(b.data + at + 4, "eXIf", 4) == 0 && len > 6 &&
        std::memcmp(b.data + at + 8, "Exif\0\0", 6) == 0 &&
        crc32(0, b.data + at + 4, uInt(len) + 4) == be32(b.data + at + 8 + len))
      return exif_from_chunk(b.data + at + 8, len);
    at += 12 + size_t(len);
  }
  return {};
}

// Deflate packs at most 1032 bytes into one (a 258-byte match in two 1-bit codes), so a file
// smaller than its filtered rows / 1032 cannot hold them. Checked before decode sets aside memory
// for the pixels (up to 1.5 GB within the limits) that such data cannot fill; after the probe, so
// that a header over the limits is reported as that. The header was checked by probe.
void check_data_can_fill(Bytes b, const std::string& path) {
  const unsigned char* h = b.data;
  const uint32_t w = be32(h + 16), ht = be32(h + 20);
  const int depth = h[24], color = h[25];
  const int samples = color == 2 ? 3 : color == 4 ? 2 : color == 6 ? 4 : 1;
  const double filtered = double(ht) * (1.0 + std::ceil(double(w) * samples * depth / 8.0));
  if (filtered / 1032.0 > double(b.size))
    fail_read(path, "truncated or corrupt PNG (its header's " + std::to_string(w) + "x" +
                        std::to_string(ht) + " needs at least " +
                        std::to_string(uint64_t(std::ceil(filtered / 1032.0))) +
                        " bytes of compressed data; the file has " + std::to_string(b.size) + ")");
}

// The sRGB, gAMA and cHRM chunks as the file stores them, taken from its bytes: libpng's getters
// give its derived colour space instead (an sRGB chunk alone reads back with a gAMA and a cHRM).
// Well-formed chunks before the image data, CRC checked, the first of each type; whether libpng
// keeps each (its range and consistency checks, a duplicate) is decode's to apply.
PngColour colour_chunks(Bytes b) {
  PngColour c;
  for (size_t at = 8; at + 12 <= b.size;) {
    const uint32_t len = be32(b.data + at);
    const unsigned char* type = b.data + at + 4;
    const unsigned char* data = b.data + at + 8;
    if (len > b.size - at - 12 || std::memcmp(type, "IDAT", 4) == 0 ||
        std::memcmp(type, "IEND", 4) == 0)
      break;
    if (crc32(0, type, uInt(len) + 4) == be32(data + len)) {
      if (std::memcmp(type, "sRGB", 4) == 0 && len == 1 && data[0] <= 3 && c.srgb_intent < 0)
        c.srgb_intent = data[0];
      if (std::memcmp(type, "gAMA", 4) == 0 && len == 4 && c.gamma == 0) c.gamma = be32(data);
      if (std::memcmp(type, "cHRM", 4) == 0 && len == 32 && c.chrm == std::array<uint32_t, 8>{})
        for (size_t i = 0; i < 8; ++i) c.chrm[i] = be32(data + 4 * i);
    }
    at += 12 + size_t(len);
  }
  return c;
}

// The chunks that write `c` back, type and data (no length or CRC), in the order read.
std::vector<std::pair<const char*, std::vector<unsigned char>>> colour_chunk_data(
    const PngColour& c) {
  std::vector<std::pair<const char*, std::vector<unsigned char>>> out;
  auto be = [](std::vector<unsigned char>& d, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8)
      d.push_back(static_cast<unsigned char>(v >> shift));
  };
  if (c.srgb_intent >= 0) out.push_back({"sRGB", {static_cast<unsigned char>(c.srgb_intent)}});
  if (c.gamma > 0) {
    out.push_back({"gAMA", {}});
    be(out.back().second, c.gamma);
  }
  if (c.chrm != std::array<uint32_t, 8>{}) {
    out.push_back({"cHRM", {}});
    for (const uint32_t v : c.chrm) be(out.back().second, v);
  }
  return out;
}

Image decode(Bytes b, const std::string& path, const ImageInfo& info, int& orientation) {
  check_data_can_fill(b, path);
  Image img = blank_image(info.width, info.height, info.channels, info.bits);
  std::vector<unsigned char> row(size_t(info.width) * size_t(info.channels) * size_t(info.bits / 8));
  PngContext ctx;
  ctx.in = b;
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  VDSR_CHECK(png != nullptr, "libpng initialisation failed");
  png_infop pinfo = png_create_info_struct(png);
  if (pinfo == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    VDSR_FAIL("libpng initialisation failed");
  }
  png_set_read_fn(png, &ctx, read_cb);
  // Our limits were checked on the header; libpng's own (1e6 a side by default) would refuse more.
  png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
  png_set_crc_action(png, PNG_CRC_DEFAULT, PNG_CRC_WARN_DISCARD);
  const bool ok = decode_libpng(png, pinfo, &info, &img, row.data());
  // Which colour chunks libpng kept (a gAMA out of its range, chromaticities it finds invalid or
  // degenerate, a duplicate: dropped); a viewer built on it sees only these.
  const bool kept_srgb = ok && png_get_valid(png, pinfo, PNG_INFO_sRGB) != 0;
  const bool kept_gamma = ok && png_get_valid(png, pinfo, PNG_INFO_gAMA) != 0;
  const bool kept_chrm = ok && png_get_valid(png, pinfo, PNG_INFO_cHRM) != 0;
  png_destroy_read_struct(&png, &pinfo, nullptr);
  VDSR_USER_CHECK(ok, "cannot decode image '" << path << "': corrupt or truncated png (libpng: " << ctx.message << ")");
  if (img.exif.empty()) img.exif = prefixed_exif(b);
  img.png_colour = colour_chunks(b);
  if (!kept_srgb) img.png_colour.srgb_intent = -1;
  if (!kept_gamma) img.png_colour.gamma = 0;
  if (!kept_chrm) img.png_colour.chrm = {};
  orientation = exif_orientation(img.exif);
  return img;
}

// PNG's colour type of 1-4 channels.
constexpr int kPngColor[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                              PNG_COLOR_TYPE_RGB_ALPHA};

bool encode_libpng(png_structp png, png_infop pinfo, const Image* img, int level, unsigned char* row) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, pinfo, png_uint_32(img->width), png_uint_32(img->height), img->bits, kPngColor[img->channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, level);  // 0 or 2-9: zlib's search, libpng's filter trials
  // A profile libpng finds malformed (or not matching grey / colour) is dropped with a warning
  // instead of failing the write: the pixels are what the user asked for.
  png_set_benign_errors(png, 1);
  if (!img->icc.empty())
    png_set_iCCP(png, pinfo, "ICC profile", PNG_COMPRESSION_TYPE_BASE, img->icc.data(), png_uint_32(img->icc.size()));
  if (!img->exif.empty())
    png_set_eXIf_1(png, pinfo, png_uint_32(img->exif.size()), const_cast<png_bytep>(img->exif.data()));
  png_write_info(png, pinfo);
  // As stored, after the other header chunks and before the image data (where the format wants
  // them): through libpng's setters it would add the gAMA and cHRM an sRGB chunk implies.
  for (const auto& [type, data] : colour_chunk_data(img->png_colour))
    png_write_chunk(png, reinterpret_cast<png_const_bytep>(type), data.data(), data.size());
  const size_t values = size_t(img->width) * size_t(img->channels);
  for (int y = 0; y < img->height; ++y) {
    const uint16_t* src = img->pixels.data() + size_t(y) * values;
    if (img->bits == 16) {
      for (size_t i = 0; i < values; ++i) {  // PNG samples are big-endian
        row[2 * i] = static_cast<unsigned char>(src[i] >> 8);
        row[2 * i + 1] = static_cast<unsigned char>(src[i] & 0xff);
      }
    } else {
      for (size_t i = 0; i < values; ++i) row[i] = static_cast<unsigned char>(src[i]);
    }
    png_write_row(png, row);
  }
  png_write_end(png, nullptr);
  return true;
}

// ---- level 1, written without libpng --------------------------------------------------
// Level 1 (the default) writes every row Paeth-filtered and compressed with zlib's run-length
// matching (Z_RLE), as it had libpng do. libpng's row loop, a scalar Paeth filter with its
// bookkeeping, took a third of the encoder's time (perf, docs/perf.md "Image I/O per stage"), so
// this level writes the file itself: the filter is a branch-free loop the compiler vectorises
// (encoding, unlike decoding, reads raw samples only), and zlib compresses straight into IDAT
// chunks of at most 1 MiB. The chunks are libpng's: IHDR, iCCP (a profile libpng would keep), eXIf,
// then the input's sRGB, gAMA and cHRM as libpng's path writes them, IDAT, IEND.

void put_be32(std::vector<unsigned char>& out, uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)};
  out.insert(out.end(), b, b + 4);
}

// Length, type, data, and the CRC of type and data.
void put_chunk(std::vector<unsigned char>& out, const char* type, const unsigned char* data, size_t n) {
  put_be32(out, static_cast<uint32_t>(n));
  const size_t start = out.size();
  out.insert(out.end(), type, type + 4);
  if (n > 0) out.insert(out.end(), data, data + n);
  put_be32(out, static_cast<uint32_t>(crc32(0, out.data() + start, static_cast<uInt>(4 + n))));
}

// The Paeth residuals of a row of n bytes, bpp bytes a pixel, against the row above (zeros above
// the first). For the first pixel (left and upper-left 0) Paeth predicts the byte above.
void paeth_row(const unsigned char* cur, const unsigned char* up, size_t n, size_t bpp, unsigned char* out) {
  const size_t first = std::min(bpp, n);
  for (size_t x = 0; x < first; ++x) out[x] = static_cast<unsigned char>(cur[x] - up[x]);
  for (size_t x = bpp; x < n; ++x) {
    const int a = cur[x - bpp], b = up[x], c = up[x - bpp];
    const int pa = std::abs(b - c), pb = std::abs(a - c), pc = std::abs(a + b - 2 * c);
    const int pred = (pa <= pb && pa <= pc) ? a : (pb <= pc ? b : c);
    out[x] = static_cast<unsigned char>(cur[x] - pred);
  }
}

// Whether libpng keeps this profile for this image (it checks the header, the tag table and the
// colour space against the colour type, and drops what fails), asked of libpng itself.
bool check_icc(png_structp png, png_infop pinfo, const Image* img, bool* kept) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, pinfo, png_uint_32(img->width), png_uint_32(img->height), img->bits, kPngColor[img->channels],
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_benign_errors(png, 1);
  png_set_iCCP(png, pinfo, "ICC profile", PNG_COMPRESSION_TYPE_BASE, img->icc.data(), png_uint_32(img->icc.size()));
  *kept = png_get_valid(png, pinfo, PNG_INFO_iCCP) != 0;
  return true;
}

bool libpng_keeps_icc(const Image& img) {
  PngContext ctx;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  VDSR_CHECK(png != nullptr, "libpng initialisation failed");
  png_infop pinfo = png_create_info_struct(png);
  bool kept = false;
  const bool ok = pinfo != nullptr && check_icc(png, pinfo, &img, &kept);
  png_destroy_write_struct(&png, pinfo != nullptr ? &pinfo : nullptr);
  return ok && kept;
}

std::vector<unsigned char> encode_level1(const Image& img) {
  static const unsigned char kSig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  std::vector<unsigned char> out(kSig, kSig + 8);
  const size_t sample = size_t(img.bits / 8), bpp = size_t(img.channels) * sample;
  const size_t values = size_t(img.width) * size_t(img.channels), row_bytes = values * sample;
  out.reserve(row_bytes * size_t(img.height) / 2 + 1024);
  std::vector<unsigned char> head;
  put_be32(head, uint32_t(img.width));
  put_be32(head, uint32_t(img.height));
  head.insert(head.end(), {static_cast<unsigned char>(img.bits), static_cast<unsigned char>(kPngColor[img.channels]), 0, 0, 0});
  put_chunk(out, "IHDR", head.data(), head.size());
  if (!img.icc.empty() && libpng_keeps_icc(img)) {
    static const char kName[] = "ICC profile";  // the name libpng writes; then its 0 and method 0
    std::vector<unsigned char> icc(kName, kName + sizeof kName);
    icc.push_back(0);
    uLongf n = compressBound(uLong(img.icc.size()));
    const size_t at = icc.size();
    icc.resize(at + n);
    VDSR_CHECK(compress2(icc.data() + at, &n, img.icc.data(), uLong(img.icc.size()), Z_DEFAULT_COMPRESSION) == Z_OK,
               "zlib failed to compress the colour profile");
    icc.resize(at + n);
    put_chunk(out, "iCCP", icc.data(), icc.size());
  }
  if (!img.exif.empty()) put_chunk(out, "eXIf", img.exif.data(), img.exif.size());
  for (const auto& [type, data] : colour_chunk_data(img.png_colour))
    put_chunk(out, type, data.data(), data.size());

  z_stream zs{};
  VDSR_CHECK(deflateInit2(&zs, 1, Z_DEFLATED, 15, 8, Z_RLE) == Z_OK, "zlib initialisation failed");
  struct End {
    z_stream& z;
    ~End() { deflateEnd(&z); }
  } end{zs};
  constexpr size_t kIdat = size_t(1) << 20;
  std::vector<unsigned char> zbuf(kIdat), rows(2 * row_bytes), filtered(1 + row_bytes);
  std::fill(rows.begin() + std::ptrdiff_t(row_bytes), rows.end(), 0);  // the row above the first
  zs.next_out = zbuf.data();
  zs.avail_out = uInt(kIdat);
  const auto flush_idat = [&] {
    put_chunk(out, "IDAT", zbuf.data(), kIdat - zs.avail_out);
    zs.next_out = zbuf.data();
    zs.avail_out = uInt(kIdat);
  };
  for (int y = 0; y < img.height; ++y) {
    unsigned char* cur = rows.data() + (y % 2 == 0 ? 0 : row_bytes);
    const unsigned char* up = rows.data() + (y % 2 == 0 ? row_bytes : 0);
    const uint16_t* src = img.pixels.data() + size_t(y) * values;
    if (img.bits == 16) {
      for (size_t i = 0; i < values; ++i) {  // PNG samples are big-endian
        cur[2 * i] = static_cast<unsigned char>(src[i] >> 8);
        cur[2 * i + 1] = static_cast<unsigned char>(src[i] & 0xff);
      }
    } else {
      for (size_t i = 0; i < values; ++i) cur[i] = static_cast<unsigned char>(src[i]);
    }
    filtered[0] = 4;  // Paeth
    paeth_row(cur, up, row_bytes, bpp, filtered.data() + 1);
    const bool last = y + 1 == img.height;
    zs.next_in = filtered.data();
    zs.avail_in = uInt(filtered.size());
    for (;;) {
      const int r = deflate(&zs, last ? Z_FINISH : Z_NO_FLUSH);
      VDSR_CHECK(r == Z_OK || r == Z_STREAM_END || r == Z_BUF_ERROR, "zlib failed while compressing (" << r << ")");
      if (zs.avail_out == 0) flush_idat();
      if (last ? r == Z_STREAM_END : zs.avail_in == 0) break;
    }
  }
  if (zs.avail_out < kIdat) flush_idat();
  put_chunk(out, "IEND", nullptr, 0);
  return out;
}

std::vector<unsigned char> encode(const Image& img, const SaveOptions& o, const std::string& path) {
  if (o.png_level == 1) return encode_level1(img);
  std::vector<unsigned char> out;
  out.reserve(size_t(img.width) * size_t(img.height) * size_t(img.channels) / 2 + 1024);
  std::vector<unsigned char> row(size_t(img.width) * size_t(img.channels) * size_t(img.bits / 8));
  PngContext ctx;
  ctx.out = &out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
  VDSR_CHECK(png != nullptr, "libpng initialisation failed");
  png_infop pinfo = png_create_info_struct(png);
  if (pinfo == nullptr) {
    png_destroy_write_struct(&png, nullptr);
    VDSR_FAIL("libpng initialisation failed");
  }
  png_set_write_fn(png, &ctx, write_cb, flush_cb);
  const bool ok = encode_libpng(png, pinfo, &img, o.png_level, row.data());
  png_destroy_write_struct(&png, &pinfo);
  VDSR_USER_CHECK(ok, "cannot write '" << path << "': libpng: " << ctx.message);
  return out;
}

}  // namespace

const Codec& png_codec() {
  static const Codec c{"png", "libpng " PNG_LIBPNG_VER_STRING, nullptr, sniff, probe, decode, encode};
  return c;
}

}  // namespace vdsr::codec
