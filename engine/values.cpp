#include "engine/values.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "engine/error.h"

namespace vdsr {

int parse_int(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  VDSR_USER_CHECK(!s.empty() && end != nullptr && *end == '\0', what << ": '" << s << "' is not an integer");
  VDSR_USER_CHECK(errno == 0 && v >= -2147483647L && v <= 2147483647L,
                  what << ": " << s << " is out of range (beyond 2147483647)");
  return static_cast<int>(v);
}

double parse_double(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  VDSR_USER_CHECK(!s.empty() && end != nullptr && *end == '\0', what << ": '" << s << "' is not a number");
  VDSR_USER_CHECK(!(errno == ERANGE && std::isinf(v)), what << ": " << s << " is out of range");
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
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    const int v = parse_int(item, what);
    VDSR_USER_CHECK(v >= lo && v <= hi, what << ": " << v << " is outside " << lo << ".." << hi);
    out.push_back(v);
  }
  VDSR_USER_CHECK(!out.empty(), what << ": empty list");
  return out;
}

int64_t parse_int64(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  VDSR_USER_CHECK(!s.empty() && end != nullptr && *end == '\0', what << ": '" << s << "' is not an integer");
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
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string format_scale(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "x%g", s);
  return buf;
}

}  // namespace vdsr
