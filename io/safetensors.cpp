// safetensors reader and writer (docs/formats.md). Layout: u64 little-endian N, N bytes of JSON header
// (an object: "__metadata__" -> {string: string}, every other key a tensor -> {"dtype", "shape",
// "data_offsets": [begin, end)}), then the data section. The reader trusts nothing: the header
// length, every field, every size (overflow-checked), and the tiling of the data section by the
// tensors' offsets are all checked, and duplicate JSON keys (which nlohmann would silently
// collapse) are rejected at every nesting level.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/file_kind.h"
#include "engine/log.h"
#include "io/digest.h"
#include "io/json_text.h"

namespace vdsr {

namespace {

// The raw data is copied byte for byte; F32 values are read with memcpy as host floats.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors I/O assumes a little-endian host");

// A header larger than this is corrupt, not a model (the reference implementation uses 100 MB).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

const std::map<std::string, size_t>& dtype_sizes() {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},
      {"I32", 4}, {"I16", 2}, {"I8", 1},  {"U8", 1},   {"BOOL", 1}};
  return sizes;
}

// numel of `shape`, or -1 when a dimension is negative or the product overflows int64.
int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (const int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d) return -1;
    n *= d;
  }
  return n;
}

// Byte size of numel elements of `dtype`, or false on overflow.
bool checked_bytes(int64_t numel, size_t elem, uint64_t* bytes) {
  const auto n = static_cast<uint64_t>(numel);
  if (elem != 0 && n > std::numeric_limits<uint64_t>::max() / elem) return false;
  *bytes = n * elem;
  return true;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Checks that a tensor about to be written is self-consistent.
void check_tensor(const std::string& name, const StTensor& t) {
  VDSR_CHECK(!name.empty() && name != "__metadata__", "invalid tensor name '" << name << "'");
  VDSR_CHECK(dtype_sizes().count(t.dtype) == 1,
             "tensor '" << name << "': unknown dtype '" << t.dtype << "'");
  const int64_t n = checked_numel(t.shape);
  VDSR_CHECK(n >= 0, "tensor '" << name << "': invalid shape " << shape_str(t.shape));
  uint64_t bytes = 0;
  VDSR_CHECK(checked_bytes(n, dtype_size(t.dtype), &bytes) && bytes == t.data.size(),
             "tensor '" << name << "': " << t.data.size() << " bytes of data for " << t.dtype << " "
                        << shape_str(t.shape));
}

// A non-negative JSON integer as uint64, or false.
bool json_uint(const nlohmann::json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(v.get<int64_t>());
    return true;
  }
  return false;
}

struct Entry {
  std::string name;
  uint64_t begin = 0, end = 0;
};

}  // namespace

size_t dtype_size(const std::string& dtype) {
  const auto it = dtype_sizes().find(dtype);
  VDSR_CHECK(it != dtype_sizes().end(), "unknown safetensors dtype '" << dtype << "'");
  return it->second;
}

int64_t StTensor::numel() const {
  const int64_t n = checked_numel(shape);
  VDSR_CHECK(n >= 0, "invalid tensor shape " << shape_str(shape));
  return n;
}

namespace {
// IEEE half -> float, exact (every half is a float): normals rebias the exponent, subnormals are
// normalised, infinities and NaNs keep their class and payload bits.
float half_to_float(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {
    exp = 113;
    while ((mant & 0x400) == 0) {
      mant <<= 1;
      --exp;
    }
    bits = sign | (exp << 23) | ((mant & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
}  // namespace

std::vector<float> StTensor::as_f32() const {
  VDSR_CHECK(dtype == "F32" || dtype == "F16" || dtype == "BF16" || dtype == "F64",
             "tensor has dtype " << dtype << ", expected F32, F16, BF16 or F64");
  const int64_t n = numel();
  const size_t width = dtype == "F64" ? 8 : dtype == "F32" ? 4 : 2;
  VDSR_CHECK(data.size() == static_cast<uint64_t>(n) * width,
             "tensor data holds " << data.size() << " bytes, expected " << n << " values of " << dtype);
  std::vector<float> out(static_cast<size_t>(n));
  if (n == 0) return out;
  if (dtype == "F32") {
    std::memcpy(out.data(), data.data(), data.size());
    return out;
  }
  if (dtype == "F64") {  // rounded to the nearest float (beyond float's range: infinite)
    for (size_t i = 0; i < out.size(); ++i) {
      double d = 0;
      std::memcpy(&d, data.data() + 8 * i, 8);
      out[i] = static_cast<float>(d);
    }
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const uint16_t v = uint16_t(data[2 * i] | (uint16_t(data[2 * i + 1]) << 8));  // little-endian
    if (dtype == "F16") {
      out[i] = half_to_float(v);
    } else {  // bf16 is the top half of a float
      const uint32_t bits = uint32_t(v) << 16;
      std::memcpy(&out[i], &bits, 4);
    }
  }
  return out;
}

const StTensor* SafeTensors::find(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return &t;
  return nullptr;
}

void SafeTensors::add_f32(const std::string& name, std::vector<int64_t> shape,
                          const float* values) {
  StTensor t;
  t.dtype = "F32";
  t.shape = std::move(shape);
  const int64_t n = checked_numel(t.shape);
  VDSR_CHECK(n >= 0 && static_cast<uint64_t>(n) <= std::numeric_limits<size_t>::max() / 4,
             "tensor '" << name << "': invalid shape " << shape_str(t.shape));
  t.data.resize(static_cast<size_t>(n) * 4);
  if (n > 0) std::memcpy(t.data.data(), values, t.data.size());
  add(name, std::move(t));
}

void SafeTensors::add(const std::string& name, StTensor t) {
  check_tensor(name, t);
  VDSR_CHECK(find(name) == nullptr, "duplicate tensor name '" << name << "'");
  tensors.emplace_back(name, std::move(t));
}

namespace {
// Files people pass instead of safetensors, recognised by their first bytes so the message can say
// what the file is and what to do ("" when none matches).
std::string other_format(const uint8_t* b, size_t size) {
  auto starts = [&](const char* magic, size_t n) { return size >= n && std::memcmp(b, magic, n) == 0; };
  if (starts("PK\x03\x04", 4) || (size >= 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5))
    return "a PyTorch file (.pth / .pt: torch.save's zip or pickle), not safetensors: convert it "
           "with the command in docs/formats.md (\"Converting a PyTorch model\")";
  if (starts("MATLAB 5.0 MAT-file", 19) || starts("\x89HDF\r\n\x1a\n", 8))
    return "a MATLAB .mat or HDF5 file, not safetensors (MATLAB models: see docs/formats.md)";
  return "";
}

// An image format's magic at the start, for a file whose first 8 bytes are no plausible safetensors
// header length (asked only then: "BM" or "II*" could begin a valid header length).
const char* image_magic(const uint8_t* b, size_t size) {
  auto starts = [&](const char* magic, size_t n) { return size >= n && std::memcmp(b, magic, n) == 0; };
  const bool webp = starts("RIFF", 4) && size >= 12 && std::memcmp(b + 8, "WEBP", 4) == 0;
  return starts("\x89PNG", 4) ? "PNG" : starts("\xff\xd8\xff", 3) ? "JPEG" : webp ? "WebP"
         : starts("II*\0", 4) || starts("MM\0*", 4) ? "TIFF" : starts("GIF8", 4) ? "GIF"
         : starts("BM", 2) ? "BMP" : nullptr;
}

// ASCII text (notes, a README, a JSON or YAML file) by its first bytes: printable characters,
// tabs and line ends. Asked only of a file with no plausible header length (a real one's 8 bytes
// hold zeros).
bool looks_like_text(const uint8_t* b, size_t size) {
  if (size == 0) return false;
  for (size_t i = 0; i < std::min<size_t>(size, 512); ++i)
    if ((b[i] < 0x20 || b[i] > 0x7e) && b[i] != '\t' && b[i] != '\n' && b[i] != '\r') return false;
  return true;
}
}  // namespace

SafeTensors parse_safetensors(const uint8_t* bytes, size_t size, const std::string& name) {
  const std::string other = other_format(bytes, size);
  VDSR_USER_CHECK(other.empty(), name << " is " << other);
  uint64_t header_len = 0;
  if (size >= 8) std::memcpy(&header_len, bytes, 8);
  VDSR_USER_CHECK(
      !((size < 8 || header_len > kMaxHeaderBytes || header_len > size - 8) &&
        looks_like_text(bytes, size)),
      name << " is a text file, not a model (a model is a .safetensors or .mat file of weights)");
  VDSR_USER_CHECK(size >= 8, name << ": truncated safetensors file (" << size
                                  << " bytes, the 8-byte header length alone needs 8)");
  VDSR_USER_CHECK(header_len > 0, name << ": safetensors header length is zero");
  const char* image = header_len > kMaxHeaderBytes || header_len > size - 8 ? image_magic(bytes, size) : nullptr;
  VDSR_USER_CHECK(image == nullptr, name << " is a " << image << " image, not a model (a model is a .safetensors "
                                                                  "or .mat file of weights)");
  VDSR_USER_CHECK(header_len <= kMaxHeaderBytes, name << " is not a safetensors file: its first 8 bytes, read as "
                                                         "the header length, give an absurd "
                                                      << header_len << " (limit " << kMaxHeaderBytes << ")");
  VDSR_USER_CHECK(header_len <= size - 8, name << ": safetensors header length " << header_len
                                          << " runs past the end of the file (" << size
                                          << " bytes; truncated?)");
  const char* hbegin = reinterpret_cast<const char*>(bytes + 8);
  const char* hend = hbegin + header_len;
  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  // nlohmann stops at a NUL as if the input ended; a JSON text never holds one, and padding is
  // spaces.
  if (const void* nul = std::memchr(hbegin, 0, header_len))
    VDSR_USER_FAIL(name << ": safetensors header holds a NUL byte at offset "
                   << static_cast<const char*>(nul) - hbegin << " (padding must be spaces)");

  // Every object on the parse stack keeps the keys seen so far, so a duplicate at any depth is
  // caught.
  std::vector<std::set<std::string>> keys;
  std::string duplicate;
  const auto callback = [&](int depth, nlohmann::json::parse_event_t ev, nlohmann::json& v) {
    using E = nlohmann::json::parse_event_t;
    // Nothing in a valid header nests deeper than header -> tensor -> shape / data_offsets (depth
    // 2). Deeper values were accepted and later dump()ed into error messages, which recurses once
    // per level: a 2 MB header with a million nested '[' as data_offsets overflowed the stack
    // (found while fuzzing, beyond the fuzzer's 64 KB inputs: docs/fuzzing.md).
    if ((ev == E::object_start || ev == E::array_start) && depth > 2)
      VDSR_USER_FAIL(name << ": safetensors header nests JSON deeper than a tensor's shape or offsets");
    if (ev == E::object_start) {
      keys.emplace_back();
    } else if (ev == E::object_end) {
      if (!keys.empty()) keys.pop_back();
    } else if (ev == E::key && !keys.empty() && duplicate.empty()) {
      if (!keys.back().insert(v.get<std::string>()).second) duplicate = v.get<std::string>();
    }
    return true;
  };
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(hbegin, hend, callback);
  } catch (const nlohmann::json::exception& e) {
    // The parser's own text (its exception id, "syntax error while parsing...") is for us, with -v.
    log_verbose(std::string("safetensors header: ") + e.what());
    VDSR_USER_FAIL(name << ": its safetensors header is not valid JSON (a truncated or damaged file, or not "
                           "a safetensors model; -v shows where the parser stopped)");
  }
  VDSR_USER_CHECK(duplicate.empty(),
             name << ": duplicate key '" << duplicate << "' in safetensors header");
  VDSR_USER_CHECK(header.is_object(), name << ": safetensors header is a JSON " << header.type_name()
                                      << ", expected an object");

  SafeTensors st;
  std::vector<Entry> entries;
  // "an object", "a string": the JSON type of a value where another was expected.
  const auto a_json = [](const nlohmann::json& v) {
    const std::string t = v.type_name();
    return (t == "object" || t == "array" ? "an " : "a ") + t;
  };
  for (const auto& [key, val] : header.items()) {
    if (key == "__metadata__") {
      VDSR_USER_CHECK(val.is_object(), name << ": __metadata__ is " << a_json(val)
                                            << ", expected an object of strings");
      for (const auto& [mk, mv] : val.items()) {
        VDSR_USER_CHECK(mv.is_string(), name << ": metadata '" << mk << "' is " << a_json(mv)
                                             << ", expected a string");
        st.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    VDSR_USER_CHECK(!key.empty(), name << ": tensor with an empty name");
    VDSR_USER_CHECK(val.is_object(), name << ": tensor '" << key << "': entry is " << a_json(val)
                                          << ", expected an object");
    for (const auto& [field, fv] : val.items()) {
      (void)fv;
      VDSR_USER_CHECK(field == "dtype" || field == "shape" || field == "data_offsets",
                 name << ": tensor '" << key << "': unknown field '" << field << "'");
    }
    for (const char* field : {"dtype", "shape", "data_offsets"})
      VDSR_USER_CHECK(val.contains(field),
                 name << ": tensor '" << key << "': missing '" << field << "'");

    StTensor t;
    const auto& dt = val["dtype"];
    VDSR_USER_CHECK(dt.is_string(), name << ": tensor '" << key << "': dtype is not a string");
    t.dtype = dt.get<std::string>();
    VDSR_USER_CHECK(dtype_sizes().count(t.dtype) == 1,
               name << ": tensor '" << key << "': unknown dtype '" << t.dtype << "'");

    const auto& sh = val["shape"];
    VDSR_USER_CHECK(sh.is_array(), name << ": tensor '" << key << "': shape is not an array");
    for (const auto& d : sh) {
      uint64_t u = 0;
      VDSR_USER_CHECK(json_uint(d, &u) && u <= uint64_t(std::numeric_limits<int64_t>::max()),
                 name << ": tensor '" << key << "': shape " << sh.dump()
                      << " must hold non-negative integers");
      t.shape.push_back(static_cast<int64_t>(u));
    }
    const int64_t n = checked_numel(t.shape);
    uint64_t nbytes = 0;
    VDSR_USER_CHECK(n >= 0 && checked_bytes(n, dtype_size(t.dtype), &nbytes),
               name << ": tensor '" << key << "': shape " << sh.dump() << " overflows");

    const auto& off = val["data_offsets"];
    Entry e;
    e.name = key;
    VDSR_USER_CHECK(off.is_array() && off.size() == 2 && json_uint(off[0], &e.begin) &&
                   json_uint(off[1], &e.end),
               name << ": tensor '" << key << "': data_offsets " << off.dump()
                    << " must be [begin, end] of non-negative integers");
    VDSR_USER_CHECK(e.begin <= e.end, name << ": tensor '" << key << "': data_offsets " << off.dump()
                                      << " end before begin");
    VDSR_USER_CHECK(e.end - e.begin == nbytes,
               name << ": tensor '" << key << "': data_offsets " << off.dump() << " span "
                    << e.end - e.begin << " bytes but " << t.dtype << " " << sh.dump() << " needs "
                    << nbytes << " (header lies about sizes)");
    VDSR_USER_CHECK(e.end <= data_size, name << ": tensor '" << key << "': data_offsets " << off.dump()
                                        << " run past the end of the data section (" << data_size
                                        << " bytes; truncated file?)");
    t.data.assign(data + e.begin, data + e.end);
    entries.push_back(e);
    st.tensors.emplace_back(key, std::move(t));
  }

  // The tensors must tile the data section exactly: no gaps, overlaps or trailing bytes.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t cursor = 0;
  const Entry* prev = nullptr;
  for (const auto& e : entries) {
    if (e.begin < cursor)
      VDSR_USER_FAIL(name << ": tensor '" << e.name << "' (bytes " << e.begin << ".." << e.end
                     << ") overlaps tensor '" << prev->name << "' (bytes " << prev->begin << ".."
                     << prev->end << ")");
    if (e.begin > cursor) {
      if (prev == nullptr)
        VDSR_USER_FAIL(name << ": data offsets do not start at 0: first tensor '" << e.name
                       << "' begins at byte " << e.begin);
      VDSR_USER_FAIL(name << ": gap of " << e.begin - cursor << " bytes between tensor '" << prev->name
                     << "' (ends at " << cursor << ") and tensor '" << e.name << "' (begins at "
                     << e.begin << ")");
    }
    // An empty tensor covers no bytes, so the last non-empty one is kept for the messages.
    if (prev == nullptr || e.end > e.begin) prev = &e;
    cursor = e.end;
  }
  VDSR_USER_CHECK(cursor == data_size,
             name << ": " << data_size - cursor << " trailing bytes after the last tensor"
                  << (prev != nullptr ? " '" + prev->name + "'" : std::string())
                  << " (data section " << data_size << " bytes, tensors cover " << cursor << ")");

  // File order is data order, so callers see tensors as the writer laid them out.
  std::map<std::string, StTensor> by_name;
  for (auto& [n, t] : st.tensors) by_name.emplace(n, std::move(t));
  st.tensors.clear();
  for (const auto& e : entries) st.tensors.emplace_back(e.name, std::move(by_name[e.name]));
  return st;
}

SafeTensors read_safetensors(const std::string& path) {
  struct stat sb {};
  // By name first: a FIFO would block the open itself.
  VDSR_USER_CHECK(::stat(path.c_str(), &sb) == 0, path << ": cannot open: " << std::strerror(errno));
  VDSR_USER_CHECK(S_ISREG(sb.st_mode), path << ": is "
                                            << (S_ISDIR(sb.st_mode) ? "a folder" : not_a_file(path))
                                            << "; give a model file");
  // The size is the opened file's: a checkpoint that a run replaces between a stat by name and the
  // open (a reader beside vdsr_train) would be read to another file's length.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  VDSR_USER_CHECK(fd >= 0, path << ": cannot open: " << std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  VDSR_USER_CHECK(::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode),
                  path << ": cannot read: " << std::strerror(errno));
  std::vector<uint8_t> bytes(static_cast<size_t>(sb.st_size));
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::read(fd, bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    VDSR_USER_CHECK(n >= 0, path << ": reading failed: " << std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  VDSR_USER_CHECK(got == bytes.size(),
                  path << ": read " << got << " of " << bytes.size() << " bytes");
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> serialize_safetensors(const SafeTensors& st) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!st.metadata.empty()) {
    auto& meta = header["__metadata__"];
    meta = nlohmann::ordered_json::object();
    for (const auto& [k, v] : st.metadata) meta[k] = v;
  }
  std::set<std::string> names;
  uint64_t offset = 0;
  for (const auto& [name, t] : st.tensors) {
    check_tensor(name, t);
    VDSR_CHECK(names.insert(name).second, "duplicate tensor name '" << name << "'");
    nlohmann::ordered_json e;
    e["dtype"] = t.dtype;
    e["shape"] = t.shape;
    e["data_offsets"] = {offset, offset + t.data.size()};
    header[name] = std::move(e);
    offset += t.data.size();
  }
  std::string text = json_dump(header);
  text.append((8 - text.size() % 8) % 8, ' ');
  const uint64_t header_len = text.size();
  std::vector<uint8_t> out(8 + text.size() + offset);
  auto it = out.begin();
  for (int i = 0; i < 8; ++i) *it++ = static_cast<uint8_t>(header_len >> (8 * i));  // little-endian
  it = std::copy(text.begin(), text.end(), it);
  for (const auto& [name, t] : st.tensors) it = std::copy(t.data.begin(), t.data.end(), it);
  return out;
}

void write_safetensors(const std::string& path, const SafeTensors& st) {
  const auto bytes = serialize_safetensors(st);
  write_file_atomic(path, bytes.data(), bytes.size());
}

std::string tensors_digest(const SafeTensors& st) {
  uint64_t h = kDigestStart;
  for (const auto& [name, t] : st.tensors) {
    h = digest64(name.data(), name.size(), h);
    h = digest64(t.dtype.data(), t.dtype.size(), h);
    h = digest64(t.shape.data(), t.shape.size() * sizeof(int64_t), h);
    h = digest64(t.data.data(), t.data.size(), h);
  }
  char text[24];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(h));
  return text;
}

}  // namespace vdsr
