// vdsr_eval's sets: found (--data, else $VDSR_DATA_DIR), every image read and checked at every
// scale before any is scored, and one set scored at one scale by one column. In the vdsr_cli
// library so that test_cli can drive them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/log.h"
#include "image/eval_protocol.h"
#include "tools/eval_methods.h"

namespace vdsr {

// Set5, Set14, B100 and Urban100, those that $VDSR_DATA_DIR holds; an error in words without it.
std::vector<std::string> default_eval_sets();

// The images directly in set folder `dir`, sorted. A folder of sets (data/ for data/Set5) is an
// error that says how to name them.
std::vector<std::string> eval_set_images(const std::string& dir);

// What --save and --score add to the check of the sets; "" for none.
struct EvalOutputs {
  std::string save;   // --save DIR
  std::string score;  // --score DIR
  // --save's folder of each column under DIR ("" for one column; --table3: the methods' names),
  // with the scales it writes (none listed: every scale; SRCNN's: its models').
  struct Column {
    std::string name;
    std::vector<int> scales;
  };
  std::vector<Column> save_columns{Column{}};
};

// Where --save puts a column's outputs of one set at one scale: DIR/[COLUMN/]SET/xS.
std::string save_folder(const std::string& save, const std::string& column, const std::string& set,
                        int scale);

// Every image of every set (`data[d]`'s files: set_files[d]) is decoded and checked at every
// scale, and --save's names (no file where a folder of outputs goes; no folder, link or special
// file where an output goes) and --score's outputs are checked, before any is scored: a bad file
// in the last set would otherwise end a long run (15 minutes for --table3 on 2 CPU cores) with
// nothing written.
void check_eval_sets(const std::vector<std::string>& data,
                     const std::vector<std::vector<std::string>>& set_files,
                     const std::vector<int>& scales, const EvalOutputs& outputs);

struct EvalCell {
  double psnr = 0, ssim = 0, seconds = 0;              // the set's means; its wall time
  nlohmann::json per_image = nlohmann::json::array();  // {image, psnr, ssim} in the set's order
};

// One set (`samples`, named `set`) at one scale by one column: the network (its test-time
// augmentation with tta), bicubic, or --score's outputs. label: its warnings' and the progress
// line's (the whole run's, which counts `done_before` images before this cell's). save_dir: where
// each scored output goes as its image's stem .png ("" for none).
EvalCell evaluate_cell(const EvalMethod& m, const std::vector<EvalSample>& samples,
                       const std::string& set, int scale, bool tta, const std::string& label,
                       const std::string& save_dir, Progress& progress, int64_t done_before);

}  // namespace vdsr
