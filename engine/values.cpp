#include "engine/values.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "engine/error.h"

namespace vdsr {

namespace {

// strtol and strtod skip leading white space and strtod reads hexadecimal: a value such as " 2" or
// "0x1p-3" is a slip (a quoting mistake), not the number it happens to give.
bool plain_number_text(const std::string& s) {
  return !s.empty() && !std::isspace(static_cast<unsigned char>(s[0])) &&
         s.find_first_of("xX") == std::string::npos;
}

}  // namespace

int parse_int(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  VDSR_USER_CHECK(plain_number_text(s) && end != nullptr && *end == '\0', what << ": '" << s << "' is not an integer");
  VDSR_USER_CHECK(errno == 0 && v >= -2147483647L && v <= 2147483647L,
                  what << ": " << s << " is out of range (beyond 2147483647)");
  return static_cast<int>(v);
}

double parse_double(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  VDSR_USER_CHECK(plain_number_text(s) && end != nullptr && *end == '\0', what << ": '" << s << "' is not a number");
  VDSR_USER_CHECK(!(errno == ERANGE && std::isinf(v)), what << ": " << s << " is out of range");
  // A non-zero value below the smallest double would be taken as 0, and refused as "got 0".
  VDSR_USER_CHECK(!(errno == ERANGE && v == 0),
                  what << ": " << s << " is too small for a double (it would be 0)");
  // No option or stored value means anything by inf or nan; taken, they fail far from the flag.
  VDSR_USER_CHECK(std::isfinite(v), what << ": " << s << " is not a finite number");
  return v;
}

uint64_t parse_uint64(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  // strtoull takes "-5" as 2^64 - 5: digits only.
  VDSR_USER_CHECK(!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
                      end != nullptr && *end == '\0',
                  what << ": '" << s << "' is not a non-negative integer");
  VDSR_USER_CHECK(errno == 0, what << ": " << s << " is out of range (beyond 18446744073709551615)");
  return v;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<int> parse_int_list(const std::string& s, int lo, int hi, const std::string& what) {
  std::vector<int> out;
  for (const std::string& item : parse_list(s, what, false)) {
    const int v = parse_int(item, what);
    VDSR_USER_CHECK(v >= lo && v <= hi, what << ": " << v << " is outside " << lo << ".." << hi);
    out.push_back(v);
  }
  return out;
}

std::vector<int> parse_scale_list(const std::string& s, const std::string& what) {
  const std::vector<int> out = parse_int_list(s, 2, 4, what);
  for (size_t i = 1; i < out.size(); ++i)
    VDSR_USER_CHECK(std::count(out.begin(), out.begin() + std::ptrdiff_t(i), out[i]) == 0,
                    what << " lists x" << out[i] << " twice");
  return out;
}

std::vector<std::string> parse_list(const std::string& s, const std::string& what, bool distinct) {
  VDSR_USER_CHECK(!s.empty(), what << ": empty list");
  std::vector<std::string> out;
  size_t begin = 0;
  while (true) {
    const size_t comma = s.find(',', begin);
    const std::string item = s.substr(begin, comma == std::string::npos ? std::string::npos : comma - begin);
    VDSR_USER_CHECK(!item.empty(), what << " " << s << ": an empty item (a comma at the start, at the end or "
                                        << "doubled)");
    VDSR_USER_CHECK(!distinct || std::find(out.begin(), out.end(), item) == out.end(),
                    what << " " << s << ": lists " << item << " twice");
    out.push_back(item);
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  return out;
}

int64_t parse_int64(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  VDSR_USER_CHECK(plain_number_text(s) && end != nullptr && *end == '\0', what << ": '" << s << "' is not an integer");
  VDSR_USER_CHECK(errno == 0, what << ": " << s << " is out of range");
  return v;
}

bool parse_bool(const std::string& s, const std::string& what) {
  VDSR_USER_CHECK(s == "true" || s == "false", what << ": '" << s << "' is not true or false");
  return s == "true";
}

std::string join_list(const std::vector<std::string>& items) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? "," : "") + items[i];
  return s;
}

std::string format_double(double v) {
  // The fewest digits that read back as v: 0.1, not 0.10000000000000001. At least the digits before
  // the point, so that 20 is "20" (%g writes "2e+01" when its precision is below them); past 17 of
  // them the exponent form cannot be avoided, and the search starts at one digit again (1.7e+300,
  // not 1.7000000000000001e+300).
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.16e", v);
  const char* e = std::strchr(buf, 'e');
  const int exponent = e != nullptr ? std::atoi(e + 1) : 0;
  for (int digits = exponent + 1 > 17 ? 1 : std::clamp(exponent + 1, 1, 17); digits <= 17;
       ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string format_scale(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "x%g", s);
  return buf;
}

}  // namespace vdsr
