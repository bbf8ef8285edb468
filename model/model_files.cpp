#include "model/model_files.h"

#include <unistd.h>

#include <filesystem>
#include <vector>

#include "engine/error.h"
#include "model/weights_io.h"

namespace fs = std::filesystem;

namespace vdsr {

namespace {
fs::path executable_dir() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::path(".") : exe.parent_path();
}
}  // namespace

std::string bundled_model_path() {
  const fs::path exe_dir = executable_dir();
  std::vector<fs::path> candidates = {exe_dir / kBundledModelName,
                                      exe_dir.parent_path() / "share" / "vdsr" / kBundledModelName};
#ifdef VDSR_SOURCE_MODEL_DIR
  candidates.push_back(fs::path(VDSR_SOURCE_MODEL_DIR) / kBundledModelName);
#endif
  std::string searched;
  for (const auto& c : candidates) {
    if (fs::is_regular_file(c)) return c.string();
    searched += (searched.empty() ? "" : ", ") + c.string();
  }
  VDSR_USER_FAIL("no bundled model found (looked at " << searched
                                                 << "); pass -m FILE, or --bicubic for the "
                                                    "bicubic baseline");
}

std::unique_ptr<Vdsr> load_model(const std::string& path, Device device) {
  const VdsrWeights w = load_weights(path);
  auto model = std::make_unique<Vdsr>(w.config, device);
  model->set_params(w.params);
  return model;
}

}  // namespace vdsr
