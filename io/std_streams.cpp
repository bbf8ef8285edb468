#include "io/std_streams.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace vdsr {

std::vector<unsigned char> read_stdin() {
  std::vector<unsigned char> bytes;
  unsigned char buf[1 << 16];
  for (;;) {
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n == 0) break;
    if (n < 0 && errno == EINTR) continue;
    VDSR_USER_CHECK(n > 0, "cannot read " << kStdinName << ": " << std::strerror(errno));
    bytes.insert(bytes.end(), buf, buf + n);
  }
  return bytes;
}

void write_stdout(const std::vector<unsigned char>& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(STDOUT_FILENO, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    VDSR_USER_CHECK(n > 0, "cannot write to " << kStdoutName << ": " << std::strerror(errno));
    done += size_t(n);
  }
}

bool stdout_is_terminal() { return ::isatty(STDOUT_FILENO) == 1; }

}  // namespace vdsr
