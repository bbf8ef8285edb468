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
// Files in `out`: checkpoint.safetensors (model/checkpoint.h; at every epoch end, on a stop request
// and at --max-steps), train.jsonl (one record per logged step and per epoch), curve.svg (loss and
// validation PSNR against epoch, redrawn at every epoch end) and, when the last epoch is done,
// vdsr.safetensors (weights with the recipe and commit in the metadata).
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
#include "model/dataset.h"
#include "model/lr_schedule.h"
#include "model/vdsr.h"

namespace vdsr {

// The defaults are the bundled model's recipe (model/recipes.h "bundled"): the one measured to
// train well; the paper's own words ("paper") collapsed here (docs/training.md).
struct TrainOptions {
  TrainOptions() { step.lr = 0.01; }
  std::vector<std::string> train, val;  // folders of HR images / validation sets
  std::string out, resume;              // resume: a checkpoint, or "auto" (<out>/checkpoint if any)
  std::string recipe;                   // the --recipe preset the options came from ("" if none)
  DatasetOptions data;                  // scales, patch, stride, augmentation, down-scales
  VdsrConfig model;
  InitFan init = InitFan::In;
  int batch = 64;
  int epochs = 90, epoch_iters = 1000, lr_step = 70;
  LrSchedule lr_schedule = LrSchedule::Step;
  int64_t warmup_steps = 0;
  double lr_min = 0.0;
  StepOptions step;  // step.lr is the starting rate; the schedule sets each step's
  uint64_t seed = 1;
  int log_every = 10;
  int64_t max_steps = 0;  // stop after this many steps in this process (0: no limit)
  Device device = Device::cpu();  // chosen by the tool from -g/--gpu
  std::string precision = "fp32";
  std::string json;       // optional summary file
  // Long flag names ("--patch") given on the command line. On resume, options not given are
  // taken from the checkpoint's config; given ones that differ from it are an error naming them.
  std::set<std::string> given;
};

struct TrainHooks {
  // Set (to the signal number) by a SIGINT/SIGTERM handler: the loop finishes the current step,
  // writes a checkpoint and returns with `stopped_by_signal` set.
  const std::atomic<int>* stop = nullptr;
  // Called before each step with the global step index (tests use it to poison the weights).
  std::function<void(Vdsr& model, int64_t step)> before_step;
};

struct TrainResult {
  int64_t step = 0;            // global steps taken when the loop returned
  int64_t epoch = 0;           // epochs completed
  int64_t steps_this_run = 0;  // steps taken by this call
  bool finished = false;       // every epoch done; vdsr.safetensors written
  int stopped_by_signal = 0;   // the signal number when a stop request ended the loop
  bool hit_max_steps = false;
  double loss = 0.0;           // the last loss read back (NaN if none was)
  std::string checkpoint;      // the checkpoint written last ("" if none in this call)
};

// Option values by name (each an Error naming its flag and the accepted words otherwise).
Optimizer parse_optimizer(const std::string& v);    // sgd | adam | adamw
ClipMode parse_clip_mode(const std::string& v);     // norm | value | none
LrSchedule parse_lr_schedule(const std::string& v); // step | cosine | constant
InitFan parse_init(const std::string& v);           // fan-in | fan-out
const char* init_name(InitFan f);

// The config record stored in checkpoints ("config.<key>" metadata): recipe and run options.
std::map<std::string, std::string> train_config_record(const TrainOptions& o);

// Applies a checkpoint's config to `o` for resuming: keys whose flag is not in o.given are taken
// from the checkpoint; given flags whose value differs are collected and thrown as one Error
// naming each flag, its value and the checkpoint's. Recipe keys (those that decide the batches or
// the arithmetic) must match; epochs, log_every, val, train folders are taken when not given and
// may be changed.
void merge_checkpoint_config(TrainOptions& o, const std::map<std::string, std::string>& ckpt);

// Runs (or resumes) training. Throws Error on bad options, unreadable data, a conflicting resume,
// and a non-finite loss (the message names the step; the last checkpoint written before it is
// left untouched).
TrainResult run_training(TrainOptions o, const TrainHooks& hooks = {});

}  // namespace vdsr
