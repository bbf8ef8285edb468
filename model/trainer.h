// The training loop of vdsr_train as a library (the tool is a thin flag parser over it, and the
// tests drive it in-process).
//
// Recipe: SGD with momentum, Adam or AdamW on the Caffe Euclidean loss (model/vdsr.h), the lr of
// each step from model/lr_schedule.h, an optional EMA of the weights (validation and the final
// weights use it), named presets in model/recipes.h. An epoch = epoch_iters steps (0: one full
// pass, ceil(patches / batch)). Batch `step`
// holds the patches batch_indices(count, batch, step, seed) (model/patches.h), so (seed, step) is
// the whole data-order state and a resumed run sees exactly the batches of the uninterrupted one.
//
// Files in `out`: checkpoint.safetensors (model/checkpoint.h; at every epoch end, before the
// epoch's validation, which a stop request cuts short and a resumed run then does; on a stop
// request and at
// --max-steps), train.jsonl (one record per logged step and per epoch), curve.svg (loss and
// validation PSNR against epoch, redrawn at every epoch end) and, when the last epoch is done,
// vdsr.safetensors (weights with the recipe and commit in the metadata).
//
// Many processes (docs/training.md, "Many processes"): launched by mpirun or srun, the ranks
// (engine/collective.h) split every batch: --batch is the global batch, rank r takes slice r of
// batch_indices(count, batch, step, seed), and each step averages the gradient over the ranks
// (Vdsr::set_collective), so the run, its data order and its checkpoints are the same at any
// width. At agreement points (log points and epoch ends; every step with one process) the ranks
// average their losses into the global batch's, and agree on a stop request (a signal on any rank)
// and on the first non-finite step, so every rank leaves the loop at the same step and none is
// left waiting in a collective. Rank 0 alone validates and writes the files; after each epoch's
// validation the ranks agree again on a stop request (and whether the record was written).
//
// On the GPU, batch k+1 is assembled on the host while step k runs (steps are queued with
// Vdsr::train_step_async; the copy of the next batch into the device buffers waits for the step),
// and the loss is read back only at log points and epoch ends.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/device.h"
#include "model/train_options.h"
#include "model/vdsr.h"

namespace vdsr {

struct TrainHooks {
  // Set (to the signal number) by a SIGINT/SIGTERM handler: the loop finishes the current step (an
  // epoch's validation stops at the next image), writes a checkpoint and returns with
  // `stopped_by_signal` set.
  const std::atomic<int>* stop = nullptr;
  // Called before each step with the global step index (tests use it to poison the weights).
  std::function<void(Vdsr& model, int64_t step)> before_step;
  // Called after each step is queued, with the steps taken (tests read the weights of each rank).
  std::function<void(Vdsr& model, int64_t steps)> after_step;
  // Called on every rank at an epoch's end, once the ranks have agreed there and before rank 0
  // scores the epoch (tests ask another rank to stop here: a request that arrives while rank 0
  // validates).
  std::function<void(int64_t epoch)> before_report;
};

struct TrainResult {
  int64_t step = 0;            // global steps taken when the loop returned
  int64_t epoch = 0;           // epochs completed
  int64_t steps_this_run = 0;  // steps taken by this call
  bool finished = false;       // every epoch done; vdsr.safetensors written
  int stopped_by_signal = 0;   // the signal number when a stop request ended the loop (on any rank)
  bool hit_max_steps = false;
  double loss = 0.0;           // the last loss read back (NaN if none was)
  std::string checkpoint;      // the checkpoint written last ("" if none in this call)
};

// Runs (or resumes) training. Throws Error on bad options, unreadable data, a conflicting resume,
// and a non-finite loss (the message names the step; the last checkpoint written before it is
// left untouched).
TrainResult run_training(TrainOptions o, const TrainHooks& hooks = {});

// The options the run goes on with, as run_training takes them, without training: --resume auto
// resolved, a checkpoint's config merged (recipe options that differ refused, and fewer epochs than
// it has done), the network's shape from the checkpoint's or --init-from's tensors, and --out
// refused where it holds another run. For --print-config.
TrainOptions resolved_options(TrainOptions o);

// Whether `o` continues a run: --resume FILE, or --resume auto where --out holds a checkpoint.
bool resumes_a_run(const TrainOptions& o);

// After a run failed with `error` (rank 0, --json given): writes {"finished": false, "error", and
// "checkpoint": the --out folder's checkpoint if there is one, else ""} unless this process has
// written its summary already (a non-finite loss writes a fuller one), so that a script reading
// --json never finds an earlier run's summary there. Quietly nothing if it cannot be written.
void write_failed_summary(const TrainOptions& o, const std::string& error);

// The checks of the model's and one batch's memory on o.device that run_training makes before it
// allocates (for --print-config, which must refuse what the run would); `ranks` share the batch.
void check_run_fits(const TrainOptions& o, int ranks);

}  // namespace vdsr
