// bf16 3x3 convolution, 64 -> 64, on Hopper's warpgroup tensor-core instruction (wgmma, sm_90a
// only: this file is compiled for that target alone, see kernels/CMakeLists.txt). The forward and
// the backward-data (flipped, transposed weights; ReLU mask in the epilogue) share the kernel, like
// the portable mma.sync one in conv3x3_mma.cuh. Why and how: docs/kernels.md.
//
// The GEMM is turned around with respect to conv3x3_mma.cuh: M = the 64 output channels (the
// weights, operand A), N = 216 output positions (the staged input, operand B), K = 9 taps x 64
// channels in 36 steps of 16. One wgmma.m64n216k16 reads 2 KB of weights and 6.75 KB of
// activations from shared memory for 221,184 multiply-adds (108 tensor clocks of an SM), about
// 80 B per clock against the 128 B/clock shared memory delivers; the mma.sync tiling needs more
// than 128 (docs/kernels.md).
//
// Positions are linear in the staged buffer, so the 9 taps are the same B matrix at 9 start
// addresses (offsets r * ws + s pixels): no im2col, no per-tap copies. That needs a staging layout
// where any 8 consecutive staged pixels x 8 channels are one "core matrix" of 128 contiguous bytes
// (wgmma's no-swizzle K-major layout): s_x[channel group cg][staged pixel i][8 channels]. A start
// address then only has to be 16-byte aligned, which every pixel offset is.
//
// Two ways to lay positions out (struct Plan):
//   linear (W <= 53: the 41 x 41 training patches): the whole batch is one strip of padded rows of
//     ws = W + 1 pixels (a zero column before each row, which is also the right neighbour of the
//     row above) with a zero row before each image and after the last. A tile is any 216
//     consecutive centres of that strip; padding centres are computed and dropped (5% at 41 x 41).
//   tiled (wider images): 40 x 5 output pixels per tile, staged as 7 rows of ws = 42; positions
//     in the two halo columns of a row, and the last 6, are computed and dropped (7%).
// The staged window of a tile is 216 + 2 ws + 2 pixels (the centres and their 3 x 3 reach).
//
// Every output is the same 36-step chain of wgmmas over the same (tap, channel) order wherever it
// sits, so tiled results equal whole-image results (checked by the GPU tests).
#include "kernels/conv3x3_wgmma.cuh"

#include <cooperative_groups.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/error.h"
#include "kernels/kernel_launch.cuh"
#include "kernels/pdl.cuh"
#include "kernels/smem_ops.cuh"

namespace vdsr {
namespace wgmma {
namespace {

using bf16 = __nv_bfloat16;
using dev::cp_async16;
using dev::cp_async_commit;
using dev::cp_async_wait_all;
using dev::cp_async_wait_but_newest;
using dev::ldmatrix_x4_trans;
using dev::smem_addr;

constexpr int kC = 64;
constexpr int kTaps = 9;
constexpr int kN = 216;                            // output positions per tile: the wgmma's N
constexpr int kThreads = 128;                      // one warpgroup
constexpr int kAcc = kN * kC / kThreads;           // fp32 accumulators per thread: 108
constexpr int kWeightBytes = kTaps * kC * kC * 2;  // 72 KB, resident for the CTA's life
constexpr int kOutStride = kC + 8;      // bf16 per position of the transposed output tile
constexpr int kMaxLinearWs = 54;        // linear plan up to W = 53 (wider: 2-D tiles)
constexpr int kTileW = 40, kTileH = 5;  // tiled plan: ws = 42, 5 rows = 210 of the 216 positions

struct Plan {
  int N, H, W;
  bool linear;
  int ws;             // staged pixels per staged row
  int tx, per_image;  // tiled: tiles across, tiles per image
  int n;  // positions per tile: kN for the forward / backward-data, kWgN for the weight grad
  int tiles;
  int window;  // staged pixels per tile: n + 2 ws + 2
  int S;       // pixels per channel group in s_x: window rounded up to odd, so that the 8
               // groups of one pixel land in 8 different bank quads when staged
};

Plan make_plan(int64_t N, int64_t H, int64_t W, int n) {
  Plan p{};
  p.n = n;
  p.N = int(N);
  p.H = int(H);
  p.W = int(W);
  // The strip's positions, up to the last tile's window past its end, must index in 32 bits.
  p.linear = W + 1 <= kMaxLinearWs &&
             (N * (H + 1) + 1) * (W + 1) + 2 * (n + 2 * kMaxLinearWs + 2) < (int64_t(1) << 31);
  int64_t tiles = 0;
  if (p.linear) {
    p.ws = int(W + 1);
    const int64_t centres = (N * (H + 1) - 1) * (W + 1);  // from row 1 to the last image row
    tiles = (centres + n - 1) / n;
  } else {
    p.ws = kTileW + 2;
    p.tx = int((W + kTileW - 1) / kTileW);
    p.per_image = p.tx * int((H + kTileH - 1) / kTileH);
    tiles = N * p.per_image;
  }
  VDSR_CHECK(tiles < (int64_t(1) << 31) && N * H * W < (int64_t(1) << 31),
             "wgmma conv: too many tiles or pixels");
  p.tiles = int(tiles);
  p.window = n + 2 * p.ws + 2;
  p.S = p.window | 1;
  return p;
}

// Per warpgroup: the staged tile, [8 cg][S][8 channels], later the output tile [kN][kOutStride]
// (the larger of the two for narrow images); then the tile's pixel tables (below).
constexpr int kMaxWindow = kN + 2 * kMaxLinearWs + 2;
__host__ __device__ inline int buffer_bytes(const Plan& p) {
  const int staged = p.S * 8 * 16, out = kN * kOutStride * 2;
  return staged > out ? staged : out;
}
__host__ __device__ inline int region_bytes(const Plan& p) {  // 128-byte aligned regions
  return (buffer_bytes(p) + (kMaxWindow + kN) * 4 + 127) / 128 * 128;
}

size_t smem_bytes(const Plan& p, int wgs) {
  return size_t(kWeightBytes) + size_t(wgs) * region_bytes(p);
}

// Linear plan: strip position L -> image pixel index, or -1 for padding.
__device__ __forceinline__ int strip_pixel(const Plan& p, int L) {
  if (L < 0) return -1;
  const int R = L / p.ws, c = L - R * p.ws;
  const int n = R / (p.H + 1), y = R - n * (p.H + 1);
  if (c == 0 || y == 0 || n >= p.N) return -1;
  return (n * p.H + (y - 1)) * p.W + (c - 1);
}

// Tiled plan: image, top-left output pixel of tile t.
struct Origin {
  int n, y0, x0;
};
__device__ __forceinline__ Origin tile_origin(const Plan& p, int t) {
  const int n = t / p.per_image, r = t - n * p.per_image;
  return {n, (r / p.tx) * kTileH, (r % p.tx) * kTileW};
}

// Staged pixel i of tile t: its image pixel, or -1 (zeros are staged).
__device__ __forceinline__ int staged_pixel(const Plan& p, int t, int i) {
  if (p.linear) return strip_pixel(p, t * p.n - 1 + i);  // the first centre is L = ws + t n
  const Origin o = tile_origin(p, t);
  const int row = i / p.ws, col = i - row * p.ws;
  const int y = o.y0 - 1 + row, x = o.x0 - 1 + col;
  if (row >= kTileH + 2 || y < 0 || y >= p.H || x < 0 || x >= p.W) return -1;
  return (o.n * p.H + y) * p.W + x;
}

// Output position j of tile t: its image pixel, or -1 (computed, dropped).
__device__ __forceinline__ int output_pixel(const Plan& p, int t, int j) {
  if (p.linear) return strip_pixel(p, p.ws + t * p.n + j);
  const Origin o = tile_origin(p, t);
  const int row = j / p.ws, col = j - row * p.ws;
  const int y = o.y0 + row, x = o.x0 + col;
  if (row >= kTileH || col >= kTileW || y >= p.H || x >= p.W) return -1;
  return (o.n * p.H + y) * p.W + x;
}

// Shared-memory matrix descriptor, no swizzle: start address, then the byte distances between
// core matrices adjacent in K (leading) and in M or N (stride), all in 16-byte units. The same
// holds for the channel-major (transposed) B of the weight gradient: measured, the GPU tests fail
// with the two distances the other way round.
__device__ __forceinline__ uint64_t descriptor(uint32_t addr, uint32_t k_step, uint32_t mn_step) {
  return uint64_t((addr & 0x3FFFF) >> 4) | (uint64_t((k_step >> 4) & 0x3FFF) << 16) |
         (uint64_t((mn_step >> 4) & 0x3FFF) << 32);
}

__device__ __forceinline__ void wgmma_fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
}
// Shared memory written through the generic proxy (cp.async, st.shared) is read by wgmma through
// the async proxy: each writer fences before the barrier that publishes it.
__device__ __forceinline__ void fence_proxy_async() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// d (+)= A B, A = 64 x 16 bf16 (a_desc), B = 16 x 216 bf16 (b_desc), fp32 accumulators;
// accumulate = false overwrites d.
__device__ __forceinline__ void wgmma_216(float (&d)[kAcc], uint64_t a_desc, uint64_t b_desc,
                                          bool accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %110, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n216k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, "
      "%18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, "
      "%36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, "
      "%54, %55, %56, %57, %58, %59, %60, %61, %62, %63, %64, %65, %66, %67, %68, %69, %70, %71, "
      "%72, %73, %74, %75, %76, %77, %78, %79, %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, "
      "%90, %91, %92, %93, %94, %95, %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, "
      "%107"
      "}, %108, %109, p, 1, 1, 0, 0;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),
        "+f"(d[63]), "+f"(d[64]), "+f"(d[65]), "+f"(d[66]), "+f"(d[67]), "+f"(d[68]), "+f"(d[69]),
        "+f"(d[70]), "+f"(d[71]), "+f"(d[72]), "+f"(d[73]), "+f"(d[74]), "+f"(d[75]), "+f"(d[76]),
        "+f"(d[77]), "+f"(d[78]), "+f"(d[79]), "+f"(d[80]), "+f"(d[81]), "+f"(d[82]), "+f"(d[83]),
        "+f"(d[84]), "+f"(d[85]), "+f"(d[86]), "+f"(d[87]), "+f"(d[88]), "+f"(d[89]), "+f"(d[90]),
        "+f"(d[91]), "+f"(d[92]), "+f"(d[93]), "+f"(d[94]), "+f"(d[95]), "+f"(d[96]), "+f"(d[97]),
        "+f"(d[98]), "+f"(d[99]), "+f"(d[100]), "+f"(d[101]), "+f"(d[102]), "+f"(d[103]),
        "+f"(d[104]), "+f"(d[105]), "+f"(d[106]), "+f"(d[107])
      : "l"(a_desc), "l"(b_desc), "r"(int(accumulate)));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}
__device__ __forceinline__ void stmatrix_x4_trans(uint32_t addr, const uint32_t (&r)[4]) {
  asm volatile(
      "stmatrix.sync.aligned.m8n8.x4.trans.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(addr),
      "r"(r[0]), "r"(r[1]), "r"(r[2]), "r"(r[3])
      : "memory");
}
__device__ __forceinline__ void stmatrix_x2_trans(uint32_t addr, uint32_t r0, uint32_t r1) {
  asm volatile("stmatrix.sync.aligned.m8n8.x2.trans.shared.b16 [%0], {%1, %2};\n" ::"r"(addr),
               "r"(r0), "r"(r1)
               : "memory");
}

struct Conv {
  Plan p;
  const bf16* x;      // [N][H][W][64]
  const bf16* wg;     // [64 co][9][64 ci]
  const float* bias;  // [64] or nullptr
  const bf16* mask;   // [N][H][W][64] or nullptr: y = mask > 0 ? y : 0
  bool relu;
  bf16* y;  // [N][H][W][64]
  bool early_weights;  // wg may be staged before pdl_wait (it predates the kernel ahead)
};

// Probes (kProbe, the bits of conv3x3_wgmma.cuh; vdsr_bench --probes): the same kernels with parts
// switched off. kProbe = 0 is the kernel itself: every part a probe removes sits in an
// `if constexpr`, so the kernels the model runs are unchanged.

// Named barriers, their ids compiled in (so that a kernel reserves only those it uses): 0 is
// __syncthreads; 1 + w syncs warpgroup w alone; 4 + w is warpgroup w's turn to issue its GEMM,
// given by the warpgroup before it in the rotation (128 arrive + 128 sync).
template <int kId, int kCount>
__device__ __forceinline__ void bar_sync() {
  asm volatile("bar.sync %0, %1;\n" ::"n"(kId), "n"(kCount) : "memory");
}
template <int kId, int kCount>
__device__ __forceinline__ void bar_arrive() {
  asm volatile("bar.arrive %0, %1;\n" ::"n"(kId), "n"(kCount) : "memory");
}
__device__ __forceinline__ void wg_sync(int wg) {
  if (wg == 0)
    bar_sync<1, 128>();
  else if (wg == 1)
    bar_sync<2, 128>();
  else
    bar_sync<3, 128>();
}
__device__ __forceinline__ void wait_turn(int wg) {
  if (wg == 0)
    bar_sync<4, 256>();
  else if (wg == 1)
    bar_sync<5, 256>();
  else
    bar_sync<6, 256>();
}
template <int kWGs>
__device__ __forceinline__ void give_turn(int wg) {  // to warpgroup (wg + 1) % kWGs
  const int next = wg + 1 == kWGs ? 0 : wg + 1;
  if (next == 0)
    bar_arrive<4, 256>();
  else if (next == 1)
    bar_arrive<5, 256>();
  else
    bar_arrive<6, 256>();
}

// The backward-data's ReLU mask, prefetched (kMaskPrefetch): while the tile is staged, each output
// pixel's 128-byte mask line is asked into L2 (the mask is a forward activation written long
// before, usually out of L2 by now), and the epilogue issues all of a thread's mask loads before it
// uses any, so a tile waits for one L2 round trip instead of one HBM round trip per 16-byte piece.
// A generic address, so the generic form (prefetch.global would want a global-window address).
__device__ __forceinline__ void prefetch_l2(const void* p) {
  asm volatile("prefetch.L2 [%0];\n" ::"l"(p));
}
constexpr int kOutPieces = (kN * 8 + kThreads - 1) / kThreads;  // 16-byte output pieces per thread

// kWGs warpgroups per CTA share the resident weights; each has its own staging buffer and works
// through its own tiles: stage, GEMM, epilogue. With two or three, the GEMMs take turns in a fixed
// rotation: a warpgroup issues its 36 wgmmas only after the one before it has issued its own, so
// the others' epilogues and next staging run while the tensor cores work. The CTA's m-th tile is
// blockIdx.x + m * gridDim.x, done by warpgroup m % kWGs.
template <int kWGs, bool kMaskPrefetch, int kProbe = 0>
__global__ void __launch_bounds__(kThreads* kWGs, kWGs == 1 ? 2 : 1) conv_kernel(const Conv g) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(128) unsigned char smem[];
  const Plan& p = g.p;
  const int wg = int(threadIdx.x) / kThreads, tid = int(threadIdx.x) % kThreads;
  // [8 cg][S][8 channels]; after the GEMM, the output tile
  unsigned char* s_x = smem + kWeightBytes + wg * region_bytes(p);
  // The current tile's pixel index of each staged pixel and of each output position (-1: none),
  // found once per pixel rather than once per 16-byte piece.
  int* s_src = reinterpret_cast<int*>(s_x + buffer_bytes(p));
  int* s_dst = s_src + kMaxWindow;
  // Weights as operand A: s_w[tap][cg][co][8 channels], every 8 co x 8 channels a core matrix.
  // Copied while the kernel ahead finishes when the caller says they predate it (pdl.cuh).
  const auto stage_weights = [&] {
    for (int e = threadIdx.x; e < kTaps * 8 * kC; e += kThreads * kWGs) {
      const int cg = e & 7, co = (e >> 3) & (kC - 1), tap = e >> 9;
      cp_async16(smem + ((tap * 8 + cg) * kC + co) * 16, g.wg + (co * kTaps + tap) * kC + cg * 8, 16);
    }
  };
  if (g.early_weights) stage_weights();
  dev::pdl_begin();
  if (!g.early_weights) stage_weights();
  cp_async_wait_all();
  fence_proxy_async();
  __syncthreads();
  const uint32_t w_base = smem_addr(smem), x_base = smem_addr(s_x);
  const int warp = tid >> 5, lane = tid & 31;
  const int co0 = warp * 16 + (lane >> 2);  // this thread's accumulator rows: co0, co0 + 8
  const float b0 = g.bias != nullptr ? __ldg(g.bias + co0) : 0.0f;
  const float b1 = g.bias != nullptr ? __ldg(g.bias + co0 + 8) : 0.0f;
  bf16* s_out = reinterpret_cast<bf16*>(s_x);  // [kN][kOutStride], after the tile's GEMM
  for (int m = wg;; m += kWGs) {
    const int t = blockIdx.x + m * gridDim.x;
    if (t >= p.tiles) break;
    for (int i = tid; i < p.window; i += kThreads) s_src[i] = staged_pixel(p, t, i);
    for (int j = tid; j < kN; j += kThreads) s_dst[j] = output_pixel(p, t, j);
    wg_sync(wg);
    if (kMaskPrefetch && g.mask != nullptr)
      for (int j = tid; j < kN; j += kThreads)
        if (s_dst[j] >= 0) prefetch_l2(g.mask + int64_t(s_dst[j]) * kC);
    if constexpr ((kProbe & kProbeNoLoads) == 0)
      for (int e = tid; e < p.window * 8; e += kThreads) {
        const int i = e >> 3, cg = e & 7;
        const int P = s_src[i];
        cp_async16(s_x + (cg * p.S + i) * 16, P >= 0 ? g.x + int64_t(P) * kC + cg * 8 : g.x,
                   P >= 0 ? 16 : 0);
      }
    cp_async_wait_all();
    fence_proxy_async();
    wg_sync(wg);
    if (kWGs > 1 && m > 0) wait_turn(wg);  // the one before has issued its GEMM
    float acc[kAcc];
    if constexpr ((kProbe & kProbeNoGemm) == 0) {
      wgmma_fence();
#pragma unroll
      for (int tap = 0; tap < kTaps; ++tap)
#pragma unroll
        for (int kc = 0; kc < kC / 16; ++kc) {
          const uint64_t a = descriptor(w_base + (tap * 8 + 2 * kc) * kC * 16, kC * 16, 128);
          const uint32_t shift = (tap / 3) * p.ws + tap % 3;
          const uint64_t b = descriptor(x_base + (2 * kc * p.S + shift) * 16, p.S * 16, 128);
          wgmma_216(acc, a, b, tap != 0 || kc != 0);
        }
      wgmma_commit();
    } else {
#pragma unroll
      for (int i = 0; i < kAcc; ++i) acc[i] = 0.0f;
    }
    // The next one's turn, when the CTA has a next tile (every arrive meets a sync).
    if (kWGs > 1 && blockIdx.x + (m + 1) * gridDim.x < p.tiles) give_turn<kWGs>(wg);
    if constexpr ((kProbe & kProbeNoGemm) == 0) wgmma_wait();
    wg_sync(wg);  // the whole warpgroup's GEMM is done: s_x may be overwritten
    // Bias and ReLU per output channel, then the tile transposed to [position][channel] (stmatrix
    // .trans: the accumulators of an n8 block are an 8 x 8 channel x position matrix fragment)
    // so that the stores to global memory are whole 16-byte pieces of pixels. Lane l addresses
    // row l % 8 (a position) of matrix l / 8: matrices (co 0-7, block nb), (co 8-15, nb),
    // (co 0-7, nb + 1), (co 8-15, nb + 1) of this warp's 16 channels.
    const uint32_t out_lane =
        smem_addr(s_out) +
        (((lane >> 4) * 8 + (lane & 7)) * kOutStride + warp * 16 + ((lane >> 3) & 1) * 8) * 2;
#pragma unroll
    for (int nb = 0; nb < kN / 8; nb += 2) {
      uint32_t r[4];
#pragma unroll
      for (int h = 0; h < 2 && nb + h < kN / 8; ++h) {
        float v[4] = {acc[4 * (nb + h)] + b0, acc[4 * (nb + h) + 1] + b0,
                      acc[4 * (nb + h) + 2] + b1, acc[4 * (nb + h) + 3] + b1};
        if (g.relu)
#pragma unroll
          for (int k = 0; k < 4; ++k) v[k] = v[k] < 0.0f ? 0.0f : v[k];  // NaN passes
        r[2 * h] = pack_bf16(v[0], v[1]);
        r[2 * h + 1] = pack_bf16(v[2], v[3]);
      }
      const uint32_t addr = out_lane + nb * 8 * kOutStride * 2;
      if (nb + 1 < kN / 8)
        stmatrix_x4_trans(addr, r);
      else
        stmatrix_x2_trans(addr, r[0], r[1]);
    }
    wg_sync(wg);
    // Piece e (16 bytes: position e / 8, channels (e % 8) * 8 on) keeps each bf16 where the
    // mask's is > 0.
    const auto masked = [](uint4 v, const uint4& mk) {
      uint32_t* vw = &v.x;
      const uint32_t* mw = &mk.x;
#pragma unroll
      for (int k = 0; k < 4; ++k) {
        const float2 mf = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(mw + k));
        const uint32_t keep = (mf.x > 0.0f ? 0x0000FFFFu : 0u) | (mf.y > 0.0f ? 0xFFFF0000u : 0u);
        vw[k] &= keep;
      }
      return v;
    };
    if constexpr ((kProbe & kProbeNoStores) != 0) {
      // a probe without the stores (and the mask's loads)
    } else if (kMaskPrefetch && g.mask != nullptr) {
      // All of this thread's mask loads first (the accumulators are dead: registers are free).
      uint4 mk[kOutPieces];
#pragma unroll
      for (int i = 0; i < kOutPieces; ++i) {
        const int e = tid + i * kThreads;
        const int P = e < kN * 8 ? s_dst[e >> 3] : -1;
        mk[i] = P >= 0 ? __ldg(reinterpret_cast<const uint4*>(g.mask + int64_t(P) * kC + (e & 7) * 8))
                       : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int i = 0; i < kOutPieces; ++i) {
        const int e = tid + i * kThreads;
        const int P = e < kN * 8 ? s_dst[e >> 3] : -1;
        if (P < 0) continue;
        const uint4 v = *reinterpret_cast<const uint4*>(s_out + (e >> 3) * kOutStride + (e & 7) * 8);
        *reinterpret_cast<uint4*>(g.y + int64_t(P) * kC + (e & 7) * 8) = masked(v, mk[i]);
      }
    } else {
      for (int e = tid; e < kN * 8; e += kThreads) {
        const int j = e >> 3, part = e & 7;
        const int P = s_dst[j];
        if (P < 0) continue;
        uint4 v = *reinterpret_cast<const uint4*>(s_out + j * kOutStride + part * 8);
        if (g.mask != nullptr)
          v = masked(v, __ldg(reinterpret_cast<const uint4*>(g.mask + int64_t(P) * kC + part * 8)));
        *reinterpret_cast<uint4*>(g.y + int64_t(P) * kC + part * 8) = v;
      }
    }
    wg_sync(wg);  // s_x is staged again next
  }
#else
  (void)g;
  __trap();  // built for sm_90a only; the launcher checks the device
#endif
}

// ---- backward-weight --------------------------------------------------------------------------
// dw[co][tap][ci] = sum_p dy[p][co] x[p + shift(tap)][ci] over every position p of every tile (dy
// is staged as zero at dropped positions, so they add nothing). Per tap a GEMM with M = 64 output
// channels (A = dy transposed, from registers: ldmatrix.trans), N = 64 input channels (B = the
// staged input at the tap's shift, channel-major core matrices, read by wgmma) and K = 16
// positions per step, 14 steps per tile of kWgN = 224 positions. Warpgroup r of the CTA's three
// owns tap row r (taps 3r .. 3r + 2: 96 accumulators per thread) and reuses each A fragment for
// its three taps. A CTA sums a chunk of consecutive tiles, two stage buffers deep (the next tile
// is copied in while the tensor cores work on this one), and writes its partial sums; the caller
// adds the chunks in a fixed order (conv3x3_mma.cuh's wgrad_finish_kernel: same layout as the
// mma.sync version's), so the result is deterministic. With kCluster = 2, 4 or 8 the CTAs of a
// thread block cluster first add their sums through distributed shared memory (CTA q of the
// cluster adds the q-th slice of all the cluster's sums, in rank order) and write one partial per
// cluster: kCluster times fewer partial bytes for the finish to read, in a fixed order still.
constexpr int kWgN = 224;
constexpr int kWgWGs = 3;
constexpr int kMaxWgWindow = kWgN + 2 * kMaxLinearWs + 2;
constexpr int kDyS = kWgN + 1;             // positions per channel group in s_dy (odd)
constexpr int kWgDyBytes = kDyS * 8 * 16;  // a multiple of 128

// One stage buffer: s_x [8 cg][S][8], s_dy [8 cg][kDyS][8], then the tile's pixel tables.
__host__ __device__ inline int wg_stage_bytes(const Plan& p) {
  return (p.S * 8 * 16 + kWgDyBytes + (kMaxWgWindow + kWgN) * 4 + 127) / 128 * 128;
}
// One CTA's sums as the finish reads a chunk: [3 r][64 co][192 (s, ci)], then [64] sums of dy.
constexpr int kWgPartFloats = 3 * kC * 192;
constexpr int kWgSums = kWgPartFloats + kC;
// Dynamic shared memory of the weight-gradient kernel: two stage buffers; a clustered CTA also
// parks its sums there after the last tile.
size_t wgrad_smem(const Plan& p, int cluster) {
  const size_t stages = 2 * size_t(wg_stage_bytes(p));
  return cluster > 1 ? std::max(stages, size_t(kWgSums) * sizeof(float)) : stages;
}

struct WGrad {
  Plan p;
  int tiles_per_chunk;
  const bf16* x;   // [N][H][W][64]: the layer's input
  const bf16* dy;  // [N][H][W][64]: the gradient at its output (after the ReLU mask)
  float* part;     // [chunks][3 r][64 co][192 (s, ci)]
  float* part_b;   // [chunks][64]: sums of dy
};

// d += A B, A = 64 x 16 bf16 in registers (the mma.sync A fragment layout, warp w rows 16w..),
// B = 16 x 64 bf16, channel-major (transposed) core matrices (b_desc).
__device__ __forceinline__ void wgmma_rs_64(float (&d)[32], const uint32_t (&a)[4],
                                            uint64_t b_desc) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n64k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, "
      "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
      "}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(1));
}
__device__ __forceinline__ void wgmma_wait_but_newest() {
  asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");
}
__device__ __forceinline__ float bf16_sum2(uint32_t v) {  // the two bf16 of a register, added
  const float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&v));
  return f.x + f.y;
}

// Tile t's pixel tables, then (after a barrier) its copies into `buf`; all threads take part.
template <int kProbe>
__device__ __forceinline__ void wg_stage(const WGrad& g, int t, unsigned char* buf) {
  const Plan& p = g.p;
  unsigned char* s_x = buf;
  unsigned char* s_dy = buf + p.S * 8 * 16;
  int* s_src = reinterpret_cast<int*>(s_dy + kWgDyBytes);
  int* s_dst = s_src + kMaxWgWindow;
  for (int i = threadIdx.x; i < p.window; i += blockDim.x) s_src[i] = staged_pixel(p, t, i);
  for (int j = threadIdx.x; j < kWgN; j += blockDim.x) s_dst[j] = output_pixel(p, t, j);
  __syncthreads();
  if constexpr ((kProbe & kProbeNoLoads) == 0) {
    for (int e = threadIdx.x; e < p.window * 8; e += blockDim.x) {
      const int i = e >> 3, cg = e & 7;
      const int P = s_src[i];
      cp_async16(s_x + (cg * p.S + i) * 16, P >= 0 ? g.x + int64_t(P) * kC + cg * 8 : g.x,
                 P >= 0 ? 16 : 0);
    }
    for (int e = threadIdx.x; e < kWgN * 8; e += blockDim.x) {
      const int j = e >> 3, cg = e & 7;
      const int P = s_dst[j];
      cp_async16(s_dy + (cg * kDyS + j) * 16, P >= 0 ? g.dy + int64_t(P) * kC + cg * 8 : g.dy,
                 P >= 0 ? 16 : 0);
    }
  }
  cp_async_commit();
}

template <int kCluster, int kProbe = 0>
__global__ void __launch_bounds__(kThreads* kWgWGs, 1) wgrad_kernel(const WGrad g) {
  static_assert(kProbe == 0 || kCluster == 1, "probes run the unclustered kernel");
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  extern __shared__ __align__(128) unsigned char smem[];
  dev::pdl_begin();
  const Plan& p = g.p;
  const int r = int(threadIdx.x) / kThreads, tid = int(threadIdx.x) % kThreads;
  const int warp = tid >> 5, lane = tid & 31, q = lane >> 3, r8 = lane & 7;
  const int chunk = blockIdx.x;
  const int t_begin = chunk * g.tiles_per_chunk;
  const int t_end = min(p.tiles, t_begin + g.tiles_per_chunk);
  const int stage = wg_stage_bytes(p);
  float acc[3][32];
#pragma unroll
  for (int s = 0; s < 3; ++s)
#pragma unroll
    for (int i = 0; i < 32; ++i) acc[s][i] = 0.0f;
  float bsum_lo = 0.0f, bsum_hi = 0.0f;  // sums of dy for channels 16 warp + g8 and + 8
  if (t_begin < t_end) wg_stage<kProbe>(g, t_begin, smem);  // a cluster's last CTAs may have no tiles
  for (int t = t_begin; t < t_end; ++t) {
    unsigned char* buf = smem + ((t - t_begin) & 1) * stage;
    if (t + 1 < t_end) {
      wg_stage<kProbe>(g, t + 1, smem + ((t + 1 - t_begin) & 1) * stage);
      cp_async_wait_but_newest();
    } else {
      cp_async_wait_all();
    }
    fence_proxy_async();
    __syncthreads();
    if constexpr ((kProbe & kProbeNoGemm) == 0) {
      const uint32_t x_base = smem_addr(buf), dy_base = smem_addr(buf + p.S * 8 * 16);
      // A: matrices (co 0-7 | 8-15 of this warp) x (positions 0-7 | 8-15), read transposed.
      const uint32_t a_lane = dy_base + ((2 * warp + (q & 1)) * kDyS + (q >> 1) * 8 + r8) * 16;
      uint32_t a[2][4];
#pragma unroll
      for (int ks = 0; ks < kWgN / 16; ++ks) {
        uint32_t(&f)[4] = a[ks & 1];
        ldmatrix_x4_trans(f, a_lane + ks * 16 * 16);
        if (r == 0) {
          bsum_lo += bf16_sum2(f[0]) + bf16_sum2(f[2]);
          bsum_hi += bf16_sum2(f[1]) + bf16_sum2(f[3]);
        }
        wgmma_fence();
#pragma unroll
        for (int s = 0; s < 3; ++s) {
          const uint32_t shift = ks * 16 + r * p.ws + s;
          wgmma_rs_64(acc[s], f, descriptor(x_base + shift * 16, 128, p.S * 16));  // K: 8 positions
        }
        wgmma_commit();
        wgmma_wait_but_newest();  // the previous step's A registers are free again
      }
      wgmma_wait();
    }
    __syncthreads();  // every warpgroup is done with buf: it is staged again for tile t + 2
  }
  if constexpr ((kProbe & kProbeNoStores) != 0) return;  // a probe without the partial sums' stores
  // This CTA's sums: to its chunk's partial in global memory, or (clustered) to its own shared
  // memory, free since the loop's last barrier, in the same layout.
  float* sums = kCluster > 1 ? reinterpret_cast<float*>(smem) : g.part + int64_t(chunk) * kWgPartFloats;
  float* sums_b = kCluster > 1 ? sums + kWgPartFloats : g.part_b + int64_t(chunk) * kC;
  const int g8 = lane >> 2, t4 = lane & 3, co = warp * 16 + g8;
  float* part = sums + r * kC * 192;
#pragma unroll
  for (int s = 0; s < 3; ++s)
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const int n = s * kC + j * 8 + t4 * 2;
      *reinterpret_cast<float2*>(part + co * 192 + n) =
          make_float2(acc[s][4 * j], acc[s][4 * j + 1]);
      *reinterpret_cast<float2*>(part + (co + 8) * 192 + n) =
          make_float2(acc[s][4 * j + 2], acc[s][4 * j + 3]);
    }
  if (r == 0) {  // the four lanes of a row hold parts of its sum
    bsum_lo += __shfl_xor_sync(0xffffffffu, bsum_lo, 1);
    bsum_lo += __shfl_xor_sync(0xffffffffu, bsum_lo, 2);
    bsum_hi += __shfl_xor_sync(0xffffffffu, bsum_hi, 1);
    bsum_hi += __shfl_xor_sync(0xffffffffu, bsum_hi, 2);
    if (t4 == 0) {
      sums_b[co] = bsum_lo;
      sums_b[co + 8] = bsum_hi;
    }
  }
  if constexpr (kCluster > 1) {
    // CTA q adds the q-th slice of the cluster's kCluster sums in rank order and writes it as
    // the cluster's partial (chunk = cluster for the finish; a 1-D cluster is kCluster
    // consecutive CTAs). The second barrier keeps every CTA's
    // shared memory alive until the others have read it.
    namespace cg = cooperative_groups;
    const cg::cluster_group cluster = cg::this_cluster();
    cluster.sync();
    constexpr int kSlice = kWgSums / kCluster;
    static_assert(kWgSums % kCluster == 0, "the sums split evenly over the cluster");
    const int q = int(cluster.block_rank()), c = int(blockIdx.x) / kCluster;
    for (int e = q * kSlice + int(threadIdx.x); e < (q + 1) * kSlice; e += kThreads * kWgWGs) {
      float v = 0.0f;
#pragma unroll
      for (int k = 0; k < kCluster; ++k) v += cluster.map_shared_rank(sums, k)[e];
      if (e < kWgPartFloats)
        g.part[int64_t(c) * kWgPartFloats + e] = v;
      else
        g.part_b[int64_t(c) * kC + (e - kWgPartFloats)] = v;
    }
    cluster.sync();
  }
#else
  (void)g;
  __trap();  // built for sm_90a only; the launcher checks the device
#endif
}

}  // namespace

namespace {

using ConvKernel = void (*)(Conv);

// One launch of a conv_kernel instantiation with `wgs` warpgroups per CTA (all instantiations
// have the same type: one pointer serves the occupancy query and the launch).
void launch_conv_kernel(ConvKernel kernel, int wgs, const ConvShape& s, const bf16* x, const bf16* wg,
                        const float* bias, const bf16* mask, bool relu, bf16* y, bool weights_ready,
                        cudaStream_t stream, const char* who) {
  Conv g{};
  g.p = make_plan(s.N, s.H, s.W, kN);
  g.x = x;
  g.wg = wg;
  g.bias = bias;
  g.mask = mask;
  g.relu = relu;
  g.y = y;
  g.early_weights = weights_ready;
  const size_t smem = smem_bytes(g.p, wgs);
  const int grid = persistent_grid(reinterpret_cast<const void*>(kernel), kThreads * wgs, smem, g.p.tiles, who);
  launch_kernel(kernel, grid, kThreads * wgs, smem, stream, g);
}

}  // namespace

size_t conv_smem_bytes(int wgs, const ConvShape& s) { return smem_bytes(make_plan(s.N, s.H, s.W, kN), wgs); }

size_t wgrad_smem_bytes(const ConvShape& s, int cluster) {
  return wgrad_smem(make_plan(s.N, s.H, s.W, kWgN), cluster);
}

void launch_conv(int wgs, bool mask_prefetch, const ConvShape& s, const bf16* x, const bf16* wg,
                 const float* bias, const bf16* mask, bool relu, bf16* y, bool weights_ready,
                 cudaStream_t stream, const char* who) {
  VDSR_CHECK(!mask_prefetch || wgs == 3, who << ": the mask prefetch is built for 3 warpgroups only");
  const ConvKernel kernel = mask_prefetch ? conv_kernel<3, true>
                            : wgs == 3    ? conv_kernel<3, false>
                            : wgs == 2    ? conv_kernel<2, false>
                                          : conv_kernel<1, false>;
  launch_conv_kernel(kernel, wgs, s, x, wg, bias, mask, relu, y, weights_ready, stream, who);
}

void launch_conv_probe(int probe, const ConvShape& s, const bf16* x, const bf16* wg, const float* bias,
                       const bf16* mask, bool relu, bf16* y, cudaStream_t stream) {
  const char* who = "wgmma conv probe";
  ConvKernel kernel = nullptr;
  switch (probe) {
    case 0: kernel = conv_kernel<3, false, 0>; break;
    case kProbeNoGemm: kernel = conv_kernel<3, false, kProbeNoGemm>; break;
    case kProbeNoLoads: kernel = conv_kernel<3, false, kProbeNoLoads>; break;
    case kProbeNoStores: kernel = conv_kernel<3, false, kProbeNoStores>; break;
    case kProbeNoLoads | kProbeNoStores: kernel = conv_kernel<3, false, kProbeNoLoads | kProbeNoStores>; break;
    case kProbeNoGemm | kProbeNoLoads | kProbeNoStores:
      kernel = conv_kernel<3, false, kProbeNoGemm | kProbeNoLoads | kProbeNoStores>;
      break;
    default: VDSR_FAIL(who << ": no probe " << probe);
  }
  launch_conv_kernel(kernel, 3, s, x, wg, bias, mask, relu, y, false, stream, who);
}

namespace {

// The instantiation for `cluster` CTAs per cluster (all have the same type).
using WgradKernel = void (*)(WGrad);
WgradKernel wgrad_kernel_of(int cluster, const char* who) {
  switch (cluster) {
    case 1:
      return wgrad_kernel<1>;
    case 2:
      return wgrad_kernel<2>;
    case 4:
      return wgrad_kernel<4>;
    case 8:
      return wgrad_kernel<8>;
    default:
      VDSR_FAIL(who << ": the weight gradient runs in clusters of 1, 2, 4 or 8 CTAs, not " << cluster);
  }
}

// The chunks of `kernel` (an instantiation for `cluster` CTAs per cluster) at shape s.
WgradChunks wgrad_chunks_of(WgradKernel kernel, const ConvShape& s, int cluster, const char* who) {
  const void* k = reinterpret_cast<const void*>(kernel);
  const Plan p = make_plan(s.N, s.H, s.W, kWgN);
  const size_t smem = wgrad_smem(p, cluster);
  // One CTA per multiprocessor; clustered, as many whole clusters as the GPU places at once.
  int ctas = grant_dynamic_smem(k, smem, who);
  if (cluster > 1) ctas = cluster * max_active_clusters(k, kThreads * kWgWGs, smem, cluster, who);
  WgradChunks c{};
  c.tiles_per_chunk = (p.tiles + ctas - 1) / ctas;
  const int busy = (p.tiles + c.tiles_per_chunk - 1) / c.tiles_per_chunk;  // CTAs with tiles
  c.ctas = (busy + cluster - 1) / cluster * cluster;
  c.chunks = c.ctas / cluster;
  return c;
}

void launch_wgrad_kernel(WgradKernel kernel, const ConvShape& s, int cluster, const bf16* x, const bf16* dy,
                         float* part, float* part_b, cudaStream_t stream, const char* who) {
  const WgradChunks c = wgrad_chunks_of(kernel, s, cluster, who);
  WGrad g{};
  g.p = make_plan(s.N, s.H, s.W, kWgN);
  g.tiles_per_chunk = c.tiles_per_chunk;
  g.x = x;
  g.dy = dy;
  g.part = part;
  g.part_b = part_b;
  const size_t smem = wgrad_smem(g.p, cluster);
  launch_kernel_in_clusters(unsigned(cluster), kernel, c.ctas, kThreads * kWgWGs, smem, stream, g);
}

}  // namespace

WgradChunks wgrad_chunks(const ConvShape& s, int cluster, const char* who) {
  return wgrad_chunks_of(wgrad_kernel_of(cluster, who), s, cluster, who);
}

bool wgrad_cluster_fits(const ConvShape& s, int cluster) {
  const char* who = "wgrad_cluster_fits";
  const void* k = reinterpret_cast<const void*>(wgrad_kernel_of(cluster, who));
  const size_t smem = wgrad_smem_bytes(s, cluster);
  try {
    return smem <= max_dynamic_smem() && active_clusters(k, kThreads * kWgWGs, smem, cluster, who) > 0;
  } catch (const Error&) {  // the occupancy query refused (a cluster size this device cannot form)
    cudaGetLastError();     // (not sticky; clear it so the next launch does not report it)
    return false;
  }
}

void launch_wgrad(const ConvShape& s, int cluster, const bf16* x, const bf16* dy, float* part, float* part_b,
                  cudaStream_t stream, const char* who) {
  launch_wgrad_kernel(wgrad_kernel_of(cluster, who), s, cluster, x, dy, part, part_b, stream, who);
}

void launch_wgrad_probe(int probe, const ConvShape& s, const bf16* x, const bf16* dy, float* part, float* part_b,
                        cudaStream_t stream) {
  const char* who = "wgmma weight-gradient probe";
  WgradKernel kernel = nullptr;
  switch (probe) {
    case 0: kernel = wgrad_kernel<1, 0>; break;
    case kProbeNoGemm: kernel = wgrad_kernel<1, kProbeNoGemm>; break;
    case kProbeNoLoads: kernel = wgrad_kernel<1, kProbeNoLoads>; break;
    case kProbeNoStores: kernel = wgrad_kernel<1, kProbeNoStores>; break;
    case kProbeNoLoads | kProbeNoStores: kernel = wgrad_kernel<1, kProbeNoLoads | kProbeNoStores>; break;
    case kProbeNoGemm | kProbeNoLoads | kProbeNoStores:
      kernel = wgrad_kernel<1, kProbeNoGemm | kProbeNoLoads | kProbeNoStores>;
      break;
    default: VDSR_FAIL(who << ": no probe " << probe);
  }
  launch_wgrad_kernel(kernel, s, 1, x, dy, part, part_b, stream, who);
}

}  // namespace wgmma
}  // namespace vdsr
