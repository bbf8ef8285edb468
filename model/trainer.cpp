#include "model/trainer.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "engine/atomic_file.h"
#include "engine/buffer.h"
#include "engine/collective.h"
#include "engine/error.h"
#include "engine/file_kind.h"
#include "engine/folder_lock.h"
#include "engine/log.h"
#include "engine/values.h"
#include "image/image_io.h"
#include "io/digest.h"
#include "io/file_plan.h"
#include "io/json_text.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/patches.h"
#include "model/train_log.h"
#include "model/train_validation.h"
#include "model/weights_io.h"
#include "vdsr_version.h"

namespace fs = std::filesystem;

namespace vdsr {

namespace {

using Clock = std::chrono::steady_clock;

// Whether this process wrote its --json summary (write_failed_summary then leaves it).
std::atomic<bool> g_summary_written{false};

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// What a run starts from: a checkpoint's model and state (its options merged into `o`), or
// nothing yet for a new run (refused when `out` already holds one).
struct OpenedRun {
  std::unique_ptr<Vdsr> model;
  TrainState state;
  std::map<std::string, std::string> ckpt_config;
};

// The network's shape from a file's tensors (a checkpoint, --init-from's weights) where the
// command line leaves it out; given flags must agree with the file.
void take_shape(TrainOptions& o, const VdsrConfig& file, const std::string& path) {
  if (o.given.count("--depth") == 0) o.model.depth = file.depth;
  if (o.given.count("--channels") == 0) o.model.channels = file.channels;
  if (o.given.count("--no-bias") == 0) o.model.bias = file.bias;
  VDSR_USER_CHECK(o.model == file, "the command line's model (" << o.model.describe() << ") differs from "
                                   << printable(path) << "'s (" << file.describe()
                                   << "): leave out --depth, --channels and --no-bias to take the file's");
}

// Whether two paths name one file (false when either is missing).
bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::equivalent(a, b, ec) && !ec;
}

// What names a run in its config record: its recipe and its training set, not the options a
// resume may change, nor the build or the number of processes that wrote it.
std::string run_identity(const std::map<std::string, std::string>& config) {
  std::string id = describe_recipe(config);
  for (const char* key : {"patches", "images", "patches_digest"})
    if (const auto it = config.find(key); it != config.end())
      id += std::string(" ") + key + "=" + it->second;
  return id;
}

// A checkpoint in --out other than the one resumed must be this run's at the same step or an
// earlier one (a node's copy of it, the run's folder behind its copy): another run's would be
// replaced by this one's and its log trimmed into this one's, and a later one of this run would
// lose the steps after the resumed one. Refused in words, as a new run into that folder is.
void check_out_checkpoint(const TrainOptions& o, const std::string& ckpt_path,
                          const TrainState& resumed) {
  std::error_code ec;
  if (!fs::exists(ckpt_path, ec) || same_file(o.resume, ckpt_path)) return;
  TrainState there;
  try {
    there = load_checkpoint(ckpt_path, Device::cpu()).state;
  } catch (const Error& e) {
    VDSR_USER_FAIL(o.out << " holds a checkpoint that cannot be read (" << e.message()
                         << "); resuming " << printable(o.resume)
                         << " there would replace it: move it away first");
  }
  VDSR_USER_CHECK(
      run_identity(there.config) == run_identity(resumed.config),
      o.out << " already holds another run (" << ckpt_path << "), which resuming "
            << printable(o.resume)
            << " there would replace: give another --out, or move that checkpoint away first");
  VDSR_USER_CHECK(there.step <= resumed.step,
                  o.out << " holds this run at step " << there.step << " (" << ckpt_path
                        << "), later than " << printable(o.resume) << "'s step " << resumed.step
                        << ": resuming there would lose the steps between; move that checkpoint "
                           "away first to go back");
}

OpenedRun open_run(TrainOptions& o, const std::string& ckpt_path) {
  OpenedRun run;
  if (!o.resume.empty()) {
    std::error_code ec;
    VDSR_USER_CHECK(fs::exists(o.resume, ec),
                    "--resume " << printable(o.resume) << ": no such file");
    LoadedCheckpoint ck = load_checkpoint(o.resume, o.device);
    check_out_checkpoint(o, ckpt_path, ck.state);
    run.ckpt_config = ck.state.config;
    // A value no run writes (a damaged or hand-edited record) is the file's fault, not a flag's.
    try {
      (void)options_from_config(run.ckpt_config);
      for (const char* key : {"patches", "images"})
        if (const auto it = run.ckpt_config.find(key); it != run.ckpt_config.end())
          VDSR_USER_CHECK(parse_int64(it->second, std::string("config ") + key) >= 1,
                          "config " << key << " must be at least 1, got " << it->second);
    } catch (const UserError& e) {
      VDSR_USER_FAIL(printable(o.resume) << ": the checkpoint's stored options are not ones a run writes (the "
                     << "file is damaged or was edited): " << e.message());
    }
    // A resume may score other --val sets; the curve draws the first set's PSNR as one line, and
    // the records' val_psnr_x* change meaning with it: said, not drawn as a sudden rise or fall.
    const std::string val_before = run.ckpt_config.count("val") ? run.ckpt_config.at("val") : "";
    merge_checkpoint_config(o, run.ckpt_config);
    if (o.given.count("--val") != 0 && !o.val.empty()) {
      const std::vector<std::string> before = split_list(val_before);
      const std::string now = set_name(o.val.front(), "--val");
      if (!before.empty() && set_name(before.front(), "--val") != now)
        log_warning("the first --val set was " + set_name(before.front(), "--val") +
                    " and is now " + now +
                    ": from this epoch on, the curve's validation line and the records' "
                    "val_psnr_x* are " +
                    now + "'s");
    }
    // The run's compute mode goes on, except on the CPU, which has fp32 only.
    if (o.given.count("--precision") == 0 && o.device.is_cpu() && o.precision != "fp32") {
      log_info("the checkpoint's run computed in " + o.precision + "; the CPU computes in fp32 only, so it goes on in fp32");
      o.precision = "fp32";
    }
    if (o.given.count("--precision") == 0)  // the command line's mode was announced when it was parsed
      if (const std::string note = unverified_note(parse_precision(o.precision)); !note.empty()) log_warning(note);
    // The shape comes from the tensors (older checkpoints may not record it in the config).
    take_shape(o, ck.model->config(), o.resume);
    run.model = std::move(ck.model);
    run.state = ck.state;
  } else {
    VDSR_USER_CHECK(!fs::exists(ckpt_path),
               o.out << " already holds a run (" << ckpt_path << "): continue it with --resume "
                     << ckpt_path << " (or --resume auto), or choose another --out");
    // Another run's results without their checkpoint (removed to save space, say): a new run would
    // replace its weights and empty its log. Refused too, before anything is written. Records
    // without a checkpoint or weights are a run stopped before its first checkpoint (killed, or
    // its disk full): nothing can continue them, and --resume auto (a job array's requeued slot
    // repeating its command) starts the run again over them.
    std::string found;
    bool weights = false;
    for (const char* name : {"vdsr.safetensors", "train.jsonl", "curve.svg"}) {
      std::error_code ec;
      const fs::path p = fs::path(o.out) / name;
      if (fs::is_regular_file(p, ec) && fs::file_size(p, ec) > 0 && !ec) {
        found += (found.empty() ? "" : ", ") + std::string(name);
        weights = weights || std::string(name) == "vdsr.safetensors";
      }
    }
    if (!found.empty() && !weights && o.auto_started) {
      log_warning(o.out + " holds the records of a run that wrote no checkpoint (" + found +
                  "; stopped before its first): --resume auto starts the run again over them");
      found.clear();
    }
    VDSR_USER_CHECK(found.empty(),
                    o.out << " holds another run's results (" << found
                          << ") without its checkpoint: a new run would replace them; choose "
                             "another --out, or move them away first"
                          << (weights ? ""
                                      : " (records of a run stopped before its first checkpoint: "
                                        "--resume auto starts that run again over them)"));
    if (!o.init_from.empty()) {
      std::error_code ec;
      VDSR_USER_CHECK(fs::exists(o.init_from, ec),
                      "--init-from " << printable(o.init_from) << ": no such file");
      // Fine-tuning: the file's weights instead of He's; optimizer state and step count start at zero.
      const VdsrWeights w = load_weights(o.init_from);
      VDSR_USER_CHECK(w.config.arch == Arch::Vdsr,
                      "--init-from " << printable(o.init_from) << " is an SRCNN model ("
                                     << w.config.describe() << "); vdsr_train trains VDSR only");
      take_shape(o, w.config, o.init_from);
      // Known only now: a file without biases leaves --bias-lr-mult nothing to act on (a --no-bias
      // given or preset was warned of with the other flags).
      if (!o.model.bias && o.given.count("--bias-lr-mult") != 0 && o.given.count("--no-bias") == 0)
        log_warning("--bias-lr-mult has no effect: --init-from " + printable(o.init_from) +
                    " holds a model without biases");
      run.model = make_model(w, o.device);
    }
  }
  return run;
}

// A resumed run's length against the checkpoint's step, before the training set is built (seconds
// to minutes for nothing): fewer epochs than it has done are refused (--epochs extends a run, it
// cannot shorten one: the weights and records would be rewritten as a shorter run's), and a run
// with every epoch done says so. An epoch of one pass takes its length from the checkpoint's patch
// count, which the set must then match.
void check_epochs_cover(const TrainOptions& o, int64_t step, int64_t iters) {
  VDSR_USER_CHECK(step <= iters * o.epochs,
                  "--epochs " << o.epochs << " ends at step " << iters * o.epochs
                              << ", before the checkpoint's step " << step << ": give --epochs "
                              << (step + iters - 1) / iters << " or more");
}

// Returns whether the checkpoint's run has taken every step.
bool check_resume_length(const TrainOptions& o, const OpenedRun& run) {
  if (o.resume.empty() || run.state.step == 0) return false;
  int64_t iters = o.epoch_iters;
  if (iters <= 0) {
    const auto patches = run.ckpt_config.find("patches");
    if (patches == run.ckpt_config.end()) return false;  // TrainRun checks it once the set is built
    iters = (parse_int64(patches->second, "checkpoint config patches") + o.batch - 1) / o.batch;
  }
  const int64_t step = run.state.step;
  check_epochs_cover(o, step, iters);
  // (Its last epoch's record may still be pending: the run then scores it, and trains nothing.)
  if (step != iters * o.epochs) return false;
  // No step, but what a stop left undone (its last validation, the weights) is done now.
  log_info("the checkpoint's run has done all its " +
           (o.epochs == 1 ? std::string("epoch") : std::to_string(o.epochs) + " epochs") + " (" +
           std::to_string(step) + (step == 1 ? " step" : " steps") +
           "): no step left to train (give --epochs " + std::to_string(o.epochs + 1) +
           " or more to train it further)");
  return true;
}

// 52 bits of digest64: exact in a double, so the ranks compare it with coll.max.
double digest52(const void* data, size_t n) { return double(digest64(data, n) >> 12); }

// The training patches in their order, targets and inputs (the inputs also see the pixels around
// a window that bicubic reads), as a checkpoint records them ("digest" and 13 hex digits): the
// batches are a function of them, the seed and the step alone.
std::string patches_digest(const TrainingSet& set) {
  const std::vector<uint8_t>& targets = set.target_patches();
  const std::vector<float>& inputs = set.input_patches();
  const uint64_t h = digest64(inputs.data(), inputs.size() * sizeof(float),
                              digest64(targets.data(), targets.size()));
  char text[32];
  std::snprintf(text, sizeof text, "digest %013llx", static_cast<unsigned long long>(h >> 12));
  return text;
}

// Whether `out` holds everything a finished run writes after its last checkpoint: its log's record
// of the last epoch and its final weights, of this run and this step (they are written last).
bool run_written(const std::string& out, const TrainState& state) {
  std::error_code ec;
  const fs::path weights = fs::path(out) / "vdsr.safetensors";
  if (!fs::is_regular_file(weights, ec)) return false;
  try {
    const auto meta = read_safetensors(weights.string()).metadata;
    const auto at = [&](const std::string& key) {
      return meta.count(key) ? meta.at(key) : std::string();
    };
    const auto digest = state.config.find("patches_digest");
    if (at("steps") != std::to_string(state.step) ||
        at("recipe") != describe_recipe(state.config) || digest == state.config.end() ||
        at("patches_digest") != digest->second)
      return false;
  } catch (const Error&) {
    return false;  // damaged: the run writes it again
  }
  if (state.epoch_record.empty()) return true;
  std::ifstream log(fs::path(out) / "train.jsonl");
  for (std::string line; std::getline(log, line);) {
    try {
      const nlohmann::json r = nlohmann::json::parse(line);
      if (r.is_object() && r.contains("record") && r["record"] == "epoch" && r.contains("step") &&
          r["step"] == state.step)
        return true;
    } catch (const nlohmann::json::exception&) {
    }
  }
  return false;  // the record was cut short: the run scores the epoch and writes it
}

// The patch set of the --train folders; a resumed run must see the checkpoint's patch count (and
// its pixels: check_patches_digest, once TrainRun has the digest).
TrainingSet load_training_set(const TrainOptions& o, const std::map<std::string, std::string>& ckpt_config) {
  std::vector<std::string> files;
  for (const auto& d : o.train)
    for (auto& f : list_image_files_verbose(d, "training folder",
                                            "a training folder is read without its sub-folders"))
      files.push_back(std::move(f));
  VDSR_USER_CHECK(!files.empty(), "no images found in the training folders " << join_list(o.train));
  const TrainingSet set = TrainingSet::build(files, o.data);
  VDSR_USER_CHECK(set.count() > 0, "the training images give no " << o.data.patch << "x" << o.data.patch << " patches");
  {
    const DatasetStats& ds = set.stats();
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "training set: %lld %s, %lld %s, %lld %s of %dx%d (%.1f MB) in %.2f s",
                  static_cast<long long>(ds.images), ds.images == 1 ? "image" : "images",
                  static_cast<long long>(ds.variants), ds.variants == 1 ? "variant" : "variants",
                  static_cast<long long>(set.count()), set.count() == 1 ? "patch" : "patches",
                  o.data.patch, o.data.patch, double(ds.bytes) / 1e6, ds.seconds);
    log_info(buf);
  }
  if (ckpt_config.count("patches"))
    VDSR_USER_CHECK(
        parse_int64(ckpt_config.at("patches"), "checkpoint config patches") == set.count(),
        "the training set gives " << set.count() << " patches but the checkpoint's run had "
                                  << ckpt_config.at("patches")
                                  << ": the batches would differ (other --train folders or images? "
                                     "hidden files, named with a leading '.', are left out)");
  return set;
}

// A resumed run's training patches against its checkpoint's digest of them (where it records one):
// the same count from other pixels, or in another order, would give other batches.
void check_patches_digest(const TrainOptions& o,
                          const std::map<std::string, std::string>& ckpt_config,
                          const std::string& digest, int64_t count) {
  if (const auto it = ckpt_config.find("patches_digest"); it != ckpt_config.end())
    VDSR_USER_CHECK(it->second == digest,
                    "the training set gives the checkpoint's "
                        << count << " patches, but other pixels or in "
                        << "another order (its run's --train: "
                        << printable(ckpt_config.count("train") ? ckpt_config.at("train") : "")
                        << "; now: " << printable(join_list(o.train))
                        << "): the batches would differ. Give the run's "
                        << "folders, with the same images, in the same order; to train on other "
                           "images, start a new run "
                        << "with --init-from " << printable(o.resume));
}

// Resolves --resume auto (the checkpoint in --out, if there is one) and a missing --out (the
// resumed checkpoint's folder); returns the path of the checkpoint in `out`.
std::string resolve_out(TrainOptions& o) {
  if (o.resume == "auto") {
    VDSR_USER_CHECK(!o.out.empty(), "--resume auto needs --out DIR");
    const fs::path ck = fs::path(o.out) / "checkpoint.safetensors";
    o.resume = resumes_a_run(o) ? ck.string() : "";
    o.auto_started = o.resume.empty();
    if (o.resume.empty()) log_info("no checkpoint in " + o.out + ": starting a new run");
  }
  if (!o.resume.empty() && o.out.empty()) {
    const fs::path parent = fs::path(o.resume).parent_path();
    o.out = parent.empty() ? "." : parent.string();
  }
  VDSR_USER_CHECK(!o.out.empty(), "--out DIR is required");
  return (fs::path(o.out) / "checkpoint.safetensors").string();
}

// The --batch of `ranks` processes: each takes an equal slice of every batch.
int local_batch(const TrainOptions& o, int ranks) {
  if (o.batch % ranks != 0 && !o.resume.empty()) {
    // A resumed run keeps its checkpoint's batch: the number of processes is what can change.
    std::string fits;
    for (int n = 1; n <= o.batch && fits.size() < 40; ++n)
      if (o.batch % n == 0) fits += (fits.empty() ? "" : ", ") + std::to_string(n);
    VDSR_USER_FAIL("the checkpoint's run has --batch "
                   << o.batch << " (the global batch, which a resumed run keeps), "
                   << "and " << ranks
                   << " processes cannot share it equally: resume with a number of processes "
                   << "that divides " << o.batch << " (" << fits
                   << (fits.size() >= 40 ? ", ..." : "") << ")");
  }
  VDSR_USER_CHECK(o.batch % ranks == 0,
                  "--batch " << o.batch << " is the global batch and must divide by the number of processes ("
                             << ranks << "): use a multiple of " << ranks << ", e.g. --batch "
                             << std::max(ranks, o.batch / ranks * ranks));
  return o.batch / ranks;
}

// The batch's sizes (this process's slice) are checked against the machine before anything is
// allocated.
void check_batch_memory(const TrainOptions& o, Precision precision, int batch) {
  const size_t area = size_t(o.data.patch) * size_t(o.data.patch);
  const double batch_bytes = double(batch) * double(area) * sizeof(float);
  const double acts = Vdsr::activation_bytes(o.model, precision, int64_t(batch) * int64_t(area), true);
  const double host = 2 * batch_bytes + (o.device.is_cpu() ? acts : 0);
  const uint64_t host_total = memory_bytes(Device::cpu()), dev_total = memory_bytes(o.device);
  const std::string what = "--batch " + std::to_string(o.batch) +
                           (batch != o.batch ? " (" + std::to_string(batch) + " a process)" : std::string());
  // One patch a process is as small as a batch gets: then only the patch can shrink.
  // The layers' activations grow with the network's shape too: named when they are most of the
  // memory refused (on a GPU they are in device memory, and the host holds the batch alone).
  const auto advice = [&](bool with_acts) {
    return std::string(batch > 1 ? "use a smaller --batch or --patch" : "use a smaller --patch") +
           (with_acts && acts > 2 * batch_bytes
                ? ", or a smaller --depth or --channels (the activations of " +
                      std::to_string(o.model.depth) + " layers of " +
                      std::to_string(o.model.channels) + " channels are most of it)"
                : "");
  };
  VDSR_USER_CHECK(host_total == 0 || host <= double(host_total),
                  what << " of " << o.data.patch << "x" << o.data.patch << " patches needs "
                       << format_bytes(host) << " of host memory, more than this machine's "
                       << format_bytes(double(host_total)) << ": " << advice(o.device.is_cpu()));
  VDSR_USER_CHECK(
      o.device.is_cpu() || dev_total == 0 || acts + 2 * batch_bytes <= double(dev_total),
      what << " of " << o.data.patch << "x" << o.data.patch << " patches needs "
           << format_bytes(acts + 2 * batch_bytes) << " on " << o.device.name() << ", which has "
           << format_bytes(double(dev_total)) << ": " << advice(true));
}

// The model's parameters with their training state, checked before the model is made, so that a
// shape too large for the machine is named by its flags rather than as a failed allocation.
void check_model_memory(const TrainOptions& o) {
  // weights, gradient, momentum (Adam: two moments), the EMA's copy
  const int copies = 3 + (o.step.optim.kind != Optimizer::Sgd ? 1 : 0) + (o.step.optim.ema > 0 ? 1 : 0);
  const double bytes = double(param_count(o.model)) * double(sizeof(float)) * copies;
  const uint64_t total = memory_bytes(o.device);
  VDSR_USER_CHECK(total == 0 || bytes <= double(total),
                  "--depth " << o.model.depth << " and --channels " << o.model.channels << " make a model of "
                             << param_count(o.model) << " parameters; with its gradient and optimizer state it needs "
                             << format_bytes(bytes) << (o.device.is_cpu() ? " of host memory" : " on " + o.device.name())
                             << ", more than the " << format_bytes(double(total))
                             << " there: use a smaller --channels or --depth");
}

// Host staging buffers of this rank's slice of one batch; on a GPU, device buffers the slice is
// copied into.
struct Batches {
  Batches(const TrainOptions& o, const TrainingSet& patches, const Collective& c)
      : set(patches), batch(o.batch / c.size()), first(size_t(c.rank()) * size_t(batch)),
        batch_floats(size_t(batch) * size_t(o.data.patch) * size_t(o.data.patch)), hx(batch_floats),
        hy(batch_floats), gpu(o.device.is_cuda()), sampler(patches.count(), o.batch, o.seed) {
    if (gpu) {
      dx = Buffer(o.device, batch_floats * sizeof(float));
      dy = Buffer(o.device, batch_floats * sizeof(float));
    }
  }
  // The input patches as the model reads them (on the device on a GPU).
  const float* x() const { return gpu ? static_cast<const float*>(dx.data()) : hx.data(); }
  const float* y() const { return gpu ? static_cast<const float*>(dy.data()) : hy.data(); }

  const TrainingSet& set;
  const int batch;     // patches of this rank's slice
  const size_t first;  // where the slice starts in the global batch
  const size_t batch_floats;
  std::vector<float> hx, hy;
  Buffer dx, dy;
  const bool gpu;
  BatchSampler sampler;
  bool have_batch = false;  // hx, hy already hold the next step's batch
};

// One run's context, shared by the parts of the loop: the model and its state, the step range,
// the files in `out` (the log, the checkpoint) and this epoch's timings.
class TrainRun {
 public:
  TrainRun(const TrainOptions& o, OpenedRun opened, const TrainingSet& set, std::string ckpt_path,
           Clock::time_point t_process, Collective& coll);

  StepOptions step(Batches& b, const TrainHooks& hooks);
  StepStats agree(const TrainHooks& hooks);
  void poll_stop(const TrainHooks& hooks);
  bool stopped_before_start(const TrainHooks& hooks);
  void log_step(int64_t e, const StepOptions& so, const StepStats& st, Progress& progress);
  void end_epoch(int64_t e, const StepOptions& so, const StepStats& st,
                 const std::vector<ValSet>& val, const Batches& b, Buffer& probe_out,
                 const TrainHooks& hooks);
  void report_resumed_epoch(const std::vector<ValSet>& val, Batches& b, Buffer& probe_out,
                            const TrainHooks& hooks);
  void stop(TrainResult& res, const TrainHooks& hooks);
  void write_outputs(const TrainResult& res);
  void write_summary(const TrainResult& res, const nlohmann::json& last_epoch,
                     const nlohmann::json& failure);

  // The run's wall time: the processes before this one, and this one's unless every step was done
  // before it and it scores no epoch (a later slot of a job array, a --json asked of a done run).
  double run_seconds() const { return seconds_before + (idle() ? 0.0 : seconds_since(t_process)); }
  bool idle() const { return steps_done_before && !scored_here; }

  const TrainOptions& o;
  Collective& coll;
  const bool lead;     // rank 0: validation, files, the epoch lines
  bool clip_warned = false;  // the clip warning is given once
  int stop_signal = 0;  // a stop request, as the ranks agreed on it
  std::unique_ptr<Vdsr> model;
  TrainState state;
  int64_t iters = 0, total = 0, start_step = 0, end_step = 0;
  Clock::time_point t_epoch;
  int64_t epoch_steps = 0;  // steps of the current epoch taken by this process

 private:
  void assemble(Batches& b, int64_t step);
  [[noreturn]] void fail_nonfinite(int64_t bad);
  void check_epoch_record() const;
  void check_ranks_agree();
  void check_replicas();
  nlohmann::json training_record(int64_t e, const StepOptions& so) const;
  void report_epoch(const std::vector<ValSet>& val, const Batches& b, Buffer& probe_out,
                    const TrainHooks& hooks);
  bool epoch_report(const std::vector<ValSet>& val, const Batches& b, Buffer& probe_out,
                    const TrainHooks& hooks);
  void write_record(const nlohmann::json& r);
  void save();
  void save_weights_file(const std::string& path, const nlohmann::json& last_epoch);

  const std::string ckpt_path, log_path;
  const Clock::time_point t_process;
  double seconds_before = 0;
  bool steps_done_before = false;  // a resumed run whose every step was done before this process
  bool scored_here = false;        // this process wrote an epoch record
  LrPlan lr_plan;
  bool ema = false;
  // The checkpoint on disk in `out` holds this step (-1: none yet).
  int64_t saved_step = -1;
  std::map<int64_t, nlohmann::json> epoch_records;
  std::ofstream log;
  double data_s = 0;  // host time assembling batches, this epoch (this process)
};

TrainRun::TrainRun(const TrainOptions& opts, OpenedRun opened, const TrainingSet& set, std::string ckpt,
                   Clock::time_point t0, Collective& c)
    : o(opts), coll(c), lead(c.rank() == 0), model(std::move(opened.model)), state(std::move(opened.state)),
      ckpt_path(std::move(ckpt)), log_path((fs::path(opts.out) / "train.jsonl").string()), t_process(t0) {
  if (!model) {
    model = std::make_unique<Vdsr>(o.model, o.device);
    model->init_he(o.seed, o.init);
  }
  iters = o.epoch_iters > 0 ? o.epoch_iters : (set.count() + o.batch - 1) / o.batch;
  total = iters * o.epochs;
  lr_plan = LrPlan{o.lr_schedule, o.step.lr, o.lr_min, o.lr_step, o.warmup_steps};
  ema = o.step.optim.ema > 0;
  state.seed = o.seed;
  state.epoch = state.step / iters;
  steps_done_before = !o.resume.empty() && state.step >= total;  // not a new run of --epochs 0
  const auto trained_by = state.config.find("ranks");
  const std::string ranks_before = trained_by != state.config.end() ? trained_by->second : "";
  // The --init-from file's contents, which a resume's --init-from is matched by: the checkpoint's
  // record, or the file's for a new run (rank 0's copy is the one its checkpoint records).
  const auto init_digest = state.config.find("init_from_sha256");
  const std::string init_sha = init_digest != state.config.end() ? init_digest->second
                               : o.resume.empty() && !o.init_from.empty()
                                   ? sha256_file_hex(o.init_from)
                                   : "";
  // One pass over the patches (gigabytes): the checkpoint's digest is checked against it, then
  // replaced.
  const std::string digest = patches_digest(set);
  check_patches_digest(o, state.config, digest, set.count());
  state.config = train_config_record(o);
  state.config["patches"] = std::to_string(set.count());
  state.config["patches_digest"] = digest;
  state.config["images"] = std::to_string(set.stats().images);
  state.config["version"] = VDSR_VERSION;
  state.config["commit"] = VDSR_COMMIT;
  if (!init_sha.empty()) state.config["init_from_sha256"] = init_sha;
  // The width of the processes that trained it: this one's, unless it trains nothing.
  state.config["ranks"] =
      steps_done_before && !ranks_before.empty() ? ranks_before : std::to_string(c.size());
  model->set_steps_taken(state.step);
  model->set_precision(parse_precision(o.precision));
  model->set_collective(&coll);
  start_step = state.step;
  check_epochs_cover(o, start_step, iters);  // check_resume_length's, where it could not tell
  seconds_before = state.seconds;
  end_step = o.max_steps > 0 ? std::min(total, start_step + o.max_steps) : total;
  if (!o.resume.empty() && same_file(o.resume, ckpt_path)) saved_step = start_step;
  log_info("model: " + model->config().describe() + " on " + o.device.name() + " in " +
           precision_name(model->precision()) +
           (coll.size() > 1
                ? " x " + std::to_string(coll.size()) + " ranks (" + coll.name() + "; --batch " +
                      std::to_string(o.batch) + " = " + std::to_string(coll.size()) + " x " +
                      std::to_string(o.batch / coll.size()) + ")"
                : "") +
           "; " + std::to_string(iters) + (iters == 1 ? " step" : " steps") + " per epoch, " +
           std::to_string(o.epochs) + (o.epochs == 1 ? " epoch" : " epochs") +
           // A complete run has no epoch to resume in: "epoch 4" of 3 would read as one more.
           (start_step >= total ? "; every step done (" + std::to_string(start_step) + ")"
            : start_step > 0    ? "; resuming at step " + std::to_string(start_step) + " (epoch " +
                                   std::to_string(state.epoch + 1) + ")"
                             : ""));

  if (!state.epoch_record.empty()) check_epoch_record();
  check_ranks_agree();
  check_replicas();
  if (!lead) return;
  epoch_records = trim_log(log_path, start_step);
  // An epoch's checkpoint is written before its validation; the record, after it, holds the run's
  // time then.
  if (const auto r = epoch_records.find(state.epoch);
      r != epoch_records.end() && r->second.contains("seconds") &&
      r->second["seconds"].is_number() && r->second.contains("step") &&
      r->second["step"] == state.step)
    seconds_before = std::max(seconds_before, r->second["seconds"].get<double>());
  errno = 0;
  log.open(log_path, std::ios::app);
  VDSR_USER_CHECK(log.good(), "cannot write "
                                  << log_path
                                  << (errno != 0 ? std::string(": ") + std::strerror(errno) : ""));
}

void TrainRun::write_record(const nlohmann::json& r) {
  if (!lead) return;
  log << json_dump(r) << "\n";
  log.flush();
  VDSR_USER_CHECK(log.good(), "cannot write " << log_path << " (disk full?)");
}

void TrainRun::fail_nonfinite(int64_t bad) {
  log.flush();
  const std::string kept = saved_step >= 0 || fs::exists(ckpt_path)
                               ? "the last good checkpoint " + ckpt_path + " is kept untouched"
                               : "no checkpoint had been written";
  std::ostringstream msg;
  msg << "the loss is not finite at step " << (bad + 1) << " (epoch " << (bad / iters + 1)
      << "); training stopped and " << kept << ". Try a smaller --lr or "
      << (o.step.optim.clip_mode == ClipMode::None ? "clipping (--clip-mode)" : "a tighter --clip");
  // A sweep's script reads --json, not stderr: the failure is written there too (the run is not
  // finished; the checkpoint named is the last good one, if any).
  if (lead && !o.json.empty()) {
    TrainResult res;
    res.loss = std::nan("");
    if (saved_step >= 0 || fs::exists(ckpt_path)) res.checkpoint = ckpt_path;
    try {
      write_summary(res, epoch_records.empty() ? nlohmann::json() : epoch_records.rbegin()->second,
                    {{"error", msg.str()}, {"nonfinite_step", bad + 1}});
    } catch (const Error& e) {  // the loss is the error to report; the summary's is a footnote
      log_warning(std::string("the --json summary was not written: ") + e.what());
    }
  }
  VDSR_USER_FAIL(msg.str());
}

void TrainRun::save() {
  state.seconds = run_seconds();
  if (lead) {
    try {
      save_checkpoint(ckpt_path, *model, state);
    } catch (const UserError& e) {  // a full disk, say: what is left is worth saying
      std::error_code ec;
      VDSR_USER_FAIL(e.message() << "; "
                                 << (fs::is_regular_file(ckpt_path, ec)
                                         ? "the checkpoint written before it is kept whole: free "
                                           "space and resume it"
                                         : "no checkpoint had been written"));
    }
  }
  saved_step = state.step;
}

// An agreement point: the losses of the ranks' slices averaged into the global batch's (the
// gradient norm already is the global one: it is taken after the average), a stop request on any
// rank, the first non-finite step on any rank (an error on every rank alike).
StepStats TrainRun::agree(const TrainHooks& hooks) {
  StepStats st = model->read_stats();
  const int64_t bad = model->first_nonfinite_step();
  double sum[1] = {st.loss};
  double most[2] = {double(hooks.stop != nullptr ? hooks.stop->load() : 0), bad >= 0 ? -double(bad) : -HUGE_VAL};
  coll.sum(sum, 1);
  coll.max(most, 2);
  st.loss = sum[0] / double(coll.size());
  if (state.step > start_step) state.last_loss = st.loss;  // read_stats holds nothing before a step
  stop_signal = std::max(stop_signal, int(most[0]));
  if (most[1] > -HUGE_VAL) fail_nonfinite(int64_t(-most[1]));
  return st;
}

// One process stops after any step; several only at agreement points (agree()).
void TrainRun::poll_stop(const TrainHooks& hooks) {
  if (coll.size() == 1 && hooks.stop != nullptr) stop_signal = hooks.stop->load();
}

// A stop requested while a new run was set up (Ctrl-C during the data build): no step was taken,
// so the run ends with nothing written and its empty log removed. A checkpoint of step 0 would
// only make --out refuse the corrected command line as a folder that holds a run.
bool TrainRun::stopped_before_start(const TrainHooks& hooks) {
  if (start_step != 0 || !o.resume.empty()) return false;
  (void)agree(hooks);  // on every rank alike: a stop on any one of them
  if (stop_signal == 0) return false;
  if (lead) {
    log.close();
    std::error_code ec;
    if (fs::is_regular_file(log_path, ec) && fs::file_size(log_path, ec) == 0)
      fs::remove(log_path, ec);
    log_info("stopped by signal " + std::to_string(stop_signal) +
             " before the first step: nothing trained, nothing written");
  }
  return true;
}

// A resumed checkpoint's unscored epoch record (state.epoch_record) is the epoch it ends: a record
// of another step, or no record, is a damaged or edited file.
void TrainRun::check_epoch_record() const {
  nlohmann::json rec;
  try {
    rec = nlohmann::json::parse(state.epoch_record);
  } catch (const nlohmann::json::exception&) {
  }
  const auto count = [&](const char* key) {
    return rec.is_object() && rec.contains(key) && rec[key].is_number_integer()
               ? rec[key].get<int64_t>()
               : -1;
  };
  bool numbers = rec.is_object() && rec.contains("record") && rec["record"] == "epoch";
  for (const char* key : {"loss", "lr", "data_ms", "step_ms"})
    numbers = numbers && rec.contains(key) && rec[key].is_number();
  numbers =
      numbers && (!rec.contains("clip_bound_fraction") || rec["clip_bound_fraction"].is_number());
  VDSR_USER_CHECK(numbers && state.step > 0 && count("step") == state.step &&
                      count("epoch") == state.epoch && state.step % iters == 0,
                  printable(o.resume)
                      << ": the checkpoint's unscored epoch record (state.epoch_record) is "
                      << "not the record of the epoch it ends (the file is damaged or was edited)");
}

// Every rank must run the same command on the same data: a rank with another --epochs,
// --log-every or training set would wait forever in a collective the others never reach, and one
// with another --lr or --batch would train something else. Compared once, before the first step,
// item by item (the options as the checkpoint records them, the training set's counts and a digest
// of its pixels, the step each starts from), each item that differs named with this rank's value.
// Paths may differ (a node's own copy of the data). The pixels matter apart: the ranks average
// their gradients, so weights never show that one rank's copy of an image differs.
void TrainRun::check_ranks_agree() {
  if (coll.size() == 1) return;
  std::vector<std::pair<std::string, std::string>> items;
  for (const auto& [key, value] : state.config)
    // A rank's copy of --init-from's file is matched by the weights it gives (check_replicas).
    if (key != "train" && key != "val" && key != "init_from" && key != "init_from_sha256" &&
        key != "patches_digest")
      items.emplace_back(key, value);
  items.emplace_back("max_steps", std::to_string(o.max_steps));
  items.emplace_back("the step it starts from", std::to_string(start_step));
  // A step-0 checkpoint found by --resume auto on one node's --out only: a new run on the others.
  items.emplace_back("whether it resumes a checkpoint", o.resume.empty() ? "no" : "yes");
  items.emplace_back("the training patches' pixels", state.config.at("patches_digest"));
  items.emplace_back("the checkpoint's unscored epoch",
                     state.epoch_record.empty() ? "" : std::to_string(state.epoch));
  // First which items: every rank must reduce arrays of one length (another build may record other
  // options), so their count and names are compared in a fixed-size exchange of their own.
  std::string names;
  for (const auto& item : items) names += item.first + '\n';
  const double n = double(items.size()), names_d = digest52(names.data(), names.size());
  double head[4] = {n, -n, names_d, -names_d};
  coll.max(head, 4);
  VDSR_USER_CHECK(
      head[0] == -head[1] && head[2] == -head[3],
      "the ranks run builds of vdsr_train that record different options (this rank: version "
          << VDSR_VERSION << ", commit " << VDSR_COMMIT << "): run one build on every rank");
  std::vector<double> v;
  for (const auto& item : items) {
    const double d = digest52(item.second.data(), item.second.size());
    v.push_back(d);
    v.push_back(-d);
  }
  coll.max(v.data(), int(v.size()));
  std::string differ;
  for (size_t i = 0; i < items.size(); ++i)
    if (v[2 * i] != -v[2 * i + 1])
      differ += (differ.empty() ? "" : ", ") + items[i].first +
                " (this rank: " + (items[i].second.empty() ? "none" : printable(items[i].second)) +
                ")";
  VDSR_USER_CHECK(
      differ.empty(),
      "the ranks were not started alike; they differ in "
          << differ
          << ". Every rank must run the same command line on the same training images (their "
             "counts and pixels are compared), and a resumed run must find the same checkpoint on "
             "every rank (an --out every rank sees, or --resume FILE)");
}

// Every rank holds the same weights (they apply the same averaged gradient from the same start):
// checked at the start and at every epoch's end on a digest of the weights' bytes. At the start a
// difference means the ranks start from different files (--init-from copies or checkpoints with
// other contents); later, that their machines compute the step differently, or a fault of ours.
void TrainRun::check_replicas() {
  if (coll.size() == 1) return;
  const std::vector<float> w = model->weights().params;
  const double d = digest52(w.data(), w.size() * sizeof(float));
  double v[2] = {d, -d};
  coll.max(v, 2);
  VDSR_USER_CHECK(v[0] == -v[1],
                  "the ranks' weights differ at step "
                      << state.step
                      << (state.step == start_step
                              ? ": they start from files with other contents (each rank's copy of "
                                "--init-from's file or of the checkpoint must be the same file)"
                              : ", though every rank applies the same averaged gradient: their "
                                "machines compute the step differently (another CPU instruction "
                                "set or GPU) or this is a fault of vdsr_train (please report it)"));
}

void TrainRun::assemble(Batches& b, int64_t step) {
  const auto t = Clock::now();
  const std::vector<int64_t> all = b.sampler.indices(step);
  const std::vector<int64_t> slice(all.begin() + std::ptrdiff_t(b.first),
                                   all.begin() + std::ptrdiff_t(b.first) + b.batch);
  b.set.fill_batch(slice, b.hx.data(), b.hy.data());
  data_s += seconds_since(t);
}

// One step: its lr, its batch (unless already assembled), the copies to the device, the queued
// step, and the next step's batch.
StepOptions TrainRun::step(Batches& b, const TrainHooks& hooks) {
  StepOptions so = o.step;
  so.lr = lr_at(lr_plan, state.step, iters, total);
  state.lr = so.lr;
  if (!b.have_batch) assemble(b, state.step);
  if (hooks.before_step) hooks.before_step(*model, state.step);
  if (b.gpu) {
    // Waits for the previous step (same stream), then copies; the step itself is only queued.
    copy_bytes(o.device, b.dx.data(), Device::cpu(), b.hx.data(), b.batch_floats * sizeof(float));
    copy_bytes(o.device, b.dy.data(), Device::cpu(), b.hy.data(), b.batch_floats * sizeof(float));
  }
  model->train_step_async(b.batch, o.data.patch, o.data.patch, b.x(), b.y(), so);
  ++state.step;
  if (hooks.after_step) hooks.after_step(*model, state.step);
  ++epoch_steps;
  b.have_batch = false;
  // The next batch is assembled while the GPU runs this one.
  if (state.step < end_step) {
    assemble(b, state.step);
    b.have_batch = true;
  }
  return so;
}

// A log point: the step record, the loss in the running average of the epoch, the progress label.
void TrainRun::log_step(int64_t e, const StepOptions& so, const StepStats& st, Progress& progress) {
  state.loss_sum += st.loss;
  ++state.loss_count;
  if (so.optim.clip_mode == ClipMode::Norm && st.grad_norm > so.clip_threshold()) ++state.clip_bound;
  if (!lead) return;
  write_record({{"record", "step"}, {"step", state.step}, {"epoch", e + 1}, {"loss", st.loss},
                {"grad_norm", st.grad_norm}, {"lr", so.lr}, {"seconds", run_seconds()}});
  char label[160];
  // The loss and step of the last log point; the counter after it is live (patches this process).
  std::snprintf(label, sizeof label, "epoch %lld/%d  loss %.5g at step %lld/%lld  lr %.3g",
                static_cast<long long>(e + 1), o.epochs, st.loss,
                static_cast<long long>(state.step), static_cast<long long>(total), so.lr);
  progress.set_label(label);
}

// The end of epoch e: the checkpoint, then the epoch's record (validation, collapse checks), the
// curve, the epoch line and its warnings (rank 0; the others keep the state in step). The
// checkpoint comes first and holds the record's training half (state.epoch_record) until the record
// is written: a stop request that arrives while rank 0 validates cuts the validation short at the
// next image instead of waiting for it (minutes on the CPU; with several processes the others wait
// for rank 0 in the next step's collective, and mpirun kills them after a short grace), and the
// resumed run scores the same weights and writes the record.
void TrainRun::end_epoch(int64_t e, const StepOptions& so, const StepStats& st,
                         const std::vector<ValSet>& val, const Batches& b, Buffer& probe_out,
                         const TrainHooks& hooks) {
  if (state.loss_count == 0) {  // no log point in this epoch: its last loss stands for it
    state.loss_sum = st.loss;
    state.loss_count = 1;
  }
  check_replicas();
  state.epoch_record = json_dump(training_record(e, so));
  state.epoch = e + 1;
  state.loss_sum = 0;
  state.loss_count = 0;
  state.clip_bound = 0;
  save();
  report_epoch(val, b, probe_out, hooks);
  data_s = 0;
  epoch_steps = 0;
  t_epoch = Clock::now();
}

// Epoch e's record as training leaves it: its loss, lr and timings, and how often the clip bound.
nlohmann::json TrainRun::training_record(int64_t e, const StepOptions& so) const {
  const double train_s = seconds_since(t_epoch);
  nlohmann::json rec = {{"record", "epoch"}, {"epoch", e + 1}, {"step", state.step},
                        {"loss", state.loss_sum / double(state.loss_count)}, {"lr", so.lr},
                        {"data_ms", 1e3 * data_s / double(epoch_steps)},
                        {"step_ms", 1e3 * train_s / double(epoch_steps)}};
  if (clip_set_the_steps(state.clip_bound, state.loss_count))
    rec["clip_bound_fraction"] = double(state.clip_bound) / double(state.loss_count);
  return rec;
}

// Rank 0 scores and writes the pending record; then every rank learns whether it did (else the
// record stays pending, and the run is not finished) and of any stop request, so that all leave
// the loop at this step when rank 0 cut its validation short for one.
void TrainRun::report_epoch(const std::vector<ValSet>& val, const Batches& b, Buffer& probe_out,
                            const TrainHooks& hooks) {
  if (hooks.before_report) hooks.before_report(state.epoch);
  const bool written = !lead || epoch_report(val, b, probe_out, hooks);
  double v[2] = {double(hooks.stop != nullptr ? hooks.stop->load() : 0), written ? 0.0 : 1.0};
  coll.max(v, 2);
  stop_signal = std::max(stop_signal, int(v[0]));
  if (v[1] == 0) state.epoch_record.clear();
}

// A resumed run whose checkpoint holds a record rank 0 had not written: scored first, the collapse
// probe on the batch it would have seen (on the CPU the host batch: the next step's, assembled
// after each step but the run's last; on a GPU the device batch: the step just taken).
void TrainRun::report_resumed_epoch(const std::vector<ValSet>& val, Batches& b, Buffer& probe_out,
                                    const TrainHooks& hooks) {
  if (state.epoch_record.empty()) return;
  const bool next = !b.gpu && state.step < end_step;
  assemble(b, next ? state.step : state.step - 1);
  b.have_batch = next;
  if (b.gpu)
    copy_bytes(o.device, b.dx.data(), Device::cpu(), b.hx.data(), b.batch_floats * sizeof(float));
  data_s = 0;
  report_epoch(val, b, probe_out, hooks);
}

// The pending record's validation, collapse checks, curve, line and warnings; false when a stop
// request cut the validation short (nothing written).
bool TrainRun::epoch_report(const std::vector<ValSet>& val, const Batches& b, Buffer& probe_out,
                            const TrainHooks& hooks) {
  nlohmann::json rec = nlohmann::json::parse(state.epoch_record);
  const int64_t epoch = rec.at("epoch").get<int64_t>();
  // The checkpoint is written before the record, so a resumed one may hold a record the log has.
  if (epoch_records.count(epoch) != 0) return true;
  // Validation scores the averaged weights when there are any; a stop the ranks agreed on at this
  // epoch's end (another rank's) cuts it as this rank's own does.
  if (ema) model->swap_weights_with_ema();
  const std::optional<std::string> val_text =
      stop_signal != 0 && !val.empty() ? std::nullopt
                                       : validate(*model, val, o.data.scales, rec, hooks.stop);
  std::string collapse;
  if (val_text)
    collapse = collapse_reason(*model, b.x(), std::min<int64_t>(b.batch, kProbePatches),
                               o.data.patch, static_cast<float*>(probe_out.data()));
  if (ema) model->swap_weights_with_ema();
  if (!val_text) {
    log_info("a stop request cut epoch " + std::to_string(epoch) +
             "'s validation short; the checkpoint holds the epoch, and the resumed run scores it "
             "first");
    return false;
  }
  if (collapse.empty() && at_bicubic(val, o.data.scales, rec))
    collapse = "its validation PSNR equals bicubic's at every scale";
  if (!collapse.empty()) rec["collapsed"] = collapse;
  scored_here = true;
  rec["seconds"] = run_seconds();
  write_record(rec);
  epoch_records[epoch] = rec;
  write_curve((fs::path(o.out) / "curve.svg").string(), epoch_records, o.data.scales);
  char line[320];
  std::snprintf(line, sizeof line,
                "epoch %lld/%d  step %lld  loss %.6g  lr %.3g%s%s  (%.1f s, data %.3f ms/step, "
                "step %.3f ms/step)",
                static_cast<long long>(epoch), o.epochs,
                static_cast<long long>(rec["step"].get<int64_t>()), rec["loss"].get<double>(),
                rec["lr"].get<double>(), val_text->empty() ? "" : "  val", val_text->c_str(),
                run_seconds(), rec["data_ms"].get<double>(), rec["step_ms"].get<double>());
  log_info(line);
  if (!collapse.empty())
    log_warning("epoch " + std::to_string(epoch) + ": the network has collapsed: " + collapse +
                ". It will not recover: start again with a smaller --lr (or a tighter --clip), or "
                "--recipe fast (Adam)");
  // Once per process: the bundled recipe works this way at every epoch, and a warning repeated
  // 90 times would read as a fault.
  if (rec.contains("clip_bound_fraction") && !clip_warned) {
    clip_warned = true;
    log_warning("epoch " + std::to_string(epoch) + ": the norm clip bound in " +
                std::to_string(int(100.0 * rec["clip_bound_fraction"].get<double>())) +
                "% of the logged steps: the clip sets the step length (lr x clip) and the lr has "
                "no effect beyond it (said once: each epoch's share is clip_bound_fraction in "
                "train.jsonl)");
  }
  return true;
}

// Where the loop ended: the result's counts and flags, a checkpoint of the exact state when it
// stopped mid-epoch, and how to continue.
void TrainRun::stop(TrainResult& res, const TrainHooks& hooks) {
  res.step = state.step;
  res.epoch = state.epoch;
  res.finished = state.step >= total && state.epoch_record.empty();
  // Stopped mid-epoch: checkpoint the exact state (the next process resumes from it). Decided by
  // all ranks at once: each knows only whether its own --out held the checkpoint it resumed, and a
  // rank alone in agree() would wait for ever.
  double unsaved[1] = {saved_step != state.step ? 1.0 : 0.0};
  if (coll.size() > 1) coll.max(unsaved, 1);
  if (unsaved[0] != 0) {
    (void)agree(hooks);
    save();
  }
  res.loss = state.last_loss;
  poll_stop(hooks);
  if (stop_signal != 0 && !res.finished) res.stopped_by_signal = stop_signal;
  res.hit_max_steps = !res.finished && res.stopped_by_signal == 0;
  if (saved_step == state.step) res.checkpoint = ckpt_path;
  if (!lead) return;
  if (res.stopped_by_signal != 0)
    log_info("stopped by signal " + std::to_string(res.stopped_by_signal) + " at step " +
             std::to_string(state.step) + "; checkpoint " + ckpt_path +
             "; continue with --resume " + ckpt_path +
             (state.epoch_record.empty()
                  ? ""
                  : " (it scores epoch " + std::to_string(state.epoch) + " first)"));
  else if (stop_signal != 0)
    log_info("signal " + std::to_string(stop_signal) +
             " came as the run's last step ended, with no validation left to cut short: the run "
             "is complete");
  else if (res.hit_max_steps)
    log_info("--max-steps: stopped at step " + std::to_string(state.step) + " of " + std::to_string(total) +
             "; checkpoint " + ckpt_path + "; continue with --resume " + ckpt_path);
}

// The trained weights (the averaged ones with an EMA) with the recipe, the run and its last
// epoch's scores in the metadata.
void TrainRun::save_weights_file(const std::string& path, const nlohmann::json& last_epoch) {
  auto meta = state.config;
  meta["kind"] = "weights";
  meta["recipe"] = describe_recipe(state.config);
  meta["steps"] = std::to_string(state.step);
  meta["epochs_done"] = std::to_string(state.epoch);
  meta["train_seconds"] = format_double(run_seconds());
  if (last_epoch.is_object())
    for (const auto& [k, v] : last_epoch.items())
      if (k.rfind("val_psnr_x", 0) == 0 || k == "loss") meta["final_" + k] = format_double(v.get<double>());
  if (ema) meta["weights"] = "ema " + format_double(o.step.optim.ema);
  save_weights(path, model->config(), (ema ? model->ema_weights() : model->weights()).params.data(), meta);
  log_info(idle() ? "its weights are in " + path
                  : "trained " + std::to_string(state.step) + " steps in " +
                        format_duration(run_seconds()) +
                        (start_step > 0 && state.step > start_step
                             ? " (steps " + std::to_string(start_step + 1) + "-" +
                                   std::to_string(state.step) + " in this process)"
                             : "") +
                        "; weights in " + path);
}

// The final weights when every epoch is done, and the --json result.
void TrainRun::write_outputs(const TrainResult& res) {
  if (!lead) return;
  const std::string weights_path = (fs::path(o.out) / "vdsr.safetensors").string();
  nlohmann::json last_epoch = epoch_records.empty() ? nlohmann::json() : epoch_records.rbegin()->second;
  if (res.finished) save_weights_file(weights_path, last_epoch);
  if (!o.json.empty()) write_summary(res, last_epoch, nullptr);
}

// The --json summary; `failure` (an object or null) adds why the run stopped with an error.
void TrainRun::write_summary(const TrainResult& res, const nlohmann::json& last_epoch,
                             const nlohmann::json& failure) {
  nlohmann::json j{{"steps", state.step},
                   {"epochs", state.epoch},
                   {"finished", res.finished},
                   {"loss", std::isfinite(res.loss) ? nlohmann::json(res.loss) : nlohmann::json()},
                   {"seconds", run_seconds()},
                   {"ranks", coll.size()},
                   {"checkpoint", res.checkpoint},
                   {"weights", res.finished ? (fs::path(o.out) / "vdsr.safetensors").string() : ""},
                   {"last_epoch", last_epoch}};
  if (failure.is_object()) j.update(failure);
  const std::string text = json_dump(j, 2) + "\n";
  write_file_atomic(o.json, text.data(), text.size());
  g_summary_written = true;
}

}  // namespace

namespace {
// Ranks other than 0 print errors only (rank 0 speaks for the run).
struct QuietRank {
  explicit QuietRank(bool quiet) : saved(log_level()) {
    if (quiet) set_log_level(LogLevel::Quiet);
  }
  ~QuietRank() { set_log_level(saved); }
  LogLevel saved;
};
}  // namespace

void write_failed_summary(const TrainOptions& o, const std::string& error) {
  if (o.json.empty() || g_summary_written) return;
  // The run's folder: --out, or a resumed checkpoint's own (the options as the command line gave
  // them: --resume may still read "auto", which needs --out).
  const std::string folder =
      !o.out.empty() ? o.out
      : !o.resume.empty() && o.resume != "auto"
          ? (fs::path(o.resume).has_parent_path() ? fs::path(o.resume).parent_path().string()
                                                  : std::string("."))
          : "";
  std::error_code ec;
  const fs::path ckpt = fs::path(folder) / "checkpoint.safetensors";
  const bool there = !folder.empty() && fs::is_regular_file(ckpt, ec);
  const nlohmann::json j{
      {"finished", false}, {"error", error}, {"checkpoint", there ? ckpt.string() : ""}};
  try {
    const std::string text = json_dump(j, 2) + "\n";
    write_file_atomic(o.json, text.data(), text.size());
  } catch (const std::exception&) {  // the run's own error is the one to report
  }
}

void check_run_fits(const TrainOptions& o, int ranks) {
  check_model_memory(o);
  check_batch_memory(o, parse_precision(o.precision), local_batch(o, ranks));
}

TrainOptions resolved_options(TrainOptions o) {
  // Without --out (which only the run needs) there is no folder to check for a run.
  const std::string ckpt_path = o.resume.empty() && o.out.empty() ? "" : resolve_out(o);
  const OpenedRun run = open_run(o, ckpt_path);
  (void)check_resume_length(o, run);
  return o;
}

bool resumes_a_run(const TrainOptions& o) {
  if (o.resume != "auto") return !o.resume.empty();
  std::error_code ec;
  return !o.out.empty() && fs::exists(fs::path(o.out) / "checkpoint.safetensors", ec);
}

TrainResult run_training(TrainOptions o, const TrainHooks& hooks) {
  const auto t_process = Clock::now();
  const std::unique_ptr<Collective> coll = make_collective(o.device);
  const QuietRank quiet(coll->rank() != 0);
  const std::string ckpt_path = resolve_out(o);
  // One run at a time into an --out (rank 0 writes it; another rank may share its machine): taken
  // before the folder's files are judged, which a live run is still writing.
  std::unique_ptr<FolderLock> out_lock;
  const auto lock_out = [&] {
    if (coll->rank() != 0 || out_lock) return;
    out_lock = std::make_unique<FolderLock>(o.out);
    VDSR_USER_CHECK(out_lock->held(), "another vdsr_train is running into --out "
                                          << o.out
                                          << " now: wait for it to end, or choose another --out");
  };
  if (std::error_code ec; fs::is_directory(o.out, ec)) lock_out();
  OpenedRun opened = open_run(o, ckpt_path);
  check_train_options(o);
  // Scoring the training images themselves measures fit, not how the model does on others.
  for (const std::string& v : o.val)
    for (const std::string& t : o.train)
      if (std::error_code ec; fs::equivalent(v, t, ec))
        log_warning("--val " + printable(v) +
                    " is also a --train folder: its PSNR says how well the "
                    "run fits its own training images, not how it does on others");
  const bool complete = check_resume_length(o, opened);
  // A finished run resumed again (another slot of a job array, say) has nothing to do once its
  // weights of that step are written (after its last record): neither the data set is built nor
  // the weights rewritten. (With several processes every one would have to see the same files;
  // they go the long way.)
  if (complete && o.json.empty() && coll->size() == 1 && same_file(o.resume, ckpt_path) &&
      run_written(o.out, opened.state)) {
    TrainResult res;
    res.step = opened.state.step;
    res.epoch = opened.state.epoch;
    res.finished = true;
    res.loss = opened.state.last_loss;
    res.checkpoint = o.resume;
    log_info("its weights are in " + (fs::path(o.out) / "vdsr.safetensors").string());
    return res;
  }
  check_model_memory(o);
  const int batch = local_batch(o, coll->size());
  std::error_code made;
  const bool new_out = !fs::exists(o.out, made);
  make_writable_folder(o.out, "the --out folder");  // before the training set is built, not after
  lock_out();                                       // a folder made just now
  // The files a run writes into --out: each a regular file or none yet (a link, a FIFO or a folder
  // under one of these names is said now, not when the first epoch ends: engine/file_kind.h).
  static const std::array<const char*, 4> run_files = {"checkpoint.safetensors", "train.jsonl",
                                                       "curve.svg", "vdsr.safetensors"};
  if (coll->rank() == 0)
    for (const char* name : run_files)
      if (const std::string why = unwritable_reason((fs::path(o.out) / name).string());
          !why.empty())
        VDSR_USER_FAIL("--out " << o.out << ": its " << name << " " << why);
  // Temporaries a killed run of this host left (a checkpoint cut short), never another host's.
  if (coll->rank() == 0)
    for (const auto& r : remove_stale_temporaries(o.out, false, [](const std::string& name) {
           return std::find(run_files.begin(), run_files.end(), name) != run_files.end();
         }))
      log_info("removed " + printable(r) + " (left by a run of this host that is gone)");
  // A run that fails while it is set up (no images, a bad --val, too little memory) leaves no empty
  // --out folder of its own making behind.
  struct EmptyOutGuard {
    const std::string& dir;
    bool armed;
    ~EmptyOutGuard() {
      std::error_code ec;
      if (armed && fs::is_empty(dir, ec)) fs::remove(dir, ec);
    }
  } guard{o.out, new_out};

  // The validation sets first: they are small, and a mistyped --val stops before the training set
  // is built (seconds to minutes). A resume's, taken from its checkpoint, may since have gone.
  // Each folder a resume took from its checkpoint (not given again) must still be there; a name
  // that was not UTF-8 is kept there with U+FFFD for its bad bytes (JSON holds no others).
  const auto check_kept = [&](const std::vector<std::string>& dirs, const char* flag,
                              const char* what, const char* way_out) {
    if (o.resume.empty() || o.given.count(flag) != 0) return;
    for (const std::string& dir : dirs) {
      std::error_code ec;
      VDSR_USER_CHECK(fs::exists(dir, ec),
                      "the checkpoint's "
                          << what << " '" << printable(dir) << "' does not exist"
                          << (dir.find("\xEF\xBF\xBD") == std::string::npos
                                  ? ""
                                  : " (the checkpoint holds a name that is not UTF-8 "
                                    "with U+FFFD in place of its bad bytes)")
                          << ": " << way_out);
    }
  };
  check_kept(o.val, "--val", "validation set", "give --val with other sets, or --no-val");
  check_kept(o.train, "--train", "training folder",
             "give --train (the same images; found by content, not by path)");
  const std::vector<ValSet> val = load_validation_sets(o.val, o.data.scales);
  const TrainingSet set = load_training_set(o, opened.ckpt_config);
  TrainRun run(o, std::move(opened), set, ckpt_path, t_process, *coll);
  if (run.stopped_before_start(hooks)) {
    TrainResult res;
    res.stopped_by_signal = run.stop_signal;
    res.loss = NAN;
    return res;  // the guard removes an --out folder of the run's own making
  }

  check_batch_memory(o, run.model->precision(), batch);
  if (int64_t(o.batch) > set.count())
    log_warning("--batch " + std::to_string(o.batch) + " is larger than the training set's " +
                std::to_string(set.count()) +
                " patches: every batch holds some of them more than once");
  Batches batches(o, set, *coll);
  guard.armed = false;
  TrainResult res;  // its loss: the checkpoint state's last one, set by stop()
  Progress progress("training", std::max<int64_t>(0, run.end_step - run.start_step) * o.batch, "patch");
  const size_t area = size_t(o.data.patch) * size_t(o.data.patch);
  Buffer probe_out(o.device, size_t(std::min<int64_t>(batch, kProbePatches)) * area * sizeof(float));
  run.report_resumed_epoch(val, batches, probe_out, hooks);
  run.t_epoch = Clock::now();
  while (run.state.step < run.end_step) {
    run.poll_stop(hooks);
    if (run.stop_signal != 0) break;
    const int64_t e = run.state.step / run.iters;
    const StepOptions so = run.step(batches, hooks);
    ++res.steps_this_run;
    const bool log_point = run.state.step % o.log_every == 0;
    const bool epoch_end = run.state.step % run.iters == 0;
    if (log_point || epoch_end) {
      const StepStats st = run.agree(hooks);
      if (log_point) run.log_step(e, so, st, progress);
      if (epoch_end) run.end_epoch(e, so, st, val, batches, probe_out, hooks);
    }
    progress.update((run.state.step - run.start_step) * o.batch);
  }
  progress.finish();
  run.stop(res, hooks);
  run.write_outputs(res);
  return res;
}

}  // namespace vdsr
