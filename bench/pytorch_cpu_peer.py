#!/usr/bin/env python3
"""pytorch_cpu_peer.py: the CPU rows of `vdsr_bench -g -1`, written in plain PyTorch on the same
threads, so the CPU backend's speed has a measured peer (the brief's CPU target: >= 1.5x PyTorch with
the same threads). bench/cpu_check.sh runs it beside vdsr_bench when PyTorch imports; by hand:

    python3 bench/pytorch_cpu_peer.py --threads 2 --json peer.json

Debian's PyTorch (apt-get install python3-torch) runs on one thread unless told: --threads sets
torch.set_num_threads, and the count is printed and recorded.

Rows (fp32, the same shapes and FLOP conventions as vdsr_bench -g -1):
  conv3x3_fwd / conv3x3_bwd_data / conv3x3_bwd_weight 64x41x41 64->64: F.conv2d with bias, and
      aten.convolution_backward for the input gradient and for the weight and bias gradients (what
      autograd calls), in NCHW and channels_last; 2 x 9 x 64 x 64 FLOP per pixel each.
  network forward 1x256x256: VDSR (20 conv 3x3 with biases, ReLU after 1..19, x + net(x)) under
      inference_mode, in three layouts: NCHW, channels_last, and oneDNN's blocked layout
      (torch.utils.mkldnn.to_mkldnn, PyTorch's fastest CPU inference path); the best is the peer.
  training step 64x41x41: forward, loss 1/(2B) sum (x + f(x) - y)^2, backward, global-L2 clip to
      0.4, SGD (momentum 0.9, weight decay 1e-4); NCHW and channels_last, the best is the peer.
      FLOP = 3 x forward except layer 1 (no input gradient), as vdsr_bench counts it.
Each row: median of --reps timed calls after one untimed call.
"""

import argparse
import datetime
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_peer import CHANNELS, DEPTH, define_vdsr  # noqa: E402 (the GPU peer's network)

LAYOUTS = (("NCHW", torch.contiguous_format), ("channels_last", torch.channels_last))


def median_seconds(reps, fn):
    fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


Vdsr = define_vdsr(torch)


def layer_macs_per_pixel():
    chans = [1] + [CHANNELS] * (DEPTH - 1) + [1]
    return [9 * chans[i] * chans[i + 1] for i in range(DEPTH)]


def compare(path, best):
    """Ours (a vdsr_bench -g -1 --json file) against the fastest PyTorch configuration, row by row."""
    with open(path) as f:
        ours = json.load(f)
    peak = ours.get("fma_peak_gflops")
    print()
    print(f"{'row':<34} {'ours GFLOP/s':>12} {'PyTorch':>10} {'ratio':>7}"
          + (f" {'ours % peak':>11} {'PyTorch % peak':>14}" if peak else ""))
    for r in ours["rows"]:
        peer = best.get(r["row"])
        if peer is None:
            continue
        line = f"{r['row']:<34} {r['gflops']:12.2f} {peer['gflops']:10.2f} {r['gflops'] / peer['gflops']:6.2f}x"
        if peak:
            line += f" {100 * r['gflops'] / peak:10.1f}% {100 * peer['gflops'] / peak:13.1f}%"
        print(line)
    if peak:
        print(f"(% of the multiply-add peak vdsr_bench measured: {peak:.2f} GFLOP/s, "
              f"{ours.get('isa', '?')}, {ours.get('threads', '?')} threads)")
    if any(r.get("method", "direct") != "direct" for r in ours["rows"]):
        print("(our rows whose method names Winograd do 2.25x (F(2x2)) or 4x (F(4x4)) fewer multiply-adds on "
              "their 64 -> 64 layers than they are credited with: both sides count the direct method's, so the "
              "ratio is a ratio of times)")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads [2]")
    p.add_argument("--reps", type=int, default=5, help="timed calls per row, median reported [5]")
    p.add_argument("--batch", type=int, default=64, help="41 x 41 patches per batch [64]")
    p.add_argument("--image", type=int, default=256, help="side of the inference image [256]")
    p.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    p.add_argument("--ours", metavar="FILE",
                   help="a vdsr_bench -g -1 --json file from the same machine: print ours against the "
                        "fastest PyTorch configuration per row, and both as %% of its measured peak")
    args = p.parse_args(argv)
    if args.threads < 1 or args.reps < 1 or args.batch < 1 or args.image < 1:
        p.error("--threads, --reps, --batch and --image must be at least 1")
    torch.set_num_threads(args.threads)
    torch.manual_seed(1234)
    rows = []

    def row(name, flop, secs, config):
        gflops = flop / secs / 1e9
        print(f"{name:<34} {secs * 1e3:12.2f} {gflops:10.2f}  {config}", flush=True)
        rows.append({"row": name, "config": config, "median_ms": secs * 1e3, "gflops": gflops})

    print(f"PyTorch {torch.__version__} on the CPU, {torch.get_num_threads()} threads, "
          f"oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    print(f"{'row (PyTorch CPU, fp32)':<34} {'median ms':>12} {'GFLOP/s':>10}  config")

    b, hw = args.batch, 41
    conv_flop = 2.0 * 9 * CHANNELS * CHANNELS * b * hw * hw
    shape = f"{b}x41x41 64->64"
    conv_bwd = torch.ops.aten.convolution_backward
    common = ([CHANNELS], [1, 1], [1, 1], [1, 1], False, [0, 0], 1)
    for layout, fmt in LAYOUTS:
        x = torch.randn(b, CHANNELS, hw, hw).contiguous(memory_format=fmt)
        w = (torch.randn(CHANNELS, CHANNELS, 3, 3) * 0.05).contiguous(memory_format=fmt)
        bias = torch.randn(CHANNELS)
        dy = torch.randn(b, CHANNELS, hw, hw).contiguous(memory_format=fmt)
        with torch.inference_mode():
            row("conv3x3_fwd " + shape, conv_flop,
                median_seconds(args.reps, lambda: F.conv2d(x, w, bias, padding=1)), "F.conv2d, " + layout)
        row("conv3x3_bwd_data " + shape, conv_flop,
            median_seconds(args.reps, lambda: conv_bwd(dy, x, w, *common, [True, False, False])),
            "aten.convolution_backward, " + layout)
        row("conv3x3_bwd_weight " + shape, conv_flop,
            median_seconds(args.reps, lambda: conv_bwd(dy, x, w, *common, [False, True, True])),
            "aten.convolution_backward, " + layout)

    macs = layer_macs_per_pixel()
    model = Vdsr().eval()
    img = torch.rand(1, 1, args.image, args.image) - 0.5
    infer_flop = 2.0 * sum(macs) * args.image * args.image
    name = f"network forward 1x{args.image}x{args.image}"
    with torch.inference_mode():
        row(name, infer_flop, median_seconds(args.reps, lambda: model(img)), "eager, NCHW")
        cl_model = Vdsr().eval().to(memory_format=torch.channels_last)
        cl_img = img.contiguous(memory_format=torch.channels_last)
        row(name, infer_flop, median_seconds(args.reps, lambda: cl_model(cl_img)), "eager, channels_last")
        if torch.backends.mkldnn.is_available():
            from torch.utils import mkldnn as mkldnn_utils
            mk_model = mkldnn_utils.to_mkldnn(Vdsr().eval())
            row(name, infer_flop,
                median_seconds(args.reps, lambda: mk_model(img.to_mkldnn()).to_dense()),
                "oneDNN blocked layout (to_mkldnn)")

    train_flop = sum(2.0 * m * b * hw * hw * (2.0 if i == 0 else 3.0) for i, m in enumerate(macs))
    for layout, fmt in LAYOUTS:
        net = Vdsr().train().to(memory_format=fmt)
        decay = [q for n, q in net.named_parameters() if n.endswith("weight")]
        keep = [q for n, q in net.named_parameters() if n.endswith("bias")]
        opt = torch.optim.SGD([{"params": decay, "weight_decay": 1e-4},
                               {"params": keep, "weight_decay": 0.0}], lr=1e-6, momentum=0.9)
        xin = (torch.rand(b, 1, hw, hw) - 0.5).contiguous(memory_format=fmt)
        target = (torch.rand(b, 1, hw, hw) - 0.5).contiguous(memory_format=fmt)

        def step():
            opt.zero_grad(set_to_none=True)
            loss = ((net(xin) - target) ** 2).sum() / (2 * b)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.4)
            opt.step()

        row(f"training step {b}x41x41", train_flop, median_seconds(args.reps, step), "eager, " + layout)

    best = {}
    for r in rows:  # the peer of a row: its fastest configuration
        if r["row"] not in best or r["gflops"] > best[r["row"]]["gflops"]:
            best[r["row"]] = r
    if args.ours:
        compare(args.ours, best)

    if args.json:
        doc = {"rows": rows, "best": list(best.values()), "threads": torch.get_num_threads(), "torch": torch.__version__,
               "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
