#!/usr/bin/env python3
"""pytorch_peer.py: time VDSR written in plain PyTorch on the GPU, the baseline users would otherwise
run, so the README can set our engine's numbers beside it. Run on the GPU machine:

    python3 bench/pytorch_peer.py --json out.json        # about 3 minutes on an H200
    python3 bench/pytorch_peer.py --quick                 # smoke test, a few reps per row
    python3 bench/pytorch_peer.py --rows train/eager-cudagraph/bf16-channels_last,infer/compile/bf16
                                                          # just these rows, in this order

Network (the project brief, section 2): 20 conv 3x3, stride 1, pad 1, with biases: 1->64,
18 x 64->64, 64->1, ReLU after layers 1..19, output = x + net(x); 665,921 parameters (checked
before any timing, with the loss's 1/(2B) normalisation and the global residual).
Loss L = 1/(2B) * sum (x + f(x) - y)^2. He (kaiming normal, fan_in, relu) weights, zero biases.

Rows (workload x mode x precision):
  train  one full step on a batch of 64 x 1 x 41 x 41: zero_grad(set_to_none), forward, loss,
         backward, global-L2 clip to 0.4, SGD(lr 0.1, momentum 0.9, wd 1e-4 on weights only).
  infer  one 1 x 1 x 1080 x 1920 frame under inference_mode, forward with the residual.
  modes  eager; eager-cudagraph (the whole step or forward captured once with torch.cuda.graph and
         replayed); compile (torch.compile(model), default mode); compile-cudagraphs
         (mode="reduce-overhead"); compile-max-autotune (mode="max-autotune-no-cudagraphs") and
         compile-max-autotune-cudagraphs (mode="max-autotune": autotuned kernels and CUDA graphs),
         both only with --max-autotune, --modes or --rows. Compiled rows compile the model only:
         loss, clip and optimizer run eagerly, as in a typical user script. Inductor may itself
         turn the convs to channels_last (its layout optimisation), so compiled rows may already
         run NHWC.
  precisions  fp32 (TF32 off: IEEE FMA math), tf32 (TF32 on for cuDNN and cuBLAS), bf16 (autocast
         to bf16 around forward + loss, fp32 master weights, TF32 off), bf16-channels_last (the same
         in NHWC, the layout cuDNN's tensor-op kernels prefer).
Columns: median of per-step event timings (events recorded around each step, no host sync between
steps), the mean over one block of back-to-back steps timed by one event pair (steady-state
throughput: it includes host launch gaps), TFLOP/s from the block mean, and the first call's wall
seconds (compile, cuDNN autotuning, graph capture). FLOP per training step = 3 x forward (forward,
backward-data, backward-weight; the brief's convention, although layer 1 needs no backward-data);
forward = 2 x 664,704 MAC per output pixel.

Memory: every tensor comes from PyTorch's caching allocator (cudaMalloc or cudaMallocAsync), never
managed (unified) memory: nothing here calls cudaMallocManaged, pins host memory or uses a pluggable
allocator; the allocator backend and PYTORCH_CUDA_ALLOC_CONF go into the JSON so a reader can check.
"""

import argparse
import contextlib
import datetime
import gc
import json
import math
import os
import statistics
import sys
import time

# Network constants, from the brief.
DEPTH, CHANNELS = 20, 64
N_PARAMS, N_WEIGHTS, N_BIASES = 665_921, 664_704, 1_217
MACS_PER_PIXEL = 664_704
TRAIN_B, TRAIN_HW = 64, 41
INFER_H, INFER_W = 1080, 1920
TRAIN_FLOP = 3 * 2 * MACS_PER_PIXEL * TRAIN_B * TRAIN_HW * TRAIN_HW
INFER_FLOP = 2 * MACS_PER_PIXEL * INFER_H * INFER_W
LR, MOMENTUM, WEIGHT_DECAY, CLIP_NORM = 0.1, 0.9, 1e-4, 0.4

ALL_WORKLOADS = ["train", "infer"]
ALL_MODES = ["eager", "eager-cudagraph", "compile", "compile-cudagraphs", "compile-max-autotune",
             "compile-max-autotune-cudagraphs"]
# Modes whose compiled code replays CUDA graphs (Inductor's cudagraph trees).
CUDAGRAPH_COMPILE_MODES = ("compile-cudagraphs", "compile-max-autotune-cudagraphs")
MAX_AUTOTUNE_MODES = ["compile-max-autotune", "compile-max-autotune-cudagraphs"]
ALL_PRECISIONS = ["fp32", "tf32", "bf16", "bf16-channels_last"]
# Compiling costs 10-60 s per row, so by default only the rows that answer a question are compiled:
# fp32 (our first target's math) and bf16 (our final target's), and CUDA-graphed compile for
# training only (one 1080p frame is a few long kernels, launch overhead is noise there).
DEFAULT_PLAN = {
    "eager": (ALL_PRECISIONS, ALL_WORKLOADS),
    "eager-cudagraph": (ALL_PRECISIONS, ALL_WORKLOADS),
    "compile": (["fp32", "bf16"], ALL_WORKLOADS),
    "compile-cudagraphs": (["bf16"], ["train"]),
    "compile-max-autotune": (["fp32", "bf16"], ALL_WORKLOADS),
    "compile-max-autotune-cudagraphs": (["fp32", "bf16"], ALL_WORKLOADS),
}
COMPILE_KWARGS = {
    "compile": {},
    "compile-cudagraphs": {"mode": "reduce-overhead"},
    "compile-max-autotune": {"mode": "max-autotune-no-cudagraphs"},
    "compile-max-autotune-cudagraphs": {"mode": "max-autotune"},
}

T0 = time.time()


def log(msg):
    # stderr, flushed: stdout on the GPU machine may be block-buffered until exit.
    print("[%7.1fs] %s" % (time.time() - T0, msg), file=sys.stderr, flush=True)


def csv_list(allowed, what):
    def parse(text):
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if t not in allowed]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                "unknown %s %s (choose from %s)" % (what, ",".join(bad) or "(none)", ",".join(allowed)))
        return items
    return parse


def row_list(text):
    rows = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        parts = item.split("/")
        if (len(parts) != 3 or parts[0] not in ALL_WORKLOADS or parts[1] not in ALL_MODES
                or parts[2] not in ALL_PRECISIONS):
            raise argparse.ArgumentTypeError(
                "bad row %r: want WORKLOAD/MODE/PRECISION with WORKLOAD in %s, MODE in %s, PRECISION in %s"
                % (item, ",".join(ALL_WORKLOADS), ",".join(ALL_MODES), ",".join(ALL_PRECISIONS)))
        rows.append(tuple(parts))
    if not rows:
        raise argparse.ArgumentTypeError("--rows lists no row")
    return rows


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Time VDSR (20 conv 3x3, 665,921 parameters) in PyTorch on the GPU: a training "
                    "step at batch 64 x 41 x 41 and one 1080p inference frame, per mode and precision.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Default plan (when neither --modes nor --precisions is given):\n"
               "  eager, eager-cudagraph:  all four precisions, train and infer\n"
               "  compile:                 fp32 and bf16, train and infer\n"
               "  compile-cudagraphs:      bf16, train only\n"
               "  compile-max-autotune, compile-max-autotune-cudagraphs:\n"
               "                           only with --max-autotune (fp32 and bf16; slow to compile)\n"
               "--precisions applies to every mode listed; --modes alone keeps each mode's default\n"
               "precisions; listing compile-cudagraphs in --modes also runs it for infer.\n"
               "--rows replaces the plan: exactly the rows listed, in that order.\n"
               "Rows run cheapest first (with --rows, in its order) and the JSON is rewritten after\n"
               "every row, so a run cut short still leaves what it measured. A row that fails\n"
               "reports 'failed: <reason>'.")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON to FILE")
    p.add_argument("--reps", type=int, metavar="N",
                   help="timed reps per row [100 train steps, 20 inference frames]")
    p.add_argument("--warmup", type=int, metavar="N",
                   help="untimed reps after the first call [20 train, 5 infer; doubled for compiled rows]")
    p.add_argument("--workloads", type=csv_list(ALL_WORKLOADS, "workload"), default=ALL_WORKLOADS,
                   metavar="LIST", help="comma list of train,infer [train,infer]")
    p.add_argument("--modes", type=csv_list(ALL_MODES, "mode"), metavar="LIST",
                   help="comma list of %s [eager,eager-cudagraph,compile,compile-cudagraphs]"
                        % ",".join(ALL_MODES))
    p.add_argument("--precisions", type=csv_list(ALL_PRECISIONS, "precision"), metavar="LIST",
                   help="comma list of %s [per mode, see below]" % ",".join(ALL_PRECISIONS))
    p.add_argument("--max-autotune", action="store_true",
                   help="add compile-max-autotune rows (mode=max-autotune-no-cudagraphs) and "
                        "compile-max-autotune-cudagraphs rows (mode=max-autotune)")
    p.add_argument("--rows", type=row_list, metavar="LIST",
                   help="comma list of WORKLOAD/MODE/PRECISION rows to run, in this order, instead "
                        "of the plan (--workloads, --modes, --precisions and --max-autotune are "
                        "then ignored); e.g. train/eager-cudagraph/bf16-channels_last")
    p.add_argument("--deadline", type=float, metavar="SECONDS",
                   help="start no row that would not finish within SECONDS of the start (its expected "
                        "time: a guess per kind of row until one of that kind has run, then 1.2 x what it "
                        "took); a row not started is listed as skipped")
    p.add_argument("--sgd", choices=["auto", "fused", "foreach"], default="auto",
                   help="torch.optim.SGD implementation; auto = fused where it exists, else foreach [auto]")
    p.add_argument("--device", default="cuda:0", help="CUDA device [cuda:0]")
    p.add_argument("--seed", type=int, default=1234, help="seed for weights and data [1234]")
    p.add_argument("--list", action="store_true",
                   help="print the rows the plan would run, one WORKLOAD/MODE/PRECISION a line, and exit "
                        "(needs no GPU or PyTorch)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: 5 train / 3 infer reps, 3 warm-up (unless --reps/--warmup say otherwise)")
    args = p.parse_args(argv)
    for name in ("reps", "warmup"):
        v = getattr(args, name)
        if v is not None and v < (1 if name == "reps" else 0):
            p.error("--%s must be %s" % (name, ">= 1" if name == "reps" else ">= 0"))
    return args


def build_plan(args):
    """(workload, mode, precision) triples, cheapest mode first so a cut-short run keeps the most;
    with --rows, those rows in their order."""
    if args.rows:
        return list(args.rows)
    modes = list(args.modes) if args.modes else ["eager", "eager-cudagraph", "compile", "compile-cudagraphs"]
    if args.max_autotune:
        modes += [m for m in MAX_AUTOTUNE_MODES if m not in modes]
    plan = []
    for mode in ALL_MODES:
        if mode not in modes:
            continue
        precs, workloads = DEFAULT_PLAN[mode]
        if args.precisions:
            precs = args.precisions
        if args.modes and mode in args.modes:
            workloads = ALL_WORKLOADS
        for wl in args.workloads:
            if wl not in workloads:
                continue
            for prec in ALL_PRECISIONS:
                if prec in precs:
                    plan.append((wl, mode, prec))
    return plan


def check(cond, msg):
    # Not assert: python -O would drop the checks.
    if not cond:
        raise RuntimeError("check failed: " + msg)


def json_num(v):
    # json.dump writes NaN/Infinity, which strict JSON readers reject.
    return v if v is None or math.isfinite(v) else repr(v)


def one_line(exc):
    text = str(exc).strip()
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    msg = "%s: %s" % (type(exc).__name__, first) if first else type(exc).__name__
    return msg if len(msg) <= 240 else msg[:237] + "..."


def define_vdsr(torch):
    """The network as the brief defines it (also bench/pytorch_cpu_peer.py's): 20 conv 3x3 with
    biases, ReLU after 1..19, x + net(x); He (fan_in) weights, zero biases."""
    nn, F = torch.nn, torch.nn.functional

    class VDSR(nn.Module):
        def __init__(self):
            super().__init__()
            convs = []
            for i in range(DEPTH):
                cin = 1 if i == 0 else CHANNELS
                cout = 1 if i == DEPTH - 1 else CHANNELS
                convs.append(nn.Conv2d(cin, cout, 3, stride=1, padding=1, bias=True))
            # "layers.{i}" matches the safetensors names our engine reads (brief section 4).
            self.layers = nn.ModuleList(convs)
            for c in self.layers:
                nn.init.kaiming_normal_(c.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(c.bias)

        def forward(self, x):
            h = x
            last = len(self.layers) - 1
            for i, conv in enumerate(self.layers):
                h = conv(h)
                if i < last:
                    # In place, as the common PyTorch VDSR ports do (nn.ReLU(inplace=True)):
                    # conv backward needs its input, not its output, so this is safe.
                    h = F.relu(h, inplace=True)
            return x + h

    return VDSR


class Bench:
    def __init__(self, args):
        import torch  # lazy: --help must work on machines without torch
        import torch.nn as nn
        import torch.nn.functional as F
        self.torch, self.nn, self.F = torch, nn, F
        self.args = args
        dev = torch.device(args.device)
        if dev.type != "cuda":
            raise SystemExit("pytorch_peer: --device must be a CUDA device, not %s" % args.device)
        # set_device and the memory-stat calls want an explicit index.
        self.device = dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())
        self.vdsr_cls = self.define_model()
        self.conv_err_cache = {}
        self.tf32_api = "legacy"

    # ---- model, loss, optimizer -------------------------------------------------------------

    def define_model(self):
        return define_vdsr(self.torch)

    def new_model(self, prec):
        torch = self.torch
        torch.manual_seed(self.args.seed)  # every row starts from the same weights
        model = self.vdsr_cls()
        model = model.to(self.device)
        if prec == "bf16-channels_last":
            model = model.to(memory_format=torch.channels_last)
        return model

    @staticmethod
    def loss_fn(out, y, batch):
        # Caffe's Euclidean loss: 1/(2B) * sum over batch and pixels; fp32 even under autocast.
        d = out.float() - y
        return (d * d).sum() * (0.5 / batch)

    def make_sgd(self, model):
        torch = self.torch
        weights = [p for n, p in model.named_parameters() if n.endswith("weight")]
        biases = [p for n, p in model.named_parameters() if n.endswith("bias")]
        groups = [{"params": weights, "weight_decay": WEIGHT_DECAY},
                  {"params": biases, "weight_decay": 0.0}]
        want = self.args.sgd
        if want in ("auto", "fused"):
            try:
                opt = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM, fused=True)
                return opt, "fused"
            except (TypeError, RuntimeError, ValueError) as e:
                if want == "fused":
                    raise
                log("fused SGD unavailable (%s); using foreach" % one_line(e))
        opt = torch.optim.SGD(groups, lr=LR, momentum=MOMENTUM, foreach=True)
        return opt, "foreach"

    # ---- precision ----------------------------------------------------------------------------

    def set_precision(self, prec):
        torch = self.torch
        tf32 = prec == "tf32"
        torch.backends.cudnn.benchmark = True
        if self.tf32_api == "legacy":
            # The legacy flags only, never mixed with fp32_precision: torch >= 2.9 raises on a
            # mix, and Inductor still reads the legacy getters.
            try:
                torch.backends.cuda.matmul.allow_tf32 = tf32
                torch.backends.cudnn.allow_tf32 = tf32
                return
            except Exception as e:  # noqa: BLE001 - a torch that dropped them: use the new API
                log("legacy TF32 flags refused (%s); using fp32_precision" % one_line(e))
                self.tf32_api = "fp32_precision"
        mode = "tf32" if tf32 else "ieee"
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.conv.fp32_precision = mode

    def tf32_state(self):
        torch = self.torch
        try:
            if self.tf32_api == "legacy":
                return {"api": "legacy",
                        "cuda_matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
                        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32)}
            return {"api": "fp32_precision",
                    "cuda_matmul": torch.backends.cuda.matmul.fp32_precision,
                    "cudnn_conv": torch.backends.cudnn.conv.fp32_precision}
        except Exception as e:  # noqa: BLE001 - report, never crash on a flag read
            return {"error": one_line(e)}

    def autocast(self, prec, cache_enabled=True):
        if prec.startswith("bf16"):
            # cache_enabled=False inside graph capture: the autocast weight cache would otherwise
            # hold casts made during capture (PyTorch's CUDA-graph notes ask for it).
            return self.torch.autocast("cuda", dtype=self.torch.bfloat16, cache_enabled=cache_enabled)
        return contextlib.nullcontext()

    def to_format(self, t, prec):
        if prec == "bf16-channels_last":
            return t.contiguous(memory_format=self.torch.channels_last)
        return t

    def conv_rel_err(self, prec):
        """max |conv - fp64| / max |fp64| of one 64->64 conv in this row's math mode: proves the
        label (fp32 ~1e-6, tf32 ~1e-3, bf16 ~1e-2) instead of trusting the flags."""
        if prec in self.conv_err_cache:
            return self.conv_err_cache[prec]
        torch, F = self.torch, self.F
        g = torch.Generator().manual_seed(7)
        x = torch.randn(2, CHANNELS, 24, 24, generator=g)
        w = torch.randn(CHANNELS, CHANNELS, 3, 3, generator=g) / 24.0
        ref = F.conv2d(x.double(), w.double(), padding=1)
        xd = self.to_format(x.to(self.device), prec)
        wd = self.to_format(w.to(self.device), prec)
        with self.autocast(prec):
            out = F.conv2d(xd, wd, padding=1)
        err = ((out.double().cpu() - ref).abs().max() / ref.abs().max()).item()
        self.conv_err_cache[prec] = err
        return err

    # ---- checks before timing -----------------------------------------------------------------

    def sanity(self):
        torch, F = self.torch, self.F
        torch.manual_seed(self.args.seed)
        model = self.vdsr_cls()  # CPU, fp32: independent of any GPU math mode
        n_all = sum(p.numel() for p in model.parameters())
        n_w = sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight"))
        n_b = sum(p.numel() for n, p in model.named_parameters() if n.endswith("bias"))
        check((n_all, n_w, n_b) == (N_PARAMS, N_WEIGHTS, N_BIASES),
              "parameter count %d (%d weights + %d biases), expected %d (%d + %d)" % (
                  n_all, n_w, n_b, N_PARAMS, N_WEIGHTS, N_BIASES))
        check(len(model.layers) == DEPTH, "%d layers, expected %d" % (len(model.layers), DEPTH))
        g = torch.Generator().manual_seed(self.args.seed)
        b = 3
        x = torch.rand(b, 1, TRAIN_HW, TRAIN_HW, generator=g)
        y = torch.rand(b, 1, TRAIN_HW, TRAIN_HW, generator=g)
        with torch.no_grad():
            out = model(x)
            check(out.shape == x.shape, "output shape %s" % (tuple(out.shape),))
            loss = self.loss_fn(out, y, b)
            # mse_loss(mean) divides by B*H*W; times H*W/2 it must be the 1/(2B) Euclidean loss.
            ref = F.mse_loss(out, y, reduction="mean") * (TRAIN_HW * TRAIN_HW / 2.0)
            check(torch.allclose(loss, ref, rtol=1e-4, atol=0),
                  "loss %r vs 1/(2B) sum %r" % (loss.item(), ref.item()))
            # With the last layer zeroed the network adds nothing: output must be the input exactly.
            model.layers[-1].weight.zero_()
            model.layers[-1].bias.zero_()
            check(torch.equal(model(x), x), "global residual missing")
        log("sanity: %d parameters (%d weights + %d biases), loss = 1/(2B) sum, residual ok"
            % (n_all, n_w, n_b))

    # ---- timing -----------------------------------------------------------------------------

    def time_calls(self, fn, reps):
        """(per-call ms list, block mean ms). No host sync between calls in either measure."""
        torch = self.torch
        starts = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        ends = [torch.cuda.Event(enable_timing=True) for _ in range(reps)]
        torch.cuda.synchronize()
        for i in range(reps):
            starts[i].record()
            fn()
            ends[i].record()
        torch.cuda.synchronize()
        per = [s.elapsed_time(e) for s, e in zip(starts, ends)]
        b0 = torch.cuda.Event(enable_timing=True)
        b1 = torch.cuda.Event(enable_timing=True)
        b0.record()
        for _ in range(reps):
            fn()
        b1.record()
        torch.cuda.synchronize()
        return per, b0.elapsed_time(b1) / reps

    def counters(self):
        try:
            from torch._dynamo.utils import counters
            return {"cudagraph_skips": int(counters["inductor"]["cudagraph_skips"]),
                    "unique_graphs": int(counters["stats"]["unique_graphs"])}
        except Exception:  # noqa: BLE001 - private API; its absence only loses a note
            return None

    def compile_reset(self):
        torch = self.torch
        # Fresh Dynamo caches per row: compiled rows share VDSR.forward's code object, and the
        # recompile limit (8) would otherwise silently drop later rows back to eager.
        reset = getattr(getattr(torch, "compiler", None), "reset", None)
        (reset or torch._dynamo.reset)()
        try:
            # Releases the reduce-overhead rows' graph memory pools, if reset() did not already.
            from torch._inductor.cudagraph_trees import reset_cudagraph_trees
            reset_cudagraph_trees()
        except Exception:  # noqa: BLE001 - private API; only memory is at stake
            pass

    def wrap(self, model, mode):
        if mode.startswith("eager"):
            return model
        self.compile_reset()
        return self.torch.compile(model, **COMPILE_KWARGS[mode])

    def mark_step(self, mode):
        if mode in CUDAGRAPH_COMPILE_MODES:
            # Tells the cudagraph tree a new iteration begins, so last step's outputs may be reused.
            self.torch.compiler.cudagraph_mark_step_begin()

    def warm_and_capture(self, warm, body, warmup, before_capture=None):
        """Runs warm() on a side stream (cuDNN autotuning, lazy state such as momentum buffers),
        then captures body() once; returns (graph, body's result, warm()'s first result)."""
        torch = self.torch
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        first = None
        with torch.cuda.stream(s):
            for i in range(max(3, warmup)):
                r = warm()
                if i == 0:
                    first = r.detach().clone()
        torch.cuda.current_stream().wait_stream(s)
        torch.cuda.synchronize()
        if before_capture is not None:
            before_capture()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = body()
        torch.cuda.synchronize()
        return graph, out, first

    def run_train(self, mode, prec, reps, warmup, row):
        torch = self.torch
        model = self.new_model(prec)
        opt, row["sgd"] = self.make_sgd(model)
        params = list(model.parameters())
        g = torch.Generator().manual_seed(self.args.seed + 1)
        x = torch.rand(TRAIN_B, 1, TRAIN_HW, TRAIN_HW, generator=g)
        # Targets near the input, as in super-resolution; the values do not change the timing.
        y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp_(0, 1)
        x = self.to_format(x.to(self.device), prec)
        y = self.to_format(y.to(self.device), prec)
        fwd = self.wrap(model, mode)
        graphed = mode == "eager-cudagraph"

        def body():
            with self.autocast(prec, cache_enabled=not graphed):
                out = fwd(x)
                loss = self.loss_fn(out, y, TRAIN_B)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, CLIP_NORM)
            opt.step()
            return loss

        def step():
            self.mark_step(mode)
            opt.zero_grad(set_to_none=True)
            return body()

        t = time.time()
        if graphed:
            # Grads set to None just before capture so backward allocates them from the graph's
            # pool and every replay rewrites them in place (PyTorch's whole-network capture recipe).
            graph, static_loss, first = self.warm_and_capture(
                step, body, warmup, before_capture=lambda: opt.zero_grad(set_to_none=True))
            row["first_s"] = round(time.time() - t, 3)
            row["loss_first"] = json_num(first.item())
            log("  eager warm-up + capture %.1f s" % row["first_s"])
            fn = graph.replay
            for _ in range(warmup):
                fn()
        else:
            loss = step()
            row["loss_first"] = json_num(loss.item())  # syncs, so first_s covers compile + autotune
            row["first_s"] = round(time.time() - t, 3)
            log("  first step %.1f s" % row["first_s"])
            for _ in range(warmup * (2 if mode.startswith("compile") else 1)):
                step()
            fn = step
        per, block = self.time_calls(fn, reps)
        last = static_loss if graphed else step()
        row["loss_last"] = json_num(last.item())
        return per, block

    def run_infer(self, mode, prec, reps, warmup, row):
        torch = self.torch
        model = self.new_model(prec).eval()
        g = torch.Generator().manual_seed(self.args.seed + 2)
        x = torch.rand(1, 1, INFER_H, INFER_W, generator=g)
        x = self.to_format(x.to(self.device), prec)
        fwd = self.wrap(model, mode)
        graphed = mode == "eager-cudagraph"

        def call():
            self.mark_step(mode)
            with self.autocast(prec, cache_enabled=not graphed):
                return fwd(x)

        with torch.inference_mode():
            t = time.time()
            if graphed:
                graph, out, _ = self.warm_and_capture(call, call, warmup)
                fn = graph.replay
            else:
                out = call()
                torch.cuda.synchronize()
                fn = call
            row["first_s"] = round(time.time() - t, 3)
            log("  first call %.1f s" % row["first_s"])
            for _ in range(warmup * (2 if mode.startswith("compile") else 1)):
                fn()
            per, block = self.time_calls(fn, reps)
            if not graphed:
                out = call()
            check(tuple(out.shape) == (1, 1, INFER_H, INFER_W), "output shape %s" % (tuple(out.shape),))
            row["output_finite"] = bool(torch.isfinite(out).all().item())
        return per, block

    def run_row(self, wl, mode, prec):
        torch = self.torch
        a = self.args
        if wl == "train":
            reps = a.reps or (5 if a.quick else 100)
            warmup = a.warmup if a.warmup is not None else (3 if a.quick else 20)
            flop = TRAIN_FLOP
        else:
            reps = a.reps or (3 if a.quick else 20)
            warmup = a.warmup if a.warmup is not None else (3 if a.quick else 5)
            flop = INFER_FLOP
        row = {"workload": wl, "mode": mode, "precision": prec, "status": "ok",
               "memory_format": "channels_last" if prec == "bf16-channels_last" else "contiguous",
               "compile_mode": COMPILE_KWARGS.get(mode, {}).get("mode", "default")
               if mode.startswith("compile") else None,
               "reps": reps, "warmup": warmup, "flop": flop, "median_ms": None,
               "block_mean_ms": None, "tflops_median": None, "tflops_block": None}
        log("%s %s %s: start (%d reps, %d warm-up)" % (wl, mode, prec, reps, warmup))
        c0 = self.counters()
        try:
            self.set_precision(prec)
            row["tf32_flags"] = self.tf32_state()
            row["conv_rel_err"] = json_num(self.conv_rel_err(prec))
            if prec == "fp32" and not (self.conv_rel_err(prec) <= 1e-4):
                row["note"] = "fp32 conv error %.1e looks like reduced precision" % row["conv_rel_err"]
            torch.cuda.reset_peak_memory_stats(self.device)
            runner = self.run_train if wl == "train" else self.run_infer
            per, block = runner(mode, prec, reps, warmup, row)
            if mode.startswith("compile"):
                row["compile_s"] = row.get("first_s")  # the first call is where compiling happens
            per_sorted = sorted(per)
            med = statistics.median(per)
            row.update({
                "median_ms": med, "block_mean_ms": block, "min_ms": per_sorted[0],
                "p90_ms": per_sorted[min(len(per) - 1, int(math.ceil(0.9 * len(per))) - 1)],
                "tflops_median": flop / (med * 1e-3) / 1e12,
                "tflops_block": flop / (block * 1e-3) / 1e12,
                "peak_mem_gib": torch.cuda.max_memory_allocated(self.device) / 2**30,
            })
            c1 = self.counters()
            if c0 is not None and c1 is not None and mode.startswith("compile"):
                row["dynamo_graphs"] = c1["unique_graphs"] - c0["unique_graphs"]
                skips = c1["cudagraph_skips"] - c0["cudagraph_skips"]
                if mode in CUDAGRAPH_COMPILE_MODES and skips:
                    row["note"] = "Inductor skipped cudagraphs %d time(s): rows ran without graphs" % skips
            log("  %s %s %s: median %.3f ms, block %.3f ms, %.1f TFLOP/s"
                % (wl, mode, prec, med, block, row["tflops_block"]))
        except Exception as e:  # noqa: BLE001 - one failing config must not stop the others
            row["status"] = "failed: " + one_line(e)
            log("  %s %s %s: %s" % (wl, mode, prec, row["status"]))
        finally:
            self.cleanup()
        return row

    def cleanup(self):
        torch = self.torch
        try:
            self.compile_reset()
        except Exception:  # noqa: BLE001
            pass
        gc.collect()
        try:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
        except Exception as e:  # noqa: BLE001 - a sticky CUDA error shows up in later rows
            log("cleanup: %s" % one_line(e))

    # ---- environment --------------------------------------------------------------------------

    def environment(self):
        torch = self.torch
        props = torch.cuda.get_device_properties(self.device)
        gpu = {"name": props.name, "sm_count": props.multi_processor_count,
               "compute_capability": "%d.%d" % (props.major, props.minor),
               "total_memory_gib": round(props.total_memory / 2**30, 2),
               "cuda_runtime_torch_built_with": torch.version.cuda,
               "driver_cuda_api": driver_api_version(), "driver": driver_string()}
        l2 = getattr(props, "L2_cache_size", None)
        if l2:
            gpu["l2_bytes"] = l2
        try:
            import triton
            triton_version = triton.__version__
        except Exception:  # noqa: BLE001
            triton_version = None
        try:
            backend = torch.cuda.get_allocator_backend()
        except Exception:  # noqa: BLE001
            backend = None
        return {
            "gpu": gpu, "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
            "triton": triton_version, "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "allocator": {"backend": backend,
                          "PYTORCH_CUDA_ALLOC_CONF": os.environ.get("PYTORCH_CUDA_ALLOC_CONF"),
                          "PYTORCH_ALLOC_CONF": os.environ.get("PYTORCH_ALLOC_CONF")},
            "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
            "flop": {"train_step": TRAIN_FLOP, "infer_1080p": INFER_FLOP,
                     "macs_per_pixel": MACS_PER_PIXEL},
            "recipe": {"lr": LR, "momentum": MOMENTUM, "weight_decay_weights": WEIGHT_DECAY,
                       "weight_decay_biases": 0.0, "clip_global_l2": CLIP_NORM,
                       "batch": TRAIN_B, "patch": TRAIN_HW},
            "cudnn_benchmark": True,
        }


def driver_api_version():
    """cuDriverGetVersion, e.g. 13000: torch does not expose the driver's own CUDA version."""
    try:
        import ctypes
        lib = ctypes.CDLL("libcuda.so.1")
        v = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(v)) == 0:
            return "%d.%d" % (v.value // 1000, (v.value % 1000) // 10)
    except Exception:  # noqa: BLE001
        pass
    return None


def driver_string():
    try:
        with open("/proc/driver/nvidia/version") as f:
            first = f.readline()
        for tok in first.split():
            if tok[:1].isdigit() and tok.count(".") >= 1:
                return tok
    except OSError:
        pass
    return None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def print_table(rows, sgd):
    head = "%-6s %-31s %-19s %10s %10s %9s %8s  %s" % (
        "work", "mode", "precision", "median ms", "block ms", "TFLOP/s", "first s", "status")
    print(head)
    print("-" * len(head))
    for r in rows:
        print("%-6s %-31s %-19s %10s %10s %9s %8s  %s" % (
            r["workload"], r["mode"], r["precision"], fmt(r.get("median_ms"), ".3f"),
            fmt(r.get("block_mean_ms"), ".3f"), fmt(r.get("tflops_block"), ".1f"),
            fmt(r.get("first_s"), ".1f"), r["status"] + ("" if not r.get("note") else " (" + r["note"] + ")")))
    print("TFLOP/s from the block mean; train step = %.1f GFLOP (3 x forward), 1080p frame = %.3f TFLOP;"
          " torch.optim.SGD: %s." % (TRAIN_FLOP / 1e9, INFER_FLOP / 1e12, sgd or "not used"))
    sys.stdout.flush()


# What a row of each kind is expected to take, first call (the compile) included, until one of that
# kind has run: guesses, not measurements (a cold max-autotune compile of VDSR fills Inductor's and
# Triton's caches; later rows of the same kind find them filled).
ROW_SECONDS_GUESS = {"max-autotune": 150.0, "compile": 45.0, "eager": 10.0}


def row_kind(mode):
    return "max-autotune" if mode in MAX_AUTOTUNE_MODES else "compile" if mode.startswith("compile") else "eager"


def run_plan(plan, run_row, deadline=None, start=0.0, now=time.monotonic, on_row=None):
    """The rows of plan, in order, by run_row(wl, mode, prec); with a deadline (seconds after start,
    on the clock now), a row whose kind is expected to take longer than what is left is listed as
    skipped instead. on_row(rows) after each row (peer.json rewritten)."""
    rows = []
    need = dict(ROW_SECONDS_GUESS)
    for wl, mode, prec in plan:
        kind = row_kind(mode)
        left = None if deadline is None else deadline - (now() - start)
        if left is not None and left < need[kind]:
            why = "--deadline: %.0f s left, a %s row takes about %.0f s" % (left, kind, need[kind])
            log("%s %s %s: skipped (%s)" % (wl, mode, prec, why))
            rows.append({"workload": wl, "mode": mode, "precision": prec, "status": "skipped: " + why})
        else:
            t0 = now()
            rows.append(run_row(wl, mode, prec))
            need[kind] = 1.2 * (now() - t0)
        if on_row:
            on_row(rows)
    return rows


def exit_status(rows):
    """1 when no row gave a result and at least one failed (PyTorch itself broken); 0 otherwise:
    rows skipped by --deadline are not failures, and one failed row among results is in the table."""
    failed = sum(1 for r in rows if r["status"].startswith("failed"))
    skipped = sum(1 for r in rows if r["status"].startswith("skipped"))
    return 1 if failed > 0 and failed + skipped == len(rows) else 0


def write_json(path, doc):
    tmp = path + ".tmp.%d" % os.getpid()
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main(argv=None):
    start = time.monotonic()  # --deadline counts from here: PyTorch's import and checks included
    args = parse_args(sys.argv[1:] if argv is None else argv)
    plan = build_plan(args)
    if not plan:
        print("pytorch_peer: nothing to run for these --workloads/--modes/--precisions", file=sys.stderr)
        return 2
    if args.list:
        print("\n".join("/".join(p) for p in plan))
        return 0
    try:
        import torch
    except ImportError as e:
        print("pytorch_peer: PyTorch is not installed (%s)" % e, file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("pytorch_peer: no usable CUDA device (torch %s)" % torch.__version__, file=sys.stderr)
        return 2
    bench = Bench(args)
    torch.cuda.set_device(bench.device)
    bench.sanity()
    doc = bench.environment()
    log("%s, %d SMs, torch %s, cuDNN %s, driver %s (CUDA %s)" % (
        doc["gpu"]["name"], doc["gpu"]["sm_count"], doc["torch"], doc["cudnn"],
        doc["gpu"]["driver"], doc["gpu"]["driver_cuda_api"]))
    log("plan: %d rows: %s" % (len(plan), ", ".join("/".join(p) for p in plan)))
    def on_row(rows):
        doc["rows"] = rows
        doc["sgd"] = next((r["sgd"] for r in rows if r.get("sgd")), None)
        if args.json:
            write_json(args.json, doc)

    doc["rows"] = run_plan(plan, bench.run_row, args.deadline, start, on_row=on_row)
    print_table(doc["rows"], doc.get("sgd"))
    if args.json:
        log("wrote %s" % args.json)
    failed = sum(1 for r in doc["rows"] if r["status"].startswith("failed"))
    skipped = sum(1 for r in doc["rows"] if r["status"].startswith("skipped"))
    log("done: %d rows, %d failed, %d skipped" % (len(doc["rows"]), failed, skipped))
    return exit_status(doc["rows"])


if __name__ == "__main__":
    sys.exit(main())
