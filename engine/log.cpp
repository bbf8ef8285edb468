#include "engine/log.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <mutex>

namespace vdsr {

namespace {
LogLevel g_level = LogLevel::Normal;
LogLevel g_cap = LogLevel::Verbose;
std::mutex g_mu;
bool g_progress_on_screen = false;  // a progress line is drawn and must be cleared before a message
std::string g_tag;                  // set_log_tag's

void emit(const char* prefix, const std::string& msg) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_progress_on_screen) {
    std::fputs("\r\033[K", stderr);
    g_progress_on_screen = false;
  }
  std::fprintf(stderr, "%s%s%s\n", g_tag.c_str(), prefix, msg.c_str());
  std::fflush(stderr);
}
}  // namespace

void set_log_level(LogLevel level) { g_level = level; }
void cap_log_level(LogLevel cap) { g_cap = cap; }
LogLevel log_level() { return std::min(g_level, g_cap); }
void set_log_tag(const std::string& tag) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_tag = tag;
}

void log_error(const std::string& msg) { emit("error: ", msg); }
void log_warning(const std::string& msg) {
  if (log_level() >= LogLevel::Normal) emit("warning: ", msg);
}
void log_info(const std::string& msg) {
  if (log_level() >= LogLevel::Normal) emit("", msg);
}
void log_verbose(const std::string& msg) {
  if (log_level() >= LogLevel::Verbose) emit("", msg);
}

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e8) return "--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  return buf;
}

namespace {
double g_plain_interval = 60.0;
}  // namespace

void set_plain_progress_interval(double seconds) { g_plain_interval = seconds; }

Progress::Progress(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(log_level() >= LogLevel::Normal && isatty(fileno(stderr)) != 0),
      plain_(log_level() >= LogLevel::Normal && !enabled_),
      start_(std::chrono::steady_clock::now()),
      last_draw_(enabled_ ? start_ - std::chrono::seconds(1) : start_) {}

Progress::~Progress() { finish(); }

double Progress::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

std::string Progress::text(double t) const {
  const double done = static_cast<double>(done_) + partial_;
  const double rate = t > 0 ? done / t : 0.0;
  const double eta = rate > 0 ? (static_cast<double>(total_) - done) / rate : -1.0;
  char line[256];
  std::snprintf(line, sizeof line, "%s  %lld/%lld  %.2f %s/s  elapsed %s  ETA %s", label_.c_str(),
                static_cast<long long>(done_), static_cast<long long>(total_), rate, unit_.c_str(),
                format_duration(t).c_str(), format_duration(eta).c_str());
  return line;
}

void Progress::update(int64_t done, double partial) {
  done_ = done;
  partial_ = std::clamp(partial, 0.0, static_cast<double>(std::max<int64_t>(total_ - done, 0)));
  if (finished_ || (!enabled_ && !plain_)) return;
  const auto now = std::chrono::steady_clock::now();
  if (plain_) {
    // A plain line only while there is something left to tell: the tool's own summary follows.
    if (done >= total_ || now - last_draw_ < std::chrono::duration<double>(g_plain_interval))
      return;
    last_draw_ = now;
    emit("", text(elapsed_seconds()));
    return;
  }
  if (done < total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const std::string line = text(elapsed_seconds());
  std::lock_guard<std::mutex> lock(g_mu);
  std::fprintf(stderr, "\r\033[K%s", line.c_str());
  std::fflush(stderr);
  g_progress_on_screen = true;
}

void clear_progress_line() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_progress_on_screen) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    g_progress_on_screen = false;
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) clear_progress_line();
}

}  // namespace vdsr
