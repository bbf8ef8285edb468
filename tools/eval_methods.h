// vdsr_eval's columns: the bicubic baseline (no network), one model for every scale (-m, or VDSR
// in --table3), one model per scale (--table3's SRCNN, from --models), or outputs made elsewhere
// (--score). In the vdsr_cli library so that test_cli can drive them.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "image/paper_table.h"
#include "model/precision.h"
#include "model/vdsr.h"

namespace vdsr {

struct EvalMethod {
  std::string name;  // the table's column ("Bicubic", "SRCNN", "VDSR", "model", ...)
  PaperMethod paper = PaperMethod::Vdsr;
  std::map<int, std::unique_ptr<Vdsr>> nets;  // by the scale it serves; 0: every scale
  std::string predictions;                    // --score: the folder of outputs made elsewhere
  std::string desc;                           // what the log and the JSON name
  std::map<int, std::string> files;  // the model files, by the scale each serves (0: every)

  bool serves(int s) const { return nets.empty() || nets.count(0) != 0 || nets.count(s) != 0; }
  Vdsr* net(int s) const;  // the network for scale s; nullptr for bicubic and --score
};

EvalMethod bicubic_method();
EvalMethod scored_method(const std::string& dir);  // --score DIR

// -m FILE (`path`; "" for the bundled model) alone. An SRCNN model evaluates at its own scale:
// *scales becomes that scale unless scales_given, and a scale it was not trained for is refused.
EvalMethod model_method(const std::string& path, std::vector<int>* scales, bool scales_given,
                        Device dev, Precision precision);

// --models' KEY=FILE items by key, each key known and given once, each file there (not read).
std::map<std::string, std::string> table3_model_files(const std::string& models);

// Table 3's columns from --models KEY=FILE,... (`models`; "" for none): Bicubic; SRCNN when any
// of srcnn-x2/x3/x4 is given (in fp32 whatever `precision` says; each file must be the SRCNN model
// of its scale); VDSR from vdsr=FILE, else the bundled model, warned of where `scales` lie outside
// the factors it was trained at.
std::vector<EvalMethod> table3_methods(const std::string& models, const std::vector<int>& scales,
                                       Device dev, Precision precision);

}  // namespace vdsr
