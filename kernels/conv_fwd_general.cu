// The general CUDA convolution forward (kernels/conv_fwd_general.cuh): one thread per output
// element, bias first, then the taps r, s and the channels c in order, as the CPU kernel sums.
#include "kernels/conv_fwd_general.cuh"

#include <algorithm>

#include "engine/error.h"

namespace vdsr {

namespace {

__global__ void conv_fwd_general_kernel(int64_t N, int H, int W, int C, int K, int R, bool replicate,
                                        const float* __restrict__ x,   // [N][H][W][C]
                                        const float* __restrict__ wt,  // [K][C][R][R]
                                        const float* __restrict__ b,   // [K] or nullptr
                                        bool relu, float* __restrict__ y) {  // [N][H][W][K]
  const int64_t total = N * H * W * K;
  const int P = R / 2;
  for (int64_t e = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; e < total;
       e += int64_t(gridDim.x) * blockDim.x) {
    const int k = int(e % K);
    const int64_t p = e / K;
    const int w = int(p % W), h = int((p / W) % H);
    const int64_t n = p / (int64_t(W) * H);
    float acc = b != nullptr ? b[k] : 0.0f;
    for (int r = 0; r < R; ++r) {
      int hh = h + r - P;
      if (replicate) hh = min(max(hh, 0), H - 1);
      else if (hh < 0 || hh >= H) continue;
      for (int s = 0; s < R; ++s) {
        int ww = w + s - P;
        if (replicate) ww = min(max(ww, 0), W - 1);
        else if (ww < 0 || ww >= W) continue;
        const float* xp = x + ((n * H + hh) * W + ww) * C;
        const float* wp = wt + (int64_t(k) * C * R + r) * R + s;  // c stride R * R
        for (int c = 0; c < C; ++c) acc = fmaf(xp[c], wp[int64_t(c) * R * R], acc);
      }
    }
    y[e] = relu && acc < 0.0f ? 0.0f : acc;  // NaN passes, as in the other kernels
  }
}

}  // namespace

void conv_fwd_general_cuda(const ConvShape& s, const float* x, const float* wt, const float* b, bool relu,
                           float* y, cudaStream_t stream) {
  VDSR_CHECK(s.N > 0 && s.H > 0 && s.W > 0 && s.C > 0 && s.K > 0 && s.R > 0 && s.R % 2 == 1,
             "bad conv shape N=" << s.N << " H=" << s.H << " W=" << s.W << " C=" << s.C << " K=" << s.K
                                 << " R=" << s.R);
  VDSR_CHECK(s.H < (int64_t(1) << 30) && s.W < (int64_t(1) << 30) && s.C < (1 << 20) && s.K < (1 << 20) &&
                 s.R < 64,
             "conv shape too large for the general kernel");
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr, "null tensor");
  VDSR_CHECK(x != y, "conv_fwd_general_cuda cannot run in place");  // neighbours are read after writes
  const int64_t total = s.out_elems();
  constexpr int kThreads = 256;
  const int blocks = int(std::min<int64_t>((total + kThreads - 1) / kThreads, 65535 * 8));
  conv_fwd_general_kernel<<<blocks, kThreads, 0, stream>>>(s.N, int(s.H), int(s.W), int(s.C), int(s.K), int(s.R),
                                                           s.pad == Padding::Replicate, x, wt, b, relu, y);
}

}  // namespace vdsr
