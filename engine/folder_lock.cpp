#include "engine/folder_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "engine/error.h"

namespace vdsr {

FolderLock::FolderLock(const std::string& folder) {
  fd_ = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  VDSR_USER_CHECK(fd_ >= 0, "cannot open the folder '" << folder << "': " << std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) {
    held_ = true;
  } else {
    // A file system without flock (some network mounts say ENOLCK or EOPNOTSUPP) cannot tell;
    // the run goes on unguarded rather than refusing to start.
    held_ = errno != EWOULDBLOCK;
  }
}

FolderLock::~FolderLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the descriptor releases the lock
}

}  // namespace vdsr
