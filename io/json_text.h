// JSON text that never throws on a string that is not UTF-8. File and folder names on Linux are
// bytes; nlohmann's dump() throws type_error 316 on an invalid byte, which turned a report, a
// safetensors header or a training log about a folder named in Latin-1 into an "internal error"
// after the work was done. These write U+FFFD for each bad byte instead (a reader that needs the
// bytes gets them in an escaped field of its own: vdsr_sr's input_escaped).
#pragma once

#include <string>

namespace vdsr {

// j.dump(indent) with invalid UTF-8 bytes written as U+FFFD. Json is nlohmann::json or
// nlohmann::ordered_json (a template, so that this header needs no JSON include).
template <class Json>
std::string json_dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// Whether `s` is valid UTF-8 (JSON holds it byte for byte).
bool is_utf8(const std::string& s);

}  // namespace vdsr
