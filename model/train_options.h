// vdsr_train's options (TrainOptions), as the tool sets them and as checkpoints store them: one
// table of keys (model/train_options.cpp) gives each option's flag, whether it is part of the
// recipe (a resume must not change it) and its stored string.
#pragma once

#include <cstdint>
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
  bool auto_started = false;  // --resume auto found no checkpoint: a new run (set by the trainer)
  std::string recipe;                   // the --recipe preset the options came from ("" if none)
  DatasetOptions data;                  // scales, patch, stride, augmentation, down-scales
  VdsrConfig model;
  InitFan init = InitFan::In;
  std::string init_from;  // a new run's starting weights (a weights file or checkpoint), not --init's
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

// Every option in range (a UserError naming the flag otherwise); --train given.
void check_train_options(const TrainOptions& o);
// The same without asking for --train (--print-config, a checkpoint's record).
void check_option_values(const TrainOptions& o);
// The options a checkpoint's config record describes (keys it lacks at their defaults), each value
// checked as its flag's would be: a UserError naming the flag otherwise.
TrainOptions options_from_config(const std::map<std::string, std::string>& config);
// What a new run's options leave without effect, in words, for warnings: flags in `typed` (those on
// the command line) that the other options ignore (--momentum with Adam, --clip with --clip-mode
// none, ...), a preset's --clip under the command line's other --clip-mode (`from_recipe`: the
// flags a preset set), and a warm-up not shorter than the run.
std::vector<std::string> inert_options(const TrainOptions& o, const std::set<std::string>& typed,
                                       const std::set<std::string>& from_recipe);
// check_option_values' bounds on the model's shape.
constexpr int kMaxDepth = 1000, kMaxChannels = 4096;

// The recipe part of a config record as "key=value ..." (the final weights' metadata); keys with
// an empty value (no --init-from, no --downscales) are left out.
std::string describe_recipe(const std::map<std::string, std::string>& config);

}  // namespace vdsr
