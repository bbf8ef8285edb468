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
    if (kBackward) {
      if (relu_src != nullptr) {
        float src[8];
        unpack8(*reinterpret_cast<const uint4*>(relu_src + p * kWide + c0), src);
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[j] = src[j] > 0.0f ? acc[j] : 0.0f;
      }
    } else if (relu) {
#pragma unroll
      for (int j = 0; j < 8; ++j) acc[j] = acc[j] > 0.0f ? acc[j] : 0.0f;
    }
    *reinterpret_cast<uint4*>(out + p * kWide + c0) = pack8(acc);
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
  double s = 0.0;
  for (int64_t c = 0; c < chunks; ++c) s += partial[c * kSums + o];
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
  launch_kernel(wgrad_finish_kernel, (kSums + kThreads - 1) / kThreads, kThreads, 0, stream, partial, chunks, last,
                dw, db);
}

}  // namespace

void conv3x3_first_fwd_bf16_cuda(const ConvShape& s, const float* x, const float* wt,
                                 const float* b, bool relu, __nv_bfloat16* y,
                                 cudaStream_t stream) {
  const Geometry g = check_thin("conv3x3_first_fwd_bf16_cuda", s, true);
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr && aligned16(y),
             "conv3x3_first_fwd_bf16_cuda: null or misaligned pointer");
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
                                cudaStream_t stream) {
  const Geometry g = check_thin("conv3x3_last_fwd_bf16_cuda", s, false);
  VDSR_CHECK(x != nullptr && wt != nullptr && y != nullptr && aligned16(x),
             "conv3x3_last_fwd_bf16_cuda: null or misaligned pointer");
  launch_kernel(map_to_plane_kernel, grid_for((g.P + 3) / 4 * 32), kThreads, 0, stream, g, x, wt, b, skip, y);
}

void conv3x3_last_bwd_data_bf16_cuda(const ConvShape& s, const float* dy, const float* wt,
                                     const __nv_bfloat16* relu_src, __nv_bfloat16* dx,
                                     cudaStream_t stream) {
  const Geometry g = check_thin("conv3x3_last_bwd_data_bf16_cuda", s, false);
  VDSR_CHECK(dy != nullptr && wt != nullptr && dx != nullptr && aligned16(dx) &&
                 (relu_src == nullptr || aligned16(relu_src)),
             "conv3x3_last_bwd_data_bf16_cuda: null or misaligned pointer");
  launch_kernel(plane_to_map_kernel<true>, grid_for(g.P * kGroups), kThreads, 0, stream, g, dy, wt, nullptr, false,
                relu_src, dx);
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
