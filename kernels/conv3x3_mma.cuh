// Device code shared by the bf16 tensor-core 3x3 convolutions (conv3x3_fwd_bf16.cu,
// conv3x3_bwd_data_bf16.cu, conv3x3_bwd_weight_bf16.cu): C = K = 64, NHWC bf16 activations, fp32
// accumulation in mma.sync.m16n8k16 (sm_80 and later; Hopper runs it too).
//
// Output tiles: an image is cut into tiles of TH x TW output pixels (at most 128 "slots"); the
// CTA stages the tile's haloed input, (TH + 2) x (TW + 2) pixels x 64 channels, in shared memory
// once, zeros outside the image, and the 9 taps are shifted views of it: the A operand of tap
// (r, s) for slot (sy, sx) is the staged pixel (sy + r, sx + s). ldmatrix takes one row address
// per lane, so the 16 rows of an A fragment may be any 16 slots (a tile of full rows of a narrow
// image wraps from one row to the next inside a fragment) and no im2col copy is ever made.
//   Narrow images (W <= 64, the 41 x 41 training patches): TW = W, TH = 128 / W full rows.
//   Wide images: 32 x 4 tiles (1920 x 1080 divides into 60 x 270 of them).
// Each pixel is 64 bf16 = 128 B, stored with a stride of 72 bf16 (144 B = 36 banks of 4 B):
// the 8 rows an ldmatrix reads per matrix are then 8 distinct 4-bank groups, conflict-free.
//
// Every output's sum runs over the same (tap, channel) sequence wherever its pixel sits, and an mma
// does the same arithmetic for each of its rows, so tiled results equal whole-image results (a
// property the GPU tests check rather than assume).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/error.h"
#include "kernels/conv_shape.h"
#include "kernels/kernel_launch.cuh"
#include "kernels/smem_ops.cuh"

namespace vdsr {
namespace mma {
namespace {  // each including .cu gets its own copy of the kernels

using bf16 = __nv_bfloat16;

constexpr int kC = 64;           // channels in and out: the kernels are specialised to 64 -> 64
constexpr int kStride = kC + 8;  // bf16 per staged pixel (see the header)
constexpr int kSlots = 128;      // output pixels per tile
constexpr int kTaps = 9;
constexpr int kWStride = kTaps * kC + 8;  // bf16 per staged weight row (co), 584: conflict-free too

// The tiling of one image (host and device).
struct Tiles {
  int H, W;       // image
  int TH, TW;     // tile, in output pixels
  int tx, ty;     // tiles across and down
  int per_image;  // tx * ty
  int halo_w;     // TW + 2: staged pixels per staged row
  int staged;     // (TH + 2) * (TW + 2): staged pixels per tile
};

__host__ __device__ inline Tiles make_tiles(int H, int W) {
  Tiles t{};
  t.H = H;
  t.W = W;
  t.TW = W <= 64 ? W : 32;
  t.TH = W <= 64 ? kSlots / W : 4;
  if (t.TH > H) t.TH = H;
  t.tx = (W + t.TW - 1) / t.TW;
  t.ty = (H + t.TH - 1) / t.TH;
  t.per_image = t.tx * t.ty;
  t.halo_w = t.TW + 2;
  t.staged = (t.TH + 2) * t.halo_w;
  return t;
}

// Where tile `tile` (numbered over the batch, image-major) starts.
struct TileOrigin {
  int n, y0, x0;
};
__device__ __forceinline__ TileOrigin tile_origin(const Tiles& t, int tile) {
  const int n = tile / t.per_image;
  const int r = tile - n * t.per_image;
  return {n, (r / t.tx) * t.TH, (r % t.tx) * t.TW};
}

using dev::cp_async16;
using dev::cp_async_wait_all;
using dev::ldmatrix_x4;
using dev::ldmatrix_x4_trans;
using dev::smem_addr;

// Stages the haloed input of a tile: staged pixel (i, j) = image pixel (y0 - 1 + i, x0 - 1 + j),
// zeros outside the image. x: [N][H][W][64].
__device__ __forceinline__ void stage_input(const Tiles& t, const TileOrigin& o,
                                            const bf16* __restrict__ x, bf16* s_in) {
  const int chunks = t.staged * (kC / 8);  // 16-byte pieces
  for (int e = threadIdx.x; e < chunks; e += blockDim.x) {
    const int px = e >> 3, part = e & 7;
    const int i = px / t.halo_w, j = px - i * t.halo_w;
    const int y = o.y0 - 1 + i, xx = o.x0 - 1 + j;
    const bool in = y >= 0 && y < t.H && xx >= 0 && xx < t.W;
    const bf16* src = in ? x + ((int64_t(o.n) * t.H + y) * t.W + xx) * kC + part * 8 : x;
    cp_async16(s_in + px * kStride + part * 8, src, in ? 16 : 0);
  }
}

// Output slot -> staged pixel of its tap (0, 0) (the top-left of its 3x3 window); slots past the
// tile map to slot 0 (their results are never stored).
__device__ __forceinline__ int slot_window(const Tiles& t, int slot) {
  if (slot >= t.TH * t.TW) slot = 0;
  const int sy = slot / t.TW;
  return sy * t.halo_w + (slot - sy * t.TW);
}

// The image pixel of a slot, or -1 when the slot is past the tile or the image.
__device__ __forceinline__ int64_t slot_pixel(const Tiles& t, const TileOrigin& o, int slot) {
  if (slot >= t.TH * t.TW) return -1;
  const int sy = slot / t.TW, sx = slot - sy * t.TW;
  const int y = o.y0 + sy, x = o.x0 + sx;
  if (y >= t.H || x >= t.W) return -1;
  return (int64_t(o.n) * t.H + y) * t.W + x;
}

// d += a * b: A 16x16 (row), B 16x8 (col), bf16 in, fp32 accumulate.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();  // the launchers refuse devices below compute capability 8.0
#endif
}

// ---- forward and backward-data: one implicit GEMM -------------------------------------------
// y[p][co] = epilogue( sum_{tap, ci} x[p shifted by tap][ci] * wg[co][tap][ci] ): M = the tile's
// 128 slots (4 warps x 32), N = 64 output channels, K = 9 taps x 64 channels in 36 steps of 16.
// The forward takes wg[k][tap][c] = wt[k][c][tap] and bias + ReLU; the backward-data takes
// wg[c][tap][k] = wt[k][c][8 - tap] (flipped taps, C and K swapped) and the ReLU mask of the layer
// below. Persistent CTAs: the 72 KB of weights are staged once per CTA, then tiles stream through.
struct Conv {
  Tiles t;
  int tiles;          // N * t.per_image
  const bf16* x;      // [N][H][W][64]
  const bf16* wg;     // [64 co][9][64 ci]
  const float* bias;  // [64] or nullptr
  const bf16* mask;   // [N][H][W][64] or nullptr: y = mask > 0 ? y : 0
  bool relu;          // y = y < 0 ? 0 : y (NaN passes)
  bf16* y;            // [N][H][W][64]
};

constexpr int kConvThreads = 128;
constexpr size_t kWeightBytes = size_t(kC) * kWStride * sizeof(bf16);

inline size_t conv_smem_bytes(const Tiles& t) {
  return kWeightBytes + size_t(t.staged) * kStride * sizeof(bf16);
}

__global__ void __launch_bounds__(kConvThreads, 2) conv_kernel(const Conv g) {
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* s_w = reinterpret_cast<bf16*>(smem);  // [64][kWStride]
  bf16* s_in = s_w + kC * kWStride;           // [staged][kStride]
  constexpr int kRowChunks = kTaps * kC / 8;  // 16-byte pieces per weight row
  for (int e = threadIdx.x; e < kC * kRowChunks; e += blockDim.x) {
    const int co = e / kRowChunks, part = e - co * kRowChunks;
    cp_async16(s_w + co * kWStride + part * 8, g.wg + co * (kTaps * kC) + part * 8, 16);
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int q = lane >> 3, r8 = lane & 7;   // ldmatrix: which 8x8 matrix this lane addresses, row
  const int g8 = lane >> 2, t4 = lane & 3;  // mma fragments: row group, column pair
  // B: ldmatrix.x4 over output channels 16 p .. 16 p + 15 gives b0, b1 of n8 tiles 2p and 2p + 1.
  const uint32_t w_lane = smem_addr(s_w) + (((q >> 1) * 8 + r8) * kWStride + (q & 1) * 8) * 2;
  for (int tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    const TileOrigin o = tile_origin(g.t, tile);
    __syncthreads();  // the previous tile's reads of s_in are done
    stage_input(g.t, o, g.x, s_in);
    cp_async_wait_all();  // also the weights, on the first tile
    __syncthreads();
    // A: ldmatrix.x4 rows = 16 slots, matrices (rows 0-7 | 8-15) x (channels 0-7 | 8-15).
    uint32_t a_lane[2];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      const int slot = warp * 32 + mt * 16 + (q & 1) * 8 + r8;
      a_lane[mt] = smem_addr(s_in) + (slot_window(g.t, slot) * kStride + (q >> 1) * 8) * 2;
    }
    float acc[2][8][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0.0f;
#pragma unroll 1
    for (int tap = 0; tap < kTaps; ++tap) {
      const uint32_t a_tap = uint32_t(((tap / 3) * g.t.halo_w + tap % 3) * kStride * 2);
#pragma unroll
      for (int kc = 0; kc < kC / 16; ++kc) {
        uint32_t a[2][4];
        ldmatrix_x4(a[0], a_lane[0] + a_tap + kc * 32);
        ldmatrix_x4(a[1], a_lane[1] + a_tap + kc * 32);
#pragma unroll
        for (int p = 0; p < 4; ++p) {
          uint32_t b[4];
          ldmatrix_x4(b, w_lane + (p * 16 * kWStride + tap * kC + kc * 16) * 2);
#pragma unroll
          for (int mt = 0; mt < 2; ++mt) {
            mma_bf16(acc[mt][2 * p], a[mt], b[0], b[1]);
            mma_bf16(acc[mt][2 * p + 1], a[mt], b[2], b[3]);
          }
        }
      }
    }
    // Epilogue: rows g8 and g8 + 8 of each m16 tile; two adjacent channels per register pair.
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t P = slot_pixel(g.t, o, warp * 32 + mt * 16 + half * 8 + g8);
        if (P < 0) continue;
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
          const int co = nt * 8 + t4 * 2;
          float v0 = acc[mt][nt][half * 2], v1 = acc[mt][nt][half * 2 + 1];
          if (g.bias != nullptr) {
            v0 += __ldg(g.bias + co);
            v1 += __ldg(g.bias + co + 1);
          }
          if (g.relu) {
            v0 = v0 < 0.0f ? 0.0f : v0;
            v1 = v1 < 0.0f ? 0.0f : v1;
          }
          if (g.mask != nullptr) {
            const float2 m =
                __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(g.mask + P * kC + co));
            v0 = m.x > 0.0f ? v0 : 0.0f;
            v1 = m.y > 0.0f ? v1 : 0.0f;
          }
          *reinterpret_cast<__nv_bfloat162*>(g.y + P * kC + co) = __floats2bfloat162_rn(v0, v1);
        }
      }
  }
}

// ---- backward-weight: a split reduction over the pixels --------------------------------------
// dw[co][ci][r][s] = sum_p dy[p][co] * x[p shifted by (r, s)][ci]: per CTA M = 64 output
// channels, N = the 192 (s, ci) of one tap row r (blockIdx.y), K = the pixels of a run of tiles
// (blockIdx.x, a "chunk"), 16 per step. Both operands come from shared memory through
// ldmatrix.trans (dy and x are pixel-major there). Each chunk's sums go to the workspace and a
// second kernel adds the chunks in a fixed order: deterministic, no atomics.
struct WGrad {
  Tiles t;
  int tiles, tiles_per_chunk;
  const bf16* x;   // [N][H][W][64]: the layer's input
  const bf16* dy;  // [N][H][W][64]: the gradient at its output (after the ReLU mask)
  float* part;     // [chunks][3 r][64 co][192 (s, ci)]
  float* part_b;   // [chunks][64]: sums of dy (from the r = 0 CTAs)
};

constexpr int kWgThreads = 128;
constexpr int kWgN = 3 * kC;  // (s, ci) columns per tap row

inline size_t wgrad_smem_bytes(const Tiles& t) {
  return (size_t(t.staged) + kSlots) * kStride * sizeof(bf16);
}

__global__ void __launch_bounds__(kWgThreads) wgrad_kernel(const WGrad g) {
  extern __shared__ __align__(16) unsigned char smem[];
  bf16* s_dy = reinterpret_cast<bf16*>(smem);  // [128 slots][kStride]
  bf16* s_in = s_dy + kSlots * kStride;        // [staged][kStride]
  const int r = blockIdx.y, chunk = blockIdx.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int q = lane >> 3, r8 = lane & 7;
  const int g8 = lane >> 2, t4 = lane & 3;
  // This warp's columns: n8 tiles 6 warp .. 6 warp + 5 of the 24 (8 per s).
  float acc[4][6][4];
#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int j = 0; j < 6; ++j)
#pragma unroll
      for (int i = 0; i < 4; ++i) acc[mt][j][i] = 0.0f;
  float bsum = 0.0f;
  const int t_begin = chunk * g.tiles_per_chunk;
  const int t_end = min(g.tiles, t_begin + g.tiles_per_chunk);
  for (int tile = t_begin; tile < t_end; ++tile) {
    const TileOrigin o = tile_origin(g.t, tile);
    __syncthreads();
    stage_input(g.t, o, g.x, s_in);
    for (int e = threadIdx.x; e < kSlots * 8; e += blockDim.x) {
      const int slot = e >> 3, part = e & 7;
      const int64_t P = slot_pixel(g.t, o, slot);
      cp_async16(s_dy + slot * kStride + part * 8, P >= 0 ? g.dy + P * kC + part * 8 : g.dy,
                 P >= 0 ? 16 : 0);  // zeros: slots past the tile or image add nothing
    }
    cp_async_wait_all();
    __syncthreads();
    if (r == 0 && threadIdx.x < kC) {
      for (int slot = 0; slot < kSlots; ++slot)
        bsum += __bfloat162float(s_dy[slot * kStride + threadIdx.x]);
    }
#pragma unroll 1
    for (int ks = 0; ks < kSlots / 16; ++ks) {
      // A = dy^T: matrices (co 0-7 | 8-15) x (pixels 0-7 | 8-15), read transposed.
      uint32_t a[4][4];
      const int a_slot = ks * 16 + (q >> 1) * 8 + r8;
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
        ldmatrix_x4_trans(a[mt], smem_addr(s_dy + a_slot * kStride + mt * 16 + (q & 1) * 8));
      // B = shifted x: matrices (pixels 0-7 | 8-15) x (n8 tile j | j + 1), read transposed.
      const int b_slot = ks * 16 + (q & 1) * 8 + r8;
      const int b_pixel = slot_window(g.t, b_slot) + r * g.t.halo_w;
#pragma unroll
      for (int jp = 0; jp < 3; ++jp) {
        const int nt = warp * 6 + jp * 2 + (q >> 1);  // 0..23
        const int s = nt >> 3, ci0 = (nt & 7) * 8;
        uint32_t b[4];
        ldmatrix_x4_trans(b, smem_addr(s_in + (b_pixel + s) * kStride + ci0));
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
          mma_bf16(acc[mt][jp * 2], a[mt], b[0], b[1]);
          mma_bf16(acc[mt][jp * 2 + 1], a[mt], b[2], b[3]);
        }
      }
    }
  }
  float* part = g.part + (int64_t(chunk) * 3 + r) * kC * kWgN;
#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int co = mt * 16 + half * 8 + g8;
#pragma unroll
      for (int j = 0; j < 6; ++j) {
        const int n = (warp * 6 + j) * 8 + t4 * 2;
        *reinterpret_cast<float2*>(part + co * kWgN + n) =
            make_float2(acc[mt][j][half * 2], acc[mt][j][half * 2 + 1]);
      }
    }
  if (r == 0 && threadIdx.x < kC) g.part_b[int64_t(chunk) * kC + threadIdx.x] = bsum;
}

// ---- host side ---------------------------------------------------------------------------------
inline void check_mma_shape(const ConvShape& s, const char* who) {
  VDSR_CHECK(s.C == kC && s.K == kC,
             who << ": the bf16 kernels take 64 -> 64 channels, not " << s.C << " -> " << s.K);
  VDSR_CHECK(s.N > 0 && s.H > 0 && s.W > 0,
             who << ": bad shape N=" << s.N << " H=" << s.H << " W=" << s.W);
  VDSR_CHECK(s.out_elems() < (int64_t(1) << 40) &&
                 s.N * make_tiles(int(s.H), int(s.W)).per_image < (int64_t(1) << 31),
             who << ": too many tiles");
  VDSR_CHECK(s.H < (1 << 30) && s.W < (1 << 30), who << ": image too large");
}

// The argument checks of the forward / backward-data, whichever variant runs
// (conv3x3_bf16_variants.cu).
inline void check_conv_args(const ConvShape& s, const bf16* x, const bf16* wg, const bf16* y,
                            const char* who) {
  check_mma_shape(s, who);
  VDSR_CHECK(x != nullptr && wg != nullptr && y != nullptr, who << ": null pointer");
  VDSR_CHECK(x != y, who << " cannot run in place");
}

// Forward (bias, relu) and backward-data (mask) share this launch (arguments checked by the
// caller with check_conv_args).
inline void launch_conv(const ConvShape& s, const bf16* x, const bf16* wg, const float* bias,
                        const bf16* mask, bool relu, bf16* y, cudaStream_t stream,
                        const char* who) {
  Conv g{};
  g.t = make_tiles(int(s.H), int(s.W));
  g.tiles = int(s.N * g.t.per_image);
  g.x = x;
  g.wg = wg;
  g.bias = bias;
  g.mask = mask;
  g.relu = relu;
  g.y = y;
  const size_t smem = conv_smem_bytes(g.t);
  const int grid =
      persistent_grid(reinterpret_cast<const void*>(conv_kernel), kConvThreads, smem, g.tiles, who);
  conv_kernel<<<grid, kConvThreads, smem, stream>>>(g);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

// dw (OIHW fp32) and db from the chunks' partial sums, chunk by chunk in order.
__global__ void wgrad_finish_kernel(int chunks, const float* __restrict__ part,
                                    const float* __restrict__ part_b, float* __restrict__ dw,
                                    float* __restrict__ db) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  constexpr int kW = kC * kC * kTaps;
  if (e < kW) {
    const int tap = e % kTaps, ci = (e / kTaps) % kC, co = e / (kTaps * kC);
    const int r = tap / 3, s = tap % 3;
    const float* p = part + (int64_t(r) * kC + co) * kWgN + s * kC + ci;
    float sum = 0.0f;
    for (int c = 0; c < chunks; ++c) sum += p[int64_t(c) * 3 * kC * kWgN];
    dw[e] = sum;
  } else if (db != nullptr && e < kW + kC) {
    float sum = 0.0f;
    for (int c = 0; c < chunks; ++c) sum += part_b[int64_t(c) * kC + (e - kW)];
    db[e - kW] = sum;
  }
}

}  // namespace
}  // namespace mma
}  // namespace vdsr
