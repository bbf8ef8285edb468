// vdsr_sr's process workers: one model per worker (Vdsr is not thread-safe), loaded before any
// image is read, on the devices -g names, and the -j that follows from them. In the vdsr_cli
// library so that test_cli can drive it.
#pragma once

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "image/image_io.h"
#include "io/batch_pipeline.h"
#include "model/vdsr.h"
#include "model/weights_io.h"
#include "tools/sr_options.h"

namespace vdsr {

struct SrWorkers {
  std::vector<std::unique_ptr<Vdsr>> models;  // one per process worker; none for --bicubic
  VdsrWeights
      weights;  // the model's; with --width / --height, for the trained-scales warning per factor
  std::string model_name = "bicubic";  // the model's file, as the --json report names it
  std::string what;                    // the run in words, for the log and the start event
  PipelineThreads threads;             // -j, or on GPUs one process worker each and the rest sized

  Vdsr* model(int worker) const { return models.empty() ? nullptr : models[size_t(worker)].get(); }

  // --width / --height: the trained-scales warning once for each factor the network comes to run
  // at (any thread; nothing for --bicubic).
  void warn_network_scale(double s);

 private:
  std::mutex warned_mu_;
  std::set<double> warned_;
};

// The workers for `o`: on the CPU, -j's P models; on GPUs, one per listed device. save_format:
// the most common output format, which sizes a GPU run's save threads. Bicubic loads no model,
// and warns of a -g or --precision it ignores.
std::unique_ptr<SrWorkers> load_sr_workers(const SrOptions& o, ImageFormat save_format);

}  // namespace vdsr
