// What vdsr_sr tells about a batch while it runs and when it ends: one record per file (planned
// problems, skipped outputs and jobs alike), the progress line (with the share done of an image
// that takes long; where stderr is no terminal, a plain line once a minute), JSON events on stderr
// with --progress json (one object per line: start, progress inside a long image, image, done), the
// per-file error lines, the summary line, and the --json report. Thread-safe: the pipeline's
// workers report progress from their threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "engine/log.h"

namespace vdsr {

struct FileRecord {
  std::string input, output;
  std::string status;         // "done", "failed" or "skipped" (its output existed)
  std::string stage, reason;  // where and why it failed (or why it was skipped)
  int in_w = 0, in_h = 0, out_w = 0, out_h = 0;
  double scale = 0;     // the factor it was upscaled by (done images)
  double seconds = -1;  // from the start of its load to the end of its save (done images)
};

class BatchReport {
 public:
  // jobs: the images to process; events: --progress json.
  BatchReport(size_t jobs, bool events);

  // Files settled while planning (skipped, failed), before start().
  void planned(const FileRecord& r);
  void start(const std::string& what);  // e.g. "model ... on cpu, x2"
  // From a worker: `fraction` of image `input`'s network work is done.
  void progress(const std::string& input, double fraction);
  void finished(const FileRecord& r);  // one processed job, done or failed
  // The summary line and the done event; returns the number of failed files.
  int finish(double output_megapixels);
  // The --json report: every file and the totals; `scale` the -s factor, or 0 with a target size
  // (--width / --height: `width`, `height`, 0 where not given), when each file has its own.
  void write_json(const std::string& path, const std::string& model, double scale, int width = 0,
                  int height = 0) const;

 private:
  void event(const std::string& line);  // one JSON line on stderr (events mode)
  void count(const FileRecord& r);
  void draw();  // the progress line from processed_ and in_flight_ (mu_ held)

  std::mutex mu_;
  bool events_;
  size_t jobs_;
  std::vector<FileRecord> records_;
  int64_t processed_ = 0, done_ = 0, skipped_ = 0, failed_ = 0;
  double megapixels_ = 0;
  Progress line_;
  // The images whose network work has reported a share done, oldest first: the line names the
  // oldest (not whichever worker spoke last) and counts every share toward the rate.
  std::vector<std::pair<std::string, double>> in_flight_;
  std::chrono::steady_clock::time_point t0_;
  std::chrono::steady_clock::time_point last_event_;
};

}  // namespace vdsr
