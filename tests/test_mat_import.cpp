// MATLAB .mat models (model/mat_import.h): the VDSR release's MatConvNet layout written here with
// libmatio itself (v5 plain and compressed, single and double; v7.3 when this libmatio can), loaded
// into our layout bit for bit and run; files that are not models refused with the file and the
// variable named; vdsr_convert with the source's sha256; SHA-256 test vectors. Writing
// (model/mat_export.h): the same layout as this file's own writer, variable for variable; the
// authors' SRCNN release written back as it came; vdsr_convert IN OUT.mat, and the scratch it
// leaves none of when a signal ends it mid-write.
#include <sys/wait.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "engine/error.h"
#include "io/safetensors.h"
#include "io/sha256.h"
#include "model/mat_export.h"
#include "model/mat_import.h"
#include "model/vdsr.h"
#include "model/weights_io.h"
#include "tests/support/test_support.h"

#ifdef VDSR_HAVE_MATIO
#include <matio.h>
#include <zlib.h>
#endif

namespace fs = std::filesystem;
using namespace vdsr;
using test::bin;
using test::run_command;

TEST_CASE("SHA-256 test vectors") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex(std::string(1000000, 'a')) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

#ifdef VDSR_HAVE_MATIO

namespace {

// Writes `params` (our layout) as the VDSR release does: struct `model`, cells `weight` {[3,3,C,K]}
// (the last [3,3,C]) and `bias` {[K,1]}, in `cls` (single or double).
bool write_vdsr_mat(const std::string& path, const VdsrConfig& cfg, const std::vector<float>& params,
                    matio_classes cls, mat_ft version, matio_compression compression) {
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, version);
  if (mat == nullptr) return false;
  const auto layers = layer_table(cfg);
  size_t cell_dims[2] = {1, layers.size()};
  matvar_t* wcell = Mat_VarCreate("weight", MAT_C_CELL, MAT_T_CELL, 2, cell_dims, nullptr, 0);
  matvar_t* bcell = Mat_VarCreate("bias", MAT_C_CELL, MAT_T_CELL, 2, cell_dims, nullptr, 0);
  const matio_types type = cls == MAT_C_SINGLE ? MAT_T_SINGLE : MAT_T_DOUBLE;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerDesc& l = layers[i];
    std::vector<float> wf(size_t(l.K) * l.C * 9);
    for (int k = 0; k < l.K; ++k)
      for (int c = 0; c < l.C; ++c)
        for (int r = 0; r < 3; ++r)
          for (int s = 0; s < 3; ++s)
            wf[size_t(r + 3 * (s + 3 * (c + l.C * k)))] = params[size_t(l.w_offset + ((k * l.C + c) * 3 + r) * 3 + s)];
    std::vector<double> wd(wf.begin(), wf.end());
    size_t wdims[4] = {3, 3, size_t(l.C), size_t(l.K)};
    const int wrank = l.K == 1 ? 3 : 4;  // MATLAB drops trailing singleton dimensions
    void* wdata = cls == MAT_C_SINGLE ? static_cast<void*>(wf.data()) : static_cast<void*>(wd.data());
    Mat_VarSetCell(wcell, int(i), Mat_VarCreate(nullptr, cls, type, wrank, wdims, wdata, 0));
    std::vector<float> bf(params.begin() + l.b_offset, params.begin() + l.b_offset + l.K);
    std::vector<double> bd(bf.begin(), bf.end());
    size_t bdims[2] = {size_t(l.K), 1};
    void* bdata = cls == MAT_C_SINGLE ? static_cast<void*>(bf.data()) : static_cast<void*>(bd.data());
    Mat_VarSetCell(bcell, int(i), Mat_VarCreate(nullptr, cls, type, 2, bdims, bdata, 0));
  }
  const char* fields[2] = {"weight", "bias"};
  size_t one[2] = {1, 1};
  matvar_t* model = Mat_VarCreateStruct("model", 2, one, fields, 2);
  Mat_VarSetStructFieldByName(model, "weight", 0, wcell);
  Mat_VarSetStructFieldByName(model, "bias", 0, bcell);
  const bool ok = Mat_VarWrite(mat, model, compression) == 0;
  Mat_VarFree(model);
  Mat_Close(mat);
  return ok;
}

// He-initialised parameters of `cfg` (biases 0).
std::vector<float> he_params(const VdsrConfig& cfg, uint64_t seed) {
  Vdsr m(cfg);
  m.init_he(seed);
  return m.weights().params;
}

// A .mat file holding one double array named `name`.
void write_array(const std::string& path, const char* name, std::vector<size_t> dims) {
  mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
  REQUIRE(mat != nullptr);
  size_t n = 1;
  for (const size_t d : dims) n *= d;
  std::vector<double> v(n, 0.5);
  matvar_t* var = Mat_VarCreate(name, MAT_C_DOUBLE, MAT_T_DOUBLE, int(dims.size()), dims.data(), v.data(), 0);
  Mat_VarWrite(mat, var, MAT_COMPRESSION_NONE);
  Mat_VarFree(var);
  Mat_Close(mat);
}

}  // namespace

TEST_CASE("a VDSR .mat in the release's layout loads bit for bit and runs as the same model") {
  const VdsrConfig cfg{5, 8, true};
  Vdsr ref(cfg);
  ref.init_he(21);
  std::vector<float> params = ref.weights().params;
  for (const auto& l : layer_table(cfg))
    for (int k = 0; k < l.K; ++k) params[size_t(l.b_offset + k)] = 0.01f * float(k - 3);  // biases matter
  ref.set_params(params);
  const std::string dir = test::temp_dir("mat_vdsr");
  int written = 0;
  for (const matio_classes cls : {MAT_C_SINGLE, MAT_C_DOUBLE})
    for (const mat_ft version : {MAT_FT_MAT5, MAT_FT_MAT73})
      for (const matio_compression comp : {MAT_COMPRESSION_NONE, MAT_COMPRESSION_ZLIB}) {
        const std::string path = dir + "/m" + std::to_string(written) + ".mat";
        if (!write_vdsr_mat(path, cfg, params, cls, version, comp)) {
          WARN("this libmatio cannot write " << (version == MAT_FT_MAT73 ? "v7.3" : "v5") << " files: not tried");
          continue;
        }
        INFO((cls == MAT_C_SINGLE ? "single" : "double") << ", " << (version == MAT_FT_MAT73 ? "v7.3" : "v5")
                                                        << (comp == MAT_COMPRESSION_ZLIB ? ", compressed" : ""));
        REQUIRE(is_matlab_file(path));
        const VdsrWeights w = load_weights(path);
        CHECK(w.config == cfg);
        CHECK(w.params == params);
        ++written;
        if (version == MAT_FT_MAT73 && comp == MAT_COMPRESSION_NONE && cls == MAT_C_SINGLE) {
          // HDF5 cut in half: libmatio finds no variables; the message says the file may be
          // damaged.
          const std::string bytes = test::file_bytes(path);
          std::ofstream(dir + "/cut73.mat", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
          CHECK_THAT(test::error_of([&] { load_weights(dir + "/cut73.mat"); }),
                     Catch::Contains("cut73.mat") &&
                         (Catch::Contains("a v7.3 (HDF5) file, it is damaged or cut short") ||
                          Catch::Contains("cannot open it as a MATLAB .mat file")));
        }
      }
  CHECK(written >= 4);  // v5 at least: both classes, both compressions
  // The loaded model computes what the original does.
  Vdsr loaded(cfg);
  loaded.set_params(load_weights(dir + "/m0.mat").params);
  const auto x = test::random_floats(2 * 13 * 11, 0.0f, 1.0f, 3);
  std::vector<float> a(x.size()), b(x.size());
  ref.forward(2, 13, 11, x.data(), a.data());
  loaded.forward(2, 13, 11, x.data(), b.data());
  CHECK(a == b);
}

TEST_CASE(".mat files that are not a VDSR model are refused, naming the file and the variable") {
  const std::string dir = test::temp_dir("mat_bad");
  const VdsrConfig cfg{3, 4, true};
  const auto params = he_params(cfg, 1);
  REQUIRE(write_vdsr_mat(dir + "/good.mat", cfg, params, MAT_C_SINGLE, MAT_FT_MAT5, MAT_COMPRESSION_NONE));
  auto error = [](const std::string& path) { return test::error_of([&] { load_weights(path); }); };
  write_array(dir + "/other.mat", "something", {3, 3});
  CHECK_THAT(error(dir + "/other.mat"), Catch::Contains(dir + "/other.mat: no variable 'model'"));
  write_array(dir + "/notstruct.mat", "model", {2, 2});
  CHECK_THAT(error(dir + "/notstruct.mat"), Catch::Contains("'model' is not a struct"));
  write_array(dir + "/srcnn.mat", "weights_conv1", {81, 64});
  CHECK_THAT(error(dir + "/srcnn.mat"), Catch::Contains(dir + "/srcnn.mat: no variable 'weights_conv2'"));
  // A layer of the wrong shape: a 4-channel model whose second layer claims 5 input channels.
  {
    mat_t* mat = Mat_CreateVer((dir + "/mixed.mat").c_str(), nullptr, MAT_FT_MAT5);
    size_t cd[2] = {1, 3};
    matvar_t* cell = Mat_VarCreate("weight", MAT_C_CELL, MAT_T_CELL, 2, cd, nullptr, 0);
    std::vector<double> w0(36, 0.1), w1(3 * 3 * 5 * 4, 0.1), w2(3 * 3 * 4, 0.1);
    size_t d0[4] = {3, 3, 1, 4}, d1[4] = {3, 3, 5, 4}, d2[3] = {3, 3, 4};
    Mat_VarSetCell(cell, 0, Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 4, d0, w0.data(), 0));
    Mat_VarSetCell(cell, 1, Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 4, d1, w1.data(), 0));
    Mat_VarSetCell(cell, 2, Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 3, d2, w2.data(), 0));
    const char* fields[1] = {"weight"};
    size_t one[2] = {1, 1};
    matvar_t* model = Mat_VarCreateStruct("model", 2, one, fields, 1);
    Mat_VarSetStructFieldByName(model, "weight", 0, cell);
    Mat_VarWrite(mat, model, MAT_COMPRESSION_NONE);
    Mat_VarFree(model);
    Mat_Close(mat);
  }
  CHECK_THAT(error(dir + "/mixed.mat"), Catch::Contains("'model.weight{2}' has shape [3, 3, 5, 4], expected [3, 3, 4, 4]"));
  // A model struct of `weights` layers and `biases` bias cells, every value 0.1.
  auto write_cells = [&](const std::string& path, int weights, int biases, bool column = false) {
    mat_t* mat = Mat_CreateVer(path.c_str(), nullptr, MAT_FT_MAT5);
    REQUIRE(mat != nullptr);
    size_t wd[2] = {1, size_t(weights)}, bd[2] = {1, size_t(biases)};
    if (column) std::swap(bd[0], bd[1]);
    matvar_t* wc = Mat_VarCreate("weight", MAT_C_CELL, MAT_T_CELL, 2, wd, nullptr, 0);
    matvar_t* bc = Mat_VarCreate("bias", MAT_C_CELL, MAT_T_CELL, 2, bd, nullptr, 0);
    std::vector<double> w(36, 0.1), b(4, 0.1);
    for (int i = 0; i < weights; ++i) {
      size_t d[4] = {3, 3, 1, 4};
      Mat_VarSetCell(wc, i, Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 4, d, w.data(), 0));
    }
    for (int i = 0; i < biases; ++i) {
      size_t d[2] = {4, 1};
      Mat_VarSetCell(bc, i, Mat_VarCreate(nullptr, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d, b.data(), 0));
    }
    const char* fields[2] = {"weight", "bias"};
    size_t one[2] = {1, 1};
    matvar_t* model = Mat_VarCreateStruct("model", 2, one, fields, 2);
    Mat_VarSetStructFieldByName(model, "weight", 0, wc);
    Mat_VarSetStructFieldByName(model, "bias", 0, bc);
    Mat_VarWrite(mat, model, MAT_COMPRESSION_NONE);
    Mat_VarFree(model);
    Mat_Close(mat);
  };
  write_cells(dir + "/one.mat", 1, 1);
  CHECK_THAT(error(dir + "/one.mat"),
             Catch::Contains("'model.weight' holds 1 layer; a VDSR model has 2 to 1000"));
  write_cells(dir + "/counts.mat", 3, 4);
  CHECK_THAT(error(dir + "/counts.mat"),
             Catch::Contains("'model.bias' holds 4 cells and 'model.weight' 3: one bias a layer"));
  // Fewer bias cells than layers are counted too (not left to a missing cell), and a column of
  // cells (4 x 1) counts as a row does.
  write_cells(dir + "/fewer.mat", 3, 2);
  CHECK_THAT(error(dir + "/fewer.mat"),
             Catch::Contains("'model.bias' holds 2 cells and 'model.weight' 3: one bias a layer"));
  write_cells(dir + "/column.mat", 3, 4, true);
  CHECK_THAT(error(dir + "/column.mat"),
             Catch::Contains("'model.bias' holds 4 cells and 'model.weight' 3: one bias a layer"));
  // A VDSR model with a stray SRCNN variable beside it: which one was meant is not guessed.
  {
    REQUIRE(write_vdsr_mat(dir + "/both.mat", cfg, params, MAT_C_SINGLE, MAT_FT_MAT5,
                           MAT_COMPRESSION_NONE));
    mat_t* mat = Mat_Open((dir + "/both.mat").c_str(), MAT_ACC_RDWR);
    REQUIRE(mat != nullptr);
    size_t d[2] = {81, 4};
    std::vector<double> v(81 * 4, 0.5);
    matvar_t* var = Mat_VarCreate("weights_conv1", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d, v.data(), 0);
    Mat_VarWrite(mat, var, MAT_COMPRESSION_NONE);
    Mat_VarFree(var);
    Mat_Close(mat);
  }
  CHECK_THAT(error(dir + "/both.mat"),
             Catch::Contains("holds both 'model' (a VDSR release's) and 'weights_conv1'"));
  // A damaged tag where the first variable starts (miMATRIX, 14, made 15 + 64 = 79) is named as
  // damage, not as a cut whose sizes contradict each other.
  {
    std::string bytes = test::file_bytes(dir + "/good.mat");
    REQUIRE(bytes[128] == 14);
    bytes[128] = 79;
    std::ofstream(dir + "/tag.mat", std::ios::binary) << bytes;
  }
  CHECK_THAT(error(dir + "/tag.mat"),
             Catch::Contains("damaged MATLAB file (at byte 128, where a variable starts, an "
                             "element of type 79"));
  // A data type's tag there (miINT8, 1: a valid element, but no variable) is damage too.
  {
    std::string bytes = test::file_bytes(dir + "/good.mat");
    bytes[128] = 1;
    std::ofstream(dir + "/tag1.mat", std::ios::binary) << bytes;
  }
  CHECK_THAT(error(dir + "/tag1.mat"),
             Catch::Contains("damaged MATLAB file (at byte 128, where a variable starts, an "
                             "element of type 1, neither a matrix (14) nor a compressed variable "
                             "(15))"));
  // Truncated, plain or compressed, by a little or a lot: a refusal naming the file, never a crash
  // and never the missing values read as garbage (libmatio alone would load a file cut by 1 byte).
  REQUIRE(write_vdsr_mat(dir + "/good_z.mat", cfg, params, MAT_C_SINGLE, MAT_FT_MAT5, MAT_COMPRESSION_ZLIB));
  for (const char* name : {"/good.mat", "/good_z.mat"}) {
    const std::string bytes = test::file_bytes(dir + name);
    for (const size_t keep : {size_t(100), size_t(128), bytes.size() / 2, bytes.size() - 8, bytes.size() - 1}) {
      INFO(name << " cut to " << keep << " of " << bytes.size() << " bytes");
      std::ofstream(dir + "/cut.mat", std::ios::binary | std::ios::trunc) << bytes.substr(0, keep);
      CHECK_THAT(error(dir + "/cut.mat"), Catch::Contains(dir + "/cut.mat"));
      if (keep == 128)
        CHECK_THAT(error(dir + "/cut.mat"),
                   Catch::Contains("its 128-byte header and no variables"));
    }
  }
  // A variable whose size is no multiple of 8 is padded to one: the bytes it needs are the padded
  // count, which the message gives (its bare size, less than the bytes there, would contradict it).
  {
    std::string bytes = test::file_bytes(dir + "/good.mat");
    REQUIRE(bytes[126] == 'I');  // little-endian
    uint32_t n = 0;
    std::memcpy(&n, bytes.data() + 132, 4);
    REQUIRE(n % 8 == 0);
    REQUIRE(bytes.size() == 136 + size_t(n));
    const uint32_t odd = n - 3;
    std::memcpy(&bytes[132], &odd, 4);
    bytes.pop_back();
    std::ofstream(dir + "/pad.mat", std::ios::binary | std::ios::trunc) << bytes;
    CHECK_THAT(
        error(dir + "/pad.mat"),
        Catch::Contains("a variable at byte 128 needs " + std::to_string(n) +
                        " bytes, the file ends " + std::to_string(n - 1) + " bytes after its tag"));
  }
}

TEST_CASE(
    ".mat arrays that hold fewer numbers than they declare, or doubles beyond float, are refused") {
  const std::string dir = test::temp_dir("mat_short");
  auto error = [](const std::string& path) { return test::error_of([&] { load_weights(path); }); };
  // A 4 x 4 double array (uncompressed: its dimensions at byte 160) told it is 4 x 5: 16 numbers
  // where 20 are declared. libmatio alone reads the 4 missing ones from whatever memory follows.
  write_array(dir + "/plain.mat", "model", {4, 4});
  std::string bytes = test::file_bytes(dir + "/plain.mat");
  REQUIRE(bytes[164] == 4);
  bytes[164] = 5;
  std::ofstream(dir + "/short.mat", std::ios::binary) << bytes;
  CHECK_THAT(error(dir + "/short.mat"),
             Catch::Contains("holds 16 numbers where its dimensions declare 20"));
  // More numbers than declared is a damaged file too.
  bytes[164] = 3;
  std::ofstream(dir + "/long.mat", std::ios::binary) << bytes;
  CHECK_THAT(error(dir + "/long.mat"),
             Catch::Contains("holds 16 numbers where its dimensions declare 12"));
  bytes[164] = 5;
  // The same element compressed (miCOMPRESSED, zlib): inflated and checked alike.
  const std::string element = bytes.substr(128);
  uLongf n = compressBound(uLong(element.size()));
  std::string z(n, '\0');
  REQUIRE(compress(reinterpret_cast<Bytef*>(z.data()), &n,
                   reinterpret_cast<const Bytef*>(element.data()), uLong(element.size())) == Z_OK);
  z.resize(n);
  std::string packed = bytes.substr(0, 128);
  const uint32_t tag[2] = {15,
                           uint32_t(z.size())};  // little-endian host, as the header says ('IM')
  packed.append(reinterpret_cast<const char*>(tag), 8).append(z);
  std::ofstream(dir + "/short_z.mat", std::ios::binary) << packed;
  CHECK_THAT(error(dir + "/short_z.mat"),
             Catch::Contains("holds 16 numbers where its dimensions declare 20"));
  // Its zlib stream cut short (the tag saying so): what inflates is an element cut short.
  std::string cut = bytes.substr(0, 128);
  const uint32_t cut_tag[2] = {15, uint32_t(z.size() / 2)};
  cut.append(reinterpret_cast<const char*>(cut_tag), 8).append(z.substr(0, z.size() / 2));
  std::ofstream(dir + "/cut_z.mat", std::ios::binary) << cut;
  CHECK_THAT(error(dir + "/cut_z.mat"), Catch::Contains("inflates to an element cut short"));
  // Whole again, the compressed file passes the check (and fails only on its layout).
  bytes[164] = 4;
  const std::string whole = bytes.substr(128);
  n = compressBound(uLong(whole.size()));
  z.assign(n, '\0');
  REQUIRE(compress(reinterpret_cast<Bytef*>(z.data()), &n,
                   reinterpret_cast<const Bytef*>(whole.data()), uLong(whole.size())) == Z_OK);
  z.resize(n);
  packed = bytes.substr(0, 128);
  const uint32_t tag2[2] = {15, uint32_t(z.size())};
  packed.append(reinterpret_cast<const char*>(tag2), 8).append(z);
  std::ofstream(dir + "/whole_z.mat", std::ios::binary) << packed;
  CHECK_THAT(error(dir + "/whole_z.mat"), Catch::Contains("'model' is not a struct"));
  // A double array stored in narrower integers, as MATLAB may store it, passes the count check.
  for (const matio_types type :
       {MAT_T_INT16, MAT_T_UINT16, MAT_T_INT8, MAT_T_INT32, MAT_T_UINT64}) {
    INFO("stored as matio type " << int(type));
    mat_t* mat = Mat_CreateVer((dir + "/narrow.mat").c_str(), nullptr, MAT_FT_MAT5);
    REQUIRE(mat != nullptr);
    size_t dims[2] = {2, 3};
    std::vector<double> values = {1, 2, 3, 4, 5, 6};
    matvar_t* var = Mat_VarCreate("model", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, dims, values.data(), 0);
    REQUIRE(var != nullptr);
    var->data_type = type;  // written in that type (libmatio converts the doubles)
    const bool wrote = Mat_VarWrite(mat, var, MAT_COMPRESSION_NONE) == 0;
    Mat_VarFree(var);
    Mat_Close(mat);
    if (!wrote) continue;
    CHECK_THAT(error(dir + "/narrow.mat"), Catch::Contains("'model' is not a struct"));
  }
  // A double beyond float's range (1e300 in place of the first weight) is refused, not made inf.
  const VdsrConfig cfg{3, 4, true};
  const auto params = he_params(cfg, 2);
  REQUIRE(
      write_vdsr_mat(dir + "/d.mat", cfg, params, MAT_C_DOUBLE, MAT_FT_MAT5, MAT_COMPRESSION_NONE));
  std::string d = test::file_bytes(dir + "/d.mat");
  const double first = params[0], huge = 1e300;
  const size_t at = d.find(std::string(reinterpret_cast<const char*>(&first), 8));
  REQUIRE(at != std::string::npos);
  d.replace(at, 8, std::string(reinterpret_cast<const char*>(&huge), 8));
  std::ofstream(dir + "/huge.mat", std::ios::binary) << d;
  CHECK_THAT(error(dir + "/huge.mat"),
             Catch::Contains("holds 1e+300 at index 0, beyond the range of a 32-bit float"));
}

TEST_CASE("vdsr_convert writes our layout with the source's name and sha256, vdsr_sr runs a .mat model") {
  const std::string dir = test::temp_dir("mat_convert");
  const VdsrConfig cfg{4, 8, true};
  const auto params = he_params(cfg, 7);
  REQUIRE(write_vdsr_mat(dir + "/release.mat", cfg, params, MAT_C_SINGLE, MAT_FT_MAT5, MAT_COMPRESSION_ZLIB));
  std::string log;
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/release.mat " + dir + "/ours.safetensors", &log) == 0);
  INFO(log);
  const VdsrWeights w = load_weights(dir + "/ours.safetensors");
  CHECK(w.params == params);
  CHECK(w.metadata.at("source") == "release.mat");
  CHECK(w.metadata.at("source_sha256") == sha256_hex(test::file_bytes(dir + "/release.mat")));
  CHECK(w.metadata.at("source_format") == "matlab");
  CHECK(w.metadata.count("origin") == 0);
  // Converted again (and again): the first source stays as the origin.
  REQUIRE(run_command(
              bin("vdsr_convert") + " " + dir + "/ours.safetensors " + dir + "/again.safetensors",
              &log) == 0);
  REQUIRE(run_command(
              bin("vdsr_convert") + " " + dir + "/again.safetensors " + dir + "/third.safetensors",
              &log) == 0);
  for (const char* name : {"/again.safetensors", "/third.safetensors"}) {
    const auto m = load_weights(dir + name).metadata;
    CHECK(m.at("origin") == "release.mat");
    CHECK(m.at("origin_format") == "matlab");
    CHECK(m.at("origin_sha256") == w.metadata.at("source_sha256"));
    CHECK(m.at("source_format") == "safetensors");
  }
  CHECK(load_weights(dir + "/third.safetensors").metadata.at("source") == "again.safetensors");
  // A layout key of the source's that is not this model's (an SRCNN's kernels on a VDSR) is not
  // carried.
  {
    SafeTensors st = read_safetensors(dir + "/ours.safetensors");
    st.metadata["kernels"] = "9-5-5";
    write_safetensors(dir + "/stale.safetensors", st);
  }
  REQUIRE(run_command(
              bin("vdsr_convert") + " " + dir + "/stale.safetensors " + dir + "/fresh.safetensors",
              &log) == 0);
  CHECK(load_weights(dir + "/fresh.safetensors").metadata.count("kernels") == 0);
  // An input that cannot be checked against an existing output (a link to itself) is said in words.
  fs::create_symlink("loop.safetensors", dir + "/loop.safetensors");
  CHECK(run_command(
            bin("vdsr_convert") + " " + dir + "/loop.safetensors " + dir + "/fresh.safetensors",
            &log) == 1);
  CHECK(log.find("internal error") == std::string::npos);
  CHECK(log.find("loop.safetensors") != std::string::npos);
  // An SRCNN model whose scale nothing says: converted, with a warning.
  const VdsrConfig srcnn = srcnn_config(9, 1, 5, 4, 2, true);
  save_weights(dir + "/srcnn.safetensors", srcnn, he_params(srcnn, 2).data());
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/srcnn.safetensors " + dir +
                          "/srcnn_ours.safetensors",
                      &log) == 0);
  CHECK(log.find("an SRCNN model serves one scale, and neither its metadata nor its name") !=
        std::string::npos);
  CHECK(run_command(bin("vdsr_convert") + " " + dir + "/release.mat", &log) == 1);
  CHECK(log.find("give the input model and the output file") != std::string::npos);
  CHECK(run_command(bin("vdsr_convert") + " " + dir + "/release.mat " + dir + "/a.safetensors " +
                        dir + "/c",
                    &log) == 1);
  CHECK(log.find("one argument too many: " + dir + "/c (vdsr_convert takes IN and OUT)") !=
        std::string::npos);
  CHECK(run_command(bin("vdsr_convert") + " " + dir + "/release.mat " + dir + "/.safetensors",
                    &log) == 1);
  CHECK(log.find("OUT '" + dir + "/.safetensors' has no name before its extension") !=
        std::string::npos);
  std::ofstream(dir + "/empty.mat").close();
  CHECK(run_command(bin("vdsr_convert") + " " + dir + "/empty.mat " + dir + "/e.safetensors",
                    &log) == 1);
  CHECK(log.find(dir + "/empty.mat: named .mat, but it is empty (0 bytes)") != std::string::npos);
  // Written as .mat, the weights alone: the metadata left behind is named, what matters first.
  {
    SafeTensors st = read_safetensors(dir + "/ours.safetensors");
    st.metadata["scales"] = "2,3";
    st.metadata["recipe"] = "lr=0.1";
    write_safetensors(dir + "/meta.safetensors", st);
  }
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/meta.safetensors " + dir + "/meta.mat",
                      &log) == 0);
  CHECK(log.find(
            "the .mat layout holds the weights alone, not the source's metadata (scales, recipe, "
            "source, source_format and 1 more): keep the source for it") != std::string::npos);
  REQUIRE(run_command(bin("vdsr_convert") + " -v " + dir + "/meta.safetensors " + dir +
                          "/meta2.safetensors",
                      &log) == 0);
  CHECK(log.find("(depth 4, 8 channels, with biases) [trained at scales 2,3] -> ") !=
        std::string::npos);
  CHECK(log.find("\n  recipe: lr=0.1\n") != std::string::npos);
  // From a .mat, whose source keys are the reader's of that very file: nothing is said lost.
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/release.mat " + dir + "/again.mat",
                      &log) == 0);
  CHECK(log.find("not the source's metadata") == std::string::npos);
  save_image(dir + "/in.png", test::test_image(9, 8, 3, 2), ImageFormat::PNG);
  REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/release.mat -i " + dir + "/in.png -o " + dir + "/a.png", &log) == 0);
  REQUIRE(run_command(bin("vdsr_sr") + " -g -1 -m " + dir + "/ours.safetensors -i " + dir + "/in.png -o " + dir + "/b.png", &log) == 0);
  CHECK(test::file_bytes(dir + "/a.png") == test::file_bytes(dir + "/b.png"));
}

namespace {

// Every variable of a .mat file read whole: name -> (class, dims, values as doubles); a struct's
// fields and a cell's elements as "name.field" and "name{i}" entries.
struct MatEntry {
  int cls = 0;
  std::vector<size_t> dims;
  std::vector<double> values;
  bool operator==(const MatEntry& o) const { return cls == o.cls && dims == o.dims && values == o.values; }
};
void flatten(const matvar_t* v, const std::string& name, std::map<std::string, MatEntry>& out) {
  size_t n = 1;
  for (int i = 0; i < v->rank; ++i) n *= v->dims[i];
  MatEntry e;
  e.cls = v->class_type;
  e.dims.assign(v->dims, v->dims + v->rank);
  if (v->class_type == MAT_C_STRUCT) {
    const unsigned nf = Mat_VarGetNumberOfFields(const_cast<matvar_t*>(v));
    char* const* fields = Mat_VarGetStructFieldnames(v);
    for (unsigned f = 0; f < nf; ++f)
      flatten(Mat_VarGetStructFieldByIndex(const_cast<matvar_t*>(v), f, 0), name + "." + fields[f], out);
  } else if (v->class_type == MAT_C_CELL) {
    for (size_t i = 0; i < n; ++i)
      flatten(Mat_VarGetCell(const_cast<matvar_t*>(v), int(i)), name + "{" + std::to_string(i) + "}", out);
  } else if (v->class_type == MAT_C_SINGLE) {
    const float* p = static_cast<const float*>(v->data);
    e.values.assign(p, p + n);
  } else if (v->class_type == MAT_C_DOUBLE) {
    const double* p = static_cast<const double*>(v->data);
    e.values.assign(p, p + n);
  }
  out[name] = e;
}
std::map<std::string, MatEntry> read_mat(const std::string& path) {
  std::map<std::string, MatEntry> out;
  mat_t* mat = Mat_Open(path.c_str(), MAT_ACC_RDONLY);
  REQUIRE(mat != nullptr);
  while (matvar_t* v = Mat_VarReadNext(mat)) {
    flatten(v, v->name, out);
    Mat_VarFree(v);
  }
  Mat_Close(mat);
  return out;
}

}  // namespace

TEST_CASE("save_matlab_weights writes the release's VDSR layout, variable for variable, and reads back bit for bit") {
  const std::string dir = test::temp_dir("mat_export");
  const VdsrConfig cfg{4, 8, true};
  std::vector<float> params = he_params(cfg, 5);
  for (const auto& l : layer_table(cfg))
    for (int k = 0; k < l.K; ++k) params[size_t(l.b_offset + k)] = 0.02f * float(k + 1);
  VdsrWeights w;
  w.config = cfg;
  w.params = params;
  // The same bytes' worth of variables as this file's own transcription of the release's layout.
  MatWriteOptions plain;
  plain.compress = false;
  save_matlab_weights(dir + "/ours.mat", w, plain);
  REQUIRE(write_vdsr_mat(dir + "/theirs.mat", cfg, params, MAT_C_SINGLE, MAT_FT_MAT5, MAT_COMPRESSION_NONE));
  const auto ours = read_mat(dir + "/ours.mat"), theirs = read_mat(dir + "/theirs.mat");
  CHECK(ours.size() == theirs.size());
  for (const auto& [name, e] : theirs) {
    INFO(name);
    REQUIRE(ours.count(name) == 1);
    CHECK(ours.at(name) == e);
  }
  CHECK(ours.at("model.weight{0}").dims == std::vector<size_t>{3, 3, 1, 8});
  CHECK(ours.at("model.weight{3}").dims == std::vector<size_t>{3, 3, 8});  // the trailing 1 dropped
  // Every form reads back as the same model; without biases the struct has no `bias`.
  int written = 0;
  for (const auto values : {MatWriteOptions::Values::AsRelease, MatWriteOptions::Values::Double})
    for (const bool v73 : {false, true})
      for (const bool bias : {true, false}) {
        MatWriteOptions o;
        o.values = values;
        o.v73 = v73;
        VdsrWeights m = w;
        if (!bias) {
          m.config.bias = false;
          m.params.resize(size_t(param_count(m.config)));
        }
        const std::string path = dir + "/m" + std::to_string(written) + ".mat";
        try {
          save_matlab_weights(path, m, o);
        } catch (const Error&) {
          REQUIRE(v73);  // v5 is always written
          WARN("this libmatio cannot write v7.3 files: not tried");
          continue;
        }
        INFO(path);
        const VdsrWeights back = load_weights(path);
        CHECK(back.config == m.config);
        CHECK(back.params == m.params);
        CHECK(read_mat(path).count("model.bias") == size_t(bias));
        ++written;
      }
  CHECK(written >= 4);
  CHECK(!test::has_tmp_files(dir));
}

TEST_CASE("the authors' SRCNN release, read and written back, is the same variables with the same values (data test)") {
  const std::string models = test::require_data("srcnn-official");
  const std::string dir = test::temp_dir("mat_export_srcnn");
  for (const char* name : {"srcnn_955_imagenet_x2.mat", "srcnn_955_imagenet_x3.mat"}) {
    INFO(name);
    const std::string src = models + "/" + name, out = dir + "/" + name;
    save_matlab_weights(out, load_weights(src));
    const auto a = read_mat(src), b = read_mat(out);
    CHECK(a.size() == b.size());
    for (const auto& [var, e] : a) {
      INFO(var);
      REQUIRE(b.count(var) == 1);
      CHECK(b.at(var) == e);  // the release's doubles hold floats: widened back exactly
    }
  }
}

TEST_CASE("vdsr_convert IN OUT.mat: our model into the release's layout and back, refusals in words") {
  const std::string dir = test::temp_dir("mat_convert_out");
  const VdsrConfig cfg{3, 4, true};
  const auto params = he_params(cfg, 3);
  save_weights(dir + "/m.safetensors", cfg, params.data());
  std::string log;
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/m.safetensors " + dir + "/m.MAT", &log) == 0);
  INFO(log);
  CHECK(log.find("the VDSR release's layout") != std::string::npos);
  CHECK(load_weights(dir + "/m.MAT").params == params);
  // libmatio writes into a folder of ours, which goes with it: only the file is left.
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  CHECK(names == std::vector<std::string>{"m.MAT", "m.safetensors"});
  std::ofstream(dir + "/a_file") << "x";
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/m.safetensors " + dir + "/a_file/m.mat", &log) == 1);
  CHECK(log.find("'" + dir + "/a_file' is not a folder") != std::string::npos);
  // libmatio does not check its writes: under a file-size limit (1024-byte blocks) its file came
  // out cut short, and was taken for the model. Read back, it is refused, and nothing is left.
  const VdsrConfig big{6, 32, true};
  save_weights(dir + "/big.safetensors", big, he_params(big, 4).data());
  REQUIRE(run_command("ulimit -f 60; " + bin("vdsr_convert") + " " + dir + "/big.safetensors " +
                          dir + "/big.mat",
                      &log) == 1);
  CHECK(log.find("big.mat: writing it failed: the file libmatio wrote does not read back as the "
                 "model") != std::string::npos);
  CHECK(!fs::exists(dir + "/big.mat"));
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/big.safetensors " + dir + "/big.mat",
                      &log) == 0);
  CHECK(fs::file_size(dir + "/big.mat") > 60 * 1024);
  // A name near the 255-byte limit: libmatio's folder and the temporary take shorter names.
  const std::string long_name = dir + "/" + std::string(240, 'm') + ".mat";
  REQUIRE(run_command(bin("vdsr_convert") + " " + dir + "/m.safetensors " + long_name, &log) == 0);
  CHECK(load_weights(long_name).params == params);
}

TEST_CASE(
    "vdsr_convert OUT.mat ended by SIGTERM mid-write leaves neither libmatio's folder nor a "
    "temporary") {
  const std::string dir = test::temp_dir("mat_convert_signal"), mark = dir + "/stalled";
  const VdsrConfig cfg{3, 4, true};
  fs::create_directories(dir + "/out");
  save_weights(dir + "/m.safetensors", cfg, he_params(cfg, 3).data());
  // The final file's fsync stalls (30 s): libmatio's folder and the temporary both exist then.
  const pid_t pid = test::spawn({bin("vdsr_convert"), dir + "/m.safetensors", dir + "/out/m.mat"},
                                dir + "/child.log", test::stall_fsync_env("m.mat.tmp.", mark));
  const bool stalled = test::wait_for_file(mark, 30);
  INFO(test::file_bytes(dir + "/child.log"));
  if (!stalled) test::wait_child(pid, 0);
  REQUIRE(stalled);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir + "/out"))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  REQUIRE(names.size() == 2);
  CHECK(names[0].rfind("m.mat.matio.", 0) == 0);
  CHECK(names[1].rfind("m.mat.tmp.", 0) == 0);
  kill(pid, SIGTERM);
  const int status = test::wait_child(pid, 10);
  REQUIRE(status != -1);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(fs::is_empty(dir + "/out"));
  fs::remove_all(dir);
}

TEST_CASE("fuzz: a .mat whose cell array declares 1.5 G cells in 128 bytes is refused before libmatio allocates") {
  // Found by fuzz_mat (docs/fuzzing.md): libmatio asked for 12 GB for this file's struct of cells.
  const std::string path = std::string(VDSR_SOURCE_DIR) + "/tests/fixtures/mat_oom_cells.mat";
  CHECK_THAT(test::error_of([&] { load_weights(path); }),
             Catch::Contains("damaged MATLAB file") && Catch::Contains("cells in 128 bytes"));
  // The same cells with the dimensions swapped (2 x 788,529,153): every dimension counts, the last too.
  std::string bytes = test::file_bytes(path);
  REQUIRE(bytes.size() == 680);
  const std::string dims = bytes.substr(536, 8);  // the cell array's two int32 dimensions
  REQUIRE(dims == std::string("\x01\x00\x00\x2f\x02\x00\x00\x00", 8));
  bytes.replace(536, 8, dims.substr(4, 4) + dims.substr(0, 4));
  const std::string swapped = test::temp_dir("mat_oom_swapped") + "/swapped.mat";
  std::ofstream(swapped, std::ios::binary) << bytes;
  CHECK_THAT(test::error_of([&] { load_weights(swapped); }),
             Catch::Contains("damaged MATLAB file") && Catch::Contains("cells in 128 bytes"));
}

TEST_CASE("the .mat fuzz seeds (written byte by byte by tests/fuzz/make_seeds.py) load as the models they describe") {
  const std::string dir = std::string(VDSR_SOURCE_DIR) + "/tests/fuzz/corpus/mat/";
  for (const char* name : {"vdsr_d2_double.mat", "vdsr_d2_double_z.mat", "vdsr_d2_single.mat", "vdsr_d2_single_z.mat"}) {
    INFO(name);
    const VdsrWeights w = load_weights(dir + name);
    CHECK(w.config == (VdsrConfig{2, 1, true}));
    REQUIRE(w.params.size() == 20);
    // Layer 0 is MATLAB's w(r+1, s+1) = 0.1 (r + 3 s) - 0.4, column-major; layer 1 the reverse.
    CHECK(w.params[1] == Approx(0.1 * 3 - 0.4));  // wt[0][0][0][1] = w(1, 2)
    CHECK(w.params[3] == Approx(0.1 * 1 - 0.4));  // wt[0][0][1][0] = w(2, 1)
    CHECK(w.params[9] == Approx(0.1 * 8 - 0.4));  // layer 1 starts with the last value
    CHECK((w.params[18] == 0.5f && w.params[19] == -0.5f));
  }
  for (const char* name : {"srcnn_313_x3.mat", "srcnn_313_x3_z.mat"}) {
    INFO(name);
    const VdsrWeights w = load_weights(dir + name);
    CHECK(w.config == srcnn_config(3, 1, 3, 2, 1, true));
    CHECK(w.metadata.at("scale") == "3");
  }
}

#else

TEST_CASE("without libmatio a .mat model is refused, read or written, with how to get it") {
  const std::string dir = test::temp_dir("mat_none");
  std::ofstream(dir + "/m.mat") << "MATLAB 5.0 MAT-file, not really";
  CHECK_THAT(test::error_of([&] { load_weights(dir + "/m.mat"); }), Catch::Contains("install libmatio"));
  VdsrWeights w;
  w.config = VdsrConfig{2, 1, true};
  w.params.assign(size_t(param_count(w.config)), 0.0f);
  CHECK_THAT(test::error_of([&] { save_matlab_weights(dir + "/out.mat", w); }), Catch::Contains("install libmatio"));
  CHECK(!fs::exists(dir + "/out.mat"));
}

#endif
