#include "io/file_plan.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <system_error>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/file_kind.h"
#include "engine/log.h"
#include "engine/values.h"
#include "image/image_io.h"
#include "io/std_streams.h"

namespace fs = std::filesystem;

namespace vdsr {

namespace {

bool is_inside(const fs::path& child, const fs::path& parent) {
  auto c = child.begin();
  for (auto p = parent.begin(); p != parent.end(); ++p, ++c) {
    if (p->empty()) continue;  // trailing separator
    if (c == child.end() || *c != *p) return false;
  }
  return true;
}

// "jpg" for "jpeg", "tif" for "tiff", any case; "" for a name we cannot write. (Whether this build
// has the library for it is image_io's to say, when the format is parsed.)
std::string writable_format(std::string name) {
  name = lower_case(name);
  if (name == "jpeg") name = "jpg";
  if (name == "tiff") name = "tif";
  return name == "png" || name == "jpg" || name == "webp" || name == "tif" || name == "bmp" ? name : "";
}

// "png" for "dir/a.png": the extension without its dot, as spelled; "" for none.
std::string bare_extension(const fs::path& p) {
  const std::string ext = p.extension().string();
  return ext.empty() ? ext : ext.substr(1);
}

// An -o that names a folder: an existing one, or a name ending in '/' (created).
bool names_folder(const std::string& output) {
  std::error_code ec;
  return fs::is_directory(output, ec) || (!output.empty() && output.back() == '/');
}

// -f same: the extension an input's output gets, its own in lower case (jpeg and tiff stay so
// spelled), png for an input nothing writes (.tga).
std::string same_extension(const fs::path& input) {
  const std::string ext = lower_case(bare_extension(input));
  return writable_format(ext).empty() ? "png" : ext;
}

// Refuses an input that does not exist; "photo.png/" (a file named like a folder) says so.
void check_input_exists(const std::string& input) {
  std::error_code ec;
  if (fs::exists(input, ec)) {
    // A pipe (-i /dev/stdin, -i <(...)) or a device: read as it is, it is not a file to read.
    const std::string kind = not_a_file(input);
    VDSR_USER_CHECK(kind.empty(),
                    "input '" << input << "' is " << kind
                              << ": an image from a pipe is read with -i - (standard input)");
    return;
  }
  std::string bare = input;
  while (bare.size() > 1 && bare.back() == '/') bare.pop_back();
  VDSR_USER_CHECK(bare == input || !fs::is_regular_file(bare, ec),
                  "input '" << input << "' names a folder, but '" << bare << "' is a file: drop the trailing '/'");
  VDSR_USER_FAIL("input '" << input << "' does not exist");
}

}  // namespace

std::string output_format(const std::string& input, const std::string& output, const std::string& format_flag) {
  const std::string flag = format_flag == kSameFormat ? format_flag : writable_format(format_flag);
  VDSR_USER_CHECK(format_flag.empty() || !flag.empty(),
                  "-f " << format_flag << ": the output formats are png, jpg, webp, tif and bmp, or same (each "
                                          "input's own)");
  std::error_code ec;
  VDSR_USER_CHECK(!input.empty(), "no input given (-i FILE or FOLDER)");
  VDSR_USER_CHECK(!output.empty(), "no output given (-o FILE or FOLDER)");
  // A link to whatever the shell opened (check_writable refuses links): say what does the job.
  VDSR_USER_CHECK(output != "/dev/stdout" && output != "/dev/fd/1",
                  "-o " << output << ": give -o - to write to standard output");
  const bool from_stdin = input == kStdStream;
  if (!from_stdin) check_input_exists(input);
  // Standard output has no name: -f says the format (same: the input's, png for standard input).
  if (output == kStdStream)
    return flag.empty() ? "png" : flag == kSameFormat ? writable_format(same_extension(input)) : flag;
  // Standard input into a folder: plan_files refuses it.
  const bool to_file = (from_stdin || !fs::is_directory(input, ec)) && !names_folder(output);
  if (!to_file) return flag.empty() ? "png" : flag;
  const std::string ext = bare_extension(output);
  const std::string own = writable_format(same_extension(input));  // -f same's format for this input
  if (ext.empty()) {
    VDSR_USER_CHECK(!flag.empty(), "-o " << output << ": the name has no extension to tell the format; add one "
                                         "(.png, .jpg, .webp, .tif or .bmp) or give -f");
    return flag == kSameFormat ? own : flag;
  }
  const std::string from_name = writable_format(ext);
  VDSR_USER_CHECK(!from_name.empty(), "-o " << output << ": cannot write ." << ext
                                            << " files (the output formats are png, jpg, webp, tif and bmp)");
  VDSR_USER_CHECK(flag != kSameFormat || own == from_name,
                  "-f same contradicts the output file name " << output << ": the input is a ." << own
                                                              << " image; leave -f out, or name the file ." << own);
  VDSR_USER_CHECK(flag.empty() || flag == kSameFormat || flag == from_name,
                  "-f " << format_flag << " contradicts the output file name " << output
                        << ": leave -f out, or name the file ." << flag);
  return from_name;
}

void make_writable_folder(const std::string& dir, const std::string& what) {
  std::error_code ec;
  // A file where a folder of the path should be: say which, not the system's "File exists".
  for (fs::path p = fs::path(dir).lexically_normal(); !p.empty() && p != p.root_path(); p = p.parent_path()) {
    if (p.filename().empty()) continue;  // the trailing '/' of "out/"
    VDSR_USER_CHECK(!fs::exists(p, ec) || fs::is_directory(p, ec),
                    "cannot create " << what << " '" << dir << "': '" << p.string() << "' is a file, not a folder");
    if (fs::exists(p, ec)) break;
  }
  fs::create_directories(dir, ec);
  VDSR_USER_CHECK(!ec && fs::is_directory(dir), "cannot create " << what << " '" << dir << "': " << ec.message());
  VDSR_USER_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0, what << " '" << dir << "' is not writable");
}

std::string set_name(const std::string& dir, const std::string& flag) {
  std::error_code ec;
  fs::path base = fs::current_path(ec);
  if (const char* pwd = std::getenv("PWD");
      pwd != nullptr && pwd[0] == '/' && fs::equivalent(pwd, base, ec))
    base = pwd;
  fs::path p = (fs::path(dir).is_absolute() ? fs::path(dir) : base / dir).lexically_normal();
  if (p.filename().empty()) p = p.parent_path();
  const std::string name = p.filename().string();
  VDSR_USER_CHECK(!name.empty() && name != "/", flag << " " << printable(dir)
                                                     << ": a set is named by its folder, and the "
                                                        "root has no name");
  return name;
}

bool is_hidden_name(const std::string& path) {
  const std::string name = fs::path(path).filename().string();
  return !name.empty() && name[0] == '.';
}

std::vector<std::string> list_image_files(const std::string& dir, const std::string& what,
                                          std::vector<std::string>* skipped,
                                          std::vector<std::string>* dead_links) {
  std::error_code ec;
  VDSR_USER_CHECK(fs::exists(dir, ec), what << " '" << dir << "' does not exist");
  VDSR_USER_CHECK(fs::is_directory(dir, ec), what << " '" << dir << "' is not a folder");
  std::vector<std::string> files;
  fs::directory_iterator it(dir, ec);
  VDSR_USER_CHECK(!ec, "cannot read " << what << " '" << dir << "': " << ec.message());
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& e = *it;
    if (is_hidden_name(e.path().string())) {
      if (skipped != nullptr)
        skipped->push_back(e.path().string() + (e.is_directory(ec) ? "/" : ""));
      continue;
    }
    if (!e.is_regular_file(ec)) {
      const bool broken = e.is_symlink(ec) && !fs::exists(e.path(), ec);
      if (broken && dead_links != nullptr && has_image_extension(e.path().string())) {
        dead_links->push_back(e.path().string());
        continue;
      }
      VDSR_USER_CHECK(!broken || !has_image_extension(e.path().string()),
                      what << " '" << dir << "': " << e.path().string() << " is a "
                           << dead_link_words(e.path().string()));
      // Named like an image but no file to read: a set or a training folder would be used as if
      // whole.
      VDSR_USER_CHECK(broken || e.is_directory(ec) || !has_image_extension(e.path().string()),
                      what << " '" << dir << "': " << e.path().string() << " is "
                           << special_file_kind(fs::status(e.path(), ec)));
      if (skipped != nullptr && e.is_directory(ec)) skipped->push_back(e.path().string() + "/");
      continue;
    }
    if (has_image_extension(e.path().string()))
      files.push_back(e.path().string());
    else if (skipped != nullptr)
      skipped->push_back(e.path().string());
  }
  // A folder that fails halfway would be used as if whole.
  VDSR_USER_CHECK(!ec, "reading " << what << " '" << dir << "' failed: " << ec.message());
  std::sort(files.begin(), files.end());
  if (dead_links != nullptr) std::sort(dead_links->begin(), dead_links->end());
  return files;
}

std::vector<std::string> list_image_files_verbose(const std::string& dir, const std::string& what,
                                                  const std::string& folder_reason,
                                                  std::vector<std::string>* skipped) {
  std::vector<std::string> own;
  std::vector<std::string>& names = skipped != nullptr ? *skipped : own;
  std::vector<std::string> files = list_image_files(dir, what, &names);
  for (const auto& f : names) {
    const bool folder = f.back() == '/';
    log_verbose("skipping " + printable(f) +
                (is_hidden_name(folder ? f.substr(0, f.size() - 1) : f)
                     ? " (hidden: its name starts with '.')"
                 : folder ? " (a folder: " + folder_reason + ")"
                          : " (not an image)"));
  }
  return files;
}

FilePlan plan_files(const std::string& input, const std::string& output, const std::string& ext,
                    bool recursive, bool skip_existing, const std::string& suffix) {
  VDSR_CHECK(suffix.find('/') == std::string::npos, "plan_files: suffix '" << suffix << "' holds a '/'");
  VDSR_USER_CHECK(!input.empty(), "no input given (-i FILE or FOLDER)");
  VDSR_USER_CHECK(!output.empty(), "no output given (-o FILE or FOLDER)");
  std::error_code ec;
  const fs::path in(input);
  FilePlan plan;
  // The standard streams: one image, no folder rules; standard input only into a file (or -o -).
  if (input == kStdStream || output == kStdStream) {
    VDSR_USER_CHECK(!recursive, "-r walks a folder; it does not go with -i - or -o - (the standard streams)");
    VDSR_USER_CHECK(input == kStdStream || !fs::is_directory(in, ec),
                    "-o - (" << kStdoutName << ") takes one image: give -i FILE or -i -, not the folder " << input);
    VDSR_USER_CHECK(input != kStdStream || output == kStdStream || !names_folder(output),
                    "-i - (" << kStdinName << ") has no file name to name an output after in " << output
                             << ": give -o FILE or -o -");
    if (input != kStdStream) check_input_exists(input);
    if (output != kStdStream) {
      const fs::path out(output);
      make_writable_folder((out.has_parent_path() ? out.parent_path() : fs::path(".")).string(), "output folder");
      check_writable(output);  // a link, a FIFO or a device is refused now, not after the work
      if (skip_existing && fs::is_regular_file(out, ec)) {
        plan.existing.push_back({input, output});
        return plan;
      }
    }
    plan.jobs.push_back({input, output});
    return plan;
  }
  check_input_exists(input);

  if (!fs::is_directory(in)) {
    fs::path out(output);
    if (names_folder(output)) {
      make_writable_folder(output, "output folder");
      out /= in.stem().string() + suffix + "." + (ext == kSameFormat ? same_extension(in) : ext);
    }
    make_writable_folder((out.has_parent_path() ? out.parent_path() : fs::path(".")).string(), "output folder");
    check_writable(out.string());  // a link, a FIFO or a device is refused now, not after the work
    std::error_code out_ec, in_ec;
    VDSR_USER_CHECK(
        fs::weakly_canonical(out, out_ec) != fs::weakly_canonical(in, in_ec) || out_ec || in_ec,
        "output '" << out.string() << "' would overwrite the input");
    if (skip_existing && fs::is_regular_file(out, ec))
      plan.existing.push_back({in.string(), out.string()});
    else
      plan.jobs.push_back({in.string(), out.string()});
    return plan;
  }

  plan.folder_mode = true;
  // A folder's outputs go to a folder; a new -o named like an image file is far likelier a slip
  // than a wish for a folder called photo.png (a trailing '/' still asks for one).
  VDSR_USER_CHECK(names_folder(output) || writable_format(bare_extension(output)).empty(),
                  "-o " << output << ": the input " << input << " is a folder, so its outputs go to a folder, and '"
                        << output << "' reads as one image's name; give a folder (-o " << output
                        << "/ makes one so named), or -i one image");
  const fs::path in_abs = fs::weakly_canonical(in);
  const fs::path out_abs = fs::weakly_canonical(fs::path(output));
  VDSR_USER_CHECK(out_abs != in_abs, "output folder '" << output << "' is the input folder");
  VDSR_USER_CHECK(!recursive || !is_inside(out_abs, in_abs),
             "output folder '" << output << "' is inside the input tree '" << input
                               << "': its results would be read as inputs");

  // The walk names everything it cannot use: a broken link named like an image and a folder it
  // cannot read become problems (the run reports them and counts them as failed); links to
  // folders are not followed (no cycles), and are listed as skipped.
  std::vector<fs::path> files;
  std::vector<fs::path> folders = {in};
  for (size_t next = 0; next < folders.size(); ++next) {
    const fs::path dir = folders[next];
    fs::directory_iterator it(dir, ec);
    if (ec) {
      VDSR_USER_CHECK(next > 0, "cannot read input folder '" << input << "': " << ec.message());
      plan.problems.push_back({dir.string(), "cannot read this folder: " + ec.message()});
      continue;
    }
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      const fs::path p = it->path();
      if (is_hidden_name(p.string())) {
        plan.skipped.push_back({p.string(), "hidden: its name starts with '.'"});
        continue;
      }
      const fs::file_status link = fs::symlink_status(p, ec);
      const fs::file_status target = fs::status(p, ec);
      if (fs::is_directory(target)) {
        if (fs::is_symlink(link)) plan.skipped.push_back({p.string(), "a link to a folder: not followed"});
        else if (recursive) folders.push_back(p);
        else
          plan.skipped.push_back({p.string(), "a folder: -r walks sub-folders"});
        continue;
      }
      const bool image = has_image_extension(p.string());
      if (image && fs::is_symlink(link) && !fs::exists(target))
        plan.problems.push_back({p.string(), dead_link_words(p.string())});
      else if (image && fs::is_regular_file(target))
        files.push_back(p);
      else if (image)  // a FIFO, a device, a socket: reported, never opened
        plan.problems.push_back({p.string(), special_file_kind(target)});
      else
        plan.skipped.push_back({p.string(), "not an image by its extension"});
    }
    if (ec) plan.problems.push_back({dir.string(), "reading this folder failed: " + ec.message()});
  }
  std::sort(files.begin(), files.end());
  const auto by_path = [](const FileNote& a, const FileNote& b) { return a.path < b.path; };
  std::sort(plan.skipped.begin(), plan.skipped.end(), by_path);

  // An output that is an input, or a link's target among the inputs: -r with the input folder
  // inside the output folder (-r -i out/photos -o out writes out/photos/x.png's result over
  // out/x.png, an input when out/photos/photos/x.png is one), or a link in the input folder to a
  // file in the output folder. Every such name at once, before any work, as for the single file
  // below.
  std::map<fs::path, fs::path> input_of;  // each input's file, through its links -> the input
  for (const auto& f : files) input_of.emplace(fs::weakly_canonical(f, ec), f);
  std::string overwrites;
  int overwritten = 0;
  // Every collision at once, so one rename round fixes them all.
  std::map<std::string, std::string> seen;  // output -> input
  std::set<std::string> tree_folders;        // the folders the mirrored tree makes
  std::string collisions;
  int collided = 0;             // inputs beyond the first of an output name
  std::set<std::string> twice;  // the output names they share
  for (const auto& f : files) {
    // Lexical: fs::relative follows a link, and an output would then go beside the link's target.
    const fs::path rel = f.lexically_relative(in);
    for (fs::path d = rel.parent_path(); !d.empty(); d = d.parent_path())
      tree_folders.insert((fs::path(output) / d).lexically_normal().string());
    const std::string name = f.stem().string() + suffix + "." + (ext == kSameFormat ? same_extension(f) : ext);
    fs::path out = fs::path(output) / rel.parent_path() / name;
    const auto [it, fresh] = seen.emplace(out.string(), f.string());
    if (!fresh) {
      twice.insert(out.string());
      if (++collided <= 20)
        collisions += "; '" + it->second + "' and '" + f.string() + "' would both be written to '" + out.string() + "'";
      continue;
    }
    std::error_code cec;
    const fs::path out_file = fs::weakly_canonical(out, cec);
    const auto hit = cec ? input_of.end() : input_of.find(out_file);
    if (skip_existing && fs::is_regular_file(out, ec)) {
      plan.existing.push_back({f.string(), out.string()});  // not written: an input there stays
    } else if (const std::string why = unwritable_reason(out.string());
               !why.empty() && !fs::is_directory(fs::symlink_status(out, ec))) {
      // A link among the outputs could lead back to an input; a FIFO would be replaced. Said, and
      // counted as failed, before any work (a folder there stops the run: below).
      plan.problems.push_back({f.string(), "its output '" + out.string() + "' " + why});
    } else if (hit != input_of.end()) {
      if (++overwritten <= 20)
        overwrites += "; '" + f.string() + "' would be written to '" + out.string() +
                      "', the file the input '" + hit->second.string() + "' is read from";
    } else {
      plan.jobs.push_back({f.string(), out.string()});
    }
  }
  VDSR_USER_CHECK(collided == 0, twice.size()
                                     << " output name(s) would be written by more than one "
                                        "input (rename all but one of each)"
                                     << collisions << (collided > 20 ? "; ..." : ""));
  VDSR_USER_CHECK(overwritten == 0,
                  overwritten << " output(s) would overwrite an input (give an output folder "
                                 "apart from the input tree)"
                              << overwrites << (overwritten > 20 ? "; ..." : ""));
  std::sort(plan.problems.begin(), plan.problems.end(), by_path);
  // An output where a folder is: one on disk, or one the mirrored tree makes (x.png beside a
  // sub-folder x.png/ of the input).
  std::string on_folders;
  int on_folder = 0;
  for (const auto& [out, from] : seen) {
    if (tree_folders.count(fs::path(out).lexically_normal().string()) == 0 && !fs::is_directory(out, ec)) continue;
    if (++on_folder <= 20) on_folders += "; '" + from + "' would be written to '" + out + "', which is a folder";
  }
  VDSR_USER_CHECK(on_folder == 0,
                  on_folder << " output name(s) are folders (rename the image or the folder)"
                            << on_folders << (on_folder > 20 ? "; ..." : ""));
  // Nothing to write (no images: the caller says so) leaves no folder behind.
  if (!plan.jobs.empty() || !plan.existing.empty()) make_writable_folder(output, "output folder");
  return plan;
}

namespace {

int64_t non_negative(const std::string& s, const std::string& what) {
  const int64_t x = parse_int64(s, what);
  VDSR_USER_CHECK(x >= 0, what << ": '" << s << "' is not a non-negative integer");
  return x;
}

int64_t env_int(const std::function<const char*(const char*)>& env, const char* name) {
  const char* v = env(name);
  VDSR_USER_CHECK(v != nullptr && *v != '\0', "--shard auto needs " << name << " (set by a Slurm job array)");
  return non_negative(v, name);
}

int64_t parse_count(const std::string& s, const char* what) {
  return non_negative(s, std::string("--shard ") + what);
}

}  // namespace

Shard parse_shard(const std::string& text, const std::function<const char*(const char*)>& env) {
  const bool in_slurm_array = env("SLURM_ARRAY_TASK_ID") != nullptr && env("SLURM_ARRAY_TASK_COUNT") != nullptr;
  if (text.empty() && !in_slurm_array) return {};
  const std::string t = text.empty() ? "auto" : text;
  const auto slash = t.find('/');
  const std::string left = t.substr(0, slash), right = slash == std::string::npos ? "" : t.substr(slash + 1);
  VDSR_USER_CHECK(left == "auto" || slash != std::string::npos, "--shard " << t << ": expected I/N, auto or auto/N");
  Shard s;
  // A task's place in its array, (ID - MIN) / STEP of --array=MIN-MAX:STEP. IDs that are not one
  // such range (--array=1,3,7: MAX and COUNT disagree with it) give no place: refused, not guessed.
  const auto slurm_index = [&] {
    const auto var = [&](const char* name, int64_t fallback) {
      return env(name) ? env_int(env, name) : fallback;
    };
    const int64_t id = env_int(env, "SLURM_ARRAY_TASK_ID"), min = var("SLURM_ARRAY_TASK_MIN", 0),
                  step = std::max<int64_t>(1, var("SLURM_ARRAY_TASK_STEP", 1)),
                  max = var("SLURM_ARRAY_TASK_MAX", -1), count = var("SLURM_ARRAY_TASK_COUNT", -1);
    const bool range =
        id >= min && (id - min) % step == 0 &&
        (max < 0 || count < 0 || ((max - min) % step == 0 && (max - min) / step + 1 == count));
    VDSR_USER_CHECK(range,
                    "the Slurm job array's task IDs are not one range with a fixed step (this task "
                        << id << "; SLURM_ARRAY_TASK_MIN " << min << ", _MAX " << max << ", _STEP "
                        << step << ", _COUNT " << count
                        << "), so this task's place in it is not known: give --shard I/N, "
                           "I = 0..N-1, one for each task");
    return (id - min) / step;
  };
  if (left != "auto") {
    s.index = parse_count(left, "index");
    s.count = parse_count(right, "count");
    s.source = "--shard " + t;
  } else if (right.empty()) {
    s.index = slurm_index();
    s.count = env_int(env, "SLURM_ARRAY_TASK_COUNT");
    s.source = "the Slurm job array (SLURM_ARRAY_TASK_*)";
  } else {
    s.count = parse_count(right, "count");
    VDSR_USER_CHECK(s.count >= 1, "--shard " << t << ": the number of shards must be at least 1");
    if (env("SLURM_ARRAY_TASK_ID") != nullptr) {
      s.index = slurm_index();
      s.source = "the Slurm job array (SLURM_ARRAY_TASK_ID)";
      // Every task's place counts from the array's first: an N that is not its size leaves shards
      // that no task runs (N larger; each task would exit 0) or places past N (refused below).
      if (env("SLURM_ARRAY_TASK_COUNT") != nullptr) {
        const int64_t tasks = env_int(env, "SLURM_ARRAY_TASK_COUNT");
        VDSR_USER_CHECK(tasks == s.count,
                        "--shard " << t << " in a Slurm job array of " << tasks
                                   << (tasks == 1 ? " task" : " tasks")
                                   << " (SLURM_ARRAY_TASK_COUNT): " << s.count
                                   << " shards would not match its tasks (shards that no task "
                                      "runs, or tasks with no shard); give --shard auto (N from "
                                      "the array) or an array of "
                                   << s.count << " tasks");
      }
    } else {
      VDSR_USER_CHECK(env("JOB_COMPLETION_INDEX") != nullptr,
                      "--shard " << t << " needs SLURM_ARRAY_TASK_ID (a Slurm job array) or JOB_COMPLETION_INDEX "
                                    "(a Kubernetes Indexed Job)");
      s.index = env_int(env, "JOB_COMPLETION_INDEX");
      s.source = "the Indexed Job (JOB_COMPLETION_INDEX)";
    }
  }
  VDSR_USER_CHECK(s.count >= 1, "shard " << s.index << "/" << s.count << " (from " << s.source
                                          << "): the number of shards must be at least 1");
  VDSR_USER_CHECK(s.index >= 0 && s.index < s.count,
                  "shard " << s.index << "/" << s.count << " (from " << s.source << ") is not one of 0.."
                           << s.count - 1 << " of " << s.count);
  return s;
}

uint64_t fnv1a64(const std::string& bytes) {
  uint64_t h = 14695981039346656037ull;
  for (const unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

void apply_shard(FilePlan& plan, const std::string& input, const Shard& shard) {
  if (shard.count <= 1) return;
  const fs::path root(input);
  auto mine = [&](const std::string& path) {
    const std::string rel = plan.folder_mode ? fs::path(path).lexically_relative(root).generic_string()
                                             : fs::path(path).filename().string();
    return int64_t(fnv1a64(rel) % uint64_t(shard.count)) == shard.index;
  };
  auto keep = [&](auto& items, auto path_of) {
    items.erase(std::remove_if(items.begin(), items.end(), [&](const auto& x) { return !mine(path_of(x)); }), items.end());
  };
  keep(plan.jobs, [](const FileJob& j) { return j.input; });
  keep(plan.existing, [](const FileJob& j) { return j.input; });
  keep(plan.problems, [](const FileNote& n) { return n.path; });
}

}  // namespace vdsr
