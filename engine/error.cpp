#include "engine/error.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>

namespace vdsr {

namespace {
std::string joined(const std::string& message, const std::string& where) {
  if (where.empty()) return message;
  return where + (where.find('`') != std::string::npos ? " failed" : "") + (message.empty() ? "" : ": ") + message;
}
}  // namespace

Error::Error(const std::string& message, const std::string& where)
    : Error(joined(message, where), message, where) {}

Error::Error(const std::string& what, const std::string& message, const std::string& where)
    : std::runtime_error(what), message_(message), where_(where) {}

UserError::UserError(const std::string& message, const std::string& where) : Error(message, message, where) {}

std::string printable(const std::string& text) {
  std::string out;
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char c = s[i];
    // Length of a valid UTF-8 sequence starting here (0: not one).
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= n || (s[i + k] & 0xC0) != 0x80) {
        len = 0;
        break;
      }
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    // Not shown as text: overlong forms, surrogates, code points past U+10FFFF, and the C1
    // controls U+0080..U+009F (U+009B is a terminal's CSI, as ESC [ is).
    static constexpr uint32_t kLeast[5] = {0, 0, 0xA0, 0x800, 0x10000};
    if (len > 1 && (cp < kLeast[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)) len = 0;
    if (len == 1 && c >= 0x20 && c != 0x7F && c != '\\') {
      out += char(c);
    } else if (len > 1) {
      out.append(text, i, len);
    } else {
      char buf[8];
      if (c == '\n') std::snprintf(buf, sizeof buf, "\\n");
      else if (c == '\t') std::snprintf(buf, sizeof buf, "\\t");
      else if (c == '\r') std::snprintf(buf, sizeof buf, "\\r");
      else if (c == '\\') std::snprintf(buf, sizeof buf, "\\\\");
      else std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
      len = 1;
    }
    i += len;
  }
  return out;
}

std::string describe_error(const std::exception& e, bool verbose) {
  // Messages quote file names, which may hold anything: the whole line is made printable.
  if (const auto* err = dynamic_cast<const Error*>(&e)) {
    const bool ours = dynamic_cast<const UserError*>(&e) == nullptr && dynamic_cast<const OutOfMemory*>(&e) == nullptr;
    if (ours)
      return printable("internal error: " + err->message() + (err->where().empty() ? "" : " (at " + err->where() + ")"));
    return printable(err->message() + (verbose && !err->where().empty() ? " [" + err->where() + "]" : ""));
  }
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr)
    return "out of host memory (an allocation failed); try smaller sizes";
  return printable(std::string("internal error: ") + e.what());
}

namespace detail {

void throw_error(Kind kind, const char* file, int line, const char* expr, const std::string& msg) {
  // Keep only the path from the project root so messages stay short and stable across checkouts:
  // the last "/<top-level folder>/" in the path starts it.
  const char* short_file = file;
  for (const char* dir :
       {"/engine/", "/image/", "/io/", "/kernels/", "/model/", "/tools/", "/tests/", "/bench/"}) {
    for (const char* p = std::strstr(file, dir); p != nullptr; p = std::strstr(p + 1, dir))
      if (p + 1 > short_file) short_file = p + 1;
  }
  std::ostringstream where;
  where << short_file << ":" << line;
  if (expr != nullptr) where << ": check `" << expr << "`";
  switch (kind) {
    case Kind::User: throw UserError(msg, where.str());
    case Kind::Memory: throw OutOfMemory(msg, where.str());
    case Kind::Internal: break;
  }
  throw Error(msg, where.str());
}

}  // namespace detail

}  // namespace vdsr
