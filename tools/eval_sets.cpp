// vdsr_eval's sets (tools/eval_sets.h): found, checked whole before any is scored, and scored.
#include "tools/eval_sets.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "engine/error.h"
#include "engine/file_kind.h"
#include "engine/log.h"
#include "image/color.h"
#include "image/image_io.h"
#include "image/paper_table.h"
#include "io/file_plan.h"
#include "model/inference.h"
#include "model/tiled.h"
#include "tools/cli.h"

namespace fs = std::filesystem;

namespace vdsr {

namespace {

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

// --save's names of one set's outputs, in every column at every scale: each part of the way that
// exists is a folder, and no output's name is taken by a folder, a link or a special file. Found
// at that image, it would stop the run there, the cells before it lost to --json.
void check_save_names(const EvalOutputs& o, const std::string& set, const std::vector<int>& scales,
                      const std::vector<std::string>& files) {
  fs::path root = fs::path(o.save).lexically_normal();
  if (!root.has_filename() && root != root.root_path())
    root = root.parent_path();  // "out/" as "out"
  for (const EvalOutputs::Column& column : o.save_columns)
    for (const int s : scales) {
      if (!column.scales.empty() &&
          std::find(column.scales.begin(), column.scales.end(), s) == column.scales.end())
        continue;  // nothing is written there
      const fs::path dir = save_folder(o.save, column.name, set, s);
      for (fs::path way = dir.lexically_normal(); !way.empty() && way != root && way.has_filename();
           way = way.parent_path()) {
        std::error_code ec;
        VDSR_USER_CHECK(!fs::exists(way, ec) || fs::is_directory(way, ec),
                        "--save: " << printable(way.string())
                                   << " is a file, where a folder of outputs goes: move it away, "
                                      "or choose another --save");
      }
      for (const auto& f : files) {
        const std::string out = (dir / (fs::path(f).stem().string() + ".png")).string();
        const std::string why = unwritable_reason(out);
        VDSR_USER_CHECK(why.empty(), "--save: " << printable(out) << " " << why);
      }
    }
}

// --score: the outputs made elsewhere for one set and scale, by file stem, from DIR/SET/xS (the
// layout --save writes, prediction_dir; any image format). Refused, naming the folder: a missing
// folder, two files with one stem.
std::string prediction_dir(const std::string& root, const std::string& set, int scale) {
  return (fs::path(root) / set / ("x" + std::to_string(scale))).string();
}
std::map<std::string, std::string> prediction_files(const std::string& dir, const std::string& set,
                                                    int scale) {
  VDSR_USER_CHECK(fs::is_directory(dir), "--score: no folder "
                                             << printable(dir) << " (the outputs of set " << set
                                             << " at x" << scale << ", as --save lays them out)");
  std::map<std::string, std::string> by_stem;
  // A broken link is refused where an image asks for it (check_eval_sets), skipped elsewhere.
  std::vector<std::string> dead;
  std::vector<std::string> files = list_image_files(dir, "--score folder", nullptr, &dead);
  files.insert(files.end(), dead.begin(), dead.end());
  for (const auto& f : files) {
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

}  // namespace

std::string save_folder(const std::string& save, const std::string& column, const std::string& set,
                        int scale) {
  return (fs::path(save) / column / set / ("x" + std::to_string(scale))).string();
}

std::vector<std::string> default_eval_sets() {
  const char* env = std::getenv("VDSR_DATA_DIR");
  VDSR_USER_CHECK(
      env != nullptr && *env != '\0',
      "no evaluation sets given: pass --data DIR[,DIR...] (each folder one set, e.g. "
      "data/Set5,data/Set14) or set VDSR_DATA_DIR to a folder holding Set5, Set14, B100, "
      "Urban100");
  std::error_code ec;
  VDSR_USER_CHECK(fs::is_directory(env, ec), "VDSR_DATA_DIR=" << env << ": no such folder");
  // Each standard set by its folder's name as --table3 knows it: any case, B100 also as BSD100 or
  // BSDS100; the first such folder by name where there are two.
  std::map<std::string, std::string> found;  // paper_set_name -> folder
  std::vector<fs::path> folders;
  for (fs::directory_iterator it(env, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_directory(ec) && !is_hidden_name(it->path().string())) folders.push_back(it->path());
  // A listing that fails part way would leave sets out, as if the folder lacked them.
  VDSR_USER_CHECK(!ec, "reading VDSR_DATA_DIR=" << env << " failed: " << ec.message());
  std::sort(folders.begin(), folders.end());
  for (const fs::path& f : folders)
    if (const char* name = paper_set_name(f.filename().string()); name != nullptr)
      if (const auto [at, fresh] = found.emplace(name, f.string()); !fresh)
        log_warning("VDSR_DATA_DIR=" + std::string(env) + ": " + printable(at->second) + " and " +
                    printable(f.string()) + " are both " + name + ": scoring " +
                    printable(at->second) + " (or name the set with --data)");
  std::vector<std::string> sets, missing;
  for (const char* name : {"Set5", "Set14", "B100", "Urban100"})
    if (found.count(name) != 0)
      sets.push_back(found.at(name));
    else
      missing.push_back(name);
  VDSR_USER_CHECK(!sets.empty(),
                  "VDSR_DATA_DIR=" << env
                                   << " holds none of the folders Set5, Set14, B100 (or BSD100), "
                                      "Urban100 (or name the sets with --data)");
  // A set left out silently would read as a whole table.
  if (!missing.empty()) {
    std::string names;
    for (size_t i = 0; i < missing.size(); ++i) names += (i == 0 ? "" : ", ") + missing[i];
    log_warning("VDSR_DATA_DIR=" + std::string(env) + " has no folder " + names +
                ": evaluating the others (or name the sets with --data)");
  }
  return sets;
}

std::vector<std::string> eval_set_images(const std::string& dir) {
  std::vector<std::string> skipped;
  auto files = list_image_files_verbose(dir, "evaluation set",
                                        "a set is the images directly in its folder", &skipped);
  if (files.empty()) {
    // A folder of sets (the usual slip: --data data/ for data/Set5): say so, and how to name them.
    std::vector<std::string> names;
    bool hidden_images = false;
    for (const auto& f : skipped) {
      const bool folder = f.back() == '/';
      const std::string path = folder ? f.substr(0, f.size() - 1) : f;
      if (is_hidden_name(path))
        hidden_images = hidden_images || (!folder && has_image_extension(path));
      else if (folder)
        names.push_back(fs::path(path).filename().string());
    }
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
    VDSR_USER_FAIL("evaluation set '"
                   << dir << "' holds no images"
                   << (hidden_images
                           ? " but hidden ones (names starting with '.'), which are left out"
                           : ""));
  }
  return files;
}

void check_eval_sets(const std::vector<std::string>& data,
                     const std::vector<std::vector<std::string>>& set_files,
                     const std::vector<int>& scales, const EvalOutputs& o) {
  size_t total = 0;
  for (const auto& files : set_files) total += files.size();
  Progress progress("reading the sets", int64_t(total), "img");
  size_t done = 0;
  for (size_t d = 0; d < data.size(); ++d) {
    const std::vector<std::string>& files = set_files[d];
    const std::string set = set_name(data[d], "--data");
    if (!o.save.empty()) {
      require_distinct_stems(files, data[d], true);
      check_save_names(o, set, scales, files);
    }
    std::vector<std::string> dirs;                            // --score: by scale
    std::vector<std::map<std::string, std::string>> outputs;  // --score: by scale, by stem
    if (!o.score.empty()) {
      require_distinct_stems(files, data[d], false);
      for (const int s : scales) {
        dirs.push_back(prediction_dir(o.score, set, s));
        outputs.push_back(prediction_files(dirs.back(), set, s));
      }
    }
    for (const auto& f : files) {
      const Image img = load_image(f);  // decoded whole: a truncated file fails here, not mid-run
      for (size_t k = 0; k < scales.size(); ++k) {
        const int s = scales[k];
        require_scorable(img.width, img.height, img.bits, s, f);
        if (o.score.empty()) continue;
        const std::string& pred = prediction_for(outputs[k], f, dirs[k]);
        const std::string no_file = not_a_file(pred);
        VDSR_USER_CHECK(no_file.empty(), "--score: " << printable(pred) << " is " << no_file);
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
                        printable(data[d]) + ")");
  }
  progress.finish();
}

EvalCell evaluate_cell(const EvalMethod& m, const std::vector<EvalSample>& samples,
                       const std::string& set, int scale, bool tta, const std::string& label,
                       const std::string& save_dir, Progress& progress, int64_t done_before) {
  const auto t0 = std::chrono::steady_clock::now();
  EvalCell c;
  Vdsr* net = m.net(scale);
  const std::string score_dir =
      m.predictions.empty() ? std::string() : prediction_dir(m.predictions, set, scale);
  const std::map<std::string, std::string> outputs = m.predictions.empty()
                                                         ? std::map<std::string, std::string>()
                                                         : prediction_files(score_dir, set, scale);
  progress.set_label(label);
  if (!save_dir.empty()) cli::output_dir(save_dir, "--save");
  std::vector<std::string> exact;     // images scored infinite
  std::vector<std::string> grey_rgb;  // --score's grey outputs stored as RGB
  std::vector<std::pair<std::string, int64_t>> nonfinite;  // images whose output is not all finite
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
    const auto bad =
        std::count_if(out.v.begin(), out.v.end(), [](double v) { return !std::isfinite(v); });
    if (bad > 0) nonfinite.emplace_back(fs::path(sample.name).filename().string(), bad);
    const Scores sc = score_output(out, sample.hr, scale);
    if (std::isinf(sc.psnr)) exact.push_back(fs::path(sample.name).filename().string());
    // Grey: prediction_u8, the scored pixels; with --colour the sample's chroma makes it a colour
    // picture.
    if (!save_dir.empty())
      save_image((fs::path(save_dir) / (fs::path(sample.name).stem().string() + ".png")).string(),
                 picture_u8(out, sample.cb, sample.cr), ImageFormat::PNG);
    c.psnr += sc.psnr;
    c.ssim += sc.ssim;
    c.per_image.push_back({{"image", fs::path(sample.name).filename().string()},
                           {"psnr", sc.psnr},
                           {"ssim", sc.ssim}});
    char line[256];
    std::snprintf(line, sizeof line, " x%d: PSNR %.4f SSIM %.4f", scale, sc.psnr, sc.ssim);
    log_verbose("  " + m.name + " " + printable(sample.name) + line);
    progress.update(done_before + int64_t(i + 1));
  }
  if (!exact.empty())
    log_warning(label + ": " + printable(exact[0]) +
                (exact.size() > 1 ? " and " + std::to_string(exact.size() - 1) + " more" : "") +
                (exact.size() > 1 ? " equal their" : " equals its") +
                " ground truth after the shave, so the PSNR is infinite and so is the "
                "set's mean (inf in the table, null in --json); SSIM is 1 there");
  // A model whose finite weights overflow the floats (a diverged run's) would otherwise read as
  // one that merely scores low.
  if (!nonfinite.empty())
    log_warning(label + ": the network's output is not finite (inf or NaN) at " +
                std::to_string(nonfinite[0].second) +
                (nonfinite[0].second == 1 ? " pixel of " : " pixels of ") +
                printable(nonfinite[0].first) +
                (nonfinite.size() > 1 ? " and in " + std::to_string(nonfinite.size() - 1) +
                                            (nonfinite.size() == 2 ? " more image" : " more images")
                                      : "") +
                ", scored as MATLAB's uint8 takes them (NaN as 0, inf as 0 or 255): the model's "
                "arithmetic overflows, as a diverged training run's does");
  if (!grey_rgb.empty())
    log_warning("--score: " + std::to_string(grey_rgb.size()) + " of the outputs in " +
                printable(score_dir) + " (e.g. " + printable(grey_rgb[0]) +
                (grey_rgb.size() == 1 ? ") is a grey picture" : ") are grey pictures") +
                " stored as RGB (R = G = B): the protocol takes an RGB file's Y by rgb2ycbcr, 16 + "
                "219/255 of its grey level, not the level itself; if they hold the Y channel, save "
                "them as one-channel images (docs/evaluation.md)");
  c.psnr /= double(samples.size());
  c.ssim /= double(samples.size());
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return c;
}

}  // namespace vdsr
