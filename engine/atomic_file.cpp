#include "engine/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "engine/error.h"

namespace vdsr {

namespace {
std::string folder_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}
}  // namespace

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)) {
  static std::atomic<unsigned> counter{0};
  tmp_path_ = path_ + ".tmp." + std::to_string(getpid()) + "." + std::to_string(counter++);
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  VDSR_USER_CHECK(fd_ >= 0, "cannot create '" << tmp_path_ << "' to write '" << path_
                                         << "': " << std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
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
             "renaming '" << tmp_path_ << "' to '" << path_ << "' failed: " << std::strerror(errno));
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
