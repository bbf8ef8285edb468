#include "model/vdsr.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <set>

#include "engine/error.h"
#include "engine/log.h"
#include "kernels/ops.h"
#include "kernels/programmatic_launch.h"

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
      scalars_(device, 3 * sizeof(double) + sizeof(OptimScalars)),
      plan_(layer_plan(cfg, Precision::Fp32)) {
  params_.zero();
  grads_.zero();
  momentum_.zero();
  const double init[3] = {0.0, 0.0, 0.0};
  copy_bytes(device_, scalars_.data(), Device::cpu(), init, sizeof init);
  const int64_t no_bad_step = -1;
  copy_bytes(device_, bad_step_slot(), Device::cpu(), &no_bad_step, sizeof no_bad_step);
}

void Vdsr::init_he(uint64_t seed, InitFan fan) {
  std::mt19937_64 rng(seed);
  std::vector<float> host(size_t(num_params_), 0.0f);
  for (const auto& l : layers_) {
    const double stddev = std::sqrt(2.0 / (double(l.R * l.R) * (fan == InitFan::In ? l.C : l.K)));
    const int64_t n = l.weight_elems();
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
    VDSR_USER_CHECK(cfg_.arch == Arch::Vdsr, "--precision " << name << ": SRCNN models run in fp32 only");
    VDSR_USER_CHECK(device_.is_cuda(),
               "--precision " << name << " needs a GPU; the CPU backend computes in fp32 only");
    VDSR_USER_CHECK(cfg_.channels == 64, "--precision " << name
                                                   << " needs 64 hidden channels (the tensor-core "
                                                      "kernels are specialised for them); this "
                                                      "model has "
                                                   << cfg_.channels);
    VDSR_USER_CHECK(ops::conv_math_available(device_, p),
                    "--precision " << name << " needs the tensor cores of a GPU of compute capability 8.0 or later; "
                                   << device_.name() << " has none: use --precision fp32");
    const size_t elem = p == Precision::Bf16 ? sizeof(Bf16) : sizeof(float);
    const size_t bytes = size_t(std::max(cfg_.depth - 2, 1)) * 64 * 64 * 9 * elem;
    if (wg_.bytes() < bytes || wg_flip_.bytes() < bytes) {
      // Both or neither (an out-of-memory error between them would leave one short), and a
      // recorded step, which holds the old copies' addresses, is recorded again.
      Buffer wg(device_, bytes), flip(device_, bytes);
      wg_ = std::move(wg);
      wg_flip_ = std::move(flip);
      forget_recorded_step();
    }
  }
  precision_ = p;
  plan_ = layer_plan(cfg_, p);
  if (log_level() >= LogLevel::Verbose) {
    // -v: the kernels each kind of layer runs (a 41 x 41 patch; a tf32 slice can depend on the
    // size; on the CPU each role's method), once per process for each device and listing (vdsr_sr
    // makes a model per worker). Runs of layers alike (shape, precision and kernels) are one line:
    // "layers 1-18 (64 -> 64, ...".
    std::string listing, last;
    size_t first = 0;
    const auto close_run = [&](size_t end) {
      if (last.empty()) return;
      listing +=
          (end - first > 1 ? "layers " + std::to_string(first) + "-" + std::to_string(end - 1)
                           : "layer " + std::to_string(first)) +
          last + "\n";
    };
    for (size_t i = 0; i < layers_.size(); ++i) {
      const LayerDesc& l = layers_[i];
      const std::string text = " (" + std::to_string(l.C) + " -> " + std::to_string(l.K) + ", " +
                               precision_name(plan_[i].math) + ") on " + device_.name() + ": " +
                               layer_kernels_text(i, 1, 41, 41);
      if (text == last) continue;
      close_run(i);
      first = i;
      last = text;
    }
    close_run(layers_.size());
    static std::mutex listed_mutex;
    static std::set<std::string> listed;
    std::lock_guard<std::mutex> lock(listed_mutex);
    if (listed.insert(listing).second) {
      listing.pop_back();  // the last newline: log_verbose ends the line
      log_verbose(listing);
      if (device_.is_cuda() && programmatic_launch())
        log_verbose("programmatic dependent launch on (VDSR_PDL=1): on GPUs of compute 9.0 and later the kernels "
                    "that support it start while the one ahead finishes (docs/kernels.md)");
    }
  }
}

std::string Vdsr::layer_kernels_text(size_t i, int64_t N, int64_t H, int64_t W) const {
  VDSR_CHECK(i < layers_.size(), "layer " << i << " of a " << layers_.size() << "-layer model");
  const LayerPlan& lp = plan_[i];
  return ops::conv_kernels_text(device_, lp.math, layers_[i].shape(N, H, W), lp.in, lp.out);
}

void Vdsr::set_collective(Collective* c) {
  collective_ = c;
  forget_recorded_step();  // a recorded step averages (or not) as the collective it was recorded with
}

void Vdsr::set_use_graphs(bool on) {
  use_graphs_ = on;
  if (!on) graph_.reset();
}

void Vdsr::set_op_marker(std::function<void(const OpMark&)> marker) {
  marker_ = std::move(marker);
  forget_recorded_step();  // the next recording holds the marks (or no longer does)
}

void Vdsr::forget_recorded_step() {
  graph_.reset();
  have_eager_key_ = false;
}

double Vdsr::activation_bytes(const VdsrConfig& cfg, Precision p, int64_t pixels, bool training) {
  const double elem = p == Precision::Bf16 ? sizeof(Bf16) : sizeof(float);
  const double map = double(pixels) * cfg.widest() * elem + kAlign, plane = double(pixels) * sizeof(float) + kAlign;
  // Inference: two feature maps in ping-pong, and the input and output planes forward_host stages
  // on the device. Training: every hidden layer's output (depth - 1), two gradient maps in
  // ping-pong, and the prediction and its gradient planes.
  return (training ? (cfg.depth + 1) * map : 2 * map) + 2 * plane + kAlign;
}

void Vdsr::reserve_activations(int64_t pixels, bool training) {
  const size_t elem = precision_ == Precision::Bf16 ? sizeof(Bf16) : sizeof(float);
  const size_t map = Arena::bytes_for(size_t(pixels) * size_t(cfg_.widest()) * elem, kAlign);
  const size_t plane = Arena::bytes_for(size_t(pixels) * sizeof(float), kAlign);
  // As activation_bytes, in exact size_t arithmetic.
  const size_t bytes = (training ? size_t(cfg_.depth + 1) * map : 2 * map) + 2 * plane + kAlign;
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
  ops::conv_weights(device_, precision_, wt, hidden, 64, 64, false, wg_.data());
  mark("conv_weights", -1);
  if (with_flipped) {
    ops::conv_weights(device_, precision_, wt, hidden, 64, 64, true, wg_flip_.data());
    mark("conv_weights", -1);
  }
}

size_t Vdsr::map_elem() const { return precision_ == Precision::Bf16 ? sizeof(Bf16) : sizeof(float); }

const void* Vdsr::layer_weights(size_t i, bool flipped) const {
  const LayerPlan& p = plan_[i];
  if (p.gemm < 0) return params() + layers_[i].w_offset;  // the fp32 master weights
  const size_t elem = p.math == Precision::Bf16 ? sizeof(Bf16) : sizeof(float);
  return static_cast<const char*>(flipped ? wg_flip_.data() : wg_.data()) + size_t(p.gemm) * 64 * 64 * 9 * elem;
}

void Vdsr::forward(int64_t N, int64_t H, int64_t W, const float* x, float* y) {
  VDSR_CHECK(N >= 1 && H >= 1 && W >= 1, "bad input shape " << N << "x" << H << "x" << W);
  make_current(device_);  // the caller may be any thread (vdsr_sr's workers)
  reserve_activations(N * H * W, false);
  forward_reserved(N, H, W, x, y);
}

// The staging planes come from the activation arena (reserve_activations counts them): no
// allocation once the largest image has been seen.
void Vdsr::forward_host(int64_t N, int64_t H, int64_t W, const float* x, float* y) {
  VDSR_CHECK(N >= 1 && H >= 1 && W >= 1, "bad input shape " << N << "x" << H << "x" << W);
  const int64_t pixels = N * H * W;
  const size_t bytes = size_t(pixels) * sizeof(float);
  if (device_.is_cpu() && x != y) return forward(N, H, W, x, y);
  make_current(device_);  // the caller may be any thread (vdsr_sr's workers)
  reserve_activations(pixels, false);
  float* dy = acts_.alloc_floats(size_t(pixels));
  if (device_.is_cpu()) {  // in place: the output beside the input, then over it
    forward_reserved(N, H, W, x, dy);
    std::memcpy(y, dy, bytes);
    return;
  }
  float* dx = acts_.alloc_floats(size_t(pixels));
  copy_bytes_queued(device_, dx, Device::cpu(), x, bytes);
  forward_reserved(N, H, W, dx, dy);
  copy_bytes_queued(Device::cpu(), y, device_, dy, bytes);
#ifdef VDSR_HAVE_CUDA
  cuda_sync(device_.index);
#endif
}

void Vdsr::forward_reserved(int64_t N, int64_t H, int64_t W, const float* x, float* y) {
  const int64_t pixels = N * H * W;
  const size_t map = size_t(pixels) * size_t(cfg_.widest()) * map_elem();
  void* ping[2] = {acts_.alloc(map), acts_.alloc(map)};
  mark("start", -1);
  convert_weights(false);
  ConstMapView in{x, DType::F32};
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerDesc& l = layers_[i];
    const bool last = i + 1 == layers_.size();
    const MapView out = last ? MapView{y, DType::F32} : MapView{ping[i % 2], plan_[i].out};
    const float* skip = last && cfg_.residual() ? x : nullptr;  // the global residual
    // After layer 0 the GEMM copies predate the op ahead (convert_weights ran before layer 0).
    ops::conv_fwd(device_, plan_[i].math, l.shape(N, H, W), in, layer_weights(i, false), bias_of(l, params()),
                  l.relu, skip, out, /*weights_ready=*/i > 0);
    mark("conv_fwd", int(i));
    in = out;
    if (observer_) observer_(pixels);
  }
}

double Vdsr::forward_backward(int64_t N, int64_t H, int64_t W, const float* x,
                              const float* target) {
  forward_backward_async(N, H, W, x, target);
  return read_stats().loss;
}

// Every layer as its plan says (fp32 maps, or bf16 maps with the thin layers converting at the
// ends). Backward: dy holds dL/d(pre-activation output) of layer i; backward-data of layer i gives
// dL/d(its input) masked by that input > 0, which is layer i-1's dy.
void Vdsr::forward_backward_async(int64_t N, int64_t H, int64_t W, const float* x,
                                  const float* target) {
  VDSR_CHECK(N >= 1 && H >= 1 && W >= 1, "bad input shape " << N << "x" << H << "x" << W);
  VDSR_USER_CHECK(cfg_.arch == Arch::Vdsr, "training needs a VDSR model; SRCNN models run inference only");
  const int64_t pixels = N * H * W;
  reserve_activations(pixels, true);
  const size_t map = size_t(pixels) * size_t(cfg_.channels) * map_elem();
  const size_t depth = layers_.size();
  std::vector<void*> act(depth - 1);  // act[i]: output of layer i (after its ReLU)
  for (auto& a : act) a = acts_.alloc(map);
  void* dmap[2] = {acts_.alloc(map), acts_.alloc(map)};
  float* pred = acts_.alloc_floats(size_t(pixels));
  float* dres = acts_.alloc_floats(size_t(pixels));
  convert_weights(true);

  const auto input_of = [&](size_t i) {
    return i == 0 ? ConstMapView{x, DType::F32} : ConstMapView{act[i - 1], plan_[i - 1].out};
  };
  for (size_t i = 0; i < depth; ++i) {
    const LayerDesc& l = layers_[i];
    const bool last = i + 1 == depth;
    const MapView out = last ? MapView{pred, DType::F32} : MapView{act[i], plan_[i].out};
    ops::conv_fwd(device_, plan_[i].math, l.shape(N, H, W), input_of(i), layer_weights(i, false),
                  bias_of(l, params()), l.relu, last ? x : nullptr, out, /*weights_ready=*/i > 0);
    mark("conv_fwd", int(i));
  }
  // d pred = d residual: the global skip passes the gradient through unchanged.
  ops::euclidean_loss(device_, N, pixels, pred, target, dres, loss_slot());
  mark("euclidean_loss", -1);

  ConstMapView dy{dres, DType::F32};
  for (size_t i = depth; i-- > 0;) {
    const LayerDesc& l = layers_[i];
    const ConvShape s = l.shape(N, H, W);
    ops::conv_bwd_weight(device_, plan_[i].math, s, input_of(i), dy, grads() + l.w_offset,
                            bias_of(l, grads()));
    mark("conv_bwd_weight", int(i));
    if (i == 0) break;
    const MapView dx{dmap[i % 2], plan_[i].in};
    ops::conv_bwd_data(device_, plan_[i].math, s, dy, layer_weights(i, true), input_of(i), dx,
                       /*weights_ready=*/true);  // the flipped copies were made before the forward
    mark("conv_bwd_data", int(i));
    dy = dx;
  }
}

double Vdsr::step(const StepOptions& opt) {
  begin_step(opt);
  step_async(opt);
  ++steps_;
  return read_stats().grad_norm;
}

void Vdsr::begin_step(const StepOptions& opt) {
  // 0 is a rate too: the last step of a cosine schedule down to --lr-min 0 takes it (no move).
  VDSR_CHECK(opt.lr >= 0 && std::isfinite(opt.lr), "learning rate must be 0 or more, got " << opt.lr);
  VDSR_CHECK(opt.optim.clip_mode == ClipMode::None || opt.clip_threshold() > 0,
             "clipping threshold must be positive, got " << opt.clip_threshold());
  const OptimConfig c = opt.optim;
  if (c.uses_second_moment()) ensure_second_moment();
  if (c.ema > 0) ensure_ema();
  ops::set_optim_scalars(device_, optim_scalars(c, opt.lr, opt.clip_threshold(), steps_ + 1),
                         optim_slot());
}

void Vdsr::step_async(const StepOptions& opt) {
  if (collective_ != nullptr && collective_->size() > 1) {
    collective_->average(grads(), num_params_, device_);
    mark("average", -1);
  }
  ops::grad_norm(device_, num_params_, grads(), norm_slot());
  mark("grad_norm", -1);
  ops::optim_step(device_, opt.optim, optim_slot(), norm_slot(), num_params_,
                  num_weights_, params(), grads(), momentum(), second_moment(), ema());
  mark("optim_step", -1);
}

// The lr and the clip threshold are not part of the key: the step reads them from the device.
bool Vdsr::IterationKey::operator==(const IterationKey& o) const {
  return N == o.N && H == o.H && W == o.W && x == o.x && target == o.target &&
         params == o.params && second == o.second && ema == o.ema && opt.optim == o.opt.optim &&
         precision == o.precision && programmatic == o.programmatic &&
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
  k.programmatic = programmatic_launch();
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
    mark("start", -1);
    forward_backward_async(N, H, W, x, target);
    step_async(opt);
  };
  if (!device_.is_cuda() || !use_graphs_ || (collective_ != nullptr && !collective_->capturable(device_)))
    return enqueue();
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
