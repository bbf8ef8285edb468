// Device code shared by the 3x3 convolution forward and backward-data launchers (included by
// conv3x3_fwd.cu and conv3x3_bwd_data.cu only). Both are one problem, a 3x3 "convolution as an
// implicit GEMM" over NHWC activations with the weights in GEMM layout B[tap][ci][co]:
//   y[p][co] = epilogue( sum_{tap, ci} x[p shifted by tap][ci] * B[tap][ci][co] )
// where tap = r*3 + s shifts pixel (h, w) to (h + r - 1, w + s - 1), reading zeros (real zeros:
// they are multiplied and added like any other value) outside the image. The forward uses
// B[tap][c][k] = wt[k][c][tap]; the backward-data B[tap][k][c] = wt[k][c][8 - tap] (flipped taps,
// K and C swapped), so dx = conv(dy) with the ReLU mask of the layer below in the epilogue.
//
// Every output's sum runs in the same order wherever the pixel sits (image border or not, which
// tile or image of the batch), so tiled and whole-image results agree bit for bit.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv_shape.h"
#include "kernels/fma_tile.cuh"

namespace vdsr {
namespace {

// One launch's problem: int32 offsets, so the launcher splits batches into groups of images whose
// tensors hold fewer than 2^31 elements.
struct ConvGemm {
  int N, H, W, Cin, Cout;
  const float* x;     // [N][H][W][Cin]
  const float* B;     // [9][Cin][Cout]
  const float* bias;  // [Cout] or nullptr
  const float* mask;  // [N][H][W][Cout] or nullptr: y = mask > 0 ? y : 0
  bool relu;          // y = y < 0 ? 0 : y (NaN passes)
  float* y;           // [N][H][W][Cout]
};

__device__ __forceinline__ float conv_epilogue(const ConvGemm& g, float acc, int co) {
  float v = acc;
  if (g.bias != nullptr) v += __ldg(g.bias + co);
  if (g.relu && v < 0.0f) v = 0.0f;
  return v;
}

// B[tap][ci][co] from OIHW wt[K][C][3][3]: forward (flip = false) ci = c, co = k; backward-data
// (flip = true) ci = k, co = c, tap -> 8 - tap.
__global__ void conv_weight_to_gemm_kernel(const float* __restrict__ wt, int K, int C, bool flip,
                                           float* __restrict__ B) {
  const int total = 9 * K * C;
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
    const int Ci = flip ? K : C, Co = flip ? C : K;
    const int co = e % Co;
    const int ci = (e / Co) % Ci;
    const int tap = e / (Co * Ci);
    const int k = flip ? ci : co, c = flip ? co : ci;
    B[e] = wt[(k * C + c) * 9 + (flip ? 8 - tap : tap)];
  }
}

// Any shape: one thread per output, taps then input channels.
__global__ void conv_gemm_direct_kernel(ConvGemm g) {
  const int total = g.N * g.H * g.W * g.Cout;
  for (int e = blockIdx.x * blockDim.x + threadIdx.x; e < total; e += gridDim.x * blockDim.x) {
    const int co = e % g.Cout;
    const int p = e / g.Cout;
    const int w = p % g.W, h = (p / g.W) % g.H;
    float acc = 0.0f;
    for (int tap = 0; tap < 9; ++tap) {
      const int dh = tap / 3 - 1, dw = tap % 3 - 1;
      const bool ok = h + dh >= 0 && h + dh < g.H && w + dw >= 0 && w + dw < g.W;
      const float* xp = g.x + (p + dh * g.W + dw) * g.Cin;
      const float* bp = g.B + tap * g.Cin * g.Cout + co;
      for (int ci = 0; ci < g.Cin; ++ci) {
        const float xv = ok ? __ldg(xp + ci) : 0.0f;
        acc = fmaf(xv, __ldg(bp + ci * g.Cout), acc);
      }
    }
    float v = conv_epilogue(g, acc, co);
    if (g.mask != nullptr && !(__ldg(g.mask + e) > 0.0f)) v = 0.0f;
    g.y[e] = v;
  }
}

// Cin < 8, Cout % 4 == 0 (the first layer forward, the last layer's backward-data): one thread
// per (pixel, 4 output channels), B in shared memory, float4 stores. Taps then channels.
constexpr int kSmallThreads = 256, kSmallMaxB = 8192;  // B of at most 32 KB
__global__ void __launch_bounds__(kSmallThreads) conv_gemm_smallcin_kernel(ConvGemm g) {
  __shared__ __align__(16) float bsm[kSmallMaxB];  // [9][Cin][Cout]
  const int nb = 9 * g.Cin * g.Cout;
  for (int i = int(threadIdx.x); i < nb; i += int(blockDim.x)) bsm[i] = __ldg(g.B + i);
  __syncthreads();
  const int quads = g.Cout >> 2;
  const int e = int(blockIdx.x) * int(blockDim.x) + int(threadIdx.x);
  if (e >= g.N * g.H * g.W * quads) return;
  const int q = e % quads, p = e / quads;
  const int w = p % g.W, h = (p / g.W) % g.H;
  float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
  for (int tap = 0; tap < 9; ++tap) {
    const int dh = tap / 3 - 1, dw = tap % 3 - 1;
    const bool ok = h + dh >= 0 && h + dh < g.H && w + dw >= 0 && w + dw < g.W;
    const float* xp = g.x + (p + dh * g.W + dw) * g.Cin;
    const float* bp = bsm + tap * g.Cin * g.Cout + q * 4;
    for (int ci = 0; ci < g.Cin; ++ci) {
      const float xv = ok ? __ldg(xp + ci) : 0.0f;
      const float4 b = *reinterpret_cast<const float4*>(bp + ci * g.Cout);
      a0 = fmaf(xv, b.x, a0);
      a1 = fmaf(xv, b.y, a1);
      a2 = fmaf(xv, b.z, a2);
      a3 = fmaf(xv, b.w, a3);
    }
  }
  const int co = q * 4, off = p * g.Cout + co;
  float4 v = make_float4(conv_epilogue(g, a0, co + 0), conv_epilogue(g, a1, co + 1),
                         conv_epilogue(g, a2, co + 2), conv_epilogue(g, a3, co + 3));
  if (g.mask != nullptr) {
    const float4 m = __ldg(reinterpret_cast<const float4*>(g.mask + off));
    if (!(m.x > 0.0f)) v.x = 0.0f;
    if (!(m.y > 0.0f)) v.y = 0.0f;
    if (!(m.z > 0.0f)) v.z = 0.0f;
    if (!(m.w > 0.0f)) v.w = 0.0f;
  }
  *reinterpret_cast<float4*>(g.y + off) = v;
}

// Cout == 1 (the last layer), Cin % 4 == 0, Cin <= 1024: 16 lanes per pixel, each a float4 of
// channels (lane*4 + 64 m), taps outer; the 16 partial sums are combined by a fixed butterfly.
constexpr int kCout1Threads = 256;
__global__ void __launch_bounds__(kCout1Threads) conv_gemm_cout1_kernel(ConvGemm g) {
  extern __shared__ float bsm[];  // [9][Cin]
  for (int i = threadIdx.x; i < 9 * g.Cin; i += blockDim.x) bsm[i] = g.B[i];
  __syncthreads();
  const int P = g.N * g.H * g.W;
  const int lane = threadIdx.x & 15;
  const int p = blockIdx.x * (kCout1Threads / 16) + int(threadIdx.x >> 4);
  float acc = 0.0f;
  if (p < P) {
    const int w = p % g.W, h = (p / g.W) % g.H;
    for (int tap = 0; tap < 9; ++tap) {
      const int dh = tap / 3 - 1, dw = tap % 3 - 1;
      const bool ok = h + dh >= 0 && h + dh < g.H && w + dw >= 0 && w + dw < g.W;
      const float* xp = g.x + (p + dh * g.W + dw) * g.Cin;
      for (int c = lane * 4; c < g.Cin; c += 64) {
        const float4 xv = ok ? __ldg(reinterpret_cast<const float4*>(xp + c))
                             : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        const float* bw = bsm + tap * g.Cin + c;
        acc = fmaf(xv.x, bw[0], acc);
        acc = fmaf(xv.y, bw[1], acc);
        acc = fmaf(xv.z, bw[2], acc);
        acc = fmaf(xv.w, bw[3], acc);
      }
    }
  }
#pragma unroll
  for (int off = 8; off >= 1; off >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, off, 16);
  if (p < P && lane == 0) {
    float v = conv_epilogue(g, acc, 0);
    if (g.mask != nullptr && !(__ldg(g.mask + p) > 0.0f)) v = 0.0f;
    g.y[p] = v;
  }
}

// The tiled implicit GEMM (Cin % 4 == 0, Cout % 4 == 0). A CTA of TM threads (TM = 64, 128 or
// 256) computes a tile of TM consecutive pixels (flattened over the batch, so odd H and W waste nothing) x 64 output
// channels; each thread an 8 x 8 register block (pixels tm*4 + {0..3}, TM/2 + tm*4 + {0..3};
// channels tn*4 + {0..3}, 32 + tn*4 + {0..3}). The reduction over 9 * Cin runs in stages of one
// tap x 16 input channels: the stage's A tile (128 pixels x 16 channels, gathered with float4
// loads, zeros outside the image) and B tile (16 x 64) go through registers into a
// double-buffered shared memory while the previous stage is computed, one barrier per stage.
// Within a stage the 16 channels are summed in the permuted order kk = (c % 4) * 4 + c / 4,
// which lets each thread store 4 pixels of one channel as one float4 without bank conflicts.
constexpr int kTileN = 64, kTileK = 16;

template <int TM>
__global__ void __launch_bounds__(TM) conv_gemm_tiled_kernel(ConvGemm g) {
  // TM + 8 floats per row (8 mod 32 banks): conflict-free transposing float4 stores.
  __shared__ __align__(16) float As[2][kTileK][TM + 8];
  __shared__ __align__(16) float Bs[2][kTileK][kTileN];
  constexpr int kBRows = TM / 16;                 // B rows loaded per pass
  constexpr int kBLoads = kTileK / kBRows > 0 ? kTileK / kBRows : 1;

  const int tid = int(threadIdx.x);
  const int P = g.N * g.H * g.W;
  const int p0 = int(blockIdx.x) * TM;
  const int co0 = int(blockIdx.y) * kTileN;
  const int Cin = g.Cin, Cout = g.Cout, W = g.W;

  // A loads: pixels p0 + 4 ga + i (i = 0..3), channel quad cq of the stage's 16 channels.
  const int ga = tid >> 2, cq = tid & 3;
  int aoff[4];       // pixel * Cin
  unsigned amask[4];  // bit tap: the shifted pixel lies in the image
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int p = p0 + 4 * ga + i;
    aoff[i] = p * Cin;
    amask[i] = 0;
    if (p < P) {
      const int w = p % W, h = (p / W) % g.H;
#pragma unroll
      for (int tap = 0; tap < 9; ++tap) {
        const int hh = h + tap / 3 - 1, ww = w + tap % 3 - 1;
        if (hh >= 0 && hh < g.H && ww >= 0 && ww < W) amask[i] |= 1u << tap;
      }
    }
  }
  // B loads: rows (input channels) brow + kBRows r of the stage, output-channel quad bq.
  const int brow = tid >> 4, bq = tid & 15;
  const bool bq_ok = co0 + bq * 4 < Cout && brow < kTileK;

  const int nchunk = (Cin + kTileK - 1) / kTileK;
  const int nstage = 9 * nchunk;

  float4 ra[4], rb[kBLoads];
  auto load_stage = [&](int st) {
    const int tap = st / nchunk;
    const int c0 = (st - tap * nchunk) * kTileK;
    const int shift = ((tap / 3 - 1) * W + (tap % 3 - 1)) * Cin + c0 + cq * 4;
    const bool cok = c0 + cq * 4 < Cin;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      ra[i] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (cok && ((amask[i] >> tap) & 1u))
        ra[i] = __ldg(reinterpret_cast<const float4*>(g.x + aoff[i] + shift));
    }
    const float* bsrc = g.B + (tap * Cin + c0) * Cout + co0 + bq * 4;
#pragma unroll
    for (int r = 0; r < kBLoads; ++r) {
      const int row = brow + kBRows * r;
      rb[r] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (bq_ok && c0 + row < Cin) rb[r] = __ldg(reinterpret_cast<const float4*>(bsrc + row * Cout));
    }
  };
  auto store_stage = [&](int buf) {
    // Channel cq*4 + j of pixels 4 ga .. 4 ga + 3 -> row j*4 + cq.
    *reinterpret_cast<float4*>(&As[buf][0 * 4 + cq][4 * ga]) =
        make_float4(ra[0].x, ra[1].x, ra[2].x, ra[3].x);
    *reinterpret_cast<float4*>(&As[buf][1 * 4 + cq][4 * ga]) =
        make_float4(ra[0].y, ra[1].y, ra[2].y, ra[3].y);
    *reinterpret_cast<float4*>(&As[buf][2 * 4 + cq][4 * ga]) =
        make_float4(ra[0].z, ra[1].z, ra[2].z, ra[3].z);
    *reinterpret_cast<float4*>(&As[buf][3 * 4 + cq][4 * ga]) =
        make_float4(ra[0].w, ra[1].w, ra[2].w, ra[3].w);
    if (brow < kTileK) {
#pragma unroll
      for (int r = 0; r < kBLoads; ++r) {
        const int row = brow + kBRows * r;  // channel c0 + row -> row (row % 4) * 4 + row / 4
        *reinterpret_cast<float4*>(&Bs[buf][(row & 3) * 4 + (row >> 2)][bq * 4]) = rb[r];
      }
    }
  };

  const int tm = tid >> 3, tn = tid & 7;
  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  load_stage(0);
  store_stage(0);
  __syncthreads();
  staged_fma_loop<kTileK, TM / 2, 32>(As, Bs, nstage, tm, tn, load_stage, store_stage, acc);

  // Epilogue: bias, ReLU, mask; float4 stores of 4 output channels.
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int p = p0 + (i < 4 ? tm * 4 + i : TM / 2 + tm * 4 + (i - 4));
    if (p >= P) continue;
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int co = co0 + half * 32 + tn * 4;
      if (co >= Cout) continue;
      float4 v = make_float4(conv_epilogue(g, acc[i][half * 4 + 0], co + 0),
                             conv_epilogue(g, acc[i][half * 4 + 1], co + 1),
                             conv_epilogue(g, acc[i][half * 4 + 2], co + 2),
                             conv_epilogue(g, acc[i][half * 4 + 3], co + 3));
      const int off = p * Cout + co;
      if (g.mask != nullptr) {
        const float4 m = __ldg(reinterpret_cast<const float4*>(g.mask + off));
        if (!(m.x > 0.0f)) v.x = 0.0f;
        if (!(m.y > 0.0f)) v.y = 0.0f;
        if (!(m.z > 0.0f)) v.z = 0.0f;
        if (!(m.w > 0.0f)) v.w = 0.0f;
      }
      *reinterpret_cast<float4*>(g.y + off) = v;
    }
  }
}

// Images per launch so that every tensor of the group holds fewer than 2^31 elements.
inline int64_t conv_images_per_launch(int64_t H, int64_t W, int64_t C, int64_t K) {
  const int64_t per_image = H * W * std::max(C, K);
  VDSR_CHECK(per_image < (int64_t(1) << 31),
             "one " << H << "x" << W << " image with " << std::max(C, K)
                    << " channels has too many elements for the CUDA convolution (2^31)");
  return std::max<int64_t>(1, ((int64_t(1) << 31) - 1) / per_image);
}

inline void conv_weight_to_gemm(const float* wt, int64_t K, int64_t C, bool flip, float* B,
                                cudaStream_t stream) {
  const int total = int(9 * K * C);
  const int blocks = std::min((total + 255) / 256, 4096);
  conv_weight_to_gemm_kernel<<<blocks, 256, 0, stream>>>(wt, int(K), int(C), flip, B);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

// The weights as B[tap][c][k] (forward) or flipped and transposed (backward-data, flip = true), in
// the current device's workspace; valid until the next workspace user on that device.
inline const float* conv_gemm_weights(const float* wt, int64_t K, int64_t C, bool flip,
                                      cudaStream_t stream) {
  int device = 0;
  VDSR_CUDA_CHECK(cudaGetDevice(&device));
  auto* ws = static_cast<float*>(cuda_workspace(device, size_t(9 * C * K) * sizeof(float)));
  conv_weight_to_gemm(wt, K, C, flip, ws, stream);
  return ws;
}

// Which kernel variant 1 uses for a (Cin, Cout) pair.
enum class ConvPath { kTiled, kCout1, kSmallCin, kDirect };
inline ConvPath conv_path(int64_t Cin, int64_t Cout) {
  if (Cout == 1 && Cin % 4 == 0 && Cin <= 1024) return ConvPath::kCout1;
  if (Cin % 4 == 0 && Cout % 4 == 0 && Cin >= 8) return ConvPath::kTiled;
  if (Cin < 8 && Cout % 4 == 0 && 9 * Cin * Cout <= kSmallMaxB) return ConvPath::kSmallCin;
  return ConvPath::kDirect;
}

template <int TM>
void conv_gemm_tiled_launch(const ConvGemm& g, int64_t P, cudaStream_t stream) {
  const dim3 grid(unsigned((P + TM - 1) / TM), unsigned((g.Cout + kTileN - 1) / kTileN));
  conv_gemm_tiled_kernel<TM><<<grid, TM, 0, stream>>>(g);
}

// The variants of forward and backward-data, which share these kernels: 0 the direct kernel (one
// thread per output over B, the simplest correct one),
// 1..3 the implicit GEMM with output tiles of kConvTileOfVariant rows (the registry,
// kernels/conv_variants.cu, names them and lists them fastest first).
constexpr int kConvVariants = 4;
constexpr int kConvTileOfVariant[kConvVariants] = {0, 128, 64, 256};

// Runs the applicable kernel on g (B already in GEMM layout); tile_m (64, 128 or 256) picks the
// pixel tile of the tiled kernel, 0 the direct kernel for every shape (variant 0).
inline void conv_gemm_launch(const ConvGemm& g, int tile_m, cudaStream_t stream) {
  const int64_t P = int64_t(g.N) * g.H * g.W;
  switch (tile_m == 0 ? ConvPath::kDirect : conv_path(g.Cin, g.Cout)) {
    case ConvPath::kTiled: {
      if (tile_m == 64)
        conv_gemm_tiled_launch<64>(g, P, stream);
      else if (tile_m == 256)
        conv_gemm_tiled_launch<256>(g, P, stream);
      else
        conv_gemm_tiled_launch<128>(g, P, stream);
      break;
    }
    case ConvPath::kCout1: {
      const int64_t per_block = kCout1Threads / 16;
      conv_gemm_cout1_kernel<<<unsigned((P + per_block - 1) / per_block), kCout1Threads,
                               size_t(9 * g.Cin) * sizeof(float), stream>>>(g);
      break;
    }
    case ConvPath::kSmallCin: {
      const int64_t total = P * (g.Cout / 4);
      conv_gemm_smallcin_kernel<<<unsigned((total + kSmallThreads - 1) / kSmallThreads),
                                  kSmallThreads, 0, stream>>>(g);
      break;
    }
    case ConvPath::kDirect: {
      const int64_t total = P * g.Cout;
      conv_gemm_direct_kernel<<<unsigned(std::min<int64_t>((total + 255) / 256, 1 << 20)), 256, 0,
                                stream>>>(g);
      break;
    }
  }
  VDSR_CUDA_CHECK(cudaGetLastError());
}

// The forward (flip = false: in = x [N][H][W][C], out = y [..][K], bias and ReLU) or the
// backward-data (flip = true: in = dy [..][K], out = dx [..][C], the ReLU mask of `mask`) through
// the GEMM weights, in groups of images whose tensors hold fewer than 2^31 elements.
inline void conv_gemm_run(const ConvShape& s, const float* in, const float* wt, bool flip, const float* bias,
                          const float* mask, bool relu, float* out, cudaStream_t stream, int variant,
                          const char* who) {
  VDSR_CHECK(variant >= 0 && variant < kConvVariants, who << " has no variant " << variant);
  VDSR_CHECK(9 * s.C * s.K < (int64_t(1) << 31), who << ": too many weights");
  const int64_t group = conv_images_per_launch(s.H, s.W, s.C, s.K);
  const int64_t cin = flip ? s.K : s.C, cout = flip ? s.C : s.K;
  const float* B = conv_gemm_weights(wt, s.K, s.C, flip, stream);
  for (int64_t n0 = 0; n0 < s.N; n0 += group) {
    const int n = int(std::min(group, s.N - n0));
    const int64_t at = n0 * s.H * s.W;
    const float* m = mask != nullptr ? mask + at * cout : nullptr;
    const ConvGemm g{n, int(s.H), int(s.W), int(cin), int(cout), in + at * cin, B, bias, m, relu, out + at * cout};
    conv_gemm_launch(g, kConvTileOfVariant[variant], stream);
  }
}

}  // namespace
}  // namespace vdsr
