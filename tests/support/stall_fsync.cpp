// A test shim, loaded with LD_PRELOAD into a tool the tests start: fsync of a file whose path
// holds VDSR_STALL_FSYNC stalls for up to 30 s, after it has created the file VDSR_STALL_MARK. A
// test waits for the mark and sends its signals while the file is half written, which is the
// only way to reach the cleanups a signal does in the middle of a write (a checkpoint's temporary,
// libmatio's scratch folder) from outside the process. Signals that a handler returns from do not
// end the stall; one that ends the process does.
#include <dlfcn.h>
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

bool stalls(int fd) {
  const char* part = std::getenv("VDSR_STALL_FSYNC");
  if (part == nullptr || *part == '\0') return false;
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return std::strstr(path, part) != nullptr;
}

void stall() {
  if (const char* mark = std::getenv("VDSR_STALL_MARK")) {
    const int fd = ::open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) ::close(fd);
  }
  timespec start{}, now{};
  ::clock_gettime(CLOCK_MONOTONIC, &start);
  do {
    const timespec step{0, 10 * 1000 * 1000};
    ::nanosleep(&step, nullptr);  // a handler's return (EINTR) only shortens one step
    ::clock_gettime(CLOCK_MONOTONIC, &now);
  } while (now.tv_sec - start.tv_sec < 30);
}

}  // namespace

extern "C" int fsync(int fd) {
  using Fsync = int (*)(int);
  static const Fsync real = reinterpret_cast<Fsync>(::dlsym(RTLD_NEXT, "fsync"));
  if (stalls(fd)) stall();
  if (real == nullptr) {
    errno = ENOSYS;
    return -1;
  }
  return real(fd);
}
