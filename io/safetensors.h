// safetensors files (docs/formats.md): 8-byte little-endian header length N, N bytes of JSON header
// (may be padded with trailing spaces), then the raw little-endian tensor data. Every tensor's
// data_offsets [begin, end) are relative to the data section; together they must tile it exactly
// (sorted by begin: first at 0, each begins where the previous ends, the last ends at the end of
// the file), and end - begin must equal the element count times the dtype's size. Duplicate keys
// are rejected. "__metadata__" holds string-to-string pairs. Writing is atomic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace vdsr {

struct StTensor {
  std::string dtype;            // "F32", "F64", "I64", "U8", ...
  std::vector<int64_t> shape;   // outermost first
  std::vector<uint8_t> data;    // raw little-endian bytes

  int64_t numel() const;
  // Copies out as float32: F32 as is, F16 and BF16 converted exactly (other dtypes throw).
  std::vector<float> as_f32() const;
};

struct SafeTensors {
  std::map<std::string, std::string> metadata;
  std::vector<std::pair<std::string, StTensor>> tensors;  // in file order

  const StTensor* find(const std::string& name) const;  // nullptr if absent
  void add_f32(const std::string& name, std::vector<int64_t> shape, const float* values);
  void add(const std::string& name, StTensor t);  // throws on a duplicate name
};

// Parses and validates a whole file. Errors name the file and, where one is at fault, the tensor.
SafeTensors read_safetensors(const std::string& path);
// Parses from memory (the same checks); `name` is used in messages.
SafeTensors parse_safetensors(const uint8_t* bytes, size_t size, const std::string& name);
// Serialises (tensors in the given order, header padded with spaces to a multiple of 8 bytes).
std::vector<uint8_t> serialize_safetensors(const SafeTensors& st);
// serialize_safetensors + write_file_atomic.
void write_safetensors(const std::string& path, const SafeTensors& st);

// A digest of every tensor in file order (its name, dtype, shape and bytes; io/digest.h), as 16
// hex digits: what a checkpoint records of its tensors, checked whenever it is read
// (model/weights_io.h kTensorsDigestKey).
std::string tensors_digest(const SafeTensors& st);

// Size in bytes of one element of a safetensors dtype; throws for an unknown dtype.
size_t dtype_size(const std::string& dtype);

}  // namespace vdsr
