#include "model/mat_import.h"

#include <cmath>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <memory>
#include <vector>

#include "engine/error.h"

#ifdef VDSR_HAVE_MATIO
#include <matio.h>
#endif

namespace vdsr {

bool is_matlab_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[7] = {};
  return in.read(head, sizeof head) && std::memcmp(head, "MATLAB ", 7) == 0;
}

#ifdef VDSR_HAVE_MATIO

bool matlab_import_available() { return true; }

namespace {

struct MatCloser {
  void operator()(mat_t* m) const { Mat_Close(m); }
};
struct VarFreer {
  void operator()(matvar_t* v) const { Mat_VarFree(v); }
};
using MatFile = std::unique_ptr<mat_t, MatCloser>;
using MatVar = std::unique_ptr<matvar_t, VarFreer>;

void quiet_log(int, char*) {}  // matio's own messages would duplicate ours

// libmatio reads a v5 file cut short without a word (the missing values come back as whatever was
// in memory), so the top-level data elements are walked here first: each is an 8-byte tag (type,
// byte count) and its bytes, padded to 8 unless compressed; one running past the end is a
// truncated file. v7.3 files are HDF5, whose library checks itself.
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
  auto u32 = [&](size_t at) {
    return little ? uint32_t(b[at]) | uint32_t(b[at + 1]) << 8 | uint32_t(b[at + 2]) << 16 | uint32_t(b[at + 3]) << 24
                  : uint32_t(b[at + 3]) | uint32_t(b[at + 2]) << 8 | uint32_t(b[at + 1]) << 16 | uint32_t(b[at]) << 24;
  };
  constexpr uint32_t kCompressed = 15;
  for (size_t at = 128; at < bytes.size();) {
    VDSR_USER_CHECK(bytes.size() - at >= 8, path << ": truncated MATLAB file (a partial element tag at byte " << at << ")");
    const uint32_t type = u32(at), n = u32(at + 4);
    const size_t padded = type == kCompressed ? n : (size_t(n) + 7) / 8 * 8;
    VDSR_USER_CHECK(padded <= bytes.size() - at - 8,
                    path << ": truncated MATLAB file (a variable at byte " << at << " needs " << n
                         << " bytes, the file ends " << bytes.size() - at - 8 << " bytes after its tag)");
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
  }
  return out;
}

// Before any data is read: the declared sizes of `model` and everything inside it, from
// Mat_VarReadInfo (headers only), must be those of a plausible model. A hostile header can declare
// dimensions whose product libmatio would try to allocate outright when reading.
constexpr double kMaxElements = 1 << 27;  // 134 M numbers, 200x the default VDSR's parameters

double declared_elements(matvar_t* v, const std::string& path, int depth) {
  VDSR_USER_CHECK(v != nullptr && depth < 8, path << ": 'model' nests too deep or is incomplete");
  double n = 1;
  for (int i = 0; i < v->rank; ++i) n *= double(v->dims[i]);
  VDSR_USER_CHECK(v->rank >= 0 && v->rank <= 8 && n <= kMaxElements,
                  path << ": a variable in 'model' declares " << n << " elements, more than any model has");
  if (v->class_type == MAT_C_CELL) {
    double sum = 0;
    for (size_t i = 0; i < size_t(n); ++i) sum += declared_elements(Mat_VarGetCell(v, int(i)), path, depth + 1);
    return sum;
  }
  if (v->class_type == MAT_C_STRUCT) {
    const unsigned fields = Mat_VarGetNumberOfFields(v);
    VDSR_USER_CHECK(double(fields) * n <= 64, path << ": 'model' declares " << fields << " fields x " << n << " elements");
    double sum = 0;
    for (size_t e = 0; e < size_t(n); ++e)
      for (unsigned f = 0; f < fields; ++f) sum += declared_elements(Mat_VarGetStructFieldByIndex(v, f, e), path, depth + 1);
    return sum;
  }
  return n;
}

}  // namespace

VdsrWeights load_matlab_weights(const std::string& path) {
  Mat_LogInitFunc("vdsr", quiet_log);
  check_v5_complete(path);
  MatFile mat(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  VDSR_USER_CHECK(mat != nullptr, path << ": cannot open it as a MATLAB .mat file (damaged, or a v7.3 file this "
                                          "libmatio cannot read)");
  MatVar srcnn(Mat_VarReadInfo(mat.get(), "weights_conv1"));
  VDSR_USER_CHECK(srcnn == nullptr, path << " is an SRCNN model (weights_conv1, ...); SRCNN inference is not "
                                            "supported yet");
  {
    MatVar info(Mat_VarReadInfo(mat.get(), "model"));
    VDSR_USER_CHECK(info != nullptr, path << ": no variable 'model' (the VDSR release's struct with the cell "
                                             "arrays 'weight' and 'bias')");
    VDSR_USER_CHECK(declared_elements(info.get(), path, 0) <= kMaxElements,
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
  VDSR_USER_CHECK(depth >= 2 && depth <= 1000, path << ": 'model.weight' has " << depth << " layers");
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
