// The codecs of image/codec_*.cpp: WebP and TIFF round trips (every channel layout, 8 and 16 bit for
// TIFF), the colour profile and EXIF carried from input to output in each format that has a place for
// them, the orientation applied once (EXIF in JPEG, PNG and WebP; TIFF's own tag) and reset in what
// is kept, header-first limits in the new decoders, and which library serves each format. The
// formats a build lacks are tested by test_codecs_off (tests/codecs_off.cpp).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/error.h"
#include "image/image_io.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using vdsr::Image;
using vdsr::ImageFormat;

using vdsr::test::random_image;
using vdsr::test::read_bytes;
using vdsr::test::write_bytes;

namespace {

Image smooth_image(int h, int w, int c) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = c;
  img.pixels.resize(size_t(h) * size_t(w) * size_t(c));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        img.pixels[(size_t(y) * size_t(w) + size_t(x)) * size_t(c) + size_t(k)] =
            static_cast<uint16_t>(std::lround(127.5 + 100 * std::sin(0.05 * x + 0.07 * y + k)));
  return img;
}

void put16(std::vector<unsigned char>& b, size_t at, uint32_t v) {  // little-endian
  b[at] = static_cast<unsigned char>(v & 0xff);
  b[at + 1] = static_cast<unsigned char>(v >> 8);
}
void put32be(std::vector<unsigned char>& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + size_t(i)] = static_cast<unsigned char>(v >> (24 - 8 * i));
}

// A well-formed ICC profile for `space` "RGB " or "GRAY": the header, a media white point tag and a
// private tag of 200 pseudo-random bytes seeded by `marker`, so a copy can be told from another
// profile (and the compressed iCCP chunk is longer than the 92 bytes libpng 1.6.39 needs to read it
// back: it refuses shorter ones as "too short", real profiles are kilobytes).
std::vector<unsigned char> icc_profile(const char* space, unsigned char marker) {
  const size_t size = 132 + 2 * 12 + 20 + 200;
  std::vector<unsigned char> p(size, 0);
  put32be(p, 0, uint32_t(size));
  put32be(p, 8, 0x02100000);  // version 2.1
  std::memcpy(p.data() + 12, "mntr", 4);
  std::memcpy(p.data() + 16, space, 4);
  std::memcpy(p.data() + 20, "XYZ ", 4);
  std::memcpy(p.data() + 36, "acsp", 4);
  const uint32_t d50[3] = {0x0000f6d6, 0x00010000, 0x0000d32d};
  for (size_t i = 0; i < 3; ++i) put32be(p, 68 + 4 * i, d50[i]);
  put32be(p, 128, 2);  // tags: wtpt at 156 (20 bytes), a private one at 176 (200 bytes)
  std::memcpy(p.data() + 132, "wtpt", 4);
  put32be(p, 136, 156);
  put32be(p, 140, 20);
  std::memcpy(p.data() + 144, "vdsr", 4);
  put32be(p, 148, 176);
  put32be(p, 152, 200);
  std::memcpy(p.data() + 156, "XYZ ", 4);
  for (size_t i = 0; i < 3; ++i) put32be(p, 164 + 4 * i, d50[i]);
  uint32_t x = marker * 2654435761u + 1;
  for (size_t i = 176; i < size; ++i) {
    x = x * 1664525u + 1013904223u;
    p[i] = static_cast<unsigned char>(x >> 24);
  }
  return p;
}

// EXIF bytes from the TIFF header on (little-endian): IFD0 with the orientation and the camera's
// make, "vdsr".
std::vector<unsigned char> exif_bytes(int orientation) {
  std::vector<unsigned char> e = {'I', 'I', 42, 0, 8, 0, 0, 0};
  e.resize(8 + 2 + 2 * 12 + 4 + 5, 0);
  put16(e, 8, 2);
  size_t at = 10;
  put16(e, at, 0x010f);  // Make, ASCII, 5 bytes at offset 38
  put16(e, at + 2, 2);
  put16(e, at + 4, 5);
  put16(e, at + 8, 38);
  at += 12;
  put16(e, at, 0x0112);  // Orientation, SHORT, 1
  put16(e, at + 2, 3);
  put16(e, at + 4, 1);
  put16(e, at + 8, uint32_t(orientation));
  std::memcpy(e.data() + 38, "vdsr", 5);
  return e;
}

// The value of IFD0's tag `tag` in a little-endian TIFF file (SHORT or LONG), and where it lives.
size_t tiff_tag_value_at(const std::vector<unsigned char>& f, uint32_t tag) {
  REQUIRE(f.size() > 8);
  REQUIRE(f[0] == 'I');
  const size_t ifd = size_t(f[4]) | (size_t(f[5]) << 8) | (size_t(f[6]) << 16) | (size_t(f[7]) << 24);
  const size_t n = size_t(f[ifd]) | (size_t(f[ifd + 1]) << 8);
  for (size_t i = 0; i < n; ++i) {
    const size_t e = ifd + 2 + 12 * i;
    if ((uint32_t(f[e]) | (uint32_t(f[e + 1]) << 8)) == tag) return e + 8;
  }
  FAIL("tag " << tag << " not in IFD0");
  return 0;
}

// EXIF bytes in big-endian order ("MM\0*"): IFD0 with one entry, the orientation (SHORT) with
// `count` values, the first of them `orientation`.
std::vector<unsigned char> exif_bytes_be(int orientation, int count = 1) {
  std::vector<unsigned char> e = {'M', 'M', 0, 42, 0, 0, 0, 8,  // header, IFD0 at 8
                                  0, 1,                         // one entry
                                  0x01, 0x12, 0, 3, 0, 0, 0, static_cast<unsigned char>(count),
                                  0, static_cast<unsigned char>(orientation), 0, static_cast<unsigned char>(orientation),
                                  0, 0, 0, 0};  // no next IFD
  return e;
}

struct TiffTag {
  uint16_t tag, type;  // type 3: SHORT, 4: LONG
  std::vector<uint32_t> v;
};

// An uncompressed little-endian TIFF built byte by byte: one strip per sample plane (one in all
// when `planar` is 1, contiguous; `spp` when it is 2, separate planes), `samples` in file order, 8,
// 16 or 32 bits. Photometric 0 is MinIsWhite, 1 MinIsBlack, 2 RGB, 5 CMYK. `extra`: more tags (e.g.
// ExtraSamples 338, SampleFormat 339, ColorMap 320). `tile` > 0: contiguous square tiles of that
// side instead of strips, `samples` then in image order (rows of w pixels), the tiles past the
// edges zero-padded.
std::vector<unsigned char> raw_tiff(uint32_t w, uint32_t h, int spp, int bits, int photometric,
                                    int planar, const std::vector<uint16_t>& samples,
                                    const std::vector<TiffTag>& extra = {}, uint32_t tile = 0) {
  const size_t bps = size_t(bits / 8);
  std::vector<uint32_t> data;  // the samples as stored
  size_t pieces = planar == 2 ? size_t(spp) : 1;
  if (tile == 0) {
    data.assign(samples.begin(), samples.end());
  } else {
    const uint32_t across = (w + tile - 1) / tile, down = (h + tile - 1) / tile;
    pieces = size_t(across) * down;
    for (uint32_t ty = 0; ty < down; ++ty)
      for (uint32_t tx = 0; tx < across; ++tx)
        for (uint32_t y = 0; y < tile; ++y)
          for (uint32_t x = 0; x < tile; ++x)
            for (int k = 0; k < spp; ++k) {
              const uint32_t iy = ty * tile + y, ix = tx * tile + x;
              data.push_back(
                  iy < h && ix < w ? samples[(size_t(iy) * w + ix) * size_t(spp) + size_t(k)] : 0);
            }
  }
  const size_t piece_bytes = data.size() * bps / pieces;
  const uint16_t offsets_tag = tile == 0 ? 273 : 324;
  std::vector<TiffTag> tags = {
      {256, 4, {w}},
      {257, 4, {h}},
      {258, 3, std::vector<uint32_t>(size_t(spp), uint32_t(bits))},
      {259, 3, {1}},
      {262, 3, {uint32_t(photometric)}},
      {offsets_tag, 4, std::vector<uint32_t>(pieces, 0)},  // filled in below
      {277, 3, {uint32_t(spp)}},
      {uint16_t(tile == 0 ? 279 : 325), 4, std::vector<uint32_t>(pieces, uint32_t(piece_bytes))},
      {284, 3, {uint32_t(planar)}}};
  if (tile == 0)
    tags.push_back({278, 4, {h}});
  else {
    tags.push_back({322, 4, {tile}});
    tags.push_back({323, 4, {tile}});
  }
  tags.insert(tags.end(), extra.begin(), extra.end());
  std::sort(tags.begin(), tags.end(),
            [](const TiffTag& a, const TiffTag& b) { return a.tag < b.tag; });
  const size_t arrays_at = 8 + 2 + 12 * tags.size() + 4;
  size_t data_at = arrays_at;
  for (const TiffTag& tg : tags)
    if (tg.v.size() * (tg.type == 3 ? 2 : 4) > 4) data_at += tg.v.size() * (tg.type == 3 ? 2 : 4);
  for (TiffTag& tg : tags)
    if (tg.tag == offsets_tag)
      for (size_t k = 0; k < pieces; ++k) tg.v[k] = uint32_t(data_at + k * piece_bytes);
  std::vector<unsigned char> f = {'I', 'I', 42, 0, 8, 0, 0, 0};  // IFD0 at 8
  f.resize(data_at + data.size() * bps, 0);
  const auto put = [&](size_t at, size_t v, size_t n) {
    for (size_t i = 0; i < n; ++i) f[at + i] = static_cast<unsigned char>(v >> (8 * i));
  };
  put(8, tags.size(), 2);
  size_t next = arrays_at;
  for (size_t i = 0; i < tags.size(); ++i) {
    const TiffTag& tg = tags[i];
    const size_t e = 10 + 12 * i, size = tg.type == 3 ? 2 : 4;
    put(e, tg.tag, 2);
    put(e + 2, tg.type, 2);
    put(e + 4, tg.v.size(), 4);
    size_t at = e + 8;
    if (tg.v.size() * size > 4) {
      put(e + 8, next, 4);
      at = next;
      next += tg.v.size() * size;
    }
    for (size_t k = 0; k < tg.v.size(); ++k) put(at + k * size, tg.v[k], size);
  }
  for (size_t i = 0; i < data.size(); ++i) put(data_at + i * bps, data[i], bps);
  return f;
}

// The size of `img` saved to `path` with these options.
uintmax_t saved_size(const std::string& path, const Image& img, ImageFormat format, const vdsr::SaveOptions& o) {
  vdsr::save_image(path, img, format, o);
  return fs::file_size(path);
}

}  // namespace

TEST_CASE("WebP round trips: lossless exact, lossy close, grey stored as RGB") {
  vdsr::test::require_codec("webp");
  const std::string dir = vdsr::test::temp_dir("codecs_webp");
  vdsr::SaveOptions lossless;
  lossless.webp_quality = 101;
  for (const int c : {3, 4}) {
    INFO(c << " channels");
    const Image img = random_image(19, 23, c, 8, uint32_t(c));
    vdsr::save_image(dir + "/a.webp", img, ImageFormat::WEBP, lossless);
    const vdsr::ImageInfo info = vdsr::probe_image(dir + "/a.webp");
    CHECK(info.format == "webp");
    CHECK(info.channels == c);
    const Image back = vdsr::load_image(dir + "/a.webp");
    CHECK(back.width == 23);
    CHECK(back.height == 19);
    CHECK(back.pixels == img.pixels);
  }
  // Grey (and grey+alpha) as RGB (RGBA) with equal channels.
  const Image grey = random_image(9, 7, 2, 8, 5);
  vdsr::save_image(dir + "/g.webp", grey, ImageFormat::WEBP, lossless);
  const Image g = vdsr::load_image(dir + "/g.webp");
  REQUIRE(g.channels == 4);
  for (size_t i = 0; i < size_t(7 * 9); ++i) {
    for (size_t k = 0; k < 3; ++k) CHECK(g.pixels[i * 4 + k] == grey.pixels[i * 2]);
    CHECK(g.pixels[i * 4 + 3] == grey.pixels[i * 2 + 1]);
  }
  // Lossy at the default quality: close on a smooth image, and smaller than lossless.
  const Image smooth = smooth_image(64, 64, 3);
  vdsr::save_image(dir + "/s.webp", smooth, ImageFormat::WEBP);
  vdsr::save_image(dir + "/s_lossless.webp", smooth, ImageFormat::WEBP, lossless);
  const Image s = vdsr::load_image(dir + "/s.webp");
  double se = 0;
  for (size_t i = 0; i < s.pixels.size(); ++i) se += std::pow(double(s.pixels[i]) - double(smooth.pixels[i]), 2);
  CHECK(10 * std::log10(255.0 * 255.0 / (se / double(s.pixels.size()))) > 35);
  CHECK(fs::file_size(dir + "/s.webp") < fs::file_size(dir + "/s_lossless.webp"));
  // WebP's size limit is said in words.
  const Image wide = random_image(1, 16384, 3, 8, 1);
  const std::string msg = vdsr::test::error_of([&] { vdsr::save_image(dir + "/w.webp", wide, ImageFormat::WEBP); });
  CHECK_THAT(msg, Catch::Contains("too large for WebP") && Catch::Contains(dir + "/w.webp"));
  CHECK(!fs::exists(dir + "/w.webp"));
  fs::remove_all(dir);
}

TEST_CASE("each format's size limit is known before encoding: WebP 16383, JPEG 65500 a side, BMP 268 million pixels") {
  using vdsr::save_size_problem;
  CHECK(save_size_problem(ImageFormat::WEBP, 16383, 16383).empty());
  CHECK(save_size_problem(ImageFormat::WEBP, 16384, 1) ==
        "too large for WebP (at most 16383 pixels a side); use png or tif");
  CHECK(save_size_problem(ImageFormat::WEBP, 1, 16384) != "");
  CHECK(save_size_problem(ImageFormat::JPEG, 65500, 65500).empty());
  CHECK(save_size_problem(ImageFormat::JPEG, 65501, 1) ==
        "too large for JPEG (at most 65500 pixels a side); use png or tif");
  CHECK(save_size_problem(ImageFormat::BMP, 16000, 16000).empty());  // 256 million pixels
  CHECK_THAT(save_size_problem(ImageFormat::BMP, 17000, 17000), Catch::StartsWith("too large for the bmp writer"));
  CHECK(save_size_problem(ImageFormat::PNG, 65535, 65535).empty());
  CHECK(save_size_problem(ImageFormat::TIFF, 65535, 65535).empty());
  // save_image refuses with the same words, naming the file, and writes nothing; libjpeg itself
  // would have refused the same image only inside jpeg_start_compress.
  const std::string dir = vdsr::test::temp_dir("size_limits");
  const Image tall = random_image(65501, 1, 1, 8, 2);
  const std::string msg = vdsr::test::error_of([&] { vdsr::save_image(dir + "/t.jpg", tall, ImageFormat::JPEG); });
  CHECK_THAT(msg, Catch::Contains("cannot write '" + dir + "/t.jpg': 1x65501 is too large for JPEG"));
  CHECK(!fs::exists(dir + "/t.jpg"));
  vdsr::save_image(dir + "/t.png", tall, ImageFormat::PNG);
  CHECK(vdsr::load_image(dir + "/t.png").height == 65501);
  fs::remove_all(dir);
}

TEST_CASE("TIFF round trips: 8 and 16 bit, every channel layout, compressed or not") {
  vdsr::test::require_codec("tiff");
  const std::string dir = vdsr::test::temp_dir("codecs_tiff");
  for (const int bits : {8, 16})
    for (const int c : {1, 2, 3, 4})
      for (const int level : {0, 1, 9}) {
        INFO(bits << " bit, " << c << " channels, level " << level);
        const Image img = random_image(17, 13, c, bits, uint32_t(bits * 10 + c));
        vdsr::SaveOptions o;
        o.png_level = level;
        vdsr::save_image(dir + "/a.tif", img, ImageFormat::TIFF, o);
        const vdsr::ImageInfo info = vdsr::probe_image(dir + "/a.tif");
        CHECK(info.format == "tiff");
        CHECK(info.bits == bits);
        CHECK(info.channels == c);
        const Image back = vdsr::load_image(dir + "/a.tif");
        CHECK(back.width == 13);
        CHECK(back.height == 17);
        CHECK(back.bits == bits);
        CHECK(back.pixels == img.pixels);
      }
  fs::remove_all(dir);
}

TEST_CASE("the colour profile and EXIF travel from input to output in PNG, JPEG, WebP and TIFF") {
  for (const char* f : {"jpeg", "webp", "tiff"}) vdsr::test::require_codec(f);
  const std::string dir = vdsr::test::temp_dir("codecs_meta");
  struct Case {
    ImageFormat format;
    bool keeps_exif;
  };
  for (const Case k : {Case{ImageFormat::PNG, true}, Case{ImageFormat::JPEG, true}, Case{ImageFormat::WEBP, true},
                       Case{ImageFormat::TIFF, false}, Case{ImageFormat::BMP, false}}) {
    const std::string path = dir + "/m." + vdsr::image_format_extension(k.format);
    INFO(path);
    Image img = smooth_image(24, 16, 3);
    img.icc = icc_profile("RGB ", 0x5a);
    img.exif = exif_bytes(1);
    vdsr::save_image(path, img, k.format);
    const Image back = vdsr::load_image(path);
    if (k.format == ImageFormat::BMP) {  // no place for either
      CHECK(back.icc.empty());
      CHECK(back.exif.empty());
      continue;
    }
    CHECK(back.icc == img.icc);
    if (k.keeps_exif) CHECK(back.exif == img.exif);
    else CHECK(back.exif.empty());
    // Through a second generation unchanged: what vdsr_sr does to a folder of phone photos.
    vdsr::save_image(path + "2", back, k.format);
    const Image again = vdsr::load_image(path + "2");
    CHECK(again.icc == img.icc);
    CHECK(again.exif == back.exif);
  }
  // A grey PNG keeps a grey profile.
  Image grey = random_image(8, 8, 1, 8, 3);
  grey.icc = icc_profile("GRAY", 0x33);
  vdsr::save_image(dir + "/grey.png", grey, ImageFormat::PNG);
  CHECK(vdsr::load_image(dir + "/grey.png").icc == grey.icc);
  // A profile that does not fit the pixels (grey on RGB) is dropped, not a failed write.
  Image rgb = smooth_image(8, 8, 3);
  rgb.icc = grey.icc;
  vdsr::save_image(dir + "/mismatch.png", rgb, ImageFormat::PNG);
  const Image m = vdsr::load_image(dir + "/mismatch.png");
  CHECK(m.icc.empty());
  CHECK(m.pixels == rgb.pixels);
  // In every format that keeps a profile: a CMYK one on RGB pixels (a CMYK JPEG's, its pixels made
  // RGB) is left out, and a grey one where the format stores grey as RGB (WebP); one that fits is
  // kept.
  for (const ImageFormat f :
       {ImageFormat::PNG, ImageFormat::JPEG, ImageFormat::WEBP, ImageFormat::TIFF}) {
    const std::string path = dir + "/p." + vdsr::image_format_extension(f);
    INFO(path);
    Image cmyk = smooth_image(8, 8, 3);
    cmyk.icc = icc_profile("CMYK", 0x44);
    vdsr::save_image(path, cmyk, f);
    CHECK(vdsr::load_image(path).icc.empty());
    vdsr::save_image(path, grey, f);
    CHECK(vdsr::load_image(path).icc ==
          (f == ImageFormat::WEBP ? std::vector<unsigned char>() : grey.icc));
  }
  fs::remove_all(dir);
}

TEST_CASE(
    "JPEG keeps an EXIF of up to 65527 bytes, what one APP1 segment holds, and leaves out a larger "
    "one") {
  vdsr::test::require_codec("jpeg");
  const std::string dir = vdsr::test::temp_dir("codecs_big_exif");
  Image img = smooth_image(8, 8, 3);
  for (const size_t size : {size_t(65527), size_t(65528)}) {
    INFO(size << " bytes of EXIF");
    img.exif = exif_bytes(1);
    img.exif.resize(size, 0x5a);  // the IFD first, then filler
    vdsr::save_image(dir + "/e.jpg", img, ImageFormat::JPEG);
    const Image back = vdsr::load_image(dir + "/e.jpg");
    CHECK(back.exif == (size == 65527 ? img.exif : std::vector<unsigned char>()));
  }
  fs::remove_all(dir);
}

TEST_CASE("the EXIF orientation is applied on load and reset to upright in what is kept") {
  for (const char* f : {"jpeg", "webp", "tiff"}) vdsr::test::require_codec(f);
  const std::string dir = vdsr::test::temp_dir("codecs_orient");
  // A 3-wide, 2-high image turned 90 degrees clockwise (orientation 6) reads 2 wide, 3 high.
  Image img = random_image(2, 3, 3, 8, 9);
  const Image upright = vdsr::apply_exif_orientation(img, 6);
  REQUIRE(upright.width == 2);
  vdsr::SaveOptions lossless;
  lossless.webp_quality = 101;
  for (const ImageFormat f : {ImageFormat::PNG, ImageFormat::WEBP, ImageFormat::JPEG}) {
    const std::string path = dir + "/o." + vdsr::image_format_extension(f);
    INFO(path);
    img.exif = exif_bytes(6);
    vdsr::save_image(path, img, f, lossless);
    const Image back = vdsr::load_image(path);
    CHECK(back.width == 2);
    CHECK(back.height == 3);
    if (f != ImageFormat::JPEG) CHECK(back.pixels == upright.pixels);  // JPEG is lossy
    CHECK(vdsr::exif_orientation(back.exif) == 1);
    CHECK(back.exif == exif_bytes(1));  // only the orientation changed
    // Saved and loaded again: not turned a second time.
    vdsr::save_image(path + "2", back, f, lossless);
    const Image again = vdsr::load_image(path + "2");
    CHECK(again.width == 2);
    CHECK(again.height == 3);
  }
  // EXIF chunks that keep JPEG's "Exif\0\0" prefix (some writers' PNG and WebP): read all the same.
  for (const ImageFormat f : {ImageFormat::PNG, ImageFormat::WEBP}) {
    const std::string path = dir + "/prefixed." + vdsr::image_format_extension(f);
    INFO(path);
    img.exif = exif_bytes(6);
    img.exif.insert(img.exif.begin(), {'E', 'x', 'i', 'f', 0, 0});
    vdsr::save_image(path, img, f, lossless);  // written as given
    const Image back = vdsr::load_image(path);
    CHECK(back.width == 2);
    CHECK(back.height == 3);
    CHECK(back.pixels == upright.pixels);
    CHECK(back.exif == exif_bytes(1));
  }
  // A prefixed PNG eXIf chunk whose CRC is wrong is dropped, as libpng drops a damaged ancillary
  // chunk: the image is read as stored.
  {
    const std::string file = vdsr::test::file_bytes(dir + "/prefixed.png");
    std::vector<unsigned char> bytes(file.begin(), file.end());
    const auto chunk =
        std::search(bytes.begin(), bytes.end(), std::begin("eXIf"), std::begin("eXIf") + 4);
    REQUIRE(chunk != bytes.end());
    const size_t at = size_t(chunk - bytes.begin()) - 4;
    const size_t len = (size_t(bytes[at]) << 24) | (size_t(bytes[at + 1]) << 16) |
                       (size_t(bytes[at + 2]) << 8) | bytes[at + 3];
    bytes[at + 8 + len] ^= 1;  // the CRC's first byte
    write_bytes(dir + "/badcrc.png", bytes);
    const Image bad = vdsr::load_image(dir + "/badcrc.png");
    CHECK(bad.width == 3);
    CHECK(bad.exif.empty());
  }
  // TIFF: its own Orientation tag (our writer stores 1; patched here to 6).
  img.exif.clear();
  vdsr::save_image(dir + "/o.tif", img, ImageFormat::TIFF);
  auto bytes = read_bytes(dir + "/o.tif");
  const size_t at = tiff_tag_value_at(bytes, 0x0112);
  CHECK(bytes[at] == 1);
  put16(bytes, at, 6);
  write_bytes(dir + "/o6.tif", bytes);
  CHECK(vdsr::probe_image(dir + "/o6.tif").width == 3);  // the stored size
  const Image t = vdsr::load_image(dir + "/o6.tif");
  CHECK(t.width == 2);
  CHECK(t.pixels == upright.pixels);
  fs::remove_all(dir);
}

TEST_CASE("big-endian EXIF: the orientation is read, and reset to 1 in big-endian order") {
  std::vector<unsigned char> e = exif_bytes_be(6);
  CHECK(vdsr::exif_orientation(e) == 6);
  std::vector<unsigned char> expect = e;
  expect[18] = 0;  // the value field: 00 01, the rest untouched
  expect[19] = 1;
  CHECK(vdsr::exif_reset_orientation(e));
  CHECK(e == expect);
  CHECK(vdsr::exif_orientation(e) == 1);
  // Two values where the tag holds one: malformed, read as upright and left alone.
  std::vector<unsigned char> two = exif_bytes_be(6, 2);
  CHECK(vdsr::exif_orientation(two) == 1);
  const std::vector<unsigned char> two_before = two;
  CHECK(!vdsr::exif_reset_orientation(two));
  CHECK(two == two_before);
  // Through a PNG: loaded upright, and the EXIF kept says 1 in its own byte order.
  const std::string dir = vdsr::test::temp_dir("codecs_exif_be");
  Image img = random_image(2, 3, 3, 8, 4);
  img.exif = exif_bytes_be(6);
  vdsr::save_image(dir + "/be.png", img, ImageFormat::PNG);
  const Image back = vdsr::load_image(dir + "/be.png");
  CHECK(back.width == 2);
  CHECK(back.height == 3);
  CHECK(back.pixels == vdsr::apply_exif_orientation(img, 6).pixels);
  CHECK(back.exif == expect);
  fs::remove_all(dir);
}

TEST_CASE("TIFF read as stored: MinIsWhite grey is inverted, separate sample planes are interleaved") {
  vdsr::test::require_codec("tiff");
  const std::string dir = vdsr::test::temp_dir("codecs_tiff_kinds");
  const auto load = [&](const std::string& name, const std::vector<unsigned char>& bytes) {
    write_bytes(dir + "/" + name, bytes);
    return vdsr::load_image(dir + "/" + name);
  };
  // MinIsWhite: 0 is white, so each sample reads as max - stored.
  const Image w8 = load("w8.tif", raw_tiff(3, 2, 1, 8, 0, 1, {0, 1, 100, 200, 254, 255}));
  CHECK(w8.channels == 1);
  CHECK(w8.bits == 8);
  CHECK(w8.pixels == std::vector<uint16_t>{255, 254, 155, 55, 1, 0});
  const Image w16 = load("w16.tif", raw_tiff(2, 2, 1, 16, 0, 1, {0, 1, 40000, 65535}));
  CHECK(w16.bits == 16);
  CHECK(w16.pixels == std::vector<uint16_t>{65535, 65534, 25535, 0});
  // MinIsBlack as stored.
  CHECK(load("b8.tif", raw_tiff(3, 2, 1, 8, 1, 1, {0, 1, 100, 200, 254, 255})).pixels ==
        std::vector<uint16_t>{0, 1, 100, 200, 254, 255});
  // RGB in three planes (all R, then all G, then all B) comes out as R G B per pixel.
  const Image p8 = load("p8.tif", raw_tiff(2, 2, 3, 8, 2, 2, {10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120}));
  CHECK(p8.channels == 3);
  CHECK(p8.pixels == std::vector<uint16_t>{10, 50, 90, 20, 60, 100, 30, 70, 110, 40, 80, 120});
  const Image p16 = load("p16.tif", raw_tiff(2, 1, 3, 16, 2, 2, {1000, 2000, 3000, 4000, 50000, 60000}));
  CHECK(p16.bits == 16);
  CHECK(p16.pixels == std::vector<uint16_t>{1000, 3000, 50000, 2000, 4000, 60000});
  // The same pixels stored contiguously read the same.
  CHECK(load("c8.tif", raw_tiff(2, 2, 3, 8, 2, 1, {10, 50, 90, 20, 60, 100, 30, 70, 110, 40, 80, 120})).pixels ==
        p8.pixels);
  fs::remove_all(dir);
}

TEST_CASE(
    "TIFF tiles and alpha: tiled files as stored, premultiplied alpha made straight, other samples "
    "refused") {
  vdsr::test::require_codec("tiff");
  const std::string dir = vdsr::test::temp_dir("codecs_tiff_alpha");
  const auto load = [&](const std::string& name, const std::vector<unsigned char>& bytes) {
    write_bytes(dir + "/" + name, bytes);
    return vdsr::load_image(dir + "/" + name);
  };
  const TiffTag straight{338, 3, {2}}, associated{338, 3, {1}};
  // 20 x 18 RGBA in uncompressed 16 x 16 tiles (four, three of them cut by the edges): read as
  // stored, straight alpha untouched, 8 and 16 bits.
  for (const int bits : {8, 16}) {
    INFO(bits << " bits");
    const Image img = random_image(18, 20, 4, bits, 7);  // h, w
    const Image tiled = load("t.tif", raw_tiff(20, 18, 4, bits, 2, 1, img.pixels, {straight}, 16));
    CHECK(tiled.bits == bits);
    CHECK(tiled.channels == 4);
    CHECK(tiled.pixels == img.pixels);
    CHECK(load("s.tif", raw_tiff(20, 18, 4, bits, 2, 1, img.pixels, {straight})).pixels ==
          img.pixels);
  }
  // RGB in 16 x 16 tiles (768 bytes a tile).
  const Image rgb = random_image(18, 20, 3, 8, 9);
  CHECK(load("rgb.tif", raw_tiff(20, 18, 3, 8, 2, 1, rgb.pixels, {}, 16)).pixels == rgb.pixels);
  // A palette image in tiles goes through libtiff's RGBA reader, which in libtiff 4.5 reads these
  // uncompressed 16 x 16 tiles only from a mapping (codec_tiff.cpp's map_proc).
  {
    std::vector<uint32_t> map(3 * 256);
    for (uint32_t i = 0; i < 256; ++i) {
      map[i] = i * 257;                      // red
      map[256 + i] = (255 - i) * 257;        // green
      map[512 + i] = ((i * 7) % 256) * 257;  // blue
    }
    const Image idx = random_image(18, 20, 1, 8, 10);
    const Image pal =
        load("pal.tif", raw_tiff(20, 18, 1, 8, 3, 1, idx.pixels, {{320, 3, map}}, 16));
    REQUIRE(pal.channels == 3);
    for (size_t p = 0; p < idx.pixels.size(); ++p) {
      const uint16_t i = idx.pixels[p];
      CHECK(pal.pixels[3 * p] == i);
      CHECK(pal.pixels[3 * p + 1] == 255 - i);
      CHECK(pal.pixels[3 * p + 2] == (i * 7) % 256);
    }
  }
  // Grey in tiles too, and a tile wider than the image.
  const Image g = random_image(3, 5, 1, 8, 8);
  CHECK(load("g.tif", raw_tiff(5, 3, 1, 8, 1, 1, g.pixels, {}, 16)).pixels == g.pixels);
  // Premultiplied: (200, 100, 50) at alpha 64 is stored as (50, 25, 13); read back straight, within
  // the rounding of the stored levels (255 / 64, about 4 levels); alpha 0 holds no colour.
  const std::vector<uint16_t> pre = {50, 25, 13, 64, 0, 0, 0, 0, 200, 100, 50, 255};
  for (const uint32_t tile : {0u, 16u}) {
    INFO("tile " << tile);
    const Image a = load("a.tif", raw_tiff(3, 1, 4, 8, 2, 1, pre, {associated}, tile));
    REQUIRE(a.pixels.size() == 12);
    // Rounded to nearest: 50 * 255 / 64 = 199.2, 25 * 255 / 64 = 99.6, 13 * 255 / 64 = 51.8.
    CHECK(std::vector<uint16_t>(a.pixels.begin(), a.pixels.begin() + 4) ==
          std::vector<uint16_t>{199, 100, 52, 64});
    CHECK(std::vector<uint16_t>(a.pixels.begin() + 4, a.pixels.end()) ==
          std::vector<uint16_t>{0, 0, 0, 0, 200, 100, 50, 255});
  }
  // Grey with premultiplied alpha: 25 at alpha 64 is 100 straight (25 * 255 / 64 = 99.6).
  CHECK(load("gp.tif", raw_tiff(1, 1, 2, 8, 1, 1, {25, 64}, {associated})).pixels ==
        std::vector<uint16_t>{100, 64});
  // Through libtiff's RGBA reader (RGB with straight alpha and one more extra sample, which it
  // premultiplies): straight again, within the rounding of its premultiplied levels.
  const Image five =
      load("x.tif", raw_tiff(1, 1, 5, 8, 2, 1, {200, 100, 50, 64, 9}, {{338, 3, {2, 0}}}));
  REQUIRE(five.channels == 4);
  CHECK(std::abs(int(five.pixels[0]) - 200) <= 2);
  CHECK(std::abs(int(five.pixels[1]) - 100) <= 2);
  CHECK(std::abs(int(five.pixels[2]) - 50) <= 2);
  CHECK(five.pixels[3] == 64);
  // Grey and alpha of 4 bits each, a kind libtiff's RGBA reader has no reader for: said as such,
  // not as a damaged file. (So grey with alpha never reaches that reader: 8 and 16 bits are read
  // directly.)
  std::vector<unsigned char> g4 = raw_tiff(2, 1, 2, 8, 1, 1, {0x94, 0xff}, {straight});
  const size_t depth_at = tiff_tag_value_at(g4, 258);  // BitsPerSample: two SHORTs in place
  g4[depth_at] = 4;
  g4[depth_at + 2] = 4;
  CHECK_THROWS_WITH(load("g4.tif", g4),
                    Catch::Contains("a kind of tiff that libtiff's reader does not handle"));
  // Samples that are no unsigned level are refused as what they are, not as a corrupt file.
  CHECK_THROWS_WITH(
      load("f.tif", raw_tiff(1, 1, 1, 32, 1, 1, {0, 0}, {{339, 3, {3}}})),
      Catch::Contains("a TIFF of floating-point samples (32 bits), which vdsr does not read"));
  CHECK_THROWS_WITH(load("i.tif", raw_tiff(1, 1, 1, 16, 1, 1, {0}, {{339, 3, {2}}})),
                    Catch::Contains("a TIFF of signed integer samples (16 bits)"));
  CHECK_THROWS_WITH(load("u.tif", raw_tiff(1, 1, 1, 32, 1, 1, {0, 0})),
                    Catch::Contains("a TIFF of 32-bit samples (32 bits)"));
  CHECK_THROWS_WITH(load("d.tif", raw_tiff(1, 1, 1, 12, 1, 1, {0})),
                    Catch::Contains("a TIFF of 12-bit samples"));
  // Untyped samples (SampleFormat VOID) read as unsigned; grey alpha is straight as stored.
  const Image ga =
      load("ga.tif", raw_tiff(2, 1, 2, 8, 1, 1, {90, 64, 200, 255}, {straight, {339, 3, {4, 4}}}));
  CHECK(ga.pixels == std::vector<uint16_t>{90, 64, 200, 255});
  // A tile far larger than the image (a few header bytes asking for gigabytes) is refused before
  // anything is allocated.
  std::vector<unsigned char> big = raw_tiff(1, 1, 4, 16, 2, 1, {1, 2, 3, 4}, {straight}, 16);
  for (const uint32_t tag : {322u, 323u}) {
    const size_t at = tiff_tag_value_at(big, tag);
    big[at] = 0;
    big[at + 1] = 0;
    big[at + 2] = 1;  // 65536
  }
  CHECK_THROWS_WITH(load("big.tif", big), Catch::Contains("tiles of 65536x65536 for a 1x1 image"));
  std::vector<unsigned char> tall = raw_tiff(1, 1, 4, 16, 2, 1, {1, 2, 3, 4}, {straight}, 16);
  const size_t length = tiff_tag_value_at(tall, 323);
  tall[length] = 0;
  tall[length + 2] = 1;  // only the tile's length: 65536
  CHECK_THROWS_WITH(load("tall.tif", tall), Catch::Contains("tiles of 16x65536 for a 1x1 image"));
  fs::remove_all(dir);
}

TEST_CASE("the new decoders meet the limits from the header and refuse bad files by name") {
  for (const char* f : {"jpeg", "webp", "tiff"}) vdsr::test::require_codec(f);
  const std::string dir = vdsr::test::temp_dir("codecs_bad");
  // A TIFF whose header claims 100000 x 100000: refused by the limits, before any decoding.
  vdsr::save_image(dir + "/small.tif", random_image(4, 4, 3, 8, 1), ImageFormat::TIFF);
  auto bytes = read_bytes(dir + "/small.tif");
  for (const uint32_t tag : {256u, 257u}) {  // ImageWidth, ImageLength (SHORT or LONG)
    const size_t at = tiff_tag_value_at(bytes, tag);
    const size_t type_at = at - 6;
    if (bytes[type_at] == 3) bytes[type_at] = 4;  // a SHORT becomes a LONG to hold 100000
    for (int i = 0; i < 4; ++i) bytes[at + size_t(i)] = static_cast<unsigned char>(100000u >> (8 * i));
  }
  write_bytes(dir + "/huge.tif", bytes);
  CHECK(vdsr::probe_image(dir + "/huge.tif").width == 100000);
  auto err = vdsr::test::error_of([&] { vdsr::load_image(dir + "/huge.tif"); });
  CHECK_THAT(err, Catch::Contains(dir + "/huge.tif") && Catch::Contains("100000x100000 exceeds the limits"));
  // Limits are the caller's, for every format.
  vdsr::ImageLimits small;
  small.max_side = 8;
  for (const ImageFormat f : {ImageFormat::WEBP, ImageFormat::TIFF, ImageFormat::JPEG, ImageFormat::PNG}) {
    const std::string path = dir + "/16." + vdsr::image_format_extension(f);
    vdsr::save_image(path, random_image(16, 16, 3, 8, 2), f);
    err = vdsr::test::error_of([&] { vdsr::load_image(path, small); });
    CHECK_THAT(err, Catch::Contains(path) && Catch::Contains("exceeds the limits"));
  }
  // Truncated and garbage files, by name and cause.
  for (const char* ext : {"webp", "tif"}) {
    INFO(ext);
    const std::string full = dir + "/full." + ext;
    vdsr::save_image(full, random_image(64, 64, 3, 8, 3), vdsr::parse_image_format(ext));
    auto b = read_bytes(full);
    b.resize(b.size() / 2);
    const std::string half = dir + "/half." + ext;
    write_bytes(half, b);
    err = vdsr::test::error_of([&] { vdsr::load_image(half); });
    CHECK_THAT(err, Catch::Contains(half) && Catch::Contains("truncated"));
    b.resize(std::string(ext) == "webp" ? 20 : 10);  // inside the header
    write_bytes(half, b);
    err = vdsr::test::error_of([&] { vdsr::load_image(half); });
    CHECK_THAT(err, Catch::Contains(half) && Catch::Contains("cannot read image"));
  }
  fs::remove_all(dir);
}

TEST_CASE("every format says which library serves it, and the extensions are recognised") {
  for (const char* f : {"jpeg", "webp", "tiff"}) vdsr::test::require_codec(f);
  const std::string text = vdsr::image_codecs_text();
  INFO(text);
  CHECK_THAT(text, Catch::Contains("png libpng") && Catch::Contains("jpeg libjpeg-turbo") &&
                       Catch::Contains("webp libwebp") && Catch::Contains("tiff libtiff") &&
                       Catch::Contains("bmp stb_image") && Catch::Contains("tga stb_image"));
  for (const char* name : {"a.webp", "b.TIF", "c.tiff", "d.jpeg"}) CHECK(vdsr::has_image_extension(name));
  CHECK(vdsr::parse_image_format("webp") == ImageFormat::WEBP);
  CHECK(vdsr::parse_image_format("TIFF") == ImageFormat::TIFF);
  CHECK(vdsr::parse_image_format("tif") == ImageFormat::TIFF);
  CHECK(std::string(vdsr::image_format_extension(ImageFormat::TIFF)) == "tif");
  CHECK_THAT(vdsr::test::error_of([] { vdsr::parse_image_format("gif"); }),
             Catch::Contains("expected png, jpg, webp, tif or bmp"));
}

namespace {

// The segments of a JPEG file, walked by hand from SOI: {marker, payload} until SOS.
std::vector<std::pair<int, std::vector<unsigned char>>> jpeg_segments(const std::vector<unsigned char>& f) {
  std::vector<std::pair<int, std::vector<unsigned char>>> segs;
  REQUIRE(f.size() > 4);
  REQUIRE(f[0] == 0xff);
  REQUIRE(f[1] == 0xd8);
  size_t at = 2;
  while (at + 4 <= f.size()) {
    REQUIRE(f[at] == 0xff);
    const int marker = f[at + 1];
    const size_t len = (size_t(f[at + 2]) << 8) | size_t(f[at + 3]);  // counts itself
    REQUIRE(at + 2 + len <= f.size());
    segs.emplace_back(marker, std::vector<unsigned char>(f.begin() + std::ptrdiff_t(at + 4),
                                                         f.begin() + std::ptrdiff_t(at + 2 + len)));
    if (marker == 0xda) break;  // SOS: entropy-coded data follows
    at += 2 + len;
  }
  return segs;
}

// The sampling factors (H << 4 | V) of each component in the frame header (SOF0/1/2).
std::vector<int> jpeg_sampling(const std::vector<unsigned char>& f) {
  for (const auto& [marker, p] : jpeg_segments(f))
    if (marker == 0xc0 || marker == 0xc1 || marker == 0xc2) {
      std::vector<int> s;
      for (size_t k = 0; k < p[5]; ++k) s.push_back(p[6 + 3 * k + 1]);
      return s;
    }
  FAIL("no frame header");
  return {};
}

// The DC entry of quantisation table `id` (8-bit tables).
int jpeg_dc_quant(const std::vector<unsigned char>& f, int id) {
  for (const auto& [marker, p] : jpeg_segments(f))
    if (marker == 0xdb)
      for (size_t at = 0; at + 65 <= p.size(); at += 65) {
        REQUIRE((p[at] >> 4) == 0);  // 8-bit entries
        if ((p[at] & 15) == id) return p[at + 1];
      }
  FAIL("no quantisation table " << id);
  return 0;
}

uint32_t le16_at(const std::vector<unsigned char>& f, size_t at) { return uint32_t(f[at]) | (uint32_t(f[at + 1]) << 8); }

}  // namespace

TEST_CASE("PNG through libpng (levels 0, 2-9) keeps the profile and the EXIF, 8 and 16 bit") {
  const std::string dir = vdsr::test::temp_dir("codecs_png_levels");
  for (const int level : {0, 6, 9})
    for (const int bits : {8, 16}) {
      INFO("level " << level << ", " << bits << " bit");
      Image img = random_image(12, 10, 3, bits, uint32_t(level + bits));
      img.icc = icc_profile("RGB ", 0x21);
      img.exif = exif_bytes(1);
      vdsr::SaveOptions o;
      o.png_level = level;
      vdsr::save_image(dir + "/a.png", img, ImageFormat::PNG, o);
      const Image back = vdsr::load_image(dir + "/a.png");
      CHECK(back.bits == bits);
      CHECK(back.pixels == img.pixels);
      CHECK(back.icc == img.icc);
      CHECK(back.exif == img.exif);
    }
  fs::remove_all(dir);
}

// The chunk types of a PNG file, in order.
std::vector<std::string> png_chunk_types(const std::string& bytes) {
  std::vector<std::string> out;
  for (size_t at = 8; at + 8 <= bytes.size();) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + at);
    const uint32_t len = uint32_t(p[0]) << 24 | uint32_t(p[1]) << 16 | uint32_t(p[2]) << 8 | p[3];
    out.push_back(bytes.substr(at + 4, 4));
    at += 12 + size_t(len);
  }
  return out;
}

TEST_CASE(
    "a PNG's sRGB, gAMA and cHRM chunks go to a PNG as stored, at level 1 and through libpng") {
  const std::string dir = vdsr::test::temp_dir("codecs_png_colour");
  vdsr::PngColour srgb, gamma, both;
  srgb.srgb_intent = 0;
  gamma.gamma = 55556;  // 1/1.8, an old Mac's
  both.gamma = 45455;
  both.chrm = {31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000};
  for (const int level : {1, 6})
    for (const auto& c : {srgb, gamma, both}) {
      INFO("level " << level << ", intent " << c.srgb_intent << ", gamma " << c.gamma);
      Image img = random_image(12, 10, 3, 8, 7);
      img.png_colour = c;
      vdsr::SaveOptions o;
      o.png_level = level;
      vdsr::save_image(dir + "/a.png", img, ImageFormat::PNG, o);
      CHECK(vdsr::load_image(dir + "/a.png").png_colour == c);
      // Exactly the chunks given (libpng's setters would add the gAMA and cHRM an sRGB implies),
      // before the image data, and none after it.
      const auto types = png_chunk_types(vdsr::test::file_bytes(dir + "/a.png"));
      std::vector<std::string> want = {"IHDR"};
      if (c.srgb_intent >= 0) want.push_back("sRGB");
      if (c.gamma > 0) want.push_back("gAMA");
      if (!(c.chrm == std::array<uint32_t, 8>{})) want.push_back("cHRM");
      want.push_back("IDAT");
      REQUIRE(types.size() > want.size());
      CHECK(std::vector<std::string>(types.begin(), types.begin() + std::ptrdiff_t(want.size())) ==
            want);
      CHECK(types.back() == "IEND");
      for (size_t i = want.size(); i + 1 < types.size(); ++i) CHECK(types[i] == "IDAT");
    }
  // A chunk whose CRC does not match is dropped, as libpng drops a damaged ancillary chunk.
  Image img = random_image(8, 8, 3, 8, 3);
  img.png_colour = gamma;
  vdsr::save_image(dir + "/g.png", img, ImageFormat::PNG);
  std::string bytes = vdsr::test::file_bytes(dir + "/g.png");
  const size_t at = bytes.find("gAMA");
  REQUIRE(at != std::string::npos);
  bytes[at + 4] ^= 1;
  vdsr::test::write_bytes(dir + "/bad.png", std::vector<unsigned char>(bytes.begin(), bytes.end()));
  CHECK(vdsr::load_image(dir + "/bad.png").png_colour.empty());
  fs::remove_all(dir);
}

// A PNG chunk as a file stores it: length, type, data and the CRC-32 of type and data.
std::string png_chunk(const std::string& type, const std::string& data) {
  const std::string body = type + data;
  uint32_t crc = 0xffffffffu;
  for (const char ch : body) {
    crc ^= static_cast<unsigned char>(ch);
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  crc ^= 0xffffffffu;
  const auto be = [](uint32_t v) {
    std::string s(4, '\0');
    for (size_t i = 0; i < 4; ++i) s[i] = static_cast<char>((v >> (24 - 8 * i)) & 0xffu);
    return s;
  };
  return be(uint32_t(data.size())) + body + be(crc);
}

TEST_CASE(
    "PNG colour chunks libpng would not keep are not carried: after IDAT, a bad intent or length") {
  const std::string dir = vdsr::test::temp_dir("codecs_png_colour_bad");
  vdsr::save_image(dir + "/plain.png", random_image(8, 8, 3, 8, 5), ImageFormat::PNG);
  const std::string plain = vdsr::test::file_bytes(dir + "/plain.png");
  REQUIRE(plain.substr(12, 4) == "IHDR");
  const size_t after_ihdr = 8 + 12 + 13, iend = plain.size() - 12;
  REQUIRE(plain.substr(iend + 4, 4) == "IEND");
  const auto load_with = [&](const std::string& name, size_t at, const std::string& chunk) {
    std::string bytes = plain;
    bytes.insert(at, chunk);
    write_bytes(dir + "/" + name, std::vector<unsigned char>(bytes.begin(), bytes.end()));
    return vdsr::load_image(dir + "/" + name).png_colour;
  };
  const std::string gamma("\x00\x00\xd9\x03", 4);  // 55555
  // Well formed, before the image data: read.
  CHECK(load_with("ok.png", after_ihdr, png_chunk("gAMA", gamma)).gamma == 55555);
  CHECK(load_with("srgb.png", after_ihdr, png_chunk("sRGB", std::string(1, '\x03'))).srgb_intent ==
        3);
  // After the image data (out of place), an intent past 3, a gAMA of 8 bytes: dropped, as libpng
  // drops them.
  CHECK(load_with("late.png", iend, png_chunk("gAMA", gamma)).empty());
  CHECK(load_with("intent.png", after_ihdr, png_chunk("sRGB", std::string(1, '\x04'))).empty());
  CHECK(load_with("long.png", after_ihdr, png_chunk("gAMA", gamma + gamma)).empty());
  // libpng's own checks decide the rest, as a viewer built on it sees the file: a gamma below its
  // range (15), two gAMA chunks, a white point outside the primaries' triangle and primaries in a
  // line are dropped; primaries at y = 0 (the XYZ axes) are kept.
  const auto be = [](std::initializer_list<uint32_t> values) {
    std::string out;
    for (const uint32_t v : values)
      for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((v >> shift) & 0xffu));
    return out;
  };
  CHECK(load_with("g15.png", after_ihdr, png_chunk("gAMA", be({15}))).empty());
  CHECK(
      load_with("twice.png", after_ihdr, png_chunk("gAMA", gamma) + png_chunk("gAMA", be({100000})))
          .empty());
  CHECK(load_with("out.png", after_ihdr,
                  png_chunk("cHRM", be({80000, 10000, 64000, 33000, 30000, 60000, 15000, 6000})))
            .empty());
  CHECK(load_with("line.png", after_ihdr,
                  png_chunk("cHRM", be({31270, 32900, 64000, 33000, 64000, 33000, 15000, 6000})))
            .empty());
  CHECK(load_with("axes.png", after_ihdr,
                  png_chunk("cHRM", be({33333, 33333, 100000, 0, 0, 100000, 0, 0})))
            .chrm == std::array<uint32_t, 8>{33333, 33333, 100000, 0, 0, 100000, 0, 0});
  fs::remove_all(dir);
}

TEST_CASE("a PNG turned upright by its EXIF orientation keeps its colour chunks") {
  const std::string dir = vdsr::test::temp_dir("codecs_png_colour_turned");
  Image img = random_image(5, 3, 3, 8, 9);  // 3 wide, 5 high; orientation 6 reads it 5 wide
  img.exif = exif_bytes(6);
  img.png_colour.gamma = 45455;
  img.png_colour.chrm = {31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000};
  for (const int level : {1, 6}) {
    INFO("level " << level);
    vdsr::SaveOptions o;
    o.png_level = level;
    vdsr::save_image(dir + "/t.png", img, ImageFormat::PNG, o);
    const Image back = vdsr::load_image(dir + "/t.png");
    REQUIRE(back.width == img.height);  // turned
    CHECK(back.png_colour == img.png_colour);
  }
  fs::remove_all(dir);
}

TEST_CASE("JPEG: 4:4:4 chroma at quality 90 and above, 4:2:0 below, the quality in the quantisation tables") {
  vdsr::test::require_codec("jpeg");
  const std::string dir = vdsr::test::temp_dir("codecs_jpeg_q");
  const Image img = smooth_image(32, 32, 3);
  // IJG's scaling (jcparam.c, documented in libjpeg.txt): scale = q < 50 ? 5000 / q : 200 - 2 q,
  // entry = (base * scale + 50) / 100 in 1..255; the DC bases of Annex K are 16 (luma), 17 (chroma).
  struct Case {
    int quality, sampling_y, dc_y, dc_c;
  };
  for (const Case k : {Case{100, 0x11, 1, 1}, Case{95, 0x11, 2, 2}, Case{90, 0x11, 3, 3}, Case{89, 0x22, 4, 4},
                       Case{50, 0x22, 16, 17}, Case{10, 0x22, 80, 85}}) {
    INFO("quality " << k.quality);
    vdsr::SaveOptions o;
    o.jpeg_quality = k.quality;
    vdsr::save_image(dir + "/a.jpg", img, ImageFormat::JPEG, o);
    const std::vector<unsigned char> f = read_bytes(dir + "/a.jpg");
    CHECK(jpeg_sampling(f) == std::vector<int>{k.sampling_y, 0x11, 0x11});
    CHECK(jpeg_dc_quant(f, 0) == k.dc_y);
    CHECK(jpeg_dc_quant(f, 1) == k.dc_c);
  }
  // Grey is written grey: one component.
  vdsr::save_image(dir + "/g.jpg", random_image(16, 16, 1, 8, 4), ImageFormat::JPEG);
  CHECK(jpeg_sampling(read_bytes(dir + "/g.jpg")) == std::vector<int>{0x11});
  CHECK(vdsr::load_image(dir + "/g.jpg").channels == 1);
  fs::remove_all(dir);
}

TEST_CASE("TIFF written: Deflate with the horizontal predictor at levels 1-9, none at 0, unassociated alpha") {
  vdsr::test::require_codec("tiff");
  const std::string dir = vdsr::test::temp_dir("codecs_tiff_tags");
  for (const int c : {1, 2, 3, 4})
    for (const int level : {0, 1, 9}) {
      INFO(c << " channels, level " << level);
      vdsr::SaveOptions o;
      o.png_level = level;
      vdsr::save_image(dir + "/a.tif", random_image(8, 9, c, 16, uint32_t(c)), ImageFormat::TIFF, o);
      const std::vector<unsigned char> f = read_bytes(dir + "/a.tif");
      CHECK(le16_at(f, tiff_tag_value_at(f, 277)) == uint32_t(c));                 // SamplesPerPixel
      CHECK(le16_at(f, tiff_tag_value_at(f, 262)) == (c <= 2 ? 1u : 2u));           // MinIsBlack, RGB
      CHECK(le16_at(f, tiff_tag_value_at(f, 259)) == (level == 0 ? 1u : 8u));       // none, Adobe Deflate
      if (level > 0) CHECK(le16_at(f, tiff_tag_value_at(f, 317)) == 2u);            // horizontal predictor
      if (c == 2 || c == 4) CHECK(le16_at(f, tiff_tag_value_at(f, 338)) == 2u);     // unassociated alpha
    }
  // The level reaches zlib: level 9 packs a smooth image tighter than level 1.
  const Image smooth = smooth_image(96, 96, 3);
  vdsr::SaveOptions fast, best;
  fast.png_level = 1;
  best.png_level = 9;
  CHECK(saved_size(dir + "/l9.tif", smooth, ImageFormat::TIFF, best) <
        saved_size(dir + "/l1.tif", smooth, ImageFormat::TIFF, fast));
  fs::remove_all(dir);
}

TEST_CASE("WebP: quality 100 is lossy (a VP8 chunk), 101 lossless (VP8L) keeping the colour under transparent pixels") {
  vdsr::test::require_codec("webp");
  const std::string dir = vdsr::test::temp_dir("codecs_webp_kind");
  Image img = random_image(16, 16, 4, 8, 12);
  for (size_t i = 0; i < img.pixels.size(); i += 8) img.pixels[i + 3] = 0;  // every other pixel transparent
  for (const int q : {100, 101}) {
    INFO("quality " << q);
    vdsr::SaveOptions o;
    o.webp_quality = q;
    vdsr::save_image(dir + "/a.webp", img, ImageFormat::WEBP, o);
    const std::vector<unsigned char> f = read_bytes(dir + "/a.webp");
    REQUIRE(f.size() > 16);
    // RIFF, size, WEBP, then the first chunk's tag (alpha makes lossy files VP8X-extended).
    const std::string tag(f.begin() + 12, f.begin() + 16);
    if (q == 101) {
      CHECK(tag == "VP8L");
      CHECK(vdsr::load_image(dir + "/a.webp").pixels == img.pixels);
    } else {
      CHECK(tag == "VP8X");
      const std::string bytes(f.begin(), f.end());
      CHECK(bytes.find("VP8 ") != std::string::npos);
      CHECK(bytes.find("VP8L") == std::string::npos);
    }
  }
  // The lossy quality reaches the encoder: quality 10 is smaller than 100.
  const Image smooth = smooth_image(64, 64, 3);
  vdsr::SaveOptions q10, q100;
  q10.webp_quality = 10;
  q100.webp_quality = 100;
  CHECK(saved_size(dir + "/q10.webp", smooth, ImageFormat::WEBP, q10) <
        saved_size(dir + "/q100.webp", smooth, ImageFormat::WEBP, q100));
  fs::remove_all(dir);
}

TEST_CASE("BMP keeps the alpha of a grey+alpha image, written as RGBA") {
  const std::string dir = vdsr::test::temp_dir("codecs_bmp_ga");
  const Image ga = random_image(5, 6, 2, 8, 8);
  vdsr::save_image(dir + "/ga.bmp", ga, ImageFormat::BMP);
  const Image back = vdsr::load_image(dir + "/ga.bmp");
  REQUIRE(back.channels == 4);
  for (size_t i = 0; i < size_t(5 * 6); ++i) {
    for (size_t k = 0; k < 3; ++k) CHECK(back.pixels[i * 4 + k] == ga.pixels[i * 2]);
    CHECK(back.pixels[i * 4 + 3] == ga.pixels[i * 2 + 1]);
  }
  fs::remove_all(dir);
}

TEST_CASE("JPEG keeps EXIF of up to 65527 bytes, one APP1 segment's worth, and drops longer EXIF") {
  vdsr::test::require_codec("jpeg");
  const std::string dir = vdsr::test::temp_dir("codecs_jpeg_exif_max");
  // A segment's length field counts itself (2 bytes) and "Exif\0\0" (6): 65535 - 8 = 65527.
  for (const size_t size : {size_t(65527), size_t(65528)}) {
    INFO(size << " bytes of EXIF");
    Image img = smooth_image(8, 8, 3);
    img.exif = exif_bytes(1);
    img.exif.resize(size, 0);  // padding after IFD0's data
    vdsr::save_image(dir + "/a.jpg", img, ImageFormat::JPEG);
    const Image back = vdsr::load_image(dir + "/a.jpg");
    if (size == 65527) CHECK(back.exif == img.exif);
    else CHECK(back.exif.empty());
  }
  fs::remove_all(dir);
}
