#include "model/mat_import.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "engine/error.h"

#ifdef VDSR_HAVE_MATIO
#include <zlib.h>

#include "model/matio_handles.h"
#endif

namespace vdsr {

int scale_from_file_name(const std::string& path) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  int scale = 0;
  bool two = false;  // srcnn_x2_x3.mat: which one is meant is not for us to guess
  for (size_t i = 0; i + 1 < name.size(); ++i) {
    const bool x = name[i] == 'x' || name[i] == 'X';
    const bool left = i == 0 || !std::isalnum(static_cast<unsigned char>(name[i - 1]));
    const bool right =
        i + 2 >= name.size() || !std::isalnum(static_cast<unsigned char>(name[i + 2]));
    if (x && left && right && name[i + 1] >= '2' && name[i + 1] <= '4') {
      two = two || (scale != 0 && scale != name[i + 1] - '0');
      scale = name[i + 1] - '0';
    }
  }
  return two ? 0 : scale;
}

bool is_matlab_file(const std::string& path) {
  // Only a regular file is opened: a FIFO would block here, before any message could say what it
  // is.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  char head[7] = {};
  return in.read(head, sizeof head) && std::memcmp(head, "MATLAB ", 7) == 0;
}

#ifdef VDSR_HAVE_MATIO

bool matlab_import_available() { return true; }

namespace {

void quiet_log(int, char*) {}  // matio's own messages would duplicate ours

// A v5 file's bytes with its byte order, for the walks below.
struct V5 {
  const unsigned char* b;
  size_t size;
  bool little;
  uint32_t u32(size_t at) const {
    return little ? uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24
                  : uint32_t(b[at + 3]) | uint32_t(b[at + 2]) << 8 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at]) << 24;
  }
};

// One data element inside [at, end): its type, byte count, where its data starts and where the next
// element starts (the 4-byte "small" form packs type and count in one word); false when it does
// not fit.
struct V5Tag {
  uint32_t type = 0, bytes = 0;
  size_t data = 0, next = 0;
};
bool read_tag(const V5& f, size_t at, size_t end, V5Tag* t) {
  if (end < at || end - at < 8) return false;
  const uint32_t w = f.u32(at);
  if (w >> 16 != 0) {  // small element: count in the upper half, data in the next 4 bytes
    t->type = w & 0xFFFF;
    t->bytes = w >> 16;
    t->data = at + 4;
    t->next = at + 8;
    return t->bytes <= 4;
  }
  t->type = w;
  t->bytes = f.u32(at + 4);
  t->data = at + 8;
  const size_t padded = (size_t(t->bytes) + 7) / 8 * 8;
  if (padded > end - t->data) return false;
  t->next = t->data + padded;
  return true;
}

// The bytes of one number of a v5 data type (miINT8 ... miUINT64); 0 for a type that holds none.
uint32_t element_size(uint32_t type) {
  switch (type) {
    case 1:
    case 2:
      return 1;  // miINT8, miUINT8
    case 3:
    case 4:
      return 2;  // miINT16, miUINT16
    case 5:
    case 6:
    case 7:
      return 4;  // miINT32, miUINT32, miSINGLE
    case 9:
    case 12:
    case 13:
      return 8;  // miDOUBLE, miINT64, miUINT64
    default:
      return 0;
  }
}

// A miMATRIX element's body [at, end) must be able to hold what its header declares
// before libmatio allocates for it (a damaged header made it ask for 12 GB, found by fuzzing):
// every cell and every struct field is an element of 8 bytes or more, and a numeric array's data
// holds exactly its numbers. Containers are walked to their leaves (a compressed variable's once
// inflated, check_v5_complete).
void check_v5_matrix(const V5& f, size_t at, size_t end, int depth, const std::string& path) {
  const auto damaged = [&](const std::string& why) {
    VDSR_USER_FAIL(path << ": damaged MATLAB file (the variable data at byte " << at << " " << why << ")");
  };  // never returns
  if (depth > 8) damaged("nests too deep");
  V5Tag flags, dims, name;
  if (!read_tag(f, at, end, &flags) || flags.bytes < 8 || !read_tag(f, flags.next, end, &dims) ||
      !read_tag(f, dims.next, end, &name))
    damaged("has an incomplete header");
  const uint32_t cls = f.u32(flags.data) & 0xFF;
  double nmemb = 1;
  for (uint32_t i = 0; i + 4 <= dims.bytes; i += 4) nmemb *= double(int32_t(f.u32(dims.data + i)));
  if (nmemb < 0) damaged("declares a negative dimension");
  const size_t body = name.next;
  const double room = double(end - body);
  constexpr uint32_t kCell = 1, kStruct = 2, kSparse = 5, kDouble = 6, kUint64 = 15, kMatrix = 14;
  uint64_t children = 0;
  size_t first = body;
  if (cls == kCell) {
    children = uint64_t(nmemb);
  } else if (cls == kStruct) {
    V5Tag len, names;
    if (!read_tag(f, body, end, &len) || !read_tag(f, len.next, end, &names)) damaged("has no field names");
    const uint32_t l = f.u32(len.data);
    const double fields = l > 0 ? double(names.bytes / l) : 0.0;
    if (nmemb * fields * 8 > room)
      damaged("declares " + std::to_string(uint64_t(nmemb)) + " x " + std::to_string(uint64_t(fields)) + " fields in " +
              std::to_string(uint64_t(room)) + " bytes");
    children = uint64_t(nmemb * fields);
    first = names.next;
  } else if (cls != kSparse && nmemb > room) {
    damaged("declares " + std::to_string(uint64_t(nmemb)) + " numbers in " + std::to_string(uint64_t(room)) + " bytes");
  } else if (cls >= kDouble && cls <= kUint64) {
    // A numeric array's real part must hold exactly the numbers its dimensions declare: libmatio
    // reads a shorter one without a word, the rest of the array then being whatever was in memory.
    // (MATLAB may store the numbers in a narrower type than the class: a double array as miUINT8.)
    V5Tag real;
    if (!read_tag(f, body, end, &real)) damaged("has no numbers");
    const uint32_t size = element_size(real.type);
    if (size == 0 || double(real.bytes) != nmemb * size)
      damaged("holds " + std::to_string(size == 0 ? 0 : real.bytes / size) +
              " numbers where its dimensions declare " + std::to_string(uint64_t(nmemb)));
  }
  if (cls == kCell && nmemb * 8 > room)
    damaged("declares " + std::to_string(uint64_t(nmemb)) + " cells in " + std::to_string(uint64_t(room)) + " bytes");
  for (uint64_t i = 0; i < children; ++i) {
    V5Tag child;
    if (!read_tag(f, first, end, &child) || child.type != kMatrix) damaged("has a missing or broken cell or field");
    check_v5_matrix(f, child.data, child.data + child.bytes, depth + 1, path);
    first = child.next;
  }
}

// A compressed variable (miCOMPRESSED: zlib) inflated and checked as an uncompressed one: libmatio
// inflates what the stream holds and leaves the rest of a declared array as it found the memory.
// The element's own tag (its first 8 bytes) says its size, at most kMaxInflated: one buffer of that
// size, as libmatio then allocates itself, and never more than the tag says (a zlib bomb stops).
constexpr uint64_t kMaxInflated = uint64_t(1) << 30;  // 134 M doubles: kMaxElements below
void check_v5_compressed(const V5& f, size_t at, size_t bytes, const std::string& path) {
  const auto damaged = [&](const std::string& why) {
    VDSR_USER_FAIL(path << ": damaged MATLAB file (the compressed variable at byte " << at - 8
                        << " " << why << ")");
  };
  z_stream z{};
  if (inflateInit(&z) != Z_OK) VDSR_FAIL("zlib: inflateInit failed");
  z.next_in = const_cast<unsigned char*>(f.b + at);
  z.avail_in = uInt(std::min<size_t>(bytes, UINT32_MAX));
  std::vector<unsigned char> out(8);
  int rc = Z_OK;
  const auto fill = [&](size_t from) {  // inflates into out[from, end)
    z.next_out = out.data() + from;
    z.avail_out = uInt(out.size() - from);
    while (rc == Z_OK && z.avail_out > 0) rc = inflate(&z, Z_NO_FLUSH);
    return z.avail_out == 0;
  };
  bool whole = fill(0);
  const uint64_t need = whole ? 8 + uint64_t(V5{out.data(), 8, f.little}.u32(4)) : 0;
  if (whole && need > kMaxInflated) {
    inflateEnd(&z);
    damaged("declares " + std::to_string(need) + " bytes, more than any model has");
  }
  if (whole) {
    out.resize(size_t(need));
    whole = fill(8);
  }
  inflateEnd(&z);
  if (!whole)
    damaged(rc == Z_STREAM_END || rc == Z_BUF_ERROR
                ? "inflates to an element cut short"
                : "does not inflate (zlib: " + std::to_string(rc) + ")");
  const V5 g{out.data(), out.size(), f.little};
  constexpr uint32_t kMatrix = 14;
  if (g.u32(0) == kMatrix) check_v5_matrix(g, 8, out.size(), 0, path);
}

// libmatio reads a v5 file cut short without a word (the missing values come back as whatever was
// in memory), so the top-level data elements are walked here first: each is an 8-byte tag (type,
// byte count) and its bytes, padded to 8 unless compressed; one running past the end is a
// truncated file. Uncompressed variables are checked against their declared sizes
// (check_v5_matrix). v7.3 files are HDF5, whose library checks itself.
void check_v5_complete(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  VDSR_USER_CHECK(in.good(), path << ": cannot read it");
  std::string bytes(size_t(std::max<std::streamoff>(0, in.tellg())), '\0');
  in.seekg(0);
  in.read(bytes.data(), std::streamsize(bytes.size()));
  VDSR_USER_CHECK(in.gcount() == std::streamsize(bytes.size()), path << ": reading it failed");
  VDSR_USER_CHECK(bytes.size() >= 128, path << ": truncated MATLAB file (" << bytes.size() << " bytes, the header needs 128)");
  const auto* b = reinterpret_cast<const unsigned char*>(bytes.data());
  const bool v5 = b[124] == 0x00 && b[125] == 0x01, little = b[126] == 'I' && b[127] == 'M';
  const bool big = b[126] == 'M' && b[127] == 'I';
  if (!v5 || (!little && !big)) return;  // v7.3 (HDF5) or not a v5 header: matio decides
  VDSR_USER_CHECK(bytes.size() > 128, path << ": truncated MATLAB file (its 128-byte header and no "
                                              "variables; cut short, or saved empty)");
  const V5 f{b, bytes.size(), little};
  constexpr uint32_t kCompressed = 15, kMatrix = 14;
  for (size_t at = 128; at < bytes.size();) {
    VDSR_USER_CHECK(bytes.size() - at >= 8, path << ": truncated MATLAB file (a partial element tag at byte " << at << ")");
    const uint32_t type = f.u32(at), n = f.u32(at + 4);
    // A variable is a matrix or a compressed one; any other tag here is damage, not a cut.
    VDSR_USER_CHECK(type == kMatrix || type == kCompressed,
                    path << ": damaged MATLAB file (at byte " << at
                         << ", where a variable starts, an element of type " << type
                         << ", neither a matrix (14) nor a compressed variable (15))");
    const size_t padded = type == kCompressed ? n : (size_t(n) + 7) / 8 * 8;
    VDSR_USER_CHECK(padded <= bytes.size() - at - 8,
                    path << ": truncated MATLAB file (a variable at byte " << at << " needs "
                         << padded << " bytes, the file ends " << bytes.size() - at - 8
                         << " bytes after its tag)");
    if (type == kMatrix) check_v5_matrix(f, at + 8, at + 8 + n, 0, path);
    if (type == kCompressed) check_v5_compressed(f, at + 8, n, path);
    at += 8 + padded;
  }
}

std::string dims_str(const matvar_t* v) {
  std::string s = "[";
  for (int i = 0; i < v->rank; ++i) s += (i ? ", " : "") + std::to_string(v->dims[i]);
  return s + "]";
}

// The values of a real single or double array, as float, in MATLAB's (column-major) order.
std::vector<float> numbers(const matvar_t* v, const std::string& file, const std::string& what) {
  VDSR_USER_CHECK(v->class_type == MAT_C_SINGLE || v->class_type == MAT_C_DOUBLE,
                  file << ": " << what << " is not a single or double array");
  VDSR_USER_CHECK(!v->isComplex, file << ": " << what << " is complex");
  size_t n = 1;
  for (int i = 0; i < v->rank; ++i) n *= v->dims[i];
  VDSR_USER_CHECK(v->data != nullptr || n == 0, file << ": " << what << " has no data (truncated?)");
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    const double x = v->class_type == MAT_C_SINGLE ? double(static_cast<const float*>(v->data)[i])
                                                   : static_cast<const double*>(v->data)[i];
    VDSR_USER_CHECK(std::isfinite(x), file << ": " << what << " holds a non-finite value at index " << i);
    out[i] = static_cast<float>(x);
    // A double beyond float's range would become inf (as a safetensors F64 tensor's is refused).
    VDSR_USER_CHECK(std::isfinite(out[i]), file << ": " << what << " holds " << x << " at index "
                                                << i << ", beyond the range of a 32-bit float");
  }
  return out;
}

// Before any data is read: the declared sizes of `model` and everything inside it, from
// Mat_VarReadInfo (headers only), must be those of a plausible model. A hostile header can declare
// dimensions whose product libmatio would try to allocate outright when reading.
constexpr double kMaxElements = 1 << 27;  // 134 M numbers, 200x the default VDSR's parameters

// `var`: the top-level variable's name, for the messages.
double declared_elements(matvar_t* v, const std::string& path, int depth, const std::string& var) {
  VDSR_USER_CHECK(v != nullptr && depth < 8,
                  path << ": '" << var << "' nests too deep or is incomplete");
  double n = 1;
  for (int i = 0; i < v->rank; ++i) n *= double(v->dims[i]);
  VDSR_USER_CHECK(v->rank >= 0 && v->rank <= 8 && n <= kMaxElements,
                  path << ": " << (depth == 0 ? "'" + var + "'" : "a variable in '" + var + "'")
                       << " declares " << n << " elements, more than any model has");
  if (v->class_type == MAT_C_CELL) {
    double sum = 0;
    for (size_t i = 0; i < size_t(n); ++i)
      sum += declared_elements(Mat_VarGetCell(v, int(i)), path, depth + 1, var);
    return sum;
  }
  if (v->class_type == MAT_C_STRUCT) {
    const unsigned fields = Mat_VarGetNumberOfFields(v);
    VDSR_USER_CHECK(double(fields) * n <= 64, path << ": '" << var << "' declares " << fields
                                                   << " fields x " << n << " elements");
    double sum = 0;
    for (size_t e = 0; e < size_t(n); ++e)
      for (unsigned f = 0; f < fields; ++f)
        sum += declared_elements(Mat_VarGetStructFieldByIndex(v, f, e), path, depth + 1, var);
    return sum;
  }
  return n;
}

// One SRCNN variable: declared size checked before it is read (as declared_elements does for VDSR),
// then read; a real double or single array.
MatVar read_srcnn_var(mat_t* mat, const std::string& path, const char* name) {
  {
    MatVar info(Mat_VarReadInfo(mat, name));
    VDSR_USER_CHECK(info != nullptr, path << ": no variable '" << name
                                          << "' (an SRCNN release has weights_conv1..3 and biases_conv1..3)");
    VDSR_USER_CHECK(info->class_type == MAT_C_SINGLE || info->class_type == MAT_C_DOUBLE,
                    path << ": '" << name << "' is not a single or double array");
    VDSR_USER_CHECK(declared_elements(info.get(), path, 0, name) <= kMaxElements,
                    path << ": '" << name << "' declares more numbers than any model has");
  }
  MatVar v(Mat_VarRead(mat, name));
  VDSR_USER_CHECK(v != nullptr, path << ": cannot read the variable '" << name << "' (damaged?)");
  return v;
}

size_t dim(const matvar_t* v, int i) { return i < v->rank ? v->dims[i] : 1; }

// k when n == k * k for an odd k in 1..15, else 0.
int odd_root(size_t n) {
  for (int k = 1; k <= 15; k += 2)
    if (size_t(k) * size_t(k) == n) return k;
  return 0;
}

// The SRCNN release layout (model/mat_import.h): weights_conv1 [f1^2, n1], weights_conv2
// [n1, f2^2, n2] (2-D [n1, n2] when f2 = 1), weights_conv3 [n2, f3^2], biases_conv* [n, 1]; each
// filter flattened column-major, so filter (r, s) is element r + f s of its column.
VdsrWeights load_srcnn(mat_t* mat, const std::string& path) {
  const MatVar w1 = read_srcnn_var(mat, path, "weights_conv1"), w2 = read_srcnn_var(mat, path, "weights_conv2"),
               w3 = read_srcnn_var(mat, path, "weights_conv3");
  const MatVar b1 = read_srcnn_var(mat, path, "biases_conv1"), b2 = read_srcnn_var(mat, path, "biases_conv2"),
               b3 = read_srcnn_var(mat, path, "biases_conv3");
  VDSR_USER_CHECK(w1->rank == 2 && w3->rank == 2 && (w2->rank == 2 || w2->rank == 3),
                  path << ": SRCNN weights of shapes " << dims_str(w1.get()) << ", " << dims_str(w2.get()) << ", "
                       << dims_str(w3.get()) << ", expected [f1^2, n1], [n1, f2^2, n2], [n2, f3^2]");
  const int f1 = odd_root(dim(w1.get(), 0)), f3 = odd_root(dim(w3.get(), 1));
  const size_t n1 = dim(w1.get(), 1), n2 = dim(w3.get(), 0);
  const int f2 = w2->rank == 2 ? 1 : odd_root(dim(w2.get(), 1));
  VDSR_USER_CHECK(f1 > 0, path << ": 'weights_conv1' has shape " << dims_str(w1.get())
                               << "; its rows must be f1^2 for an odd kernel size f1 up to 15");
  VDSR_USER_CHECK(f3 > 0, path << ": 'weights_conv3' has shape " << dims_str(w3.get())
                               << "; its columns must be f3^2 for an odd kernel size f3 up to 15");
  VDSR_USER_CHECK(f2 > 0 && dim(w2.get(), 0) == n1 && dim(w2.get(), w2->rank - 1) == n2,
                  path << ": 'weights_conv2' has shape " << dims_str(w2.get()) << ", expected [" << n1
                       << ", f2^2, " << n2 << "] (n1 from weights_conv1, n2 from weights_conv3)");
  VDSR_USER_CHECK(n1 >= 1 && n1 <= 4096 && n2 >= 1 && n2 <= 4096,
                  path << ": SRCNN widths " << n1 << " and " << n2 << " are out of range");
  VdsrWeights out;
  out.config = srcnn_config(f1, f2, f3, int(n1), int(n2), true);
  out.metadata = {{"source", path}, {"source_format", "matlab"}, {"arch", "srcnn"}};
  if (const int scale = scale_from_file_name(path)) out.metadata["scale"] = std::to_string(scale);
  const auto layers = layer_table(out.config);
  out.params.assign(size_t(param_count(out.config)), 0.0f);
  const matvar_t* wv[3] = {w1.get(), w2.get(), w3.get()};
  const matvar_t* bv[3] = {b1.get(), b2.get(), b3.get()};
  for (size_t i = 0; i < 3; ++i) {
    const LayerDesc& l = layers[i];
    const std::string wname = "'weights_conv" + std::to_string(i + 1) + "'";
    const std::vector<float> v = numbers(wv[i], path, wname);
    const int64_t taps = int64_t(l.R) * l.R;
    for (int64_t k = 0; k < l.K; ++k)
      for (int64_t c = 0; c < l.C; ++c)
        for (int64_t r = 0; r < l.R; ++r)
          for (int64_t s = 0; s < l.R; ++s) {
            const int64_t tap = r + l.R * s;  // column-major within the filter
            // Layer 1: [taps, K]; layer 2: [C, taps, K]; layer 3: [C, taps].
            const int64_t at = i == 0 ? tap + taps * k : i == 1 ? c + l.C * (tap + taps * k) : c + l.C * tap;
            out.params[size_t(l.w_offset + ((k * l.C + c) * l.R + r) * l.R + s)] = v[size_t(at)];
          }
    const std::string bname = "'biases_conv" + std::to_string(i + 1) + "'";
    const std::vector<float> b = numbers(bv[i], path, bname);
    VDSR_USER_CHECK(b.size() == size_t(l.K),
                    path << ": " << bname << " has shape " << dims_str(bv[i]) << ", expected " << l.K << " values");
    std::memcpy(out.params.data() + l.b_offset, b.data(), b.size() * sizeof(float));
  }
  return out;
}

}  // namespace

VdsrWeights load_matlab_weights(const std::string& path) {
  Mat_LogInitFunc("vdsr", quiet_log);
  check_v5_complete(path);
  MatFile mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  VDSR_USER_CHECK(mat != nullptr, path << ": cannot open it as a MATLAB .mat file (damaged, or a v7.3 file this "
                                          "libmatio cannot read)");
  if (MatVar srcnn(Mat_VarReadInfo(mat.get(), "weights_conv1")); srcnn != nullptr) {
    MatVar vdsr(Mat_VarReadInfo(mat.get(), "model"));
    VDSR_USER_CHECK(vdsr == nullptr,
                    path << ": holds both 'model' (a VDSR release's) and 'weights_conv1' (an SRCNN "
                            "release's): which model it is cannot be told; save one of them alone");
    return load_srcnn(mat.get(), path);
  }
  {
    MatVar info(Mat_VarReadInfo(mat.get(), "model"));
    // A v7.3 file is HDF5, which this check does not walk: one cut short or damaged shows here as
    // variables that are not found, so the message says it may be that.
    const bool hdf5 = Mat_GetVersion(mat.get()) == MAT_FT_MAT73;
    VDSR_USER_CHECK(info != nullptr,
                    path << ": no variable 'model' (the VDSR release's struct with the cell "
                            "arrays 'weight' and 'bias') nor 'weights_conv1' (SRCNN's)"
                         << (hdf5 ? "; or, a v7.3 (HDF5) file, it is damaged or cut short" : ""));
    VDSR_USER_CHECK(declared_elements(info.get(), path, 0, "model") <= kMaxElements,
                    path << ": 'model' declares more numbers than any model has");
  }
  MatVar model(Mat_VarRead(mat.get(), "model"));
  VDSR_USER_CHECK(model != nullptr, path << ": cannot read the variable 'model' (damaged?)");
  VDSR_USER_CHECK(model->class_type == MAT_C_STRUCT, path << ": 'model' is not a struct");
  matvar_t* weight = Mat_VarGetStructFieldByName(model.get(), "weight", 0);
  matvar_t* bias = Mat_VarGetStructFieldByName(model.get(), "bias", 0);
  VDSR_USER_CHECK(weight != nullptr && weight->class_type == MAT_C_CELL,
                  path << ": 'model.weight' is missing or not a cell array");
  VDSR_USER_CHECK(bias == nullptr || bias->class_type == MAT_C_CELL, path << ": 'model.bias' is not a cell array");
  size_t depth = 1;
  for (int i = 0; i < weight->rank; ++i) depth *= weight->dims[i];
  VDSR_USER_CHECK(depth >= 2 && depth <= 1000, path << ": 'model.weight' holds " << depth
                                                    << (depth == 1 ? " layer" : " layers")
                                                    << "; a VDSR model has 2 to 1000");
  if (bias != nullptr) {
    size_t biases = 1;
    for (int i = 0; i < bias->rank; ++i) biases *= bias->dims[i];
    VDSR_USER_CHECK(biases == depth, path << ": 'model.bias' holds " << biases
                                          << " cells and 'model.weight' " << depth
                                          << ": one bias a layer");
  }
  auto cell = [&](matvar_t* c, size_t i, const char* name) {
    matvar_t* v = Mat_VarGetCell(c, int(i));
    VDSR_USER_CHECK(v != nullptr, path << ": 'model." << name << "{" << i + 1 << "}' is missing");
    return v;
  };
  const matvar_t* w0 = cell(weight, 0, "weight");
  VDSR_USER_CHECK(w0->rank >= 2 && w0->dims[0] == 3 && w0->dims[1] == 3 && (w0->rank == 2 || w0->dims[2] == 1),
                  path << ": 'model.weight{1}' has shape " << dims_str(w0) << ", expected [3, 3, 1, channels]");
  VdsrWeights out;
  out.config.depth = int(depth);
  out.config.channels = w0->rank >= 4 ? int(w0->dims[3]) : 1;
  out.config.bias = bias != nullptr;
  out.metadata = {{"source", path}, {"source_format", "matlab"}};
  const auto layers = layer_table(out.config);
  out.params.assign(size_t(param_count(out.config)), 0.0f);
  for (size_t i = 0; i < depth; ++i) {
    const LayerDesc& l = layers[i];
    const matvar_t* w = cell(weight, i, "weight");
    // [3, 3, C, K], trailing 1s dropped by MATLAB (the last layer: [3, 3, C]; the first: [3, 3, 1, K]).
    size_t dims[4] = {1, 1, 1, 1};
    VDSR_USER_CHECK(w->rank <= 4, path << ": 'model.weight{" << i + 1 << "}' has " << w->rank << " dimensions");
    for (int d = 0; d < w->rank; ++d) dims[d] = w->dims[d];
    VDSR_USER_CHECK(dims[0] == 3 && dims[1] == 3 && dims[2] == size_t(l.C) && dims[3] == size_t(l.K),
                    path << ": 'model.weight{" << i + 1 << "}' has shape " << dims_str(w) << ", expected [3, 3, "
                         << l.C << ", " << l.K << "] (layer " << i + 1 << " of " << depth << ")");
    const std::vector<float> v = numbers(w, path, "'model.weight{" + std::to_string(i + 1) + "}'");
    for (int k = 0; k < l.K; ++k)
      for (int c = 0; c < l.C; ++c)
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s)
            out.params[size_t(l.w_offset + ((int64_t(k) * l.C + c) * 3 + r) * 3 + s)] =
                v[size_t(r + 3 * (s + 3 * (c + int64_t(l.C) * k)))];
    if (bias == nullptr) continue;
    const matvar_t* b = cell(bias, i, "bias");
    const std::vector<float> bv = numbers(b, path, "'model.bias{" + std::to_string(i + 1) + "}'");
    VDSR_USER_CHECK(bv.size() == size_t(l.K), path << ": 'model.bias{" << i + 1 << "}' has shape " << dims_str(b)
                                                   << ", expected " << l.K << " values");
    std::memcpy(out.params.data() + l.b_offset, bv.data(), bv.size() * sizeof(float));
  }
  return out;
}

#else

bool matlab_import_available() { return false; }

VdsrWeights load_matlab_weights(const std::string& path) {
  VDSR_USER_FAIL(path << " is a MATLAB .mat file, and this build reads none: install libmatio (Debian: "
                         "libmatio-dev, which ./setup.sh installs) and rebuild, or convert the model elsewhere");
}

#endif

}  // namespace vdsr
