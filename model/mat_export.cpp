#include "model/mat_export.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "engine/log.h"
#include "model/mat_import.h"
#include "model/model_files.h"

#ifdef VDSR_HAVE_MATIO
#include "model/matio_handles.h"
#endif

namespace vdsr {

#ifdef VDSR_HAVE_MATIO

bool matlab_export_available() { return true; }

namespace {

// The SRCNN release layout has no place for the scale, which is read back from the file name, and
// always holds biases: a name with another scale's token is refused, one without a token and a
// model without biases (written as zeros) are said.
void check_srcnn_file(const std::string& path, const VdsrWeights& w) {
  if (w.config.arch != Arch::Srcnn) return;
  const int scale = model_scale(w), named = scale_from_file_name(path);
  VDSR_USER_CHECK(
      scale <= 0 || named == 0 || named == scale,
      printable(path)
          << ": its name says x" << named << ", but this is the SRCNN model for x" << scale
          << "; name it with x" << scale
          << " (the .mat layout has no place for the scale, so it is read from the name)");
  if (scale > 0 && named == 0)
    log_warning(printable(path) +
                ": the .mat layout has no place for the scale, which is read back from the "
                "file name: name it with x" +
                std::to_string(scale) + " (e.g. srcnn_x" + std::to_string(scale) +
                ".mat) so that it is used at x" + std::to_string(scale) + " only");
  if (!w.config.bias)
    log_warning(printable(path) +
                ": the SRCNN release layout always holds biases: they are written as zeros (the "
                "same outputs; "
                "read back, the model has biases of 0)");
}

// One numeric array in the options' class, column-major `values` of shape `dims`.
matvar_t* numeric(const char* name, const std::vector<size_t>& dims, const std::vector<float>& values,
                  const MatWriteOptions& opt) {
  // libmatio copies the data (no MAT_F_DONT_COPY_DATA), so the vectors may go after the call.
  std::vector<size_t> d = dims;
  if (opt.values == MatWriteOptions::Values::Double) {
    const std::vector<double> v(values.begin(), values.end());
    return Mat_VarCreate(name, MAT_C_DOUBLE, MAT_T_DOUBLE, int(d.size()), d.data(), const_cast<double*>(v.data()), 0);
  }
  return Mat_VarCreate(name, MAT_C_SINGLE, MAT_T_SINGLE, int(d.size()), d.data(), const_cast<float*>(values.data()), 0);
}

// Layer l's weights as MATLAB indexes them: element `at(k, c, r, s)` of the array is wt[k][c][r][s].
template <class At>
std::vector<float> reorder(const VdsrWeights& w, const LayerDesc& l, size_t n, At at) {
  std::vector<float> v(n);
  for (int64_t k = 0; k < l.K; ++k)
    for (int64_t c = 0; c < l.C; ++c)
      for (int64_t r = 0; r < l.R; ++r)
        for (int64_t s = 0; s < l.R; ++s)
          v[size_t(at(k, c, r, s))] = w.params[size_t(l.w_offset + ((k * l.C + c) * l.R + r) * l.R + s)];
  return v;
}

bool write_vdsr(mat_t* mat, const VdsrWeights& w, const MatWriteOptions& opt, matio_compression comp) {
  const auto layers = layer_table(w.config);
  size_t cell_dims[2] = {1, layers.size()};
  MatVar wcell(Mat_VarCreate("weight", MAT_C_CELL, MAT_T_CELL, 2, cell_dims, nullptr, 0));
  MatVar bcell(w.config.bias ? Mat_VarCreate("bias", MAT_C_CELL, MAT_T_CELL, 2, cell_dims, nullptr, 0) : nullptr);
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerDesc& l = layers[i];
    const std::vector<float> v = reorder(w, l, size_t(l.weight_elems()), [&](int64_t k, int64_t c, int64_t r, int64_t s) {
      return r + 3 * (s + 3 * (c + l.C * k));
    });
    // MATLAB drops trailing singleton dimensions: the last layer's [3, 3, C, 1] is [3, 3, C].
    std::vector<size_t> dims = {3, 3, size_t(l.C), size_t(l.K)};
    if (l.K == 1) dims.pop_back();
    Mat_VarSetCell(wcell.get(), int(i), numeric(nullptr, dims, v, opt));
    if (bcell)
      Mat_VarSetCell(bcell.get(), int(i),
                     numeric(nullptr, {size_t(l.K), 1}, layer_biases(w, l), opt));
  }
  const char* fields[2] = {"weight", "bias"};
  size_t one[2] = {1, 1};
  MatVar model(Mat_VarCreateStruct("model", 2, one, fields, bcell ? 2 : 1));
  Mat_VarSetStructFieldByName(model.get(), "weight", 0, wcell.release());  // the struct owns them now
  if (bcell) Mat_VarSetStructFieldByName(model.get(), "bias", 0, bcell.release());
  return Mat_VarWrite(mat, model.get(), comp) == 0;
}

bool write_srcnn(mat_t* mat, const VdsrWeights& w, const MatWriteOptions& opt, matio_compression comp) {
  const auto layers = layer_table(w.config);
  bool ok = true;
  for (size_t i = 0; i < 3; ++i) {
    const LayerDesc& l = layers[i];
    const size_t taps = size_t(l.R) * size_t(l.R);
    // Each filter flattened column-major (tap r + R s); layer 1 [taps, K], layer 2 [C, taps, K]
    // ([C, K] when R = 1), layer 3 [C, taps].
    std::vector<size_t> dims = i == 0 ? std::vector<size_t>{taps, size_t(l.K)}
                               : i == 1 ? (taps == 1 ? std::vector<size_t>{size_t(l.C), size_t(l.K)}
                                                     : std::vector<size_t>{size_t(l.C), taps, size_t(l.K)})
                                        : std::vector<size_t>{size_t(l.C), taps};
    const std::vector<float> v = reorder(w, l, size_t(l.weight_elems()), [&](int64_t k, int64_t c, int64_t r, int64_t s) {
      const int64_t tap = r + l.R * s;
      return i == 0 ? tap + int64_t(taps) * k : i == 1 ? c + l.C * (tap + int64_t(taps) * k) : c + l.C * tap;
    });
    const std::string wname = "weights_conv" + std::to_string(i + 1), bname = "biases_conv" + std::to_string(i + 1);
    MatVar wv(numeric(wname.c_str(), dims, v, opt)),
        bv(numeric(bname.c_str(), {size_t(l.K), 1}, layer_biases(w, l), opt));
    ok = ok && wv && bv && Mat_VarWrite(mat, wv.get(), comp) == 0 && Mat_VarWrite(mat, bv.get(), comp) == 0;
  }
  return ok;
}

}  // namespace

void save_matlab_weights(const std::string& path, const VdsrWeights& w, const MatWriteOptions& opt) {
  check_srcnn_file(path, w);
  // libmatio writes to a path we name, creating it without O_EXCL; it writes into a folder of our
  // own (mkdtemp: a fresh name, mode 0700, beside the target), whose file's bytes then go to `path`
  // atomically. Both are removed however this ends, a fatal signal included.
  std::string dir_template = temporary_beside(path, ".matio.XXXXXX");
  VDSR_USER_CHECK(
      ::mkdtemp(dir_template.data()) != nullptr,
      printable(path) << ": cannot make a temporary folder beside it: " << std::strerror(errno));
  const std::string dir = dir_template, tmp = dir + "/model.mat";
  struct Remove {
    const std::string &dir, &file;
    int dir_slot, file_slot;
    ~Remove() {
      std::remove(file.c_str());
      ::rmdir(dir.c_str());
      untrack_temporary(file_slot);
      untrack_temporary(dir_slot);
    }
  } remove_tmp{dir, tmp, track_temporary(dir), track_temporary(tmp)};
  bool ok = false;
  {
    MatFile mat(Mat_CreateVer(tmp.c_str(), nullptr, opt.v73 ? MAT_FT_MAT73 : MAT_FT_MAT5));
    VDSR_USER_CHECK(mat != nullptr, printable(path) << ": cannot write a MATLAB " << (opt.v73 ? "7.3" : "v5")
                                                    << " file there" << (opt.v73 ? " (this libmatio may lack HDF5)" : ""));
    const matio_compression comp = opt.compress ? MAT_COMPRESSION_ZLIB : MAT_COMPRESSION_NONE;
    const bool srcnn = w.config.arch == Arch::Srcnn;
    MatWriteOptions o = opt;
    if (o.values == MatWriteOptions::Values::AsRelease)
      o.values = srcnn ? MatWriteOptions::Values::Double : MatWriteOptions::Values::Single;
    ok = srcnn ? write_srcnn(mat.get(), w, o, comp) : write_vdsr(mat.get(), w, o, comp);
  }
  VDSR_USER_CHECK(ok, printable(path) << ": libmatio could not write the model (disk full?)");
  // libmatio does not check all its own writes (a full disk, a file-size limit left a file cut
  // short, and success): the file must read back as exactly these weights.
  bool same = false;
  try {
    const VdsrWeights back = load_matlab_weights(tmp);
    same = same_network(w, back);
  } catch (const Error&) {
  }
  VDSR_USER_CHECK(same, printable(path) << ": writing it failed: the file libmatio wrote does not "
                                           "read back as the model (the disk full, or a file-size "
                                           "limit?)");
  std::ifstream in(tmp, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  VDSR_USER_CHECK(in.good() || in.eof(), printable(path) << ": cannot read back the file libmatio wrote");
  write_file_atomic(path, bytes.data(), bytes.size());
}

#else

bool matlab_export_available() { return false; }

void save_matlab_weights(const std::string& path, const VdsrWeights&, const MatWriteOptions&) {
  VDSR_USER_FAIL(printable(path) << ": this build writes no MATLAB .mat files: install libmatio (Debian: "
                                    "libmatio-dev, which ./setup.sh installs) and rebuild");
}

#endif

}  // namespace vdsr
