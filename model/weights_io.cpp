// VDSR weights and checkpoints in safetensors (docs/formats.md). A file names its layers our way
// (layers.{i}.weight [K][C][3][3], layers.{i}.bias [K]), the PyTorch VDSR port's way (input.*,
// residual_layer.{j}.conv.* = layer j+1, output.* = last layer) or another port's (conv1.0.* =
// layer 0, trunk.{j}.conv.* = layer j+1, conv2.* = last layer), after stripping the wrappers'
// prefixes module. (DataParallel), model. and net.; F32, F16 and BF16 values (the halves converted
// exactly). Depth is the number of layers and channels layer 0's K; every shape is then checked
// against layer_table() and copied into the flat parameter layout of model/vdsr_config.h (all
// weights in layer order, then all biases). Metadata is informational: only the tensors define the
// model; our own keys, when written in our format, are compared and a conflict is a warning.
#include "model/weights_io.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <set>

#include "engine/error.h"
#include "engine/log.h"
#include "engine/values.h"
#include "image/codec.h"
#include "model/mat_import.h"

namespace vdsr {

namespace {

constexpr int kMaxLayers = 100000;  // indices beyond this are corrupt, not deep networks

// Parses a canonical non-negative decimal (no sign, no leading zeros) below kMaxLayers.
bool parse_index(const std::string& s, int* out) {
  if (s.empty() || s.size() > 6 || (s.size() > 1 && s[0] == '0')) return false;
  int v = 0;
  for (const char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v >= kMaxLayers) return false;
  *out = v;
  return true;
}

bool starts_with(const std::string& s, const std::string& p) {
  return s.compare(0, p.size(), p) == 0;
}
bool ends_with(const std::string& s, const std::string& p) {
  return s.size() >= p.size() && s.compare(s.size() - p.size(), p.size(), p) == 0;
}

// A metadata value as our writer writes an integer (depth, channels): decimal digits, at most 9.
// Other tools' spellings are theirs and are never compared.
bool our_integer(const std::string& v) {
  return !v.empty() && v.size() <= 9 &&
         std::all_of(v.begin(), v.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

enum class Naming { kOurs, kPyTorch, kTrunk };

// The ports' layer names: the first layer, the middle layers (prefix j suffix = layer j+1), the last.
struct PortNames {
  Naming naming;
  const char *first, *middle_prefix, *middle_suffix, *last;
};
constexpr PortNames kPorts[] = {{Naming::kPyTorch, "input", "residual_layer.", ".conv", "output"},
                                {Naming::kTrunk, "conv1.0", "trunk.", ".conv", "conv2"}};
const char* naming_name(Naming n) {
  return n == Naming::kOurs ? "ours" : n == Naming::kPyTorch ? "the PyTorch VDSR port's" : "conv1/trunk/conv2";
}

// Wrappers' prefixes: torch.nn.DataParallel's module., and the model. / net. of common training
// scripts, in any combination.
std::string strip_prefixes(std::string n) {
  for (bool again = true; again;) {
    again = false;
    for (const char* p : {"module.", "model.", "net."})
      if (n.compare(0, std::strlen(p), p) == 0 && n.size() > std::strlen(p)) {
        n = n.substr(std::strlen(p));
        again = true;
      }
  }
  return n;
}

// One tensor name understood as (naming, layer index, weight or bias). PyTorch's output layer is
// reported with index -1 because its number is known only once every residual layer is counted.
struct ParsedName {
  Naming naming = Naming::kOurs;
  int layer = 0;
  bool bias = false;
};

bool parse_name(const std::string& n, ParsedName* p) {
  std::string stem;
  if (ends_with(n, ".weight")) {
    stem = n.substr(0, n.size() - 7);
    p->bias = false;
  } else if (ends_with(n, ".bias")) {
    stem = n.substr(0, n.size() - 5);
    p->bias = true;
  } else {
    return false;
  }
  if (starts_with(stem, "layers.")) {
    p->naming = Naming::kOurs;
    return parse_index(stem.substr(7), &p->layer);
  }
  for (const PortNames& port : kPorts) {
    p->naming = port.naming;
    if (stem == port.first) {
      p->layer = 0;
      return true;
    }
    if (stem == port.last) {
      p->layer = -1;
      return true;
    }
    const size_t pre = std::strlen(port.middle_prefix), suf = std::strlen(port.middle_suffix);
    if (stem.size() > pre + suf && starts_with(stem, port.middle_prefix) && ends_with(stem, port.middle_suffix)) {
      if (!parse_index(stem.substr(pre, stem.size() - pre - suf), &p->layer) || p->layer + 1 >= kMaxLayers)
        return false;
      p->layer += 1;
      return true;
    }
  }
  return false;
}

std::string layer_name(Naming naming, int layer, int depth, bool bias) {
  const char* suffix = bias ? ".bias" : ".weight";
  if (naming == Naming::kOurs) return "layers." + std::to_string(layer) + suffix;
  const PortNames& port = naming == kPorts[0].naming ? kPorts[0] : kPorts[1];
  if (layer == 0) return port.first + std::string(suffix);
  if (layer == depth - 1) return port.last + std::string(suffix);
  return port.middle_prefix + std::to_string(layer - 1) + port.middle_suffix + suffix;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Checks the dtype and shape of `t` (named `tname` in file `name`).
void check_layout(const StTensor& t, const std::string& tname, const std::vector<int64_t>& shape,
                  const std::string& why, const std::string& name) {
  VDSR_USER_CHECK(t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16" || t.dtype == "F64",
                  name << ": tensor '" << tname << "' has dtype " << t.dtype
                       << ", expected F32 (or F16, BF16, F64)");
  VDSR_USER_CHECK(t.shape == shape, name << ": tensor '" << tname << "' has shape " << shape_str(t.shape)
                                    << ", expected " << shape_str(shape) << why);
}

// check_layout, then the values must be finite; copies them to dst.
void copy_checked(const StTensor& t, const std::string& tname, const std::vector<int64_t>& shape,
                  const std::string& why, const std::string& name, float* dst) {
  check_layout(t, tname, shape, why, name);
  const std::vector<float> v = t.as_f32();
  for (size_t i = 0; i < v.size(); ++i)
    VDSR_USER_CHECK(std::isfinite(v[i]),
                    name << ": tensor '" << tname << "' holds a non-finite value (" << v[i]
                         << ") at index " << i
                         << (t.dtype == "F64" ? " as float32 (F64 is rounded to float32)" : ""));
  if (!v.empty()) std::memcpy(dst, v.data(), v.size() * sizeof(float));
}

}  // namespace

VdsrWeights weights_from_safetensors(const SafeTensors& st, const std::string& name) {
  if (const auto sum = st.metadata.find(kTensorsDigestKey); sum != st.metadata.end())
    VDSR_USER_CHECK(sum->second == tensors_digest(st),
                    printable(name) << ": the file is damaged: its tensors do not match the "
                                       "checksum written with them ("
                                    << kTensorsDigestKey << "); use another copy of it");
  // A checkpoint says so in its metadata ("kind": "checkpoint", any case). A file re-saved by
  // another tool may have lost its metadata: with no "kind" at all, our state tensors (optim.*,
  // state.*) still mark a checkpoint, whose weights are read (with a warning); a file that says it
  // is something else keeps them unknown.
  const auto kind = st.metadata.find("kind");
  const bool no_kind = kind == st.metadata.end();
  const bool checkpoint =
      (!no_kind && lower_case(kind->second) == "checkpoint") ||
      (no_kind && std::any_of(st.tensors.begin(), st.tensors.end(), [](const auto& t) {
         return starts_with(t.first, "optim.") || starts_with(t.first, "state.");
       }));
  if (checkpoint && no_kind)
    log_warning(
        printable(name) +
        ": tensors optim.* / state.* are a checkpoint's state, but the metadata has no "
        "\"kind\": \"checkpoint\" (lost when the file was saved again?): reading its weights");

  // Sort the tensors into layers; everything else must be a checkpoint's optimizer or run state.
  std::map<int, const StTensor*> weights, biases;
  const StTensor* out_weight = nullptr;
  const StTensor* out_bias = nullptr;
  std::map<Naming, std::string> examples;  // one tensor name per naming seen
  for (const auto& [full_name, t] : st.tensors) {
    const std::string tname = strip_prefixes(full_name);
    ParsedName p;
    if (!parse_name(tname, &p)) {
      if (checkpoint && (starts_with(full_name, "optim.") || starts_with(full_name, "state."))) continue;
      VDSR_USER_FAIL(name << ": unknown tensor '" << full_name << "'"
                     << (checkpoint ? " (checkpoint state must be named optim.* or state.*)" : ""));
    }
    examples.emplace(p.naming, full_name);
    const StTensor*& slot = p.layer < 0 ? (p.bias ? out_bias : out_weight) : (p.bias ? biases : weights)[p.layer];
    VDSR_USER_CHECK(slot == nullptr, name << ": two tensors for '" << tname << "' (prefixes stripped: '" << full_name << "')");
    slot = &t;
  }
  VDSR_USER_CHECK(!examples.empty(), name << ": no VDSR weight tensors (layers.{i}.weight, or a PyTorch port's names)");
  VDSR_USER_CHECK(examples.size() == 1,
             name << ": mixed tensor naming: '" << examples.begin()->second << "' (" << naming_name(examples.begin()->first)
                  << ") and '" << examples.rbegin()->second << "' (" << naming_name(examples.rbegin()->first)
                  << "); use one or the other");
  const Naming naming = examples.begin()->first;

  // Depth: one past the highest layer index seen (PyTorch: residual layers plus input and output).
  int depth = 0;
  if (!weights.empty()) depth = weights.rbegin()->first + 1;
  if (!biases.empty()) depth = std::max(depth, biases.rbegin()->first + 1);
  if (naming != Naming::kOurs) {
    depth = std::max(depth, 1) + 1;  // + output
    if (out_weight != nullptr) weights[depth - 1] = out_weight;
    if (out_bias != nullptr) biases[depth - 1] = out_bias;
  }
  VDSR_USER_CHECK(depth >= 2, name << ": VDSR needs at least 2 layers, found " << depth);
  for (int i = 0; i < depth; ++i)
    VDSR_USER_CHECK(weights.count(i) == 1, name << ": missing tensor '"
                                           << layer_name(naming, i, depth, false) << "' (depth "
                                           << depth << " inferred from the highest layer present)");
  if (!biases.empty())
    for (int i = 0; i < depth; ++i)
      VDSR_USER_CHECK(biases.count(i) == 1,
                 name << ": bias present on some layers only: '"
                      << layer_name(naming, biases.begin()->first, depth, true) << "' present but '"
                      << layer_name(naming, i, depth, true) << "' missing");

  // Channels from layer 0's K; every shape must then match the layer table.
  const StTensor& w0 = *weights[0];
  const std::string w0_name = layer_name(naming, 0, depth, false);
  VDSR_USER_CHECK(w0.shape.size() == 4 && w0.shape[0] >= 1 && w0.shape[0] <= INT_MAX,
             name << ": tensor '" << w0_name << "' has shape " << shape_str(w0.shape)
                  << ", expected [channels, 1, 3, 3]");

  VdsrWeights out;
  out.config.depth = depth;
  out.config.channels = static_cast<int>(w0.shape[0]);
  out.config.bias = !biases.empty();
  out.metadata = st.metadata;
  // SRCNN: three layers of our naming whose kernels are not all 3x3, or metadata arch "srcnn" (the
  // only way to tell an SRCNN 3-3-3 from a 3-layer VDSR, which adds its input to its output).
  const auto arch = st.metadata.find("arch");
  bool srcnn = naming == Naming::kOurs && depth == 3 && arch != st.metadata.end() &&
               lower_case(arch->second) == "srcnn";
  if (naming == Naming::kOurs && depth == 3)
    for (int i = 0; i < 3; ++i) srcnn |= weights[i]->shape.size() == 4 && weights[i]->shape[2] != 3;
  if (srcnn) {
    int f[3] = {0, 0, 0};
    for (int i = 0; i < 3; ++i) {
      const std::vector<int64_t>& sh = weights[i]->shape;
      const bool ok = sh.size() == 4 && sh[2] == sh[3] && sh[2] >= 1 && sh[2] <= 15 && sh[2] % 2 == 1;
      VDSR_USER_CHECK(ok, name << ": tensor '" << layer_name(naming, i, depth, false) << "' has shape "
                               << shape_str(sh) << ", expected [K, C, R, R] with an odd kernel size R up to 15 (SRCNN)");
      f[i] = int(sh[2]);
    }
    const int64_t n2 = weights[1]->shape[0];
    VDSR_USER_CHECK(n2 >= 1 && n2 <= INT_MAX, name << ": tensor '" << layer_name(naming, 1, depth, false)
                                                   << "' has shape " << shape_str(weights[1]->shape));
    out.config = srcnn_config(f[0], f[1], f[2], out.config.channels, int(n2), out.config.bias);
  }
  // Depth is read off the highest layer present, so a file missing its top hidden layers reads as
  // a shallower network. In our naming the last layer present then has a hidden layer's shape.
  if (!srcnn && naming == Naming::kOurs) {
    const int64_t c = out.config.channels;
    VDSR_USER_CHECK(
        c == 1 || weights[depth - 1]->shape != std::vector<int64_t>({c, c, 3, 3}),
        name << ": missing tensor '" << layer_name(naming, depth, depth + 1, false)
             << "' (the output layer, [1, " << c << ", 3, 3]): the highest layer present, '"
             << layer_name(naming, depth - 1, depth, false) << "', has a hidden layer's shape "
             << shape_str(weights[depth - 1]->shape));
  }
  // A port names its output layer apart, so a missing top hidden layer shows only against a
  // metadata depth in our form; metadata never refuses a file (docs/formats.md), so it is a warning
  // that names the tensor.
  bool depth_said = false;
  if (naming != Naming::kOurs) {
    const auto meta = st.metadata.find("depth");
    const std::string d = meta == st.metadata.end() ? "" : meta->second;
    const bool ours = our_integer(d);
    if (ours && std::stoi(d) > depth) {
      log_warning(printable(name) + ": metadata depth=\"" + d + "\" but the tensors give " +
                  std::to_string(depth) + " layers: is '" +
                  layer_name(naming, depth - 1, depth + 1, false) + "' missing? Using the tensors");
      depth_said = true;
    }
    if (naming == Naming::kPyTorch && depth != 20 && !ours)
      log_warning(
          printable(name) +
          ": the PyTorch VDSR port's model has 20 layers (residual_layer.0-17); this file has " +
          std::to_string(depth) + ": if a layer is missing, the model runs without it");
  }
  const auto layers = layer_table(out.config);
  const auto why = [&](int i) {
    return " (layer " + std::to_string(i) + " of " + std::to_string(depth) + ", " +
           (srcnn ? out.config.describe() : std::to_string(out.config.channels) + " channels from '" + w0_name + "'") +
           ")";
  };
  // Every shape first: the flat buffer is sized from layer 0's channel count, which a hostile file
  // can make huge while its other layers are empty (found by fuzzing; docs/fuzzing.md).
  for (int i = 0; i < depth; ++i) {
    const LayerDesc& l = layers[static_cast<size_t>(i)];
    check_layout(*weights[i], layer_name(naming, i, depth, false), {l.K, l.C, l.R, l.R}, why(i), name);
    if (out.config.bias)
      check_layout(*biases[i], layer_name(naming, i, depth, true), {l.K}, why(i), name);
  }
  out.params.resize(static_cast<size_t>(param_count(out.config)));
  for (int i = 0; i < depth; ++i) {
    const LayerDesc& l = layers[static_cast<size_t>(i)];
    copy_checked(*weights[i], layer_name(naming, i, depth, false), {l.K, l.C, l.R, l.R}, why(i), name,
                 out.params.data() + l.w_offset);
    if (out.config.bias)
      copy_checked(*biases[i], layer_name(naming, i, depth, true), {l.K}, why(i), name,
                   out.params.data() + l.b_offset);
  }

  // Metadata is free text written by many tools: the tensors define the model. Our own keys are
  // compared only when written as our writer writes them (decimal integers, true/false), and a
  // difference is a warning, never a refusal.
  const auto meta_agrees = [&](const char* key, const std::string& value, bool is_bool) {
    const auto it = st.metadata.find(key);
    if (it == st.metadata.end()) return;
    const std::string& v = it->second;
    const bool ours = is_bool ? v == "true" || v == "false" : our_integer(v);
    if (ours && v != value)
      log_warning(printable(name) + ": metadata " + key + "=\"" + printable(v) + "\" but the tensors give " + value +
                  "; using the tensors");
  };
  if (!depth_said) meta_agrees("depth", std::to_string(depth), false);
  meta_agrees("channels", std::to_string(out.config.channels), false);
  meta_agrees("bias", out.config.bias ? "true" : "false", true);
  return out;
}

VdsrWeights load_weights(const std::string& path) {
  if (is_matlab_file(path)) return load_matlab_weights(path);
  // A file named .mat is meant as MATLAB's: read as safetensors, its fault would be told in the
  // wrong format's words.
  std::error_code ec;
  const bool named_mat =
      codec::extension_of(path) == "mat" && std::filesystem::is_regular_file(path, ec);
  VDSR_USER_CHECK(!named_mat || std::filesystem::file_size(path, ec) != 0,
                  printable(path) << ": named .mat, but it is empty (0 bytes)");
  VDSR_USER_CHECK(
      !named_mat,
      printable(path) << ": named .mat, but it is not a MATLAB file (its first bytes are not a "
                         "MAT-file's \"MATLAB \" header)");
  const SafeTensors st = read_safetensors(path);
  VdsrWeights w = weights_from_safetensors(st, path);
  // An SRCNN model serves one scale: without it in the metadata, its name's x2 / x3 / x4 (as the
  // .mat releases are named, and a conversion of them may be).
  if (w.config.arch == Arch::Srcnn && w.metadata.count("scale") == 0)
    if (const int scale = scale_from_file_name(path)) w.metadata["scale"] = std::to_string(scale);
  // Every loader takes a checkpoint's raw weights (docs/formats.md); with an EMA those are not the
  // weights the run validated and wrote, so the scores differ: say which ones these are.
  // Only a checkpoint holds such tensors (anywhere else they are refused as unknown).
  if (std::any_of(st.tensors.begin(), st.tensors.end(),
                  [](const auto& t) { return starts_with(t.first, kEmaStatePrefix); }))
    log_warning(
        printable(path) +
        ": a checkpoint of a run with an EMA of the weights: its raw weights are used, not the "
        "average the run validates and writes as vdsr.safetensors (vdsr_convert --ema makes a "
        "file of that average)");
  return w;
}

void add_param_tensors(SafeTensors& st, const VdsrConfig& cfg, const float* params,
                       const std::string& prefix) {
  const auto layers = layer_table(cfg);
  for (size_t i = 0; i < layers.size(); ++i)
    st.add_f32(prefix + "layers." + std::to_string(i) + ".weight", {layers[i].K, layers[i].C, layers[i].R, layers[i].R},
               params + layers[i].w_offset);
  if (cfg.bias)
    for (size_t i = 0; i < layers.size(); ++i)
      st.add_f32(prefix + "layers." + std::to_string(i) + ".bias", {layers[i].K},
                 params + layers[i].b_offset);
}

std::vector<float> read_param_tensors(const SafeTensors& st, const VdsrConfig& cfg,
                                      const std::string& prefix, const std::string& name) {
  const auto layers = layer_table(cfg);
  std::vector<float> params(static_cast<size_t>(param_count(cfg)));
  const std::string why = " (" + cfg.describe() + ")";
  for (size_t i = 0; i < layers.size(); ++i) {
    const auto& l = layers[i];
    for (const bool bias : {false, true}) {
      if (bias && !cfg.bias) continue;
      const std::string tname =
          prefix + "layers." + std::to_string(i) + (bias ? ".bias" : ".weight");
      const StTensor* t = st.find(tname);
      VDSR_USER_CHECK(t != nullptr, name << ": missing tensor '" << tname << "'");
      copy_checked(*t, tname,
                   bias ? std::vector<int64_t>{l.K} : std::vector<int64_t>{l.K, l.C, l.R, l.R}, why,
                   name, params.data() + (bias ? l.b_offset : l.w_offset));
    }
  }
  return params;
}

std::vector<float> layer_biases(const VdsrWeights& w, const LayerDesc& l) {
  if (l.b_offset < 0) return std::vector<float>(size_t(l.K), 0.0f);
  return std::vector<float>(w.params.begin() + l.b_offset, w.params.begin() + l.b_offset + l.K);
}

bool same_network(const VdsrWeights& a, const VdsrWeights& b) {
  VdsrConfig layers_of_a = a.config;
  layers_of_a.bias = b.config.bias;
  if (!(b.config == layers_of_a)) return false;
  const auto la = layer_table(a.config), lb = layer_table(b.config);
  const auto weights = [](const VdsrWeights& w, const LayerDesc& l) {
    return std::vector<float>(w.params.begin() + l.w_offset,
                              w.params.begin() + l.w_offset + l.weight_elems());
  };
  for (size_t i = 0; i < la.size(); ++i)
    if (weights(a, la[i]) != weights(b, lb[i]) || layer_biases(a, la[i]) != layer_biases(b, lb[i]))
      return false;
  return true;
}

void save_weights(const std::string& path, const VdsrConfig& cfg, const float* params,
                  const std::map<std::string, std::string>& metadata) {
  SafeTensors st;
  st.metadata = metadata;
  st.metadata["arch"] = cfg.arch == Arch::Srcnn ? "srcnn" : "vdsr";
  if (cfg.arch == Arch::Srcnn)
    st.metadata["kernels"] = std::to_string(cfg.srcnn_kernel[0]) + "-" + std::to_string(cfg.srcnn_kernel[1]) + "-" +
                             std::to_string(cfg.srcnn_kernel[2]);
  else
    st.metadata.erase("kernels");  // a layout key: the written tensors', never a source's
  st.metadata["depth"] = std::to_string(cfg.depth);
  st.metadata["channels"] = std::to_string(cfg.channels);
  st.metadata["bias"] = cfg.bias ? "true" : "false";
  add_param_tensors(st, cfg, params, "");
  write_safetensors(path, st);
}

}  // namespace vdsr
