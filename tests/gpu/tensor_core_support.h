// Shared by the bf16 and tf32 tensor-core GPU tests: device arrays (cudaMalloc'd on device 0 and
// poisoned with 0xFF bytes, NaN in fp32 and in bf16, so unwritten outputs fail; fp32 copies in and
// out, synchronous), the 64 -> 64 shapes both kernel families are tested on, and the crops of the
// position-independence tests.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "kernels/conv_shape.h"

namespace vdsr::test {

constexpr int kGpu = 0;

template <typename T>
class Dev {
 public:
  explicit Dev(size_t n) : n_(n) {
    VDSR_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_), std::max<size_t>(n, 1) * sizeof(T)));
    VDSR_CUDA_CHECK(cudaMemset(p_, 0xFF, std::max<size_t>(n, 1) * sizeof(T)));  // NaN poison
  }
  Dev(Dev&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() { cudaFree(p_); }
  T* get() const { return p_; }
  size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  size_t n_;
};

inline Dev<float> upload(const std::vector<float>& v) {
  Dev<float> d(v.size());
  VDSR_CUDA_CHECK(cudaMemcpy(d.get(), v.data(), v.size() * 4, cudaMemcpyHostToDevice));
  return d;
}

inline std::vector<float> download(const Dev<float>& d) {
  cuda_sync(kGpu);
  std::vector<float> v(d.size());
  VDSR_CUDA_CHECK(cudaMemcpy(v.data(), d.get(), v.size() * 4, cudaMemcpyDeviceToHost));
  return v;
}

// Both tilings of each kernel: narrow images (full-row tiles, rows wrapping inside a fragment,
// tile remainders; the wgmma variant's strip up to W = 53, across images) and wide ones (2-D
// tiles, partial at the right and bottom edges); 1-pixel images; batches.
inline const std::vector<ConvShape>& tensor_core_shapes() {
  static const std::vector<ConvShape> shapes = {
      {1, 1, 1, 64, 64},   {2, 7, 5, 64, 64},   {1, 13, 17, 64, 64}, {2, 41, 41, 64, 64},
      {1, 3, 130, 64, 64}, {1, 70, 1, 64, 64},  {1, 5, 64, 64, 64},  {1, 6, 65, 64, 64},
      {2, 9, 100, 64, 64}, {3, 11, 53, 64, 64}, {1, 12, 54, 64, 64}};
  return shapes;
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

// The crop the position-independence tests cut from a whole image of shape s.
inline Crop crop_of(const ConvShape& s) { return {s.W, 4, 3, s.H - 9, s.W - 7}; }

}  // namespace vdsr::test
