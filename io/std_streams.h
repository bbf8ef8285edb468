// Standard input and output as an image's source and destination (vdsr_sr -i - / -o -): the whole
// stream read into memory, the encoded bytes written out, each failure an Error in words.
#pragma once

#include <vector>

namespace vdsr {

// The name that stands for the standard streams on a command line (-i -, -o -).
constexpr const char* kStdStream = "-";
// How messages name them.
constexpr const char* kStdinName = "standard input";
constexpr const char* kStdoutName = "standard output";

// Everything on standard input, up to its end. Throws when it cannot be read.
std::vector<unsigned char> read_stdin();
// Writes `bytes` to standard output and flushes it. Throws when the write fails (a full disk, a
// closed pipe when SIGPIPE is ignored).
void write_stdout(const std::vector<unsigned char>& bytes);
// Whether standard output is a terminal (where image bytes do not belong).
bool stdout_is_terminal();

}  // namespace vdsr
