// An exclusive lock on a folder for as long as a process works in it: vdsr_train's --out, where a
// second run started before the first had written its checkpoint would pass the "already holds a
// run" check and overwrite the first's files. flock(2) on the folder itself, so nothing is left
// behind; the kernel releases it when the process ends, however it ends.
#pragma once

#include <string>

namespace vdsr {

class FolderLock {
 public:
  explicit FolderLock(const std::string& folder);  // tries once, never waits
  ~FolderLock();
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;
  // False when another process (or another FolderLock of this one) holds the folder.
  bool held() const { return held_; }

 private:
  int fd_ = -1;
  bool held_ = false;
};

}  // namespace vdsr
