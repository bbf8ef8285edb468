// vdsr_eval: PSNR/SSIM tables on evaluation sets with the paper's protocol (docs/evaluation.md):
// 8-bit Y, modcrop, MATLAB bicubic down and up in double, the network (VDSR or SRCNN, or bicubic
// alone), rounding, shave, PSNR and SSIM. Prints a table; --json writes the machine-readable
// results (every image's scores too); --save writes every scored output as an 8-bit grey PNG
// (--colour: colour pictures of them, for figures); --score scores outputs made elsewhere (another
// method's, in --save's layout) instead of running a network.
// --table3 scores Bicubic, SRCNN (one model per scale) and VDSR side by side with the paper's
// Table 3.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/log.h"
#include "image/eval_protocol.h"
#include "image/image_io.h"
#include "image/paper_table.h"
#include "io/file_plan.h"
#include "io/json_text.h"
#include "io/sha256.h"
#include "kernels/conv_fwd.h"
#include "tools/cli.h"
#include "tools/eval_methods.h"
#include "tools/eval_sets.h"

namespace fs = std::filesystem;
using namespace vdsr;

namespace {

// A file or folder as the report records it: absolute, so that the record still names it when read
// from elsewhere ("set5/" as ".../set5").
std::string absolute_place(const std::string& path) {
  fs::path p = fs::absolute(path).lexically_normal();
  if (!p.has_filename() && p != p.root_path()) p = p.parent_path();
  return p.string();
}

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

int run(int argc, char** argv) {
  Options o;
  cli::Parser p("vdsr_eval", "PSNR/SSIM of VDSR, SRCNN or bicubic with the paper's protocol",
                "vdsr_eval [--data DIR[,DIR...]] [--scales 2,3,4] [-m MODEL | --bicubic | --score DIR]\n"
                "                 [--save DIR [--colour]] [--json FILE]\n"
                "       vdsr_eval --table3 [--models vdsr=A,srcnn-x2=B,srcnn-x3=C,srcnn-x4=D] [--data ...]");
  p.add({"", "--data", "DIR[,DIR...]",
         "evaluation sets, each named by its folder [$VDSR_DATA_DIR/{Set5,Set14,B100,Urban100}]",
         [&](const std::string& v) { o.data = cli::parse_folder_list(v, "--data"); }});
  p.add({"", "--scales", "LIST",
         "scales to evaluate, each 2, 3 or 4 [2,3,4; an SRCNN model: its own]",
         [&](const std::string& v) {
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
         "--table3's models: vdsr (else the bundled model), srcnn-x2, srcnn-x3, srcnn-x4 (run in "
         "fp32; the SRCNN column is left out without them); given more than once, the lists add up",
         [&](const std::string& v) { o.models += (o.models.empty() ? "" : ",") + v; }, true});
  p.add({"-g", "--gpu", "N", "device: GPU index, -1 for the CPU [0 if a GPU is usable, else -1]",
         [&](const std::string& v) {
           o.gpu = cli::parse_one_gpu(v, "vdsr_sr -g 0,1 spreads a folder over several");
         }});
  p.add({"", "--precision", "MODE", "fp32, tf32 or bf16 (GPU only; VDSR only) [fp32]",
         [&](const std::string& v) { o.precision = precision_name(parse_precision(v)); }});
  p.add({"-x", "--tta", "", "average the 8 rotations/flips",
         [&](const std::string&) { o.tta = true; }});
  p.add({"", "--json", "FILE", "also write the results as JSON, every image's scores included",
         [&](const std::string& v) {
           VDSR_USER_CHECK(!v.empty(), "--json needs a file name");
           o.json = v;  // checked once --save is known (it may hold the report)
         }});
  p.add({"", "--save", "DIR",
         "also write every scored output as an 8-bit grey PNG (the protocol's Y before the shave): "
         "DIR/SET/xS/IMAGE.png; with --table3 DIR/METHOD/SET/xS/IMAGE.png",
         [&](const std::string& v) { o.save = v; }});
  p.add({"", "--colour", "",
         "with --save: colour PNGs for figures, the scored Y with the image's chroma taken down and up by bicubic "
         "(as vdsr_sr pairs them); grey images stay grey. Their Y is within about a level of the scored one",
         [&](const std::string&) { o.colour = true; }});
  p.add({"", "--score", "DIR",
         "score outputs made elsewhere (another method's) instead of running a model: "
         "DIR/SET/xS/IMAGE.* (any image format, 8-bit, colour or grey, the size of the HR after "
         "modcrop), the layout --save writes",
         [&](const std::string& v) { o.score = v; }});
  p.add_common();
  p.parse(argc, argv);
  // A stopped run says what it leaves: a shell prints nothing for SIGTERM, ^C alone for SIGINT.
  static const char* const notes[] = {
      "\nvdsr_eval: stopped by a signal; each table row printed is complete\n",
      "\nvdsr_eval: stopped by a signal; each table row printed is complete, and every --save "
      "image written is whole\n",
      "\nvdsr_eval: stopped by a signal; each table row printed is complete, and the --json "
      "report (written once every set is scored) is not written\n",
      "\nvdsr_eval: stopped by a signal; each table row printed is complete, every --save image "
      "written is whole, and the --json report (written once every set is scored) is not "
      "written\n"};
  set_signal_note(notes[(o.json.empty() ? 0 : 2) + (o.save.empty() ? 0 : 1)]);

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
  if (!o.json.empty()) o.json = cli::json_file(o.json, o.save);
  if (o.table3)
    (void)table3_model_files(o.models);  // a mistyped key before the sets are looked for
  // Every set's images are listed before any is scored, so a mistyped --data stops the run at once
  // (and check_sets reads them all).
  if (o.data.empty()) o.data = default_eval_sets();
  // Sets are named by their folder: two of one name would share --save's folders and be one name in
  // the table and the JSON.
  std::map<std::string, std::string> named;
  for (const auto& dir : o.data) {
    const auto [at, fresh] = named.emplace(set_name(dir, "--data"), dir);
    VDSR_USER_CHECK(
        fresh,
        "--data: " << printable(at->second) << " and " << printable(dir) << " are both named '"
                   << at->first << "' (a set is named by its folder), so their rows and --save's "
                   << "images could not be told apart; give each set a folder of its own name");
  }
  std::vector<std::vector<std::string>> set_files;
  for (const auto& dir : o.data) set_files.push_back(eval_set_images(dir));
  std::vector<EvalMethod> methods;
  bool on_cpu = true;  // where the networks run
  // No network runs for --bicubic or --score: say so rather than ignore a device asked for.
  if ((o.bicubic || !o.score.empty()) && o.gpu != kDefaultDevice && o.gpu != -1)
    log_warning("-g " + std::to_string(o.gpu) + " has no effect with " + (o.bicubic ? "--bicubic" : "--score") +
                ": no network runs, the CPU scores");
  if ((o.bicubic || !o.score.empty()) && o.precision != "fp32")
    log_warning("--precision " + o.precision + " has no effect with " + (o.bicubic ? "--bicubic" : "--score") +
                ": no network runs");
  if (!o.score.empty()) {
    methods.push_back(scored_method(o.score));
  } else if (o.bicubic) {
    methods.push_back(bicubic_method());
  } else {
    const Device dev = select_device(o.gpu);
    on_cpu = !dev.is_cuda();
    const Precision precision = cli::check_precision(o.precision, dev.is_cuda());
    if (o.table3)
      methods = table3_methods(o.models, o.scales, dev, precision);
    else
      methods.push_back(model_method(o.model, &o.scales, o.scales_given, dev, precision));
  }
  EvalOutputs outputs{o.save, o.score};
  if (o.table3) {
    outputs.save_columns.clear();
    for (const EvalMethod& m : methods) {
      EvalOutputs::Column column{m.name, {}};
      for (const int s : o.scales)
        if (m.serves(s)) column.scales.push_back(s);
      if (!column.scales.empty()) outputs.save_columns.push_back(column);  // none: writes nothing
    }
  }
  check_eval_sets(o.data, set_files, o.scales, outputs);
  if (!o.save.empty()) cli::output_dir(o.save, "--save");  // once the models and sets are found
  // -x averages a network's outputs; Table 3's SRCNN column is the official code's, which has none.
  const auto tta = [&](const EvalMethod& m) {
    return o.tta && !m.nets.empty() && !(o.table3 && m.paper == PaperMethod::Srcnn);
  };
  for (const EvalMethod& m : methods)
    log_info("vdsr_eval: " + (o.table3 ? m.name + ": " : "") + m.desc +
             (tta(m) ? ", test-time augmentation x8" : ""));
  if (o.table3)
    for (const EvalMethod& m : methods)
      for (const auto& [scale, net] : m.nets)
        if (scale != 0 && std::find(o.scales.begin(), o.scales.end(), scale) == o.scales.end())
          log_warning("--models srcnn-x" + std::to_string(scale) + ": x" + std::to_string(scale) +
                      " is not among --scales, so that model is not used");
  if (o.table3)
    for (size_t d = 0; d < o.data.size(); ++d) {
      const std::string set = set_name(o.data[d], "--data");
      const int paper_images = paper_set_images(set);
      if (paper_set_name(set) == nullptr)
        log_warning("--table3: the paper has no figures for a set named '" + set +
                    "' (its sets: Set5, Set14, B100 (or BSD100), Urban100, by folder name); its "
                    "paper columns are '-'");
      else if (set_files[d].size() != size_t(paper_images))
        log_warning("--table3: " + printable(o.data[d]) + " holds " +
                    std::to_string(set_files[d].size()) +
                    (set_files[d].size() == 1 ? " image" : " images") + ", the paper's " +
                    paper_set_name(set) + " " + std::to_string(paper_images) +
                    ": its row is set beside the paper's, but they are not the same images");
    }

  nlohmann::json results = nlohmann::json::array();
  // --table3: every method's SSIM, VDSR's beside the paper's (the only method whose SSIM our
  // sources quote), printed after the PSNR table.
  std::string ssim_rows;
  // The set column as wide as its longest name (10 at least), so that every row lines up.
  size_t set_width = 10;
  for (const auto& dir : o.data)
    set_width = std::max(set_width, cli::cell_width(set_name(dir, "--data")));
  const std::string set_head = cli::table_cell("set", set_width);
  if (o.table3) {
    std::printf("Table 3, PSNR (dB): ours, the paper's, and the difference\n%s %5s",
                set_head.c_str(), "scale");
    for (const EvalMethod& m : methods)
      std::printf(" | %-8s %6s %6s", (m.name + (tta(m) ? "+TTA" : "")).c_str(), "paper", "diff");
    std::printf("\n");
  } else {
    std::printf("%s %5s %9s %8s %7s %9s\n", set_head.c_str(), "scale", "PSNR", "SSIM", "images",
                "seconds");
  }
  cli::flush_stdout();
  // One progress line for the whole run, every cell's images counted: its ETA is the table's, and
  // where stderr is no terminal its plain line once a minute shows in a log even when every cell
  // takes less.
  int64_t work = 0, done = 0;
  for (const auto& files : set_files)
    for (const int s : o.scales)
      for (const EvalMethod& m : methods) work += m.serves(s) ? int64_t(files.size()) : 0;
  Progress progress("scoring", work, "img");
  for (size_t d = 0; d < o.data.size(); ++d) {
    const std::string& dir = o.data[d];
    const std::string set = set_name(dir, "--data");
    const std::string set_cell = cli::table_cell(set, set_width);
    const std::vector<std::string>& files = set_files[d];
    std::vector<Image> images;
    images.reserve(files.size());
    for (const auto& f : files) images.push_back(load_image(f));
    for (const int s : o.scales) {
      std::vector<EvalSample> samples;
      for (size_t i = 0; i < files.size(); ++i)
        samples.push_back(make_eval_sample(images[i], s, files[i], o.colour));
      std::string row, ssim_row;
      for (const EvalMethod& m : methods) {
        char cell[128];
        const bool vdsr = m.paper == PaperMethod::Vdsr;
        if (!m.serves(s)) {
          std::snprintf(cell, sizeof cell, " | %8s %6s %6s", "-", "-", "-");
          row += cell;
          std::snprintf(cell, sizeof cell, vdsr ? " | %8s %6s %7s" : " | %8s", "-", "-", "-");
          ssim_row += cell;
          continue;
        }
        std::string save_dir;
        if (!o.save.empty()) save_dir = save_folder(o.save, o.table3 ? m.name : "", set, s);
        const EvalCell c = evaluate_cell(m, samples, set, s, tta(m),
                                         printable(set) + " x" + std::to_string(s) + " " + m.name,
                                         save_dir, progress, done);
        done += int64_t(samples.size());
        nlohmann::json r = {{"set", set},          {"scale", s},        {"psnr", c.psnr},         {"ssim", c.ssim},
                            {"images", files.size()}, {"seconds", c.seconds}, {"per_image", c.per_image}};
        if (!o.table3) {
          clear_progress_line();
          std::printf("%s %5d %9.4f %8.4f %7zu %9.2f\n", set_cell.c_str(), s, c.psnr, c.ssim,
                      files.size(), c.seconds);
          cli::flush_stdout();
          results.push_back(r);
          continue;
        }
        const double paper = paper_psnr(m.paper, set, s), paper_s = paper_ssim(m.paper, set, s);
        r["method"] = m.name;
        r["tta"] = tta(m);
        r["paper_psnr"] = std::isnan(paper) ? nlohmann::json() : nlohmann::json(paper);
        r["diff"] = std::isnan(paper) ? nlohmann::json() : nlohmann::json(c.psnr - paper);
        if (!std::isnan(paper_s)) {
          r["paper_ssim"] = paper_s;
          r["ssim_diff"] = c.ssim - paper_s;
          std::snprintf(cell, sizeof cell, " | %8.4f %6.4f %s", c.ssim, paper_s,
                        cli::signed_diff(c.ssim - paper_s, 4, 7).c_str());
        } else {
          std::snprintf(cell, sizeof cell, vdsr ? " | %8.4f %6s %7s" : " | %8.4f", c.ssim, "-",
                        "-");
        }
        ssim_row += cell;
        results.push_back(r);
        if (std::isnan(paper))
          std::snprintf(cell, sizeof cell, " | %8.4f %6s %6s", c.psnr, "-", "-");
        else
          std::snprintf(cell, sizeof cell, " | %8.4f %6.2f %s", c.psnr, paper,
                        cli::signed_diff(c.psnr - paper, 2, 6).c_str());
        row += cell;
      }
      if (o.table3) {
        clear_progress_line();
        std::printf("%s %5d%s\n", set_cell.c_str(), s, row.c_str());
        cli::flush_stdout();
        char head[16];
        std::snprintf(head, sizeof head, " %5d", s);
        ssim_rows += set_cell + head + ssim_row + "\n";
      }
    }
  }
  progress.finish();
  if (o.table3) {
    std::printf("\nSSIM: ours, and beside VDSR's the paper's and the difference\n%s %5s",
                set_head.c_str(), "scale");
    for (const EvalMethod& m : methods) {
      const std::string name = m.name + (tta(m) ? "+TTA" : "");
      if (m.paper == PaperMethod::Vdsr)
        std::printf(" | %-8s %6s %7s", name.c_str(), "paper", "diff");
      else
        std::printf(" | %-8s", name.c_str());
    }
    std::printf("\n%s", ssim_rows.c_str());
  }
  if (!o.json.empty()) {
    nlohmann::json models = nlohmann::json::object();
    for (const EvalMethod& m : methods) models[m.name] = m.desc;
    // What produced the figures: each model file by its digest, each set by its folder, and the
    // CPU's convolution method (its rounding moves the 4th decimal).
    nlohmann::json files = nlohmann::json::array();
    bool network = false;
    for (const EvalMethod& m : methods) {
      network = network || !m.nets.empty();
      for (const auto& [scale, path] : m.files)
        files.push_back({{"method", m.name},
                         {"scale", scale == 0 ? nlohmann::json() : nlohmann::json(scale)},
                         {"path", absolute_place(path)},
                         {"sha256", sha256_file_hex(path)}});
    }
    nlohmann::json data = nlohmann::json::object();
    for (const auto& dir : o.data) data[set_name(dir, "--data")] = absolute_place(dir);
    nlohmann::json doc = {
        {"results", results},
        {"model", o.table3 ? nlohmann::json(models) : nlohmann::json(methods[0].desc)},
        {"model_files", files},
        {"data", data},
        {"date", cli::utc_now()},
        {"version", cli::version_text("vdsr_eval")}};
    if (o.score.empty())
      doc["tta"] = o.tta;  // no network runs for --score
    else
      doc["score"] = absolute_place(o.score);
    if (network && on_cpu) doc["cpu_conv"] = cpu_conv_method_name(cpu_conv_method());
    if (o.table3) doc["table3"] = true;
    const std::string text = json_dump(doc, 2) + "\n";
    write_file_atomic(o.json, text.data(), text.size());
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return cli::run_main([&] { return run(argc, argv); }); }
