// MATLAB-exact bicubic imresize: MATLAB's own arrays (shared/data/matlab-bicubic), symmetry under
// transposition, identities and output sizes.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "image/imresize.h"
#include "tests/support/test_support.h"

using vdsr::Plane;

namespace {

Plane read_f64(const std::string& path, int h, int w) {
  std::ifstream f(path, std::ios::binary);
  REQUIRE(f.good());
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() == size_t(h) * size_t(w) * 8);
  Plane p(h, w);
  for (size_t i = 0; i < p.v.size(); ++i) {
    uint64_t u = 0;
    for (int b = 7; b >= 0; --b) u = (u << 8) | bytes[i * 8 + size_t(b)];  // little-endian
    std::memcpy(&p.v[i], &u, 8);
  }
  return p;
}

double max_abs_diff(const Plane& a, const Plane& b) {
  REQUIRE(a.height == b.height);
  REQUIRE(a.width == b.width);
  double m = 0;
  for (size_t i = 0; i < a.v.size(); ++i) m = std::max(m, std::fabs(a.v[i] - b.v[i]));
  return m;
}

Plane transpose(const Plane& p) {
  Plane t(p.width, p.height);
  for (int y = 0; y < p.height; ++y)
    for (int x = 0; x < p.width; ++x) t.at(x, y) = p.at(y, x);
  return t;
}

Plane random_plane(int h, int w, uint32_t seed) {
  Plane p(h, w);
  p.v = vdsr::test::to_double(vdsr::test::random_floats(size_t(h) * size_t(w), 0.f, 255.f, seed));
  return p;
}

// MATLAB's imresize written out as its documentation and source state it, every tap of every
// output in order (zero weights included), for the bit-for-bit test below: the contributions of one
// dimension, then the passes, the dimension with the smaller scale first (height on a tie).
struct OracleTaps {
  std::vector<std::vector<double>> w;
  std::vector<std::vector<int>> idx;  // 0-based
};

double oracle_cubic(double x) {
  const double a = std::fabs(x), a2 = a * a, a3 = a2 * a;
  if (a <= 1.0) return 1.5 * a3 - 2.5 * a2 + 1.0;
  if (a <= 2.0) return -0.5 * a3 + 2.5 * a2 - 4.0 * a + 2.0;
  return 0.0;
}

OracleTaps oracle_taps(int in_len, int out_len, double scale) {
  const double width = scale < 1.0 ? 4.0 / scale : 4.0;
  const int p = int(std::ceil(width)) + 2;
  OracleTaps t;
  for (int i = 1; i <= out_len; ++i) {
    const double u = i / scale + 0.5 * (1.0 - 1.0 / scale);
    const double left = std::floor(u - width / 2.0);
    std::vector<double> w(size_t(p), 0.0);
    std::vector<int> idx(size_t(p), 0);
    double sum = 0.0;
    for (int k = 0; k < p; ++k) {
      const double j = left + k;  // 1-based; mirrored into [1, in_len] (MATLAB's aux = [1:in, in:-1:1])
      w[size_t(k)] = scale < 1.0 ? scale * oracle_cubic(scale * (u - j)) : oracle_cubic(u - j);
      sum += w[size_t(k)];
      int64_t m = (int64_t(j) - 1) % (2 * int64_t(in_len));
      if (m < 0) m += 2 * int64_t(in_len);
      idx[size_t(k)] = int(m < in_len ? m : 2 * int64_t(in_len) - 1 - m);
    }
    for (auto& v : w) v /= sum;
    t.w.push_back(w);
    t.idx.push_back(idx);
  }
  return t;
}

Plane oracle_resize(const Plane& in, int out_h, int out_w, double sh, double sw) {
  const auto height_pass = [&](const Plane& a) {
    const OracleTaps t = oracle_taps(a.height, out_h, sh);
    Plane o(out_h, a.width);
    for (int i = 0; i < out_h; ++i)
      for (int x = 0; x < a.width; ++x) {
        double acc = 0.0;
        for (size_t k = 0; k < t.w[size_t(i)].size(); ++k) acc += t.w[size_t(i)][k] * a.at(t.idx[size_t(i)][k], x);
        o.at(i, x) = acc;
      }
    return o;
  };
  const auto width_pass = [&](const Plane& a) {
    const OracleTaps t = oracle_taps(a.width, out_w, sw);
    Plane o(a.height, out_w);
    for (int y = 0; y < a.height; ++y)
      for (int j = 0; j < out_w; ++j) {
        double acc = 0.0;
        for (size_t k = 0; k < t.w[size_t(j)].size(); ++k) acc += t.w[size_t(j)][k] * a.at(y, t.idx[size_t(j)][k]);
        o.at(y, j) = acc;
      }
    return o;
  };
  return sw < sh ? height_pass(width_pass(in)) : width_pass(height_pass(in));
}

}  // namespace

TEST_CASE("imresize is MATLAB's formula tap by tap, bit for bit, up and down") {
  // Whatever the passes skip or reorder internally (taps whose weight is zero for every output,
  // loops unrolled), the result must be the oracle's to the last bit on finite values.
  uint32_t seed = 300;
  struct Case {
    int h, w;
    double s;
  };
  for (const Case c : {Case{13, 17, 2.0}, Case{9, 31, 3.0}, Case{20, 7, 4.0}, Case{1, 9, 2.0}, Case{33, 24, 0.5},
                       Case{30, 27, 1.0 / 3.0}, Case{17, 23, 0.7}, Case{11, 13, 1.5}}) {
    INFO(c.h << "x" << c.w << " by " << c.s);
    const Plane in = random_plane(c.h, c.w, seed++);
    const Plane got = vdsr::imresize(in, c.s);
    const Plane want = oracle_resize(in, got.height, got.width, c.s, c.s);
    CHECK(got.v == want.v);
  }
  // Different scales per dimension (imresize_to): both pass orders.
  const Plane in = random_plane(12, 18, 99);
  for (const auto& [oh, ow] : std::vector<std::pair<int, int>>{{24, 54}, {36, 36}, {6, 36}, {48, 9}}) {
    INFO(oh << "x" << ow);
    const Plane got = vdsr::imresize_to(in, oh, ow);
    CHECK(got.v == oracle_resize(in, oh, ow, double(oh) / in.height, double(ow) / in.width).v);
  }
}

TEST_CASE("imresize reproduces MATLAB's bicubic arrays") {
  const std::string dir = vdsr::test::require_data("matlab-bicubic");
  std::ifstream f(dir + "/index.json");
  REQUIRE(f.good());
  const auto index = nlohmann::json::parse(f);
  // (image, scale) -> array name -> plane
  std::map<std::pair<std::string, int>, std::map<std::string, Plane>> sets;
  for (const auto& e : index.at("files")) {
    const auto shape = e.at("shape_hw");
    sets[{e.at("image").get<std::string>(), e.at("scale").get<int>()}][e.at("array").get<std::string>()] =
        read_f64(dir + "/" + e.at("file").get<std::string>(), shape.at(0).get<int>(), shape.at(1).get<int>());
  }
  REQUIRE(sets.size() == 6);
  for (const auto& [key, arrays] : sets) {
    const int s = key.second;
    const Plane& gt = arrays.at("im_gt_y");
    const Plane& l = arrays.at("im_l_y");
    const Plane& b = arrays.at("im_b_y");
    const Plane our_l = vdsr::imresize(gt, 1.0 / s);
    const Plane our_b = vdsr::imresize(l, double(s));
    const Plane our_bb = vdsr::imresize(our_l, double(s));
    INFO(key.first << " x" << s);
    REQUIRE(our_l.height == l.height);
    REQUIRE(our_l.width == l.width);
    REQUIRE(our_b.height == b.height);
    REQUIRE(our_b.width == b.width);
    const double dl = max_abs_diff(our_l, l), db = max_abs_diff(our_b, b), dbb = max_abs_diff(our_bb, b);
    WARN(key.first << " x" << s << ": max |diff| down " << dl << ", up " << db << ", down+up " << dbb);
    // MATLAB's arrays come from the same double arithmetic; 2.3e-13 was seen, 1e-9 leaves room for
    // a different summation order without hiding a wrong kernel (which errs by 1e-2 or more).
    CHECK(dl <= 1e-9);
    CHECK(db <= 1e-9);
    CHECK(dbb <= 1e-9);
  }
}

TEST_CASE("imresize reproduces MATLAB's values at the image corner (in-tree fixture, no data folder)") {
  // tests/fixtures/matlab_imresize_corners.json: corners of the same MATLAB arrays, small enough to
  // ship, so a wrong kernel (e.g. a = -0.75) or tap placement fails without ../shared/data.
  // Corner outputs depend only on the corner of the input (and on the top and left edges' mirroring),
  // so the resize of a crop reproduces them.
  std::ifstream f(std::string(VDSR_SOURCE_DIR) + "/tests/fixtures/matlab_imresize_corners.json");
  REQUIRE(f.good());
  const auto fixture = nlohmann::json::parse(f);
  auto plane = [](const nlohmann::json& rows) {
    Plane p(int(rows.size()), int(rows.at(0).size()));
    for (int y = 0; y < p.height; ++y)
      for (int x = 0; x < p.width; ++x) p.at(y, x) = rows.at(size_t(y)).at(size_t(x)).get<double>();
    return p;
  };
  int values = 0;
  for (const auto& c : fixture.at("cases")) {
    const int s = c.at("scale").get<int>();
    INFO("x" << s);
    const Plane gt = plane(c.at("gt")), l = plane(c.at("l")), lc = plane(c.at("lc")), b = plane(c.at("b"));
    const Plane our_l = vdsr::imresize(gt, 1.0 / s), our_b = vdsr::imresize(lc, double(s));
    for (int y = 0; y < l.height; ++y)
      for (int x = 0; x < l.width; ++x, ++values) CHECK(std::fabs(our_l.at(y, x) - l.at(y, x)) <= 1e-9);
    for (int y = 0; y < b.height; ++y)
      for (int x = 0; x < b.width; ++x, ++values) CHECK(std::fabs(our_b.at(y, x) - b.at(y, x)) <= 1e-9);
  }
  CHECK(values > 1000);
}

TEST_CASE("transposing the input transposes the output") {
  const Plane p = random_plane(37, 53, 11);
  const Plane t = transpose(p);
  for (double s : {0.37, 0.25, 1.0 / 3.0, 0.5, 1.5, 2.0, 3.0, 4.0}) {
    INFO("scale " << s);
    const Plane a = transpose(vdsr::imresize(p, s));
    const Plane b = vdsr::imresize(t, s);
    // Equal scales: height goes first, so the two runs do the passes in opposite order and differ
    // by rounding only.
    CHECK(max_abs_diff(a, b) <= 1e-10);
  }
  // Unequal scales: the smaller scale goes first in both runs, so the arithmetic is identical.
  for (auto [oh, ow] : {std::pair{20, 80}, std::pair{90, 17}, std::pair{14, 19}, std::pair{111, 160}}) {
    INFO("to " << oh << "x" << ow);
    const Plane a = transpose(vdsr::imresize_to(p, oh, ow));
    const Plane b = vdsr::imresize_to(t, ow, oh);
    CHECK(max_abs_diff(a, b) == 0.0);
  }
}

TEST_CASE("imresize identities") {
  const Plane p = random_plane(23, 31, 5);
  SECTION("scale 1 returns the input exactly") {
    const Plane a = vdsr::imresize(p, 1.0);
    CHECK(a.v == p.v);
    const Plane b = vdsr::imresize_to(p, 23, 31);
    CHECK(b.v == p.v);
  }
  SECTION("a constant image stays constant") {
    const Plane c(29, 41, 123.25);
    for (double s : {0.25, 0.37, 1.0 / 3.0, 0.5, 1.5, 2.0, 3.0, 4.0}) {
      const Plane r = vdsr::imresize(c, s);
      double m = 0;
      for (double v : r.v) m = std::max(m, std::fabs(v - 123.25));
      INFO("scale " << s);
      CHECK(m <= 1e-12);
    }
  }
  SECTION("one dimension at scale 1 is untouched") {
    // Only the width is resized, each row on its own: a 1-row plane gives the same row.
    const Plane r = vdsr::imresize_to(p, 23, 62);
    Plane one(1, 31);
    for (int x = 0; x < 31; ++x) one.at(0, x) = p.at(7, x);
    const Plane r1 = vdsr::imresize_to(one, 1, 62);
    for (int x = 0; x < 62; ++x) CHECK(r1.at(0, x) == r.at(7, x));
  }
}

TEST_CASE("imresize output sizes") {
  CHECK(vdsr::imresize(Plane(7, 7), 1.0 / 3).height == 3);
  CHECK(vdsr::imresize(Plane(7, 8), 1.0 / 3).width == 3);
  CHECK(vdsr::imresize(Plane(255, 255), 1.0 / 3).height == 85);
  CHECK(vdsr::imresize(Plane(10, 10), 0.37).height == 4);  // ceil(3.7)
  CHECK(vdsr::imresize(Plane(5, 5), 1.5).height == 8);     // ceil(7.5)
  CHECK(vdsr::imresize(Plane(5, 6), 2.0).width == 12);
  // A product one rounding above an integer is that integer: 1.1 * 50 is 55.00000000000001 in
  // double (ceil would give 56), 1.1 * 90 is 99.00000000000001; the exact products are 55 and 99.
  REQUIRE(1.1 * 50 > 55.0);
  CHECK(vdsr::imresize(Plane(50, 90), 1.1).height == 55);
  CHECK(vdsr::imresize(Plane(50, 90), 1.1).width == 99);
  // A multiple of s always goes to exactly n / s and back to n.
  for (int s = 2; s <= 4; ++s) {
    for (int n = 1; n <= 400; ++n) {
      const Plane down = vdsr::imresize(Plane(1, n * s, 1.0), 1.0 / s);
      REQUIRE(down.width == n);
      REQUIRE(down.height == 1);
      CHECK(vdsr::imresize(down, double(s)).width == n * s);
    }
  }
  const Plane r = vdsr::imresize_to(Plane(10, 12), 3, 17);
  CHECK(r.height == 3);
  CHECK(r.width == 17);
  CHECK_THROWS_AS(vdsr::imresize(Plane(), 2.0), vdsr::Error);
  CHECK_THROWS_AS(vdsr::imresize(Plane(4, 4), 0.0), vdsr::Error);
  CHECK_THROWS_AS(vdsr::imresize_to(Plane(4, 4), 0, 3), vdsr::Error);
}

TEST_CASE("ImresizeRows gives the whole resize's rows, bit for bit, in every pass order") {
  // Height first (equal scales, or a larger width scale), width first (a smaller width scale), one
  // dimension resized, none; the resize of the whole plane makes its rows the same way, so this
  // checks the row path's state (the width-first intermediate, the height-first scratch row).
  using Sizes = std::vector<std::pair<int, int>>;
  for (const auto& [h, w] : Sizes{{1, 1}, {3, 5}, {17, 40}, {40, 17}, {31, 64}}) {
    const Plane p = random_plane(h, w, uint32_t(100 + h * w));
    for (const auto& [oh, ow] : Sizes{{2 * h, 2 * w}, {3 * h, 3 * w}, {(h + 1) / 2, w}, {h, 3 * w},
                                      {2 * h, w + 1}, {h + 7, 2 * w}, {(h + 2) / 3, (w + 3) / 4}, {h, w}}) {
      const Plane whole = vdsr::imresize_to(p, oh, ow);
      vdsr::ImresizeRows rows(p, oh, ow);
      REQUIRE(rows.height() == oh);
      REQUIRE(rows.width() == ow);
      std::vector<double> row(static_cast<size_t>(ow));
      INFO(h << "x" << w << " -> " << oh << "x" << ow);
      for (int i = 0; i < oh; ++i) {
        rows.row(i, row.data());
        REQUIRE(std::memcmp(row.data(), &whole.v[size_t(i) * size_t(ow)], size_t(ow) * sizeof(double)) == 0);
      }
      // Rows in any order: each is computed from the input alone.
      rows.row(oh - 1, row.data());
      rows.row(0, row.data());
      CHECK(std::memcmp(row.data(), whole.v.data(), size_t(ow) * sizeof(double)) == 0);
    }
  }
  const Plane p = random_plane(4, 4, 7);
  vdsr::ImresizeRows rows(p, 8, 8);
  std::vector<double> row(8);
  CHECK_THROWS_AS(rows.row(8, row.data()), vdsr::Error);
  CHECK_THROWS_AS(vdsr::ImresizeRows(p, 0, 8), vdsr::Error);
}

TEST_CASE("modcrop keeps the top-left multiple of the scale") {
  const Plane p = random_plane(13, 17, 3);
  const Plane c = vdsr::modcrop(p, 4);
  REQUIRE(c.height == 12);
  REQUIRE(c.width == 16);
  for (int y = 0; y < 12; ++y)
    for (int x = 0; x < 16; ++x) CHECK(c.at(y, x) == p.at(y, x));
  CHECK(vdsr::modcrop(p, 1).v == p.v);
}
