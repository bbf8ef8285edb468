// The VDSR network on one device: parameters, gradients and momentum as three flat buffers of the
// same layout (model/vdsr_config.h), activations from an arena sized for the largest batch shape
// seen, and forward / backward / step built from the kernels/ ops with no autograd. The same class
// runs an SRCNN layer table (model/vdsr_config.h) for inference: forward only, fp32.
//
// Data: x, y, target are [N][H][W][1] float32 (the Y channel in [0, 1]); output y = x + f(x)
// (SRCNN: y = f(x)).
// Precision (model/precision.h): fp32 everywhere; or, on a GPU, bf16: the feature maps between
// layers are bf16, the hidden layers read bf16 copies of the weights made at every forward, and
// everything else (the image, residual, loss, weights, gradients, momentum) stays fp32; or tf32:
// everything fp32 as in fp32, but the hidden layers multiply on the tensor cores in tf32, from
// tf32-rounded copies of the weights made at every forward.
// On a GPU, train_step_async records its iteration once as a CUDA graph and replays it while the
// shape, the buffers and the options stay the same (engine/cuda_graph.h).
// Data parallelism: with a collective set (set_collective), every step averages the gradient over
// the ranks between the backward pass and the norm / clip / update, so every rank applies the
// same step.
// Training math: L = 1/(2N) sum (x + f(x) - target)^2; clipping by global norm or by value, then
// SGD with momentum, Adam or AdamW, weight decay on weights only, and optionally an exponential
// moving average of the weights, all in one pass (kernels/optim_step.h).
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "engine/arena.h"
#include "engine/buffer.h"
#include "engine/collective.h"
#include "engine/cuda_graph.h"
#include "kernels/bf16.h"
#include "kernels/conv_shape.h"
#include "kernels/optim_step.h"
#include "model/precision.h"
#include "model/vdsr_config.h"
#include "model/weights_io.h"

namespace vdsr {

struct StepOptions {
  double lr = 0.1;  // this step's learning rate (a schedule changes it; the rest stays fixed)
  // The optimizer, its decay, bias lr, EMA and clip mode (kernels/optim_step.h); norm clipping by
  // default.
  OptimConfig optim{Optimizer::Sgd, ClipMode::Norm};
  double clip = 0.4;              // norm: max global L2 norm; value: max |g| per element
  bool clip_scale_by_lr = false;  // use clip / lr as the threshold (the paper's theta / lr)

  // At a rate of 0 (a cosine schedule's last step with --lr-min 0) theta / lr is no bound at all.
  double clip_threshold() const {
    if (!clip_scale_by_lr) return clip;
    return lr > 0 ? clip / lr : std::numeric_limits<double>::infinity();
  }
};

// He initialisation's fan: the input's (9 C, ours, as the paper) or the output's (9 K, as the
// PyTorch ports).
enum class InitFan { In, Out };

struct StepStats {
  double loss = 0.0;       // before the step
  double grad_norm = 0.0;  // before clipping
};

class Vdsr {
 public:
  explicit Vdsr(const VdsrConfig& cfg, Device device = Device::cpu());

  const VdsrConfig& config() const { return cfg_; }
  const std::vector<LayerDesc>& layers() const { return layers_; }
  Device device() const { return device_; }
  int64_t num_params() const { return num_params_; }
  int64_t num_weights() const { return num_weights_; }

  // Bytes of the activation arena for `pixels` pixels (N H W): for checks before allocating. An
  // upper bound of what reserve_activations takes (its arena rounds each block to the alignment).
  static double activation_bytes(const VdsrConfig& cfg, Precision p, int64_t pixels, bool training);

  // bf16 and tf32 need a VDSR model with 64 channels on a CUDA device of compute capability 8.0 or
  // later (a UserError otherwise).
  void set_precision(Precision p);
  Precision precision() const { return precision_; }
  // The kernels layer i runs at N x H x W on this device in this precision, as -v lists them
  // (ops::conv_kernels_text): "fwd tiled-128x64, bwd_data ..., bwd_weight ...".
  std::string layer_kernels_text(size_t i, int64_t N, int64_t H, int64_t W) const;
  // Training iterations as CUDA graphs (GPU only; on by default). Off: every kernel is launched
  // from the host each step. Results are bit-identical either way.
  void set_use_graphs(bool on);
  // The ranks whose gradients each step averages (null or one rank: none). A backend that cannot
  // be recorded into a CUDA graph (MPI) makes the iterations run eagerly.
  void set_collective(Collective* c);

  float* params() { return static_cast<float*>(params_.data()); }
  const float* params() const { return static_cast<const float*>(params_.data()); }
  float* grads() { return static_cast<float*>(grads_.data()); }
  float* momentum() { return static_cast<float*>(momentum_.data()); }
  const float* momentum() const { return static_cast<const float*>(momentum_.data()); }
  // Adam's second moments and the EMA of the weights: null until a step needs them (or
  // ensure_*() makes them: the second moments zero, the EMA a copy of the weights).
  float* second_moment() { return static_cast<float*>(second_.data()); }
  const float* second_moment() const { return static_cast<const float*>(second_.data()); }
  float* ema() { return static_cast<float*>(ema_.data()); }
  const float* ema() const { return static_cast<const float*>(ema_.data()); }
  float* ensure_second_moment();
  float* ensure_ema();
  // Exchanges the weights and their EMA (an error without one): evaluation with the averaged
  // weights between training steps, then the same call again to go back.
  void swap_weights_with_ema();

  // He (Kaiming) normal initialisation of the weights, std = sqrt(2 / (9 fan)) with fan the input
  // (C) or output (K) channels; biases 0; optimizer state 0.
  void init_he(uint64_t seed, InitFan fan = InitFan::In);
  // Copies weights in (the config must match); the optimizer state is cleared.
  void set_params(const std::vector<float>& params);
  VdsrWeights weights() const;
  VdsrWeights ema_weights() const;  // the EMA as weights (an error without one)

  // y = x + f(x) (SRCNN: f(x)). Inference only: keeps two activation maps alive, not every layer's.
  // x and y are on the model's device.
  void forward(int64_t N, int64_t H, int64_t W, const float* x, float* y);
  // The same on host memory (x and y may be the same block): on a GPU the input is copied into, and
  // the output out of, device planes kept in the activation arena across calls, the copies queued
  // around the forward with one wait at the end. Copies from page-locked memory
  // (engine/pinned_pool.h) run at the bus's speed; pageable memory works, slower.
  void forward_host(int64_t N, int64_t H, int64_t W, const float* x, float* y);
  // Progress of forward(): called with the layer-pixels done, N H W after each layer (on a GPU the
  // layer is then queued, not finished). Empty: none.
  void set_forward_observer(std::function<void(int64_t layer_pixels)> observer) { observer_ = std::move(observer); }

  // Profiling (vdsr_bench --nodes): when set, called right after each device op of forward() and
  // of a training iteration is queued (the weight copies, every conv, the loss, the average, the
  // norm, the update), naming it; layer -1 for ops of no one layer. On a GPU the caller records a
  // CUDA event there, which a graph recorded from then on holds as a node: setting or clearing
  // the marker drops any recorded graph. Empty: none (the default; costs nothing).
  struct OpMark {
    const char* op;  // start (before the first op; a recorded iteration begins here), conv_weights,
                     // conv_fwd, euclidean_loss, conv_bwd_weight, conv_bwd_data, average,
                     // grad_norm, optim_step
    int layer;
  };
  void set_op_marker(std::function<void(const OpMark&)> marker);

  // Forward keeping every activation, the loss against target, and the gradients into grads().
  // Returns the loss (waits for the device). VDSR only (a UserError for SRCNN).
  double forward_backward(int64_t N, int64_t H, int64_t W, const float* x, const float* target);

  // Clips grads() as `opt` says and applies one optimizer step; returns the norm before clipping
  // (waits for the device).
  double step(const StepOptions& opt);

  // forward_backward + step, then reads the loss and the norm back.
  StepStats train_step(int64_t N, int64_t H, int64_t W, const float* x, const float* target,
                       const StepOptions& opt);

  // The same without waiting: the loss and norm stay in device memory until read_stats(). A
  // non-finite loss sets a sticky flag recording the step counter (see first_nonfinite_step).
  void train_step_async(int64_t N, int64_t H, int64_t W, const float* x, const float* target,
                        const StepOptions& opt);
  StepStats read_stats() const;  // the last step's loss and gradient norm
  int64_t graph_replays() const { return graph_replays_; }  // iterations run as a recorded graph
  int64_t first_nonfinite_step() const;                     // -1 while every loss so far was finite
  int64_t steps_taken() const { return steps_; }
  void set_steps_taken(int64_t steps) { steps_ = steps; }

 private:
  // Drops the recorded training step and the eager key, so the next step runs eagerly and records
  // afresh: what a change the recording holds (buffer addresses, the collective, the marks) needs.
  void forget_recorded_step();
  // Everything a training iteration's recorded graph depends on: the batch, the optimizer, and the
  // buffers that can move (the weights swap with their EMA; the optimizer state appears on demand),
  // and whether the kernels are launched with programmatic dependent launch (a launch attribute the
  // graph holds).
  struct IterationKey {
    int64_t N = 0, H = 0, W = 0;
    const float* x = nullptr;
    const float* target = nullptr;
    const float *params = nullptr, *second = nullptr, *ema = nullptr;
    StepOptions opt;
    Precision precision = Precision::Fp32;
    bool programmatic = false;
    uint64_t acts_generation = 0, workspace_generation = 0;
    bool operator==(const IterationKey& o) const;
  };
  IterationKey iteration_key(int64_t N, int64_t H, int64_t W, const float* x, const float* target,
                             const StepOptions& opt) const;

  void reserve_activations(int64_t pixels, bool training);
  // forward() once the arena is reserved: allocates only its two ping-pong maps from it.
  void forward_reserved(int64_t N, int64_t H, int64_t W, const float* x, float* y);
  void forward_backward_async(int64_t N, int64_t H, int64_t W, const float* x, const float* target);
  // bf16 / tf32: remakes the hidden layers' GEMM weight copies (wg_, and wg_flip_ for training).
  void convert_weights(bool with_flipped);
  size_t map_elem() const;  // bytes per feature-map element in this precision
  // What layer i's convs read as weights: the fp32 master weights or its GEMM copy (flipped: the
  // backward-data one), as its plan says.
  const void* layer_weights(size_t i, bool flipped) const;
  // Writes the next step's scalars (lr, bias corrections, clip threshold) to the device, outside
  // any graph; allocates the optimizer state `opt` needs.
  void begin_step(const StepOptions& opt);
  // The average over the ranks, norm, clip, update, EMA; the step counter is the caller's.
  void step_async(const StepOptions& opt);
  // forward_backward_async + step_async, replayed from a graph when possible.
  void iteration_async(int64_t N, int64_t H, int64_t W, const float* x, const float* target,
                       const StepOptions& opt);
  template <typename T>
  static T* bias_of(const LayerDesc& l, T* base) {
    return l.b_offset >= 0 ? base + l.b_offset : nullptr;
  }

  // Device scalars: loss and gradient norm (double), the first non-finite step (int64), then the
  // optimizer's per-step scalars.
  double* loss_slot() { return static_cast<double*>(scalars_.data()); }
  double* norm_slot() { return static_cast<double*>(scalars_.data()) + 1; }
  int64_t* bad_step_slot() {
    return reinterpret_cast<int64_t*>(static_cast<double*>(scalars_.data()) + 2);
  }
  OptimScalars* optim_slot() {
    return reinterpret_cast<OptimScalars*>(static_cast<double*>(scalars_.data()) + 3);
  }

  VdsrConfig cfg_;
  std::vector<LayerDesc> layers_;
  Device device_;
  int64_t num_params_ = 0, num_weights_ = 0;
  Buffer params_, grads_, momentum_, second_, ema_;
  Buffer scalars_;
  int64_t steps_ = 0;             // optimizer steps taken (the non-finite flag records it)
  Arena acts_;                    // activations, sized for the largest need seen
  uint64_t acts_generation_ = 0;  // bumped when acts_ is reallocated
  Precision precision_ = Precision::Fp32;
  std::vector<LayerPlan> plan_;  // per layer: math, map types, GEMM copy (model/precision.h)
  Buffer wg_, wg_flip_;  // bf16 / tf32 modes: GEMM copies of the hidden layers' weights
  std::function<void(int64_t)> observer_;
  std::function<void(const OpMark&)> marker_;
  void mark(const char* op, int layer) const {
    if (marker_) marker_({op, layer});
  }
  bool use_graphs_ = true;
  Collective* collective_ = nullptr;
  CudaGraph graph_;
  IterationKey graph_key_, eager_key_;  // what graph_ recorded; the last eager iteration
  bool have_eager_key_ = false;
  int64_t graph_replays_ = 0;
};

}  // namespace vdsr
