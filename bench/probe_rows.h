// vdsr_bench --probes (bf16, where "wgmma-3wg" runs): its kernels with parts switched off
// (kernels/conv3x3_bf16_variants.cuh, "probes"), timed at each conv shape beside the kernel itself,
// to say where a forward's, a backward-data's and a weight gradient's time goes: the GEMM alone,
// everything but the GEMM, without the tile copies, without the stores, and the fixed part
// (weights, tables, barriers, the launch). Each twice: with the buffer sets rotated (inputs out of
// L2, as every other conv row) and on one set (inputs in L2, as in the training graph, where a
// layer reads what the layer before it has just written). The weight gradient's rows are its main
// kernel alone (the finish has rows of its own, bench/finish_rows.h). Only probe 0, the kernel
// itself, is checked: bit for bit against the registry's "wgmma-3wg" row on the same operands.
// The other probes' outputs are meaningless by design. Rows: impl "probe" (CUDA builds).
#pragma once

#include <vector>

#include "bench/bench_rows.h"
#include "bench/gpu_common.h"

namespace vdsr::bench {

void ours_probe_rows(const GpuCtx& ctx, const ConvCase& cc, std::vector<Row>& rows);

}  // namespace vdsr::bench
