// The 8 x 8 register-block step shared by the tiled CUDA conv kernels (forward, backward-data,
// backward-weight).
#pragma once

#include <cuda_runtime.h>

namespace vdsr {

// The register block's inner step: acc[i][j] += a[i] * b[j] for the 8 values of (a0, a1) and of
// (b0, b1), one FMA each in a fixed order (the tiled conv kernels' only arithmetic).
__device__ __forceinline__ void fma_outer_8x8(const float4& a0, const float4& a1, const float4& b0,
                                              const float4& b1, float (&acc)[8][8]) {
  const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
  const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
}

// The double-buffered main loop of those kernels: while stage st is multiplied out of shared
// buffer st & 1, stage st + 1 is loaded into registers (load_stage(st + 1)) and then stored into
// the other buffer (store_stage(buf)); one barrier per stage. As / Bs: [2][KK][...] shared
// arrays; each step reads a's float4s at columns tm*4 and A1 + tm*4, b's at tn*4 and B1 + tn*4.
// The caller has loaded, stored and synchronised stage 0.
template <int KK, int A1, int B1, typename AS, typename BS, typename Load, typename Store>
__device__ __forceinline__ void staged_fma_loop(const AS& As, const BS& Bs, int nstage, int tm, int tn,
                                                Load&& load_stage, Store&& store_stage, float (&acc)[8][8]) {
  for (int st = 0; st < nstage; ++st) {
    const int cur = st & 1;
    if (st + 1 < nstage) load_stage(st + 1);
#pragma unroll
    for (int kk = 0; kk < KK; ++kk) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[cur][kk][tm * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[cur][kk][A1 + tm * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][kk][tn * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][kk][B1 + tn * 4]);
      fma_outer_8x8(a0, a1, b0, b1, acc);
    }
    if (st + 1 < nstage) store_stage(cur ^ 1);
    __syncthreads();
  }
}

}  // namespace vdsr
