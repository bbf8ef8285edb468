// vdsr_bench --nodes: where the time of one training iteration and of one HD frame goes, op by op.
//
// The model calls a marker after queueing each op (Vdsr::set_op_marker). On a GPU the marker
// records a CUDA event there, so the iteration's recorded graph holds an event node after every op
// and one replay yields every op's time, launch gaps included, as the product runs it; the same
// iteration launched op by op from the host gives a second column (where the host's launch cost
// shows). The frame runs as vdsr_sr runs it (forward, no graph). On the CPU the marker reads the
// wall clock (a profile of the CPU backend, and a dry run of the tables).
//
// Beside the tables: the iteration and the frame timed without markers (what the markers cost),
// and on a GPU the floor of a node: the gap between two event nodes with nothing between and with
// one empty kernel between, in a graph (the fixed cost every launch pays, measured).
#pragma once

#include <string>

#include "engine/device.h"

namespace vdsr::bench {

struct NodesOptions {
  Device device = Device::cpu();
  std::string precision = "fp32";  // fp32, tf32, bf16 or all (GPU)
  int batch = 64;                  // the iteration's batch of 41 x 41 patches
  int hd_h = 1080, hd_w = 1920;    // the frame
  int reps = 20;                   // timed replays per table; the medians are reported
  std::string json;                // also write the tables here
};

// Prints the tables; returns the process exit status (1 when a table could not be measured).
int run_nodes(const NodesOptions& opt);

}  // namespace vdsr::bench
