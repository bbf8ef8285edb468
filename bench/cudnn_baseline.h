// cuDNN rows of vdsr_bench (built when cuDNN was found): every algorithm cuDNN's legacy API offers
// for each conv op at a case's shape, in fp32 with FMA math (no tensor cores: the like-for-like
// baseline of our fp32 kernels), in fp32 data with TF32 tensor-op math, and in bf16 data with fp32
// compute and tensor-op math (precision "bf16", math "bf16-tensor-op": the baseline of our bf16
// kernels), with both filter layouts cuDNN accepts next to NHWC activations (KCRS = our OIHW
// weights, and KRSC).
//
// cuDNN's best time per (op, shape, precision), e.g. its best bf16 forward at 64x41x41, is not
// returned separately: print_table (bench_rows.h) takes it from these rows for the xcuDNN column
// of our rows of the same precision, and names the algorithm in their JSON (cudnn_best_algo).
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "bench/bench_rows.h"
#include "bench/gpu_common.h"

namespace vdsr::bench {

void cudnn_conv_rows(const GpuCtx& ctx, const ConvCase& cc, std::vector<Row>& rows);
void cudnn_facts(nlohmann::json& meta);

}  // namespace vdsr::bench
