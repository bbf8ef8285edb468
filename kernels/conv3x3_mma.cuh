// Device code shared by the warp-level tensor-core 3x3 convolutions, C = K = 64, NHWC, fp32
// accumulation, sm_80 and later (Hopper runs it too): the bf16 kernels (conv3x3_*_bf16.cu, bf16
// activations, mma.sync.m16n8k16) and the tf32 ones (conv3x3_*_tf32.cu, fp32 activations rounded
// to tf32 as they enter the tensor cores, mma.sync.m16n8k8). Every k-step of either mma takes
// 32 bytes of channels (16 bf16 or 8 fp32 words) in the same four A and two B registers per lane,
// and ldmatrix's 8 rows x 16 bytes matrices are those fragments in both: the kernels are one
// template over the element (Bf16Math, Tf32Math), the same code in bytes.
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
// the 8 rows an ldmatrix reads per matrix are then 8 distinct 4-bank groups, conflict-free. The
// tf32 kernels store 64 fp32 with a stride of 68 (272 B = 68 banks, again 4 mod 32).
//
// Every output's sum runs over the same (tap, channel) sequence wherever its pixel sits, and an mma
// does the same arithmetic for each of its rows, so tiled results equal whole-image results (a
// property the GPU tests check rather than assume).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/conv_shape.h"
#include "kernels/kernel_launch.cuh"
#include "kernels/pdl.cuh"
#include "kernels/smem_ops.cuh"
#include "kernels/tf32.cuh"
#include "kernels/wgrad_finish.h"

namespace vdsr {
namespace mma {
namespace {  // each including .cu gets its own copy of the kernels

using bf16 = __nv_bfloat16;

constexpr int kC = 64;       // channels in and out: the kernels are specialised to 64 -> 64
constexpr int kSlots = 128;  // output pixels per tile
constexpr int kTaps = 9;

// The tiling of one image (host and device).
struct Tiles {
  int H, W;       // image
  int TH, TW;     // tile, in output pixels
  int tx, ty;     // tiles across and down
  int per_image;  // tx * ty
  int halo_w;     // TW + 2: staged pixels per staged row
  int staged;     // (TH + 2) * (TW + 2): staged pixels per tile
};

// An image cut into tiles of TW x TH output pixels (TH at most H).
__host__ __device__ inline Tiles tiles_of(int H, int W, int TW, int TH) {
  Tiles t{};
  t.H = H;
  t.W = W;
  t.TW = TW;
  t.TH = TH > H ? H : TH;
  t.tx = (W + t.TW - 1) / t.TW;
  t.ty = (H + t.TH - 1) / t.TH;
  t.per_image = t.tx * t.ty;
  t.halo_w = t.TW + 2;
  t.staged = (t.TH + 2) * t.halo_w;
  return t;
}

// The tiles the kernels use: narrow images (W <= 64) in full rows, wide ones in 32 x 4.
__host__ __device__ inline Tiles make_tiles(int H, int W) {
  return W <= 64 ? tiles_of(H, W, W, kSlots / W) : tiles_of(H, W, 32, 4);
}

// Compact tiles, for a device whose shared memory cannot hold make_tiles' staged tile beside a
// CTA's weights (tf32 on the 99 KB of compute 8.6 / 8.9: full rows 58 to 64 pixels wide, or
// one- or two-pixel columns): at most 32 wide and as many rows as keep the staged tile within a
// 32 x 4 tile's 204 pixels. Each output's sum runs over the same taps and channels in the same
// order whatever the tiling, so the forward and backward-data give the same bits with these; the
// weight gradient's chunks (and so its bits) follow the tiles.
constexpr int kCompactStaged = (4 + 2) * (32 + 2);
__host__ __device__ inline Tiles make_compact_tiles(int H, int W) {
  const int TW = W < 32 ? W : 32;
  const int by_slots = kSlots / TW, by_stage = kCompactStaged / (TW + 2) - 2;
  return tiles_of(H, W, TW, by_slots < by_stage ? by_slots : by_stage);
}

// make_tiles' tiles where `smem_of` them fits the current device, else the compact ones (host).
template <class SmemOf>
inline Tiles fitting_tiles(const ConvShape& s, SmemOf smem_of) {
  const Tiles rows = make_tiles(int(s.H), int(s.W));
  return smem_of(rows) <= max_dynamic_smem() ? rows : make_compact_tiles(int(s.H), int(s.W));
}

// Where tile `tile` (numbered over the batch, image-major) starts.
struct TileOrigin {
  int n, y0, x0;
};
__host__ __device__ __forceinline__ TileOrigin tile_origin(const Tiles& t, int tile) {
  const int n = tile / t.per_image;
  const int r = tile - n * t.per_image;
  return {n, (r / t.tx) * t.TH, (r % t.tx) * t.TW};
}

using dev::cp_async16;
using dev::cp_async_wait_all;
using dev::ldmatrix_x4;
using dev::ldmatrix_x4_trans;
using dev::smem_addr;
using dev::to_tf32;

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

// d += a * b: A 16x8 (row), B 8x8 (col), tf32 in, fp32 accumulate. Fragments (g = lane / 4,
// t = lane % 4): a0 (g, t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4); b0 (k t, n g),
// b1 (k t + 4, n g): ldmatrix's matrices of 8 rows x 4 words, in the bf16 kernels' order.
__device__ __forceinline__ void mma_tf32(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
#else
  __trap();
#endif
}

// The two element types. kStride: elements per staged pixel; kWStride: per staged weight row
// (one output channel's 9 x 64); kWgStride: per staged pixel in the weight gradient. The
// paddings make every ldmatrix row set (8 rows x 16 B) hit distinct banks: 144 B = 36 banks and
// 1168 B = 292 banks (bf16), 272 B = 68 and 2320 B = 580 banks (fp32), all 4 mod 32. The tf32
// weight gradient reads single words instead (ldmatrix.trans moves 16-bit halves, which would
// split fp32 words): 288 B = 72 banks, 8 mod 32, puts the 4 pixels x 8 channels of a fragment on
// 32 distinct banks.
struct Bf16Math {
  using T = bf16;
  static constexpr int kStride = kC + 8;
  static constexpr int kWStride = kTaps * kC + 8;
  static constexpr int kWgStride = kStride;
  static constexpr int kK = 16;  // the mma's k: channels (or pixels) per step
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_bf16(d, a, b0, b1);
  }
  __device__ static void round(uint32_t (&)[4]) {}  // bf16 goes in as stored
  __device__ static float2 load2(const T* p) {
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(p));
  }
  __device__ static void store2(T* p, float v0, float v1) {
    *reinterpret_cast<__nv_bfloat162*>(p) = __floats2bfloat162_rn(v0, v1);
  }
};

struct Tf32Math {
  using T = float;
  static constexpr int kStride = kC + 4;
  static constexpr int kWStride = kTaps * kC + 4;
  static constexpr int kWgStride = kC + 8;
  static constexpr int kK = 8;
  __device__ static void mma(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_tf32(d, a, b0, b1);
  }
  // Activations are fp32 in memory: rounded here, once per fragment (the weights were rounded
  // when their GEMM copy was made).
  __device__ static void round(uint32_t (&a)[4]) {
#pragma unroll
    for (int i = 0; i < 4; ++i) a[i] = to_tf32(a[i]);
  }
  __device__ static float2 load2(const T* p) { return *reinterpret_cast<const float2*>(p); }
  __device__ static void store2(T* p, float v0, float v1) {
    *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
  }
};

// 16-byte pieces per pixel (8 or 16: a shift, e >> kPieceShift, splits a piece index into pixel
// and piece), elements per piece.
template <typename T>
constexpr int kPieces = kC* int(sizeof(T)) / 16;
template <typename T>
constexpr int kPieceShift = sizeof(T) == 2 ? 3 : 4;
template <typename T>
constexpr int kPerPiece = 16 / int(sizeof(T));
static_assert(kPieces<bf16> == 1 << kPieceShift<bf16> && kPieces<float> == 1 << kPieceShift<float>,
              "pieces per pixel");

// Stages the haloed input of a tile: staged pixel (i, j) = image pixel (y0 - 1 + i, x0 - 1 + j),
// zeros outside the image, `stride` elements apart. x: [N][H][W][64].
template <int stride, typename T>
__device__ __forceinline__ void stage_input(const Tiles& t, const TileOrigin& o,
                                            const T* __restrict__ x, T* s_in) {
  constexpr int pieces = kPieces<T>, per = kPerPiece<T>;
  const int chunks = t.staged * pieces;
  for (int e = threadIdx.x; e < chunks; e += blockDim.x) {
    const int px = e >> kPieceShift<T>, part = e & (pieces - 1);
    const int i = px / t.halo_w, j = px - i * t.halo_w;
    const int y = o.y0 - 1 + i, xx = o.x0 - 1 + j;
    const bool in = y >= 0 && y < t.H && xx >= 0 && xx < t.W;
    const T* src = in ? x + ((int64_t(o.n) * t.H + y) * t.W + xx) * kC + part * per : x;
    cp_async16(s_in + px * stride + part * per, src, in ? 16 : 0);
  }
}

// Output slot -> staged pixel of its tap (0, 0) (the top-left of its 3x3 window); slots past the
// tile map to slot 0 (their results are never stored).
__host__ __device__ __forceinline__ int slot_window(const Tiles& t, int slot) {
  if (slot >= t.TH * t.TW) slot = 0;
  const int sy = slot / t.TW;
  return sy * t.halo_w + (slot - sy * t.TW);
}

// The image pixel of a slot, or -1 when the slot is past the tile or the image.
__host__ __device__ __forceinline__ int64_t slot_pixel(const Tiles& t, const TileOrigin& o, int slot) {
  if (slot >= t.TH * t.TW) return -1;
  const int sy = slot / t.TW, sx = slot - sy * t.TW;
  const int y = o.y0 + sy, x = o.x0 + sx;
  if (y >= t.H || x >= t.W) return -1;
  return (int64_t(o.n) * t.H + y) * t.W + x;
}

// ---- forward and backward-data: one implicit GEMM -------------------------------------------
// y[p][co] = epilogue( sum_{tap, ci} x[p shifted by tap][ci] * wg[co][tap][ci] ): M = the tile's
// 128 slots (4 warps x 32), N = kCo output channels (64, or a slice of them: blockIdx.y picks
// which), K = 9 taps x 64 channels in steps of 32 bytes. The forward takes
// wg[k][tap][c] = wt[k][c][tap] and bias + ReLU; the backward-data takes
// wg[c][tap][k] = wt[k][c][8 - tap] (flipped taps, C and K swapped) and the ReLU mask of the layer
// below. Persistent CTAs: the CTA's weights (72 KB of bf16 for all 64 channels; fp32 needs twice
// that, hence the slices) are staged once, then tiles stream through.
template <typename T>
struct ConvArgs {
  Tiles t;
  int tiles;          // N * t.per_image
  const T* x;         // [N][H][W][64]
  const T* wg;        // [64 co][9][64 ci]
  const float* bias;  // [64] or nullptr
  const T* mask;      // [N][H][W][64] or nullptr: y = mask > 0 ? y : 0
  bool relu;          // y = y < 0 ? 0 : y (NaN passes)
  T* y;               // [N][H][W][64]
};

constexpr int kConvThreads = 128;

template <class M, int kCo>
size_t conv_smem_bytes(const Tiles& t) {
  return (size_t(kCo) * M::kWStride + size_t(t.staged) * M::kStride) * sizeof(typename M::T);
}

// The forward / backward-data's tiles at shape s on the current device (fitting_tiles).
template <class M, int kCo>
Tiles conv_tiles(const ConvShape& s) {
  return fitting_tiles(s, [](const Tiles& t) { return conv_smem_bytes<M, kCo>(t); });
}

template <class M, int kCo>
__global__ void __launch_bounds__(kConvThreads, 2) conv_kernel(const ConvArgs<typename M::T> g) {
  using T = typename M::T;
  constexpr int kStride = M::kStride, kWStride = M::kWStride, kB = int(sizeof(T));
  static_assert(kCo % 16 == 0 && kC % kCo == 0, "output channels per CTA");
  extern __shared__ __align__(16) unsigned char smem[];
  T* s_w = reinterpret_cast<T*>(smem);  // [kCo][kWStride]
  T* s_in = s_w + kCo * kWStride;       // [staged][kStride]
  // This CTA's output channels: co0 .. co0 + kCo - 1 (all 64 when not sliced).
  const int co0 = kCo == kC ? 0 : int(blockIdx.y) * kCo;
  constexpr int kRowChunks = kTaps * kC / kPerPiece<T>;  // 16-byte pieces per weight row
  for (int e = threadIdx.x; e < kCo * kRowChunks; e += blockDim.x) {
    const int co = e / kRowChunks, part = e - co * kRowChunks;
    cp_async16(s_w + co * kWStride + part * kPerPiece<T>,
               g.wg + (co0 + co) * (kTaps * kC) + part * kPerPiece<T>, 16);
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int q = lane >> 3, r8 = lane & 7;   // ldmatrix: which 8x8 matrix this lane addresses, row
  const int g8 = lane >> 2, t4 = lane & 3;  // mma fragments: row group, column pair
  // B: ldmatrix.x4 over output channels 16 p .. 16 p + 15 gives b0, b1 of n8 tiles 2p and 2p + 1.
  const uint32_t w_lane =
      smem_addr(s_w) + (((q >> 1) * 8 + r8) * kWStride + (q & 1) * kPerPiece<T>)*kB;
  for (int tile = blockIdx.x; tile < g.tiles; tile += gridDim.x) {
    const TileOrigin o = tile_origin(g.t, tile);
    __syncthreads();  // the previous tile's reads of s_in are done
    stage_input<kStride>(g.t, o, g.x, s_in);
    cp_async_wait_all();  // also the weights, on the first tile
    __syncthreads();
    // A: ldmatrix.x4 rows = 16 slots, matrices (rows 0-7 | 8-15) x (bytes 0-15 | 16-31 of a step).
    uint32_t a_lane[2];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt) {
      const int slot = warp * 32 + mt * 16 + (q & 1) * 8 + r8;
      a_lane[mt] =
          smem_addr(s_in) + (slot_window(g.t, slot) * kStride + (q >> 1) * kPerPiece<T>)*kB;
    }
    float acc[2][kCo / 8][4];
#pragma unroll
    for (int mt = 0; mt < 2; ++mt)
#pragma unroll
      for (int nt = 0; nt < kCo / 8; ++nt)
#pragma unroll
        for (int i = 0; i < 4; ++i) acc[mt][nt][i] = 0.0f;
#pragma unroll 1
    for (int tap = 0; tap < kTaps; ++tap) {
      const uint32_t a_tap = uint32_t(((tap / 3) * g.t.halo_w + tap % 3) * kStride * kB);
#pragma unroll
      for (int kc = 0; kc < kC / M::kK; ++kc) {  // 32-byte steps
        uint32_t a[2][4];
        ldmatrix_x4(a[0], a_lane[0] + a_tap + kc * 32);
        ldmatrix_x4(a[1], a_lane[1] + a_tap + kc * 32);
        M::round(a[0]);
        M::round(a[1]);
#pragma unroll
        for (int p = 0; p < kCo / 16; ++p) {
          uint32_t b[4];
          ldmatrix_x4(b, w_lane + (p * 16 * kWStride + tap * kC + kc * M::kK) * kB);
#pragma unroll
          for (int mt = 0; mt < 2; ++mt) {
            M::mma(acc[mt][2 * p], a[mt], b[0], b[1]);
            M::mma(acc[mt][2 * p + 1], a[mt], b[2], b[3]);
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
        for (int nt = 0; nt < kCo / 8; ++nt) {
          const int co = co0 + nt * 8 + t4 * 2;
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
            const float2 m = M::load2(g.mask + P * kC + co);
            v0 = m.x > 0.0f ? v0 : 0.0f;
            v1 = m.y > 0.0f ? v1 : 0.0f;
          }
          M::store2(g.y + P * kC + co, v0, v1);
        }
      }
  }
}

// ---- backward-weight: a split reduction over the pixels --------------------------------------
// dw[co][ci][r][s] = sum_p dy[p][co] * x[p shifted by (r, s)][ci]: per CTA M = 64 output
// channels, N = the 192 (s, ci) of one tap row r (blockIdx.y), K = the pixels of a run of tiles
// (blockIdx.x, a "chunk"), M::kK per step. Both operands sit pixel-major in shared memory and
// enter transposed: through ldmatrix.trans for bf16, one word per register for tf32 (Wgrad*
// below). Each chunk's sums go to the workspace and a second kernel adds the chunks in a fixed
// order: deterministic, no atomics.
template <typename T>
struct WGradArgs {
  Tiles t;
  int tiles, tiles_per_chunk;
  const T* x;     // [N][H][W][64]: the layer's input
  const T* dy;    // [N][H][W][64]: the gradient at its output (after the ReLU mask)
  float* part;    // [chunks][3 r][64 co][192 (s, ci)]
  float* part_b;  // [chunks][64]: sums of dy (from the r = 0 CTAs)
};

constexpr int kWgThreads = 128;
constexpr int kWgN = 3 * kC;  // (s, ci) columns per tap row

template <class M>
size_t wgrad_smem_bytes(const Tiles& t) {
  return (size_t(t.staged) + kSlots) * M::kWgStride * sizeof(typename M::T);
}

// The weight gradient's tiles at shape s on the current device (fitting_tiles).
template <class M>
Tiles wgrad_tiles(const ConvShape& s) {
  return fitting_tiles(s, [](const Tiles& t) { return wgrad_smem_bytes<M>(t); });
}

// The fragments of one k-step of the weight gradient, per element type. a[mt]: dy^T rows
// (output channels) mt * 16 .. + 15 x this step's pixels; b: n8 tiles nt0 and nt0 + 1 of the
// shifted input (b[0], b[1] and b[2], b[3]), read at the staged pixels that pixels() found once
// per step (`win(slot)`: the slot's window shifted down by the CTA's tap row).
struct WgradBf16 {
  // A = dy^T: matrices (co 0-7 | 8-15) x (pixels 0-7 | 8-15), read transposed.
  __device__ static void load_a(uint32_t (&a)[4][4], const bf16* s_dy, int ks, int lane) {
    const int q = lane >> 3, r8 = lane & 7;
    const int a_slot = ks * 16 + (q >> 1) * 8 + r8;
#pragma unroll
    for (int mt = 0; mt < 4; ++mt)
      ldmatrix_x4_trans(a[mt],
                        smem_addr(s_dy + a_slot * Bf16Math::kWgStride + mt * 16 + (q & 1) * 8));
  }
  // B = shifted x: matrices (pixels 0-7 | 8-15) x (n8 tile nt0 | nt0 + 1), read transposed; px.x:
  // the staged pixel of this lane's matrix row.
  template <class Win>
  __device__ static int2 pixels(int ks, int lane, const Win& win) {
    return make_int2(win(ks * 16 + ((lane >> 3) & 1) * 8 + (lane & 7)), 0);
  }
  __device__ static void load_b(uint32_t (&b)[4], const bf16* s_in, int2 px, int nt0, int lane) {
    const int nt = nt0 + (lane >> 4);
    const int s = nt >> 3, ci0 = (nt & 7) * 8;
    ldmatrix_x4_trans(b, smem_addr(s_in + (px.x + s) * Bf16Math::kWgStride + ci0));
  }
};

struct WgradTf32 {
  static constexpr int S = Tf32Math::kWgStride;
  // a0 (co g, pixel t), a1 (g + 8, t), a2 (g, t + 4), a3 (g + 8, t + 4), g = lane / 4, t = lane
  // % 4.
  __device__ static void load_a(uint32_t (&a)[4][4], const float* s_dy, int ks, int lane) {
    const int g8 = lane >> 2, t4 = lane & 3;
    const float* lo = s_dy + (ks * 8 + t4) * S + g8;
    const float* hi = lo + 4 * S;
#pragma unroll
    for (int mt = 0; mt < 4; ++mt) {
      a[mt][0] = __float_as_uint(lo[mt * 16]);
      a[mt][1] = __float_as_uint(lo[mt * 16 + 8]);
      a[mt][2] = __float_as_uint(hi[mt * 16]);
      a[mt][3] = __float_as_uint(hi[mt * 16 + 8]);
      Tf32Math::round(a[mt]);
    }
  }
  // b0 (pixel t, column g), b1 (pixel t + 4, column g) of each n8 tile; px: the staged pixels of
  // this lane's two k rows.
  template <class Win>
  __device__ static int2 pixels(int ks, int lane, const Win& win) {
    return make_int2(win(ks * 8 + (lane & 3)), win(ks * 8 + (lane & 3) + 4));
  }
  __device__ static void load_b(uint32_t (&b)[4], const float* s_in, int2 px, int nt0, int lane) {
    const int g8 = lane >> 2;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int nt = nt0 + h;
      const int s = nt >> 3, ci = (nt & 7) * 8 + g8;
      b[2 * h] = __float_as_uint(s_in[(px.x + s) * S + ci]);
      b[2 * h + 1] = __float_as_uint(s_in[(px.y + s) * S + ci]);
    }
    Tf32Math::round(b);
  }
};

template <class M, class F>
__global__ void __launch_bounds__(kWgThreads) wgrad_kernel(const WGradArgs<typename M::T> g) {
  using T = typename M::T;
  constexpr int kS = M::kWgStride;
  extern __shared__ __align__(16) unsigned char smem[];
  T* s_dy = reinterpret_cast<T*>(smem);  // [128 slots][kS]
  T* s_in = s_dy + kSlots * kS;          // [staged][kS]
  const int r = blockIdx.y, chunk = blockIdx.x;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
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
  const int row_off = r * g.t.halo_w;  // tap row r: one staged row down per r
  const auto win = [&](int slot) { return slot_window(g.t, slot) + row_off; };
  for (int tile = t_begin; tile < t_end; ++tile) {
    const TileOrigin o = tile_origin(g.t, tile);
    __syncthreads();
    stage_input<kS>(g.t, o, g.x, s_in);
    constexpr int pieces = kPieces<T>, per = kPerPiece<T>;
    for (int e = threadIdx.x; e < kSlots * pieces; e += blockDim.x) {
      const int slot = e >> kPieceShift<T>, part = e & (pieces - 1);
      const int64_t P = slot_pixel(g.t, o, slot);
      cp_async16(s_dy + slot * kS + part * per, P >= 0 ? g.dy + P * kC + part * per : g.dy,
                 P >= 0 ? 16 : 0);  // zeros: slots past the tile or image add nothing
    }
    cp_async_wait_all();
    __syncthreads();
    if (r == 0 && threadIdx.x < kC) {
      for (int slot = 0; slot < kSlots; ++slot) bsum += float(s_dy[slot * kS + threadIdx.x]);
    }
#pragma unroll 1
    for (int ks = 0; ks < kSlots / M::kK; ++ks) {
      uint32_t a[4][4];
      F::load_a(a, s_dy, ks, lane);
      const int2 px = F::pixels(ks, lane, win);
#pragma unroll
      for (int jp = 0; jp < 3; ++jp) {
        uint32_t b[4];
        F::load_b(b, s_in, px, warp * 6 + jp * 2, lane);
#pragma unroll
        for (int mt = 0; mt < 4; ++mt) {
          M::mma(acc[mt][jp * 2], a[mt], b[0], b[1]);
          M::mma(acc[mt][jp * 2 + 1], a[mt], b[2], b[3]);
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
  // The kernels compute a zero-padded 3x3 whatever the shape says: refuse any other kernel size.
  VDSR_CHECK(s.is_3x3_zero(), who << ": the tensor-core kernels take 3x3 zero-padded layers only");
  VDSR_CHECK(s.C == kC && s.K == kC, who << ": the tensor-core kernels take 64 -> 64 channels, not "
                                         << s.C << " -> " << s.K);
  VDSR_CHECK(s.N > 0 && s.H > 0 && s.W > 0,
             who << ": bad shape N=" << s.N << " H=" << s.H << " W=" << s.W);
  VDSR_CHECK(s.out_elems() < (int64_t(1) << 40) &&
                 s.N * make_compact_tiles(int(s.H), int(s.W)).per_image < (int64_t(1) << 31),
             who << ": too many tiles");
  VDSR_CHECK(s.H < (1 << 30) && s.W < (1 << 30), who << ": image too large");
}

// The argument checks of the forward / backward-data, whichever variant runs
// (conv3x3_bf16_variants.cu, conv3x3_tf32.cu).
template <typename T>
void check_conv_args(const ConvShape& s, const T* x, const T* wg, const T* y, const char* who) {
  check_mma_shape(s, who);
  VDSR_CHECK(x != nullptr && wg != nullptr && y != nullptr, who << ": null pointer");
  VDSR_CHECK(x != y, who << " cannot run in place");
}

// Forward (bias, relu) and backward-data (mask) share this launch (arguments checked by the
// caller with check_conv_args). The grid: as many CTAs as fit at once, split evenly over the
// kC / kCo output-channel slices (blockIdx.y), each slice's CTAs striding over the tiles.
template <class M, int kCo, typename T>
void launch_conv(const ConvShape& s, const T* x, const T* wg, const float* bias, const T* mask,
                 bool relu, T* y, cudaStream_t stream, const char* who) {
  static_assert(std::is_same<T, typename M::T>::value, "element type");
  ConvArgs<T> g{};
  g.t = conv_tiles<M, kCo>(s);
  g.tiles = int(s.N * g.t.per_image);
  g.x = x;
  g.wg = wg;
  g.bias = bias;
  g.mask = mask;
  g.relu = relu;
  g.y = y;
  constexpr int kSlices = kC / kCo;
  const size_t smem = conv_smem_bytes<M, kCo>(g.t);
  const void* kernel = reinterpret_cast<const void*>(conv_kernel<M, kCo>);
  const int work = int(std::min<int64_t>(int64_t(g.tiles) * kSlices, INT32_MAX));
  const int ctas = persistent_grid(kernel, kConvThreads, smem, work, who);
  const int grid = std::max(1, ctas / kSlices);
  conv_kernel<M, kCo><<<dim3(unsigned(grid), unsigned(kSlices)), kConvThreads, smem, stream>>>(g);
  VDSR_CUDA_CHECK(cudaGetLastError());
}

// dw (OIHW fp32) and db from the chunks' partial sums, each added chunk by chunk in order
// (kernels/wgrad_finish.h: thread f reads element f of every chunk, so a warp's loads are whole
// 128-byte lines, kFinishAhead chunks ahead).
static_assert(kPartWeights == kTaps * kC * kC && kPartWeights == 3 * kC * kWgN && kPartBias == kC,
              "wgrad_finish.h's partial layout is this file's");
__global__ void wgrad_finish_kernel(int chunks, const float* __restrict__ part,
                                    const float* __restrict__ part_b, float* __restrict__ dw,
                                    float* __restrict__ db) {
  dev::pdl_begin();  // launched with programmatic dependent launch (kernel_launch.cuh)
  finish_part(int(blockIdx.x * blockDim.x + threadIdx.x), chunks, part, part_b, dw, db);
}

// Queues the finish of `chunks` partials (part [chunks][3][64][192], part_b [chunks][64]).
// 128-thread blocks: about two per SM, so no SM gets twice the loads of the others.
inline void launch_wgrad_finish(int chunks, const float* part, const float* part_b, float* dw, float* db,
                                cudaStream_t stream) {
  constexpr int kThreads = 128, kTotal = kPartWeights + kPartBias;
  launch_kernel(wgrad_finish_kernel, (kTotal + kThreads - 1) / kThreads, kThreads, 0, stream, chunks, part,
                part_b, dw, db);
}

// The weight gradient on the mma.sync kernels: chunks x 3 tap rows of CTAs write partial sums
// to the device's workspace, then the ordered finish. M / F: Bf16Math / WgradBf16 or
// Tf32Math / WgradTf32. Arguments checked by the caller.
template <class M, class F, typename T>
void run_wgrad(const ConvShape& s, const T* x, const T* dy, float* dw, float* db,
               cudaStream_t stream, int device, const char* who) {
  static_assert(std::is_same<T, typename M::T>::value, "element type");
  WGradArgs<T> g{};
  g.t = wgrad_tiles<M>(s);
  const size_t smem = wgrad_smem_bytes<M>(g.t);
  const void* kernel = reinterpret_cast<const void*>(wgrad_kernel<M, F>);
  const int sms = grant_dynamic_smem(kernel, smem, who);
  g.tiles = int(s.N * g.t.per_image);
  // About one chunk per multiprocessor (3 CTAs each with the 3 tap rows): enough CTAs to fill
  // the GPU, few enough partial sums to add.
  g.tiles_per_chunk = std::max(1, (g.tiles + sms - 1) / sms);
  const int chunks = (g.tiles + g.tiles_per_chunk - 1) / g.tiles_per_chunk;
  const size_t part = size_t(chunks) * 3 * kC * kWgN, part_b = size_t(chunks) * kC;
  float* ws = static_cast<float*>(cuda_workspace(device, (part + part_b) * sizeof(float)));
  g.x = x;
  g.dy = dy;
  g.part = ws;
  g.part_b = ws + part;
  wgrad_kernel<M, F><<<dim3(unsigned(chunks), 3), kWgThreads, smem, stream>>>(g);
  VDSR_CUDA_CHECK(cudaGetLastError());
  launch_wgrad_finish(chunks, g.part, g.part_b, dw, db, stream);
}

}  // namespace
}  // namespace mma
}  // namespace vdsr
