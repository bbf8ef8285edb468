// CUDA 3x3 convolution backward-weight and bias (math: kernels/conv3x3_bwd_weight.h).
// dw is a GEMM reducing over the N*H*W pixels: G[k][j] = sum_p dy[p][k] * x[p shifted by tap][c]
// with j = tap*C + c. The pixels are cut into chunks of a fixed size (from N*H*W alone); each
// chunk's partial G (and bias sums) goes to the workspace, [chunk][K][9C] then [chunk][K], and a
// finish kernel adds the chunks in order: deterministic, no atomics. Within a chunk every sum runs
// over its pixels in order, so both variants add in the same order.
//   0:direct  one thread per (chunk, k, tap, c) looping over the chunk's pixels.
//   1:tiled   C, K multiples of 4: CTAs of 192 threads own a 64 (k) x 192 (j: one row of taps
//             when C = 64) tile of one chunk; each thread an 8x8 register block; stages of 16
//             pixels: dy rows (64 k, contiguous) and shifted x rows (192 j, contiguous within a tap)
//             go through registers into double-buffered shared memory, one barrier per stage.
//             Other shapes (C = 1, K = 1: 9C K is tiny there) run variant 0's kernel.
#include "kernels/conv3x3_bwd_weight.cuh"

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/fma_tile.cuh"

namespace vdsr {

namespace {

// n / d for 0 <= n < 2^31 by multiply-high and shift (d >= 1).
struct FastDiv {
  uint32_t d, m, s;
};
FastDiv make_fastdiv(uint32_t d) {
  uint32_t s = 0;
  while ((uint64_t(1) << s) < d) ++s;
  const uint64_t m = ((uint64_t(1) << 32) * ((uint64_t(1) << s) - d)) / d + 1;
  return FastDiv{d, uint32_t(m), s};
}
__device__ __forceinline__ int fdiv(int n, const FastDiv& f) {
  return int((__umulhi(uint32_t(n), f.m) + uint32_t(n)) >> f.s);
}

struct WGrad {
  int N, H, W, C, K, P;  // P = N*H*W pixels
  int chunk;              // pixels per chunk (a multiple of 16)
  FastDiv div_hw, div_w;
  const float* x;   // [N][H][W][C]
  const float* dy;  // [N][H][W][K]
  float* part;      // [nchunks][K][9C]
  float* part_b;    // [nchunks][K] or nullptr
};

// Variant 0 (and the C = 1 / K = 1 layers): one thread per (chunk, e), e = (k*9 + tap)*C + c.
__global__ void bwd_weight_direct_kernel(WGrad g) {
  const int J = 9 * g.C;
  const int e = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (e >= g.K * J) return;
  const int k = e / J, j = e % J;
  const int tap = j / g.C, c = j % g.C;
  const int dh = tap / 3 - 1, dw = tap % 3 - 1;
  const int p0 = int(blockIdx.y) * g.chunk;
  const int p1 = min(g.P, p0 + g.chunk);
  float acc = 0.0f;
  for (int p = p0; p < p1; ++p) {
    const int n = fdiv(p, g.div_hw);
    const int rem = p - n * g.H * g.W;
    const int h = fdiv(rem, g.div_w);
    const int w = rem - h * g.W;
    const bool ok = h + dh >= 0 && h + dh < g.H && w + dw >= 0 && w + dw < g.W;
    const float xv = ok ? __ldg(g.x + (p + dh * g.W + dw) * g.C + c) : 0.0f;
    acc = fmaf(__ldg(g.dy + p * g.K + k), xv, acc);
  }
  g.part[size_t(blockIdx.y) * g.K * J + e] = acc;
}

// Bias partials: one block per chunk, threads over k, four interleaved sums added at the end.
__global__ void bwd_bias_partial_kernel(WGrad g) {
  const int p0 = int(blockIdx.x) * g.chunk;
  const int p1 = min(g.P, p0 + g.chunk);
  for (int k = int(threadIdx.x); k < g.K; k += int(blockDim.x)) {
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
    int p = p0;
    for (; p + 3 < p1; p += 4) {
      s0 += __ldg(g.dy + (p + 0) * g.K + k);
      s1 += __ldg(g.dy + (p + 1) * g.K + k);
      s2 += __ldg(g.dy + (p + 2) * g.K + k);
      s3 += __ldg(g.dy + (p + 3) * g.K + k);
    }
    for (; p < p1; ++p) s0 += __ldg(g.dy + p * g.K + k);
    g.part_b[size_t(blockIdx.x) * g.K + k] = (s0 + s1) + (s2 + s3);
  }
}

// dw[k][c][tap] and db[k]: the chunks' partials added in chunk order.
__global__ void bwd_weight_finish_kernel(int nchunks, int K, int C, const float* __restrict__ part,
                                         const float* __restrict__ part_b, float* __restrict__ dw,
                                         float* __restrict__ db) {
  const int J = 9 * C;
  const int e = int(blockIdx.x * blockDim.x + threadIdx.x);
  if (e < K * J) {
    float s = 0.0f;
    for (int ch = 0; ch < nchunks; ++ch) s += part[size_t(ch) * K * J + e];
    const int k = e / J, j = e % J;
    const int tap = j / C, c = j % C;
    dw[(k * C + c) * 9 + tap] = s;
  } else if (db != nullptr && e < K * J + K) {
    const int k = e - K * J;
    float s = 0.0f;
    for (int ch = 0; ch < nchunks; ++ch) s += part_b[size_t(ch) * K + k];
    db[k] = s;
  }
}

constexpr int kWM = 64, kWN = 192, kWK = 16, kWThreads = 192;

__global__ void __launch_bounds__(kWThreads) bwd_weight_tiled_kernel(WGrad g) {
  __shared__ __align__(16) float As[2][kWK][kWM];  // dy[p][k0 ..]
  __shared__ __align__(16) float Bs[2][kWK][kWN];  // x[p shifted][j0 ..]

  const int tid = int(threadIdx.x);
  const int C = g.C, K = g.K, W = g.W, H = g.H, J = 9 * C;
  const int j0 = int(blockIdx.x) * kWN, k0 = int(blockIdx.y) * kWM;
  const int pstart = int(blockIdx.z) * g.chunk;
  const int pend = min(g.P, pstart + g.chunk);
  const int nstage = (pend - pstart + kWK - 1) / kWK;

  // A loads: (pixel ap, k quad aq) and, for tid < 64, pixel ap + 12.
  const int ap = tid >> 4, aq = tid & 15;
  const bool aq_ok = k0 + aq * 4 < K;
  // B loads: j quad bq (fixed tap and c), pixels bp + 4 i.
  const int bq = tid % 48, bp = tid / 48;
  const int j = j0 + bq * 4;
  const bool bj_ok = j < J;
  const int tap = bj_ok ? j / C : 0;
  const int dh = tap / 3 - 1, dw = tap % 3 - 1;
  const int boff = (dh * W + dw) * C + (j - tap * C);

  float4 ra[2], rb[4];
  auto load_stage = [&](int st) {
    const int pb = pstart + st * kWK;
    const float4 z = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    ra[0] = z;
    ra[1] = z;
    if (aq_ok && pb + ap < pend)
      ra[0] = __ldg(reinterpret_cast<const float4*>(g.dy + (pb + ap) * K + k0 + aq * 4));
    if (tid < 64 && aq_ok && pb + 12 + ap < pend)
      ra[1] = __ldg(reinterpret_cast<const float4*>(g.dy + (pb + 12 + ap) * K + k0 + aq * 4));
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      rb[i] = z;
      const int p = pb + bp + 4 * i;
      if (bj_ok && p < pend) {
        const int n = fdiv(p, g.div_hw);
        const int rem = p - n * H * W;
        const int h = fdiv(rem, g.div_w);
        const int w = rem - h * W;
        if (h + dh >= 0 && h + dh < H && w + dw >= 0 && w + dw < W)
          rb[i] = __ldg(reinterpret_cast<const float4*>(g.x + p * C + boff));
      }
    }
  };
  auto store_stage = [&](int buf) {
    *reinterpret_cast<float4*>(&As[buf][ap][aq * 4]) = ra[0];
    if (tid < 64) *reinterpret_cast<float4*>(&As[buf][12 + ap][aq * 4]) = ra[1];
#pragma unroll
    for (int i = 0; i < 4; ++i) *reinterpret_cast<float4*>(&Bs[buf][bp + 4 * i][bq * 4]) = rb[i];
  };

  const int tm = tid / 24, tn = tid % 24;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int jj = 0; jj < 8; ++jj) acc[i][jj] = 0.0f;

  if (nstage > 0) {
    load_stage(0);
    store_stage(0);
  }
  __syncthreads();
  staged_fma_loop<kWK, 32, 96>(As, Bs, nstage, tm, tn, load_stage, store_stage, acc);

  float* out = g.part + size_t(blockIdx.z) * K * J;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int k = k0 + (i < 4 ? tm * 4 + i : 32 + tm * 4 + (i - 4));
    if (k >= K) continue;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int jj = j0 + half * 96 + tn * 4;
      if (jj >= J) continue;
      *reinterpret_cast<float4*>(out + k * J + jj) =
          make_float4(acc[i][half * 4 + 0], acc[i][half * 4 + 1], acc[i][half * 4 + 2],
                      acc[i][half * 4 + 3]);
    }
  }
}

constexpr int kVariants = 2;

}  // namespace

void conv3x3_bwd_weight_cuda(const ConvShape& s, const float* x, const float* dy, float* dw,
                             float* db, cudaStream_t stream, int device, int variant) {
  VDSR_CHECK(s.N > 0 && s.H > 0 && s.W > 0 && s.C > 0 && s.K > 0,
             "conv3x3_bwd_weight_cuda: bad shape N=" << s.N << " H=" << s.H << " W=" << s.W
                                                     << " C=" << s.C << " K=" << s.K);
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr,
             "conv3x3_bwd_weight_cuda: null pointer");
  VDSR_CHECK(variant >= 0 && variant < kVariants,
             "conv3x3_bwd_weight_cuda has no variant " << variant);
  const int64_t limit = (int64_t(1) << 31) - 1;
  VDSR_CHECK(s.in_elems() < limit && s.out_elems() < limit && s.weight_elems() + s.K < limit,
             "conv3x3_bwd_weight_cuda: tensors of 2^31 or more elements (split the batch)");

  // Chunks: about 512 pixels each, at most 1024 of them; a multiple of the 16-pixel stage.
  const int64_t P = s.pixels();
  const int64_t nwant = std::min<int64_t>((P + 511) / 512, 1024);
  const int64_t chunk = ((P + nwant - 1) / nwant + 15) / 16 * 16;
  const int64_t nchunks = (P + chunk - 1) / chunk;
  const int64_t J = 9 * s.C;
  const size_t part_elems = size_t(nchunks * s.K * J), partb_elems = size_t(nchunks * s.K);
  float* ws = static_cast<float*>(
      cuda_workspace(device, (part_elems + partb_elems) * sizeof(float)));

  WGrad g{};
  g.N = int(s.N);
  g.H = int(s.H);
  g.W = int(s.W);
  g.C = int(s.C);
  g.K = int(s.K);
  g.P = int(P);
  g.chunk = int(chunk);
  g.div_hw = make_fastdiv(uint32_t(s.H * s.W));
  g.div_w = make_fastdiv(uint32_t(s.W));
  g.x = x;
  g.dy = dy;
  g.part = ws;
  g.part_b = ws + part_elems;

  if (variant == 1 && s.C % 4 == 0 && s.K % 4 == 0) {
    const dim3 grid(unsigned((J + kWN - 1) / kWN), unsigned((s.K + kWM - 1) / kWM),
                    unsigned(nchunks));
    bwd_weight_tiled_kernel<<<grid, kWThreads, 0, stream>>>(g);
  } else {
    const dim3 grid(unsigned((s.K * J + 255) / 256), unsigned(nchunks));
    bwd_weight_direct_kernel<<<grid, 256, 0, stream>>>(g);
  }
  VDSR_CUDA_CHECK(cudaGetLastError());
  if (db != nullptr) {
    const int threads = int(std::min<int64_t>(256, (s.K + 31) / 32 * 32));
    bwd_bias_partial_kernel<<<unsigned(nchunks), threads, 0, stream>>>(g);
    VDSR_CUDA_CHECK(cudaGetLastError());
  }
  const int64_t total = s.K * J + (db != nullptr ? s.K : 0);
  bwd_weight_finish_kernel<<<unsigned((total + 255) / 256), 256, 0, stream>>>(
      int(nchunks), int(s.K), int(s.C), g.part, g.part_b, dw, db);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

}  // namespace vdsr
