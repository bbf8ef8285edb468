#include "tools/cli.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "engine/atomic_file.h"
#include "engine/cpu_features.h"
#include "engine/device.h"
#include "engine/error.h"
#include "engine/file_kind.h"
#include "engine/log.h"
#include "engine/thread_pool.h"
#include "image/codec.h"
#include "image/image_io.h"
#include "io/file_plan.h"
#include "kernels/conv_fwd.h"
#include "kernels/programmatic_launch.h"
#include "vdsr_version.h"

namespace vdsr::cli {

namespace {
// Thrown by --help and --version once their text is printed: run_main ends the run there with
// status 0, after checking that the text reached standard output.
struct PrintedAndDone {};
}  // namespace

Parser::Parser(std::string program, std::string summary, std::string usage)
    : program_(std::move(program)), summary_(std::move(summary)), usage_(std::move(usage)) {}

void Parser::add(Flag f) { flags_.push_back(std::move(f)); }

void Parser::add_common() {
  add({"-v", "--verbose", "",
       "more detail (files skipped, per-image results where images are read, where in the code "
       "an error arose)",
       [](const std::string&) { set_log_level(LogLevel::Verbose); }});
  add({"-q", "--quiet", "", "errors only, no progress",
       [](const std::string&) { set_log_level(LogLevel::Quiet); }});
  add({"-h", "--help", "", "print this help and exit", nullptr});
  add({"", "--version", "", "print version, commit, CUDA/cuDNN versions and GPU architectures",
       nullptr});
}

std::string Parser::help() const {
  std::ostringstream os;
  os << program_ << " - " << summary_ << "\n\nUsage: " << usage_ << "\n\nOptions:\n";
  for (const auto& f : flags_) {
    std::string names = f.short_name.empty() ? "    " : f.short_name + ", ";
    names += f.long_name;
    if (!f.value_name.empty()) names += " " + f.value_name;
    os << "  " << names;
    if (names.size() < 28)
      os << std::string(28 - names.size(), ' ');
    else
      os << "\n" << std::string(30, ' ');
    os << f.help << "\n";
  }
  if (!epilog_.empty()) os << "\n" << epilog_;
  return os.str();
}

void Parser::apply(const std::string& long_name, const std::string& value) const {
  for (const auto& f : flags_)
    if (f.long_name == long_name && f.set) return f.set(value);
  VDSR_FAIL("internal: no flag " << long_name);
}

void Parser::parse(int argc, char** argv) { parse_positional(argc, argv, nullptr); }

void Parser::parse_positional(int argc, char** argv, std::vector<std::string>* positional) {
  try {
    parse_flags(argc, argv, positional);
  } catch (const UserError&) {
    // The help asked for, not the error of a flag before it (options end at "--").
    for (int i = 1; i < argc && std::strcmp(argv[i], "--") != 0; ++i)
      if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
        std::cout << help();
        throw PrintedAndDone{};
      }
    throw;
  }
}

void Parser::parse_flags(int argc, char** argv, std::vector<std::string>* positional) {
  std::map<std::string, std::string>
      given;  // each flag given, with a value flag's first value (to say when it is overridden)
  std::vector<std::string> warnings;         // said after the loop: a -q later on the line silences them
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    // "--" ends the options: what follows is a file name, even one that starts with '-'.
    if (arg == "--") {
      for (++i; i < argc; ++i) {
        VDSR_USER_CHECK(positional != nullptr, "unexpected argument '"
                                                   << argv[i] << "' after '--': " << program_
                                                   << " takes no file names without a flag (see "
                                                   << program_ << " --help)");
        positional->push_back(argv[i]);
      }
      break;
    }
    if (positional != nullptr && (arg.empty() || arg[0] != '-' || arg == "-")) {
      positional->push_back(arg);
      continue;
    }
    std::string value;
    bool has_inline_value = false;
    if (arg.rfind("--", 0) == 0) {
      const auto eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        has_inline_value = true;
      }
    } else if (arg.size() > 2 && arg[0] == '-' &&
               (std::isdigit(static_cast<unsigned char>(arg[2])) != 0 ||
                (arg[2] == '-' && arg.size() > 3 &&
                 std::isdigit(static_cast<unsigned char>(arg[3])) != 0))) {
      // "-s3", "-g-1": a short flag that takes a value, with a number attached (as getopt reads
      // it). Only a number: "-overwrite" would otherwise be -o with 'verwrite' and "-tta" -t with
      // 'ta', where the user meant a long flag; those stay unknown options. Switches are not
      // bundled.
      for (const auto& f : flags_)
        if (!f.value_name.empty() && !f.short_name.empty() &&
            arg.compare(0, 2, f.short_name) == 0) {
          value = arg.substr(2);
          arg = f.short_name;
          has_inline_value = true;
          break;
        }
    }
    VDSR_USER_CHECK(!has_inline_value || (arg != "--help" && arg != "--version"),
                    "option " << arg << " takes no value");
    if (arg == "--help" || arg == "-h") {
      std::cout << help();
      throw PrintedAndDone{};
    }
    if (arg == "--version") {
      std::cout << version_text(program_);
      throw PrintedAndDone{};
    }
    const Flag* match = nullptr;
    for (const auto& f : flags_)
      if (arg == f.long_name || (!f.short_name.empty() && arg == f.short_name)) match = &f;
    VDSR_USER_CHECK(match != nullptr || (!arg.empty() && arg[0] == '-'),
                    "unexpected argument '" << arg << "': " << program_ << " takes no file names without a flag (see "
                                            << program_ << " --help)");
    // A file name that starts with '-' reads as an option; where the tool takes file names, say
    // how.
    VDSR_USER_CHECK(match != nullptr,
                    "unknown option '" << arg << "' (see " << program_ << " --help"
                                       << (positional != nullptr
                                               ? "; a file whose name starts with '-' goes after --"
                                               : "")
                                       << ")");
    if (match->value_name.empty()) {
      VDSR_USER_CHECK(!has_inline_value, "option " << arg << " takes no value");
      // Which of the two a script meant cannot be told (and a warning would not show under -q).
      given.emplace(match->long_name, "");
      if (given.count("--quiet") != 0 && given.count("--verbose") != 0) {
        // An earlier -v would add the source location to this user error.
        set_log_level(LogLevel::Normal);
        VDSR_USER_FAIL("-q (--quiet) and -v (--verbose) exclude each other");
      }
      match->set("");
    } else {
      if (!has_inline_value) {
        VDSR_USER_CHECK(i + 1 < argc,
                   "option " << arg << " needs a value (" << match->value_name << ")");
        value = argv[++i];
        // "--stages --reps 1": the value is missing, not '--reps'.
        const bool is_flag = std::any_of(flags_.begin(), flags_.end(), [&](const Flag& f) {
          return value == f.long_name || (!f.short_name.empty() && value == f.short_name);
        });
        VDSR_USER_CHECK(!is_flag, "option " << arg << " needs a value (" << match->value_name << "), got the option "
                                            << value);
      }
      // An empty value is a slip (an unset shell variable); taken, it would read as the flag left out.
      VDSR_USER_CHECK(!value.empty(), "option " << arg << " needs a value (" << match->value_name << "), got an empty one");
      // "-i a.png -i b.png" reads one image: the last value wins, as in most tools, but not silently.
      const auto [first, fresh] = given.emplace(match->long_name, value);
      if (!fresh && first->second != value && !match->repeats_add)
        warnings.push_back(arg + " is given more than once ('" + first->second + "', then '" + value +
                           "'): the last one is used");
      match->set(value);
    }
  }
  for (const auto& w : warnings) log_warning(w);
  // The environment's settings, checked once the command line is read (so --help and --version
  // still answer) and before any work: a bad one would otherwise fail on the first image that
  // reaches the CPU kernels (once per image) or start thousands of threads.
  (void)ThreadPool::threads_from_environment();
  (void)cpu_isa();
  (void)cpu_conv_method();
  (void)programmatic_launch();
}

int parse_one_gpu(const std::string& value, const char* several) {
  VDSR_USER_CHECK(
      value.find(',') == std::string::npos,
      "--gpu " << value << ": this tool runs on one device (N, or -1 for the CPU); " << several);
  const int gpu = parse_int(value, "--gpu");
  // Below -1 is no device (and kDefaultDevice, what a left-out -g means, is not for typing).
  VDSR_USER_CHECK(gpu >= -1,
                  "--gpu " << value << ": give a GPU index (0 or more), or -1 for the CPU");
  return gpu;
}

std::string version_text(const std::string& program) {
  std::ostringstream os;
  os << program << " " << VDSR_VERSION << " (commit " << VDSR_COMMIT << ")\n"
     << backend_info() << "\n"
     << "image formats: " << image_codecs_text() << "\n";
  return os.str();
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Precision check_precision(const std::string& precision, bool on_gpu) {
  const Precision p = parse_precision(precision);
  VDSR_USER_CHECK(p == Precision::Fp32 || on_gpu,
             "--precision " << precision << " needs a GPU; the CPU backend computes in fp32 only");
  if (const std::string note = unverified_note(p); !note.empty()) log_warning(note);
  return p;
}

std::string output_dir(const std::string& path, const char* flag) {
  namespace fs = std::filesystem;
  VDSR_USER_CHECK(!path.empty(), flag << " needs a folder name");
  std::error_code ec;
  VDSR_USER_CHECK(!fs::exists(path, ec) || fs::is_directory(path, ec),
                  flag << " " << path << ": is a file; give a folder name");
  make_writable_folder(path, std::string("the ") + flag + " folder");
  return path;
}

namespace {

// One spelling of a place: absolute, the links of its existing part resolved, no trailing
// separator, so "out/", "./out" and "$PWD/out" are one folder whether or not it exists yet.
std::filesystem::path place(const std::string& p) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::path q = fs::weakly_canonical(fs::absolute(p, ec), ec).lexically_normal();
  if (!q.has_filename() && q != q.root_path()) q = q.parent_path();
  return q;
}

}  // namespace

std::string output_file(const std::string& path, const char* flag, const std::string& made_folder) {
  namespace fs = std::filesystem;
  VDSR_USER_CHECK(!path.empty(), flag << " needs a file name");
  std::error_code ec;
  // Said before any work: the write would otherwise fail only at the end (check_writable).
  const std::string why = unwritable_reason(path);
  VDSR_USER_CHECK(why.empty(), flag << " " << path << ": " << why);
  const fs::path parent = fs::path(path).parent_path().empty() ? fs::path(".") : fs::path(path).parent_path();
  // A folder the run makes: its output folder, or one it makes on the way there (-o a/b makes a).
  if (!made_folder.empty() && !fs::exists(parent, ec)) {
    const fs::path where = place(parent.string()), made = place(made_folder);
    if (std::mismatch(where.begin(), where.end(), made.begin(), made.end()).first == where.end())
      return path;
  }
  VDSR_USER_CHECK(
      fs::is_directory(parent, ec),
      flag << " " << path << ": "
           << (fs::exists(parent, ec) ? "'" + parent.string() + "' is not a folder"
                                      : "the folder '" + parent.string() + "' does not exist"));
  VDSR_USER_CHECK(::access(parent.c_str(), W_OK) == 0,
                  flag << " " << path << ": the folder '" << parent.string() << "' is not writable");
  return path;
}

std::string json_file(const std::string& path, const std::string& made_folder) {
  namespace fs = std::filesystem;
  // Not standard output: the tools print their own tables and progress there.
  VDSR_USER_CHECK(path != "-",
                  "--json -: the report is written to a file (standard output carries the tool's "
                  "own output: a table, or vdsr_sr's image with -o -); give it a name, such as "
                  "report.json");
  output_file(path, "--json", made_folder);
  // Not there yet, so output_file cannot see that it will be a folder (the made folder, or a folder
  // the tool makes on the way to it).
  const fs::path report = place(path), made = place(made_folder);
  VDSR_USER_CHECK(
      made_folder.empty() ||
          std::mismatch(report.begin(), report.end(), made.begin(), made.end()).first !=
              report.end(),
      "--json " << path << ": is the folder the run writes its outputs into; give the report a "
                << "file name, such as " << (fs::path(made_folder) / "report.json").string());
  // The report replaces its file whole: a slip that names an image, a model, a checkpoint, a log or
  // a drawing (the input, or what the run itself writes: train.jsonl, curve.svg) would lose it.
  const std::string ext = codec::extension_of(path);
  const bool image = has_image_extension(path);
  const bool model = ext == "safetensors" || ext == "mat" || ext == "pt" || ext == "pth" || ext == "ckpt";
  VDSR_USER_CHECK(!image && !model && ext != "jsonl" && ext != "svg",
                  "--json " << path << ": names "
                            << (image          ? "an image"
                                : model        ? "a model or checkpoint"
                                : ext == "svg" ? "an SVG drawing"
                                               : "a JSON Lines log")
                            << " file (." << ext
                            << "), which the report would replace; give the report a name of "
                            << "its own, such as report.json");
  std::error_code ec;
  if (fs::is_regular_file(path, ec) && fs::file_size(path, ec) > 0) {
    std::ifstream in(path, std::ios::binary);
    char c = ' ';
    while (in.get(c) && std::isspace(static_cast<unsigned char>(c))) {
    }
    VDSR_USER_CHECK(!in || c == '{' || c == '[',
                    "--json " << path << ": the file exists and is not a JSON report; it is left as it is (remove "
                              << "it, or give another name)");
  }
  return path;
}

// Standard output is buffered, so a table or text that could not be written there (a full disk, a
// file-size limit) shows only when it is flushed: said in words, and the run fails, rather than
// exit 0 with the output lost.
static int stdout_written(int status) {
  errno = 0;
  if (std::fflush(stdout) == 0 && std::ferror(stdout) == 0) return status;
  const int err = errno;
  log_error(std::string("could not write to standard output: ") +
            (err != 0 ? std::strerror(err)
                      : "part of the output was not written (a full disk or a file-size limit?)"));
  return status != 0 ? status : 1;
}

std::vector<std::string> parse_folder_list(const std::string& value, const char* flag) {
  std::error_code ec;
  VDSR_USER_CHECK(value.find(',') == std::string::npos || !std::filesystem::exists(value, ec),
                  flag << " " << printable(value) << ": its name holds a comma, which separates "
                       << flag
                       << "'s folders: give it by a name without one (a symbolic link to it)");
  std::vector<std::string> folders = parse_list(value, flag, true);
  for (size_t i = 0; i < folders.size(); ++i)
    for (size_t j = i + 1; j < folders.size(); ++j)
      VDSR_USER_CHECK(!std::filesystem::equivalent(folders[i], folders[j], ec) || ec,
                      flag << ": " << printable(folders[i]) << " and " << printable(folders[j])
                           << " are one folder, listed twice");
  return folders;
}

size_t cell_width(const std::string& text) {
  size_t chars = 0;  // UTF-8 continuation bytes (10xxxxxx) add no character
  for (const char c : printable(text)) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return chars;
}

std::string table_cell(const std::string& text, size_t width) {
  const size_t chars = cell_width(text);
  return printable(text) + std::string(chars < width ? width - chars : 0, ' ');
}

std::string signed_diff(double v, int decimals, int width) {
  const double unit = std::pow(10.0, decimals);
  if (std::round(v * unit) == 0) v = 0.0;  // -0.004 rounds to zero: no sign of its own
  char text[64];
  std::snprintf(text, sizeof text, "%+*.*f", width, decimals, v);
  return text;
}

void flush_stdout() {
  errno = 0;
  if (std::fflush(stdout) == 0 && std::ferror(stdout) == 0) return;
  const int err = errno;
  VDSR_USER_FAIL(
      "could not write to standard output: "
      << (err != 0 ? std::strerror(err) : "part of the output was not written (a full disk?)"));
}

int run_main(const std::function<int()>& body) {
  // A file-size limit (ulimit -f) must fail a write with EFBIG, reported in words like a full disk
  // (and its temporary removed), not kill the process with SIGXFSZ halfway through.
  std::signal(SIGXFSZ, SIG_IGN);
  // A reader that goes away (`2>&1 | head`, a closed log pipe) must not kill a batch or a training
  // run halfway: the write fails instead. Image bytes for -o - then fail that image in words
  // ("cannot write to standard output: Broken pipe"), a table row stops its run (flush_stdout,
  // exit 1); a log line nobody reads is dropped and the work goes on.
  std::signal(SIGPIPE, SIG_IGN);
  // Ctrl-C, a kill or a lost terminal while a file is written leaves no temporary behind.
  remove_temporaries_on_signals();
  try {
    return stdout_written(body());
  } catch (const PrintedAndDone&) {
    return stdout_written(0);
  } catch (const std::exception& e) {
    // One line: the reason in words; a source location only for our own faults (or with -v).
    log_error(describe_error(e, log_level() == LogLevel::Verbose));
    return 1;
  }
}

}  // namespace vdsr::cli
