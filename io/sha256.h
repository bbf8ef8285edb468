// SHA-256 (FIPS 180-4) of a byte string or a file, as lowercase hex: provenance of converted models.
#pragma once

#include <string>

namespace vdsr {

std::string sha256_hex(const std::string& bytes);
std::string sha256_file_hex(const std::string& path);  // a UserError when it cannot be read

}  // namespace vdsr
