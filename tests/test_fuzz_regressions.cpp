// Regression tests for what fuzzing the image loader and the safetensors reader found
// (docs/fuzzing.md, tests/fuzz/). Each input is the smallest file that showed the bug, built here
// byte by byte; every one must now load correctly or fail with a vdsr::Error naming the file.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "engine/error.h"
#include "image/image_io.h"
#include "io/safetensors.h"
#include "model/weights_io.h"
#include "tests/support/test_support.h"

using Catch::Matchers::Contains;

using vdsr::test::write_bytes;

namespace {

using Bytes = std::vector<uint8_t>;

void put_le(Bytes& b, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(uint8_t(v >> (8 * i)));
}

// A 2x2 24-bit BMP (BITMAPINFOHEADER) whose stored height is `height` (negative: top-down); the
// first stored row is red, green and the second blue, grey.
Bytes bmp_2x2(int32_t height) {
  const Bytes pixels = {0, 0, 255, 0, 255, 0, 0, 0,  // B,G,R B,G,R, 2 bytes row padding
                        255, 0, 0, 9, 9, 9, 0, 0};
  Bytes b = {'B', 'M'};
  put_le(b, 54 + uint32_t(pixels.size()), 4);
  put_le(b, 0, 4);
  put_le(b, 54, 4);  // pixel data offset
  put_le(b, 40, 4);  // header size
  put_le(b, 2, 4);
  put_le(b, uint32_t(height), 4);
  put_le(b, 1, 2);   // planes
  put_le(b, 24, 2);  // bits per pixel
  put_le(b, 0, 4);   // BI_RGB
  put_le(b, uint32_t(pixels.size()), 4);
  for (int i = 0; i < 4; ++i) put_le(b, 0, 4);
  b.insert(b.end(), pixels.begin(), pixels.end());
  return b;
}

// SOI, then a DHT whose single table declares 16 x 255 codes (stb_image allows 256), with `fill`
// extra FF bytes before the SOI.
Bytes jpeg_bad_dht(int fill) {
  Bytes b(size_t(fill), 0xff);
  const Bytes head = {0xff, 0xd8, 0xff, 0xc4, 0x00, 0x13, 0x00};
  b.insert(b.end(), head.begin(), head.end());
  b.insert(b.end(), 16, 0xff);
  return b;
}

template <typename F>
void check_error(F&& f, const std::string& file, const std::string& cause) {
  try {
    f();
    FAIL("no error for " << file);
  } catch (const vdsr::Error& e) {
    CHECK_THAT(e.what(), Contains(file) && Contains(cause));
  }
}

std::vector<uint8_t> safetensors_bytes(const std::string& header) {
  std::vector<uint8_t> out;
  put_le(out, uint32_t(header.size()), 4);
  put_le(out, uint32_t(uint64_t(header.size()) >> 32), 4);
  out.insert(out.end(), header.begin(), header.end());
  return out;
}

}  // namespace

TEST_CASE("fuzz: a top-down BMP loads, rows in file order") {
  // stbi_info reports a top-down BMP's height negated; it was refused as "2x-2".
  const std::string dir = vdsr::test::temp_dir("fuzz_regressions_bmp");
  write_bytes(dir + "/top_down.bmp", bmp_2x2(-2));
  write_bytes(dir + "/bottom_up.bmp", bmp_2x2(2));
  const vdsr::Image top = vdsr::load_image(dir + "/top_down.bmp");
  const vdsr::Image bottom = vdsr::load_image(dir + "/bottom_up.bmp");
  REQUIRE(top.width == 2);
  REQUIRE(top.height == 2);
  REQUIRE(top.channels == 3);
  CHECK(vdsr::probe_image(dir + "/top_down.bmp").height == 2);
  CHECK(top.at(0, 0, 0) == 255);  // red at the top left
  CHECK(top.at(0, 1, 1) == 255);  // green
  CHECK(top.at(1, 0, 2) == 255);  // blue
  for (int y = 0; y < 2; ++y)  // a bottom-up file stores the same rows the other way round
    for (int x = 0; x < 2; ++x)
      for (int c = 0; c < 3; ++c) CHECK(bottom.at(1 - y, x, c) == top.at(y, x, c));
  // The most negative height has no positive counterpart (stb would take abs(INT_MIN)).
  write_bytes(dir + "/int_min.bmp", bmp_2x2(INT32_MIN));
  check_error([&] { vdsr::load_image(dir + "/int_min.bmp"); }, dir + "/int_min.bmp",
              "invalid bmp header");
}

TEST_CASE("fuzz: a JPEG Huffman table with more than 256 codes is rejected") {
  // stb_image wrote one byte per declared code into a 257-byte array, past it into its decoder;
  // JPEG now goes through libjpeg-turbo, which refuses the table, and stb has no JPEG decoder left.
  const std::string dir = vdsr::test::temp_dir("fuzz_regressions_jpeg");
  write_bytes(dir + "/dht.jpg", jpeg_bad_dht(0));
  check_error([&] { vdsr::load_image(dir + "/dht.jpg"); }, dir + "/dht.jpg", "Huffman table");
  // stb also took FF fill bytes before the SOI as a JPEG, whatever the name: this one, named .tga,
  // went past our FF D8 FF signature test straight into stb's JPEG decoder. Now it meets only the
  // TGA decoder, which refuses its header.
  for (const int fill : {1, 20}) {
    const std::string path = dir + "/fill" + std::to_string(fill) + ".tga";
    write_bytes(path, jpeg_bad_dht(fill));
    check_error([&] { vdsr::load_image(path); }, path, "bad or truncated tga header");
  }
}

TEST_CASE("fuzz: deeply nested JSON in a safetensors header is an error, not a stack overflow") {
  // A million nested arrays as data_offsets: rejected, and its dump() in the error message
  // recursed once per level until the stack overflowed.
  const size_t depth = 1000000;
  const std::string nest = std::string(depth, '[') + std::string(depth, ']');
  for (const std::string& header :
       {R"({"a":{"dtype":"F32","shape":[1],"data_offsets":)" + nest + "}}",
        R"({"a":{"dtype":"F32","shape":)" + nest + R"(,"data_offsets":[0,4]}})",
        R"({"__metadata__":{"x":)" + nest + "}}", nest}) {
    const auto bytes = safetensors_bytes(header);
    check_error([&] { vdsr::parse_safetensors(bytes.data(), bytes.size(), "nested.safetensors"); },
                "nested.safetensors", "nests JSON deeper");
  }
  // The deepest valid structure still parses.
  const auto ok = safetensors_bytes(
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]},)"
      R"("b":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}})");
  const vdsr::SafeTensors st = vdsr::parse_safetensors(ok.data(), ok.size(), "ok.safetensors");
  CHECK(st.tensors.size() == 2);
}

TEST_CASE("fuzz: a weights file claiming huge channels with empty layers is rejected before allocating") {
  // layers.0.weight [1700, 1, 3, 3] and 39 empty layers: the flat buffer would be sized for 1700
  // channels (about 4.3 GB) before the empty layers were compared with the layer table.
  vdsr::SafeTensors st;
  std::vector<float> w0(1700 * 9, 0.5f);
  st.add_f32("layers.0.weight", {1700, 1, 3, 3}, w0.data());
  for (int i = 1; i < 40; ++i) st.add_f32("layers." + std::to_string(i) + ".weight", {0}, nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  check_error([&] { vdsr::weights_from_safetensors(st, "huge.safetensors"); }, "huge.safetensors",
              "layers.1.weight");
  // Rejected from the shapes alone: far below the seconds that zeroing 4.3 GB takes.
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 1.0);
}
