// VDSR weights I/O: bit-exact round trips of the flat parameter layout, PyTorch VDSR names, and
// checkpoints (optim.* / state.* ignored by weight loaders); every rejection names file and tensor;
// lenient metadata, F16/BF16 values, wrapper prefixes and a third port's names.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "engine/error.h"
#include "io/safetensors.h"
#include "model/vdsr_config.h"
#include "model/weights_io.h"
#include "tests/support/conv_check.h"
#include "tests/support/test_support.h"

using Catch::Matchers::Contains;
using vdsr::SafeTensors;
using vdsr::VdsrConfig;
using vdsr::test::error_of;
using vdsr::test::same_bits;

namespace {

std::vector<float> random_params(const VdsrConfig& cfg, uint32_t seed) {
  return vdsr::test::random_floats(static_cast<size_t>(vdsr::param_count(cfg)), -1.0f, 1.0f, seed);
}

SafeTensors our_tensors(const VdsrConfig& cfg, const std::vector<float>& params) {
  SafeTensors st;
  vdsr::add_param_tensors(st, cfg, params.data());
  return st;
}

void erase(SafeTensors& st, const std::string& name) {
  const auto before = st.tensors.size();
  st.tensors.erase(std::remove_if(st.tensors.begin(), st.tensors.end(),
                                  [&](const auto& p) { return p.first == name; }),
                   st.tensors.end());
  REQUIRE(st.tensors.size() + 1 == before);
}

void replace(SafeTensors& st, const std::string& name, vdsr::StTensor t) {
  for (auto& p : st.tensors)
    if (p.first == name) p.second = std::move(t);
}

// Writes `st` to a file in a fresh folder, loads it as weights and returns the error; the message
// must name the file.
std::string load_error(const SafeTensors& st, const std::string& tag) {
  const std::string dir = vdsr::test::temp_dir("wio_" + tag);
  const std::string path = dir + "/" + tag + ".safetensors";
  vdsr::write_safetensors(path, st);
  const std::string msg = error_of([&] { vdsr::load_weights(path); });
  CHECK_THAT(msg, Contains(path));
  std::filesystem::remove_all(dir);
  return msg;
}

const VdsrConfig kTiny{3, 4, true};

// Writes `st` as dir/NAME.safetensors and converts it with vdsr_convert into
// dir/NAME.out.safetensors, which must succeed; returns what the tool printed.
std::string convert(const SafeTensors& st, const std::string& dir, const std::string& name) {
  vdsr::write_safetensors(dir + "/" + name + ".safetensors", st);
  std::string log;
  REQUIRE(vdsr::test::run_command(vdsr::test::bin("vdsr_convert") + " " + dir + "/" + name +
                                      ".safetensors " + dir + "/" + name + ".out.safetensors",
                                  &log) == 0);
  return log;
}

}  // namespace

TEST_CASE("weights: the default config has 665,921 parameters") {
  const VdsrConfig cfg;
  CHECK(vdsr::weight_count(cfg) == 664704);
  CHECK(vdsr::param_count(cfg) == 665921);
  CHECK(vdsr::param_count(cfg) - vdsr::weight_count(cfg) == 1217);
  VdsrConfig nb;
  nb.bias = false;
  CHECK(vdsr::param_count(nb) == 664704);
}

TEST_CASE("weights: save/load round trip is bit exact (20 x 64, with and without bias, 3 x 4)") {
  const std::string dir = vdsr::test::temp_dir("wio_roundtrip");
  for (const VdsrConfig cfg : {VdsrConfig{20, 64, true}, VdsrConfig{20, 64, false}, kTiny,
                               VdsrConfig{3, 4, false}, VdsrConfig{2, 1, true}}) {
    INFO(cfg.describe());
    auto params = random_params(cfg, 7);
    params[0] = -0.0f;
    params[1] = std::numeric_limits<float>::denorm_min();
    const std::string path = dir + "/w.safetensors";
    vdsr::save_weights(path, cfg, params.data(), {{"scales", "2,3,4"}, {"depth", "ignored"}});
    const vdsr::VdsrWeights w = vdsr::load_weights(path);
    CHECK(w.config == cfg);
    CHECK(same_bits(w.params, params));
    CHECK(w.metadata.at("arch") == "vdsr");
    CHECK(w.metadata.at("depth") == std::to_string(cfg.depth));
    CHECK(w.metadata.at("channels") == std::to_string(cfg.channels));
    CHECK(w.metadata.at("bias") == (cfg.bias ? "true" : "false"));
    CHECK(w.metadata.at("scales") == "2,3,4");
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("weights: tensors are written in layer order with our names and OIHW shapes") {
  const auto params = random_params(kTiny, 3);
  const SafeTensors st = our_tensors(kTiny, params);
  REQUIRE(st.tensors.size() == 6);
  CHECK(st.tensors[0].first == "layers.0.weight");
  CHECK(st.tensors[0].second.shape == std::vector<int64_t>{4, 1, 3, 3});
  CHECK(st.tensors[1].second.shape == std::vector<int64_t>{4, 4, 3, 3});
  CHECK(st.tensors[2].second.shape == std::vector<int64_t>{1, 4, 3, 3});
  CHECK(st.tensors[3].first == "layers.0.bias");
  CHECK(st.tensors[5].second.shape == std::vector<int64_t>{1});
  // layers.1.weight starts right after layer 0's 36 weights in the flat buffer.
  CHECK(st.find("layers.1.weight")->as_f32()[0] == params[36]);
  const auto w = vdsr::weights_from_safetensors(st, "mem");
  CHECK(same_bits(w.params, params));
}

TEST_CASE("weights: PyTorch VDSR names map to the same flat layout") {
  for (const bool bias : {false, true}) {
    const VdsrConfig cfg{20, 64, bias};
    INFO(cfg.describe());
    const auto params = random_params(cfg, 11);
    const auto layers = vdsr::layer_table(cfg);
    SafeTensors st;
    // Reverse order on purpose: the loader must go by name, not by position.
    for (int i = cfg.depth - 1; i >= 0; --i) {
      const auto& l = layers[static_cast<size_t>(i)];
      const std::string stem = i == 0 ? "input"
                               : i == cfg.depth - 1
                                   ? "output"
                                   : "residual_layer." + std::to_string(i - 1) + ".conv";
      st.add_f32(stem + ".weight", {l.K, l.C, 3, 3}, params.data() + l.w_offset);
      if (bias) st.add_f32(stem + ".bias", {l.K}, params.data() + l.b_offset);
    }
    const std::string dir = vdsr::test::temp_dir("wio_torch");
    vdsr::write_safetensors(dir + "/torch.safetensors", st);
    const auto w = vdsr::load_weights(dir + "/torch.safetensors");
    CHECK(w.config == cfg);
    CHECK(same_bits(w.params, params));
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("weights: a checkpoint loads as weights and its optim/state tensors are ignored") {
  const VdsrConfig cfg;
  const auto params = random_params(cfg, 1);
  const auto momentum = random_params(cfg, 2);
  SafeTensors st = our_tensors(cfg, params);
  vdsr::add_param_tensors(st, cfg, momentum.data(), "optim.momentum.");
  vdsr::StTensor step;
  step.dtype = "I64";
  step.shape = {};
  step.data.assign(8, 0);
  step.data[0] = 42;
  st.add("state.step", step);
  vdsr::StTensor rng;
  rng.dtype = "U8";
  rng.shape = {5};
  rng.data = {1, 2, 3, 4, 5};
  st.add("state.rng", rng);
  CHECK(st.find("optim.momentum.layers.0.weight") != nullptr);
  CHECK(st.find("optim.momentum.layers.19.bias") != nullptr);

  SECTION("with kind=checkpoint it loads") {
    st.metadata["kind"] = "checkpoint";
    const std::string dir = vdsr::test::temp_dir("wio_ckpt");
    const std::string path = dir + "/ckpt.safetensors";
    vdsr::write_safetensors(path, st);
    const auto w = vdsr::load_weights(path);
    CHECK(w.config == cfg);
    CHECK(same_bits(w.params, params));
    CHECK(w.metadata.at("kind") == "checkpoint");
    const auto file = vdsr::read_safetensors(path);
    CHECK(same_bits(vdsr::read_param_tensors(file, cfg, "optim.momentum.", path), momentum));
    CHECK(same_bits(vdsr::read_param_tensors(file, cfg, "", path), params));
    std::filesystem::remove_all(dir);
  }
  SECTION("with kind=Checkpoint (another case) it loads") {
    st.metadata["kind"] = "Checkpoint";
    const std::string dir = vdsr::test::temp_dir("wio_ckpt_case");
    vdsr::write_safetensors(dir + "/ckpt.safetensors", st);
    CHECK(same_bits(vdsr::load_weights(dir + "/ckpt.safetensors").params, params));
    std::filesystem::remove_all(dir);
  }
  SECTION(
      "with no kind at all (its metadata lost on a re-save) the state still marks a checkpoint") {
    const std::string dir = vdsr::test::temp_dir("wio_ckpt_nokind");
    CHECK_THAT(
        convert(st, dir, "ckpt"),
        Contains("tensors optim.* / state.* are a checkpoint's state, but the metadata has no"));
    CHECK(same_bits(vdsr::load_weights(dir + "/ckpt.out.safetensors").params, params));
    // The run state alone marks it too (an SGD checkpoint without its momentum, say).
    SafeTensors state_only = our_tensors(cfg, params);
    state_only.add("state.step", step);
    CHECK_THAT(convert(state_only, dir, "state_only"),
               Contains("tensors optim.* / state.* are a checkpoint's state"));
    std::filesystem::remove_all(dir);
  }
  SECTION("another kind is not a checkpoint either") {
    st.metadata["kind"] = "weights";
    CHECK_THAT(load_error(st, "kind_weights"), Contains("unknown tensor 'optim."));
  }
}

TEST_CASE("weights: a checkpoint still rejects tensors outside optim.* and state.*") {
  auto params = random_params(kTiny, 5);
  SafeTensors st = our_tensors(kTiny, params);
  st.metadata["kind"] = "checkpoint";
  st.add_f32("extra.thing", {1}, params.data());
  CHECK_THAT(load_error(st, "ckpt_extra"), Contains("'extra.thing'"));
}

TEST_CASE("weights: read_param_tensors rejects missing and mis-shaped tensors") {
  const auto params = random_params(kTiny, 5);
  SafeTensors st = our_tensors(kTiny, params);
  CHECK_THAT(error_of([&] { vdsr::read_param_tensors(st, kTiny, "optim.momentum.", "ck.st"); }),
             Contains("ck.st") && Contains("'optim.momentum.layers.0.weight'"));
  CHECK_THAT(error_of([&] {
               vdsr::read_param_tensors(st, VdsrConfig{3, 8, true}, "", "ck.st");
             }),
             Contains("ck.st") && Contains("'layers.0.weight'") && Contains("[8, 1, 3, 3]"));
}

TEST_CASE("weights: a missing tensor is rejected, naming it") {
  SafeTensors st = our_tensors(VdsrConfig{}, random_params(VdsrConfig{}, 1));
  erase(st, "layers.5.weight");
  CHECK_THAT(load_error(st, "missing"), Contains("missing tensor 'layers.5.weight'"));
}

TEST_CASE("weights: a missing PyTorch output layer is rejected, naming it") {
  const auto params = random_params(kTiny, 1);
  const auto layers = vdsr::layer_table(kTiny);
  SafeTensors st;
  st.add_f32("input.weight", {4, 1, 3, 3}, params.data() + layers[0].w_offset);
  st.add_f32("residual_layer.0.conv.weight", {4, 4, 3, 3}, params.data() + layers[1].w_offset);
  CHECK_THAT(load_error(st, "torch_missing"), Contains("'output.weight'"));
}

TEST_CASE("weights: a mis-shaped tensor is rejected, naming it") {
  const VdsrConfig cfg;
  const auto params = random_params(cfg, 1);
  SafeTensors st = our_tensors(cfg, params);
  SECTION("wrong input channels") {
    vdsr::StTensor t;
    t.dtype = "F32";
    t.shape = {64, 32, 3, 3};
    t.data.resize(64 * 32 * 9 * 4);
    replace(st, "layers.3.weight", t);
    CHECK_THAT(load_error(st, "shape_c"), Contains("'layers.3.weight'") &&
                                              Contains("[64, 32, 3, 3]") &&
                                              Contains("[64, 64, 3, 3]"));
  }
  SECTION("5x5 kernel") {
    vdsr::StTensor t;
    t.dtype = "F32";
    t.shape = {64, 64, 5, 5};
    t.data.resize(64 * 64 * 25 * 4);
    replace(st, "layers.7.weight", t);
    CHECK_THAT(load_error(st, "shape_k"), Contains("'layers.7.weight'"));
  }
  SECTION("first layer with more than one input channel") {
    vdsr::StTensor t;
    t.dtype = "F32";
    t.shape = {64, 3, 3, 3};
    t.data.resize(64 * 3 * 9 * 4);
    replace(st, "layers.0.weight", t);
    CHECK_THAT(load_error(st, "shape_rgb"), Contains("'layers.0.weight'"));
  }
  SECTION("bias of the wrong length") {
    vdsr::StTensor t;
    t.dtype = "F32";
    t.shape = {63};
    t.data.resize(63 * 4);
    replace(st, "layers.4.bias", t);
    CHECK_THAT(load_error(st, "shape_b"), Contains("'layers.4.bias'") && Contains("[63]"));
  }
  SECTION("last layer dropped: the new last layer has 64 outputs") {
    erase(st, "layers.19.weight");
    erase(st, "layers.19.bias");
    CHECK_THAT(load_error(st, "shape_last"), Contains("'layers.18.weight'"));
  }
}

TEST_CASE("weights: NaN and Inf values are rejected, naming tensor and index") {
  const VdsrConfig cfg;
  const auto layers = vdsr::layer_table(cfg);
  for (const float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
        -std::numeric_limits<float>::infinity()}) {
    auto params = random_params(cfg, 1);
    params[static_cast<size_t>(layers[2].w_offset + 17)] = bad;
    CHECK_THAT(load_error(our_tensors(cfg, params), "nonfinite"),
               Contains("'layers.2.weight'") && Contains("non-finite") && Contains("index 17"));
    params = random_params(cfg, 1);
    params[static_cast<size_t>(layers[19].b_offset)] = bad;
    CHECK_THAT(load_error(our_tensors(cfg, params), "nonfinite_b"),
               Contains("'layers.19.bias'") && Contains("index 0"));
  }
}

TEST_CASE(
    "weights: F64 tensors load rounded to float32, and a value beyond float32's range is refused") {
  const auto params = random_params(kTiny, 1);
  SafeTensors st = our_tensors(kTiny, params);
  const auto layers = vdsr::layer_table(kTiny);
  // numpy's default: doubles, here a bias whose values are not floats (a third is not).
  vdsr::StTensor t;
  t.dtype = "F64";
  t.shape = {4};
  const double values[4] = {1.0 / 3.0, -2.5, 1e-40, 0.1};
  t.data.resize(sizeof values);
  std::memcpy(t.data.data(), values, sizeof values);
  replace(st, "layers.1.bias", t);
  const std::string dir = vdsr::test::temp_dir("wio_f64");
  vdsr::write_safetensors(dir + "/f64.safetensors", st);
  const auto w = vdsr::load_weights(dir + "/f64.safetensors");
  for (int i = 0; i < 4; ++i)
    CHECK(w.params[size_t(layers[1].b_offset + i)] == static_cast<float>(values[i]));
  std::filesystem::remove_all(dir);
  const double huge = 1e300;
  std::memcpy(t.data.data() + 8, &huge, 8);
  replace(st, "layers.1.bias", t);
  CHECK_THAT(
      load_error(st, "f64_huge"),
      Contains(
          "'layers.1.bias' holds a non-finite value (inf) at index 1 as float32 (F64 is rounded"));
  t.dtype = "I64";
  replace(st, "layers.1.bias", t);
  CHECK_THAT(load_error(st, "i64"),
             Contains("'layers.1.bias' has dtype I64, expected F32 (or F16, BF16, F64)"));
}

TEST_CASE(
    "weights: a file missing its top hidden layer is refused or warned of, not run silently as a "
    "shallower network") {
  const VdsrConfig cfg;
  const auto params = random_params(cfg, 3);
  // Ours: the highest layer present then has a hidden layer's shape.
  SafeTensors st = our_tensors(cfg, params);
  erase(st, "layers.19.weight");
  erase(st, "layers.19.bias");
  CHECK_THAT(load_error(st, "top_ours"),
             Contains("missing tensor 'layers.19.weight' (the output layer, [1, 64, 3, "
                      "3]): the highest layer present, 'layers.18.weight', has a hidden "
                      "layer's shape [64, 64, 3, 3]"));
  // The PyTorch port's names: its output layer is named apart, so metadata in our form must say.
  const auto layers = vdsr::layer_table(cfg);
  SafeTensors torch;
  for (int i = 0; i < cfg.depth; ++i) {
    if (i == 18) continue;  // residual_layer.17
    const std::string stem = i == 0 ? "input"
                             : i == cfg.depth - 1
                                 ? "output"
                                 : "residual_layer." + std::to_string(i - 1) + ".conv";
    torch.add_f32(stem + ".weight", {layers[size_t(i)].K, layers[size_t(i)].C, 3, 3},
                  params.data() + layers[size_t(i)].w_offset);
  }
  // Metadata never refuses a file: a depth in our form names the tensor that may be missing.
  const std::string dir = vdsr::test::temp_dir("wio_top_torch");
  torch.metadata["depth"] = "20";
  const std::string said = convert(torch, dir, "meta");
  CHECK_THAT(said, Contains("metadata depth=\"20\" but the tensors give 19 layers: is "
                            "'residual_layer.17.conv.weight' missing? Using the tensors"));
  CHECK(said.find("warning") == said.rfind("warning"));  // one warning, not the generic one too
  // A depth past int's range is no depth of ours (it is not read as one), and a depth the tensors
  // give is no gap.
  torch.metadata["depth"] = "9999999999";
  CHECK(convert(torch, dir, "huge").find("residual_layer.17.conv.weight") == std::string::npos);
  SafeTensors whole = torch;
  whole.add_f32("residual_layer.17.conv.weight", {64, 64, 3, 3},
                params.data() + layers[18].w_offset);
  whole.metadata["depth"] = "20";
  CHECK(convert(whole, dir, "whole").find("warning") == std::string::npos);
  torch.metadata.clear();
  CHECK_THAT(
      convert(torch, dir, "t"),
      Contains(
          "the PyTorch VDSR port's model has 20 layers (residual_layer.0-17); this file has 19"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("weights: metadata arch srcnn is read in any case") {
  const VdsrConfig three{3, 4, true};
  SafeTensors st = our_tensors(three, random_params(three, 6));
  st.metadata["arch"] = "SRCNN";
  const std::string dir = vdsr::test::temp_dir("wio_arch_case");
  vdsr::write_safetensors(dir + "/s.safetensors", st);
  CHECK(vdsr::load_weights(dir + "/s.safetensors").config.arch == vdsr::Arch::Srcnn);
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "weights: vdsr_convert keeps the source's metadata, a checkpoint's options as a run's weights "
    "carry them") {
  const auto params = random_params(kTiny, 7);
  SafeTensors st = our_tensors(kTiny, params);
  st.metadata = {{"kind", "checkpoint"},     {"config.scales", "3"}, {"config.lr", "0.1"},
                 {"note", "from elsewhere"}, {"depth", "3"},         {"source", "older.mat"}};
  const std::string dir = vdsr::test::temp_dir("wio_convert_meta");
  const std::string said = convert(st, dir, "in");
  // The summary says what the model records of itself beside its shape.
  CHECK(said.find("(depth 3, 4 channels, with biases) [trained at scales 3; weights raw (a "
                  "checkpoint's)] -> ") != std::string::npos);
  const auto w = vdsr::load_weights(dir + "/in.out.safetensors");
  CHECK(same_bits(w.params, params));
  CHECK(w.metadata.at("scales") == "3");  // so the trained-scales warning still works
  CHECK(w.metadata.at("lr") == "0.1");
  CHECK(w.metadata.at("recipe") == "scales=3 lr=0.1");
  CHECK(w.metadata.at("weights") == "raw (a checkpoint's)");
  CHECK(w.metadata.at("note") == "from elsewhere");
  CHECK(w.metadata.at("kind") == "weights");
  CHECK(w.metadata.at("source") == "in.safetensors");
  CHECK(w.metadata.at("source_format") == "safetensors");
  CHECK(w.metadata.at("channels") == "4");
  CHECK(w.metadata.count("config.lr") == 0);
  CHECK(w.metadata.count("steps") == 0);  // no run state in this one
  // How far its run had got: the names a run's weights give it.
  {
    SafeTensors with_state = st;
    const auto scalar = [](const char* dtype, auto v) {
      vdsr::StTensor t{dtype, {1}, std::vector<uint8_t>(sizeof v)};
      std::memcpy(t.data.data(), &v, sizeof v);
      return t;
    };
    with_state.add("state.step", scalar("I64", int64_t{1234}));
    with_state.add("state.epoch", scalar("I64", int64_t{5}));
    with_state.add("state.seconds", scalar("F64", 12.25));
    (void)convert(with_state, dir, "state");
    const auto m = vdsr::load_weights(dir + "/state.out.safetensors").metadata;
    CHECK(m.at("steps") == "1234");
    CHECK(m.at("epochs_done") == "5");
    CHECK(m.at("train_seconds") == "12.25");
  }
  // An EMA of 0 is none: the raw weights are all there is; a run that averages says so.
  st.metadata["config.ema"] = "0";
  (void)convert(st, dir, "ema0");
  CHECK(vdsr::load_weights(dir + "/ema0.out.safetensors").metadata.at("weights") ==
        "raw (a checkpoint's)");
  st.metadata["config.ema"] = "0.999";
  (void)convert(st, dir, "ema");
  CHECK(vdsr::load_weights(dir + "/ema.out.safetensors").metadata.at("weights") ==
        "raw (a checkpoint's; its run averages them, ema 0.999)");
  // A checkpoint's run state (its epoch's record awaiting validation) is not the weights'.
  st.metadata["state.epoch_record"] = "{}";
  (void)convert(st, dir, "pending");
  CHECK(vdsr::load_weights(dir + "/pending.out.safetensors").metadata.count("state.epoch_record") ==
        0);
  std::filesystem::remove_all(dir);
}

TEST_CASE("weights: an unknown tensor is rejected, naming it") {
  auto params = random_params(kTiny, 1);
  SafeTensors st = our_tensors(kTiny, params);
  st.add_f32("layers.1.running_mean", {4}, params.data());
  CHECK_THAT(load_error(st, "unknown"), Contains("unknown tensor 'layers.1.running_mean'"));
  SafeTensors st2 = our_tensors(kTiny, params);
  st2.add_f32("layers.01.weight", {4, 4, 3, 3}, params.data());
  // Not layer 1 again (that would be "two tensors"): an index with a leading zero is no index.
  CHECK_THAT(load_error(st2, "unknown_idx"), Contains("unknown tensor 'layers.01.weight'"));
}

TEST_CASE("weights: mixed naming is rejected, naming both kinds") {
  SafeTensors st = our_tensors(kTiny, random_params(kTiny, 1));
  for (auto& p : st.tensors)
    if (p.first == "layers.0.weight") p.first = "input.weight";
  CHECK_THAT(load_error(st, "mixed"),
             Contains("mixed") && Contains("'input.weight'") && Contains("'layers.1.weight'"));
}

TEST_CASE("weights: biases on some layers only are rejected, naming the missing one") {
  SafeTensors st = our_tensors(VdsrConfig{}, random_params(VdsrConfig{}, 1));
  erase(st, "layers.7.bias");
  CHECK_THAT(load_error(st, "partial_bias"),
             Contains("some layers only") && Contains("'layers.7.bias'"));
}

TEST_CASE("weights: metadata is informational: other tools' conventions and stale values still load") {
  // Only the tensors define the model (a conflict in our own format is a warning on stderr).
  const auto params = random_params(kTiny, 1);
  const std::vector<std::map<std::string, std::string>> metas = {
      {{"bias", "yes"}}, {{"bias", "True"}}, {{"bias", "1"}}, {{"depth", "20"}, {"channels", "64"}},
      {{"depth", "three"}, {"arch", "VDSR"}, {"framework", "pytorch"}}, {{"bias", "false"}}};
  for (const auto& meta : metas) {
    SafeTensors st = our_tensors(kTiny, params);
    st.metadata = meta;
    const std::string dir = vdsr::test::temp_dir("wio_meta");
    vdsr::write_safetensors(dir + "/m.safetensors", st);
    const auto w = vdsr::load_weights(dir + "/m.safetensors");
    CHECK(w.config == kTiny);
    CHECK(same_bits(w.params, params));
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("weights: our own metadata keys that disagree with the tensors are a warning naming each") {
  const auto params = random_params(kTiny, 4);
  const std::string dir = vdsr::test::temp_dir("wio_meta_warn");
  SafeTensors st = our_tensors(kTiny, params);
  st.metadata = {{"depth", "20"}, {"channels", "64"}, {"bias", "false"}};
  const std::string log = convert(st, dir, "stale");
  CHECK_THAT(log, Contains("metadata depth=\"20\" but the tensors give 3; using the tensors"));
  CHECK_THAT(log, Contains("metadata channels=\"64\" but the tensors give 4"));
  CHECK_THAT(log, Contains("metadata bias=\"false\" but the tensors give true"));
  const auto w = vdsr::load_weights(dir + "/stale.out.safetensors");
  CHECK(w.config == kTiny);
  CHECK(same_bits(w.params, params));
  // Values that agree, or are not written as our writer writes them, say nothing.
  st.metadata = {{"depth", "3"}, {"channels", "4"}, {"bias", "True"}};
  CHECK(convert(st, dir, "fine").find("metadata") == std::string::npos);
  st.metadata = {{"depth", "3a"}, {"channels", "x4"}};
  CHECK(convert(st, dir, "letters").find("metadata") == std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("weights: F16 and BF16 tensors load, converted to F32 exactly") {
  // Values exact in both: 1.5, -2, 0.25, 0, 3 x 2^-10; F16 also a subnormal (2^-24) and a normal
  // near its top (65504), BF16 a large power of two (2^100).
  const std::vector<float> common = {1.5f, -2.0f, 0.25f, 0.0f, 3.0f / 1024};
  const auto half_bits = [](float f) {
    if (f == 0) return uint16_t(0);
    if (f == 65504.0f) return uint16_t(0x7bff);
    if (f == std::ldexp(1.0f, -24)) return uint16_t(0x0001);
    int e = 0;
    const float m = std::frexp(std::fabs(f), &e);  // f = m 2^e, m in [0.5, 1)
    const uint16_t mant = uint16_t(std::lround((m * 2 - 1) * 1024));
    return uint16_t((f < 0 ? 0x8000 : 0) | ((e - 1 + 15) << 10) | mant);
  };
  for (const std::string dtype : {"F16", "BF16"}) {
    INFO(dtype);
    const VdsrConfig cfg{2, 1, false};  // [1,1,3,3] twice: 18 values
    std::vector<float> want = common;
    if (dtype == "F16") {
      want.push_back(65504.0f);
      want.push_back(std::ldexp(1.0f, -24));
    } else {
      want.push_back(std::ldexp(1.0f, 100));
    }
    want.resize(18, 0.5f);
    SafeTensors st;
    for (int layer = 0; layer < 2; ++layer) {
      vdsr::StTensor t;
      t.dtype = dtype;
      t.shape = {1, 1, 3, 3};
      for (int i = 0; i < 9; ++i) {
        const float f = want[size_t(layer * 9 + i)];
        uint32_t fb = 0;
        std::memcpy(&fb, &f, 4);
        const uint16_t v = dtype == "F16" ? half_bits(f) : uint16_t(fb >> 16);
        t.data.push_back(uint8_t(v & 0xff));
        t.data.push_back(uint8_t(v >> 8));
      }
      st.add("layers." + std::to_string(layer) + ".weight", t);
    }
    const std::string dir = vdsr::test::temp_dir("wio_half");
    vdsr::write_safetensors(dir + "/h.safetensors", st);
    const auto w = vdsr::load_weights(dir + "/h.safetensors");
    CHECK(w.config == cfg);
    CHECK(w.params == want);
    std::filesystem::remove_all(dir);
  }
}

TEST_CASE("weights: module., model. and net. prefixes are stripped, the conv1/trunk/conv2 port's names map") {
  const VdsrConfig cfg{20, 64, false};
  const auto params = random_params(cfg, 12);
  const auto layers = vdsr::layer_table(cfg);
  for (const std::string prefix : {"", "module.", "model.", "module.net."}) {
    INFO("prefix '" << prefix << "'");
    SafeTensors st;
    for (int i = 0; i < cfg.depth; ++i) {
      const auto& l = layers[static_cast<size_t>(i)];
      const std::string stem = i == 0 ? "conv1.0" : i == cfg.depth - 1 ? "conv2" : "trunk." + std::to_string(i - 1) + ".conv";
      st.add_f32(prefix + stem + ".weight", {l.K, l.C, 3, 3}, params.data() + l.w_offset);
    }
    const std::string dir = vdsr::test::temp_dir("wio_trunk");
    vdsr::write_safetensors(dir + "/t.safetensors", st);
    const auto w = vdsr::load_weights(dir + "/t.safetensors");
    CHECK(w.config == cfg);
    CHECK(same_bits(w.params, params));
    std::filesystem::remove_all(dir);
  }
  // Our names behind DataParallel's prefix too; the same layer twice is refused.
  SafeTensors ours = our_tensors(kTiny, random_params(kTiny, 2));
  SafeTensors prefixed;
  for (const auto& [n, t] : ours.tensors) prefixed.add("module." + n, t);
  const std::string dir = vdsr::test::temp_dir("wio_module");
  vdsr::write_safetensors(dir + "/p.safetensors", prefixed);
  CHECK(vdsr::load_weights(dir + "/p.safetensors").config == kTiny);
  std::filesystem::remove_all(dir);
  prefixed.add("layers.0.bias", ours.tensors.back().second);
  CHECK_THAT(load_error(prefixed, "twice"), Contains("two tensors for 'layers.0.bias'"));
}

TEST_CASE("weights: a file with no VDSR tensors or one layer is rejected") {
  SafeTensors empty;
  CHECK_THAT(load_error(empty, "empty"), Contains("no VDSR weight tensors"));
  SafeTensors one;
  const float w[9] = {};
  one.add_f32("layers.0.weight", {1, 1, 3, 3}, w);
  CHECK_THAT(load_error(one, "one_layer"), Contains("at least 2 layers"));
}

TEST_CASE("weights: file-level safetensors errors surface through load_weights") {
  const std::string dir = vdsr::test::temp_dir("wio_trunc");
  const std::string path = dir + "/w.safetensors";
  const auto params = random_params(kTiny, 1);
  vdsr::save_weights(path, kTiny, params.data());
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 4);
  CHECK_THAT(error_of([&] { vdsr::load_weights(path); }),
             Contains(path) && Contains("'layers.2.bias'"));
  // A .mat name that is no file (missing, or a folder) is said as such, not as a file of the wrong
  // format.
  std::filesystem::create_directories(dir + "/folder.mat");
  for (const std::string& missing : {dir + "/missing.mat", dir + "/folder.mat"}) {
    const std::string said = error_of([&] { vdsr::load_weights(missing); });
    CHECK_THAT(said, Contains(missing));
    CHECK(said.find("named .mat") == std::string::npos);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE(
    "same_network: every weight and bias of every layer counts and zero biases stand for none") {
  vdsr::VdsrWeights a{kTiny, random_params(kTiny, 5), {}};
  CHECK(vdsr::same_network(a, a));
  const auto layers = vdsr::layer_table(kTiny);
  // One value changed in the first layer's weights, the last layer's weights, or a bias: not it.
  for (const int64_t at :
       {layers.front().w_offset, layers.back().w_offset + layers.back().weight_elems() - 1,
        layers.front().b_offset, layers.back().b_offset}) {
    vdsr::VdsrWeights b = a;
    b.params[size_t(at)] += 0.5f;
    INFO("offset " << at);
    CHECK_FALSE(vdsr::same_network(a, b));
  }
  // Another shape is another network.
  const vdsr::VdsrConfig deeper{4, 4, true};
  CHECK_FALSE(vdsr::same_network(a, vdsr::VdsrWeights{deeper, random_params(deeper, 5), {}}));
  // A model without biases, given back with zero biases: the same network; with others, not.
  const vdsr::VdsrConfig plain{3, 4, false};
  const vdsr::VdsrWeights none{plain, random_params(plain, 6), {}};
  vdsr::VdsrWeights zeros{kTiny, std::vector<float>(size_t(vdsr::param_count(kTiny)), 0.0f), {}};
  const auto plain_layers = vdsr::layer_table(plain);
  for (size_t i = 0; i < layers.size(); ++i)
    std::copy_n(none.params.begin() + plain_layers[i].w_offset, plain_layers[i].weight_elems(),
                zeros.params.begin() + layers[i].w_offset);
  CHECK(vdsr::same_network(none, zeros));
  CHECK(vdsr::same_network(zeros, none));
  zeros.params[size_t(layers[1].b_offset)] = 0.25f;
  CHECK_FALSE(vdsr::same_network(none, zeros));
  CHECK_FALSE(vdsr::same_network(zeros, none));
}
