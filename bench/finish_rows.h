// vdsr_bench's rows of the 64 -> 64 weight gradient's ordered finish alone (kernels/wgrad_finish.h),
// at one partial per SM (the chunks the Hopper weight gradient writes at most): the model's kernel,
// which walks the partials, beside the kernel as it was, which walked dw with the plain loop. Both
// add the same terms in the same order, so each is checked bit for bit against the CPU's finish of
// the same partials before it is timed (CUDA builds). The partials stay in L2, as after the weight
// gradient that writes them. No FLOP count (one add per load: memory work); the GB/s read is in
// the JSON's extra.
#pragma once

#include <vector>

#include "bench/bench_rows.h"
#include "bench/gpu_common.h"

namespace vdsr::bench {

void ours_finish_rows(const GpuCtx& ctx, int chunks, std::vector<Row>& rows);

}  // namespace vdsr::bench
