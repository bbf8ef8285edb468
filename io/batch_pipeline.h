// A three-stage batch pipeline over numbered jobs: load (decode), process (upscale), save (encode
// and write), each on its own threads, joined by bounded queues so that at most about
// 2 x threads images wait between two stages and memory stays bounded whatever the batch size.
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

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "image/image_io.h"

namespace vdsr {

struct PipelineThreads {
  int load = 1, process = 2, save = 2;
};

// Parses "L:P:S" (each 1..256) as -j/--threads does; throws Error with the flag name otherwise.
PipelineThreads parse_pipeline_threads(const std::string& text);

struct PipelineStages {
  std::function<Image(size_t job)> load;
  std::function<Image(int worker, size_t job, Image in)> process;  // worker in [0, threads.process)
  std::function<void(size_t job, const Image& out)> save;
};

struct JobOutcome {
  bool ok = false;
  std::string stage;   // "load", "process" or "save" when it failed
  std::string reason;  // the exception's message when it failed
};

// Runs jobs [0, n) through the three stages; returns one outcome per job (index = job number).
std::vector<JobOutcome> run_pipeline(
    size_t n, const PipelineThreads& threads, const PipelineStages& stages,
    const std::function<void(size_t job, const JobOutcome& outcome)>& on_finished = nullptr);

}  // namespace vdsr
