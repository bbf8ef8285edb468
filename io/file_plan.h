// Planning a batch: which input files map to which output files, with every folder rule of
// the brief's section 4 checked before any work starts. Images are chosen by extension (png, jpg,
// jpeg, bmp, tga, any case); other files are listed as skipped; what cannot be used (a broken link
// named like an image, an unreadable sub-folder) is listed as a problem, never dropped silently.
// Errors (thrown before any image is touched): a missing input, output names that collide (all of
// them in one message), outputs that are inputs followed through links (all of them in one
// message), an output folder inside the input tree
// (or equal to it) when recursing, an output folder that cannot be created or written, a new output
// folder named like an image file (photo.png: a trailing '/' asks for one so named). With
// skip_existing, a job whose output file already exists goes to `existing` instead of `jobs`: every
// output is written atomically, so an existing file is a finished result, never a partial one.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vdsr {

struct FileJob {
  std::string input, output;
};

struct FileNote {
  std::string path, reason;
};

struct FilePlan {
  bool folder_mode = false;          // input was a folder
  std::vector<FileJob> jobs;         // sorted by input path
  std::vector<FileJob> existing;     // with skip_existing: outputs already there, not redone
  std::vector<FileNote> skipped;     // non-image files and links to folders in the input tree
  std::vector<FileNote> problems;    // unusable, reported and counted as failed: broken links
                                     // named like images, sub-folders that cannot be read
};

// Makes `dir` with its parents if missing; a UserError naming it as `what` ("output folder") when it
// cannot be made or written into.
void make_writable_folder(const std::string& dir, const std::string& what);

// A name starting with '.' is hidden, as the shell's `*` and `ls` treat it: macOS's "._photo.jpg"
// resource stubs, editors' and viewers' caches. A folder's listing (list_image_files, plan_files,
// vdsr_bench --stages) leaves them out; a hidden file named on its own (-i .photo.png) is read.
bool is_hidden_name(const std::string& path);

// The image files directly in folder `dir` (by extension, hidden ones left out), sorted; other
// regular files, and folders with a '/' after their name, go to *skipped when given. Throws when
// `dir` is not a folder, and for a broken link named like an image (a set with an image missing
// would be scored or trained as if whole); `what` names the folder in the message ("evaluation
// set", "training folder").
// With `dead_links`, such links are listed there (sorted) instead: a folder of outputs may hold a
// stray one (vdsr_eval --score), which matters only where an image asks for it.
std::vector<std::string> list_image_files(const std::string& dir, const std::string& what,
                                          std::vector<std::string>* skipped = nullptr,
                                          std::vector<std::string>* dead_links = nullptr);

// list_image_files' images, with each name it skipped said under -v and why: a folder (why:
// `folder_reason`, e.g. "a set is the images directly in its folder"), or not an image.
std::vector<std::string> list_image_files_verbose(const std::string& dir, const std::string& what,
                                                  const std::string& folder_reason,
                                                  std::vector<std::string>* skipped = nullptr);

// The name of the image set in folder `dir`: its folder's, as the shell names it. "data/Set5/" is
// Set5; "." and ".." the folders they stand for ($PWD where that is the working folder: getcwd
// resolves links, so a set reached through a link would take its target's name). The root has no
// name: an error naming `flag` ("--data").
std::string set_name(const std::string& dir, const std::string& flag);

// -f same: each output in its input's format (a .tga input, which nothing writes, as png).
constexpr const char* kSameFormat = "same";

// The output format, as the ncnn-family upscalers decide it. When `output` names a file (the input
// is a file and `output` is neither an existing folder nor a name ending in '/'), its extension
// decides: `format_flag` (-f; ""
// when not given; "same" means the input's format) must agree with it, and a name without an
// extension needs -f. A folder output takes -f, default png, and may be "same" (kSameFormat: then
// plan_files gives each output its input's extension). A format or extension we cannot write is an
// error in words, before any work.
std::string output_format(const std::string& input, const std::string& output, const std::string& format_flag);

// input: a file or a folder. output: for a file, the output file (or a folder, existing or named
// with a trailing '/' and then created, which receives <stem>.<ext>); for a folder, the output
// folder (created if missing). ext: the output format's extension ("png"), or kSameFormat: each
// input's own extension in lower case (png for .tga), so x.png and x.jpg do not collide, and x.jpg
// and x.JPG do. recursive: descend into sub-folders, mirroring the tree (outputs go to the matching
// sub-folders of the output folder, created when written). skip_existing: see above. suffix: added
// to the stem of every output name the plan makes (<stem><suffix>.<ext>); a -o file is used as
// named. input or output kStdStream ("-", io/std_streams.h): one job for the standard stream (into
// a file or standard output; standard input needs a named file or standard output, not a folder,
// and neither goes with recursive).
FilePlan plan_files(const std::string& input, const std::string& output, const std::string& ext,
                    bool recursive, bool skip_existing = false, const std::string& suffix = "");

// Sharding one batch over several processes or machines: shard I of N keeps the files whose
// FNV-1a 64-bit hash of their path relative to the input (UTF-8, '/' separated; a file input: its
// name) is I modulo N. Every shard plans the whole tree first, so all of them agree on the
// collision checks; each then keeps its own files (jobs, existing outputs and problems alike).
struct Shard {
  int64_t index = 0, count = 1;
  std::string source;  // where it came from, for the log ("--shard 1/3", "Slurm job array")
};

// --shard TEXT: "I/N"; "auto" (a Slurm job array: I = (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN)
// / SLURM_ARRAY_TASK_STEP, N = SLURM_ARRAY_TASK_COUNT; IDs that are no stepped range refused);
// "auto/N" (I from the Slurm array, or from a Kubernetes Indexed Job's JOB_COMPLETION_INDEX); ""
// (the flag not given): "auto" inside a Slurm job array, else 0/1. `env` looks variables up
// (getenv; tests pass their own). Errors name the flag or variable.
Shard parse_shard(const std::string& text, const std::function<const char*(const char*)>& env);
uint64_t fnv1a64(const std::string& bytes);
void apply_shard(FilePlan& plan, const std::string& input, const Shard& shard);

}  // namespace vdsr
