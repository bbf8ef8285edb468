#include "model/checkpoint.h"

#include <cstring>

#include "engine/error.h"
#include "io/safetensors.h"
#include "model/weights_io.h"

namespace vdsr {

namespace {
const char* kMomentumPrefix = "optim.momentum.";
const char* kSecondMomentPrefix = "optim.second_moment.";
constexpr const char* kConfigPrefix = "config.";
constexpr const char* kEpochRecordKey = "state.epoch_record";

template <typename T>
StTensor scalar(const char* dtype, T v) {
  StTensor t;
  t.dtype = dtype;
  t.shape = {1};
  t.data.resize(sizeof v);
  std::memcpy(t.data.data(), &v, sizeof v);
  return t;
}

// One value of `dtype` (I64 or F64); `fallback` when absent and not required.
template <typename T>
T read_scalar(const SafeTensors& st, const std::string& name, const char* dtype, bool required,
              T fallback, const std::string& file) {
  const StTensor* t = st.find(name);
  if (t == nullptr) {
    VDSR_USER_CHECK(!required, file << ": checkpoint tensor '" << name << "' is missing");
    return fallback;
  }
  VDSR_USER_CHECK(t->dtype == dtype && t->numel() == 1 && t->data.size() == sizeof(T),
             file << ": checkpoint tensor '" << name << "' must be one " << dtype << " value");
  T v{};
  std::memcpy(&v, t->data.data(), sizeof v);
  return v;
}
}  // namespace

void save_checkpoint(const std::string& path, const Vdsr& model, const TrainState& state) {
  const VdsrWeights w = model.weights();
  SafeTensors st;
  st.metadata = {{"arch", "vdsr"},
                 {"kind", "checkpoint"},
                 {"depth", std::to_string(w.config.depth)},
                 {"channels", std::to_string(w.config.channels)},
                 {"bias", w.config.bias ? "true" : "false"}};
  for (const auto& [k, v] : state.config) st.metadata[kConfigPrefix + k] = v;
  if (!state.epoch_record.empty()) st.metadata[kEpochRecordKey] = state.epoch_record;
  add_param_tensors(st, w.config, w.params.data());
  auto add_state = [&](const float* device_buffer, const char* prefix) {
    if (device_buffer == nullptr) return;
    std::vector<float> host(w.params.size());
    copy_bytes(Device::cpu(), host.data(), model.device(), device_buffer, host.size() * sizeof(float));
    add_param_tensors(st, w.config, host.data(), prefix);
  };
  add_state(model.momentum(), kMomentumPrefix);
  add_state(model.second_moment(), kSecondMomentPrefix);
  add_state(model.ema(), kEmaStatePrefix);
  st.add("state.step", scalar<int64_t>("I64", state.step));
  st.add("state.epoch", scalar<int64_t>("I64", state.epoch));
  st.add("state.seed", scalar<int64_t>("I64", static_cast<int64_t>(state.seed)));
  st.add("state.lr", scalar<double>("F64", state.lr));
  st.add("state.loss_sum", scalar<double>("F64", state.loss_sum));
  st.add("state.loss_count", scalar<int64_t>("I64", state.loss_count));
  st.add("state.clip_bound", scalar<int64_t>("I64", state.clip_bound));
  st.add("state.seconds", scalar<double>("F64", state.seconds));
  st.add("state.last_loss", scalar<double>("F64", state.last_loss));
  // A byte changed on disk (a failing disk, a copy gone wrong) would otherwise resume as other
  // weights or optimizer state, which nothing else would notice: the safetensors reader checks
  // sizes, not values. (Milliseconds for VDSR's 10 MB with Adam and an EMA, once an epoch.)
  st.metadata[kTensorsDigestKey] = tensors_digest(st);
  write_safetensors(path, st);
}

LoadedCheckpoint load_checkpoint(const std::string& path, Device device) {
  const SafeTensors st = read_safetensors(path);
  const auto kind = st.metadata.find("kind");
  VDSR_USER_CHECK(
      kind != st.metadata.end() && kind->second == "checkpoint",
      path << ": not a checkpoint (metadata \"kind\" is not \"checkpoint\"); a weights file "
              "cannot resume training, but a new run can start from its weights: --init-from "
           << path << " --train DIR --out DIR");
  const VdsrWeights w = weights_from_safetensors(st, path);
  LoadedCheckpoint out;
  out.model = std::make_unique<Vdsr>(w.config, device);
  out.model->set_params(w.params);
  auto restore = [&](const char* prefix, float* device_buffer) {
    const std::vector<float> host = read_param_tensors(st, w.config, prefix, path);
    copy_bytes(device, device_buffer, Device::cpu(), host.data(), host.size() * sizeof(float));
  };
  restore(kMomentumPrefix, out.model->momentum());
  // Adam's second moments and the EMA exist only in runs that use them.
  auto has = [&](const char* prefix) { return st.find(std::string(prefix) + "layers.0.weight") != nullptr; };
  if (has(kSecondMomentPrefix)) restore(kSecondMomentPrefix, out.model->ensure_second_moment());
  if (has(kEmaStatePrefix)) restore(kEmaStatePrefix, out.model->ensure_ema());
  out.state.step = read_scalar<int64_t>(st, "state.step", "I64", true, 0, path);
  out.state.epoch = read_scalar<int64_t>(st, "state.epoch", "I64", true, 0, path);
  out.state.seed = static_cast<uint64_t>(read_scalar<int64_t>(st, "state.seed", "I64", false, 0, path));
  out.state.lr = read_scalar<double>(st, "state.lr", "F64", false, 0.0, path);
  out.state.loss_sum = read_scalar<double>(st, "state.loss_sum", "F64", false, 0.0, path);
  out.state.loss_count = read_scalar<int64_t>(st, "state.loss_count", "I64", false, 0, path);
  out.state.clip_bound = read_scalar<int64_t>(st, "state.clip_bound", "I64", false, 0, path);
  out.state.seconds = read_scalar<double>(st, "state.seconds", "F64", false, 0.0, path);
  out.state.last_loss = read_scalar<double>(st, "state.last_loss", "F64", false, double(NAN), path);
  VDSR_USER_CHECK(out.state.step >= 0 && out.state.epoch >= 0 && out.state.loss_count >= 0,
             path << ": checkpoint state is negative (step " << out.state.step << ", epoch "
                  << out.state.epoch << ")");
  out.model->set_steps_taken(out.state.step);
  for (const auto& [k, v] : st.metadata)
    if (k.rfind(kConfigPrefix, 0) == 0) out.state.config[k.substr(std::strlen(kConfigPrefix))] = v;
  if (const auto r = st.metadata.find(kEpochRecordKey); r != st.metadata.end())
    out.state.epoch_record = r->second;
  return out;
}

}  // namespace vdsr
