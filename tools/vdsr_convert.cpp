// vdsr_convert: a model from elsewhere (a MATLAB .mat release, a safetensors file with another
// tool's names, half precision or wrapper prefixes: docs/formats.md) into our safetensors layout,
// with its provenance (the source's file name and sha256) and the source's own metadata; or, for an
// output named .mat, any model we read into the authors' MATLAB layout (model/mat_export.h). Exit
// 0, or 1 with the reason.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <type_traits>

#include "engine/error.h"
#include "engine/log.h"
#include "engine/values.h"
#include "image/codec.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "model/mat_export.h"
#include "model/mat_import.h"
#include "model/train_options.h"
#include "model/weights_io.h"
#include "tools/cli.h"

using namespace vdsr;

namespace {

// A checkpoint's EMA of the weights (optim.ema.*) as its weights, for --ema.
VdsrWeights ema_weights_of(const std::string& in) {
  VDSR_USER_CHECK(!is_matlab_file(in), "--ema takes a checkpoint's averaged weights; "
                                           << printable(in) << " is a MATLAB file");
  const SafeTensors st = read_safetensors(in);
  VdsrWeights w = weights_from_safetensors(st, in);
  VDSR_USER_CHECK(st.find(std::string(kEmaStatePrefix) + "layers.0.weight") != nullptr,
                  printable(in) << " holds no average of the weights (a checkpoint of a run with "
                                   "--ema does; a weights file already is what its run wrote): "
                                   "leave out --ema");
  w.params = read_param_tensors(st, w.config, kEmaStatePrefix, in);
  return w;
}

// What the model says of itself beside its shape, for the summary line: the scale an SRCNN model
// serves, the scales a VDSR model was trained at, which weights a checkpoint's are.
std::string recorded_facts(const VdsrWeights& w, const std::map<std::string, std::string>& meta) {
  std::string facts;
  const auto add = [&](const char* key, const std::string& words) {
    if (const auto it = meta.find(key); it != meta.end())
      facts += (facts.empty() ? "" : "; ") + words + printable(it->second);
  };
  if (w.config.arch == Arch::Srcnn)
    add("scale", "x");
  else
    add("scales", "trained at scales ");
  add("weights", "weights ");
  return facts.empty() ? "" : " [" + facts + "]";
}

int run(int argc, char** argv) {
  std::vector<std::string> files;
  bool averaged_weights = false;
  cli::Parser p("vdsr_convert", "convert a model to vdsr's safetensors layout, or to the authors' MATLAB one",
                "vdsr_convert IN OUT.safetensors   (IN: .mat or safetensors, any accepted layout)\n"
                "       vdsr_convert IN OUT.mat           (the VDSR / SRCNN release's .mat layout, for MATLAB)");
  p.add({"", "--ema", "",
         "a checkpoint of a run with --ema: convert its averaged weights (what the run validates "
         "and writes at its end), not its raw ones",
         [&](const std::string&) { averaged_weights = true; }});
  p.add_common();
  p.parse_positional(argc, argv, &files);
  VDSR_USER_CHECK(
      files.size() <= 2,
      "one argument too many: " << printable(files[2]) << " (vdsr_convert takes IN and OUT)");
  VDSR_USER_CHECK(files.size() == 2,
                  "give the input model and the output file: vdsr_convert IN OUT.safetensors (or OUT.mat)");
  for (const std::string& f : files)
    VDSR_USER_CHECK(f != "-", "vdsr_convert reads and writes model files by name; '-' (a standard stream) is not "
                              "one: give the file's path");
  const std::string& in = files[0];
  VDSR_USER_CHECK(!in.empty(), "IN needs a file name (the model to convert)");
  const std::string& out = cli::output_file(files[1], "OUT");
  // The output's format is its name's: anything else (a slip such as an image's name) would be
  // replaced by a model file.
  const std::string ext = codec::extension_of(out);
  VDSR_USER_CHECK(ext == "safetensors" || ext == "mat",
                  "OUT '" << printable(out)
                          << "': name the output .safetensors (vdsr's layout) or .mat (the "
                          << "authors' MATLAB layout); its extension says which");
  // ".safetensors" alone is what "$NAME.safetensors" gives with NAME unset: a hidden file, surely
  // not the name meant.
  VDSR_USER_CHECK(std::filesystem::path(out).filename().string() != "." + ext,
                  "OUT '" << printable(out) << "' has no name before its extension");
  // One file under two names (a link, ./x, a hard link) is the input; a name that cannot be checked
  // (none yet, too long, unreadable) is said by the read or the write that follows, in words.
  std::error_code ec;
  VDSR_USER_CHECK(!std::filesystem::equivalent(in, out, ec),
                  "the output '" << out << "' is the input");
  const VdsrWeights w = averaged_weights ? ema_weights_of(in) : load_weights(in);
  if (ext == "mat") {
    save_matlab_weights(out, w);
    log_info("vdsr_convert: " + printable(in) + " (" + w.config.describe() + ") -> " + printable(out) +
             " (MATLAB, the " + (w.config.arch == Arch::Srcnn ? "SRCNN" : "VDSR") + " release's layout)");
    // The layout holds the weights alone (docs/formats.md): what the source said of them stays
    // behind, and a tool reading the .mat cannot warn of a scale it was not trained at.
    std::vector<std::string> left;             // the keys that matter most first
    const bool from_mat = is_matlab_file(in);  // its source keys are the reader's, of this file
    for (const char* key : {"scale", "scales", "weights", "recipe"})
      if (w.metadata.count(key) != 0) left.push_back(key);
    for (const auto& [key, value] : w.metadata)
      if (key.rfind("state.", 0) != 0 && key != "arch" && key != "depth" && key != "channels" &&
          key != "bias" && key != "kind" && key != "format" && key != "kernels" &&
          !(from_mat && key.rfind("source", 0) == 0) &&
          std::find(left.begin(), left.end(), key) == left.end())
        left.push_back(key);
    std::string named;
    for (size_t k = 0; k < left.size() && k < 4; ++k) named += (k == 0 ? "" : ", ") + left[k];
    if (left.size() > 4) named += " and " + std::to_string(left.size() - 4) + " more";
    if (!left.empty())
      log_info(
          "vdsr_convert: the .mat layout holds the weights alone, not the source's metadata (" +
          named + "): keep the source for it");
    return 0;
  }
  // The source's own metadata travels (its recipe, the scales it was trained at, another tool's
  // notes); a checkpoint's options, stored as config.KEY, become the KEY a run's weights carry.
  // What describes this file is ours: the layout keys save_weights writes, kind and provenance.
  std::map<std::string, std::string> meta, config;
  for (const auto& [key, value] : w.metadata)
    if (key.rfind("state.", 0) == 0)
      continue;  // a checkpoint's run state (its unscored record, its tensors' checksum)
    else if (key.rfind("config.", 0) == 0)
      config[key.substr(7)] = value;
    else
      meta[key] = value;
  if (!config.empty()) {
    // A checkpoint's: its options as a run's weights carry them, and what these weights are (its
    // raw ones: a run with --ema writes the average as vdsr.safetensors).
    for (const auto& [key, value] : config) meta[key] = value;
    meta["recipe"] = describe_recipe(config);
    const auto ema = config.find("ema");
    const bool averaged = ema != config.end() && ema->second != "0";
    meta["weights"] =
        averaged_weights
            ? "ema " + (ema != config.end() ? ema->second + " " : "") + "(a checkpoint's)"
            : "raw (a checkpoint's" +
                  (averaged ? "; its run averages them, ema " + ema->second : "") + ")";
    // How far its run had got, under the names a run's weights give it.
    const SafeTensors file = read_safetensors(in);
    const auto number = [&](const char* tensor, const char* dtype, const char* key, auto type) {
      const StTensor* t = file.find(tensor);
      if (t == nullptr || t->dtype != dtype || t->data.size() != sizeof type) return;
      std::memcpy(&type, t->data.data(), sizeof type);
      meta[key] =
          std::is_integral_v<decltype(type)> ? std::to_string(type) : format_double(double(type));
    };
    number("state.step", "I64", "steps", int64_t{});
    number("state.epoch", "I64", "epochs_done", int64_t{});
    number("state.seconds", "F64", "train_seconds", double{});
  }
  // A file converted before keeps where it first came from: its source becomes the origin, once.
  // (A .mat's reader names the file itself as the source.)
  const bool matlab = is_matlab_file(in);
  if (!matlab && meta.count("source") != 0 && meta.count("origin") == 0)
    for (const std::string key : {"source", "source_format", "source_sha256"})
      if (const auto it = meta.find(key); it != meta.end())
        meta["origin" + key.substr(6)] = it->second;
  // An SRCNN model serves one scale; without one (none in its metadata, no x2 / x3 / x4 in its
  // name) the tools use it at whichever is asked for.
  if (w.config.arch == Arch::Srcnn && meta.count("scale") == 0)
    log_warning(printable(in) +
                ": an SRCNN model serves one scale, and neither its metadata nor "
                "its name (one of x2, x3 or x4, alone) says which: vdsr_sr and vdsr_eval will use "
                "it at the scale "
                "asked for; name the input with its scale and convert again");
  meta["source"] = std::filesystem::path(in).filename().string();
  meta["source_sha256"] = sha256_file_hex(in);
  meta["source_format"] = matlab ? "matlab" : "safetensors";
  meta["kind"] = "weights";
  save_weights(out, w.config, w.params.data(), meta);
  log_info("vdsr_convert: " + printable(in) + " (" + w.config.describe() + ")" +
           recorded_facts(w, meta) + " -> " + printable(out));
  for (const auto& [key, value] : meta) log_verbose("  " + key + ": " + printable(value));
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
