// The two implementations of the bf16 64 -> 64 forward and backward-data (one kernel serves both):
//   0 "mma.sync": warp-level tensor-core MMA (kernels/conv3x3_mma.cuh), compute 8.0 and later,
//     each CTA computing all 64 output channels: its weights and staged tile need up to 131 KB of
//     shared memory (106 KB at the training shape), more than the 99 KB that compute 8.6 / 8.9
//     devices grant a CTA;
//   5 "mma.sync-co32": the same kernel with 32 output channels per CTA (two slices; at most 94 KB,
//     so it fits those devices at every shape), bit for bit the same outputs;
//   1 "wgmma-1wg", 2 "wgmma-2wg", 3 "wgmma-3wg": Hopper's warpgroup MMA
//     (kernels/conv3x3_wgmma_sm90a.cu) with 1, 2 or 3 warpgroups per CTA; compute 9.0 devices, in
//     builds whose CUDA architectures include 90 (compiled for sm_90a);
//   4 "wgmma-3wg-maskpf": 3 with the backward-data's ReLU mask prefetched into L2 while the tile
//     is staged (the same as 3 without a mask).
// The launchers take the variant; the registry (kernels/conv_variants.cuh) names them, lists them
// fastest first and picks the default (wgmma-3wg where usable).
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {

// Whether this build has the variant and the current device can run it at shape s (mma.sync's:
// where its shared memory fits).
bool conv3x3_bf16_variant_usable(int variant, const ConvShape& s);

// The weight gradient's: 0 "mma.sync" (conv3x3_mma.cuh), 1 "wgmma-3wg" (conv3x3_wgmma_sm90a.cu,
// the three tap rows in three warpgroups), 2, 3, 4 "wgmma-3wg-cluster2/4/8" (the same in thread
// block clusters of 2, 4 or 8 CTAs that add their sums in shared memory before writing them),
// usable where the forward's are (mma.sync's: where its shared memory, at most 75 KB, fits) and,
// clustered, where such a cluster fits the device at shape s (not on every compute 9.0 device: a
// MIG slice or an MPS limit may hold too few SMs).
bool conv3x3_bf16_wgrad_variant_usable(int variant, const ConvShape& s);

// An Error naming `who` unless the current device has bf16 tensor cores (compute 8.0 or later).
void require_bf16_tensor_cores(const char* who);

// The forward (bias, relu) or backward-data (mask) of conv3x3_fwd_bf16_cuda and
// conv3x3_bwd_data_bf16_cuda: checks the arguments, then runs the variant (an Error when it is out
// of range or not usable here). weights_ready as wgmma::launch_conv.
void conv3x3_bf16_launch(int variant, const ConvShape& s, const __nv_bfloat16* x,
                         const __nv_bfloat16* wg, const float* bias, const __nv_bfloat16* mask,
                         bool relu, __nv_bfloat16* y, bool weights_ready, cudaStream_t stream,
                         const char* who);

// Probes, for measurement only (vdsr_bench --probes; docs/kernels.md, "Probes"): the kernels of
// "wgmma-3wg" (the forward / backward-data kernel, and the weight gradient's unclustered one) with
// parts switched off, to time where their time goes. probe: 0 the kernel itself, 1 no GEMM, 2 no
// copies of the input tiles, 4 no stores of the results, 6 the GEMM alone (no copies, no stores),
// 7 the fixed part (weights, tables, barriers, the launch). Outputs are meaningless but for probe 0.
// Usable where "wgmma-3wg" is (else an Error). The weight gradient's probes write the partial sums
// of conv3x3_bf16_probe_wgrad_chunks(s) chunks (part [chunks][3][64][192], part_b [chunks][64]),
// which kernels/conv3x3_mma.cuh's ordered finish turns into dw and db.
bool conv3x3_bf16_probes_usable();
void conv3x3_bf16_probe_conv(int probe, const ConvShape& s, const __nv_bfloat16* x,
                             const __nv_bfloat16* wg, const float* bias, const __nv_bfloat16* mask,
                             bool relu, __nv_bfloat16* y, cudaStream_t stream);
int conv3x3_bf16_probe_wgrad_chunks(const ConvShape& s);
void conv3x3_bf16_probe_wgrad(int probe, const ConvShape& s, const __nv_bfloat16* x,
                              const __nv_bfloat16* dy, float* part, float* part_b, cudaStream_t stream);

}  // namespace vdsr
