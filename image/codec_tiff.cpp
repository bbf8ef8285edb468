// TIFF through libtiff (4.5 or later: per-handle error handlers and an allocation cap), on memory
// through libtiff's client I/O (the bytes handed out as the file's mapping, which libtiff's RGBA
// reader needs for small uncompressed tiles). The first image of the file is read. Grey (MinIsBlack
// or MinIsWhite) and RGB images of 8 or 16 bits, with or without one alpha sample, contiguous or
// planar, stripped or tiled, are read as they are, 16 bits kept; every other kind (palette, CMYK,
// YCbCr, 1, 2 and 4 bits) goes through libtiff's RGBA reader as 8-bit RGB or RGBA. Alpha comes out
// unassociated (straight): associated (premultiplied) samples are divided by it, and so is the RGBA
// reader's output for colour images, which it premultiplies. Floating-point and signed samples, and
// depths other than 1, 2, 4, 8 and 16 bits, are refused in words. The Orientation tag is reported
// for the caller to apply. Written: 8 or 16 bits as given, contiguous, Deflate with the horizontal
// predictor at SaveOptions::png_level (0: uncompressed), alpha as unassociated, the ICC profile in
// its tag when it fits the pixels (codec.h, fitting_profile).
#include "image/codec.h"

#include <cstring>

namespace vdsr::codec {
namespace {
bool sniff_tiff(Bytes b, const std::string&) {
  return b.size >= 4 && ((std::memcmp(b.data, "II*\0", 4) == 0) || (std::memcmp(b.data, "MM\0*", 4) == 0) ||
                         (std::memcmp(b.data, "II+\0", 4) == 0) || (std::memcmp(b.data, "MM\0+", 4) == 0));
}
}  // namespace
}  // namespace vdsr::codec

#if VDSR_HAVE_TIFF

#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <memory>
#include <new>

#include "engine/error.h"

namespace vdsr::codec {

namespace {

// One memory file: read from `in`, or written into `out` (grown as libtiff seeks and writes).
struct MemFile {
  Bytes in;
  std::vector<unsigned char>* out = nullptr;
  uint64_t pos = 0;
  char message[512] = {};
};

uint64_t file_size(const MemFile& m) { return m.out != nullptr ? m.out->size() : m.in.size; }

tmsize_t read_proc(thandle_t h, void* buf, tmsize_t n) {
  auto* m = static_cast<MemFile*>(h);
  const uint64_t size = file_size(*m);
  if (n <= 0 || m->pos >= size) return 0;
  const size_t k = size_t(std::min<uint64_t>(uint64_t(n), size - m->pos));
  std::memcpy(buf, (m->out != nullptr ? m->out->data() : m->in.data) + m->pos, k);
  m->pos += k;
  return tmsize_t(k);
}

tmsize_t write_proc(thandle_t h, void* buf, tmsize_t n) {
  auto* m = static_cast<MemFile*>(h);
  if (m->out == nullptr || n < 0) return -1;
  try {
    if (m->pos + uint64_t(n) > m->out->size()) m->out->resize(size_t(m->pos) + size_t(n));
  } catch (const std::bad_alloc&) {
    return -1;
  }
  std::memcpy(m->out->data() + m->pos, buf, size_t(n));
  m->pos += uint64_t(n);
  return n;
}

toff_t seek_proc(thandle_t h, toff_t off, int whence) {
  auto* m = static_cast<MemFile*>(h);
  uint64_t base = 0;
  if (whence == SEEK_CUR) base = m->pos;
  else if (whence == SEEK_END) base = file_size(*m);
  if (off > UINT64_MAX - base) return toff_t(-1);
  m->pos = base + off;
  return m->pos;
}

int close_proc(thandle_t) { return 0; }
toff_t size_proc(thandle_t h) { return file_size(*static_cast<MemFile*>(h)); }
// Reading, the whole file is already in memory: libtiff may read it in place (its RGBA reader
// fails on small uncompressed tiles without a mapping, libtiff 4.5: a tiled palette image, say).
// Writing maps nothing.
int map_proc(thandle_t h, void** base, toff_t* size) {
  auto* m = static_cast<MemFile*>(h);
  if (m->out != nullptr) return 0;
  *base = const_cast<unsigned char*>(m->in.data);
  *size = m->in.size;
  return 1;
}
void unmap_proc(thandle_t, void*, toff_t) {}

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* m = static_cast<MemFile*>(user);
  if (m->message[0] == '\0') {  // the first error is the cause; later ones follow from it
    int n = std::snprintf(m->message, sizeof m->message, "%s: ", module != nullptr ? module : "libtiff");
    if (n < 0 || size_t(n) >= sizeof m->message) n = 0;
    std::vsnprintf(m->message + n, sizeof m->message - size_t(n), fmt, ap);
  }
  return 1;
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }  // unknown tags and the like

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};
using TiffPtr = std::unique_ptr<TIFF, TiffCloser>;

TiffPtr open_tiff(MemFile& m, const char* mode) {
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  VDSR_CHECK(opts != nullptr, "libtiff: out of memory");
  TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &m);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &m);
  // One allocation of libtiff's own (a strip, a tag array) stays below 1 GiB, whatever a header says.
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, tmsize_t(1) << 30);
  TIFF* t = TIFFClientOpenExt("memory", mode, &m, read_proc, write_proc, seek_proc, close_proc, size_proc, map_proc,
                              unmap_proc, opts);
  TIFFOpenOptionsFree(opts);
  return TiffPtr(t);
}

std::string cause(const MemFile& m) { return m.message[0] != '\0' ? m.message : "libtiff gave no reason"; }

struct Layout {
  uint32_t width = 0, height = 0;
  uint16_t bits = 1, spp = 1, photometric = 0, planar = PLANARCONFIG_CONTIG, format = SAMPLEFORMAT_UINT;
  uint16_t extra = 0;  // extra samples (alpha and others)
  uint16_t extra_kind = EXTRASAMPLE_UNSPECIFIED;  // the first one's
  bool tiled = false;
  bool direct = false;  // read as stored; else through the RGBA reader
};

Layout layout_of(TIFF* t) {
  Layout l;
  TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &l.width);
  TIFFGetField(t, TIFFTAG_IMAGELENGTH, &l.height);
  TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &l.bits);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &l.spp);
  TIFFGetFieldDefaulted(t, TIFFTAG_PLANARCONFIG, &l.planar);
  TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &l.format);
  uint16_t* extra_types = nullptr;
  TIFFGetFieldDefaulted(t, TIFFTAG_EXTRASAMPLES, &l.extra, &extra_types);
  if (l.extra > 0 && extra_types != nullptr) l.extra_kind = extra_types[0];
  l.tiled = TIFFIsTiled(t) != 0;
  if (!TIFFGetField(t, TIFFTAG_PHOTOMETRIC, &l.photometric)) l.photometric = l.spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
  const bool grey = l.photometric == PHOTOMETRIC_MINISBLACK || l.photometric == PHOTOMETRIC_MINISWHITE;
  const bool rgb = l.photometric == PHOTOMETRIC_RGB;
  l.direct = (l.bits == 8 || l.bits == 16) &&
             (l.format == SAMPLEFORMAT_UINT || l.format == SAMPLEFORMAT_VOID) &&
             ((grey && (l.spp == 1 || (l.spp == 2 && l.extra == 1))) ||
              (rgb && (l.spp == 3 || (l.spp == 4 && l.extra == 1))));
  return l;
}

ImageInfo probe(Bytes b, const std::string& path) {
  MemFile m;
  m.in = b;
  const TiffPtr t = open_tiff(m, "r");
  if (!t) fail_read(path, "bad or truncated tiff header (" + cause(m) + ")");
  const Layout l = layout_of(t.get());
  if (l.width == 0 || l.height == 0 || l.width > 0x7fffffffu || l.height > 0x7fffffffu)
    fail_read(path, "invalid tiff header (" + std::to_string(l.width) + "x" + std::to_string(l.height) + ")");
  // Samples that are no level of 1, 2, 4, 8 or 16 bits: said as what they are, not as a corrupt
  // file.
  const bool depth = l.bits == 1 || l.bits == 2 || l.bits == 4 || l.bits == 8 || l.bits == 16;
  const std::string kind =
      l.format == SAMPLEFORMAT_IEEEFP ? "floating-point"
      : l.format == SAMPLEFORMAT_INT  ? "signed integer"
      : l.format == SAMPLEFORMAT_COMPLEXINT || l.format == SAMPLEFORMAT_COMPLEXIEEEFP ? "complex"
      : !depth ? std::to_string(l.bits) + "-bit"
               : "";
  if (!kind.empty())
    fail_read(
        path,
        "a TIFF of " + kind + " samples (" + std::to_string(l.bits) +
            " bits), which vdsr does not read: it reads unsigned integer samples of 1, 2, 4, 8 "
            "or 16 bits; save the image as 8- or 16-bit");
  ImageInfo info;
  info.width = int(l.width);
  info.height = int(l.height);
  info.channels = l.direct ? int(l.spp) : (l.extra > 0 ? 4 : 3);
  info.bits = l.direct ? int(l.bits) : 8;
  info.format = "tiff";
  return info;
}

// Tiles as stored: each tile of each sample plane (one for contiguous data) copied into place.
bool read_tiles(TIFF* t, const Layout& l, Image& img, MemFile& m) {
  uint32_t tw = 0, th = 0;
  if (!TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(t, TIFFTAG_TILELENGTH, &th) ||
      tw == 0 || th == 0)
    return false;
  // A tile larger than both the image and 1024 pixels a side holds nothing an image needs, and a
  // few header bytes would make this buffer gigabytes (libtiff's RGBA reader checks the same before
  // it allocates).
  const auto fits = [](uint32_t tile, uint32_t side) {
    return tile <= std::max<uint32_t>(1024, (side + 15) / 16 * 16);
  };
  if (!fits(tw, l.width) || !fits(th, l.height)) {
    std::snprintf(m.message, sizeof m.message,
                  "tiles of %ux%u for a %ux%u image, larger than it and 1024 a side", unsigned(tw),
                  unsigned(th), unsigned(l.width), unsigned(l.height));
    return false;
  }
  std::vector<unsigned char> tile(size_t(TIFFTileSize(t)));
  const size_t w = l.width, c = size_t(img.channels), bytes = l.bits / 8u;
  const bool contig = l.planar == PLANARCONFIG_CONTIG || l.spp == 1;
  const size_t planes = contig ? 1 : l.spp, per_px = contig ? c : 1;
  if (tile.size() < size_t(tw) * th * per_px * bytes) return false;
  const uint16_t invert = l.photometric == PHOTOMETRIC_MINISWHITE ? uint16_t(img.max_value()) : 0;
  for (size_t s = 0; s < planes; ++s)
    for (uint32_t y0 = 0; y0 < l.height; y0 += th)
      for (uint32_t x0 = 0; x0 < l.width; x0 += tw) {
        if (TIFFReadTile(t, tile.data(), x0, y0, 0, uint16_t(s)) < 0) return false;
        const uint32_t rows = std::min(th, l.height - y0), cols = std::min(tw, l.width - x0);
        for (uint32_t y = 0; y < rows; ++y) {
          uint16_t* dst = img.pixels.data() + (size_t(y0 + y) * w + x0) * c;
          const unsigned char* src = tile.data() + size_t(y) * tw * per_px * bytes;
          for (size_t x = 0; x < cols; ++x)
            for (size_t k = 0; k < per_px; ++k) {
              const size_t i = x * per_px + k;
              uint16_t v = 0;
              if (bytes == 2)
                std::memcpy(&v, src + 2 * i, 2);  // libtiff gives host order
              else
                v = src[i];
              const size_t ch = contig ? k : s;
              dst[x * c + ch] = ch == 0 && invert != 0 ? uint16_t(invert - v) : v;
            }
        }
      }
  return true;
}

// Rows as stored: each sample plane (one for contiguous data) read scanline by scanline.
bool read_direct(TIFF* t, const Layout& l, Image& img, MemFile& m) {
  if (l.tiled) return read_tiles(t, l, img, m);
  std::vector<unsigned char> line(size_t(TIFFScanlineSize(t)));
  const size_t w = l.width, c = size_t(img.channels), bytes = l.bits / 8u;
  const bool contig = l.planar == PLANARCONFIG_CONTIG || l.spp == 1;
  const size_t planes = contig ? 1 : l.spp;
  if (line.size() < w * (contig ? c : 1) * bytes) return false;
  const uint16_t invert = l.photometric == PHOTOMETRIC_MINISWHITE ? uint16_t(img.max_value()) : 0;
  for (size_t s = 0; s < planes; ++s) {
    for (uint32_t y = 0; y < l.height; ++y) {
      if (TIFFReadScanline(t, line.data(), y, uint16_t(s)) < 0) return false;
      uint16_t* dst = img.pixels.data() + size_t(y) * w * c;
      const size_t per_px = contig ? c : 1;
      for (size_t x = 0; x < w; ++x) {
        for (size_t k = 0; k < per_px; ++k) {
          const size_t i = x * per_px + k;
          uint16_t v = 0;
          if (bytes == 2) std::memcpy(&v, line.data() + 2 * i, 2);  // libtiff gives host order
          else v = line[i];
          const size_t ch = contig ? k : s;
          dst[x * c + ch] = ch == 0 && invert != 0 ? uint16_t(invert - v) : v;
        }
      }
    }
  }
  return true;
}

// Everything else, as 8-bit RGBA from libtiff's reader (rows top first, the file's orientation
// left to the caller: the tag is set to top-left for the reader).
bool read_rgba(TIFF* t, const Layout& l, Image& img) {
  std::vector<uint32_t> raster(size_t(l.width) * size_t(l.height));
  TIFFSetField(t, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
  if (TIFFReadRGBAImageOriented(t, l.width, l.height, raster.data(), ORIENTATION_TOPLEFT, 0) == 0) return false;
  const size_t c = size_t(img.channels);
  for (size_t i = 0; i < raster.size(); ++i) {
    const uint32_t p = raster[i];
    img.pixels[i * c + 0] = uint16_t(TIFFGetR(p));
    img.pixels[i * c + 1] = uint16_t(TIFFGetG(p));
    img.pixels[i * c + 2] = uint16_t(TIFFGetB(p));
    if (c == 4) img.pixels[i * c + 3] = uint16_t(TIFFGetA(p));
  }
  return true;
}

// Associated (premultiplied) colour back to straight: each colour sample over its pixel's alpha,
// rounded and capped at the maximum; where alpha is 0 the colour is 0 (it holds nothing).
void unassociate(Image& img) {
  const size_t c = size_t(img.channels), colour = c - 1;
  const uint32_t max = uint32_t(img.max_value());
  for (size_t p = 0; p < img.pixels.size(); p += c) {
    const uint32_t a = img.pixels[p + colour];
    for (size_t k = 0; k < colour; ++k)
      img.pixels[p + k] =
          a == 0 ? 0 : uint16_t(std::min<uint32_t>(max, (img.pixels[p + k] * max + a / 2) / a));
  }
}

Image decode(Bytes b, const std::string& path, const ImageInfo& info, int& orientation) {
  MemFile m;
  m.in = b;
  const TiffPtr t = open_tiff(m, "r");
  VDSR_USER_CHECK(t != nullptr, "cannot decode image '" << path << "': corrupt tiff (" << cause(m) << ")");
  const Layout l = layout_of(t.get());
  uint16_t orient = ORIENTATION_TOPLEFT;
  TIFFGetFieldDefaulted(t.get(), TIFFTAG_ORIENTATION, &orient);
  orientation = orient >= 1 && orient <= 8 ? int(orient) : 1;
  Image img = blank_image(info.width, info.height, info.channels, info.bits);
  const bool ok = l.direct ? read_direct(t.get(), l, img, m) : read_rgba(t.get(), l, img);
  // libtiff's RGBA reader says "Sorry, can not handle ..." for a kind it has no reader for: a valid
  // file of an unsupported kind, not a damaged one.
  const bool unsupported = std::strstr(m.message, "Sorry, can not handle") != nullptr;
  VDSR_USER_CHECK(ok, "cannot decode image '"
                          << path << "': "
                          << (unsupported ? "a kind of tiff that libtiff's reader does not handle ("
                                          : "corrupt or truncated tiff (")
                          << cause(m) << ")");
  // Associated samples are divided by alpha. The RGBA reader premultiplies straight alpha of colour
  // images too (not of grey ones), and passes an unspecified extra sample through as it is, as it
  // is read here.
  const bool grey =
      l.photometric == PHOTOMETRIC_MINISBLACK || l.photometric == PHOTOMETRIC_MINISWHITE;
  const bool premultiplied = l.extra_kind == EXTRASAMPLE_ASSOCALPHA ||
                             (!l.direct && !grey && l.extra_kind == EXTRASAMPLE_UNASSALPHA);
  if (img.has_alpha() && premultiplied) unassociate(img);
  uint32_t icc_len = 0;
  void* icc = nullptr;
  if (TIFFGetField(t.get(), TIFFTAG_ICCPROFILE, &icc_len, &icc) && icc != nullptr) {
    const auto* p = static_cast<const unsigned char*>(icc);
    img.icc.assign(p, p + icc_len);
  }
  return img;
}

std::vector<unsigned char> encode(const Image& img, const SaveOptions& o, const std::string& path) {
  std::vector<unsigned char> out;
  MemFile m;
  m.out = &out;
  {
    const TiffPtr t = open_tiff(m, "w");
    VDSR_CHECK(t != nullptr, "libtiff could not start a file: " << cause(m));
    TIFF* tf = t.get();
    const bool alpha = img.has_alpha();
    TIFFSetField(tf, TIFFTAG_IMAGEWIDTH, uint32_t(img.width));
    TIFFSetField(tf, TIFFTAG_IMAGELENGTH, uint32_t(img.height));
    TIFFSetField(tf, TIFFTAG_BITSPERSAMPLE, uint16_t(img.bits));
    TIFFSetField(tf, TIFFTAG_SAMPLESPERPIXEL, uint16_t(img.channels));
    TIFFSetField(tf, TIFFTAG_PHOTOMETRIC, img.channels <= 2 ? PHOTOMETRIC_MINISBLACK : PHOTOMETRIC_RGB);
    TIFFSetField(tf, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    TIFFSetField(tf, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
    if (alpha) {
      const uint16_t kind = EXTRASAMPLE_UNASSALPHA;
      TIFFSetField(tf, TIFFTAG_EXTRASAMPLES, uint16_t(1), &kind);
    }
    if (o.png_level > 0) {
      TIFFSetField(tf, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
      TIFFSetField(tf, TIFFTAG_ZIPQUALITY, o.png_level);
      TIFFSetField(tf, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    } else {
      TIFFSetField(tf, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    }
    TIFFSetField(tf, TIFFTAG_ROWSPERSTRIP, TIFFDefaultStripSize(tf, 0));
    const std::vector<unsigned char>& profile = fitting_profile(img, true, path);
    if (!profile.empty())
      TIFFSetField(tf, TIFFTAG_ICCPROFILE, uint32_t(profile.size()), profile.data());
    const size_t values = size_t(img.width) * size_t(img.channels);
    std::vector<unsigned char> line(values * size_t(img.bits / 8));
    for (int y = 0; y < img.height; ++y) {
      const uint16_t* src = img.pixels.data() + size_t(y) * values;
      if (img.bits == 16) std::memcpy(line.data(), src, line.size());  // host order, as libtiff expects
      else for (size_t i = 0; i < values; ++i) line[i] = static_cast<unsigned char>(src[i]);
      VDSR_USER_CHECK(TIFFWriteScanline(tf, line.data(), uint32_t(y), 0) >= 0,
                      "cannot write '" << path << "': libtiff: " << cause(m));
    }
    VDSR_USER_CHECK(TIFFWriteDirectory(tf) != 0, "cannot write '" << path << "': libtiff: " << cause(m));
  }  // closed: libtiff has written everything
  return out;
}

std::string library_text() {  // TIFFGetVersion(): "LIBTIFF, Version 4.5.0\nCopyright ..."
  const std::string v = TIFFGetVersion();
  const auto at = v.find("Version ");
  const auto end = v.find('\n');
  return "libtiff " + (at == std::string::npos ? std::string("?") : v.substr(at + 8, end == std::string::npos ? end : end - at - 8));
}

}  // namespace

}  // namespace vdsr::codec

#endif  // VDSR_HAVE_TIFF

namespace vdsr::codec {

const Codec& tiff_codec() {
#if VDSR_HAVE_TIFF
  static const std::string library = library_text();
  static const Codec c{"tiff", library.c_str(), nullptr, sniff_tiff, probe, decode, encode};
#else  // no libtiff at build time: the format is recognised and refused with this message
  static const Codec c{"tiff", "off",
                       "TIFF support is not built in: libtiff 4.5 or later was not found when vdsr was built (Debian: "
                       "libtiff-dev; ./setup.sh installs it, then rebuild)",
                       sniff_tiff, nullptr, nullptr, nullptr};
#endif
  return c;
}

}  // namespace vdsr::codec
