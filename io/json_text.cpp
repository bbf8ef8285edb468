#include "io/json_text.h"

#include <nlohmann/json.hpp>

namespace vdsr {

// The judge is the JSON library's own, so that this says true exactly when dump() keeps the bytes.
bool is_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

}  // namespace vdsr
