#include "tools/batch_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "io/json_text.h"

namespace vdsr {

namespace {

double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// An integer factor stays an integer in the JSON (2, not 2.0).
nlohmann::json scale_json(double scale) {
  return scale == std::floor(scale) ? nlohmann::json(int(scale)) : nlohmann::json(scale);
}

// One line of JSON (a name that is not UTF-8 gets U+FFFD for its bad bytes).
std::string dump(const nlohmann::json& j) { return json_dump(j); }

nlohmann::json to_json(const FileRecord& r) {
  nlohmann::json j = {{"input", r.input}, {"output", r.output}, {"status", r.status}};
  // A name that is not UTF-8 loses bytes in "input" / "output": its escaped form (printable's
  // \xNN and \\, which maps back to the bytes one to one) goes beside it.
  if (!is_utf8(r.input)) j["input_escaped"] = printable(r.input);
  if (!is_utf8(r.output)) j["output_escaped"] = printable(r.output);
  if (!r.stage.empty()) j["stage"] = r.stage;
  if (!r.reason.empty()) j["reason"] = r.reason;
  if (r.in_w > 0) j["input_size"] = {r.in_w, r.in_h};
  if (r.out_w > 0) j["output_size"] = {r.out_w, r.out_h};
  if (r.scale > 0) j["scale"] = scale_json(r.scale);
  if (r.seconds >= 0) j["seconds"] = r.seconds;
  return j;
}

}  // namespace

BatchReport::BatchReport(size_t jobs, bool events)
    : events_(events),
      jobs_(jobs),
      line_("upscaling", int64_t(jobs), "img"),
      t0_(std::chrono::steady_clock::now()),
      last_event_(t0_) {
  line_.set_plain(!events);  // --progress json's stderr holds JSON lines only
}

void BatchReport::event(const std::string& line) {
  if (!events_) return;
  std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void BatchReport::count(const FileRecord& r) {
  if (r.status == "done") ++done_;
  else if (r.status == "skipped") ++skipped_;
  else ++failed_;
  if (r.status == "failed") {
    // Every line starts with the input's name; a reason that quotes it again ("cannot decode image
    // 'a.png': ...") loses the quote.
    std::string reason = r.reason;
    const std::string quoted = " '" + printable(r.input) + "'";
    if (const size_t at = reason.find(quoted); at != std::string::npos) reason.erase(at, quoted.size());
    log_error(printable(r.input) + (r.stage == "save" ? " -> " + printable(r.output) : "") + ": " + reason);
  }
  else if (r.status == "skipped")
    log_verbose("skipping " + printable(r.input) + " (" + r.reason + ")");
  else
    log_verbose(printable(r.input) + " -> " + printable(r.output));
  records_.push_back(r);
  event(dump({{"event", "image"}, {"file", to_json(r)}}));
}

void BatchReport::planned(const FileRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  count(r);
}

void BatchReport::start(const std::string& what) {
  std::lock_guard<std::mutex> lock(mu_);
  event(dump({{"event", "start"}, {"what", what}, {"images", jobs_}}));
}

void BatchReport::draw() {
  double partial = 0;
  for (const auto& [input, fraction] : in_flight_) partial += fraction;
  std::string label = "upscaling";
  if (!in_flight_.empty()) {
    char pct[16];
    std::snprintf(pct, sizeof pct, "%.0f%%", 100 * in_flight_.front().second);
    label += " (" + printable(in_flight_.front().first) + " " + pct;
    if (in_flight_.size() > 1) label += ", " + std::to_string(in_flight_.size() - 1) + " more";
    label += ")";
  }
  line_.set_label(label);
  line_.update(processed_, partial);
}

void BatchReport::progress(const std::string& input, double fraction) {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = std::find_if(in_flight_.begin(), in_flight_.end(),
                               [&](const auto& f) { return f.first == input; });
  if (it == in_flight_.end())
    in_flight_.emplace_back(input, fraction);
  else
    it->second = fraction;
  const auto now = std::chrono::steady_clock::now();
  // Only long work is worth a word: once the batch has run a second, at most twice a second.
  if (now - last_event_ < std::chrono::milliseconds(500) || since(t0_) < 1.0) return;
  last_event_ = now;
  draw();
  event(dump({{"event", "progress"}, {"input", input}, {"fraction", fraction}}));
}

void BatchReport::finished(const FileRecord& r) {
  std::lock_guard<std::mutex> lock(mu_);
  count(r);
  in_flight_.erase(std::remove_if(in_flight_.begin(), in_flight_.end(),
                                  [&](const auto& f) { return f.first == r.input; }),
                   in_flight_.end());
  ++processed_;
  draw();
}

int BatchReport::finish(double output_megapixels) {
  std::lock_guard<std::mutex> lock(mu_);
  line_.finish();
  megapixels_ = output_megapixels;
  const double secs = since(t0_);
  char summary[320];
  std::snprintf(summary, sizeof summary,
                "vdsr_sr: %zu image(s): %lld done, %lld skipped (output exists), %lld failed; "
                "%.2f output megapixels, %.2f s",
                records_.size(), static_cast<long long>(done_), static_cast<long long>(skipped_),
                static_cast<long long>(failed_), megapixels_, secs);
  if (failed_ > 0) log_error(summary);
  else log_info(summary);
  event(dump({{"event", "done"}, {"images", records_.size()}, {"done", done_}, {"skipped", skipped_},
              {"failed", failed_}, {"output_megapixels", megapixels_}, {"seconds", secs}}));
  return int(failed_);
}

void BatchReport::write_json(const std::string& path, const std::string& model, double scale, int width,
                             int height) const {
  std::vector<FileRecord> sorted = records_;
  std::sort(sorted.begin(), sorted.end(), [](const FileRecord& a, const FileRecord& b) { return a.input < b.input; });
  nlohmann::json files = nlohmann::json::array();
  for (const auto& r : sorted) files.push_back(to_json(r));
  const nlohmann::json none;  // null
  nlohmann::json doc = {{"model", model}, {"scale", scale > 0 ? scale_json(scale) : none}, {"files", files},
                              {"totals", {{"images", records_.size()}, {"done", done_}, {"skipped", skipped_},
                                          {"failed", failed_}, {"output_megapixels", megapixels_},
                                          {"seconds", since(t0_)}}}};
  if (width > 0 || height > 0) {
    doc["width"] = width > 0 ? nlohmann::json(width) : none;
    doc["height"] = height > 0 ? nlohmann::json(height) : none;
  }
  const std::string text = dump(doc) + "\n";
  write_file_atomic(path, text.data(), text.size());
}

}  // namespace vdsr
