// Logging and progress. Messages go to stderr; stdout is kept for results (tables, file lists).
// Verbosity: quiet (errors only), normal, verbose. The progress line redraws in place with rate and
// ETA only when stderr is a terminal and not quiet, so logs and CI output stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <utility>

namespace vdsr {

enum class LogLevel { Quiet = 0, Normal = 1, Verbose = 2 };

void set_log_level(LogLevel level);
// The level in effect: set_log_level's, but never above the cap (default Verbose). A process that
// does not speak for its run (a data-parallel rank other than 0) caps itself at Quiet, so a later
// -v or -q on its command line cannot make it print more than errors.
void cap_log_level(LogLevel cap);
LogLevel log_level();
// Text put before every message line, e.g. "rank 1: " for a data-parallel rank other than 0, whose
// errors would otherwise read as rank 0's (under mpirun every rank's stderr reaches one terminal).
void set_log_tag(const std::string& tag);

void log_error(const std::string& msg);    // always printed
void log_warning(const std::string& msg);  // printed unless quiet
void log_info(const std::string& msg);     // printed unless quiet
void log_verbose(const std::string& msg);  // printed with -v only

// A single-line progress indicator: "label  done/total  rate unit/s  elapsed h:mm:ss  ETA h:mm:ss".
// On a terminal it is redrawn in place; where stderr is no terminal (a log file, nohup) it is
// printed as a plain line once a minute instead (not with set_plain(false)), so that a long run's
// log still says it is alive and when it will end. Nothing with -q.
class Progress {
 public:
  Progress(std::string label, int64_t total, std::string unit = "it");
  ~Progress();
  // `partial`: the units in progress' shares already done, summed (0 up to the units left), which
  // count toward the rate and the ETA (long images of a batch, several at once) but not the count.
  void update(int64_t done, double partial = 0);
  void finish();                                                    // clears the line
  void set_label(std::string label) { label_ = std::move(label); }  // e.g. per-update state
  // Plain lines on or off (off: a log that must hold only JSON); never on a terminal or with -q.
  void set_plain(bool on) { plain_ = on && !enabled_ && log_level() >= LogLevel::Normal; }

  double elapsed_seconds() const;
  bool enabled() const { return enabled_; }

 private:
  std::string text(double t) const;

  std::string label_, unit_;
  int64_t total_, done_ = 0;
  double partial_ = 0;
  bool enabled_, plain_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Erases a progress line drawn in place, so that a table row printed on standard output starts at
// the left on a shared terminal; the line's next update draws it again. Log messages do this
// themselves.
void clear_progress_line();

// Seconds between Progress's plain lines (60 unless set; for tests).
void set_plain_progress_interval(double seconds);

// Formats seconds as "h:mm:ss" or "m:ss".
std::string format_duration(double seconds);

}  // namespace vdsr
