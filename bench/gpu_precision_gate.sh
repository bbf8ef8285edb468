#!/usr/bin/env bash
# gpu_precision_gate.sh: the accuracy gates of a tensor-core mode (issue 6: bf16, the default; tf32
# with VDSR_GATE_MODE=tf32), run on the GPU machine from the repository root of a copy that carries
# .carry/ with T91, BSD200, Set5 and Set14
# (VDSR_CARRY_DATA="T91 BSD200 Set5 Set14" bench/prepare_carry.sh), alone or as a step of
# `bench/gpu_check.sh --gate MODE[:STEPS]`:
#
#   [VDSR_GATE_MODE=bf16|tf32] bench/gpu_precision_gate.sh [STEPS] [vdsr_train options...]
#
# Trains three models for STEPS steps [2000] (one epoch of STEPS steps: no decay) with the same
# options: fp32 seed 1, fp32 seed 2, and MODE seed 1 (the same seed and data order as the first).
# Each run's train.jsonl must show STEPS steps done. Then
#   inference gate: the fp32 seed-1 weights evaluated on Set5 and Set14 in fp32 and in MODE;
#                   MODE must be within 0.01 dB of fp32 at every set and scale;
#   training gate:  the three models evaluated in fp32 on Set5; the MODE-trained model must be
#                   within max(0.02 dB, 2 x |fp32 seed 1 - fp32 seed 2|) of fp32 seed 1 at every
#                   scale.
# The training runs' wall times and each step's time come from their train.jsonl. Results go to
# stdout and $OUT/gate.txt, every run's train.jsonl and eval JSON into $OUT/gate-runs.tar.gz (two
# files: the device tool brings back 8 at most). Exit status 0 when both gates pass.
#
# Environment: VDSR_GPU (device [0]; -1 the CPU, where only VDSR_GATE_MODE=fp32 runs: the dry run of
# gpu_check.sh, fp32 against itself), VDSR_GPU_BUILD (binaries [build-gpu/]), VDSR_GATE_DATA (a
# folder holding T91, BSD200, Set5 and Set14 [.carry/data]), VDSR_GATE_EXTRA (options added to every
# training run, before the command line's), VDSR_GATE_RUNS (where the runs' folders go [/tmp]),
# OUT [bench/out-gate].
set -uo pipefail
root="$(pwd)"
[ -f "$root/bench/gpu_precision_gate.sh" ] || { echo "gpu_precision_gate: run from the repository root" >&2; exit 2; }
build="${VDSR_GPU_BUILD:-$root/build-gpu}"
data="${VDSR_GATE_DATA:-$root/.carry/data}"
runs="${VDSR_GATE_RUNS:-/tmp}"
gpu="${VDSR_GPU:-0}"
read -r -a extra <<< "${VDSR_GATE_EXTRA:-}"
out="${OUT:-$root/bench/out-gate}"
steps="${1:-2000}"
mode="${VDSR_GATE_MODE:-bf16}"
case "$mode" in
  bf16|tf32) ;;
  fp32) [ "$gpu" = -1 ] || { echo "gpu_precision_gate: VDSR_GATE_MODE=fp32 is the CPU dry run's (VDSR_GPU=-1) only" >&2; exit 2; } ;;
  *) echo "gpu_precision_gate: VDSR_GATE_MODE must be bf16 or tf32, got '$mode'" >&2; exit 2 ;;
esac
# The runs' and files' name for the gated mode (the dry run's fp32 must not overwrite fp32 seed 1's).
tag="$mode"
[ "$mode" = fp32 ] && tag="dry-fp32"
case "$steps" in ''|*[!0-9]*|0) echo "gpu_precision_gate: STEPS must be a whole number of steps above 0, got '$steps'" >&2; exit 2 ;; esac
[ $# -gt 0 ] && shift
mkdir -p "$out" "$runs"
rm -f "$out"/gate-*.json "$out"/gate-*.jsonl "$out/gate-runs.tar.gz"
: > "$out/gate.txt"
note() { echo "$*" | tee -a "$out/gate.txt"; }
# finish STATUS: every run's files into one archive, gate.txt beside it; exit STATUS.
finish() {
  (cd "$out" && compgen -G 'gate-*.json*' > /dev/null &&
    { tar czf gate-runs.tar.gz gate-*.json* || [ $? -eq 1 ]; } && rm -f gate-*.json gate-*.jsonl)  # 1: a file changed
  exit "$1"
}
for s in T91 BSD200 Set5 Set14; do
  [ -d "$data/$s" ] || { echo "gpu_precision_gate: $data/$s missing (see the header)" >&2; exit 2; }
done
# Built here only when run alone (gpu_check.sh sets VDSR_NO_REBUILD: it built it, or failed to),
# into a results folder of its own so that $OUT keeps the gate's files alone.
if [ ! -x "$build/bin/vdsr_train" ] && [ -z "${VDSR_NO_REBUILD:-}" ]; then
  OUT="$runs/gate-build-results" bash "$root/bench/gpu_check.sh" --no-tests --no-bench
fi
for t in vdsr_train vdsr_eval; do
  [ -x "$build/bin/$t" ] || { note "gpu_precision_gate: no $build/bin/$t (the build failed)"; finish 1; }
done
train() {  # name precision seed
  local dir="$runs/gate-$1"
  rm -rf "$dir"
  local t0=$SECONDS
  "$build/bin/vdsr_train" -g "$gpu" --train "$data/T91,$data/BSD200" --out "$dir" \
    --epochs 1 --epoch-iters "$steps" --precision "$2" --seed "$3" -q "${extra[@]}" "${@:4}" \
    > "$dir.log" 2>&1 ||
    { note "gpu_precision_gate: training $1 failed:"; tail -5 "$dir.log" | tee -a "$out/gate.txt"; return 1; }
  # The schedule's own length must be STEPS (an epoch's default length changed once, silently
  # making these runs 8 times longer).
  local done_steps
  done_steps="$(python3 -c 'import json,sys
print(max([json.loads(l).get("step", 0) for l in open(sys.argv[1]) if l.strip()] or [0]))' "$dir/train.jsonl")"
  [ "$done_steps" = "$steps" ] ||
    { note "gpu_precision_gate: training $1 ran $done_steps steps, not $steps (see $dir.log)"; return 1; }
  note "$1: trained $steps steps in $((SECONDS - t0)) s wall (process, data included)"
  cp -f "$dir/train.jsonl" "$out/gate-$1.jsonl"
}
evaluate() {  # name weights precision sets
  "$build/bin/vdsr_eval" -g "$gpu" -m "$2" --precision "$3" --data "$4" -q --json "$out/gate-$1.json" \
    > "$runs/gate-eval-$1.log" 2>&1 ||
    { note "gpu_precision_gate: eval $1 failed:"; tail -5 "$runs/gate-eval-$1.log" | tee -a "$out/gate.txt"; return 1; }
}
ok=1
train fp32-s1 fp32 1 "$@" && train fp32-s2 fp32 2 "$@" && train "$tag-s1" "$mode" 1 "$@" || ok=0
if [ $ok = 1 ]; then
  w1="$runs/gate-fp32-s1/vdsr.safetensors"
  evaluate inf-fp32 "$w1" fp32 "$data/Set5,$data/Set14" &&
    evaluate "inf-$tag" "$w1" "$mode" "$data/Set5,$data/Set14" &&
    evaluate tr-fp32-s1 "$w1" fp32 "$data/Set5" &&
    evaluate tr-fp32-s2 "$runs/gate-fp32-s2/vdsr.safetensors" fp32 "$data/Set5" &&
    evaluate "tr-$tag-s1" "$runs/gate-$tag-s1/vdsr.safetensors" fp32 "$data/Set5" || ok=0
fi
[ $ok = 1 ] || { note "$mode gates: not decided (a run failed)"; finish 1; }
python3 - "$out" "$steps" "${extra[*]}${extra[*]:+ }$*" "$mode" "$tag" <<'PY' | tee -a "$out/gate.txt"
import json, sys
out, steps, opts, mode, tag = sys.argv[1:6]
opts = opts.strip()
def load(n):
    return {(r["set"], r["scale"]): r["psnr"] for r in json.load(open(f"{out}/gate-{n}.json"))["results"]}
def step_ms(n):
    recs = [json.loads(l) for l in open(f"{out}/gate-{n}.jsonl")]
    st = [r for r in recs if r.get("record") == "step"]
    if len(st) < 2: return float("nan")
    return 1000 * (st[-1]["seconds"] - st[0]["seconds"]) / (st[-1]["step"] - st[0]["step"])
print(f"runs: {steps} steps each, options '{opts or '(defaults)'}'")
for n in ("fp32-s1", "fp32-s2", f"{tag}-s1"):
    print(f"  {n}: {step_ms(n):.2f} ms per step (train.jsonl, data included)")
ok = True
a, b = load("inf-fp32"), load(f"inf-{tag}")
print(f"inference gate (same weights, {mode} - fp32 must be within 0.01 dB):")
for k in sorted(a):
    d = b[k] - a[k]
    good = abs(d) <= 0.01
    ok &= good
    print(f"  {k[0]:<6} x{k[1]}  fp32 {a[k]:.4f}  {mode} {b[k]:.4f}  diff {d:+.4f}  {'pass' if good else 'FAIL'}")
s1, s2, bf = load("tr-fp32-s1"), load("tr-fp32-s2"), load(f"tr-{tag}-s1")
print("training gate (Set5, evaluated in fp32):")
for k in sorted(s1):
    tol = max(0.02, 2 * abs(s1[k] - s2[k]))
    d = bf[k] - s1[k]
    good = abs(d) <= tol
    ok &= good
    print(f"  {k[0]:<6} x{k[1]}  fp32 s1 {s1[k]:.4f}  s2 {s2[k]:.4f}  {mode} s1 {bf[k]:.4f}  diff {d:+.4f}  tol {tol:.4f}  {'pass' if good else 'FAIL'}")
print(f"{mode} gates: " + ("PASS" if ok else "FAIL"))
sys.exit(0 if ok else 1)
PY
finish "${PIPESTATUS[0]}"
