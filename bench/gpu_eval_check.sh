#!/usr/bin/env bash
# GPU vs CPU end to end (run on the GPU machine after bench/gpu_check.sh built build-gpu/): a
# seeded random VDSR evaluated on a set with vdsr_eval -g 0 and -g -1 must give the same PSNR to
# 0.001 dB, and vdsr_sr -g 0 must upscale the samples. Usage: bench/gpu_eval_check.sh SET_DIR [DIR]
# (its files go to DIR [/tmp/vdsr-eval-check], not to a device call's $OUT, which brings back at
# most 8 files; the verdict is on stdout).
set -euo pipefail
set_dir="$1"
out="${2:-/tmp/vdsr-eval-check}"
mkdir -p "$out"
bin="${VDSR_GPU_BUILD:-build-gpu}/bin"
"$bin/vdsr_train" -g -1 --train samples --out "$out/rand" --epochs 0 --seed 3 -q
"$bin/vdsr_eval" -g 0 -m "$out/rand/vdsr.safetensors" --data "$set_dir" --scales 2,3,4 --json "$out/eval_gpu.json"
"$bin/vdsr_eval" -g -1 -m "$out/rand/vdsr.safetensors" --data "$set_dir" --scales 2,3,4 --json "$out/eval_cpu.json"
python3 - "$out/eval_gpu.json" "$out/eval_cpu.json" <<'PY'
import json, sys
g = json.load(open(sys.argv[1]))["results"]; c = json.load(open(sys.argv[2]))["results"]
worst = max(abs(a["psnr"] - b["psnr"]) for a, b in zip(g, c))
print(f"GPU vs CPU PSNR: largest difference {worst:.6f} dB over {len(g)} rows")
sys.exit(0 if worst <= 0.001 else 1)
PY
"$bin/vdsr_sr" -g 0 -m "$out/rand/vdsr.safetensors" -s 3 -i samples -o "$out/sr_gpu"
ls -l "$out/sr_gpu"
