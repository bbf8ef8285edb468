// Reference convolution forward: plain loops in double (the oracle of the tests). See conv_fwd.h
// for the math: zero padding skips the taps outside the image, replicate padding clamps them.
#include <algorithm>

#include "engine/error.h"
#include "kernels/conv_fwd.h"

namespace vdsr {

void conv_fwd_ref(const ConvShape& shape, const double* x, const double* wt, const double* b, bool relu,
                  double* y) {
  const int64_t N = shape.N, H = shape.H, W = shape.W, C = shape.C, K = shape.K, R = shape.R;
  VDSR_CHECK(N > 0 && H > 0 && W > 0 && C > 0 && K > 0 && R > 0 && R % 2 == 1,
             "bad conv shape N=" << N << " H=" << H << " W=" << W << " C=" << C << " K=" << K << " R=" << R);
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr, "null tensor");
  const int64_t P = R / 2;
  const bool replicate = shape.pad == Padding::Replicate;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t w = 0; w < W; ++w)
        for (int64_t k = 0; k < K; ++k) {
          double sum = b != nullptr ? b[k] : 0.0;
          for (int64_t r = 0; r < R; ++r)
            for (int64_t s = 0; s < R; ++s) {
              int64_t hh = h + r - P, ww = w + s - P;
              if (replicate) {
                hh = std::clamp<int64_t>(hh, 0, H - 1);
                ww = std::clamp<int64_t>(ww, 0, W - 1);
              } else if (hh < 0 || hh >= H || ww < 0 || ww >= W) {
                continue;
              }
              const double* xp = x + ((n * H + hh) * W + ww) * C;  // [C]
              for (int64_t c = 0; c < C; ++c) sum += xp[c] * wt[((k * C + c) * R + r) * R + s];
            }
          // `sum < 0` rather than `sum > 0`: NaN passes through ReLU, as in PyTorch.
          y[((n * H + h) * W + w) * K + k] = relu && sum < 0 ? 0.0 : sum;
        }
}

}  // namespace vdsr
