#include "engine/file_kind.h"

#include <algorithm>
#include <system_error>

namespace fs = std::filesystem;

namespace vdsr {

std::string special_file_kind(const fs::file_status& s) {
  switch (s.type()) {
    case fs::file_type::fifo:
      return "a FIFO (named pipe), not a file";
    case fs::file_type::block:
    case fs::file_type::character:
      return "a device, not a file";
    case fs::file_type::socket:
      return "a socket, not a file";
    default:
      return "not a regular file";
  }
}

namespace {

// Following the links leads round in a circle (the system gives up: ELOOP), not to a missing file.
bool is_link_loop(const std::string& path) {
  std::error_code ec;
  (void)fs::status(path, ec);
  return ec == std::errc::too_many_symbolic_link_levels;
}

}  // namespace

std::string not_a_file(const std::string& path) {
  std::error_code ec;
  const fs::file_status s = fs::status(path, ec);
  if (fs::is_regular_file(s) || fs::is_directory(s)) return "";
  if (fs::is_symlink(fs::symlink_status(path, ec)) && !fs::exists(s))
    return is_link_loop(path) ? "a symbolic link loop" : "a broken link";
  return special_file_kind(s);
}

std::string dead_link_words(const std::string& path) {
  std::error_code ec;
  const std::string target = fs::read_symlink(path, ec).string();
  return is_link_loop(path) ? "symbolic link loop (its target '" + target + "' leads back to it)"
                            : "broken symbolic link (its target '" + target + "' does not exist)";
}

std::string unwritable_reason(const std::string& path) {
  // Too long a name: said here, where the tools check their outputs before any work, rather than
  // by whichever file call meets it first (some throw, as "internal error: filesystem error").
  size_t longest = 0;
  for (const fs::path& part : fs::path(path)) longest = std::max(longest, part.native().size());
  if (longest > kMaxNameBytes)
    return "has a name of " + std::to_string(longest) + " bytes between two '/', more than the " +
           std::to_string(kMaxNameBytes) + " a file system allows";
  std::error_code ec;
  const fs::file_status own = fs::symlink_status(path, ec);
  if (ec == std::errc::filename_too_long)
    return "is a path of " + std::to_string(path.size()) +
           " bytes, longer than the file system allows";
  if (!fs::exists(own) || fs::is_regular_file(own)) return "";
  if (fs::is_directory(own)) return "is a folder; give a file name";
  if (fs::is_symlink(own))
    return "is a symbolic link (to " + fs::read_symlink(path, ec).string() +
           "): the tools write regular files only, as writing through a link or replacing it "
           "could each lose a file; give the file's own name, or remove the link";
  return "is " + special_file_kind(own) + ", and writing would replace it";
}

}  // namespace vdsr
