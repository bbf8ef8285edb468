// safetensors reader and writer: round trips over every dtype, and one rejection per malformed
// layout (each message must name the file and, where one is at fault, the tensor). Malformed files
// are built byte by byte from a header string and a data section.
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "io/digest.h"
#include "io/json_text.h"
#include "io/safetensors.h"
#include "tests/support/test_support.h"

using Catch::Matchers::Contains;
using vdsr::SafeTensors;
using vdsr::StTensor;
using vdsr::test::error_of;

namespace {

const std::string kName = "bad.safetensors";

// 8-byte little-endian length, the header text, then `data_bytes` bytes of data.
std::vector<uint8_t> raw_file(const std::string& header, size_t data_bytes) {
  std::vector<uint8_t> out;
  const uint64_t n = header.size();
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<uint8_t>(n >> (8 * b)));
  out.insert(out.end(), header.begin(), header.end());
  for (size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<uint8_t>(i));
  return out;
}

std::string parse_error(const std::string& header, size_t data_bytes) {
  const auto bytes = raw_file(header, data_bytes);
  return error_of([&] { vdsr::parse_safetensors(bytes.data(), bytes.size(), kName); });
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

StTensor make_tensor(const std::string& dtype, std::vector<int64_t> shape, uint8_t seed) {
  StTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(static_cast<size_t>(t.numel()) * vdsr::dtype_size(dtype));
  for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<uint8_t>(seed + 7 * i);
  return t;
}

int tmp_files_in(const std::string& dir) {
  int n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos) ++n;
  return n;
}

// Two F32 tensors "a" and "b" of two elements each at the given offsets.
std::string two_tensors(int a0, int a1, int b0, int b1) {
  return R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[)" + std::to_string(a0) + "," +
         std::to_string(a1) + R"(]},"b":{"dtype":"F32","shape":[2],"data_offsets":[)" +
         std::to_string(b0) + "," + std::to_string(b1) + "]}}";
}

}  // namespace

TEST_CASE("safetensors round trip keeps dtypes, shapes, data, order and metadata") {
  SafeTensors st;
  st.metadata = {{"arch", "vdsr"}, {"note", "unicode \xc3\xa9 and \"quotes\""}};
  const std::vector<std::pair<std::string, std::vector<int64_t>>> specs = {
      {"F64", {2, 3}}, {"F32", {4}},    {"F16", {3, 1}}, {"BF16", {5}},  {"I64", {1, 2}},
      {"I32", {3}},    {"I16", {2, 2}}, {"I8", {7}},     {"U8", {3, 3}}, {"BOOL", {2}}};
  uint8_t seed = 1;
  for (const auto& [dtype, shape] : specs) st.add("t_" + dtype, make_tensor(dtype, shape, seed++));
  st.add("empty", make_tensor("F32", {0, 3}, 0));
  st.add("scalar", make_tensor("F32", {}, 9));
  const float vals[3] = {1.5f, -2.25f, 3e-38f};
  st.add_f32("zz_floats_first_in_name_order_last_in_file", {3}, vals);

  const std::string dir = vdsr::test::temp_dir("st_roundtrip");
  const std::string path = dir + "/x.safetensors";
  vdsr::write_safetensors(path, st);
  const SafeTensors back = vdsr::read_safetensors(path);

  CHECK(back.metadata == st.metadata);
  REQUIRE(back.tensors.size() == st.tensors.size());
  for (size_t i = 0; i < st.tensors.size(); ++i) {
    INFO("tensor " << st.tensors[i].first);
    CHECK(back.tensors[i].first == st.tensors[i].first);
    CHECK(back.tensors[i].second.dtype == st.tensors[i].second.dtype);
    CHECK(back.tensors[i].second.shape == st.tensors[i].second.shape);
    CHECK(back.tensors[i].second.data == st.tensors[i].second.data);
  }
  CHECK(back.find("scalar")->numel() == 1);
  CHECK(back.find("empty")->numel() == 0);
  CHECK(back.find("empty")->data.empty());
  CHECK(back.find("t_F64")->numel() == 6);
  CHECK(back.find("missing") == nullptr);
  const auto f = back.find("zz_floats_first_in_name_order_last_in_file")->as_f32();
  REQUIRE(f.size() == 3);
  CHECK(std::memcmp(f.data(), vals, sizeof(vals)) == 0);
  CHECK(tmp_files_in(dir) == 0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("a file replaced while it is read is read whole: the old one or the new one") {
  // vdsr_eval -m run/checkpoint.safetensors beside the run that keeps replacing it: the size read
  // must be the opened file's, not the one the name had a moment before.
  const std::string dir = vdsr::test::temp_dir("st_replaced");
  const std::string path = dir + "/checkpoint.safetensors";
  std::vector<std::vector<uint8_t>> versions;
  for (size_t len : {size_t(8), size_t(4000)}) {
    SafeTensors st;
    st.metadata["note"] = std::string(len, 'x');
    st.add("t", make_tensor("U8", {3}, 1));
    versions.push_back(vdsr::serialize_safetensors(st));
  }
  vdsr::write_file_atomic(path, versions[0].data(), versions[0].size());
  std::atomic<bool> done{false};
  std::atomic<int> writes{0};
  std::thread writer([&] {
    for (int i = 0; !done; ++i) {
      vdsr::write_file_atomic(path, versions[i % 2].data(), versions[i % 2].size());
      ++writes;
    }
  });
  // Reads until the file has been replaced 300 times (a few seconds at most), each of which could
  // fall between a stat by name and the open.
  int failures = 0, reads = 0;
  std::string first;
  const auto t0 = std::chrono::steady_clock::now();
  while (writes < 300 && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
    ++reads;
    try {
      const SafeTensors back = vdsr::read_safetensors(path);
      const size_t note = back.metadata.at("note").size();
      if (note != 8 && note != 4000) ++failures;
    } catch (const vdsr::Error& e) {
      if (failures++ == 0) first = e.what();
    }
  }
  done = true;
  writer.join();
  INFO(first << " (" << reads << " reads, " << writes << " replacements)");
  CHECK(failures == 0);
  CHECK(writes >= 300);
  std::filesystem::remove_all(dir);
}

TEST_CASE("safetensors serialised header is padded with spaces to a multiple of 8") {
  for (int len = 1; len <= 9; ++len) {
    SafeTensors st;
    st.metadata["k"] = std::string(static_cast<size_t>(len), 'x');
    st.add("t", make_tensor("U8", {3}, 0));
    const auto bytes = vdsr::serialize_safetensors(st);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    CHECK(bytes.size() == 8 + n + 3);
    const std::string header(reinterpret_cast<const char*>(bytes.data() + 8), n);
    CHECK(header.find_last_not_of(' ') == header.rfind('}'));
    CHECK(vdsr::parse_safetensors(bytes.data(), bytes.size(), "mem").tensors.size() == 1);
  }
}

TEST_CASE("safetensors header padded with trailing spaces is accepted") {
  const std::string header =
      R"({"__metadata__":{"a":"b"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})" +
      std::string(13, ' ');
  const auto bytes = raw_file(header, 8);
  const auto st = vdsr::parse_safetensors(bytes.data(), bytes.size(), "padded");
  REQUIRE(st.tensors.size() == 1);
  CHECK(st.tensors[0].first == "w");
  CHECK(st.tensors[0].second.data.size() == 8);
  CHECK(st.metadata.at("a") == "b");
}

TEST_CASE("safetensors file with no tensors and only metadata round trips") {
  SafeTensors st;
  st.metadata["only"] = "meta";
  const auto bytes = vdsr::serialize_safetensors(st);
  const auto back = vdsr::parse_safetensors(bytes.data(), bytes.size(), "meta-only");
  CHECK(back.tensors.empty());
  CHECK(back.metadata == st.metadata);
}

TEST_CASE("a metadata value that is not UTF-8 is written with U+FFFD for each bad byte") {
  CHECK(vdsr::is_utf8("plain/\xC3\xA9t\xC3\xA9"));
  CHECK(!vdsr::is_utf8("bad\xff"));
  CHECK(!vdsr::is_utf8("\xC3"));          // cut in the middle of a character
  CHECK(!vdsr::is_utf8("\xED\xA0\x80"));  // a surrogate
  SafeTensors st;
  st.metadata["source"] = "m\xff\xfe.mat";
  const auto bytes = vdsr::serialize_safetensors(st);
  const auto back = vdsr::parse_safetensors(bytes.data(), bytes.size(), "not-utf8");
  CHECK(back.metadata.at("source") == "m\xEF\xBF\xBD\xEF\xBF\xBD.mat");
}

TEST_CASE("json_dump indents as asked, one line by default") {
  const nlohmann::json j = {{"a", 1}};
  CHECK(vdsr::json_dump(j) == "{\"a\":1}");
  CHECK(vdsr::json_dump(j, 2) == "{\n  \"a\": 1\n}");
  CHECK(vdsr::json_dump(nlohmann::json("x\xff"), 2) == "\"x\xEF\xBF\xBD\"");
}

TEST_CASE("safetensors as_f32 and numel") {
  StTensor t = make_tensor("F32", {2, 3, 4}, 0);
  CHECK(t.numel() == 24);
  CHECK(t.as_f32().size() == 24);
  StTensor d = make_tensor("F64", {2}, 0);
  const double dv[2] = {0.1, -3.0};
  std::memcpy(d.data.data(), dv, sizeof dv);
  CHECK(d.as_f32() == std::vector<float>{0.1f, -3.0f});  // rounded to the nearest float
  StTensor i = make_tensor("I64", {2}, 0);
  CHECK_THAT(error_of([&] { i.as_f32(); }), Contains("I64"));
  StTensor neg;
  neg.dtype = "F32";
  neg.shape = {-2};
  CHECK_THROWS_AS(neg.numel(), vdsr::Error);
  StTensor huge;
  huge.dtype = "F32";
  huge.shape = {int64_t(1) << 40, int64_t(1) << 40};
  CHECK_THROWS_AS(huge.numel(), vdsr::Error);
  CHECK(vdsr::dtype_size("BF16") == 2);
  CHECK_THAT(error_of([] { vdsr::dtype_size("F8"); }), Contains("F8"));
}

TEST_CASE("safetensors as_f32 keeps F16 infinities and NaN payloads") {
  // IEEE half -> single by hand: sign to bit 31, an all-ones exponent stays all ones, the 10
  // mantissa bits move up by 13.
  const std::vector<std::pair<uint16_t, uint32_t>> cases = {
      {0x7c00, 0x7f800000u},   // +inf
      {0xfc00, 0xff800000u},   // -inf
      {0x7e00, 0x7fc00000u},   // the quiet NaN
      {0x7e01, 0x7fc02000u},   // a quiet NaN with a payload
      {0xfe35, 0xffc6a000u},   // negative, another payload
      {0x3c00, 0x3f800000u}};  // 1, for reference
  StTensor t;
  t.dtype = "F16";
  t.shape = {int64_t(cases.size())};
  for (const auto& c : cases) {
    t.data.push_back(static_cast<uint8_t>(c.first & 0xff));
    t.data.push_back(static_cast<uint8_t>(c.first >> 8));
  }
  const std::vector<float> f = t.as_f32();
  REQUIRE(f.size() == cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, &f[i], 4);
    INFO("half 0x" << std::hex << cases[i].first);
    CHECK(bits == cases[i].second);
  }
}

TEST_CASE("safetensors add rejects duplicates and inconsistent tensors") {
  SafeTensors st;
  const float v[2] = {1, 2};
  st.add_f32("w", {2}, v);
  CHECK_THAT(error_of([&] { st.add_f32("w", {2}, v); }), Contains("'w'"));
  StTensor bad = make_tensor("F32", {2}, 0);
  bad.data.pop_back();
  CHECK_THAT(error_of([&] { st.add("short", bad); }), Contains("'short'"));
  CHECK_THROWS_AS(st.add("__metadata__", make_tensor("U8", {1}, 0)), vdsr::Error);
  StTensor unk = make_tensor("U8", {1}, 0);
  unk.dtype = "Q4";
  CHECK_THAT(error_of([&] { st.add("q", unk); }), Contains("Q4"));
  // serialize re-checks tensors pushed directly into the public vector.
  st.tensors.emplace_back("w", make_tensor("F32", {2}, 0));
  CHECK_THAT(error_of([&] { vdsr::serialize_safetensors(st); }), Contains("'w'"));
}

TEST_CASE("safetensors rejects a truncated file") {
  SafeTensors st;
  st.add("weights", make_tensor("F32", {16}, 3));
  const auto good = vdsr::serialize_safetensors(st);
  const std::string dir = vdsr::test::temp_dir("st_truncated");
  const std::string path = dir + "/cut.safetensors";

  SECTION("inside the data: the tensor runs past the end") {
    write_bytes(path, std::vector<uint8_t>(good.begin(), good.end() - 5));
    const std::string msg = error_of([&] { vdsr::read_safetensors(path); });
    CHECK_THAT(msg, Contains(path) && Contains("'weights'"));
  }
  SECTION("inside the header") {
    write_bytes(path, std::vector<uint8_t>(good.begin(), good.begin() + 20));
    CHECK_THAT(error_of([&] { vdsr::read_safetensors(path); }), Contains(path));
  }
  SECTION("inside the length") {
    write_bytes(path, std::vector<uint8_t>(good.begin(), good.begin() + 5));
    CHECK_THAT(error_of([&] { vdsr::read_safetensors(path); }),
               Contains(path) && Contains("truncated"));
  }
  SECTION("empty file") {
    write_bytes(path, {});
    CHECK_THAT(error_of([&] { vdsr::read_safetensors(path); }), Contains(path));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("safetensors rejects a missing file or a folder, naming it") {
  const std::string dir = vdsr::test::temp_dir("st_missing");
  CHECK_THAT(error_of([&] { vdsr::read_safetensors(dir + "/nope.safetensors"); }),
             Contains(dir + "/nope.safetensors"));
  CHECK_THAT(error_of([&] { vdsr::read_safetensors(dir); }), Contains(dir));
  std::filesystem::remove_all(dir);
}

TEST_CASE("safetensors rejects a header length past the end of the file") {
  auto bytes = raw_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", 1);
  const uint64_t n = bytes.size();  // more than what follows the 8 length bytes
  std::memcpy(bytes.data(), &n, 8);
  const std::string msg =
      error_of([&] { vdsr::parse_safetensors(bytes.data(), bytes.size(), kName); });
  CHECK_THAT(msg, Contains(kName) && Contains("past the end"));
}

TEST_CASE("safetensors rejects a zero or absurd header length") {
  std::vector<uint8_t> bytes(64, ' ');
  uint64_t n = 0;
  std::memcpy(bytes.data(), &n, 8);
  CHECK_THAT(error_of([&] { vdsr::parse_safetensors(bytes.data(), bytes.size(), kName); }),
             Contains(kName) && Contains("zero"));
  n = ~uint64_t(0);
  std::memcpy(bytes.data(), &n, 8);
  CHECK_THAT(error_of([&] { vdsr::parse_safetensors(bytes.data(), bytes.size(), kName); }),
             Contains(kName) && Contains("absurd"));
}

TEST_CASE("a text file given as a model is named as text, short or long") {
  for (const std::string text :
       {"text", "# vdsr\n\nA from-scratch engine.\tIt reads models.\r\n"}) {
    const std::vector<uint8_t> bytes(text.begin(), text.end());
    CHECK_THAT(error_of([&] { vdsr::parse_safetensors(bytes.data(), bytes.size(), kName); }),
               Contains(kName + std::string(" is a text file, not a model")));
  }
  // Bytes that are no ASCII text keep the header's own message: a control byte, DEL, an empty
  // file, and text whose first 8 bytes alone are printable (the check reads up to 512).
  const std::vector<uint8_t> binary = {'a', 'b', 'c', 0x01, 'd'};
  CHECK_THAT(error_of([&] { vdsr::parse_safetensors(binary.data(), binary.size(), kName); }),
             Contains("truncated safetensors file"));
  const std::vector<uint8_t> del(16, 0x7f);
  CHECK_THAT(error_of([&] { vdsr::parse_safetensors(del.data(), del.size(), kName); }),
             !Contains("text file"));
  CHECK_THAT(error_of([&] { vdsr::parse_safetensors(nullptr, 0, kName); }),
             Contains("truncated safetensors file (0 bytes"));
  std::vector<uint8_t> printable_head = {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'};
  for (int i = 0; i < 64; ++i) printable_head.push_back(uint8_t(i % 3 == 0 ? 0x00 : 0xff));
  CHECK_THAT(error_of([&] {
               vdsr::parse_safetensors(printable_head.data(), printable_head.size(), kName);
             }),
             !Contains("text file"));
}

TEST_CASE("safetensors rejects a header that is not JSON") {
  CHECK_THAT(parse_error("{\"a\": {\"dtype\": ", 0), Contains(kName) && Contains("not valid JSON"));
  CHECK_THAT(parse_error("hello world!", 0), Contains(kName) && Contains("not valid JSON"));
  CHECK_THAT(parse_error("{}" + std::string(6, '\0'), 0), Contains(kName) && Contains("NUL"));
  // A NUL as the header's very last byte, after complete JSON, is refused too.
  CHECK_THAT(parse_error("{}" + std::string(5, ' ') + std::string(1, '\0'), 0),
             Contains(kName) && Contains("NUL byte at offset 7"));
}

TEST_CASE("safetensors rejects a header that is JSON but not an object") {
  CHECK_THAT(parse_error("[1, 2, 3]", 0), Contains(kName) && Contains("object"));
  CHECK_THAT(parse_error(R"({"a": 5})", 0), Contains(kName) && Contains("'a'"));
}

TEST_CASE("safetensors rejects overlapping offsets") {
  const std::string msg = parse_error(two_tensors(0, 8, 4, 12), 12);
  CHECK_THAT(msg, Contains(kName) && Contains("overlaps") && Contains("'a'") && Contains("'b'"));
  // Identical ranges overlap too.
  CHECK_THAT(parse_error(two_tensors(0, 8, 0, 8), 8), Contains("overlaps"));
  // By a single byte.
  CHECK_THAT(parse_error(two_tensors(0, 8, 7, 15), 15), Contains("overlaps") && Contains("'a'") && Contains("'b'"));
}

TEST_CASE("safetensors rejects gapped offsets") {
  const std::string msg = parse_error(two_tensors(0, 8, 12, 20), 20);
  CHECK_THAT(msg, Contains(kName) && Contains("gap") && Contains("'a'") && Contains("'b'"));
  // A single byte between them.
  CHECK_THAT(parse_error(two_tensors(0, 8, 9, 17), 17), Contains("gap of 1 bytes") && Contains("'b'"));
}

TEST_CASE("safetensors rejects offsets that do not start at 0") {
  const std::string msg =
      parse_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12);
  CHECK_THAT(msg, Contains(kName) && Contains("start at 0") && Contains("'a'"));
}

TEST_CASE("safetensors rejects trailing bytes after the last tensor") {
  const std::string msg = parse_error(two_tensors(0, 8, 8, 16), 20);
  CHECK_THAT(msg, Contains(kName) && Contains("4 trailing bytes") && Contains("'b'"));
}

TEST_CASE("safetensors rejects a header that lies about sizes") {
  const std::string msg =
      parse_error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8);
  CHECK_THAT(msg, Contains(kName) && Contains("'a'") && Contains("lies about sizes"));
  // The same bytes with a dtype of another width.
  CHECK_THAT(parse_error(R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,8]}})", 8),
             Contains("'a'") && Contains("lies about sizes"));
}

TEST_CASE("safetensors rejects data offsets with end before begin or of the wrong form") {
  CHECK_THAT(parse_error(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[4,0]}})", 4),
             Contains(kName) && Contains("'a'"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1),
             Contains(kName) && Contains("'a'"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.5]}})", 1),
             Contains(kName) && Contains("'a'"));
  CHECK_THAT(parse_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}})", 1),
             Contains(kName) && Contains("'a'"));
}

TEST_CASE("safetensors rejects duplicate keys at the top level") {
  const std::string msg = parse_error(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                                      R"("a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
                                      1);
  CHECK_THAT(msg, Contains(kName) && Contains("duplicate key 'a'"));
}

TEST_CASE("safetensors rejects duplicate keys inside a tensor entry") {
  const std::string msg =
      parse_error(R"({"a":{"dtype":"U8","shape":[1],"dtype":"I8","data_offsets":[0,1]}})", 1);
  CHECK_THAT(msg, Contains(kName) && Contains("duplicate key 'dtype'"));
}

TEST_CASE("safetensors rejects duplicate keys inside the metadata") {
  const std::string msg = parse_error(R"({"__metadata__":{"k":"1","k":"2"}})", 0);
  CHECK_THAT(msg, Contains(kName) && Contains("duplicate key 'k'"));
}

TEST_CASE("safetensors allows the same key in different objects") {
  const std::string header =
      R"({"__metadata__":{"dtype":"x"},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  const auto bytes = raw_file(header, 2);
  const auto st = vdsr::parse_safetensors(bytes.data(), bytes.size(), "ok");
  CHECK(st.tensors.size() == 2);
  CHECK(st.metadata.at("dtype") == "x");
}

TEST_CASE("safetensors rejects an unknown dtype") {
  const std::string msg =
      parse_error(R"({"w":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}})", 4);
  CHECK_THAT(msg, Contains(kName) && Contains("'w'") && Contains("F33"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":4,"shape":[1],"data_offsets":[0,4]}})", 4),
             Contains(kName) && Contains("'w'"));
}

TEST_CASE("safetensors rejects a negative or non-integer shape") {
  CHECK_THAT(parse_error(R"({"w":{"dtype":"U8","shape":[2,-1],"data_offsets":[0,0]}})", 0),
             Contains(kName) && Contains("'w'") && Contains("non-negative"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})", 1),
             Contains(kName) && Contains("'w'"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"U8","shape":"1","data_offsets":[0,1]}})", 1),
             Contains(kName) && Contains("'w'"));
}

TEST_CASE("safetensors rejects a shape whose size overflows") {
  const std::string msg = parse_error(
      R"({"w":{"dtype":"F64","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", 8);
  CHECK_THAT(msg, Contains(kName) && Contains("'w'") && Contains("overflows"));
  CHECK_THAT(
      parse_error(R"({"w":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}})", 8),
      Contains("'w'") && Contains("overflows"));
}

TEST_CASE("safetensors rejects a non-string metadata value") {
  CHECK_THAT(parse_error(R"({"__metadata__":{"depth":20}})", 0),
             Contains(kName) && Contains("'depth'"));
  CHECK_THAT(parse_error(R"({"__metadata__":{"x":{"y":"z"}}})", 0),
             Contains(kName) && Contains("metadata 'x' is an object, expected a string"));
  CHECK_THAT(
      parse_error(R"({"__metadata__":["a"]})", 0),
      Contains(kName) && Contains("__metadata__ is an array, expected an object of strings"));
  CHECK_THAT(parse_error(R"({"__metadata__":{"depth":20}})", 0), Contains("'depth' is a number"));
}

TEST_CASE("safetensors names the JSON type of a tensor entry that is not an object") {
  CHECK_THAT(parse_error(R"({"w":[1,2]})", 0),
             Contains(kName) && Contains("tensor 'w': entry is an array, expected an object"));
  CHECK_THAT(parse_error(R"({"w":"x"})", 0), Contains("tensor 'w': entry is a string"));
}

TEST_CASE("safetensors rejects unknown or missing fields in a tensor entry") {
  CHECK_THAT(
      parse_error(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"strides":[1]}})", 1),
      Contains(kName) && Contains("'w'") && Contains("'strides'"));
  CHECK_THAT(parse_error(R"({"w":{"dtype":"U8","shape":[1]}})", 0),
             Contains(kName) && Contains("'w'") && Contains("data_offsets"));
}

TEST_CASE("safetensors write to a missing or unwritable folder throws and leaves nothing") {
  SafeTensors st;
  st.add("t", make_tensor("U8", {4}, 0));
  const std::string dir = vdsr::test::temp_dir("st_atomic");

  const std::string missing = dir + "/no/such/folder/x.safetensors";
  CHECK_THAT(error_of([&] { vdsr::write_safetensors(missing, st); }), Contains(missing));
  CHECK_FALSE(std::filesystem::exists(dir + "/no"));

  // A regular file where a folder should be: the temporary file cannot be created (even as root).
  const std::string file = dir + "/plain";
  write_bytes(file, {1, 2, 3});
  CHECK_THROWS_AS(vdsr::write_safetensors(file + "/x.safetensors", st), vdsr::Error);

  // A folder in the way of the final name: the rename fails after the data was written, and the
  // temporary file must be gone.
  std::filesystem::create_directories(dir + "/taken");
  CHECK_THAT(error_of([&] { vdsr::write_safetensors(dir + "/taken", st); }),
             Contains(dir + "/taken"));
  CHECK(std::filesystem::is_directory(dir + "/taken"));
  CHECK(tmp_files_in(dir) == 0);

  // A successful overwrite replaces the old file whole and leaves no temporary file.
  vdsr::write_safetensors(dir + "/ok.safetensors", st);
  st.add("u", make_tensor("U8", {2}, 5));
  vdsr::write_safetensors(dir + "/ok.safetensors", st);
  CHECK(vdsr::read_safetensors(dir + "/ok.safetensors").tensors.size() == 2);
  CHECK(tmp_files_in(dir) == 0);
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"ok.safetensors", "plain", "taken"});
  std::filesystem::remove_all(dir);
}

TEST_CASE("digest64: any one changed bit changes it and pieces chain into the whole's digest") {
  std::vector<unsigned char> bytes(37);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<unsigned char>(i * 29 + 3);
  const uint64_t whole = vdsr::digest64(bytes.data(), bytes.size());
  for (size_t i = 0; i < bytes.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<unsigned char> flipped = bytes;
      flipped[i] = static_cast<unsigned char>(flipped[i] ^ (1u << bit));
      REQUIRE(vdsr::digest64(flipped.data(), flipped.size()) != whole);
    }
  // Its length counts: a zero byte more (which the zero-padded tail would hide) is another digest.
  std::vector<unsigned char> longer = bytes;
  longer.push_back(0);
  CHECK(vdsr::digest64(longer.data(), longer.size()) != whole);
  // Chained at a word boundary, two pieces give what the pieces give, not the whole's (each piece
  // ends with its own length), and the order of the pieces matters.
  const uint64_t first = vdsr::digest64(bytes.data(), 16);
  const uint64_t chained = vdsr::digest64(bytes.data() + 16, bytes.size() - 16, first);
  CHECK(chained == vdsr::digest64(bytes.data() + 16, bytes.size() - 16, first));
  CHECK(chained !=
        vdsr::digest64(bytes.data(), 16, vdsr::digest64(bytes.data() + 16, bytes.size() - 16)));
  CHECK(vdsr::digest64(nullptr, 0) != vdsr::digest64(nullptr, 0, 1));
}
