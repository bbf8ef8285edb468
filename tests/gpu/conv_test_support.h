// Shared by the GPU conv tests (tests/gpu/test_conv_*.cpp): device arrays of fp32 or bf16
// elements (cudaMalloc'd on device 0 and poisoned with 0xFF bytes, NaN in both types, so unwritten
// outputs fail; fp32 values in and out, synchronous), the host's bf16 and tf32 rounding, the two
// comparisons against the double references (within a bound, exact) and the crops of the
// position-independence tests.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "kernels/conv_shape.h"
#include "kernels/precision.h"

namespace vdsr::test {

constexpr int kGpu = 0;

inline cudaStream_t gpu_stream() { return cuda_stream(kGpu); }

// Host bf16: round to nearest even, as __float2bfloat16_rn.
inline uint16_t bf16_bits(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, 4);
  if (std::isnan(f)) return 0x7FC0;
  u += 0x7FFFu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16_value(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float f = 0;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float round_bf16(float f) { return bf16_value(bf16_bits(f)); }

// Host tf32: round to nearest, ties away from zero, as cvt.rna.tf32.f32 (non-finite kept).
inline float round_tf32(float f) {
  uint32_t u = 0;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x1000u) & 0xFFFFE000u;
  std::memcpy(&f, &u, 4);
  return f;
}

inline float unrounded(float f) { return f; }

// What a value becomes when stored as an element of type t.
inline float stored(DType t, float f) { return t == DType::BF16 ? round_bf16(f) : f; }

inline std::vector<float> rounded(std::vector<float> v, float (*round)(float)) {
  for (float& f : v) f = round(f);
  return v;
}

// n elements of type t on the GPU, NaN until written.
class GpuArray {
 public:
  explicit GpuArray(size_t n, DType t = DType::F32) : n_(n), t_(t) {
    const size_t bytes = std::max<size_t>(n, 1) * elem_bytes();
    VDSR_CUDA_CHECK(cudaMalloc(&p_, bytes));
    VDSR_CUDA_CHECK(cudaMemset(p_, 0xFF, bytes));  // NaN poison
  }
  // v, converted to t (bf16: to nearest even).
  explicit GpuArray(const std::vector<float>& v, DType t = DType::F32) : GpuArray(v.size(), t) {
    if (t == DType::F32) {
      VDSR_CUDA_CHECK(cudaMemcpy(p_, v.data(), n_ * 4, cudaMemcpyHostToDevice));
      return;
    }
    std::vector<uint16_t> h(n_);
    for (size_t i = 0; i < n_; ++i) h[i] = bf16_bits(v[i]);
    VDSR_CUDA_CHECK(cudaMemcpy(p_, h.data(), n_ * 2, cudaMemcpyHostToDevice));
  }
  GpuArray(GpuArray&& o) noexcept : p_(o.p_), n_(o.n_), t_(o.t_) { o.p_ = nullptr; }
  GpuArray(const GpuArray&) = delete;
  GpuArray& operator=(const GpuArray&) = delete;
  ~GpuArray() { cudaFree(p_); }

  void* get() const { return p_; }
  float* f32() const {
    REQUIRE(t_ == DType::F32);
    return static_cast<float*>(p_);
  }
  size_t size() const { return n_; }

  // The elements as fp32 values, after the work queued on the engine's stream.
  std::vector<float> download() const {
    cuda_sync(kGpu);
    std::vector<float> v(n_);
    if (t_ == DType::F32) {
      VDSR_CUDA_CHECK(cudaMemcpy(v.data(), p_, n_ * 4, cudaMemcpyDeviceToHost));
      return v;
    }
    std::vector<uint16_t> h(n_);
    VDSR_CUDA_CHECK(cudaMemcpy(h.data(), p_, n_ * 2, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n_; ++i) v[i] = bf16_value(h[i]);
    return v;
  }

 private:
  size_t elem_bytes() const { return t_ == DType::BF16 ? 2 : 4; }
  void* p_ = nullptr;
  size_t n_;
  DType t_;
};

// The bound on a float result: |got - want| <= of_sumabs sum|terms| + of_want |want| per output,
// sum|terms| being the reference run on |inputs| (each test's header derives its numbers).
struct Bound {
  double of_sumabs = 0, of_want = 0;
};

// got within the bound of want; non-finite results (the NaN poison left unwritten) fail.
inline void require_within(const std::vector<float>& got, const std::vector<double>& want,
                           const std::vector<double>& sumabs, Bound bound,
                           const std::string& what) {
  REQUIRE(got.size() == want.size());
  REQUIRE(sumabs.size() == want.size());
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = bound.of_want * std::fabs(want[i]) + bound.of_sumabs * sumabs[i] + 1e-30;
    const double err = std::fabs(double(got[i]) - want[i]);
    worst = std::max(worst, std::isfinite(got[i]) ? err / tol : 1e30);
    if (!(err <= tol) && bad++ == 0) first = int64_t(i);
  }
  INFO(what << ": " << bad << " of " << got.size() << " outside the bound; first at " << first
            << (first >= 0 ? " got " + std::to_string(got[size_t(first)]) + " want " +
                                 std::to_string(want[size_t(first)])
                           : std::string())
            << "; worst error / bound " << worst);
  CHECK(bad == 0);
}

// How an exact result is compared: with the exact value (want, or want stored as bf16 when the
// output is a bf16 map), bit for bit (a zero's sign too) or as values.
struct Exactness {
  bool to_bf16 = false;
  bool in_bits = false;
};

inline bool exactly(float got, double want, Exactness e) {
  if (!e.in_bits && !e.to_bf16) return double(got) == want;
  const float w = e.to_bf16 ? round_bf16(float(want)) : float(want);
  return e.in_bits ? std::memcmp(&got, &w, 4) == 0 : got == w;
}

inline void require_exactly(const std::vector<float>& got, const std::vector<double>& want,
                            Exactness e, const std::string& what) {
  REQUIRE(got.size() == want.size());
  int64_t bad = 0, first = -1;
  for (size_t i = 0; i < got.size(); ++i)
    if (!exactly(got[i], want[i], e) && bad++ == 0) first = int64_t(i);
  INFO(what << ": " << bad << " of " << got.size() << " differ; first at " << first
            << (first >= 0 ? " got " + std::to_string(got[size_t(first)]) + " want " +
                                 std::to_string(want[size_t(first)])
                           : std::string()));
  CHECK(bad == 0);
}

// a and b equal bit for bit; the message counts the differing elements and names the first.
inline void require_same_bits(const std::vector<float>& a, const std::vector<float>& b, const std::string& what) {
  int64_t bad = a.size() == b.size() ? 0 : -1, first = -1;
  for (size_t i = 0; bad >= 0 && i < a.size(); ++i)
    if (std::memcmp(&a[i], &b[i], 4) != 0 && bad++ == 0) first = int64_t(i);
  INFO(what << ": " << (bad < 0 ? std::string("sizes differ")
                                : std::to_string(bad) + " of " + std::to_string(a.size()) +
                                      " differ in bits; first at " + std::to_string(first)));
  CHECK(bad == 0);
}

// A crop of a [H][W][64] map: rows h0 .. h0 + ch - 1, columns w0 .. w0 + cw - 1.
struct Crop {
  int64_t W, h0, w0, ch, cw;  // W: the whole map's width
  ConvShape shape() const { return {1, ch, cw, 64, 64}; }
  std::vector<float> cut(const std::vector<float>& whole) const {
    std::vector<float> o(size_t(ch * cw * 64));
    for (int64_t h = 0; h < ch; ++h)
      for (int64_t w = 0; w < cw; ++w)
        std::copy_n(whole.begin() + ((h0 + h) * W + w0 + w) * 64, 64,
                    o.begin() + (h * cw + w) * 64);
    return o;
  }
  // How many outputs of the crop differ in bits from the whole's, away from the crop's 1-pixel
  // border (which sees the crop's zero padding instead of the image).
  int64_t interior_differences(const std::vector<float>& whole,
                               const std::vector<float>& crop) const {
    int64_t bad = 0;
    for (int64_t h = 1; h + 1 < ch; ++h)
      for (int64_t w = 1; w + 1 < cw; ++w)
        for (int64_t k = 0; k < 64; ++k) {
          const size_t i = size_t(((h0 + h) * W + w0 + w) * 64 + k),
                       j = size_t((h * cw + w) * 64 + k);
          bad += std::memcmp(&whole[i], &crop[j], 4) != 0;
        }
    return bad;
  }
};

}  // namespace vdsr::test
