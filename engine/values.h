// Values written as text, one set of parsers for the command lines (tools/cli.h) and the stored
// configs of checkpoints (model/train_options.h): each error is a UserError naming `what` (a flag,
// or a config key) and the text.
#pragma once

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

namespace vdsr {

// Numbers in decimal (a double also in exponent form) and nothing else: no leading space, no
// hexadecimal, nothing after; a double finite.
int parse_int(const std::string& s, const std::string& what);          // a 32-bit integer
int64_t parse_int64(const std::string& s, const std::string& what);
uint64_t parse_uint64(const std::string& s, const std::string& what);  // digits only (a seed)
double parse_double(const std::string& s, const std::string& what);
bool parse_bool(const std::string& s, const std::string& what);        // "true" or "false"
// "a,b,c" split at commas: an empty list or an empty item ("a,", ",a", "a,,b") is an error, and so
// is an item given twice when `distinct`.
std::vector<std::string> parse_list(const std::string& s, const std::string& what, bool distinct);
// "2,3,4" into integers, each in [lo, hi] (parse_list's rules; repeats allowed).
std::vector<int> parse_int_list(const std::string& s, int lo, int hi, const std::string& what);
// Scale factors: 2, 3 or 4, each at most once.
std::vector<int> parse_scale_list(const std::string& s, const std::string& what);
std::vector<std::string> split_list(const std::string& s);             // at commas, empty items dropped
std::string join_list(const std::vector<std::string>& items);          // with commas
std::string format_double(double v);                                   // the shortest text that reads back exactly
std::string format_scale(double s);                                    // "x2", "x2.5" (%g)

// ASCII letters in lower case (file extensions, format and set names); inline, so the fuzz
// targets' small source list need not take values.cpp.
inline std::string lower_case(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace vdsr
