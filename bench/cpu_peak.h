// The CPU's multiply-add peak, measured: the denominator of the CPU rows' "% of peak" column (the
// brief's CPU target is a share of the cores' FMA peak). Each thread runs independent chains of
// fused multiply-adds in the vector width of one ISA path (engine/cpu_features.h), enough chains to
// cover the FMA units' latency, so nothing but the units' issue rate bounds it; the generic path,
// which has no FMA, counts a multiply and an add as its two flops.
#pragma once

#include "engine/cpu_features.h"

namespace vdsr::bench {

// GFLOP/s (2 per multiply-add per lane) of `threads` threads together for the `isa` path, the best
// of `runs` runs of at least `seconds` each.
double cpu_fma_peak_gflops(Isa isa, int threads, double seconds = 0.1, int runs = 3);

}  // namespace vdsr::bench
