#include "engine/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "engine/error.h"
#include "engine/file_kind.h"

namespace vdsr {

namespace {
// The temporaries being written now, for a fatal signal's handler to remove: fixed slots, so the
// handler touches no heap and calls only unlink, rmdir and raise (async-signal-safe). A slot is
// claimed, its path written, then marked live; the handler reads only live slots.
constexpr int kTrackSlots = 128;
constexpr size_t kTrackPath = 4096;
struct TrackSlot {
  std::atomic<bool> claimed{false}, live{false};
  char path[kTrackPath];
};
TrackSlot g_track[kTrackSlots];
std::atomic<const char*> g_signal_note{nullptr};

// True when `path` holds `part`: strstr without relying on it being async-signal-safe.
bool holds(const char* path, const char* part) {
  for (; *path != '\0'; ++path) {
    size_t i = 0;
    while (part[i] != '\0' && path[i] == part[i]) ++i;
    if (part[i] == '\0') return true;
  }
  return false;
}

// Only a temporary's name is removed: a slot freed and claimed again while the handler reads it
// could show a path half old, half new, and such a mixture must not name a user's file.
bool temporary_name(const char* path) { return holds(path, ".tmp.") || holds(path, ".matio."); }

void remove_tracked_and_reraise(int sig) {
  const int saved_errno = errno;  // a handler must leave errno as it found it
  for (TrackSlot& s : g_track)
    if (s.live.load(std::memory_order_acquire) && temporary_name(s.path)) ::unlink(s.path);
  for (TrackSlot& s : g_track)  // folders after the files in them
    if (s.live.load(std::memory_order_acquire) && temporary_name(s.path)) ::rmdir(s.path);
  if (const char* note = g_signal_note.load(std::memory_order_acquire))
    (void)!::write(STDERR_FILENO, note, std::strlen(note));  // write and strlen: async-signal-safe
  // SA_RESETHAND restored the default action, and the signal is blocked while this runs: it ends
  // the process as soon as the handler returns, with the status a shell expects.
  ::raise(sig);
  errno = saved_errno;  // never read then, but a handler leaves errno as it found it
}

std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

std::string temporary_host_tag() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "localhost";
  std::string tag;
  for (const char* c = name; *c != '\0' && *c != '.'; ++c)
    tag += std::isalnum(static_cast<unsigned char>(*c)) || *c == '-' || *c == '_' ? *c : '_';
  return tag.empty() ? "localhost" : tag;
}

namespace {

bool all_digits(const std::string& s) {
  return !s.empty() && s.size() <= 10 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// True when `name` is a temporary of this host (or of the old form) of a file `ours` names, whose
// process is gone.
bool stale_temporary(const std::string& name, const std::string& host,
                     const std::function<bool(const std::string&)>& ours) {
  const size_t at = name.rfind(".tmp.");
  if (at == std::string::npos || at == 0 || !ours(name.substr(0, at))) return false;
  std::vector<std::string> parts;  // after ".tmp.", split at dots
  size_t begin = at + 5;
  for (size_t dot; (dot = name.find('.', begin)) != std::string::npos; begin = dot + 1) parts.push_back(name.substr(begin, dot - begin));
  parts.push_back(name.substr(begin));
  std::string pid;
  if (parts.size() == 3 && parts[0] == host && all_digits(parts[1]) && all_digits(parts[2])) pid = parts[1];
  else if (parts.size() == 2 && all_digits(parts[0]) && all_digits(parts[1])) pid = parts[0];  // NAME.tmp.<pid>.<n>
  else return false;
  const long p = std::stol(pid);
  return p > 0 && ::kill(pid_t(p), 0) != 0 && errno == ESRCH;
}

}  // namespace

std::vector<std::string> remove_stale_temporaries(const std::string& folder, bool recursive,
                                                  const std::function<bool(const std::string& name)>& ours) {
  namespace fs = std::filesystem;
  std::vector<std::string> removed;
  const std::string host = temporary_host_tag();
  std::error_code ec;
  auto consider = [&](const fs::directory_entry& e) {
    if (!e.is_regular_file(ec) || !stale_temporary(e.path().filename().string(), host, ours)) return;
    if (fs::remove(e.path(), ec)) removed.push_back(e.path().string());
  };
  if (recursive) {
    for (fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec))
      consider(*it);
  } else {
    for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) consider(*it);
  }
  return removed;
}

int track_temporary(const std::string& path) {
  if (path.size() >= kTrackPath) return -1;
  for (int i = 0; i < kTrackSlots; ++i) {
    bool free = false;
    if (!g_track[i].claimed.compare_exchange_strong(free, true)) continue;
    std::memcpy(g_track[i].path, path.c_str(), path.size() + 1);
    g_track[i].live.store(true, std::memory_order_release);
    return i;
  }
  return -1;  // all in use: the next run's sweep (remove_stale_temporaries) is the fallback
}

void untrack_temporary(int slot) {
  if (slot < 0 || slot >= kTrackSlots) return;
  g_track[slot].live.store(false, std::memory_order_release);
  g_track[slot].claimed.store(false, std::memory_order_release);
}

void remove_temporaries_on(int sig) {
  struct sigaction sa {};
  sa.sa_handler = remove_tracked_and_reraise;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;
  sigaction(sig, &sa, nullptr);
}

void set_signal_note(const char* note) { g_signal_note.store(note, std::memory_order_release); }

void remove_temporaries_on_signals() {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    struct sigaction old {};
    // A signal the process was started ignoring (nohup, a background job's SIGINT) stays ignored.
    if (sigaction(sig, nullptr, &old) != 0 || old.sa_handler == SIG_IGN) continue;
    remove_temporaries_on(sig);
  }
}

void check_writable(const std::string& path) {
  const std::string why = unwritable_reason(path);
  VDSR_USER_CHECK(why.empty(), "cannot write '" << path << "': it " << why);
}

std::string temporary_beside(const std::string& path, const std::string& suffix) {
  constexpr size_t kNameMax = kMaxNameBytes;
  const size_t slash = path.rfind('/'), start = slash == std::string::npos ? 0 : slash + 1;
  std::string name = path.substr(start);
  if (name.size() + suffix.size() > kNameMax)
    name.resize(suffix.size() < kNameMax ? kNameMax - suffix.size() : 0);
  return path.substr(0, start) + name + suffix;
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  check_writable(path_);
  static std::atomic<unsigned> counter{0};
  static const std::string host = temporary_host_tag();
  tmp_path_ = temporary_beside(
      path_, ".tmp." + host + "." + std::to_string(getpid()) + "." + std::to_string(counter++));
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  // The user named the target; the temporary's name would only puzzle.
  VDSR_USER_CHECK(fd_ >= 0, "cannot write '" << path_ << "': " << std::strerror(errno)
                                             << " (creating a file in its folder failed)");
  track_ = track_temporary(tmp_path_);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
  untrack_temporary(track_);
}

void AtomicFile::write(const void* data, size_t size) {
  VDSR_CHECK(fd_ >= 0 && !committed_, "write to closed file '" << path_ << "'");
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0 && errno == EINTR) continue;
    VDSR_USER_CHECK(n > 0, "writing '" << path_ << "' failed: "
                                  << (n < 0 ? std::strerror(errno) : "no progress"));
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  VDSR_CHECK(fd_ >= 0 && !committed_, "commit of closed file '" << path_ << "'");
  VDSR_USER_CHECK(::fsync(fd_) == 0, "fsync of '" << path_ << "' failed: " << std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  VDSR_USER_CHECK(::close(fd) == 0, "closing '" << path_ << "' failed: " << std::strerror(errno));
  VDSR_USER_CHECK(std::rename(tmp_path_.c_str(), path_.c_str()) == 0,
                  "cannot write '" << path_ << "': moving the finished file into place failed: "
                                   << std::strerror(errno));
  committed_ = true;
  // The rename is durable only once the folder entry is on disk.
  const int dir = ::open(folder_of(path_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  AtomicFile f(path);
  f.write(data, size);
  f.commit();
}

}  // namespace vdsr
