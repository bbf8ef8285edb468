// A three-stage batch pipeline over numbered jobs: load (vdsr_sr: decode, colour split, luma
// bicubic), process (the network), save (chroma bicubic, back to RGB, encode and write), each on
// its own threads, joined by bounded queues so that at most about 2 x threads jobs' work waits
// between two stages and memory stays bounded whatever the batch size.
//
//   loaders:    take the next job number (in order), load it, push it to the process queue
//   processors: pop, process with their own worker index (one model per worker), push to save
//   savers:     pop, save under the job's own name
//
// An exception in any stage fails that job only: it is reported through on_finished with the stage
// and the reason, and the others go on. Jobs may finish in any order; each one's result depends on
// its job number alone, never on which thread ran it or when, so the outputs are the same for any
// thread counts. on_finished is called once per job, one call at a time (under a lock), so the
// caller may update a progress line and counters there without locking.
#pragma once

#include <any>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "image/image_io.h"

namespace vdsr {

struct PipelineThreads {
  int load = 1, process = 2, save = 2;
};

// The most threads of one stage that -j takes (a rate that needs more needs more processes).
constexpr int kMaxPipelineThreads = 256;

// Parses "L:P:S" (each 1..kMaxPipelineThreads) as -j/--threads does; throws Error with the flag
// name otherwise.
PipelineThreads parse_pipeline_threads(const std::string& text);

// What a save thread (chroma bicubic, back to RGB, encode) costs per output pixel against a load
// thread (decode, colour split, luma bicubic), for output format f with options o: measured by
// vdsr_bench --stages on Set14 x2 (docs/perf.md, "Image I/O per stage": record 9e1243f), from 1.3
// (BMP) and 1.5 (JPEG) to 4.2 (PNG level 1) and 43 (lossless WebP).
double save_cost_ratio(ImageFormat f, const SaveOptions& o);

// vdsr_sr's threads on `gpus` GPUs when -j is not given: one process worker per GPU (it runs the
// network and mostly waits), and the other hardware threads T = hw - gpus (at least 3) split so
// that loading and saving keep the same pace: L maximises min(L, (T - L) / save_cost), S = T - L,
// each within 1..256 (S at least 2). 16 threads, one GPU: 3:1:12 for PNG, 6:1:9 for JPEG.
PipelineThreads gpu_pipeline_threads(int hardware_threads, int gpus, double save_cost);

// The stages of jobs whose work travels as a T from stage to stage (vdsr_sr: model/upscale.h's
// UpscaleWork; an Image in the tests).
template <typename T>
struct PipelineStages {
  std::function<T(size_t job)> load;
  std::function<T(int worker, size_t job, T in)> process;  // worker in [0, threads.process)
  std::function<void(size_t job, T& work)> save;
};

struct JobOutcome {
  bool ok = false;
  std::string stage;   // "load", "process" or "save" when it failed
  std::string reason;  // the exception's message when it failed
};

using JobFinished = std::function<void(size_t job, const JobOutcome& outcome)>;

// The pipeline itself, on type-erased work (batch_pipeline.cpp).
std::vector<JobOutcome> run_pipeline_any(size_t n, const PipelineThreads& threads,
                                         const PipelineStages<std::any>& stages, const JobFinished& on_finished);

// Runs jobs [0, n) through the three stages; returns one outcome per job (index = job number).
template <typename T>
std::vector<JobOutcome> run_pipeline(size_t n, const PipelineThreads& threads, const PipelineStages<T>& stages,
                                     const JobFinished& on_finished = nullptr) {
  PipelineStages<std::any> any;
  if (stages.load) any.load = [&](size_t job) { return std::any(stages.load(job)); };
  if (stages.process)
    any.process = [&](int worker, size_t job, std::any in) {
      return std::any(stages.process(worker, job, std::any_cast<T&&>(std::move(in))));
    };
  if (stages.save) any.save = [&](size_t job, std::any& work) { stages.save(job, std::any_cast<T&>(work)); };
  return run_pipeline_any(n, threads, any, on_finished);
}

}  // namespace vdsr
