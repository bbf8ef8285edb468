#include "model/vdsr.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/error.h"
#include "engine/log.h"
#include "kernels/ops.h"

#ifdef VDSR_HAVE_CUDA
#include "engine/cuda_context.h"
#endif

namespace vdsr {

namespace {
constexpr size_t kAlign = 256;

// A standard normal sample from two 53-bit uniforms (Box-Muller), written out so the same seed
// gives the same weights with any standard library.
double normal_sample(std::mt19937_64& rng) {
  const double u1 = (static_cast<double>(rng() >> 11) + 1.0) * 0x1.0p-53;  // (0, 1]
  const double u2 = static_cast<double>(rng() >> 11) * 0x1.0p-53;          // [0, 1)
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}
}  // namespace

Vdsr::Vdsr(const VdsrConfig& cfg, Device device)
    : cfg_(cfg),
      layers_(layer_table(cfg)),
      device_(device),
      num_params_(param_count(cfg)),
      num_weights_(weight_count(cfg)),
      params_(device, size_t(num_params_) * sizeof(float)),
      grads_(device, size_t(num_params_) * sizeof(float)),
      momentum_(device, size_t(num_params_) * sizeof(float)),
      scalars_(device, 3 * sizeof(double) + sizeof(OptimScalars)) {
  params_.zero();
  grads_.zero();
  momentum_.zero();
  const double init[3] = {0.0, 0.0, 0.0};
  copy_bytes(device_, scalars_.data(), Device::cpu(), init, sizeof init);
  const int64_t no_bad_step = -1;
  copy_bytes(device_, bad_step_slot(), Device::cpu(), &no_bad_step, sizeof no_bad_step);
}

OptimConfig StepOptions::optim_config() const {
  OptimConfig c;
  c.kind = optimizer;
  c.clip_mode = clip_mode;
  c.momentum = momentum;
  c.beta1 = beta1;
  c.beta2 = beta2;
  c.eps = eps;
  c.weight_decay = weight_decay;
  c.bias_lr_mult = bias_lr_mult;
  c.ema = ema;
  return c;
}

void Vdsr::init_he(uint64_t seed, InitFan fan) {
  std::mt19937_64 rng(seed);
  std::vector<float> host(size_t(num_params_), 0.0f);
  for (const auto& l : layers_) {
    const double stddev = std::sqrt(2.0 / (9.0 * (fan == InitFan::In ? l.C : l.K)));
    const int64_t n = int64_t(l.K) * l.C * 9;
    for (int64_t i = 0; i < n; ++i)
      host[size_t(l.w_offset + i)] = static_cast<float>(stddev * normal_sample(rng));
  }
  set_params(host);
}

void Vdsr::set_params(const std::vector<float>& params) {
  VDSR_CHECK(int64_t(params.size()) == num_params_,
             "parameter count " << params.size() << " does not match the model (" << num_params_
                                << ", " << cfg_.describe() << ")");
  copy_bytes(device_, params_.data(), Device::cpu(), params.data(), params_.bytes());
  momentum_.zero();
  second_ = Buffer();
  ema_ = Buffer();
}

float* Vdsr::ensure_second_moment() {
  if (second_.bytes() == 0) {
    second_ = Buffer(device_, params_.bytes());
    second_.zero();
  }
  return second_moment();
}

float* Vdsr::ensure_ema() {
  if (ema_.bytes() == 0) {
    ema_ = Buffer(device_, params_.bytes());
    copy_bytes(device_, ema_.data(), device_, params_.data(), params_.bytes());
  }
  return ema();
}

void Vdsr::swap_weights_with_ema() {
  VDSR_CHECK(ema_.bytes() == params_.bytes(), "this model keeps no EMA of its weights");
  std::swap(params_, ema_);
}

VdsrWeights Vdsr::ema_weights() const {
  VDSR_CHECK(ema_.bytes() == params_.bytes(), "this model keeps no EMA of its weights");
  VdsrWeights w;
  w.config = cfg_;
  w.params.resize(size_t(num_params_));
  copy_bytes(Device::cpu(), w.params.data(), device_, ema_.data(), ema_.bytes());
  return w;
}

VdsrWeights Vdsr::weights() const {
  VdsrWeights w;
  w.config = cfg_;
  w.params.resize(size_t(num_params_));
  copy_bytes(Device::cpu(), w.params.data(), device_, params_.data(), params_.bytes());
  return w;
}

void Vdsr::set_precision(Precision p) {
  if (p != Precision::Fp32) {
    const char* name = precision_name(p);
    VDSR_USER_CHECK(device_.is_cuda(),
               "--precision " << name << " needs a GPU; the CPU backend computes in fp32 only");
    VDSR_USER_CHECK(cfg_.channels == 64, "--precision " << name
                                                   << " needs 64 hidden channels (the tensor-core "
                                                      "kernels are specialised for them); this "
                                                      "model has "
                                                   << cfg_.channels);
    const size_t elem = p == Precision::Bf16 ? sizeof(Bf16) : sizeof(float);
    const size_t bytes = size_t(std::max(cfg_.depth - 2, 1)) * 64 * 64 * 9 * elem;
    if (wg_.bytes() < bytes) {
      wg_ = Buffer(device_, bytes);
      wg_flip_ = Buffer(device_, bytes);
    }
  }
  precision_ = p;
}

void Vdsr::set_use_graphs(bool on) {
  use_graphs_ = on;
  if (!on) graph_.reset();
}

double Vdsr::activation_bytes(const VdsrConfig& cfg, Precision p, int64_t pixels, bool training) {
  const double elem = p == Precision::Bf16 ? sizeof(Bf16) : sizeof(float);
  const double map = double(pixels) * cfg.channels * elem + kAlign, plane = double(pixels) * sizeof(float) + kAlign;
  // Inference: two feature maps in ping-pong. Training: every hidden layer's output (depth - 1),
  // two gradient maps in ping-pong, and the residual, prediction and its gradient planes.
  return (training ? (cfg.depth + 1) * map + 3 * plane : 2 * map) + kAlign;
}

void Vdsr::reserve_activations(int64_t pixels, bool training) {
  const size_t elem = precision_ == Precision::Bf16 ? sizeof(Bf16) : sizeof(float);
  const size_t map = Arena::bytes_for(size_t(pixels) * size_t(cfg_.channels) * elem, kAlign);
  const size_t plane = Arena::bytes_for(size_t(pixels) * sizeof(float), kAlign);
  // As activation_bytes, in exact size_t arithmetic.
  const size_t bytes = (training ? size_t(cfg_.depth + 1) * map + 3 * plane : 2 * map) + kAlign;
  if (bytes > acts_.capacity()) {
    acts_ = Arena();  // frees the old block before the new one is taken
    acts_ = Arena(device_, bytes, "activations");
    ++acts_generation_;
  }
  acts_.reset();
}

void Vdsr::convert_weights(bool with_flipped) {
  const int hidden = cfg_.depth - 2;
  if (hidden <= 0 || precision_ == Precision::Fp32) return;
  const float* wt = params() + layers_[1].w_offset;  // the hidden layers' weights are contiguous
  for (int flip = 0; flip < (with_flipped ? 2 : 1); ++flip) {
    void* wg = flip ? wg_flip_.data() : wg_.data();
    if (precision_ == Precision::Bf16)
      ops::conv3x3_weights_bf16(device_, wt, hidden, 64, 64, flip != 0, static_cast<Bf16*>(wg));
    else
      ops::conv3x3_weights_tf32(device_, wt, hidden, 64, 64, flip != 0, static_cast<float*>(wg));
  }
}

bool Vdsr::tf32_layer(size_t i) const {
  return precision_ == Precision::Tf32 && i >= 1 && i + 1 < layers_.size();
}

const float* Vdsr::tf32_weights(size_t i, bool flipped) const {
  return static_cast<const float*>(flipped ? wg_flip_.data() : wg_.data()) + (i - 1) * 64 * 64 * 9;
}

void Vdsr::conv_fwd(const ConvShape& s, size_t i, const float* in, float* out) {
  const auto& l = layers_[i];
  if (tf32_layer(i))
    ops::conv3x3_fwd_tf32(device_, s, in, tf32_weights(i, false), bias_of(l, params()), l.relu,
                          out);
  else
    ops::conv3x3_fwd(device_, s, in, params() + l.w_offset, bias_of(l, params()), l.relu, out);
}

void Vdsr::forward(int64_t N, int64_t H, int64_t W, const float* x, float* y) {
  VDSR_CHECK(N >= 1 && H >= 1 && W >= 1, "bad input shape " << N << "x" << H << "x" << W);
  if (precision_ == Precision::Bf16) return forward_bf16(N, H, W, x, y);
  const int64_t pixels = N * H * W;
  reserve_activations(pixels, false);
  const size_t map = size_t(pixels) * size_t(cfg_.channels);
  float* ping[2] = {acts_.alloc_floats(map), acts_.alloc_floats(map)};
  convert_weights(false);
  const float* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    const bool last = i + 1 == layers_.size();
    float* out = last ? y : ping[i % 2];
    conv_fwd({N, H, W, l.C, l.K}, i, in, out);
    in = out;
    if (observer_) observer_(pixels);
  }
  ops::residual_add(device_, pixels, x, y, y);
}

void Vdsr::forward_bf16(int64_t N, int64_t H, int64_t W, const float* x, float* y) {
  const int64_t pixels = N * H * W;
  reserve_activations(pixels, false);
  const size_t map = size_t(pixels) * 64 * sizeof(Bf16);
  Bf16* ping[2] = {static_cast<Bf16*>(acts_.alloc(map)), static_cast<Bf16*>(acts_.alloc(map))};
  convert_weights(false);
  const size_t depth = layers_.size();
  const auto& first = layers_[0];
  ops::conv3x3_first_fwd_bf16(device_, {N, H, W, 1, 64}, x, params() + first.w_offset,
                              bias_of(first, params()), first.relu, ping[0]);
  for (size_t i = 1; i + 1 < depth; ++i) {
    const auto& l = layers_[i];
    ops::conv3x3_fwd_bf16(device_, {N, H, W, 64, 64}, ping[(i - 1) % 2],
                          static_cast<const Bf16*>(wg_.data()) + (i - 1) * 64 * 64 * 9,
                          bias_of(l, params()), l.relu, ping[i % 2]);
  }
  const auto& last = layers_[depth - 1];
  ops::conv3x3_last_fwd_bf16(device_, {N, H, W, 64, 1}, ping[(depth - 2) % 2],
                             params() + last.w_offset, bias_of(last, params()), x, y);
  if (observer_) observer_(pixels * int64_t(depth));
}

double Vdsr::forward_backward(int64_t N, int64_t H, int64_t W, const float* x,
                              const float* target) {
  forward_backward_async(N, H, W, x, target);
  return read_stats().loss;
}

void Vdsr::forward_backward_async(int64_t N, int64_t H, int64_t W, const float* x,
                                  const float* target) {
  VDSR_CHECK(N >= 1 && H >= 1 && W >= 1, "bad input shape " << N << "x" << H << "x" << W);
  if (precision_ == Precision::Bf16)
    forward_backward_bf16(N, H, W, x, target);
  else
    forward_backward_fp32(N, H, W, x, target);
}

void Vdsr::forward_backward_fp32(int64_t N, int64_t H, int64_t W, const float* x,
                                 const float* target) {
  const int64_t pixels = N * H * W;
  reserve_activations(pixels, true);
  const size_t map = size_t(pixels) * size_t(cfg_.channels);
  const size_t depth = layers_.size();

  // act[i]: output of layer i (after its ReLU), i = 0 .. depth-2.
  std::vector<float*> act(depth - 1);
  for (auto& a : act) a = acts_.alloc_floats(map);
  float* dmap[2] = {acts_.alloc_floats(map), acts_.alloc_floats(map)};
  float* residual = acts_.alloc_floats(size_t(pixels));
  float* pred = acts_.alloc_floats(size_t(pixels));
  float* dres = acts_.alloc_floats(size_t(pixels));

  convert_weights(true);
  const float* in = x;
  for (size_t i = 0; i < depth; ++i) {
    const auto& l = layers_[i];
    float* out = i + 1 == depth ? residual : act[i];
    conv_fwd({N, H, W, l.C, l.K}, i, in, out);
    in = out;
  }
  ops::residual_add(device_, pixels, x, residual, pred);
  // d pred = d residual: the global skip passes the gradient through unchanged.
  ops::euclidean_loss(device_, N, pixels, pred, target, dres, loss_slot());

  // Backward. dy holds dL/d(pre-activation output) of layer i; bwd_data of layer i gives
  // dL/d(act[i-1]) masked by act[i-1] > 0, i.e. dL/d(pre-activation output) of layer i-1.
  const float* dy = dres;
  for (size_t i = depth; i-- > 0;) {
    const auto& l = layers_[i];
    const ConvShape s{N, H, W, l.C, l.K};
    const float* layer_in = i == 0 ? x : act[i - 1];
    float* dw = grads() + l.w_offset;
    if (tf32_layer(i))
      ops::conv3x3_bwd_weight_tf32(device_, s, layer_in, dy, dw, bias_of(l, grads()));
    else
      ops::conv3x3_bwd_weight(device_, s, layer_in, dy, dw, bias_of(l, grads()));
    if (i == 0) break;
    float* dx = dmap[i % 2];
    if (tf32_layer(i))
      ops::conv3x3_bwd_data_tf32(device_, s, dy, tf32_weights(i, true), act[i - 1], dx);
    else
      ops::conv3x3_bwd_data(device_, s, dy, params() + l.w_offset, act[i - 1], dx);
    dy = dx;
  }
}

// The same iteration with bf16 maps: the first layer turns the fp32 image into a bf16 map, the
// hidden layers run on the tensor cores, the last one adds the residual as it produces the fp32
// prediction. Backward mirrors it: the last layer turns the fp32 loss gradient into a bf16 map.
void Vdsr::forward_backward_bf16(int64_t N, int64_t H, int64_t W, const float* x,
                                 const float* target) {
  const int64_t pixels = N * H * W;
  reserve_activations(pixels, true);
  const size_t map = size_t(pixels) * 64 * sizeof(Bf16);
  const size_t depth = layers_.size();
  auto take_map = [&] { return static_cast<Bf16*>(acts_.alloc(map)); };
  std::vector<Bf16*> act(depth - 1);
  for (auto& a : act) a = take_map();
  Bf16* dmap[2] = {take_map(), take_map()};
  float* pred = acts_.alloc_floats(size_t(pixels));
  float* dres = acts_.alloc_floats(size_t(pixels));
  convert_weights(true);
  const Bf16* wg = static_cast<const Bf16*>(wg_.data());
  const Bf16* wg_flip = static_cast<const Bf16*>(wg_flip_.data());
  const size_t per_layer = 64 * 64 * 9;
  const ConvShape first_s{N, H, W, 1, 64}, hidden_s{N, H, W, 64, 64}, last_s{N, H, W, 64, 1};

  const auto& first = layers_[0];
  const auto& last = layers_[depth - 1];
  ops::conv3x3_first_fwd_bf16(device_, first_s, x, params() + first.w_offset,
                              bias_of(first, params()), first.relu, act[0]);
  for (size_t i = 1; i + 1 < depth; ++i)
    ops::conv3x3_fwd_bf16(device_, hidden_s, act[i - 1], wg + (i - 1) * per_layer,
                          bias_of(layers_[i], params()), layers_[i].relu, act[i]);
  ops::conv3x3_last_fwd_bf16(device_, last_s, act[depth - 2], params() + last.w_offset,
                             bias_of(last, params()), x, pred);
  ops::euclidean_loss(device_, N, pixels, pred, target, dres, loss_slot());

  ops::conv3x3_last_bwd_weight_bf16(device_, last_s, act[depth - 2], dres, grads() + last.w_offset,
                                    bias_of(last, grads()));
  Bf16* dy = dmap[(depth - 1) % 2];
  ops::conv3x3_last_bwd_data_bf16(device_, last_s, dres, params() + last.w_offset, act[depth - 2],
                                  dy);
  for (size_t i = depth - 1; i-- > 1;) {  // hidden layers, top down
    const auto& l = layers_[i];
    ops::conv3x3_bwd_weight_bf16(device_, hidden_s, act[i - 1], dy, grads() + l.w_offset,
                                 bias_of(l, grads()));
    Bf16* dx = dmap[i % 2];
    ops::conv3x3_bwd_data_bf16(device_, hidden_s, dy, wg_flip + (i - 1) * per_layer, act[i - 1],
                               dx);
    dy = dx;
  }
  ops::conv3x3_first_bwd_weight_bf16(device_, first_s, x, dy, grads() + first.w_offset,
                                     bias_of(first, grads()));
}

double Vdsr::step(const StepOptions& opt) {
  begin_step(opt);
  step_async(opt);
  ++steps_;
  return read_stats().grad_norm;
}

void Vdsr::begin_step(const StepOptions& opt) {
  VDSR_CHECK(opt.lr > 0 && std::isfinite(opt.lr), "learning rate must be positive, got " << opt.lr);
  VDSR_CHECK(opt.clip_mode == ClipMode::None || opt.clip_threshold() > 0,
             "clipping threshold must be positive, got " << opt.clip_threshold());
  const OptimConfig c = opt.optim_config();
  if (c.uses_second_moment()) ensure_second_moment();
  if (c.ema > 0) ensure_ema();
  ops::set_optim_scalars(device_, optim_scalars(c, opt.lr, opt.clip_threshold(), steps_ + 1),
                         optim_slot());
}

void Vdsr::step_async(const StepOptions& opt) {
  ops::grad_norm(device_, num_params_, grads(), norm_slot());
  ops::optim_step(device_, opt.optim_config(), optim_slot(), norm_slot(), num_params_,
                  num_weights_, params(), grads(), momentum(), second_moment(), ema());
}

// The lr and the clip threshold are not part of the key: the step reads them from the device.
bool Vdsr::IterationKey::operator==(const IterationKey& o) const {
  return N == o.N && H == o.H && W == o.W && x == o.x && target == o.target &&
         params == o.params && second == o.second && ema == o.ema && opt.optim_config() == o.opt.optim_config() && precision == o.precision &&
         acts_generation == o.acts_generation && workspace_generation == o.workspace_generation;
}

Vdsr::IterationKey Vdsr::iteration_key(int64_t N, int64_t H, int64_t W, const float* x,
                                       const float* target, const StepOptions& opt) const {
  IterationKey k;
  k.N = N;
  k.H = H;
  k.W = W;
  k.x = x;
  k.target = target;
  k.opt = opt;
  k.precision = precision_;
  k.params = params();
  k.second = second_moment();
  k.ema = ema();
  k.acts_generation = acts_generation_;
#ifdef VDSR_HAVE_CUDA
  if (device_.is_cuda()) k.workspace_generation = cuda_workspace_generation(device_.index);
#endif
  return k;
}

// Graphs: an iteration runs eagerly until the same key comes twice in a row (the first run sizes
// the activations and the workspace, which recording must not do), then is recorded once and
// replayed while the key holds.
void Vdsr::iteration_async(int64_t N, int64_t H, int64_t W, const float* x, const float* target,
                           const StepOptions& opt) {
  auto enqueue = [&] {
    forward_backward_async(N, H, W, x, target);
    step_async(opt);
  };
  if (!device_.is_cuda() || !use_graphs_) return enqueue();
  VDSR_CHECK(N >= 1 && H >= 1 && W >= 1, "bad input shape " << N << "x" << H << "x" << W);
  reserve_activations(N * H * W, true);
  const IterationKey key = iteration_key(N, H, W, x, target, opt);
  if (!graph_.empty() && key == graph_key_) {
    graph_.launch();
    ++graph_replays_;
    return;
  }
  if (!have_eager_key_ || !(key == eager_key_)) {
    enqueue();
    eager_key_ = iteration_key(N, H, W, x, target, opt);  // after any growth it caused
    have_eager_key_ = true;
    return;
  }
  try {
    graph_.capture(device_.index, enqueue);
  } catch (const Error& e) {
    // Nothing ran while recording: run this iteration eagerly and stay eager from now on.
    log_info(std::string("CUDA graph recording failed, launching kernels one by one: ") + e.what());
    use_graphs_ = false;
    return enqueue();
  }
  graph_key_ = key;
  graph_.launch();
  ++graph_replays_;
}

void Vdsr::train_step_async(int64_t N, int64_t H, int64_t W, const float* x, const float* target,
                            const StepOptions& opt) {
  begin_step(opt);
  iteration_async(N, H, W, x, target, opt);
  // Outside the graph: the step number changes every iteration.
  ops::flag_nonfinite(device_, loss_slot(), steps_, bad_step_slot());
  ++steps_;
}

StepStats Vdsr::train_step(int64_t N, int64_t H, int64_t W, const float* x, const float* target,
                           const StepOptions& opt) {
  train_step_async(N, H, W, x, target, opt);
  return read_stats();
}

StepStats Vdsr::read_stats() const {
  double host[2] = {0.0, 0.0};
  copy_bytes(Device::cpu(), host, device_, scalars_.data(), sizeof host);
  return {host[0], host[1]};
}

int64_t Vdsr::first_nonfinite_step() const {
  int64_t v = -1;
  copy_bytes(Device::cpu(), &v, device_, static_cast<const double*>(scalars_.data()) + 2, sizeof v);
  return v;
}

}  // namespace vdsr
