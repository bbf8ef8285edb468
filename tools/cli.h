// Shared command-line handling for the vdsr tools: a small declarative flag parser (short and long
// forms, --help text generated from the table), --version, verbosity, -g/--gpu and --precision.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "engine/values.h"
#include "model/precision.h"

namespace vdsr::cli {

struct Flag {
  std::string short_name;  // "-i" or ""
  std::string long_name;   // "--input"
  std::string value_name;  // "PATH"; empty for a switch
  std::string help;        // one line; the default in brackets
  std::function<void(const std::string&)> set;  // called with the value ("" for a switch)
  // Repeats add up (each value to the list `set` keeps) rather than the last one winning, which
  // is then warned of: --models vdsr=A --models srcnn-x2=B means both.
  bool repeats_add = false;
};

class Parser {
 public:
  Parser(std::string program, std::string summary, std::string usage);
  void add(Flag f);
  // Adds -v/--verbose, -q/--quiet, --help, --version. Call last.
  void add_common();
  // Parses argv; prints --help / --version and exits 0 for them (--help also where a flag before
  // it is wrong: "--scales 9 --help" asks for the help); throws Error on a bad flag.
  void parse(int argc, char** argv);
  // The same, collecting arguments that are not flags (in order) instead of refusing them.
  void parse_positional(int argc, char** argv, std::vector<std::string>* positional);
  // Sets one flag by its long name as if it had been given ("" for a switch): presets use it.
  void apply(const std::string& long_name, const std::string& value) const;
  // Text printed after the option list in --help.
  void set_epilog(std::string text) { epilog_ = std::move(text); }
  std::string help() const;

 private:
  void parse_flags(int argc, char** argv, std::vector<std::string>* positional);

  std::string program_, summary_, usage_, epilog_;
  std::vector<Flag> flags_;
};

// --version text: version, commit, CUDA / cuDNN versions, GPU architectures.
std::string version_text(const std::string& program);
// A list of folders (--data, --train, --val): parse_list's, distinct, one folder spelt two ways
// (data/T91 and data/T91/, or through a link: its images would count twice) refused as a literal
// repeat is, and a whole value that names an existing folder or file with a comma in its name
// refused in words (the list splits there, and the first part would be reported missing).
std::vector<std::string> parse_folder_list(const std::string& value, const char* flag);

// Now, UTC, as 2026-11-22T20:13:26Z (the dates of reports and records).
std::string utc_now();

// The value parsers (engine/values.h), shared with the stored configs.
using vdsr::parse_double;
using vdsr::parse_int;
using vdsr::parse_int_list;
using vdsr::parse_list;
using vdsr::parse_scale_list;
using vdsr::parse_uint64;

// The value of -g / --gpu for a tool that runs on one device: an index, or -1 for the CPU. A list
// (vdsr_sr takes one) is refused saying so; `several` says how this tool uses more GPUs.
int parse_one_gpu(const std::string& value, const char* several);

// The value of an output-file flag (--json FILE), checked when it is parsed, before any work: its
// folder exists and is writable, and it is not itself a folder. A UserError naming the flag
// otherwise. `made_folder`: a folder the tool itself creates before it writes (vdsr_train's --out);
// a file inside it, or inside a missing folder on the way to it, skips the folder's checks.
std::string output_file(const std::string& path, const char* flag, const std::string& made_folder = "");
// The value of --json FILE: output_file's checks, and not a name the report would be wrong to
// replace: an image, model, checkpoint or JSON Lines file by its extension, an existing file that
// is not JSON, or `made_folder` itself. A UserError in words otherwise. Tools whose
// made_folder is another flag's take the value raw and call this once the flags are parsed.
std::string json_file(const std::string& path, const std::string& made_folder = "");
// The value of an output-folder flag (--save DIR): the folder, made with its parents if missing,
// and writable. A UserError naming the flag otherwise.
std::string output_dir(const std::string& path, const char* flag);

// Runs body and maps exceptions to "error: ..." and exit status 1.
int run_main(const std::function<int()>& body);
// Flushes standard output after a row of a table: when it cannot be written (its reader gone, a
// full disk) the run stops there (a UserError: "could not write to standard output: Broken pipe"),
// rather than doing the rest of its work for nobody.
void flush_stdout();

// A table's cell: `text` as printable() shows it, then spaces up to `width` characters (UTF-8
// code points, so that Ürbän takes 5, not 7; a name longer than `width` is kept whole).
std::string table_cell(const std::string& text, size_t width);
size_t cell_width(const std::string& text);  // the characters of printable(text)
// A signed difference as "%+.*f" prints it, but one that rounds to zero as +0.00, never -0.00.
std::string signed_diff(double v, int decimals, int width);

// Validates --precision: fp32 everywhere; tf32/bf16 only on a GPU (an Error on the CPU). On a GPU,
// a mode that has not run on one yet is announced with a warning (unverified_note, model/precision.h).
Precision check_precision(const std::string& precision, bool on_gpu);


}  // namespace vdsr::cli
