// vdsr_eval: PSNR/SSIM tables on evaluation sets with the paper's protocol (docs/evaluation.md): 8-bit Y,
// modcrop, MATLAB bicubic down and up in double, the network (VDSR or SRCNN, or bicubic alone),
// rounding, shave, PSNR and SSIM. Prints a table; --json writes the machine-readable results (every
// image's scores too); --save writes every scored output as an 8-bit grey PNG (--colour: colour
// pictures of them, for figures); --score scores
// outputs made elsewhere (another method's, in --save's layout) instead of running a network.
// --table3 scores Bicubic, SRCNN (one model per scale) and VDSR side by side with the paper's Table 3.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/log.h"
#include "image/color.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/paper_table.h"
#include "io/file_plan.h"
#include "model/inference.h"
#include "model/model_files.h"
#include "model/tiled.h"
#include "model/weights_io.h"
#include "tools/cli.h"

namespace fs = std::filesystem;
using namespace vdsr;

namespace {

struct Options {
  std::vector<std::string> data;
  std::vector<int> scales{2, 3, 4};
  bool scales_given = false;
  std::string model;
  bool bicubic = false;
  int gpu = kDefaultDevice;
  std::string precision = "fp32";
  bool tta = false;
  std::string json;
  std::string save;   // --save DIR: the scored outputs as PNGs
  bool colour = false;  // --colour: --save's PNGs in colour (the LR's chroma bicubic)
  std::string score;  // --score DIR: outputs to score, DIR/SET/xS/IMAGE.*
  bool table3 = false;
  std::string models;  // --models KEY=FILE,...
};

// One column of the evaluation: the bicubic baseline (no network), a network for every scale
// (VDSR) or one per scale (SRCNN), or outputs made elsewhere (--score).
struct Method {
  std::string name;
  PaperMethod paper = PaperMethod::Vdsr;
  std::map<int, std::unique_ptr<Vdsr>> nets;  // by the scale it serves; 0: every scale
  std::string predictions;                    // --score: the folder of outputs made elsewhere
  std::string desc;                           // what the log and the JSON name

  bool serves(int s) const { return nets.empty() || nets.count(0) != 0 || nets.count(s) != 0; }
  Vdsr* net(int s) const {
    if (nets.empty()) return nullptr;
    const auto it = nets.find(nets.count(0) != 0 ? 0 : s);
    return it->second.get();
  }
};

struct Loaded {
  VdsrWeights weights;
  std::unique_ptr<Vdsr> net;
  std::string desc;
};

Loaded load_net(const std::string& path, Device dev, Precision precision) {
  Loaded l;
  l.weights = load_weights(path);
  l.net = make_model(l.weights, dev);
  l.net->set_precision(precision);
  l.desc = path + " (" + l.weights.config.describe() + ", " + dev.name() + ", " + precision_name(precision) + ")";
  return l;
}

std::vector<std::string> default_sets() {
  const char* env = std::getenv("VDSR_DATA_DIR");
  VDSR_USER_CHECK(env != nullptr && *env != '\0',
             "no evaluation sets given: pass --data DIR[,DIR...] (each folder one set, e.g. "
             "data/Set5,data/Set14) or set VDSR_DATA_DIR to a folder holding Set5, Set14, B100, "
             "Urban100");
  std::vector<std::string> sets;
  for (const char* name : {"Set5", "Set14", "B100", "Urban100"})
    if (fs::is_directory(fs::path(env) / name)) sets.push_back((fs::path(env) / name).string());
  VDSR_USER_CHECK(!sets.empty(), "VDSR_DATA_DIR=" << env << " holds none of Set5, Set14, B100, Urban100");
  return sets;
}

std::vector<std::string> images_in(const std::string& dir) {
  std::vector<std::string> skipped;
  auto files = list_image_files(dir, "evaluation set", &skipped);
  for (const auto& f : skipped)
    log_verbose("skipping " + f +
                (f.back() == '/' ? " (a folder: a set is the images directly in its folder)"
                                 : " (not an image)"));
  if (files.empty()) {
    // A folder of sets (the usual slip: --data data/ for data/Set5): say so, and how to name them.
    std::vector<std::string> names;
    for (const auto& f : skipped)
      if (f.back() == '/') names.push_back(fs::path(f.substr(0, f.size() - 1)).filename().string());
    std::sort(names.begin(), names.end());
    std::string folders;
    for (size_t i = 0; i < names.size() && i < 6; ++i) folders += (i > 0 ? ", " : "") + names[i];
    if (names.size() > 6) folders += ", ...";
    VDSR_USER_CHECK(folders.empty(),
                    "evaluation set '"
                        << dir << "' holds no images, only folders (" << folders
                        << "): give each set as --data " << (fs::path(dir) / "SET").string()
                        << ", or VDSR_DATA_DIR=" << dir
                        << " to score the sets Set5, Set14, B100 and Urban100 in it");
    VDSR_USER_FAIL("evaluation set '" << dir << "' holds no images");
  }
  return files;
}

// Table 3's models from --models: vdsr=FILE (else the bundled model) and srcnn-x2/x3/x4=FILE.
std::vector<Method> table3_methods(const Options& o, Device dev, Precision precision) {
  std::map<std::string, std::string> files;
  const auto items = o.models.empty() ? std::vector<std::string>() : cli::parse_list(o.models, "--models", true);
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    VDSR_USER_CHECK(eq != std::string::npos && eq + 1 < item.size(),
                    "--models: '" << item << "' is not KEY=FILE (keys: vdsr, srcnn-x2, srcnn-x3, srcnn-x4)");
    VDSR_USER_CHECK(key == "vdsr" || key == "srcnn-x2" || key == "srcnn-x3" || key == "srcnn-x4",
                    "--models: unknown key '" << key << "' (keys: vdsr, srcnn-x2, srcnn-x3, srcnn-x4)");
    VDSR_USER_CHECK(files.emplace(key, item.substr(eq + 1)).second, "--models names " << key << " twice");
  }
  std::vector<Method> methods(1);
  methods[0].name = "Bicubic";
  methods[0].paper = PaperMethod::Bicubic;
  methods[0].desc = "bicubic";
  Method srcnn;
  srcnn.name = "SRCNN";
  srcnn.paper = PaperMethod::Srcnn;
  for (int scale = 2; scale <= 4; ++scale) {
    const auto it = files.find("srcnn-x" + std::to_string(scale));
    if (it == files.end()) continue;
    Loaded l = load_net(it->second, dev, Precision::Fp32);  // SRCNN runs in fp32 only, whatever --precision says
    VDSR_USER_CHECK(l.weights.config.arch == Arch::Srcnn,
                    "--models srcnn-x" << scale << "=" << it->second << ": that file is a VDSR model, not SRCNN");
    const int serves = model_scale(l.weights);
    VDSR_USER_CHECK(serves <= 0 || serves == scale,
                    "--models srcnn-x" << scale << "=" << it->second << ": that file is the SRCNN model for x" << serves
                                       << "; give it as srcnn-x" << serves << "= and the x" << scale
                                       << " model as srcnn-x" << scale << "=");
    check_model_scale(l.weights, it->second, scale);
    srcnn.desc += (srcnn.desc.empty() ? "" : "; ") + std::string("x") + std::to_string(scale) + ": " + l.desc;
    srcnn.nets[scale] = std::move(l.net);
  }
  if (!srcnn.nets.empty()) methods.push_back(std::move(srcnn));
  Method vdsr;
  vdsr.name = "VDSR";
  const auto it = files.find("vdsr");
  const std::string path = it != files.end() ? it->second : bundled_model_path();
  Loaded l = load_net(path, dev, precision);
  VDSR_USER_CHECK(l.weights.config.arch == Arch::Vdsr, "--models vdsr=" << path << ": that file is an SRCNN model");
  vdsr.desc = l.desc;
  vdsr.nets[0] = std::move(l.net);
  methods.push_back(std::move(vdsr));
  return methods;
}

// -m FILE (or the bundled model) alone; an SRCNN model evaluates at its own scale.
Method single_method(Options& o, Device dev, Precision precision) {
  const std::string path = o.model.empty() ? bundled_model_path() : o.model;
  Loaded l = load_net(path, dev, precision);
  const int serves = model_scale(l.weights);
  if (serves > 0 && !o.scales_given) o.scales = {serves};
  VDSR_USER_CHECK(serves >= 0 || (o.scales_given && o.scales.size() == 1),
                  printable(path) << " is an SRCNN model (one model per scale) and neither its metadata nor its file "
                                     "name gives its scale: pass the one scale it was trained for, --scales N");
  for (const int s : o.scales) check_model_scale(l.weights, path, s, 0, "--scales");
  Method m;
  m.name = "model";
  m.desc = l.desc;
  m.nets[0] = std::move(l.net);
  return m;
}

struct Cell {
  double psnr = 0, ssim = 0, seconds = 0;
  nlohmann::json per_image = nlohmann::json::array();  // {image, psnr, ssim} in the set's order
};

// Outputs are named (--save) and found (--score) by their image's stem: two images of one set with
// one stem (a.png and a.bmp) would share one, so they are refused before anything is scored.
void require_distinct_stems(const std::vector<std::string>& files, const std::string& dir,
                            bool save) {
  std::map<std::string, std::string> seen;
  for (const auto& f : files) {
    const auto [it, fresh] = seen.emplace(fs::path(f).stem().string(), f);
    const std::string both =
        printable(it->second) + " and " + printable(f) + " in " + printable(dir);
    VDSR_USER_CHECK(fresh,
                    (save ? "--save: " + both + " would both be saved as " +
                                printable(it->first + ".png") + "; rename one, or leave out --save"
                          : "--score: " + both + " share the name " + printable(it->first) +
                                ", so one output " + printable(it->first) +
                                ".* would be scored against both; rename one"));
  }
}

// --score: the outputs made elsewhere for one set and scale, by file stem, from DIR/SET/xS (the
// layout --save writes, prediction_dir; any image format). Refused, naming the folder: a missing folder, two files
// with one stem.
std::string prediction_dir(const std::string& root, const std::string& set, int scale) {
  return (fs::path(root) / set / ("x" + std::to_string(scale))).string();
}
std::map<std::string, std::string> prediction_files(const std::string& dir, const std::string& set, int scale) {
  VDSR_USER_CHECK(fs::is_directory(dir), "--score: no folder " << printable(dir) << " (the outputs of set " << set
                                                               << " at x" << scale << ", as --save lays them out)");
  std::map<std::string, std::string> by_stem;
  for (const auto& f : list_image_files(dir, "--score folder")) {
    const auto [it, fresh] = by_stem.emplace(fs::path(f).stem().string(), f);
    VDSR_USER_CHECK(fresh, "--score: " << printable(it->second) << " and " << printable(f)
                                       << " are both outputs for " << it->first << "; keep one");
  }
  return by_stem;
}

// The output made elsewhere for `image` (a set's file) in `files`, by its stem.
const std::string& prediction_for(const std::map<std::string, std::string>& files,
                                  const std::string& image, const std::string& dir) {
  const std::string stem = fs::path(image).stem().string();
  const auto it = files.find(stem);
  VDSR_USER_CHECK(it != files.end(), "--score: no output for " << printable(image) << " in "
                                                               << printable(dir) << " (expected "
                                                               << printable(stem)
                                                               << ".png or another image format)");
  return it->second;
}

// An output made elsewhere must be 8-bit and the size of its image after modcrop (hr_w x hr_h).
void check_prediction(const std::string& path, int width, int height, int bits,
                      const std::string& image, int scale, int hr_w, int hr_h) {
  VDSR_USER_CHECK(
      bits == 8,
      "--score: " << printable(path) << " has " << bits
                  << "-bit samples; the protocol scores 8-bit outputs (docs/evaluation.md)");
  VDSR_USER_CHECK(height == hr_h && width == hr_w,
                  "--score: " << printable(path) << " is " << width << "x" << height << "; "
                              << printable(image) << " at x" << scale << " after modcrop is "
                              << hr_w << "x" << hr_h);
}

// An output made elsewhere as the protocol's prediction: its 8-bit Y (an RGB file through
// rgb2ycbcr, as the HR) over 255, the size of the HR after modcrop.
Plane load_prediction(const std::string& path, const EvalSample& sample, bool* grey_rgb) {
  const Image img = load_image(path);
  check_prediction(path, img.width, img.height, img.bits, sample.name, sample.scale,
                   sample.hr.width, sample.hr.height);
  // A colour file whose channels are all equal, for an image that is not itself stored so: most
  // likely a Y channel saved as RGB, which the protocol reads through rgb2ycbcr (16 + 219/255 of
  // its level), not as the level itself.
  *grey_rgb = !sample.rgb_grey && rgb_with_equal_channels(img);
  Plane y = y_channel_u8(img);
  for (double& v : y.v) v /= 255.0;
  return y;
}

// save_dir: where this cell's predictions go ("" for none), each as its image's stem .png.
Cell evaluate(const Method& m, const std::vector<EvalSample>& samples, const std::string& set,
              int scale, bool tta, const std::string& label, const std::string& save_dir) {
  const auto t0 = std::chrono::steady_clock::now();
  Cell c;
  Vdsr* net = m.net(scale);
  const std::string score_dir = m.predictions.empty() ? std::string() : prediction_dir(m.predictions, set, scale);
  const std::map<std::string, std::string> outputs =
      m.predictions.empty() ? std::map<std::string, std::string>() : prediction_files(score_dir, set, scale);
  Progress progress(label, int64_t(samples.size()), "img");
  if (!save_dir.empty()) cli::output_dir(save_dir, "--save");
  std::vector<std::string> exact;     // images scored infinite
  std::vector<std::string> grey_rgb;  // --score's grey outputs stored as RGB
  for (size_t i = 0; i < samples.size(); ++i) {
    const EvalSample& sample = samples[i];
    // In pieces where a device cannot take the whole image (model/tiled.h): the same output.
    const int tile = net == nullptr ? 0 : auto_tile(*net, sample.input.height, sample.input.width);
    bool grey = false;
    const Plane out =
        !m.predictions.empty()
            ? load_prediction(prediction_for(outputs, sample.name, score_dir), sample, &grey)
        : net == nullptr ? sample.input
        : tta            ? run_model_tta(*net, sample.input, tile)
                         : run_model_tiled(*net, sample.input, tile);
    if (grey) grey_rgb.push_back(fs::path(sample.name).filename().string());
    const Scores sc = score_output(out, sample.hr, scale);
    if (std::isinf(sc.psnr)) exact.push_back(fs::path(sample.name).filename().string());
    // Grey: prediction_u8, the scored pixels; with --colour the sample's chroma makes it a colour picture.
    if (!save_dir.empty())
      save_image((fs::path(save_dir) / (fs::path(sample.name).stem().string() + ".png")).string(),
                 picture_u8(out, sample.cb, sample.cr), ImageFormat::PNG);
    c.psnr += sc.psnr;
    c.ssim += sc.ssim;
    c.per_image.push_back({{"image", fs::path(sample.name).filename().string()}, {"psnr", sc.psnr}, {"ssim", sc.ssim}});
    char line[256];
    std::snprintf(line, sizeof line, "  %s %s x%d: PSNR %.4f SSIM %.4f", m.name.c_str(), sample.name.c_str(), scale,
                  sc.psnr, sc.ssim);
    log_verbose(line);
    progress.update(int64_t(i + 1));
  }
  progress.finish();
  if (!exact.empty())
    log_warning(label + ": " + printable(exact[0]) +
                (exact.size() > 1 ? " and " + std::to_string(exact.size() - 1) + " more" : "") +
                (exact.size() > 1 ? " equal their" : " equals its") +
                " ground truth after the shave, so the PSNR is infinite and so is the "
                "set's mean (inf in the table, null in --json); SSIM is 1 there");
  if (!grey_rgb.empty())
    log_warning("--score: " + std::to_string(grey_rgb.size()) + " of the outputs in " +
                printable(score_dir) + " (e.g. " + printable(grey_rgb[0]) +
                ") are grey pictures stored as RGB (R = G = B): the protocol takes an RGB file's Y "
                "by rgb2ycbcr, 16 + 219/255 of its grey level, not the level itself; if they hold "
                "the Y channel, save them as one-channel images (docs/evaluation.md)");
  c.psnr /= double(samples.size());
  c.ssim /= double(samples.size());
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

// A set is named by its folder: "data/Set5/" is Set5, and "." or ".." the folder they stand for,
// as the shell names it ($PWD where that is the working folder: getcwd resolves links, so a set
// reached through a link would take its target's name).
std::string set_name(const std::string& dir) {
  std::error_code ec;
  fs::path base = fs::current_path(ec);
  if (const char* pwd = std::getenv("PWD");
      pwd != nullptr && pwd[0] == '/' && fs::equivalent(pwd, base, ec))
    base = pwd;
  fs::path p = (fs::path(dir).is_absolute() ? fs::path(dir) : base / dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = p.filename().string();
  VDSR_USER_CHECK(
      !name.empty() && name != "/",
      "--data " << printable(dir) << ": a set is named by its folder, and the root has no name");
  return name;
}

// Every image of every set is read and checked at every scale, and --save's names and --score's
// outputs are checked, before any is scored: a bad file in the last set would otherwise end a long
// run (an hour for --table3 on the CPU) with nothing written.
void check_sets(const Options& o, const std::vector<std::vector<std::string>>& set_files) {
  size_t total = 0;
  for (const auto& files : set_files) total += files.size();
  Progress progress("reading the sets", int64_t(total), "img");
  size_t done = 0;
  for (size_t d = 0; d < o.data.size(); ++d) {
    const std::vector<std::string>& files = set_files[d];
    const std::string set = set_name(o.data[d]);
    if (!o.save.empty()) require_distinct_stems(files, o.data[d], true);
    std::vector<std::string> dirs;                            // --score: by scale
    std::vector<std::map<std::string, std::string>> outputs;  // --score: by scale, by stem
    if (!o.score.empty()) {
      require_distinct_stems(files, o.data[d], false);
      for (const int s : o.scales) {
        dirs.push_back(prediction_dir(o.score, set, s));
        outputs.push_back(prediction_files(dirs.back(), set, s));
      }
    }
    for (const auto& f : files) {
      const Image img = load_image(f);  // decoded whole: a truncated file fails here, not mid-run
      for (size_t k = 0; k < o.scales.size(); ++k) {
        const int s = o.scales[k];
        require_scorable(img.width, img.height, img.bits, s, f);
        if (o.score.empty()) continue;
        const std::string& pred = prediction_for(outputs[k], f, dirs[k]);
        // Decoded, not probed: a truncated output fails here, and the size compared is the one
        // scored (turned upright by its EXIF orientation, which may swap the sides).
        const Image out = load_image(pred);
        check_prediction(pred, out.width, out.height, out.bits, f, s, img.width - img.width % s,
                         img.height - img.height % s);
      }
      progress.update(int64_t(++done));
    }
    // Outputs with no image of their name are not scored: said with -v, as other skipped files.
    if (log_level() == LogLevel::Verbose)
      for (size_t k = 0; k < outputs.size(); ++k)
        for (const auto& [stem, path] : outputs[k])
          if (std::none_of(files.begin(), files.end(), [&](const std::string& f) {
                return fs::path(f).stem().string() == stem;
              }))
            log_verbose("--score: skipping " + printable(path) + " (no image of that name in " +
                        printable(o.data[d]) + ")");
  }
  progress.finish();
}

int run(int argc, char** argv) {
  Options o;
  cli::Parser p("vdsr_eval", "PSNR/SSIM of VDSR, SRCNN or bicubic with the paper's protocol",
                "vdsr_eval [--data DIR[,DIR...]] [--scales 2,3,4] [-m MODEL | --bicubic | --score DIR]\n"
                "                 [--save DIR [--colour]] [--json FILE]\n"
                "       vdsr_eval --table3 [--models vdsr=A,srcnn-x2=B,srcnn-x3=C,srcnn-x4=D] [--data ...]");
  p.add({"", "--data", "DIR[,DIR...]",
         "evaluation sets, each named by its folder [$VDSR_DATA_DIR/{Set5,Set14,B100,Urban100}]",
         [&](const std::string& v) { o.data = cli::parse_list(v, "--data", true); }});
  p.add({"", "--scales", "LIST", "scales to evaluate [2,3,4; an SRCNN model: its own]", [&](const std::string& v) {
           o.scales = cli::parse_scale_list(v, "--scales");
           o.scales_given = true;
         }});
  p.add({"-m", "--model", "FILE", "VDSR or SRCNN weights (safetensors or .mat) or a checkpoint [the bundled model]",
         [&](const std::string& v) { o.model = v; }});
  p.add({"", "--bicubic", "", "score the bicubic baseline instead of a model",
         [&](const std::string&) { o.bicubic = true; }});
  p.add({"", "--table3", "", "the paper's Table 3: Bicubic / SRCNN / VDSR beside the published PSNR",
         [&](const std::string&) { o.table3 = true; }});
  p.add({"", "--models", "KEY=FILE,...",
         "--table3's models: vdsr (else the bundled model), srcnn-x2, srcnn-x3, srcnn-x4 (run in fp32; the "
         "SRCNN column is left out without them)",
         [&](const std::string& v) { o.models = v; }});
  p.add({"-g", "--gpu", "N", "device: GPU index, -1 for the CPU [0 if a GPU is usable, else -1]",
         [&](const std::string& v) {
           o.gpu = cli::parse_one_gpu(v, "vdsr_sr -g 0,1 spreads a folder over several");
         }});
  p.add({"", "--precision", "MODE", "fp32, tf32 or bf16 (GPU only; VDSR only) [fp32]",
         [&](const std::string& v) { o.precision = precision_name(parse_precision(v)); }});
  p.add({"-x", "--tta", "", "average the 8 rotations/flips",
         [&](const std::string&) { o.tta = true; }});
  p.add({"", "--json", "FILE", "also write the results as JSON, every image's scores included",
         [&](const std::string& v) { o.json = cli::json_file(v); }});
  p.add({"", "--save", "DIR",
         "also write every scored output as an 8-bit grey PNG (the protocol's Y before the shave): "
         "DIR/SET/xS/IMAGE.png; with --table3 DIR/METHOD/SET/xS/IMAGE.png",
         [&](const std::string& v) { o.save = v; }});
  p.add({"", "--colour", "",
         "with --save: colour PNGs for figures, the scored Y with the image's chroma taken down and up by bicubic "
         "(as vdsr_sr pairs them); grey images stay grey. Their Y is within about a level of the scored one",
         [&](const std::string&) { o.colour = true; }});
  p.add({"", "--score", "DIR",
         "score outputs made elsewhere (another method's) instead of running a model: DIR/SET/xS/IMAGE.* "
         "(any image format, colour or grey, the size of the HR after modcrop), the layout --save writes",
         [&](const std::string& v) { o.score = v; }});
  p.add_common();
  p.parse(argc, argv);

  VDSR_USER_CHECK(!(o.bicubic && !o.model.empty()), "--bicubic and -m exclude each other");
  VDSR_USER_CHECK(!(o.bicubic && o.tta), "--tta applies to a model, not to --bicubic");
  VDSR_USER_CHECK(!o.table3 || (o.model.empty() && !o.bicubic),
                  "--table3 scores bicubic and every model itself: name the models with --models vdsr=FILE,"
                  "srcnn-x2=FILE,..., not with -m or --bicubic");
  VDSR_USER_CHECK(o.table3 || o.models.empty(), "--models goes with --table3 (one model alone: -m FILE)");
  VDSR_USER_CHECK(o.score.empty() || (o.model.empty() && !o.bicubic && !o.table3 && !o.tta && o.save.empty()),
                  "--score scores the outputs in its folder: it takes no -m, --bicubic, --table3, -x or --save");
  VDSR_USER_CHECK(!o.colour || !o.save.empty(), "--colour is how --save writes its pictures: give --save DIR too");
  VDSR_USER_CHECK(o.score.empty() || fs::is_directory(o.score), "--score: " << printable(o.score) << " is not a folder");
  std::vector<Method> methods;
  // No network runs for --bicubic or --score: say so rather than ignore a device asked for.
  if ((o.bicubic || !o.score.empty()) && o.gpu != kDefaultDevice && o.gpu != -1)
    log_warning("-g " + std::to_string(o.gpu) + " has no effect with " + (o.bicubic ? "--bicubic" : "--score") +
                ": no network runs, the CPU scores");
  if ((o.bicubic || !o.score.empty()) && o.precision != "fp32")
    log_warning("--precision " + o.precision + " has no effect with " + (o.bicubic ? "--bicubic" : "--score") +
                ": no network runs");
  if (!o.score.empty()) {
    methods.resize(1);
    methods[0].name = "scored";
    methods[0].predictions = o.score;
    methods[0].desc = "the outputs in " + o.score;
  } else if (o.bicubic) {
    methods.resize(1);
    methods[0].name = "bicubic";
    methods[0].desc = "bicubic";
  } else {
    const Device dev = select_device(o.gpu);
    const Precision precision = cli::check_precision(o.precision, dev.is_cuda());
    if (o.table3)
      methods = table3_methods(o, dev, precision);
    else
      methods.push_back(single_method(o, dev, precision));
  }
  // Every set's images are listed before any is scored, so a mistyped --data stops the run at once
  // (and check_sets reads them all).
  if (o.data.empty()) o.data = default_sets();
  // Sets are named by their folder: two of one name would share --save's folders and be one name in
  // the table and the JSON.
  std::map<std::string, std::string> named;
  for (const auto& dir : o.data) {
    const auto [at, fresh] = named.emplace(set_name(dir), dir);
    VDSR_USER_CHECK(fresh, "--data: " << printable(at->second) << " and " << printable(dir) << " are both named '"
                                      << at->first << "' (a set is named by its folder), so their rows and --save's "
                                      << "images could not be told apart; give each set a folder of its own name");
  }
  std::vector<std::vector<std::string>> set_files;
  for (const auto& dir : o.data) set_files.push_back(images_in(dir));
  check_sets(o, set_files);
  if (!o.save.empty()) cli::output_dir(o.save, "--save");  // once the models and sets are found
  // -x averages a network's outputs; Table 3's SRCNN column is the official code's, which has none.
  const auto tta = [&](const Method& m) {
    return o.tta && !m.nets.empty() && !(o.table3 && m.paper == PaperMethod::Srcnn);
  };
  for (const Method& m : methods)
    log_info("vdsr_eval: " + (o.table3 ? m.name + ": " : "") + m.desc +
             (tta(m) ? ", test-time augmentation x8" : ""));
  if (o.table3)
    for (const auto& dir : o.data)
      if (paper_set_name(set_name(dir)) == nullptr)
        log_warning("--table3: the paper has no figures for a set named '" + set_name(dir) +
                    "' (its sets: Set5, Set14, B100 (or BSD100), Urban100, by folder name); its "
                    "paper columns are '-'");

  nlohmann::json results = nlohmann::json::array();
  std::string ssim_rows;  // --table3: VDSR's SSIM beside the paper's, printed after the PSNR table
  if (o.table3) {
    std::printf("Table 3, PSNR (dB): ours, the paper's, and the difference\n%-10s %5s", "set", "scale");
    for (const Method& m : methods)
      std::printf(" | %-8s %6s %6s", (m.name + (tta(m) ? "+TTA" : "")).c_str(), "paper", "diff");
    std::printf("\n");
  } else {
    std::printf("%-10s %5s %9s %8s %7s %9s\n", "set", "scale", "PSNR", "SSIM", "images", "seconds");
  }
  std::fflush(stdout);
  for (size_t d = 0; d < o.data.size(); ++d) {
    const std::string& dir = o.data[d];
    const std::string set = set_name(dir);
    const std::vector<std::string>& files = set_files[d];
    std::vector<Image> images;
    images.reserve(files.size());
    for (const auto& f : files) images.push_back(load_image(f));
    for (const int s : o.scales) {
      std::vector<EvalSample> samples;
      for (size_t i = 0; i < files.size(); ++i)
        samples.push_back(make_eval_sample(images[i], s, files[i], o.colour));
      std::string row;
      for (const Method& m : methods) {
        char cell[128];
        if (!m.serves(s)) {
          std::snprintf(cell, sizeof cell, " | %-8s %6s %6s", "-", "-", "-");
          row += cell;
          continue;
        }
        std::string save_dir;
        if (!o.save.empty())
          save_dir = (fs::path(o.save) / (o.table3 ? m.name : "") / set / ("x" + std::to_string(s))).string();
        const Cell c = evaluate(m, samples, set, s, tta(m),
                                set + " x" + std::to_string(s) + " " + m.name, save_dir);
        nlohmann::json r = {{"set", set},          {"scale", s},        {"psnr", c.psnr},         {"ssim", c.ssim},
                            {"images", files.size()}, {"seconds", c.seconds}, {"per_image", c.per_image}};
        if (!o.table3) {
          std::printf("%-10s %5d %9.4f %8.4f %7zu %9.2f\n", set.c_str(), s, c.psnr, c.ssim, files.size(), c.seconds);
          std::fflush(stdout);
          results.push_back(r);
          continue;
        }
        const double paper = paper_psnr(m.paper, set, s), paper_s = paper_ssim(m.paper, set, s);
        r["method"] = m.name;
        r["tta"] = tta(m);
        r["paper_psnr"] = std::isnan(paper) ? nlohmann::json() : nlohmann::json(paper);
        r["diff"] = std::isnan(paper) ? nlohmann::json() : nlohmann::json(c.psnr - paper);
        if (!std::isnan(paper_s)) {  // VDSR's SSIM is published too: a second, smaller table below
          r["paper_ssim"] = paper_s;
          r["ssim_diff"] = c.ssim - paper_s;
          char line[128];
          std::snprintf(line, sizeof line, "%-10s %5d | %8.4f %6.4f %+7.4f\n", set.c_str(), s, c.ssim, paper_s,
                        c.ssim - paper_s);
          ssim_rows += line;
        }
        results.push_back(r);
        if (std::isnan(paper))
          std::snprintf(cell, sizeof cell, " | %8.4f %6s %6s", c.psnr, "-", "-");
        else
          std::snprintf(cell, sizeof cell, " | %8.4f %6.2f %+6.2f", c.psnr, paper, c.psnr - paper);
        row += cell;
      }
      if (o.table3) {
        std::printf("%-10s %5d%s\n", set.c_str(), s, row.c_str());
        std::fflush(stdout);
      }
    }
  }
  if (!ssim_rows.empty())
    std::printf("\nVDSR's SSIM: ours, the paper's, and the difference\n%-10s %5s | %8s %6s %7s\n%s", "set", "scale",
                "VDSR", "paper", "diff", ssim_rows.c_str());
  if (!o.json.empty()) {
    nlohmann::json models = nlohmann::json::object();
    for (const Method& m : methods) models[m.name] = m.desc;
    nlohmann::json doc = {{"results", results},
                          {"model", o.table3 ? nlohmann::json(models) : nlohmann::json(methods[0].desc)},
                          {"tta", o.tta},
                          {"version", cli::version_text("vdsr_eval")}};
    if (o.table3) doc["table3"] = true;
    const std::string text = doc.dump(2) + "\n";
    write_file_atomic(o.json, text.data(), text.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
