// The ordered finish of the split weight gradients (kernels/wgrad_finish.h), which the CUDA finish
// kernels run as written: chunk_sum gives the plain in-order loop's bits, and the 64 -> 64 finish
// that walks the partial layout gives, bit for bit, what the finish that walked dw gave before it
// (each output the same additions in the same order; only which thread does them changed).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "kernels/wgrad_finish.h"

using namespace vdsr;

namespace {

// Values over 40 binades, so that the order of the additions shows in the bits.
std::vector<float> spread_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> e(-20, 20);
  std::vector<float> v(n);
  for (auto& x : v) x = std::ldexp(u(rng), e(rng));
  return v;
}

template <typename T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

template <typename Acc>
Acc plain_sum(const float* p, int64_t stride, int64_t chunks) {
  Acc s = Acc(0);
  for (int64_t c = 0; c < chunks; ++c) s += Acc(p[c * stride]);
  return s;
}

}  // namespace

TEST_CASE("chunk_sum adds the chunks in order: the plain loop's bits, loads ahead or not", "[wgrad_finish]") {
  const int64_t most = 300, stride = 7;
  const std::vector<float> v = spread_floats(size_t(most * stride), 11);
  bool order_shows = false;  // the data tells two orders apart (else this test could not fail)
  for (int64_t chunks : {0, 1, 2, 15, 16, 17, 31, 32, 33, 40, 132, 211, 300}) {
    for (int64_t at = 0; at < stride; at += 3) {
      const float* p = v.data() + at;
      const float f = chunk_sum<kFinishAhead, float>(p, stride, chunks);
      const float f_plain = plain_sum<float>(p, stride, chunks);
      const double d = chunk_sum<kFinishAhead, double>(p, stride, chunks);
      const double d_plain = plain_sum<double>(p, stride, chunks);
      INFO("chunks " << chunks << ", offset " << at);
      CHECK(std::memcmp(&f, &f_plain, sizeof f) == 0);
      CHECK(std::memcmp(&d, &d_plain, sizeof d) == 0);
      CHECK(chunk_sum<4, float>(p, stride, chunks) == f_plain);
      float reversed = 0.0f;
      for (int64_t c = chunks; c-- > 0;) reversed += p[c * stride];
      order_shows = order_shows || reversed != f_plain;
    }
  }
  CHECK(order_shows);
}

TEST_CASE("the 64 -> 64 finish by partial element gives the finish by output element's bits", "[wgrad_finish]") {
  for (int chunks : {1, 5, 16, 17, 132}) {
    const std::vector<float> part = spread_floats(size_t(chunks) * kPartWeights, 20 + uint32_t(chunks));
    const std::vector<float> part_b = spread_floats(size_t(chunks) * kPartBias, 40 + uint32_t(chunks));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    std::vector<float> dw_want(64 * 64 * 9, nan), db_want(64, nan);
    for (int e = 0; e < kPartWeights + kPartBias; ++e)
      finish_output(e, chunks, part.data(), part_b.data(), dw_want.data(), db_want.data());
    std::vector<float> dw(dw_want.size(), nan), db(db_want.size(), nan);
    for (int f = 0; f < kPartWeights + kPartBias; ++f)
      finish_part(f, chunks, part.data(), part_b.data(), dw.data(), db.data());
    INFO(chunks << " chunks");
    CHECK(same_bits(dw, dw_want));  // every dw element written (no NaN left), each the same sum
    CHECK(same_bits(db, db_want));
    // Without a bias gradient the bias threads write nothing.
    std::vector<float> dw2(dw_want.size(), nan);
    for (int f = 0; f < kPartWeights + kPartBias; ++f)
      finish_part(f, chunks, part.data(), part_b.data(), dw2.data(), nullptr);
    CHECK(same_bits(dw2, dw_want));
  }
}

TEST_CASE("part_to_oihw maps the partial layout onto dw one to one", "[wgrad_finish]") {
  std::vector<int> hits(64 * 64 * 9, 0);
  for (int f = 0; f < kPartWeights; ++f) {
    const int e = part_to_oihw(f);
    REQUIRE(e >= 0);
    REQUIRE(e < int(hits.size()));
    ++hits[size_t(e)];
  }
  for (int h : hits) REQUIRE(h == 1);
  // Two fixed points of the layouts: f = (r 64 + co) 192 + s 64 + ci -> (co 64 + ci) 9 + r 3 + s.
  CHECK(part_to_oihw((1 * 64 + 2) * 192 + 2 * 64 + 5) == (2 * 64 + 5) * 9 + 1 * 3 + 2);
  CHECK(part_to_oihw(kPartWeights - 1) == 64 * 64 * 9 - 1);
}
