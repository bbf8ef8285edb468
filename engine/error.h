// Errors, told apart by type (never by their text):
//   Error        our own fault or the machine's: a failed internal check, a CUDA error. It carries
//                the message and where it failed (file:line and the check), shown as an internal
//                error so a bug report has the place.
//   UserError    the user's input, options or environment: a bad flag, a corrupt or missing file,
//                a folder rule, a full disk. The message alone, in words: what is wrong, with which
//                file or flag, and what to do. The place is shown only with -v.
//   OutOfMemory  an allocation that failed (host or device); callers that can retry with less
//                memory (smaller tiles) catch this type.
// Messages are built with <<. what() is "file:line: check `expr` failed: message" for Error and
// OutOfMemory, the message alone for UserError.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace vdsr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message, const std::string& where = "");
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }  // "file:line: check `expr`" or ""

 protected:
  Error(const std::string& what, const std::string& message, const std::string& where);

 private:
  std::string message_, where_;
};

class UserError : public Error {
 public:
  explicit UserError(const std::string& message, const std::string& where = "");
};

class OutOfMemory : public Error {
 public:
  using Error::Error;
};

// How an error reads to the user: a UserError or an OutOfMemory as its message (and where it was
// raised, with `verbose`); any other Error as "internal error: <message> (at <file:line: check>)";
// std::bad_alloc as running out of host memory; anything else as "internal error: <what>".
std::string describe_error(const std::exception& e, bool verbose);

// A file name or other user text as it can be printed on a terminal: control characters (C0, DEL
// and C1) and bytes that are not UTF-8 (overlong forms and surrogates included) become \n, \t,
// \xNN escapes, byte by byte, so a name cannot move the cursor or hide itself.
std::string printable(const std::string& text);

namespace detail {
enum class Kind { Internal, User, Memory };
[[noreturn]] void throw_error(Kind kind, const char* file, int line, const char* expr,
                              const std::string& msg);
}  // namespace detail

}  // namespace vdsr

#define VDSR_THROW_(kind, expr, ...)                                                     \
  do {                                                                                   \
    std::ostringstream vdsr_check_os_;                                                   \
    vdsr_check_os_ << __VA_ARGS__;                                                       \
    ::vdsr::detail::throw_error(kind, __FILE__, __LINE__, expr, vdsr_check_os_.str());   \
  } while (0)

// VDSR_CHECK(cond, "message " << value): an internal check; throws vdsr::Error.
#define VDSR_CHECK(cond, ...) \
  do {                        \
    if (!(cond)) VDSR_THROW_(::vdsr::detail::Kind::Internal, #cond, __VA_ARGS__); \
  } while (0)
// VDSR_FAIL("message " << value): unconditional internal error.
#define VDSR_FAIL(...) VDSR_THROW_(::vdsr::detail::Kind::Internal, nullptr, __VA_ARGS__)
// VDSR_USER_CHECK(cond, "words"): the user's input or options are wrong; throws vdsr::UserError.
#define VDSR_USER_CHECK(cond, ...) \
  do {                             \
    if (!(cond)) VDSR_THROW_(::vdsr::detail::Kind::User, #cond, __VA_ARGS__); \
  } while (0)
#define VDSR_USER_FAIL(...) VDSR_THROW_(::vdsr::detail::Kind::User, nullptr, __VA_ARGS__)
// VDSR_OUT_OF_MEMORY("what could not be allocated"): throws vdsr::OutOfMemory.
#define VDSR_OUT_OF_MEMORY(...) VDSR_THROW_(::vdsr::detail::Kind::Memory, nullptr, __VA_ARGS__)
