// vdsr_train: trains VDSR from folders of HR images (the flags over model/trainer.h, which holds
// the loop). Writes <out>/checkpoint.safetensors at every epoch end, on Ctrl-C / SIGTERM and at
// --max-steps, <out>/train.jsonl, <out>/curve.svg and, when the last epoch is done,
// <out>/vdsr.safetensors. --resume continues a run exactly (batches are a pure function of
// (seed, step)); options left out are taken from the checkpoint. --recipe NAME fills in the
// options of a preset (model/recipes.h) that the command line leaves out. Exit status: 0 done (or
// stopped at --max-steps), 1 error (including a non-finite loss), 128 + signal when stopped by a
// signal (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP) after writing the checkpoint. Launched
// by mpirun or srun it is one rank of a data-parallel run (engine/collective.h; docs/training.md,
// "Many processes"): the GPU is the local rank's unless -g says otherwise, and a signal to any rank
// stops every rank.
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>

#include "engine/atomic_file.h"
#include "engine/collective.h"
#include "engine/error.h"
#include "engine/log.h"
#include "engine/values.h"
#include "io/file_plan.h"
#include "model/recipes.h"
#include "model/train_validation.h"
#include "model/trainer.h"
#include "tools/cli.h"

using namespace vdsr;

namespace {

std::atomic<int> g_stop{0};
// Whether the first stop signal is acknowledged on standard error at once (rank 0 alone: mpirun
// forwards a Ctrl-C to every rank). The stop itself may be a step, a validation image or the
// training set's build away.
std::atomic<bool> g_say_stop{false};
constexpr char kStopNote[] =
    "\nvdsr_train: stopping at the end of this step, then writing the checkpoint (a new run still "
    "building its training set stops once it is built, with nothing to write); a second signal "
    "stops at once\n";

// The first SIGINT/SIGTERM/SIGHUP asks the loop to stop after the current step and write a
// checkpoint (SIGHUP: the terminal or ssh session has gone; the epoch's work is kept), and its
// number is the exit status's; a second one, of any of the three (SIGTERM, then Ctrl-C), ends the
// process at once, as its default action would, after removing the temporary of a checkpoint
// being written (the last checkpoint written is still whole: they are written atomically).
extern "C" void on_stop_signal(int sig) {
  const int saved_errno = errno;  // the interrupted thread may be about to read its own
  int none = 0;
  if (g_stop.compare_exchange_strong(none, sig) && g_say_stop.load())
    (void)!::write(STDERR_FILENO, kStopNote, sizeof kStopNote - 1);  // async-signal-safe
  for (const int next : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction now {};
    if (sigaction(next, nullptr, &now) == 0 && now.sa_handler == on_stop_signal)
      remove_temporaries_on(next);  // sigaction: async-signal-safe
  }
  errno = saved_errno;
}

// A signal the process was started with ignored (SIGINT in a background job of a script) stays
// ignored, as engine/atomic_file.h's handlers leave it.
void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    if (sigaction(sig, nullptr, &old) == 0 && old.sa_handler == SIG_IGN) continue;
    sigaction(sig, &sa, nullptr);
  }
}

// A refusal that names an option a --recipe preset set (not the command line) says so: the user
// never typed it. `from_recipe`: the flags the preset applied, with their values.
std::string recipe_note(const std::string& message, const std::string& recipe,
                        const std::map<std::string, std::string>& from_recipe) {
  std::string named, values, switches;
  for (const auto& [flag, value] : from_recipe) {
    // The flag as a whole word: "--lr" is not named by "--lr-min".
    bool found = false;
    for (size_t at = message.find(flag); at != std::string::npos && !found;
         at = message.find(flag, at + 1)) {
      const size_t end = at + flag.size();
      found = end == message.size() ||
              !(std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '-');
    }
    if (!found) continue;
    named += (named.empty() ? "" : ", ") + flag + (value.empty() ? "" : " " + value);
    (value.empty() ? switches : values) +=
        (value.empty() ? switches : values).empty() ? flag : " and " + flag;
  }
  if (named.empty()) return "";
  return " (" + named + " came from --recipe " + recipe + ": " +
         (!values.empty() ? "give " + values + " on the command line to override the preset" : "") +
         (!values.empty() && !switches.empty() ? "; " : "") +
         (!switches.empty()
              ? "a switch cannot be undone, so give the preset's other options without --recipe"
              : "") +
         ")";
}

// The rank the launcher gave this process, from its variables alone (no MPI yet); 0 when alone or
// when they are malformed (process_ranks says so later, in words).
int launcher_rank() {
  try {
    return ranks_from_environment([](const char* name) { return std::getenv(name); }).rank;
  } catch (const std::exception&) {
    return 0;
  }
}

int train(TrainOptions o, int gpu, bool print_config, bool lead);

int run(int argc, char** argv) {
  // Rank 0 speaks for the run: the others print errors only, from the command line's warnings on.
  const int rank = launcher_rank();
  const bool lead = rank == 0;
  if (!lead) {
    cap_log_level(LogLevel::Quiet);
    set_log_tag("rank " + std::to_string(rank) + ": ");  // its errors are not rank 0's
  }
  TrainOptions o;
  int gpu = kDefaultDevice;
  cli::Parser p("vdsr_train", "train VDSR on folders of HR images",
                "vdsr_train --train DIR[,DIR...] --out DIR [--val DIR] [recipe options] "
                "[--resume CKPT|auto] [--seed N]");
  // Every flag records its long name, so a resume knows which options were given.
  auto add = [&](const char* short_name, const char* long_name, const char* value, const char* help,
                 std::function<void(const std::string&)> set) {
    const std::string name = long_name;
    p.add({short_name, long_name, value, help, [&o, name, set](const std::string& v) {
             o.given.insert(name);
             set(v);
           }});
  };
  add("", "--train", "DIR[,DIR...]", "folders of HR training images",
      [&](const std::string& v) { o.train = cli::parse_folder_list(v, "--train"); });
  add("", "--out", "DIR", "output folder: checkpoint, log, curve, weights [the --resume file's folder]",
      [&](const std::string& v) { o.out = v; });
  add("", "--val", "DIR[,DIR...]", "validation sets: PSNR at each scale after every epoch",
      [&](const std::string& v) {
        VDSR_USER_CHECK(o.given.count("--no-val") == 0, "--no-val and --val exclude each other");
        o.val = cli::parse_folder_list(v, "--val");
      });
  // A resume takes the checkpoint's --val unless given: this drops it (a set moved or deleted).
  p.add({"", "--no-val", "", "no validation; on resume, drop the checkpoint's --val sets",
         [&](const std::string&) {
           VDSR_USER_CHECK(o.val.empty(), "--no-val and --val exclude each other");
           o.given.insert("--val");
           o.given.insert("--no-val");
         }});
  add("", "--scales", "LIST", "training scales, mixed in one set [2,3,4]",
      [&](const std::string& v) { o.data.scales = cli::parse_scale_list(v, "--scales"); });
  add("", "--patch", "N", "patch size [41]", [&](const std::string& v) { o.data.patch = cli::parse_int(v, "--patch"); });
  add("", "--stride", "N", "patch stride [41]",
      [&](const std::string& v) { o.data.stride = cli::parse_int(v, "--stride"); });
  add("", "--no-augment", "", "no rotations/flips (default: the 8 of each image)",
      [&](const std::string&) { o.data.augment = false; });
  add("", "--downscales", "LIST", "extra copies of each image shrunk by these factors, e.g. 0.9,0.8,0.7 [none]",
      [&](const std::string& v) {
        o.data.downscales.clear();
        for (const auto& f : cli::parse_list(v, "--downscales", true)) {
          const double d = cli::parse_double(f, "--downscales");
          VDSR_USER_CHECK(d > 0 && d < 1, "--downscales: " << f << " is not in (0, 1)");
          // The same factor in two spellings (0.5,0.50): one more copy of every image, twice.
          VDSR_USER_CHECK(std::find(o.data.downscales.begin(), o.data.downscales.end(), d) ==
                              o.data.downscales.end(),
                          "--downscales: " << f << " is the factor " << format_double(d)
                                           << " again (each factor makes one copy of every image)");
          o.data.downscales.push_back(d);
        }
      });
  add("", "--recipe", "NAME",
      "a preset (below) for every recipe option not given on the command line [none: the defaults, "
      "which are the 'bundled' preset]",
      [&](const std::string& v) { o.recipe = find_recipe(v).name; });
  add("", "--depth", "N", "conv layers [20]", [&](const std::string& v) { o.model.depth = cli::parse_int(v, "--depth"); });
  add("", "--channels", "N", "hidden channels [64]",
      [&](const std::string& v) { o.model.channels = cli::parse_int(v, "--channels"); });
  add("", "--no-bias", "", "conv layers without biases", [&](const std::string&) { o.model.bias = false; });
  add("", "--init", "FAN", "He initialisation over fan-in (9 C_in, the paper) or fan-out (9 C_out, the PyTorch ports) [fan-in]",
      [&](const std::string& v) { o.init = parse_init(v); });
  add("", "--init-from", "FILE",
      "start from these weights instead of random ones (fine-tuning): a VDSR model as -m takes one "
      "(safetensors or the authors' .mat; a checkpoint gives its raw weights); the network's shape is the "
      "file's, the optimizer and the step count start afresh [none]",
      [&](const std::string& v) { o.init_from = v; });
  add("", "--batch", "N", "patches per step, over all processes of a multi-process run [64]", [&](const std::string& v) { o.batch = cli::parse_int(v, "--batch"); });
  add("", "--epochs", "N", "epochs; 0 writes the initialised weights and stops [90]", [&](const std::string& v) { o.epochs = cli::parse_int(v, "--epochs"); });
  add("", "--epoch-iters", "N", "steps per epoch; 0 = one full pass, ceil(patches / batch) [1000]",
      [&](const std::string& v) { o.epoch_iters = cli::parse_int(v, "--epoch-iters"); });
  add("", "--optimizer", "NAME", "sgd (momentum), adam (weight decay as L2 in the gradient) or adamw (decoupled) [sgd]",
      [&](const std::string& v) { o.step.optim.kind = parse_optimizer(v); });
  add("", "--lr", "LR", "starting (peak) learning rate [0.01]", [&](const std::string& v) { o.step.lr = cli::parse_double(v, "--lr"); });
  add("", "--lr-schedule", "NAME",
      "step (lr / 10 every --lr-step epochs), cosine (per step, down to --lr-min at the last step) or constant [step]",
      [&](const std::string& v) { o.lr_schedule = parse_lr_schedule(v); });
  add("", "--lr-step", "N", "step schedule: divide the learning rate by 10 every N epochs [70]",
      [&](const std::string& v) { o.lr_step = cli::parse_int(v, "--lr-step"); });
  add("", "--lr-min", "LR", "cosine schedule: the last step's learning rate [0]",
      [&](const std::string& v) { o.lr_min = cli::parse_double(v, "--lr-min"); });
  add("", "--warmup-steps", "N", "ramp the learning rate linearly from lr / N over the first N steps [0]",
      [&](const std::string& v) { o.warmup_steps = cli::parse_int(v, "--warmup-steps"); });
  add("", "--momentum", "M", "SGD momentum [0.9]",
      [&](const std::string& v) { o.step.optim.momentum = cli::parse_double(v, "--momentum"); });
  add("", "--beta1", "B", "Adam's first-moment decay [0.9]", [&](const std::string& v) { o.step.optim.beta1 = cli::parse_double(v, "--beta1"); });
  add("", "--beta2", "B", "Adam's second-moment decay [0.999]", [&](const std::string& v) { o.step.optim.beta2 = cli::parse_double(v, "--beta2"); });
  add("", "--eps", "E", "Adam's epsilon [1e-8]", [&](const std::string& v) { o.step.optim.eps = cli::parse_double(v, "--eps"); });
  add("", "--weight-decay", "WD", "weight decay on weights, not biases [1e-4]",
      [&](const std::string& v) { o.step.optim.weight_decay = cli::parse_double(v, "--weight-decay"); });
  add("", "--bias-lr-mult", "M", "the biases learn at lr times M (Caffe's lr_mult) [1]",
      [&](const std::string& v) { o.step.optim.bias_lr_mult = cli::parse_double(v, "--bias-lr-mult"); });
  add("", "--ema", "DECAY",
      "keep an exponential moving average of the weights with this decay (e.g. 0.999); validation and "
      "vdsr.safetensors use it [0 = off]",
      [&](const std::string& v) { o.step.optim.ema = cli::parse_double(v, "--ema"); });
  add("", "--clip-mode", "MODE", "gradient clipping: norm (global L2), value (per element), none [norm]",
      [&](const std::string& v) { o.step.optim.clip_mode = parse_clip_mode(v); });
  add("", "--clip", "C", "clipping threshold [0.4]", [&](const std::string& v) { o.step.clip = cli::parse_double(v, "--clip"); });
  add("", "--clip-scale-by-lr", "", "use clip / lr as the threshold (the paper's theta / lr)",
      [&](const std::string&) { o.step.clip_scale_by_lr = true; });
  add("", "--seed", "N", "seed for initialisation and data order [1]",
      [&](const std::string& v) { o.seed = cli::parse_uint64(v, "--seed"); });
  add("", "--resume", "CKPT|auto",
      "continue a run from its checkpoint (auto: <out>/checkpoint.safetensors if there); options left "
      "out are the checkpoint's, recipe options that differ are an error",
      [&](const std::string& v) { o.resume = v; });
  add("", "--max-steps", "N", "stop after N steps in this process, writing a checkpoint [0 = no limit]",
      [&](const std::string& v) { o.max_steps = cli::parse_int(v, "--max-steps"); });
  add("", "--log-every", "N", "steps between loss records (train.jsonl, progress) [10]",
      [&](const std::string& v) { o.log_every = cli::parse_int(v, "--log-every"); });
  add("-g", "--gpu", "N",
      "device: GPU index, -1 for the CPU [0 if a GPU is usable, else -1; with several "
      "processes on a machine, the local rank's]",
      [&](const std::string& v) {
        gpu = cli::parse_one_gpu(
            v, "for several GPUs start one process per GPU (mpirun -np N, docs/training.md)");
      });
  add("", "--precision", "MODE", "fp32, tf32 or bf16 (GPU only) [fp32]", [&](const std::string& v) { o.precision = precision_name(parse_precision(v)); });
  add("", "--json", "FILE",
      "also write a summary (steps, the last step's loss, the last epoch's record) as JSON",
      [&](const std::string& v) { o.json = v; });
  bool print_config = false;
  p.add({"", "--print-config", "", "print the options this command line resolves to (key=value) and exit",
         [&](const std::string&) { print_config = true; }});
  p.add_common();
  std::string epilog = "Recipes (--recipe NAME; options given on the command line win):\n";
  for (const auto& r : recipes())
    epilog += std::string("  ") + r.name + ": " + recipe_flags_text(r) + "\n      " + r.summary + "\n";
  p.set_epilog(epilog);
  p.parse(argc, argv);
  // Checked once --out is known: the summary may go into the --out folder the run creates.
  if (!o.json.empty()) o.json = cli::json_file(o.json, o.out);
  // A preset fills in a new run's options. A resumed run's are its checkpoint's, which hold the
  // preset's values and whatever its command line overrode, so there --recipe fills in nothing and
  // need only name the checkpoint's preset (merge_checkpoint_config compares the name).
  std::map<std::string, std::string> from_recipe;
  const std::set<std::string> typed = o.given;  // before a preset adds its flags
  if (!o.recipe.empty() && !resumes_a_run(o))
    for (const auto& [flag, value] : find_recipe(o.recipe).flags)
      if (o.given.count(flag) == 0) {
        p.apply(flag, value);
        from_recipe[flag] = value;
      }
  // A resumed run's options are its checkpoint's, which a changed recipe flag may not contradict.
  if (!resumes_a_run(o)) {
    std::set<std::string> preset;
    for (const auto& [flag, value] : from_recipe) preset.insert(flag);
    for (const std::string& w : inert_options(o, typed, preset)) log_warning(w);
  }
  try {
    return train(o, gpu, print_config, lead);
  } catch (const UserError& e) {
    const std::string note = recipe_note(e.message(), o.recipe, from_recipe);
    if (lead && !print_config) write_failed_summary(o, e.message() + note);
    if (note.empty()) throw;
    throw UserError(e.message() + note, e.where());
  } catch (const std::exception& e) {
    if (lead && !print_config) write_failed_summary(o, describe_error(e, false));
    throw;
  }
}

// The run (or, with --print-config, the options it would take) once the flags are parsed.
int train(TrainOptions o, int gpu, bool print_config, bool lead) {
  if (print_config) {
    // The launcher's variables alone: MPI is not started for a command that only prints (a rank
    // that started it would have to finalize it, or mpirun reports the exit as improper).
    const RankInfo ranks =
        ranks_from_environment([](const char* name) { return std::getenv(name); });
    // On resume the checkpoint's options, as the run would take them (its device decides the precision).
    o.device = select_rank_device(gpu, ranks);
    o = resolved_options(o);
    // What it prints must be a run's options: a value the run would refuse is refused here too,
    // a precision the device lacks and a shape too large for its memory included.
    check_option_values(o);
    cli::check_precision(o.precision, o.device.is_cuda());
    check_run_fits(o, ranks.size);
    check_validation_names(o.val);
    // The run's own listing checks (a folder that is missing or no folder), its images not read.
    for (const auto& [what, dirs] :
         {std::pair{"training folder", &o.train}, std::pair{"validation set", &o.val}})
      for (const std::string& dir : *dirs) (void)list_image_files(dir, what);
    // One copy of the options, not one per rank (every rank still does the same work up to here).
    if (lead)
      for (const auto& [k, v] : train_config_record(o))
        std::printf("%s=%s\n", k.c_str(), v.c_str());
    return 0;
  }

  VDSR_USER_CHECK(!o.train.empty() || !o.resume.empty(), "--train DIR is required (or --resume CKPT)");
  VDSR_USER_CHECK(!o.out.empty() || (!o.resume.empty() && o.resume != "auto"), "--out DIR is required");
  o.device = select_rank_device(gpu, process_ranks());
  cli::check_precision(o.precision, o.device.is_cuda());
  g_say_stop = lead && log_level() != LogLevel::Quiet;
  install_stop_handlers();
  TrainHooks hooks;
  hooks.stop = &g_stop;
  const TrainResult r = run_training(o, hooks);
  finalize_ranks();
  return r.stopped_by_signal != 0 ? 128 + r.stopped_by_signal : 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
