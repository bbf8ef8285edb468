#!/usr/bin/env bash
# gpu_train.sh: trains VDSR on the GPU machine with the default recipe and evaluates the result, for
# the bundled model. Run from the repository root of a copy that carries .carry/ made with
#   VDSR_CARRY_DATA="T91 BSD200 Set5 Set14 B100" bench/prepare_carry.sh
# It builds build-gpu/ first if needed (bench/gpu_check.sh --no-tests --no-bench), then
#   vdsr_train -g 0 --train T91,BSD200 --val Set5 --out /tmp/vdsr-train-run --resume auto [ARGS...]
# under a timeout of VDSR_TRAIN_SECONDS [480], cut to what VDSR_CALL_SECONDS [550] (the call's
# timeout_s less 50) leaves after the build and a minute for the evaluation (a build on a fresh
# machine takes minutes; the run's checkpoint is written when it is cut, and --resume auto continues it with the
# same command in the next call while the machine is still warm), then vdsr_eval -g 0 on every
# carried evaluation set at x2, x3, x4. Results go to $OUT: train.jsonl and curve.svg always, and
# when the run is done vdsr.safetensors, eval.json, eval.txt (at most 8 files: the device tool's
# limit). Give --precision bf16: the default recipe's 90,000 steps take about 22 minutes in fp32.
# VDSR_GPU=-1 runs the same steps on the CPU (a dry run of the script with a tiny config).
# VDSR_RUN_DIR moves the run folder (default /tmp/vdsr-train-run: not under .carry/, which a later
# device call that carries .carry/ would replace, nor in the tree, which a call copies afresh).
set -uo pipefail
root="$(pwd)"
[ -f "$root/bench/gpu_train.sh" ] || { echo "gpu_train: run from the repository root" >&2; exit 2; }
build="${VDSR_GPU_BUILD:-$root/build-gpu}"
out="${OUT:-$root/bench/out-train}"
run="${VDSR_RUN_DIR:-/tmp/vdsr-train-run}"
data="$root/.carry/data"
mkdir -p "$out"
for s in T91 BSD200; do
  [ -d "$data/$s" ] || { echo "gpu_train: $data/$s missing (VDSR_CARRY_DATA, see above)" >&2; exit 2; }
done
total="${VDSR_CALL_SECONDS:-550}"
if [ ! -x "$build/bin/vdsr_train" ]; then
  bash "$root/bench/gpu_check.sh" --budget $((total - 120)) --no-tests --no-bench || true
fi
train_s="${VDSR_TRAIN_SECONDS:-480}"
left=$((total - SECONDS - 60))
[ "$left" -lt "$train_s" ] && train_s="$left"
[ "$train_s" -ge 30 ] || { echo "gpu_train: ${left} s left of $total after the build: run it again on the warm machine" >&2; exit 1; }
# gpu_check.sh puts cuDNN on LD_LIBRARY_PATH for the bench only; training and eval do not need it.
val=()
[ -d "$data/Set5" ] && val=(--val "$data/Set5")
gpu="${VDSR_GPU:-0}"
timeout --kill-after=10 "$train_s" "$build/bin/vdsr_train" -g "$gpu" \
  --train "$data/T91,$data/BSD200" "${val[@]}" --out "$run" --resume auto "$@"
rc=$?
[ $rc = 124 ] &&
  echo "gpu_train: cut after $train_s s; its checkpoint is in $run: the same command continues it" >&2
cp -f "$run/train.jsonl" "$run/curve.svg" "$out/" 2>/dev/null
[ $rc = 0 ] || { echo "gpu_train: vdsr_train exited $rc" >&2; exit $rc; }
cp -f "$run/vdsr.safetensors" "$out/"
sets=()
for s in Set5 Set14 B100 Urban100; do [ -d "$data/$s" ] && sets+=("$data/$s"); done
if [ ${#sets[@]} -gt 0 ]; then
  list="$(IFS=,; echo "${sets[*]}")"
  "$build/bin/vdsr_eval" -g "$gpu" -m "$run/vdsr.safetensors" --data "$list" --json "$out/eval.json" \
    | tee "$out/eval.txt"
fi
