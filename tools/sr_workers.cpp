// vdsr_sr's process workers (tools/sr_workers.h).
#include "tools/sr_workers.h"

#include <thread>

#include "engine/error.h"
#include "engine/log.h"
#include "model/model_files.h"
#include "model/upscale.h"
#include "tools/cli.h"

namespace vdsr {

void SrWorkers::warn_network_scale(double s) {
  if (models.empty()) return;
  const double net = network_scale(s);
  const std::lock_guard<std::mutex> lock(warned_mu_);
  if (warned_.insert(net).second) check_model_scale(weights, model_name, net);
}

std::unique_ptr<SrWorkers> load_sr_workers(const SrOptions& o, ImageFormat save_format) {
  auto workers = std::make_unique<SrWorkers>();
  SrWorkers& sw = *workers;
  sw.threads = o.threads;
  const std::string how = scale_words(o);
  if (o.bicubic) {
    // Bicubic runs on the CPU whatever -g says: a malformed list is still refused, and a GPU asked
    // for gets a warning rather than an error (a script may pass the same -g to both modes).
    if (!o.gpu.empty() && parse_gpu_list(o.gpu) != std::vector<int>{-1})
      log_warning("-g " + o.gpu +
                  " has no effect with --bicubic: no network runs, the CPU upscales");
    if (o.precision != "fp32")
      log_warning("--precision " + o.precision + " has no effect with --bicubic: no network runs");
    if (o.tile_given)
      log_warning(
          "--tile has no effect with --bicubic: no network runs, each image is resized whole");
    sw.what = "BICUBIC baseline (no network), " + how;
    return workers;
  }
  const std::vector<Device> devices = resolve_devices(o.gpu);
  const Precision precision = cli::check_precision(o.precision, devices[0].is_cuda());
  const std::string path = o.model.empty() ? bundled_model_path() : o.model;
  sw.weights = load_weights(path);
  const VdsrWeights& w = sw.weights;
  if (!o.fit()) check_model_scale(w, path, o.scale, network_scale(o.scale));
  VDSR_USER_CHECK(!o.fit() || model_scale(w) == 0,
                  printable(path) << " is an SRCNN model (one model per scale); with "
                                  << target_words(o.width, o.height)
                                  << " each image gets its own factor: give the model's with -s");
  if (devices[0].is_cuda()) {
    sw.threads.process = int(devices.size());
    if (!o.threads_given) {
      const int cores = int(std::thread::hardware_concurrency());
      sw.threads =
          gpu_pipeline_threads(cores, int(devices.size()), save_cost_ratio(save_format, o.save));
      log_verbose("vdsr_sr: -j " + std::to_string(sw.threads.load) + ":" +
                  std::to_string(sw.threads.process) + ":" + std::to_string(sw.threads.save) +
                  " (from the " + std::to_string(cores) + " hardware threads; -j sets it)");
    }
  }
  std::string names;
  for (int k = 0; k < sw.threads.process; ++k) {
    const Device dev = devices[size_t(k) % devices.size()];
    sw.models.push_back(std::make_unique<Vdsr>(w.config, dev));
    sw.models.back()->set_params(w.params);
    sw.models.back()->set_precision(precision);
    if (k < int(devices.size())) names += (names.empty() ? "" : ", ") + dev.name();
  }
  sw.model_name = path;
  sw.what = "model " + path + " on " + names + " in " + precision_name(precision) + ", " + how;
  return workers;
}

}  // namespace vdsr
