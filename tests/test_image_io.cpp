// Image files: round trips of every written format and channel layout, reading TGA and palette PNG,
// and rejection (with the file named) of missing, empty, garbage, truncated and oversized files;
// failed writes leave no file and no temporary behind.
#include <catch2/catch.hpp>

#include <stb/stb_image_write.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/error.h"
#include "image/image_io.h"
#include "model/upscale.h"
#include "tests/support/test_support.h"

namespace fs = std::filesystem;
using vdsr::Image;
using vdsr::ImageFormat;

using vdsr::test::make_png;
using vdsr::test::random_image;
using vdsr::test::read_bytes;
using vdsr::test::write_bytes;

namespace {

// A smooth RGB image (JPEG is meant for these; noise would not reach 35 dB).
Image smooth_image(int h, int w) {
  Image img;
  img.width = w;
  img.height = h;
  img.channels = 3;
  img.pixels.resize(size_t(h) * size_t(w) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        img.pixels[(size_t(y) * size_t(w) + size_t(x)) * 3 + size_t(c)] = static_cast<uint16_t>(
            std::lround(127.5 + 100 * std::sin(0.05 * x + 0.07 * y + c) * std::cos(0.03 * y - 0.02 * c * x)));
  return img;
}

double psnr8(const Image& a, const Image& b) {
  REQUIRE(a.pixels.size() == b.pixels.size());
  double se = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - double(b.pixels[i]);
    se += d * d;
  }
  return 10 * std::log10(255.0 * 255.0 / (se / double(a.pixels.size())));
}

// No temporary file of an atomic write remains in `dir`.
void check_no_temporaries(const std::string& dir) {
  for (const auto& e : fs::directory_iterator(dir)) {
    INFO("left behind: " << e.path());
    CHECK(e.path().filename().string().find(".tmp.") == std::string::npos);
  }
}

// The image data of an Adam7-interlaced PNG of `img` (8 or 16 bits, big-endian samples): the seven
// passes' sub-images in turn, each row filter byte 0 then its samples; an empty pass has no rows.
std::vector<unsigned char> adam7_rows(const Image& img) {
  const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1};
  const int dx[7] = {8, 8, 4, 4, 2, 2, 1}, dy[7] = {8, 8, 8, 4, 4, 2, 2};
  std::vector<unsigned char> rows;
  for (int p = 0; p < 7; ++p) {
    if (x0[p] >= img.width) continue;  // no columns: the pass is empty
    for (int y = y0[p]; y < img.height; y += dy[p]) {
      rows.push_back(0);
      for (int x = x0[p]; x < img.width; x += dx[p])
        for (int k = 0; k < img.channels; ++k) {
          const uint16_t v = img.pixels[(size_t(y) * size_t(img.width) + size_t(x)) * size_t(img.channels) + size_t(k)];
          if (img.bits == 16) rows.push_back(static_cast<unsigned char>(v >> 8));
          rows.push_back(static_cast<unsigned char>(v & 0xff));
        }
    }
  }
  return rows;
}

// Runs f, which must throw an Error whose message names `path` and contains `cause`.
template <class F>
void check_rejects(F f, const std::string& path, const std::string& cause) {
  try {
    f();
    FAIL("no error for " << path);
  } catch (const vdsr::Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(path) != std::string::npos);
    CHECK(msg.find(cause) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("PNG round trips, 8 and 16 bit, every channel layout, the default level and zlib's") {
  const std::string dir = vdsr::test::temp_dir("image_io_png");
  for (int bits : {8, 16})
    for (int c = 1; c <= 4; ++c)
      for (int level : {1, 9}) {
        INFO(bits << " bits, " << c << " channels, level " << level);
        const Image img = random_image(13, 17, c, bits, uint32_t(10 * bits + c));
        const std::string path = dir + "/img_" + std::to_string(bits) + "_" + std::to_string(c) + ".png";
        vdsr::save_image(path, img, ImageFormat::PNG, vdsr::SaveOptions{95, level});
        const vdsr::ImageInfo info = vdsr::probe_image(path);
        CHECK(info.format == "png");
        CHECK(info.width == 17);
        CHECK(info.height == 13);
        CHECK(info.channels == c);
        CHECK(info.bits == bits);
        const Image back = vdsr::load_image(path);
        CHECK(back.width == 17);
        CHECK(back.height == 13);
        CHECK(back.channels == c);
        CHECK(back.bits == bits);
        CHECK(back.pixels == img.pixels);
      }
  // 16-bit PNG at another compression level: same pixels.
  const Image big = random_image(40, 50, 3, 16, 99);
  vdsr::save_image(dir + "/l0.png", big, ImageFormat::PNG, vdsr::SaveOptions{95, 0});
  CHECK(vdsr::load_image(dir + "/l0.png").pixels == big.pixels);
  check_no_temporaries(dir);
  fs::remove_all(dir);
}

TEST_CASE("PNG's default level (Paeth rows, run-length matching) beats zlib's level 2 on an upscaled photograph") {
  // The fast setting of level 1 (image/codec_png.cpp) must stay smaller than the next level, whose
  // zlib search is slower: on the bundled sample upscaled x2 (smooth, as vdsr_sr's outputs are).
  const std::string dir = vdsr::test::temp_dir("image_io_png_level");
  vdsr::UpscaleOptions up;
  up.scale = 2;
  const Image img =
      vdsr::upscale_image(vdsr::load_image(std::string(VDSR_SOURCE_DIR) + "/samples/butterfly_x0.5.png"), nullptr, up);
  vdsr::save_image(dir + "/l1.png", img, ImageFormat::PNG, vdsr::SaveOptions{95, 1});
  vdsr::save_image(dir + "/l2.png", img, ImageFormat::PNG, vdsr::SaveOptions{95, 2});
  CHECK(fs::file_size(dir + "/l1.png") < fs::file_size(dir + "/l2.png"));
  CHECK(vdsr::load_image(dir + "/l1.png").pixels == img.pixels);
  fs::remove_all(dir);
}

namespace {

uint32_t be32_at(const std::vector<unsigned char>& b, size_t at) {
  return uint32_t(b[at]) << 24 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at + 2]) << 8 | uint32_t(b[at + 3]);
}

// The PNG specification's Paeth predictor, as it writes it.
int paeth_spec(int a, int b, int c) {
  const int p = a + b - c, pa = std::abs(p - a), pb = std::abs(p - b), pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  if (pb <= pc) return b;
  return c;
}

}  // namespace

TEST_CASE("PNG's default level, written without libpng: valid chunks, Paeth on every row, read back") {
  const std::string dir = vdsr::test::temp_dir("image_io_png_fast");
  struct Case {
    int h, w, c, bits;
  };
  // 700 x 700 random RGB compresses to about 1.5 MB: more than one IDAT chunk of at most 1 MiB.
  for (const Case k : {Case{700, 700, 3, 8}, Case{1, 1, 1, 8}, Case{1, 5, 2, 16}, Case{5, 1, 4, 16}, Case{9, 7, 3, 16},
                       Case{6, 11, 1, 8}}) {
    INFO(k.h << "x" << k.w << ", " << k.c << " channels, " << k.bits << " bits");
    const Image img = random_image(k.h, k.w, k.c, k.bits, uint32_t(k.h * 31 + k.w * 7 + k.c));
    const std::string path = dir + "/f.png";
    vdsr::save_image(path, img, ImageFormat::PNG);  // level 1, the default
    const std::vector<unsigned char> f = read_bytes(path);
    REQUIRE(f.size() > 8);
    // Chunks: IHDR first, IEND last, every CRC right, IDATs of at most 1 MiB; their data joined.
    std::vector<std::string> types;
    std::vector<unsigned char> z;
    size_t idats = 0;
    for (size_t pos = 8; pos < f.size();) {
      REQUIRE(pos + 12 <= f.size());
      const uint32_t len = be32_at(f, pos);
      REQUIRE(pos + 12 + len <= f.size());
      const std::string type(f.begin() + std::ptrdiff_t(pos + 4), f.begin() + std::ptrdiff_t(pos + 8));
      types.push_back(type);
      CHECK(be32_at(f, pos + 8 + len) == uint32_t(crc32(0, f.data() + pos + 4, uInt(4 + len))));
      if (type == "IDAT") {
        ++idats;
        CHECK(len <= (1u << 20));
        z.insert(z.end(), f.begin() + std::ptrdiff_t(pos + 8), f.begin() + std::ptrdiff_t(pos + 8 + len));
      }
      pos += 12 + len;
    }
    REQUIRE(types.size() >= 3);
    CHECK(types.front() == "IHDR");
    CHECK(types.back() == "IEND");
    if (k.h == 700) CHECK(idats >= 2);
    // Every row: filter 4 (Paeth) and the specification's Paeth residuals of the big-endian samples.
    const size_t bpp = size_t(k.c * k.bits / 8), row = size_t(k.w) * bpp;
    std::vector<unsigned char> raw((row + 1) * size_t(k.h) + 1);
    uLongf n = uLongf(raw.size());
    REQUIRE(uncompress(raw.data(), &n, z.data(), uLong(z.size())) == Z_OK);
    REQUIRE(n == (row + 1) * size_t(k.h));
    const auto sample_byte = [&](int y, size_t i) -> int {  // byte i of row y, as the file stores it
      const uint16_t v = img.pixels[size_t(y) * size_t(k.w) * size_t(k.c) + i / size_t(k.bits / 8)];
      return k.bits == 8 ? v : (i % 2 == 0 ? v >> 8 : v & 0xff);
    };
    bool all_paeth = true, residuals_right = true;
    for (int y = 0; y < k.h; ++y) {
      all_paeth = all_paeth && raw[size_t(y) * (row + 1)] == 4;
      for (size_t i = 0; i < row; ++i) {
        const int a = i >= bpp ? sample_byte(y, i - bpp) : 0, b = y > 0 ? sample_byte(y - 1, i) : 0;
        const int c = (i >= bpp && y > 0) ? sample_byte(y - 1, i - bpp) : 0;
        const int want = (sample_byte(y, i) - paeth_spec(a, b, c)) & 0xff;
        residuals_right = residuals_right && raw[size_t(y) * (row + 1) + 1 + i] == want;
      }
    }
    CHECK(all_paeth);
    CHECK(residuals_right);
    const Image back = vdsr::load_image(path);  // libpng's reader checks the CRCs and zlib's checksum
    CHECK(back.pixels == img.pixels);
  }
  fs::remove_all(dir);
}

TEST_CASE("BMP and JPEG round trips") {
  const std::string dir = vdsr::test::temp_dir("image_io_bmp_jpeg");
  SECTION("BMP keeps RGB and RGBA exactly, grey comes back as RGB") {
    for (int c : {3, 4}) {
      const Image img = random_image(11, 14, c, 8, uint32_t(c));
      const std::string path = dir + "/x" + std::to_string(c) + ".bmp";
      vdsr::save_image(path, img, ImageFormat::BMP);
      CHECK(vdsr::probe_image(path).format == "bmp");
      const Image back = vdsr::load_image(path);
      CHECK(back.channels == c);
      CHECK(back.pixels == img.pixels);
    }
    const Image grey = random_image(5, 7, 1, 8, 3);
    vdsr::save_image(dir + "/g.bmp", grey, ImageFormat::BMP);
    const Image back = vdsr::load_image(dir + "/g.bmp");
    REQUIRE(back.channels == 3);
    for (size_t i = 0; i < grey.pixels.size(); ++i)
      for (size_t k = 0; k < 3; ++k) CHECK(back.pixels[i * 3 + k] == grey.pixels[i]);
  }
  SECTION("JPEG is close, and drops alpha") {
    const Image img = smooth_image(64, 80);
    vdsr::save_image(dir + "/s.jpg", img, ImageFormat::JPEG, vdsr::SaveOptions{95, 6});
    CHECK(vdsr::probe_image(dir + "/s.jpg").format == "jpeg");
    const Image back = vdsr::load_image(dir + "/s.jpg");
    REQUIRE(back.channels == 3);
    REQUIRE(back.width == 80);
    REQUIRE(back.height == 64);
    const double p = psnr8(img, back);
    INFO("JPEG PSNR " << p);
    CHECK(p > 35);
    Image rgba = img;
    rgba.channels = 4;
    rgba.pixels.clear();
    for (size_t i = 0; i < img.pixels.size(); i += 3)
      rgba.pixels.insert(rgba.pixels.end(), {img.pixels[i], img.pixels[i + 1], img.pixels[i + 2], 77});
    vdsr::save_image(dir + "/a.jpg", rgba, ImageFormat::JPEG);
    const Image back4 = vdsr::load_image(dir + "/a.jpg");
    CHECK(back4.channels == 3);
    CHECK(psnr8(img, back4) > 35);
  }
  SECTION("16-bit images are PNG only") {
    const Image img = random_image(4, 4, 3, 16, 1);
    check_rejects([&] { vdsr::save_image(dir + "/x.jpg", img, ImageFormat::JPEG); }, dir + "/x.jpg", "16-bit");
    check_rejects([&] { vdsr::save_image(dir + "/x.bmp", img, ImageFormat::BMP); }, dir + "/x.bmp", "16-bit");
    CHECK(!fs::exists(dir + "/x.jpg"));
    CHECK(!fs::exists(dir + "/x.bmp"));
  }
  check_no_temporaries(dir);
  fs::remove_all(dir);
}

TEST_CASE("TGA and palette PNG are read") {
  const std::string dir = vdsr::test::temp_dir("image_io_read");
  SECTION("TGA written by stb_image_write") {
    for (int c : {1, 3, 4}) {
      const Image img = random_image(9, 12, c, 8, uint32_t(40 + c));
      std::vector<unsigned char> data(img.pixels.begin(), img.pixels.end());
      const std::string path = dir + "/t" + std::to_string(c) + ".TGA";
      REQUIRE(stbi_write_tga(path.c_str(), 12, 9, c, data.data()) != 0);
      const vdsr::ImageInfo info = vdsr::probe_image(path);
      CHECK(info.format == "tga");
      CHECK(info.channels == c);
      const Image back = vdsr::load_image(path);
      CHECK(back.channels == c);
      CHECK(back.pixels == img.pixels);
      // TGA has no signature: the same bytes under another name are not an image.
      fs::copy_file(path, path + ".dat");
      check_rejects([&] { vdsr::load_image(path + ".dat"); }, path + ".dat", "unknown signature");
    }
  }
  SECTION("palette PNG is expanded to RGB, or RGBA with tRNS") {
    const std::vector<unsigned char> plte = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30};
    const std::vector<unsigned char> rows = {0, 0, 1, 2, 0, 3, 3, 1};  // 3x2, indices 0 1 2 / 3 3 1
    write_bytes(dir + "/p.png", make_png(3, 2, 8, 3, rows, plte));
    const Image rgb = vdsr::load_image(dir + "/p.png");
    REQUIRE(rgb.channels == 3);
    CHECK(rgb.pixels == std::vector<uint16_t>{255, 0, 0, 0, 255, 0, 0, 0, 255,  //
                                              10, 20, 30, 10, 20, 30, 0, 255, 0});
    write_bytes(dir + "/pa.png", make_png(3, 2, 8, 3, rows, plte, {200, 100}));
    const Image rgba = vdsr::load_image(dir + "/pa.png");
    REQUIRE(rgba.channels == 4);
    CHECK(rgba.pixels == std::vector<uint16_t>{255, 0, 0, 200, 0, 255, 0, 100, 0, 0, 255, 255,  //
                                               10, 20, 30, 255, 10, 20, 30, 255, 0, 255, 0, 100});
  }
  SECTION("Adam7-interlaced PNG, 8 and 16 bit") {
    // 9 x 7 and 5 x 6 (width x height): every pass holds pixels; 2 x 3: passes 2, 3 and 4 are empty.
    // libpng hands each pass's pixels into the rows as they stand, so every pass must land.
    for (const auto& [h, w, c, bits] : {std::array<int, 4>{7, 9, 3, 8}, std::array<int, 4>{6, 5, 1, 16},
                                        std::array<int, 4>{3, 2, 4, 8}}) {
      INFO(w << "x" << h << ", " << c << " channels, " << bits << " bit");
      const Image img = random_image(h, w, c, bits, uint32_t(70 + c));
      const int color = c == 1 ? 0 : c == 3 ? 2 : 6;
      const std::string path = dir + "/i" + std::to_string(c) + ".png";
      write_bytes(path, make_png(uint32_t(w), uint32_t(h), bits, color, adam7_rows(img), {}, {}, 1));
      const Image back = vdsr::load_image(path);
      REQUIRE(back.channels == c);
      REQUIRE(back.bits == bits);
      CHECK(back.pixels == img.pixels);
    }
  }
  SECTION("grey PNG with a tRNS colour gets an alpha channel") {
    const std::vector<unsigned char> rows = {0, 5, 9, 0, 9, 7};
    write_bytes(dir + "/gt.png", make_png(2, 2, 8, 0, rows, {}, {0, 9}));
    CHECK(vdsr::probe_image(dir + "/gt.png").channels == 2);
    const Image g = vdsr::load_image(dir + "/gt.png");
    REQUIRE(g.channels == 2);
    CHECK(g.pixels == std::vector<uint16_t>{5, 255, 9, 0, 9, 0, 7, 255});
  }
  fs::remove_all(dir);
}

TEST_CASE("bad files are rejected with the file named") {
  const std::string dir = vdsr::test::temp_dir("image_io_bad");
  SECTION("missing") {
    check_rejects([&] { vdsr::load_image(dir + "/none.png"); }, dir + "/none.png", "No such file");
    check_rejects([&] { vdsr::probe_image(dir + "/none.png"); }, dir + "/none.png", "No such file");
  }
  SECTION("a folder") {
    fs::create_directories(dir + "/sub.png");
    check_rejects([&] { vdsr::load_image(dir + "/sub.png"); }, dir + "/sub.png", "folder");
  }
  SECTION("empty") {
    write_bytes(dir + "/empty.png", {});
    check_rejects([&] { vdsr::load_image(dir + "/empty.png"); }, dir + "/empty.png", "empty");
  }
  SECTION("garbage") {
    const std::string text = "this is not an image, just some text that happens to end in .png\n";
    write_bytes(dir + "/garbage.png", std::vector<unsigned char>(text.begin(), text.end()));
    check_rejects([&] { vdsr::load_image(dir + "/garbage.png"); }, dir + "/garbage.png", "unknown signature");
    const auto noise = vdsr::test::random_ints(3000, 0, 255, 8);
    write_bytes(dir + "/noise.jpg", std::vector<unsigned char>(noise.begin(), noise.end()));
    check_rejects([&] { vdsr::load_image(dir + "/noise.jpg"); }, dir + "/noise.jpg", "cannot read image");
  }
  SECTION("truncated PNG, JPEG and BMP") {
    vdsr::save_image(dir + "/full.png", random_image(64, 64, 3, 8, 5), ImageFormat::PNG);
    vdsr::save_image(dir + "/full.jpg", smooth_image(64, 64), ImageFormat::JPEG);
    vdsr::save_image(dir + "/full.bmp", random_image(64, 64, 3, 8, 6), ImageFormat::BMP);
    for (const char* ext : {"png", "jpg", "bmp"}) {
      auto bytes = read_bytes(dir + "/full." + ext);
      REQUIRE(bytes.size() > 1000);
      bytes.resize(bytes.size() / 2);
      const std::string path = dir + "/half." + ext;
      write_bytes(path, bytes);
      INFO(ext);
      if (std::string(ext) == "png") {
        check_rejects([&] { vdsr::load_image(path); }, path, "corrupt or truncated png");
      } else if (std::string(ext) == "bmp") {
        check_rejects([&] { vdsr::load_image(path); }, path, "truncated bmp");
      } else {
        check_rejects([&] { vdsr::load_image(path); }, path, "corrupt or truncated jpeg");
        bytes.resize(100);  // inside the header
        write_bytes(path, bytes);
        check_rejects([&] { vdsr::load_image(path); }, path, "cannot read image");
      }
    }
    // An uncompressed TGA cut short.
    {
      const Image img = random_image(20, 20, 3, 8, 7);
      std::vector<unsigned char> data(img.pixels.begin(), img.pixels.end());
      stbi_write_tga_with_rle = 0;
      REQUIRE(stbi_write_tga((dir + "/full.tga").c_str(), 20, 20, 3, data.data()) != 0);
      stbi_write_tga_with_rle = 1;
      CHECK(vdsr::load_image(dir + "/full.tga").pixels == img.pixels);
      auto bytes = read_bytes(dir + "/full.tga");
      bytes.resize(bytes.size() / 2);
      write_bytes(dir + "/half.tga", bytes);
      check_rejects([&] { vdsr::load_image(dir + "/half.tga"); }, dir + "/half.tga", "truncated tga");
    }
    // A run-length TGA cut short: its packets end before the last pixel (stb would make the rest
    // black), and a few bytes that claim 2048 x 2048.
    {
      const Image img = random_image(20, 20, 3, 8, 8);
      std::vector<unsigned char> data(img.pixels.begin(), img.pixels.end());
      REQUIRE(stbi_write_tga_with_rle == 1);
      REQUIRE(stbi_write_tga((dir + "/rle.tga").c_str(), 20, 20, 3, data.data()) != 0);
      auto bytes = read_bytes(dir + "/rle.tga");
      REQUIRE(bytes[2] == 10);  // run-length true colour
      CHECK(vdsr::load_image(dir + "/rle.tga").pixels == img.pixels);
      bytes.resize(bytes.size() - 4);
      write_bytes(dir + "/rle_cut.tga", bytes);
      check_rejects([&] { vdsr::load_image(dir + "/rle_cut.tga"); }, dir + "/rle_cut.tga",
                    "truncated tga (its run-length data ends after");
      write_bytes(dir + "/claim.tga",
                  {0, 0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 8, 24, 0x20, 0xff, 1, 2, 3});
      check_rejects([&] { vdsr::load_image(dir + "/claim.tga"); }, dir + "/claim.tga",
                    "after 128 of the 4194304 pixels its header claims");
      // Colour-mapped, the map's first entry at 2 (stb skips that many bytes, then the map): the
      // packets start after both. Its byte at 24 would read as a 128-pixel raw packet.
      // 8x8, all one run of entry 1; a walk that started at the map's start would read its 0x7f as
      // a 128-pixel raw packet and run past the end.
      write_bytes(dir + "/mapped.tga",
                  {0,    1,  9,  2,  0,    2,  0, 24, 0, 0, 0, 0, 8, 0, 8, 0, 8, 0x20,  // header
                   0,    0,                                                             // skipped
                   10,   20, 30, 40, 0x7f, 60,                                          // the map
                   0xBF, 1});
      const Image mapped = vdsr::load_image(dir + "/mapped.tga");
      REQUIRE(mapped.pixels.size() == 64 * 3);
      CHECK(std::vector<uint16_t>(mapped.pixels.begin(), mapped.pixels.begin() + 3) ==
            std::vector<uint16_t>{60, 0x7f, 40});  // BGR stored
      // A raw packet that claims more pixels than are left: stb reads what the image needs.
      write_bytes(dir + "/long.tga",
                  {0,    0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 0, 24, 0x20,  // 2x1
                   0x03, 1, 2,  3, 4, 5, 6});  // 4 claimed, 2 there
      CHECK(vdsr::load_image(dir + "/long.tga").pixels == std::vector<uint16_t>{3, 2, 1, 6, 5, 4});
    }
    // A run-length BMP, which stb does not read: said as such, not as a damaged header.
    {
      std::vector<unsigned char> bmp(62, 0);
      const auto put32 = [&](size_t at, uint32_t v) {
        for (int i = 0; i < 4; ++i) bmp[at + size_t(i)] = static_cast<unsigned char>(v >> (8 * i));
      };
      bmp[0] = 'B';
      bmp[1] = 'M';
      put32(2, 62);
      put32(10, 62);
      put32(14, 40);  // BITMAPINFOHEADER
      put32(18, 4);
      put32(22, 4);
      bmp[26] = 1;
      bmp[28] = 8;
      put32(30, 1);  // BI_RLE8
      write_bytes(dir + "/rle8.bmp", bmp);
      check_rejects([&] { vdsr::load_image(dir + "/rle8.bmp"); }, dir + "/rle8.bmp",
                    "a run-length (RLE8) BMP, which vdsr does not read");
      put32(30, 2);  // BI_RLE4
      bmp[28] = 4;
      write_bytes(dir + "/rle4.bmp", bmp);
      check_rejects([&] { vdsr::load_image(dir + "/rle4.bmp"); }, dir + "/rle4.bmp",
                    "a run-length (RLE4) BMP, which vdsr does not read");
    }
    // Cut inside the PNG header.
    auto bytes = read_bytes(dir + "/full.png");
    bytes.resize(20);
    write_bytes(dir + "/head.png", bytes);
    check_rejects([&] { vdsr::probe_image(dir + "/head.png"); }, dir + "/head.png", "truncated PNG header");
  }
  SECTION("a header that claims 100000 x 100000 meets the limits before decoding") {
    // A valid 1x1 image's data under a header that claims 100000 x 100000: decoding would need
    // 30 GB (and would fail on the data); the limits reject it first.
    const std::string path = dir + "/huge.png";
    write_bytes(path, make_png(100000, 100000, 8, 2, {0, 1, 2, 3}));
    const vdsr::ImageInfo info = vdsr::probe_image(path);  // the header alone is fine
    CHECK(info.width == 100000);
    CHECK(info.height == 100000);
    check_rejects([&] { vdsr::load_image(path); }, path, "100000x100000 exceeds the limits");
    // Within the limits, 16384 x 16384, the same data: no memory is set aside for 268 Mpx that
    // 63 bytes of deflate cannot fill (they hold at most 1032 x 63 bytes of rows).
    write_bytes(dir + "/big.png", make_png(16384, 16384, 8, 2, {0, 1, 2, 3}));
    check_rejects([&] { vdsr::load_image(dir + "/big.png"); }, dir + "/big.png",
                  "its header's 16384x16384 needs at least 780352 bytes of compressed data");
    // The rows by width and samples: grey+alpha 16384 x 8192 has 8192 rows of 1 + 16384 x 2 bytes,
    // RGBA 8192 x 16384 16384 rows of 1 + 8192 x 4.
    write_bytes(dir + "/ga.png", make_png(16384, 8192, 8, 4, {0, 1, 2, 3}));
    check_rejects([&] { vdsr::load_image(dir + "/ga.png"); }, dir + "/ga.png",
                  "its header's 16384x8192 needs at least 260120 bytes of compressed data");
    write_bytes(dir + "/rgba.png", make_png(8192, 16384, 8, 6, {0, 1, 2, 3}));
    check_rejects([&] { vdsr::load_image(dir + "/rgba.png"); }, dir + "/rgba.png",
                  "its header's 8192x16384 needs at least 520240 bytes of compressed data");
    // The bound holds for the densest file zlib makes: 64 MB of zeros at level 9, 1028.7 to 1
    // (a bound of 1024 would refuse it).
    vdsr::SaveOptions dense;
    dense.png_level = 9;
    Image zeros;
    zeros.width = zeros.height = 8192;
    zeros.channels = 1;
    zeros.pixels.assign(size_t(8192) * 8192, 0);
    vdsr::save_image(dir + "/zeros.png", zeros, ImageFormat::PNG, dense);
    INFO("zeros.png holds " << read_bytes(dir + "/zeros.png").size() << " bytes");
    CHECK(read_bytes(dir + "/zeros.png").size() < 8192 * 8193 / 1024);
    CHECK(vdsr::load_image(dir + "/zeros.png").width == 8192);
    // And limits are the caller's: a small image over a small limit.
    vdsr::save_image(dir + "/64.png", random_image(64, 64, 1, 8, 1), ImageFormat::PNG);
    vdsr::ImageLimits small;
    small.max_side = 32;
    check_rejects([&] { vdsr::load_image(dir + "/64.png", small); }, dir + "/64.png", "exceeds the limits");
    small.max_side = 64;
    small.max_pixels = 4095;
    check_rejects([&] { vdsr::load_image(dir + "/64.png", small); }, dir + "/64.png", "exceeds the limits");
    small.max_pixels = 4096;
    CHECK(vdsr::load_image(dir + "/64.png", small).width == 64);
    // Each side is held to the limit on its own: one pixel wide or high, too long the other way.
    for (const auto& [w, h] : {std::pair{1, 65536}, std::pair{65536, 1}}) {
      vdsr::ImageInfo thin;
      thin.width = w;
      thin.height = h;
      check_rejects([&] { vdsr::check_image_limits(thin, "thin.png"); }, "thin.png",
                    "exceeds the limits");
    }
  }
  SECTION("corrupt PNG header fields") {
    write_bytes(dir + "/zero.png", make_png(0, 5, 8, 2, {0}));
    check_rejects([&] { vdsr::load_image(dir + "/zero.png"); }, dir + "/zero.png", "corrupt PNG");
    write_bytes(dir + "/depth.png", make_png(5, 5, 7, 2, {0}));
    check_rejects([&] { vdsr::load_image(dir + "/depth.png"); }, dir + "/depth.png", "corrupt PNG");
  }
  fs::remove_all(dir);
}

TEST_CASE("failed writes leave nothing behind") {
  const std::string dir = vdsr::test::temp_dir("image_io_write_fail");
  const Image img = random_image(8, 8, 3, 8, 2);
  for (ImageFormat f : {ImageFormat::PNG, ImageFormat::JPEG, ImageFormat::BMP}) {
    const std::string path = dir + "/no/such/folder/out." + vdsr::image_format_extension(f);
    check_rejects([&] { vdsr::save_image(path, img, f); }, path, "No such file");
    CHECK(!fs::exists(path));
  }
  const Image img16 = random_image(8, 8, 3, 16, 2);
  check_rejects([&] { vdsr::save_image(dir + "/none/x.png", img16, ImageFormat::PNG); }, dir + "/none/x.png",
                "No such file");
  // The target name is a folder: refused in words before a temporary is made
  // (engine/atomic_file.h).
  fs::create_directories(dir + "/taken.png/inside");
  check_rejects([&] { vdsr::save_image(dir + "/taken.png", img, ImageFormat::PNG); },
                dir + "/taken.png", "it is a folder");
  check_rejects([&] { vdsr::save_image(dir + "/taken.png", img16, ImageFormat::PNG); },
                dir + "/taken.png", "it is a folder");
  // Invalid images are refused before a file is created.
  Image bad = img;
  bad.pixels[5] = 256;
  check_rejects([&] { vdsr::save_image(dir + "/bad.png", bad, ImageFormat::PNG); }, dir + "/bad.png",
                "above 255");
  bad.pixels.pop_back();
  check_rejects([&] { vdsr::save_image(dir + "/bad.png", bad, ImageFormat::PNG); }, dir + "/bad.png",
                "invalid image");
  CHECK_THROWS_AS(vdsr::save_image(dir + "/q.jpg", img, ImageFormat::JPEG, vdsr::SaveOptions{0, 6}), vdsr::Error);
  CHECK_THROWS_AS(vdsr::save_image(dir + "/l.png", img, ImageFormat::PNG, vdsr::SaveOptions{95, 10}), vdsr::Error);
  CHECK(!fs::exists(dir + "/bad.png"));
  CHECK(!fs::exists(dir + "/q.jpg"));
  CHECK(!fs::exists(dir + "/l.png"));
  check_no_temporaries(dir);
  // A successful write replaces an existing file whole.
  vdsr::save_image(dir + "/ok.png", img, ImageFormat::PNG);
  const Image other = random_image(3, 5, 1, 8, 4);
  vdsr::save_image(dir + "/ok.png", other, ImageFormat::PNG);
  CHECK(vdsr::load_image(dir + "/ok.png").pixels == other.pixels);
  check_no_temporaries(dir);
  fs::remove_all(dir);
}

TEST_CASE("image extension helpers") {
  CHECK(vdsr::has_image_extension("a.png"));
  CHECK(vdsr::has_image_extension("dir/B.PNG"));
  CHECK(vdsr::has_image_extension("x.jpg"));
  CHECK(vdsr::has_image_extension("x.JpEg"));
  CHECK(vdsr::has_image_extension("x.bmp"));
  CHECK(vdsr::has_image_extension("x.Tga"));
  CHECK_FALSE(vdsr::has_image_extension("x.gif"));
  CHECK_FALSE(vdsr::has_image_extension("png"));
  CHECK_FALSE(vdsr::has_image_extension("x.png.txt"));
  CHECK_FALSE(vdsr::has_image_extension("dir.png/file"));
  CHECK_FALSE(vdsr::has_image_extension(""));
  CHECK(vdsr::parse_image_format("png") == ImageFormat::PNG);
  CHECK(vdsr::parse_image_format("JPG") == ImageFormat::JPEG);
  CHECK(vdsr::parse_image_format("jpeg") == ImageFormat::JPEG);
  CHECK(vdsr::parse_image_format("Bmp") == ImageFormat::BMP);
  CHECK_THROWS_AS(vdsr::parse_image_format("tga"), vdsr::Error);
  CHECK_THROWS_AS(vdsr::parse_image_format("gif"), vdsr::Error);
  CHECK_THROWS_AS(vdsr::parse_image_format(""), vdsr::Error);
  CHECK(std::string(vdsr::image_format_extension(ImageFormat::PNG)) == "png");
  CHECK(std::string(vdsr::image_format_extension(ImageFormat::JPEG)) == "jpg");
  CHECK(std::string(vdsr::image_format_extension(ImageFormat::BMP)) == "bmp");
}
