// Atomic file output: bytes go to a temporary file beside the target, every write is checked, then
// fsync, rename over the target and fsync of the folder. A failure at any point (full disk, no
// permission) removes the temporary file and throws an error naming the target and the cause, so a
// reader never sees a partial file under the final name.
//
// A temporary being written when SIGINT, SIGTERM or SIGHUP ends the process is removed too (see
// remove_temporaries_on_signals below). The temporary is `<target>.tmp.<host>.<pid>.<n>` (host:
// this machine's name up to its first dot, other characters than letters, digits, '-' and '_' as
// '_'), so a process killed outright (kill -9, a node lost) leaves a file that says whose it was:
// remove_stale_temporaries() deletes those of this host whose process is gone, and never another
// host's (shards on other machines may be writing into the same shared folder).
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

namespace vdsr {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);  // creates the temporary file
  ~AtomicFile();                          // removes the temporary file unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t size);
  void commit();  // fsync, close, rename, fsync folder
  const std::string& path() const { return path_; }

 private:
  std::string path_, tmp_path_;
  int fd_ = -1;
  int track_ = -1;  // track_temporary's slot
  bool committed_ = false;
};

// A temporary file (or folder) being written, its name holding ".tmp." or ".matio." (nothing else
// is removed), removed by the handler remove_temporaries_on_signals installs if SIGINT, SIGTERM or
// SIGHUP ends the process first: track_temporary returns a slot (-1 when none is free or the path
// is too long), untrack_temporary frees it once the file is renamed or removed. AtomicFile tracks
// its own.
int track_temporary(const std::string& path);
void untrack_temporary(int slot);
// Installs that handler (the tools do, in cli::run_main; vdsr_train then replaces SIGINT's and
// SIGTERM's with its own, which stop at a step and checkpoint). It removes the tracked
// temporaries, then the signal ends the process as it would have. Signals the process was started
// ignoring stay ignored.
void remove_temporaries_on_signals();
// The same handler for one signal, whatever its disposition; async-signal-safe (sigaction), so a
// handler may install it for the next delivery (vdsr_train's first SIGINT stops at a step, a second
// removes the checkpoint's temporary and ends the process).
void remove_temporaries_on(int sig);
// A line that handler writes to standard error before the signal ends the process (nullptr: none):
// what was left and how to go on (vdsr_sr: the outputs written are whole). The text must outlive
// the process's work (a string literal).
void set_signal_note(const char* note);

void write_file_atomic(const std::string& path, const void* data, size_t size);

// A UserError naming `path` when a file may not be written under that name: a folder, a link, a
// FIFO, a device or a socket (a rename over it would replace it: as root, /dev/null itself;
// engine/file_kind.h says why a link is refused). AtomicFile checks it before it makes its
// temporary; the tools, before any work.
void check_writable(const std::string& path);

// The path of a temporary beside `path`: its file name followed by `suffix`, the name cut short
// where the whole would pass the file systems' limit on one name (255 bytes), so that an output
// whose own name is near that limit can still be written. (A temporary of a cut name, left by a
// killed process, is not known as stale by remove_stale_temporaries: it names no file of ours.)
std::string temporary_beside(const std::string& path, const std::string& suffix);

// This machine's name as it appears in temporary names.
std::string temporary_host_tag();

// Deletes the temporaries in `folder` (and its sub-folders with `recursive`) left by processes of
// this host that no longer run: `NAME.tmp.<this host>.<pid>.<n>`, and the older
// `NAME.tmp.<pid>.<n>` form, when no process `pid` exists here and `ours(NAME)` says NAME is a file
// the caller writes (a user's "budget.tmp.2023.1" has the older form's shape). Returns the paths
// removed.
std::vector<std::string> remove_stale_temporaries(const std::string& folder, bool recursive,
                                                  const std::function<bool(const std::string& name)>& ours);

}  // namespace vdsr
