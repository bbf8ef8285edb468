// What a path names when it is not a regular file, in words, for the messages of the tools: a FIFO
// would block its reader, a device be read without end, and a file renamed over either would
// replace it (as root, /dev/null itself).
#pragma once

#include <filesystem>
#include <string>

namespace vdsr {

// "a FIFO (named pipe), not a file", "a device, not a file", "a socket, not a file", or "not a
// regular file" for any other type that is neither a file nor a folder.
std::string special_file_kind(const std::filesystem::file_status& s);

// Why `path` (followed through links) is no file to read, in words: "a broken link", "a
// symbolic link loop", or special_file_kind's words; "" for a regular file or a folder.
std::string not_a_file(const std::string& path);

// Why the link `path`, which leads to nothing, does so, without an article: "broken symbolic link
// (its target 'T' does not exist)", or "symbolic link loop (its target 'T' leads back to it)".
std::string dead_link_words(const std::string& path);

// Why `path` itself (not followed) is no name to write a file to, in words that follow the name:
// "is a folder; ...", "is a symbolic link (to T): ...", "is a FIFO (named pipe), not a file, ...";
// "" for a regular file or a name not taken. A link is refused, not followed or replaced: through
// it a folder of outputs could overwrite its own inputs (or, via /dev/stdout, a shell's log), and
// replacing it would leave its target stale. A name with a part over kMaxNameBytes, or a path the
// system finds too long, is refused too.
std::string unwritable_reason(const std::string& path);

// NAME_MAX of Linux's file systems: the bytes of one name between two '/'.
constexpr size_t kMaxNameBytes = 255;

}  // namespace vdsr
