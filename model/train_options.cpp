// The trainer's options as stored in checkpoints: one table of keys (flag, recipe or run option,
// conversions to and from the stored string), the record, the merge on resume, and the option
// values by name (model/train_options.h).
#include "model/train_options.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <utility>

#include "engine/error.h"
#include "engine/values.h"
#include "io/sha256.h"
#include "model/precision.h"
#include "model/recipes.h"

namespace vdsr {

namespace {

// One stored option: its config key, the flag that sets it, whether it is part of the recipe (a
// resume must not change it), and conversions to and from the stored string.
struct ConfigKey {
  const char* key;
  const char* flag;
  bool recipe;
  std::string (*get)(const TrainOptions&);
  void (*set)(TrainOptions&, const std::string&);
};

const std::vector<ConfigKey>& config_keys() {
  static const std::vector<ConfigKey> keys = {
      {"scales", "--scales", true,
       [](const TrainOptions& o) {
         std::vector<std::string> v;
         for (const int s : o.data.scales) v.push_back(std::to_string(s));
         return join_list(v);
       },
       [](TrainOptions& o, const std::string& v) {
         o.data.scales.clear();
         for (const auto& s : split_list(v)) o.data.scales.push_back(parse_int(s, "checkpoint config scales"));
       }},
      {"patch", "--patch", true, [](const TrainOptions& o) { return std::to_string(o.data.patch); },
       [](TrainOptions& o, const std::string& v) { o.data.patch = parse_int(v, "checkpoint config patch"); }},
      {"stride", "--stride", true, [](const TrainOptions& o) { return std::to_string(o.data.stride); },
       [](TrainOptions& o, const std::string& v) { o.data.stride = parse_int(v, "checkpoint config stride"); }},
      {"augment", "--no-augment", true,
       [](const TrainOptions& o) { return std::string(o.data.augment ? "true" : "false"); },
       [](TrainOptions& o, const std::string& v) { o.data.augment = parse_bool(v, "checkpoint config augment"); }},
      {"downscales", "--downscales", true,
       [](const TrainOptions& o) {
         std::vector<std::string> v;
         for (const double d : o.data.downscales) v.push_back(format_double(d));
         return join_list(v);
       },
       [](TrainOptions& o, const std::string& v) {
         o.data.downscales.clear();
         for (const auto& s : split_list(v)) o.data.downscales.push_back(parse_double(s, "checkpoint config downscales"));
       }},
      {"batch", "--batch", true, [](const TrainOptions& o) { return std::to_string(o.batch); },
       [](TrainOptions& o, const std::string& v) { o.batch = parse_int(v, "checkpoint config batch"); }},
      {"epoch_iters", "--epoch-iters", true,
       [](const TrainOptions& o) { return std::to_string(o.epoch_iters); },
       [](TrainOptions& o, const std::string& v) { o.epoch_iters = parse_int(v, "checkpoint config epoch_iters"); }},
      {"recipe", "--recipe", true, [](const TrainOptions& o) { return o.recipe; },
       [](TrainOptions& o, const std::string& v) { o.recipe = v; }},
      {"optimizer", "--optimizer", true,
       [](const TrainOptions& o) { return std::string(optimizer_name(o.step.optim.kind)); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.kind = parse_optimizer(v); }},
      {"lr", "--lr", true, [](const TrainOptions& o) { return format_double(o.step.lr); },
       [](TrainOptions& o, const std::string& v) { o.step.lr = parse_double(v, "checkpoint config lr"); }},
      {"lr_schedule", "--lr-schedule", true,
       [](const TrainOptions& o) { return std::string(lr_schedule_name(o.lr_schedule)); },
       [](TrainOptions& o, const std::string& v) { o.lr_schedule = parse_lr_schedule(v); }},
      {"warmup_steps", "--warmup-steps", true, [](const TrainOptions& o) { return std::to_string(o.warmup_steps); },
       [](TrainOptions& o, const std::string& v) { o.warmup_steps = parse_int64(v, "checkpoint config warmup_steps"); }},
      {"lr_min", "--lr-min", true, [](const TrainOptions& o) { return format_double(o.lr_min); },
       [](TrainOptions& o, const std::string& v) { o.lr_min = parse_double(v, "checkpoint config lr_min"); }},
      {"beta1", "--beta1", true, [](const TrainOptions& o) { return format_double(o.step.optim.beta1); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.beta1 = parse_double(v, "checkpoint config beta1"); }},
      {"beta2", "--beta2", true, [](const TrainOptions& o) { return format_double(o.step.optim.beta2); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.beta2 = parse_double(v, "checkpoint config beta2"); }},
      {"eps", "--eps", true, [](const TrainOptions& o) { return format_double(o.step.optim.eps); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.eps = parse_double(v, "checkpoint config eps"); }},
      {"bias_lr_mult", "--bias-lr-mult", true, [](const TrainOptions& o) { return format_double(o.step.optim.bias_lr_mult); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.bias_lr_mult = parse_double(v, "checkpoint config bias_lr_mult"); }},
      {"ema", "--ema", true, [](const TrainOptions& o) { return format_double(o.step.optim.ema); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.ema = parse_double(v, "checkpoint config ema"); }},
      {"init", "--init", true, [](const TrainOptions& o) { return std::string(init_name(o.init)); },
       [](TrainOptions& o, const std::string& v) { o.init = parse_init(v); }},
      {"init_from", "--init-from", true, [](const TrainOptions& o) { return o.init_from; },
       [](TrainOptions& o, const std::string& v) { o.init_from = v; }},
      {"lr_step", "--lr-step", true, [](const TrainOptions& o) { return std::to_string(o.lr_step); },
       [](TrainOptions& o, const std::string& v) { o.lr_step = parse_int(v, "checkpoint config lr_step"); }},
      {"momentum", "--momentum", true, [](const TrainOptions& o) { return format_double(o.step.optim.momentum); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.momentum = parse_double(v, "checkpoint config momentum"); }},
      {"weight_decay", "--weight-decay", true,
       [](const TrainOptions& o) { return format_double(o.step.optim.weight_decay); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.weight_decay = parse_double(v, "checkpoint config weight_decay"); }},
      {"clip_mode", "--clip-mode", true,
       [](const TrainOptions& o) { return std::string(clip_mode_name(o.step.optim.clip_mode)); },
       [](TrainOptions& o, const std::string& v) { o.step.optim.clip_mode = parse_clip_mode(v); }},
      {"clip", "--clip", true, [](const TrainOptions& o) { return format_double(o.step.clip); },
       [](TrainOptions& o, const std::string& v) { o.step.clip = parse_double(v, "checkpoint config clip"); }},
      {"clip_scale_by_lr", "--clip-scale-by-lr", true,
       [](const TrainOptions& o) { return std::string(o.step.clip_scale_by_lr ? "true" : "false"); },
       [](TrainOptions& o, const std::string& v) { o.step.clip_scale_by_lr = parse_bool(v, "checkpoint config clip_scale_by_lr"); }},
      {"seed", "--seed", true, [](const TrainOptions& o) { return std::to_string(o.seed); },
       [](TrainOptions& o, const std::string& v) { o.seed = parse_uint64(v, "checkpoint config seed"); }},
      {"depth", "--depth", true, [](const TrainOptions& o) { return std::to_string(o.model.depth); },
       [](TrainOptions& o, const std::string& v) { o.model.depth = parse_int(v, "checkpoint config depth"); }},
      {"channels", "--channels", true, [](const TrainOptions& o) { return std::to_string(o.model.channels); },
       [](TrainOptions& o, const std::string& v) { o.model.channels = parse_int(v, "checkpoint config channels"); }},
      {"bias", "--no-bias", true, [](const TrainOptions& o) { return std::string(o.model.bias ? "true" : "false"); },
       [](TrainOptions& o, const std::string& v) { o.model.bias = parse_bool(v, "checkpoint config bias"); }},
      // Run options: taken from the checkpoint when not given, free to change.
      {"epochs", "--epochs", false, [](const TrainOptions& o) { return std::to_string(o.epochs); },
       [](TrainOptions& o, const std::string& v) { o.epochs = parse_int(v, "checkpoint config epochs"); }},
      {"log_every", "--log-every", false, [](const TrainOptions& o) { return std::to_string(o.log_every); },
       [](TrainOptions& o, const std::string& v) { o.log_every = parse_int(v, "checkpoint config log_every"); }},
      {"train", "--train", false, [](const TrainOptions& o) { return join_list(o.train); },
       [](TrainOptions& o, const std::string& v) { o.train = split_list(v); }},
      {"val", "--val", false, [](const TrainOptions& o) { return join_list(o.val); },
       [](TrainOptions& o, const std::string& v) { o.val = split_list(v); }},
      {"precision", "--precision", false, [](const TrainOptions& o) { return o.precision; },
       [](TrainOptions& o, const std::string& v) { o.precision = v; }},
  };
  return keys;
}

}  // namespace

std::string describe_recipe(const std::map<std::string, std::string>& c) {
  std::string s;
  for (const auto& k : config_keys())
    if (k.recipe && c.count(k.key) && !c.at(k.key).empty())
      s += std::string(s.empty() ? "" : " ") + k.key + "=" + c.at(k.key);
  return s;
}

Optimizer parse_optimizer(const std::string& v) {
  if (v == "sgd") return Optimizer::Sgd;
  if (v == "adam") return Optimizer::Adam;
  if (v == "adamw") return Optimizer::AdamW;
  VDSR_USER_FAIL("--optimizer must be sgd, adam or adamw, got '" << v << "'");
}

ClipMode parse_clip_mode(const std::string& v) {
  if (v == "norm") return ClipMode::Norm;
  if (v == "value") return ClipMode::Value;
  if (v == "none") return ClipMode::None;
  VDSR_USER_FAIL("--clip-mode must be norm, value or none, got '" << v << "'");
}

LrSchedule parse_lr_schedule(const std::string& v) {
  if (v == "step") return LrSchedule::Step;
  if (v == "cosine") return LrSchedule::Cosine;
  if (v == "constant") return LrSchedule::Constant;
  VDSR_USER_FAIL("--lr-schedule must be step, cosine or constant, got '" << v << "'");
}

InitFan parse_init(const std::string& v) {
  if (v == "fan-in") return InitFan::In;
  if (v == "fan-out") return InitFan::Out;
  VDSR_USER_FAIL("--init must be fan-in or fan-out, got '" << v << "'");
}

const char* init_name(InitFan f) { return f == InitFan::In ? "fan-in" : "fan-out"; }

std::map<std::string, std::string> train_config_record(const TrainOptions& o) {
  std::map<std::string, std::string> c;
  for (const auto& k : config_keys()) c[k.key] = k.get(o);
  return c;
}

namespace {
// --init-from on resume names the same weights under another path (a node's own copy, a path
// relative to another folder): the file's SHA-256 equals the one the run recorded
// (init_from_sha256), or, for a checkpoint of before it was recorded, the checkpoint's file's.
// A resume takes its weights from the checkpoint, so only another file is a conflict.
bool same_init_file(const TrainOptions& o, const std::map<std::string, std::string>& ckpt,
                    const std::string& key) {
  if (key != "init_from" || o.init_from.empty()) return false;
  const auto path = ckpt.find("init_from");
  if (path == ckpt.end() || path->second.empty() || path->second == o.init_from) return false;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(o.init_from, ec)) return false;
  const auto recorded = ckpt.find("init_from_sha256");
  if (recorded != ckpt.end()) return sha256_file_hex(o.init_from) == recorded->second;
  return std::filesystem::is_regular_file(path->second, ec) &&
         sha256_file_hex(o.init_from) == sha256_file_hex(path->second);
}
}  // namespace

void merge_checkpoint_config(TrainOptions& o, const std::map<std::string, std::string>& ckpt) {
  // An empty value (no --recipe, no --init-from, no --downscales) reads as "none" in the message.
  const auto shown = [](const std::string& v) { return v.empty() ? std::string("none") : v; };
  std::vector<std::string> conflicts;
  const TrainOptions defaults;
  for (const auto& k : config_keys()) {
    const auto it = ckpt.find(k.key);
    // A checkpoint written before this option existed ran with its default: a recipe option given
    // with another value is a conflict as with any other; left out, the default stands.
    if (it == ckpt.end() && !k.recipe) continue;
    const std::string value = it == ckpt.end() ? k.get(defaults) : it->second;
    TrainOptions c = o;
    k.set(c, value);
    // The defaults are the bundled preset: a run of no --recipe resumed with --recipe bundled
    // (which fills in nothing on resume) names the same options, and keeps the checkpoint's record.
    const auto is_bundled = [](const std::string& name) {
      return name.empty() || name == "bundled";
    };
    const bool bundled_default =
        k.key == std::string("recipe") && is_bundled(k.get(o)) && is_bundled(k.get(c));
    if (o.given.count(k.flag) == 0 || bundled_default || same_init_file(o, ckpt, k.key))
      k.set(o, value);
    else if (k.recipe && k.get(o) != k.get(c))
      conflicts.push_back(std::string(k.flag) + " (" + k.key + " " + shown(k.get(o)) + ", the checkpoint has " +
                          shown(k.get(c)) + ")");
  }
  if (!conflicts.empty()) {
    std::string msg;
    for (const auto& c : conflicts) msg += (msg.empty() ? "" : "; ") + c;
    VDSR_USER_FAIL("the command line differs from the checkpoint's recipe: " << msg
              << ". Leave these options out to take the checkpoint's values, or start a new run");
  }
}

TrainOptions options_from_config(const std::map<std::string, std::string>& config) {
  TrainOptions o;
  for (const auto& k : config_keys())
    if (const auto it = config.find(k.key); it != config.end()) k.set(o, it->second);
  check_option_values(o);
  return o;
}

std::vector<std::string> inert_options(const TrainOptions& o, const std::set<std::string>& typed,
                                       const std::set<std::string>& from_recipe) {
  std::vector<std::string> said;
  const OptimConfig& op = o.step.optim;
  const auto ignored = [&](const char* flag, bool inert, const std::string& because) {
    if (inert && typed.count(flag) != 0)
      said.push_back(std::string(flag) + " has no effect: " + because);
  };
  const std::string opt = optimizer_name(op.kind);
  ignored("--momentum", op.kind != Optimizer::Sgd, "--optimizer " + opt + " has no momentum term");
  for (const char* flag : {"--beta1", "--beta2", "--eps"})
    ignored(flag, op.kind == Optimizer::Sgd, "it is Adam's and AdamW's, and --optimizer is sgd");
  ignored("--lr-step", o.lr_schedule != LrSchedule::Step,
          std::string("it is the step schedule's, and --lr-schedule is ") +
              lr_schedule_name(o.lr_schedule));
  ignored("--lr-min", o.lr_schedule != LrSchedule::Cosine,
          std::string("it is the cosine schedule's end, and --lr-schedule is ") +
              lr_schedule_name(o.lr_schedule));
  for (const char* flag : {"--clip", "--clip-scale-by-lr"})
    ignored(flag, op.clip_mode == ClipMode::None, "--clip-mode is none");
  ignored("--init", !o.init_from.empty(), "--init-from gives the starting weights");
  ignored("--bias-lr-mult", !o.model.bias, "--no-bias leaves no biases");
  if (typed.count("--clip-mode") != 0 && op.clip_mode != ClipMode::None &&
      from_recipe.count("--clip") != 0)
    said.push_back("--clip-mode " + std::string(clip_mode_name(op.clip_mode)) + " keeps --recipe " +
                   o.recipe + "'s --clip " + format_double(o.step.clip) +
                   (o.step.clip_scale_by_lr ? " and --clip-scale-by-lr" : "") +
                   ", which it set for its own clip mode: give --clip for this one");
  const int64_t steps = int64_t(o.epochs) * o.epoch_iters;
  if (o.warmup_steps > 0 && o.epoch_iters > 0 && o.warmup_steps >= steps)
    said.push_back("--warmup-steps " + std::to_string(o.warmup_steps) +
                   " is not shorter than the run (" + std::to_string(steps) +
                   " steps): the rate never reaches --lr " + format_double(o.step.lr));
  return said;
}

void check_train_options(const TrainOptions& o) {
  VDSR_USER_CHECK(!o.train.empty(), "--train DIR is required");
  check_option_values(o);
}

void check_option_values(const TrainOptions& o) {
  const std::pair<const char*, int64_t> at_least_one[] = {
      {"--batch", o.batch},         {"--patch", o.data.patch},    {"--stride", o.data.stride},
      {"--lr-step", o.lr_step},     {"--log-every", o.log_every}, {"--channels", o.model.channels}};
  for (const auto& [flag, v] : at_least_one) VDSR_USER_CHECK(v >= 1, flag << " must be at least 1, got " << v);
  VDSR_USER_CHECK(o.model.depth >= 2, "--depth must be at least 2 (a first and a last layer), got " << o.model.depth);
  // Far beyond any VDSR (20 x 64), and small enough that the layer table's sizes cannot overflow.
  VDSR_USER_CHECK(o.model.depth <= kMaxDepth, "--depth must be at most " << kMaxDepth << ", got " << o.model.depth);
  VDSR_USER_CHECK(o.model.channels <= kMaxChannels,
                  "--channels must be at most " << kMaxChannels << ", got " << o.model.channels);
  const std::pair<const char*, int64_t> not_negative[] = {
      {"--epochs", o.epochs}, {"--epoch-iters", o.epoch_iters}, {"--max-steps", o.max_steps}};
  for (const auto& [flag, v] : not_negative) VDSR_USER_CHECK(v >= 0, flag << " must be 0 or more, got " << v);
  VDSR_USER_CHECK(o.step.lr > 0 && std::isfinite(o.step.lr), "--lr must be positive, got " << o.step.lr);
  VDSR_USER_CHECK(o.lr_min >= 0 && o.lr_min <= o.step.lr,
                  "--lr-min must be in [0, --lr] = [0, " << format_double(o.step.lr) << "], got "
                                                         << format_double(o.lr_min));
  VDSR_USER_CHECK(o.warmup_steps >= 0, "--warmup-steps must be >= 0, got " << o.warmup_steps);
  VDSR_USER_CHECK(o.step.optim.beta1 >= 0 && o.step.optim.beta1 < 1 && o.step.optim.beta2 >= 0 && o.step.optim.beta2 < 1,
             "--beta1 and --beta2 must be in [0, 1), got " << o.step.optim.beta1 << " and " << o.step.optim.beta2);
  VDSR_USER_CHECK(o.step.optim.eps > 0, "--eps must be positive, got " << o.step.optim.eps);
  // The optimizer computes in float (kernels/optim_step_math.h): a rate or an eps that rounds to 0
  // there would train nothing, or divide by a zero second moment.
  for (const auto& [flag, v] :
       {std::pair<const char*, double>{"--lr", o.step.lr}, {"--eps", o.step.optim.eps}})
    VDSR_USER_CHECK(static_cast<float>(v) > 0,
                    flag << " " << format_double(v)
                         << " rounds to 0 in float, the optimizer's arithmetic (its smallest "
                         << "is 1.4e-45)");
  VDSR_USER_CHECK(o.step.optim.momentum >= 0 && o.step.optim.momentum < 1, "--momentum must be in [0, 1), got " << o.step.optim.momentum);
  VDSR_USER_CHECK(o.step.optim.weight_decay >= 0, "--weight-decay must be >= 0, got " << o.step.optim.weight_decay);
  VDSR_USER_CHECK(o.step.optim.bias_lr_mult >= 0, "--bias-lr-mult must be >= 0, got " << o.step.optim.bias_lr_mult);
  VDSR_USER_CHECK(o.step.optim.ema >= 0 && o.step.optim.ema < 1, "--ema must be in [0, 1) (0: off), got " << o.step.optim.ema);
  VDSR_USER_CHECK(o.step.optim.clip_mode == ClipMode::None || o.step.clip > 0,
             "--clip must be positive with --clip-mode " << clip_mode_name(o.step.optim.clip_mode) << ", got " << o.step.clip);
  // The optimizer applies the clip threshold in float (kernels/optim_step_math.h): one that rounds
  // to 0 there clips every gradient to nothing. With --clip-scale-by-lr it is smallest at the peak
  // rate (later rates only raise it).
  if (o.step.optim.clip_mode != ClipMode::None && o.step.clip > 0) {
    const double t = o.step.clip_scale_by_lr ? o.step.clip / o.step.lr : o.step.clip;
    VDSR_USER_CHECK(
        static_cast<float>(t) > 0,
        (o.step.clip_scale_by_lr
             ? "--clip " + format_double(o.step.clip) + " with --clip-scale-by-lr and --lr " +
                   format_double(o.step.lr) + " makes the threshold clip / lr"
             : "--clip " + format_double(o.step.clip) + " makes the threshold")
            << " round to 0 in float (its smallest is 1.4e-45): give a larger --clip"
            << (o.step.clip_scale_by_lr ? " or a smaller --lr" : ""));
  }
  for (const double d : o.data.downscales)
    VDSR_USER_CHECK(d > 0 && d < 1, "--downscales: " << d << " is not in (0, 1)");
  (void)parse_precision(o.precision);  // a checkpoint's record, as the flag's
  if (!o.recipe.empty()) (void)find_recipe(o.recipe);
  VDSR_USER_CHECK(!o.data.scales.empty(), "--scales is empty");
  for (const int s : o.data.scales) VDSR_USER_CHECK(s >= 2 && s <= 4, "--scales: " << s << " is outside 2..4");
}

}  // namespace vdsr
