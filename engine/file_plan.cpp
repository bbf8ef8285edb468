#include "engine/file_plan.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
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

// "jpg" for "jpeg" and any case; "" for a name we cannot write.
std::string writable_format(std::string name) {
  for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (name == "jpeg") name = "jpg";
  return name == "png" || name == "jpg" || name == "bmp" ? name : "";
}

}  // namespace

std::string output_format(const std::string& input, const std::string& output, const std::string& format_flag) {
  const std::string flag = writable_format(format_flag);
  VDSR_USER_CHECK(format_flag.empty() || !flag.empty(),
                  "-f " << format_flag << ": the output formats are png, jpg and bmp");
  std::error_code ec;
  const bool to_file = !fs::is_directory(input, ec) && !fs::is_directory(output, ec);
  if (!to_file) return flag.empty() ? "png" : flag;
  std::string ext = fs::path(output).extension().string();
  if (!ext.empty()) ext = ext.substr(1);
  if (ext.empty()) {
    VDSR_USER_CHECK(!flag.empty(), "-o " << output << ": the name has no extension to tell the format; add one "
                                         "(.png, .jpg or .bmp) or give -f");
    return flag;
  }
  const std::string from_name = writable_format(ext);
  VDSR_USER_CHECK(!from_name.empty(), "-o " << output << ": cannot write ." << ext
                                            << " files (the output formats are png, jpg and bmp)");
  VDSR_USER_CHECK(flag.empty() || flag == from_name,
                  "-f " << format_flag << " contradicts the output file name " << output
                        << ": leave -f out, or name the file ." << flag);
  return from_name;
}

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
