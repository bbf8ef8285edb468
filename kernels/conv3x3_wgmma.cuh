// Launcher of the Hopper (sm_90a, wgmma) bf16 3x3 convolution, 64 -> 64, shared by the forward
// (bias, ReLU) and the backward-data (flipped weights, ReLU mask); kernel and layout notes in
// kernels/conv3x3_wgmma_sm90a.cu. Only in builds with VDSR_HAVE_WGMMA; callers go through the
// variant choice of kernels/conv3x3_bf16_variants.cuh, which runs it on compute 9.0 devices only.
// Arguments as mma::launch_conv (kernels/conv3x3_mma.cuh); the shape and pointers are checked by
// the caller.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include "kernels/conv_shape.h"

namespace vdsr {
namespace wgmma {

// The dynamic shared memory one CTA of launch_conv (`wgs` warpgroups) / launch_wgrad (`cluster`)
// takes at shape s: the registry offers a row only where the device grants it (max_dynamic_smem,
// which a test may cap below the device's own limit).
size_t conv_smem_bytes(int wgs, const ConvShape& s);
size_t wgrad_smem_bytes(const ConvShape& s, int cluster);

// wgs: warpgroups per CTA, 1 (two CTAs per SM) or 2 or 3 (one CTA, taking turns). mask_prefetch
// (3 warpgroups only): the backward-data's mask lines asked into L2 while the tile is staged and
// loaded all at once in the epilogue. weights_ready: wg was written before the kernel ahead of this
// one in the stream was queued, so the kernel may copy it in before waiting for that kernel under
// programmatic dependent launch (kernels/pdl.cuh).
void launch_conv(int wgs, bool mask_prefetch, const ConvShape& s, const __nv_bfloat16* x,
                 const __nv_bfloat16* wg, const float* bias, const __nv_bfloat16* mask, bool relu,
                 __nv_bfloat16* y, bool weights_ready, cudaStream_t stream, const char* who);

// The weight gradient's partial sums, chunk by chunk, in the layout of conv3x3_mma.cuh's WGrad
// (part [chunks][3][64][192], part_b [chunks][64]); the caller adds the chunks in order. cluster 1:
// one chunk per CTA (one CTA per multiprocessor); cluster 2, 4 or 8: CTAs in thread block clusters
// of that many, which add their sums in shared memory first, one chunk per cluster (that many times
// fewer partial bytes). Any other cluster is an Error naming `who`.
struct WgradChunks {
  int chunks;           // partials written: what the finish adds
  int tiles_per_chunk;  // tiles per CTA
  int ctas;             // CTAs launched (chunks x cluster; a cluster's last CTAs may have no tiles)
};
WgradChunks wgrad_chunks(const ConvShape& s, int cluster, const char* who);
// Whether the current device places at least one cluster of `cluster` CTAs of the weight gradient
// at shape s (with its shared memory), so that wgrad_chunks and launch_wgrad can run.
bool wgrad_cluster_fits(const ConvShape& s, int cluster);
void launch_wgrad(const ConvShape& s, int cluster, const __nv_bfloat16* x, const __nv_bfloat16* dy,
                  float* part, float* part_b, cudaStream_t stream, const char* who);

// Probes, for measurement only (vdsr_bench --probes; docs/kernels.md, "Probes"): the 3-warpgroup
// conv kernel and the unclustered weight-gradient kernel with parts switched off, launched exactly
// as launch_conv / launch_wgrad launch them, so that timing them says where the kernels' time goes.
// Their outputs are meaningless (a probe without loads multiplies whatever shared memory holds).
// probe: 0 (the kernel itself) or one of kProbeNoGemm, kProbeNoLoads, kProbeNoStores,
// kProbeNoLoads | kProbeNoStores (the GEMM alone) and all three (the fixed part: weights, tables,
// barriers, the launch); any other value is an Error.
constexpr int kProbeNoGemm = 1;    // no wgmma (accumulators zero): staging, tables, epilogue
constexpr int kProbeNoLoads = 2;   // no copies of the input tiles into shared memory
constexpr int kProbeNoStores = 4;  // no global stores of the results (nor the mask's loads)
void launch_conv_probe(int probe, const ConvShape& s, const __nv_bfloat16* x, const __nv_bfloat16* wg,
                       const float* bias, const __nv_bfloat16* mask, bool relu, __nv_bfloat16* y,
                       cudaStream_t stream);
void launch_wgrad_probe(int probe, const ConvShape& s, const __nv_bfloat16* x, const __nv_bfloat16* dy,
                        float* part, float* part_b, cudaStream_t stream);

}  // namespace wgmma
}  // namespace vdsr
