// VDSR weights and checkpoints in safetensors (docs/formats.md).
// Names: layers.{i}.weight float32 [K][C][3][3] and optional layers.{i}.bias float32 [K],
// i = 0..depth-1; depth and channels are read off the shapes. Also accepted: PyTorch VDSR
// state-dict names (input.*, residual_layer.{i}.conv.*, output.*). A checkpoint is the same file
// with metadata "kind": "checkpoint" plus optimizer and run state as tensors named "optim.*" and
// "state.*"; weight loaders accept it and ignore that state. Rejected, with the file and tensor
// named: missing, mis-shaped or non-finite tensors, non-F32 dtypes, unknown tensors (outside a
// checkpoint's state), inconsistent channel counts, and every file-level error of safetensors.h.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "io/safetensors.h"
#include "model/vdsr_config.h"

namespace vdsr {

struct VdsrWeights {
  VdsrConfig config;
  std::vector<float> params;  // flat layout of model/vdsr_config.h
  std::map<std::string, std::string> metadata;
};

// A checkpoint's metadata key for tensors_digest of its tensors (io/safetensors.h), written by
// save_checkpoint and checked by every reader here where a file has it (older ones do not).
constexpr const char* kTensorsDigestKey = "state.tensors_digest";
// A checkpoint's tensors of the EMA of the weights (model/checkpoint.cpp) start with this.
constexpr const char* kEmaStatePrefix = "optim.ema.";

VdsrWeights load_weights(const std::string& path);
// From an already-parsed file (used by the checkpoint loader); `name` appears in messages.
VdsrWeights weights_from_safetensors(const SafeTensors& st, const std::string& name);

// Adds layers.{i}.weight / .bias of the flat buffer `params` to `st` under `prefix` (e.g.
// "optim.momentum." for momentum, which shares the parameter layout).
void add_param_tensors(SafeTensors& st, const VdsrConfig& cfg, const float* params,
                       const std::string& prefix = "");
// Reads tensors written by add_param_tensors back into a flat buffer (all required).
std::vector<float> read_param_tensors(const SafeTensors& st, const VdsrConfig& cfg,
                                      const std::string& prefix, const std::string& name);

// Layer `l`'s biases in `w`, zeros where the model has none (the same network).
std::vector<float> layer_biases(const VdsrWeights& w, const LayerDesc& l);

// Whether `b` holds the network of `a`: the same layers, weights of the same values and the same
// biases, zeros standing for none (a format that always holds biases, as the SRCNN release's .mat,
// gives a model without them back with zeros). Metadata is not compared.
bool same_network(const VdsrWeights& a, const VdsrWeights& b);

// Writes a weights file: our names, metadata arch/depth/channels plus `metadata`.
void save_weights(const std::string& path, const VdsrConfig& cfg, const float* params,
                  const std::map<std::string, std::string>& metadata = {});

}  // namespace vdsr
