#include "engine/file_plan.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <system_error>

#include "engine/error.h"
#include "engine/image_io.h"

namespace fs = std::filesystem;

namespace vdsr {

namespace {

void check_writable_folder(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  VDSR_USER_CHECK(!ec && fs::is_directory(dir),
             "cannot create output folder '" << dir.string() << "': " << ec.message());
  VDSR_USER_CHECK(::access(dir.c_str(), W_OK | X_OK) == 0,
             "output folder '" << dir.string() << "' is not writable");
}

bool is_inside(const fs::path& child, const fs::path& parent) {
  auto c = child.begin();
  for (auto p = parent.begin(); p != parent.end(); ++p, ++c) {
    if (p->empty()) continue;  // trailing separator
    if (c == child.end() || *c != *p) return false;
  }
  return true;
}

}  // namespace

std::vector<std::string> list_image_files(const std::string& dir, const std::string& what,
                                          std::vector<std::string>* skipped) {
  VDSR_USER_CHECK(fs::is_directory(dir), what << " '" << dir << "' is not a folder");
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    if (has_image_extension(e.path().string()))
      files.push_back(e.path().string());
    else if (skipped != nullptr)
      skipped->push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

FilePlan plan_files(const std::string& input, const std::string& output, const std::string& ext,
                    bool recursive, bool skip_existing) {
  VDSR_USER_CHECK(!input.empty(), "no input given (-i FILE or FOLDER)");
  VDSR_USER_CHECK(!output.empty(), "no output given (-o FILE or FOLDER)");
  std::error_code ec;
  const fs::path in(input);
  VDSR_USER_CHECK(fs::exists(in, ec), "input '" << input << "' does not exist");
  FilePlan plan;

  if (!fs::is_directory(in)) {
    fs::path out(output);
    if (fs::is_directory(out)) out /= in.stem().string() + "." + ext;
    check_writable_folder(out.has_parent_path() ? out.parent_path() : fs::path("."));
    VDSR_USER_CHECK(fs::weakly_canonical(out) != fs::weakly_canonical(in),
               "output '" << out.string() << "' would overwrite the input");
    if (skip_existing && fs::is_regular_file(out, ec))
      plan.existing.push_back({in.string(), out.string()});
    else
      plan.jobs.push_back({in.string(), out.string()});
    return plan;
  }

  plan.folder_mode = true;
  const fs::path in_abs = fs::weakly_canonical(in);
  const fs::path out_abs = fs::weakly_canonical(fs::path(output));
  VDSR_USER_CHECK(out_abs != in_abs, "output folder '" << output << "' is the input folder");
  VDSR_USER_CHECK(!recursive || !is_inside(out_abs, in_abs),
             "output folder '" << output << "' is inside the input tree '" << input
                               << "': its results would be read as inputs");

  std::vector<fs::path> files;
  auto consider = [&](const fs::directory_entry& e) {
    if (!e.is_regular_file()) return;
    if (has_image_extension(e.path().string()))
      files.push_back(e.path());
    else
      plan.skipped.push_back(e.path().string());
  };
  if (recursive) {
    // Unreadable sub-folders are left out rather than stopping the plan; links to folders are
    // not followed (no cycles).
    fs::recursive_directory_iterator it(in, fs::directory_options::skip_permission_denied, ec);
    VDSR_USER_CHECK(!ec, "cannot read input folder '" << input << "': " << ec.message());
    for (; it != fs::recursive_directory_iterator(); it.increment(ec)) {
      VDSR_USER_CHECK(!ec, "cannot read input folder '" << input << "': " << ec.message());
      consider(*it);
    }
    std::sort(files.begin(), files.end());
  } else {
    for (const auto& f : list_image_files(input, "input folder", &plan.skipped)) files.emplace_back(f);
  }
  std::sort(plan.skipped.begin(), plan.skipped.end());

  std::map<std::string, std::string> seen;  // output -> input
  for (const auto& f : files) {
    const fs::path rel = fs::relative(f, in);
    fs::path out = fs::path(output) / rel.parent_path() / (f.stem().string() + "." + ext);
    const auto [it, fresh] = seen.emplace(out.string(), f.string());
    VDSR_USER_CHECK(fresh, "'" << it->second << "' and '" << f.string() << "' would both be written to '"
                          << out.string() << "'; rename one of them");
    if (skip_existing && fs::is_regular_file(out, ec))
      plan.existing.push_back({f.string(), out.string()});
    else
      plan.jobs.push_back({f.string(), out.string()});
  }
  check_writable_folder(fs::path(output));
  return plan;
}

}  // namespace vdsr
