// vdsr_eval's columns (tools/eval_methods.h): the models are loaded and checked here, before any
// set is read.
#include "tools/eval_methods.h"

#include <filesystem>

#include "engine/error.h"
#include "engine/log.h"
#include "model/model_files.h"
#include "model/weights_io.h"
#include "tools/cli.h"

namespace vdsr {

namespace {

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
  l.desc = path + " (" + l.weights.config.describe() + ", " + dev.name() + ", " +
           precision_name(precision) + ")";
  return l;
}

}  // namespace

Vdsr* EvalMethod::net(int s) const {
  if (nets.empty()) return nullptr;
  const auto it = nets.find(nets.count(0) != 0 ? 0 : s);
  return it->second.get();
}

EvalMethod bicubic_method() {
  EvalMethod m;
  m.name = "bicubic";
  m.desc = "bicubic";
  return m;
}

EvalMethod scored_method(const std::string& dir) {
  EvalMethod m;
  m.name = "scored";
  m.predictions = dir;
  m.desc = "the outputs in " + dir;
  return m;
}

EvalMethod model_method(const std::string& model, std::vector<int>* scales, bool scales_given,
                        Device dev, Precision precision) {
  const std::string path = model.empty() ? bundled_model_path() : model;
  Loaded l = load_net(path, dev, precision);
  const int serves = model_scale(l.weights);
  if (serves > 0 && !scales_given) *scales = {serves};
  VDSR_USER_CHECK(
      serves >= 0 || (scales_given && scales->size() == 1),
      printable(path)
          << " is an SRCNN model (one model per scale) and neither its metadata nor its file "
             "name gives its scale: pass the one scale it was trained for, --scales N");
  for (const int s : *scales) check_model_scale(l.weights, path, s, 0, "--scales");
  EvalMethod m;
  m.name = "model";
  m.desc = l.desc;
  m.nets[0] = std::move(l.net);
  m.files[serves > 0 ? serves : 0] = path;  // an SRCNN model's own scale; VDSR's every one
  return m;
}

std::map<std::string, std::string> table3_model_files(const std::string& models) {
  std::map<std::string, std::string> files;
  const auto items =
      models.empty() ? std::vector<std::string>() : cli::parse_list(models, "--models", true);
  for (const std::string& item : items) {
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    VDSR_USER_CHECK(
        eq != std::string::npos && eq + 1 < item.size(),
        "--models: '" << item << "' is not KEY=FILE (keys: vdsr, srcnn-x2, srcnn-x3, srcnn-x4)");
    VDSR_USER_CHECK(
        key == "vdsr" || key == "srcnn-x2" || key == "srcnn-x3" || key == "srcnn-x4",
        "--models: unknown key '" << key << "' (keys: vdsr, srcnn-x2, srcnn-x3, srcnn-x4)");
    VDSR_USER_CHECK(files.emplace(key, item.substr(eq + 1)).second,
                    "--models names " << key << " twice");
    // Said here, with its key: the loader's own message names the file alone.
    std::error_code ec;
    VDSR_USER_CHECK(
        std::filesystem::exists(item.substr(eq + 1), ec),
        "--models " << key << "=" << printable(item.substr(eq + 1)) << ": no such file");
  }
  return files;
}

std::vector<EvalMethod> table3_methods(const std::string& models, const std::vector<int>& scales,
                                       Device dev, Precision precision) {
  const std::map<std::string, std::string> files = table3_model_files(models);
  std::vector<EvalMethod> methods(1);
  methods[0].name = "Bicubic";
  methods[0].paper = PaperMethod::Bicubic;
  methods[0].desc = "bicubic";
  EvalMethod srcnn;
  srcnn.name = "SRCNN";
  srcnn.paper = PaperMethod::Srcnn;
  for (int scale = 2; scale <= 4; ++scale) {
    const auto it = files.find("srcnn-x" + std::to_string(scale));
    if (it == files.end()) continue;
    Loaded l = load_net(it->second, dev,
                        Precision::Fp32);  // SRCNN runs in fp32 only, whatever --precision says
    VDSR_USER_CHECK(l.weights.config.arch == Arch::Srcnn,
                    "--models srcnn-x" << scale << "=" << it->second
                                       << ": that file is a VDSR model, not SRCNN");
    const int serves = model_scale(l.weights);
    VDSR_USER_CHECK(serves <= 0 || serves == scale,
                    "--models srcnn-x" << scale << "=" << it->second
                                       << ": that file is the SRCNN model for x" << serves
                                       << "; give it as srcnn-x" << serves << "= and the x" << scale
                                       << " model as srcnn-x" << scale << "=");
    check_model_scale(l.weights, it->second, scale);
    srcnn.desc +=
        (srcnn.desc.empty() ? "" : "; ") + std::string("x") + std::to_string(scale) + ": " + l.desc;
    srcnn.nets[scale] = std::move(l.net);
    srcnn.files[scale] = it->second;
  }
  if (!srcnn.nets.empty())
    methods.push_back(std::move(srcnn));
  else
    log_info(
        "--table3: no SRCNN column (give the authors' models as --models "
        "srcnn-x2=FILE,srcnn-x3=FILE,"
        "srcnn-x4=FILE; docs/data.md says where to get them)");
  EvalMethod vdsr;
  vdsr.name = "VDSR";
  const auto it = files.find("vdsr");
  const std::string path = it != files.end() ? it->second : bundled_model_path();
  Loaded l = load_net(path, dev, precision);
  VDSR_USER_CHECK(l.weights.config.arch == Arch::Vdsr,
                  "--models vdsr=" << path << ": that file is an SRCNN model");
  for (const int s : scales) check_model_scale(l.weights, path, s, 0, "--scales");
  vdsr.desc = l.desc;
  vdsr.nets[0] = std::move(l.net);
  vdsr.files[0] = path;
  methods.push_back(std::move(vdsr));
  return methods;
}

}  // namespace vdsr
