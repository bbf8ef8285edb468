// vdsr_bench's rows of the bf16 mode's thin layers: every "thin-*" row of the conv registry
// (kernels/conv_variants.cu) for the first layer (1 -> 64: forward, weight gradient) and the last
// (64 -> 1: forward with the residual, backward-data with the ReLU mask, weight gradient) of a
// batch of N x H x W images, verified and then timed the way the network runs them (CUDA builds).
#pragma once

#include <cstdint>
#include <vector>

#include "bench/bench_rows.h"
#include "bench/gpu_common.h"

namespace vdsr::bench {

void ours_thin_rows(const GpuCtx& ctx, int64_t N, int64_t H, int64_t W, std::vector<Row>& rows);

}  // namespace vdsr::bench
