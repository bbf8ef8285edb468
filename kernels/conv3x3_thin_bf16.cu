// VDSR's thin layers in the bf16 mode (launchers and contracts: kernels/conv3x3_thin_bf16.cuh).
//
// Three kernels cover the five ops, because a 1-channel plane against a 64-channel map is the
// same pattern whichever side is the input:
//   plane_to_map  out[p][k] = epi(b[k] + sum_tap f[tap][k] plane[p + off(tap)])
//                 first-layer forward (f = wt, epi = ReLU) and last-layer backward-data
//                 (f = wt with the taps flipped, epi = the ReLU mask of the layer below);
//   map_to_plane  y[p] = skip[p] + b + sum_tap sum_c f[tap][c] map[p + off(tap)][c]
//                 last-layer forward with the residual;
//   map_plane_wgrad  G[k][tap] = sum_p map[p][k] plane[p + off(tap)], M[k] = sum_p map[p][k],
//                 Q = sum_p plane[p]: the first layer's dw = G and db = M (map = dy, plane = x);
//                 the last layer's dw[c][tap] = G[c][8 - tap] and db = Q (map = x, plane = dy),
//                 by substituting p -> p - off(tap) in dw[c][tap] = sum_p dy[p] x[p + off(tap)][c].
// off(tap) for tap = 3 r + s is the pixel offset (r - 1, s - 1); outside the image counts as 0.
//
// Work items: 8 threads per pixel, each owning 8 consecutive channels (one 16-byte bf16 load or
// store), so a warp moves 4 whole pixels' channel vectors per access. The per-tap weights sit in
// shared memory as [tap][channel], read as float4s.
#include "kernels/conv3x3_thin_bf16.cuh"

#include <algorithm>
#include <cstdint>

#include "engine/cuda_check.h"
#include "engine/cuda_context.h"
#include "engine/error.h"
#include "kernels/kernel_launch.cuh"
#include "kernels/pdl.cuh"
#include "kernels/wgrad_finish.h"

namespace vdsr {

namespace {

constexpr int kWide = 64;                      // channels of the map side
constexpr int kGroups = kWide / 8;             // threads per pixel
constexpr int kThreads = 256;
constexpr int kSums = kWide * 9 + kWide + 1;   // G, M, Q of map_plane_wgrad
constexpr int64_t kMinChunk = 512;             // pixels per wgrad block, at least
constexpr int64_t kMaxChunks = 2048;

struct Geometry {
  int64_t H, W, P;  // P = N H W
};

// The pixel index of p shifted by tap, or -1 outside p's image.
__device__ __forceinline__ int64_t shifted(const Geometry& g, int64_t p, int tap) {
  const int64_t hw = p % (g.H * g.W), h = hw / g.W + tap / 3 - 1, w = hw % g.W + tap % 3 - 1;
  if (h < 0 || h >= g.H || w < 0 || w >= g.W) return -1;
  return (p - hw) + h * g.W + w;
}

// The plane value at pixel p shifted by tap (zero outside p's image).
__device__ __forceinline__ float plane_at(const float* __restrict__ plane, const Geometry& g,
                                          int64_t p, int tap) {
  const int64_t q = shifted(g, p, tap);
  return q < 0 ? 0.0f : __ldg(plane + q);
}

__device__ __forceinline__ void unpack8(const uint4& raw, float* v) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(h[i]);
    v[2 * i] = f.x;
    v[2 * i + 1] = f.y;
  }
}

__device__ __forceinline__ uint4 pack8(const float* v) {
  uint4 raw;
  __nv_bfloat162* h = reinterpret_cast<__nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(v[2 * i], v[2 * i + 1]);
  return raw;
}

// f[tap][c] = wt[c][tap] (or wt[c][8 - tap] flipped) for the 64 x 9 thin-layer weights, whose
// OIHW index is c * 9 + tap both for [64][1][3][3] and for [1][64][3][3].
__device__ void load_taps(const float* __restrict__ wt, bool flip, float (*f)[kWide]) {
  for (int e = threadIdx.x; e < kWide * 9; e += blockDim.x) {
    const int c = e / 9, tap = e % 9;
    f[flip ? 8 - tap : tap][c] = wt[e];
  }
}

// plane_to_map's 8 outputs of a work item (pixel p, channels c0 ..), packed to bf16: backward,
// zero where the mask's value is not > 0 (mask null: none); forward, the ReLU when asked (NaN -> 0).
template <bool kBackward>
__device__ __forceinline__ uint4 plane_to_map_out(float (&acc)[8], bool relu, const __nv_bfloat16* mask,
                                                  int64_t p, int c0) {
  if (kBackward) {
    if (mask != nullptr) {
      float src[8];
      unpack8(*reinterpret_cast<const uint4*>(mask + p * kWide + c0), src);
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[j] = src[j] > 0.0f ? acc[j] : 0.0f;
    }
  } else if (relu) {
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[j] = acc[j] > 0.0f ? acc[j] : 0.0f;
  }
  return pack8(acc);
}

template <bool kBackward>
__global__ void __launch_bounds__(kThreads)
    plane_to_map_kernel(Geometry g, const float* __restrict__ plane, const float* __restrict__ wt,
                        const float* __restrict__ b, bool relu,
                        const __nv_bfloat16* __restrict__ relu_src,
                        __nv_bfloat16* __restrict__ out) {
  __shared__ __align__(16) float f[9][kWide];
  __shared__ __align__(16) float bias[kWide];
  dev::pdl_begin();
  load_taps(wt, kBackward, f);
  for (int e = threadIdx.x; e < kWide; e += blockDim.x) bias[e] = b != nullptr ? b[e] : 0.0f;
  __syncthreads();
  const int64_t items = g.P * kGroups;
  for (int64_t it = blockIdx.x * int64_t(kThreads) + threadIdx.x; it < items;
       it += int64_t(gridDim.x) * kThreads) {
    const int64_t p = it / kGroups;
    const int c0 = int(it % kGroups) * 8;
    float acc[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[j] = bias[c0 + j];
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
      const float v = plane_at(plane, g, p, tap);
      const float4 w0 = *reinterpret_cast<const float4*>(&f[tap][c0]);
      const float4 w1 = *reinterpret_cast<const float4*>(&f[tap][c0 + 4]);
      const float w[8] = {w0.x, w0.y, w0.z, w0.w, w1.x, w1.y, w1.z, w1.w};
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[j] = fmaf(v, w[j], acc[j]);
    }
    *reinterpret_cast<uint4*>(out + p * kWide + c0) =
        plane_to_map_out<kBackward>(acc, relu, relu_src, p, c0);
  }
}

// 4 pixels per warp: lane = 8 q + group; the 8 lanes of a pixel add their partial sums with a
// fixed butterfly, so the result does not depend on the launch.
__global__ void __launch_bounds__(kThreads)
    map_to_plane_kernel(Geometry g, const __nv_bfloat16* __restrict__ x,
                        const float* __restrict__ wt, const float* __restrict__ b,
                        const float* skip, float* y) {
  __shared__ __align__(16) float f[9][kWide];
  dev::pdl_begin();
  load_taps(wt, false, f);
  __syncthreads();
  const float bias = b != nullptr ? b[0] : 0.0f;
  const int lane = threadIdx.x % 32, c0 = (lane % kGroups) * 8;
  const int64_t quads = (g.P + 3) / 4;
  const int64_t warps = int64_t(gridDim.x) * (kThreads / 32);
  for (int64_t quad = blockIdx.x * int64_t(kThreads / 32) + threadIdx.x / 32; quad < quads;
       quad += warps) {  // uniform per warp: every lane reaches the shuffles
    const int64_t p = quad * 4 + lane / kGroups;
    float acc = 0.0f;
    if (p < g.P) {
#pragma unroll
      for (int tap = 0; tap < 9; ++tap) {
        const int64_t q = shifted(g, p, tap);
        if (q < 0) continue;
        float v[8];
        unpack8(__ldg(reinterpret_cast<const uint4*>(x + q * kWide + c0)), v);
#pragma unroll
        for (int j = 0; j < 8; ++j) acc = fmaf(v[j], f[tap][c0 + j], acc);
      }
    }
    acc += __shfl_xor_sync(0xffffffffu, acc, 1);
    acc += __shfl_xor_sync(0xffffffffu, acc, 2);
    acc += __shfl_xor_sync(0xffffffffu, acc, 4);
    if (p < g.P && c0 == 0) {
      const float r = acc + bias;
      y[p] = skip != nullptr ? skip[p] + r : r;
    }
  }
}

// ---- the column kernels (variant 1) ------------------------------------------------------------
// The same two stencils, each thread walking down one image column: a CTA is a tile of kColW
// columns x kColH output rows, thread = (column, channel group) as above (a warp holds 4 columns).
// Per output pixel nothing is recomputed: no divisions (the pixel variant's PTX has two 64-bit ones
// per work item), the weights of the thread's 8 channels sit in 72 registers for the whole tile, and
// each map pixel is read once per tile (plus 2 halo rows per 32), so the map side moves at about
// its own size. The sums run in exactly the pixel variant's order: the results are bit-identical
// (checked by the GPU tests).
constexpr int kColW = 16, kColH = 32;
constexpr int kColThreads = kColW * kGroups;  // 128

struct ColGeometry {
  int H, W;
  int across, down;  // tiles per image row band and per image column
};

ColGeometry col_geometry(const Geometry& g) {
  VDSR_CHECK(g.P < (int64_t(1) << 31), "thin layers: more than 2^31 pixels in one launch");
  const int H = int(g.H), W = int(g.W);
  return {H, W, (W + kColW - 1) / kColW, (H + kColH - 1) / kColH};
}

// This CTA's tile: image n, output rows [y0, y1), the thread's column x (maybe past the image:
// such threads still take part in the warp's shuffles).
struct ColTile {
  int n, y0, y1, x;
};
__device__ __forceinline__ ColTile col_tile(const ColGeometry& g) {
  const int t = int(blockIdx.x), tx = t % g.across, r = t / g.across;
  const int ty = r % g.down, n = r / g.down;
  const int y0 = ty * kColH;
  return {n, y0, min(y0 + kColH, g.H), tx * kColW + int(threadIdx.x) / kGroups};
}

// plane_to_map by columns: the tile's plane window ((kColH + 2) x (kColW + 2), zeros outside the
// image) is staged in shared memory once; each output pixel is then 9 shared reads, 72 FMAs and
// one 16-byte store per thread.
template <bool kBackward>
__global__ void __launch_bounds__(kColThreads)
    plane_to_map_columns_kernel(ColGeometry g, const float* __restrict__ plane, const float* __restrict__ wt,
                                const float* __restrict__ b, bool relu,
                                const __nv_bfloat16* __restrict__ relu_src, __nv_bfloat16* __restrict__ out) {
  __shared__ __align__(16) float f[9][kWide];
  __shared__ float window[kColH + 2][kColW + 2];
  dev::pdl_begin();
  load_taps(wt, kBackward, f);
  const ColTile t = col_tile(g);
  const int64_t image = int64_t(t.n) * g.H * g.W;
  const int x0 = t.x - int(threadIdx.x) / kGroups;  // the tile's first column
  for (int e = threadIdx.x; e < (kColH + 2) * (kColW + 2); e += kColThreads) {
    const int r = e / (kColW + 2), c = e % (kColW + 2);
    const int y = t.y0 - 1 + r, x = x0 - 1 + c;
    window[r][c] = y >= 0 && y < g.H && x >= 0 && x < g.W ? __ldg(plane + image + int64_t(y) * g.W + x) : 0.0f;
  }
  __syncthreads();
  const int c0 = int(threadIdx.x % kGroups) * 8, col = int(threadIdx.x) / kGroups;
  float w[9][8], bias[8];
#pragma unroll
  for (int tap = 0; tap < 9; ++tap)
#pragma unroll
    for (int j = 0; j < 8; ++j) w[tap][j] = f[tap][c0 + j];
#pragma unroll
  for (int j = 0; j < 8; ++j) bias[j] = b != nullptr ? __ldg(b + c0 + j) : 0.0f;
  if (t.x >= g.W) return;  // no shuffles here: the column's threads may leave
  for (int y = t.y0; y < t.y1; ++y) {
    const int64_t p = image + int64_t(y) * g.W + t.x;
    float acc[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[j] = bias[j];
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
      const float v = window[y - t.y0 + tap / 3][col + tap % 3];
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[j] = fmaf(v, w[tap][j], acc[j]);
    }
    *reinterpret_cast<uint4*>(out + p * kWide + c0) =
        plane_to_map_out<kBackward>(acc, relu, relu_src, p, c0);
  }
}

// map_to_plane by columns: the thread reads input row i of its column and its two neighbours
// (8 channels each, the next row's loads in flight while this one is used) and adds them into the
// three output rows they reach: i + 1 (tap row 0), i (tap row 1), i - 1 (tap row 2). An output row
// thus gets its taps in the order 0..8 and its channels 0..7 within each, as the pixel variant's
// chain; once row i - 1 has all three it is reduced across the column's 8 lanes (the same xor
// butterfly) and written.
__global__ void __launch_bounds__(kColThreads)
    map_to_plane_columns_kernel(ColGeometry g, const __nv_bfloat16* __restrict__ x,
                                const float* __restrict__ wt, const float* __restrict__ b,
                                const float* skip, float* y) {
  __shared__ __align__(16) float f[9][kWide];
  dev::pdl_begin();
  load_taps(wt, false, f);
  __syncthreads();
  const ColTile t = col_tile(g);
  const int64_t image = int64_t(t.n) * g.H * g.W;
  const int c0 = int(threadIdx.x % kGroups) * 8;
  const float bias = b != nullptr ? __ldg(b) : 0.0f;
  float w[9][8];
#pragma unroll
  for (int tap = 0; tap < 9; ++tap)
#pragma unroll
    for (int j = 0; j < 8; ++j) w[tap][j] = f[tap][c0 + j];
  bool inside[3];  // column x - 1 + s is in the image
#pragma unroll
  for (int s = 0; s < 3; ++s) inside[s] = t.x - 1 + s >= 0 && t.x - 1 + s < g.W;
  const auto load_row = [&](int i, uint4 (&raw)[3]) {
#pragma unroll
    for (int s = 0; s < 3; ++s)
      raw[s] = i >= 0 && i < g.H && inside[s]
                   ? __ldg(reinterpret_cast<const uint4*>(x + (image + int64_t(i) * g.W + t.x - 1 + s) * kWide + c0))
                   : uint4{};
  };
  uint4 next[3];
  load_row(t.y0 - 1, next);
  float above = 0.0f, here = 0.0f, below = 0.0f;  // output rows i - 1, i, i + 1
  for (int i = t.y0 - 1; i <= t.y1; ++i) {  // uniform over the CTA: every lane reaches the shuffles
    uint4 raw[3] = {next[0], next[1], next[2]};
    if (i < t.y1) load_row(i + 1, next);
    if (i >= 0 && i < g.H) {
#pragma unroll
      for (int s = 0; s < 3; ++s) {
        if (!inside[s]) continue;  // a tap outside the image is skipped, as in the pixel variant
        float v[8];
        unpack8(raw[s], v);
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          below = fmaf(v[j], w[s][j], below);
          here = fmaf(v[j], w[3 + s][j], here);
          above = fmaf(v[j], w[6 + s][j], above);
        }
      }
    }
    if (i - 1 >= t.y0) {  // output row i - 1 is complete
      float acc = above;
      acc += __shfl_xor_sync(0xffffffffu, acc, 1);
      acc += __shfl_xor_sync(0xffffffffu, acc, 2);
      acc += __shfl_xor_sync(0xffffffffu, acc, 4);
      if (c0 == 0 && t.x < g.W) {
        const int64_t p = image + int64_t(i - 1) * g.W + t.x;
        const float r = acc + bias;
        y[p] = skip != nullptr ? skip[p] + r : r;
      }
    }
    above = here;
    here = below;
    below = 0.0f;
  }
}

// One block per chunk of `chunk` pixels; writes the chunk's kSums fp32 sums to partial[blockIdx].
// Thread = (pixel lane 0..31, channel group): warp w, lane 8 q + group, pixel lane 4 w + q.
__global__ void __launch_bounds__(kThreads)
    map_plane_wgrad_kernel(Geometry g, const __nv_bfloat16* __restrict__ map,
                           const float* __restrict__ plane, int64_t chunk,
                           float* __restrict__ partial) {
  __shared__ float red[kThreads / 32][kSums];
  dev::pdl_begin();
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int group = lane % kGroups, c0 = group * 8;
  const int64_t p0 = blockIdx.x * chunk, p1 = p0 + chunk < g.P ? p0 + chunk : g.P;
  float acc[8][9] = {}, m[8] = {}, qsum = 0.0f;
  for (int64_t p = p0 + warp * 4 + lane / kGroups; p < p1; p += 32) {
    float a[8];
    unpack8(__ldg(reinterpret_cast<const uint4*>(map + p * kWide + c0)), a);
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
      const float v = plane_at(plane, g, p, tap);
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[j][tap] = fmaf(a[j], v, acc[j][tap]);
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) m[j] += a[j];
    if (group == 0) qsum += __ldg(plane + p);
  }
  // Add the warp's 4 pixel lanes (lanes 8 apart), then the 8 warps in order.
#pragma unroll
  for (int j = 0; j < 8; ++j) {
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
      acc[j][tap] += __shfl_xor_sync(0xffffffffu, acc[j][tap], 8);
      acc[j][tap] += __shfl_xor_sync(0xffffffffu, acc[j][tap], 16);
    }
    m[j] += __shfl_xor_sync(0xffffffffu, m[j], 8);
    m[j] += __shfl_xor_sync(0xffffffffu, m[j], 16);
  }
  qsum += __shfl_xor_sync(0xffffffffu, qsum, 8);
  qsum += __shfl_xor_sync(0xffffffffu, qsum, 16);
  if (lane < kGroups) {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
#pragma unroll
      for (int tap = 0; tap < 9; ++tap) red[warp][(c0 + j) * 9 + tap] = acc[j][tap];
      red[warp][kWide * 9 + c0 + j] = m[j];
    }
    if (group == 0) red[warp][kSums - 1] = qsum;
  }
  __syncthreads();
  for (int o = threadIdx.x; o < kSums; o += kThreads) {
    float s = 0.0f;
    for (int w = 0; w < kThreads / 32; ++w) s += red[w][o];
    partial[blockIdx.x * int64_t(kSums) + o] = s;
  }
}

// Adds the chunks in order (in double) and scatters G, M, Q into dw and db of the first or the
// last layer (see the top of the file).
__global__ void wgrad_finish_kernel(const float* __restrict__ partial, int64_t chunks, bool last,
                                    float* dw, float* db) {
  dev::pdl_begin();
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= kSums) return;
  // In chunk order, kFinishAhead chunks' loads in flight (kernels/wgrad_finish.h).
  const double s = chunk_sum<kFinishAhead, double>(partial + o, kSums, chunks);
  if (o < kWide * 9) {
    const int k = o / 9, tap = o % 9;
    dw[k * 9 + (last ? 8 - tap : tap)] = float(s);
  } else if (o < kWide * 10) {
    if (!last && db != nullptr) db[o - kWide * 9] = float(s);
  } else if (last && db != nullptr) {
    db[0] = float(s);
  }
}

unsigned grid_for(int64_t threads) {
  return unsigned(std::clamp<int64_t>((threads + kThreads - 1) / kThreads, 1, 1 << 20));
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// One CTA per tile of the column kernels (c = col_geometry(g)).
unsigned col_grid(const Geometry& g, const ColGeometry& c) {
  const int64_t tiles = (g.P / (g.H * g.W)) * c.down * c.across;
  VDSR_CHECK(tiles < (int64_t(1) << 31), "thin layers: too many tiles in one launch");
  return unsigned(tiles);
}

// A column kernel over g's tiles, its geometry found once.
template <typename... Params, typename... Args>
void launch_columns(void (*kernel)(ColGeometry, Params...), const Geometry& g, cudaStream_t stream, Args... args) {
  const ColGeometry c = col_geometry(g);
  launch_kernel(kernel, col_grid(g, c), kColThreads, 0, stream, c, args...);
}

void check_variant(const char* who, int variant) {
  VDSR_CHECK(variant == 0 || variant == 1, who << ": variant " << variant << " is not 0 (pixels) or 1 (columns)");
}

Geometry check_thin(const char* what, const ConvShape& s, bool first) {
  VDSR_CHECK(s.N >= 1 && s.H >= 1 && s.W >= 1, what << ": bad shape " << s.N << "x" << s.H << "x" << s.W);
  VDSR_CHECK(first ? (s.C == 1 && s.K == kWide) : (s.C == kWide && s.K == 1),
             what << ": the thin layers are " << (first ? "1 -> 64" : "64 -> 1") << " channels, got "
                  << s.C << " -> " << s.K);
  return {s.H, s.W, s.pixels()};
}

void wgrad(const Geometry& g, const __nv_bfloat16* map, const float* plane, bool last, float* dw,
           float* db, cudaStream_t stream, int device) {
  const int64_t chunk = (std::max(kMinChunk, (g.P + kMaxChunks - 1) / kMaxChunks) + 31) / 32 * 32;
  const int64_t chunks = (g.P + chunk - 1) / chunk;
  // The device's scratch block: used by the next two launches on this stream only.
  float* partial = static_cast<float*>(cuda_workspace(device, size_t(chunks) * kSums * sizeof(float)));
  launch_kernel(map_plane_wgrad_kernel, unsigned(chunks), kThreads, 0, stream, g, map, plane, chunk, partial);
  // 64-thread blocks: the 641 sums spread over 11 SMs rather than 3 (each SM a quarter of the loads).
  constexpr int kFinishThreads = 64;
  launch_kernel(wgrad_finish_kernel, (kSums + kFinishThreads - 1) / kFinishThreads, kFinishThreads, 0, stream,
                partial, chunks, last, dw, db);
}

}  // namespace

void conv3x3_first_fwd_bf16_cuda(const ConvShape& s, const float* x, const float* wt,
                                 const float* b, bool relu, __nv_bfloat16* y,
                                 cudaStream_t stream, int variant) {
  const Geometry g = check_thin("conv3x3_first_fwd_bf16_cuda", s, true);
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr && aligned16(y),
             "conv3x3_first_fwd_bf16_cuda: null or misaligned pointer");
  check_variant("conv3x3_first_fwd_bf16_cuda", variant);
  if (variant == 1)
    launch_columns(plane_to_map_columns_kernel<false>, g, stream, x, wt, b, relu, nullptr, y);
  else
    launch_kernel(plane_to_map_kernel<false>, grid_for(g.P * kGroups), kThreads, 0, stream, g, x, wt, b, relu,
                  nullptr, y);
}

void conv3x3_first_bwd_weight_bf16_cuda(const ConvShape& s, const float* x,
                                        const __nv_bfloat16* dy, float* dw, float* db,
                                        cudaStream_t stream, int device) {
  const Geometry g = check_thin("conv3x3_first_bwd_weight_bf16_cuda", s, true);
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr && aligned16(dy),
             "conv3x3_first_bwd_weight_bf16_cuda: null or misaligned pointer");
  wgrad(g, dy, x, false, dw, db, stream, device);
}

void conv3x3_last_fwd_bf16_cuda(const ConvShape& s, const __nv_bfloat16* x, const float* wt,
                                const float* b, const float* skip, float* y,
                                cudaStream_t stream, int variant) {
  const Geometry g = check_thin("conv3x3_last_fwd_bf16_cuda", s, false);
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr && aligned16(x),
             "conv3x3_last_fwd_bf16_cuda: null or misaligned pointer");
  check_variant("conv3x3_last_fwd_bf16_cuda", variant);
  if (variant == 1)
    launch_columns(map_to_plane_columns_kernel, g, stream, x, wt, b, skip, y);
  else
    launch_kernel(map_to_plane_kernel, grid_for((g.P + 3) / 4 * 32), kThreads, 0, stream, g, x, wt, b, skip, y);
}

void conv3x3_last_bwd_data_bf16_cuda(const ConvShape& s, const float* dy, const float* wt,
                                     const __nv_bfloat16* relu_src, __nv_bfloat16* dx,
                                     cudaStream_t stream, int variant) {
  const Geometry g = check_thin("conv3x3_last_bwd_data_bf16_cuda", s, false);
  VDSR_CHECK(dy != nullptr && wt != nullptr && dx != nullptr && aligned16(dx) &&
                 (relu_src == nullptr || aligned16(relu_src)),
             "conv3x3_last_bwd_data_bf16_cuda: null or misaligned pointer");
  check_variant("conv3x3_last_bwd_data_bf16_cuda", variant);
  if (variant == 1)
    launch_columns(plane_to_map_columns_kernel<true>, g, stream, dy, wt, nullptr, false, relu_src, dx);
  else
    launch_kernel(plane_to_map_kernel<true>, grid_for(g.P * kGroups), kThreads, 0, stream, g, dy, wt, nullptr,
                  false, relu_src, dx);
}

void conv3x3_last_bwd_weight_bf16_cuda(const ConvShape& s, const __nv_bfloat16* x,
                                       const float* dy, float* dw, float* db,
                                       cudaStream_t stream, int device) {
  const Geometry g = check_thin("conv3x3_last_bwd_weight_bf16_cuda", s, false);
  VDSR_CHECK(x != nullptr && dy != nullptr && dw != nullptr && aligned16(x),
             "conv3x3_last_bwd_weight_bf16_cuda: null or misaligned pointer");
  wgrad(g, x, dy, true, dw, db, stream, device);
}

}  // namespace vdsr
