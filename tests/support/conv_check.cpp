#include "tests/support/conv_check.h"

#include <cstdlib>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "tests/support/test_support.h"

namespace vdsr::test {

std::string shape_str(const ConvShape& s) {
  return "N=" + std::to_string(s.N) + " H=" + std::to_string(s.H) + " W=" + std::to_string(s.W) +
         " C=" + std::to_string(s.C) + " K=" + std::to_string(s.K) +
         (s.is_3x3_zero() ? "" : " R=" + std::to_string(s.R) + (s.pad == Padding::Replicate ? " replicate" : " zero"));
}

std::vector<std::string> isa_paths() {
  std::vector<std::string> v{"generic"};
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v.push_back("avx2");
  if (__builtin_cpu_supports("avx512f")) v.push_back("avx512");
#endif
  return v;
}

IsaScope::IsaScope(const std::string& isa) { setenv("VDSR_CPU_ISA", isa.c_str(), 1); }
IsaScope::~IsaScope() { unsetenv("VDSR_CPU_ISA"); }

std::vector<std::string> cpu_conv_algos() { return {"auto", "winograd2", "direct"}; }
CpuConvScope::CpuConvScope(const std::string& algo) { setenv("VDSR_CPU_CONV", algo.c_str(), 1); }
CpuConvScope::~CpuConvScope() { unsetenv("VDSR_CPU_CONV"); }

std::vector<double> abs_of(const std::vector<double>& v) {
  std::vector<double> a(v.size());
  for (size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

namespace {
std::string first_mismatch(const std::vector<float>& got, const std::vector<double>& want,
                           int64_t first) {
  return first < 0 ? std::string()
                   : " got " + std::to_string(got[size_t(first)]) + " want " +
                         std::to_string(want[size_t(first)]);
}
}  // namespace

void require_close(const std::vector<float>& got, const std::vector<double>& want,
                   const std::vector<double>& sumabs, double chain, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = (chain + 2) * 0x1p-23 * sumabs[i] + 1e-30;
    if (!(std::fabs(double(got[i]) - want[i]) <= tol) && bad++ == 0) first = int64_t(i);
  }
  INFO(what << ": " << bad << " of " << got.size() << " out of tolerance; first at " << first
            << first_mismatch(got, want, first));
  CHECK(bad == 0);
}

void require_exact(const std::vector<float>& got, const std::vector<double>& want,
                   const std::string& what) {
  REQUIRE(got.size() == want.size());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(double(got[i]) == want[i]) && bad++ == 0) first = int64_t(i);
  INFO(what << ": " << bad << " of " << got.size() << " differ; first at " << first
            << first_mismatch(got, want, first));
  CHECK(bad == 0);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

std::vector<float> relu_source(size_t n, uint32_t seed) {
  std::vector<float> v = random_floats(n, -1.0f, 1.0f, seed);
  for (size_t i = 0; i < n; i += 5) v[i] = 0.0f;
  return v;
}

}  // namespace vdsr::test
