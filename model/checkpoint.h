// Training checkpoints: a weights file (model/weights_io.h) with metadata "kind": "checkpoint",
// the optimizer state in the parameters' layout (optim.momentum.layers.{i}.*: SGD's velocity or
// Adam's first moments; optim.second_moment.layers.{i}.*: Adam's second moments, Adam/AdamW runs
// only; optim.ema.layers.{i}.*: the EMA of the weights, runs with --ema only), the run state as
// tensors, and the run's configuration in the metadata as "config.<key>" strings. The layers.*
// tensors are the raw (not averaged) weights, so a loader of weights given a checkpoint gets those.
//   state.step        I64 [1]  optimizer steps taken
//   state.epoch       I64 [1]  epochs completed (= step / steps per epoch; a mid-epoch checkpoint
//                              has step past epoch * steps per epoch)
//   state.seed        I64 [1]  the run's seed (bit pattern of the uint64): with step, the whole
//                              data order (model/patches.h batch_indices is a pure function of
//                              them)
//   state.lr          F64 [1]  learning rate of the epoch in progress (informational: it follows
//                              from the epoch and the recipe)
//   state.loss_sum    F64 [1]  sum and count of the losses logged so far in the epoch in progress,
//   state.loss_count  I64 [1]  so a resumed epoch reports the same mean loss
//   state.clip_bound  I64 [1]  how many of those logged steps the norm clip bound (the epoch's
//                              "the clip sets the step length" warning)
//   state.seconds     F64 [1]  training wall time so far, over every process of the run
//   state.last_loss   F64 [1]  the loss read back last (a log point or an epoch's end)
// and, while an epoch's record is unscored, metadata "state.epoch_record" (TrainState below), and
// metadata "state.tensors_digest": a digest of every tensor (io/digest.h; name, dtype, shape, bytes
// in file order), checked on load, so a file damaged on disk is refused rather than resumed.
// Loading accepts older checkpoints without the optional state.* tensors (defaults: 0, and NaN
// for state.last_loss: no loss known).
// Weight loaders accept a checkpoint and ignore the optim.* and state.* tensors.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "model/vdsr.h"

namespace vdsr {

struct TrainState {
  int64_t step = 0;   // optimizer steps taken
  int64_t epoch = 0;  // epochs completed
  uint64_t seed = 0;
  double lr = 0.0;
  double loss_sum = 0.0;
  int64_t loss_count = 0;
  int64_t clip_bound = 0;  // logged steps of the epoch in progress where the norm clip bound
  double seconds = 0.0;
  double last_loss = NAN;  // the loss at the last agreement point (a log point or an epoch's end)
  // The record of the epoch that ended at `step` before its validation (JSON), while rank 0 has not
  // written it: a stop request cut the validation short and the resumed run scores it. Metadata
  // "state.epoch_record"; empty otherwise.
  std::string epoch_record;
  std::map<std::string, std::string> config;  // the run's options, stored as metadata
};

// Written atomically (temp file, fsync, rename): a reader sees the old file or the new one whole.
void save_checkpoint(const std::string& path, const Vdsr& model, const TrainState& state);

struct LoadedCheckpoint {
  std::unique_ptr<Vdsr> model;  // parameters and optimizer state restored
  TrainState state;
};
LoadedCheckpoint load_checkpoint(const std::string& path, Device device);

}  // namespace vdsr
