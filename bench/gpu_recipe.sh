#!/usr/bin/env bash
# gpu_recipe.sh: the recipe screen and the main run (docs/training.md, "Choosing the recipe").
# Run on the GPU machine from the repository root of a copy that carries .carry/ with T91, BSD200
# and Set5 (VDSR_CARRY_DATA="T91 BSD200 Set5" bench/prepare_carry.sh):
#
#   bench/gpu_recipe.sh screen [STEPS] [CANDIDATE...]     CANDIDATE = "name|vdsr_train options"
#   bench/gpu_recipe.sh main SECONDS [CANDIDATE]          default: the screen's best
#   bench/gpu_recipe.sh dry-run BUILD_DIR                 both, on the CPU, tiny (a ctest case)
#
# screen: one candidate after another on the one GPU (separate processes would only time-slice
#   it), each from the same seed and data order: STEPS steps [4000] at its starting learning rate
#   (after its warm-up, if any), then STEPS / 4 steps at a tenth of it, so every candidate is judged
#   annealed, never by constant-lr noise. Validation on Set5 every STEPS / 4 steps. The table
#   (Set5 PSNR after the anneal at x2/x3/x4, the best x2 seen, the last loss, ms per step) goes to
#   stdout and $OUT/screen.txt, the same as JSON to $OUT/screen.json with every candidate's curve
#   (its epoch records; the device tool brings back 8 files at most, so no file per candidate);
#   the last line is "best: <name>|<options>" (by the mean of the three scales' PSNR; a collapsed
#   candidate, or one the budget cut before its anneal ended, only if no other is left).
#   The whole call, the build included, keeps to VDSR_RECIPE_BUDGET seconds [330]: each candidate
#   may take an equal share of what is left (a timeout cuts it there; its table row says so) and the
#   table is always written; screen.json's "steps" has each candidate's time.
# main: the candidate with its own schedule, sized to what is left of SECONDS, the whole call's
#   budget (at most 550: a call's timeout_s is SECONDS + 50 and 600 at most), after the build (a
#   fresh machine builds first), less VDSR_EVAL_RESERVE [60] s for the evaluation and 20 s of
#   start-up: as many epochs of 1,000 steps as fit at the candidate's all-in time per step in the
#   screen (steps, validation, checkpoint: screen.json's allin_ms, from VDSR_SCREEN_JSON, default
#   $OUT/screen.json), else VDSR_STEP_MS (or the screen's step_ms) plus 10 % and 1 s an epoch, or
#   VDSR_EPOCH_S seconds an epoch; under a timeout at the evaluation's reserve (a run cut there is
#   said in eval.txt, its checkpoint's raw weights are scored, and the exit status is 1); then
#   vdsr_eval on every carried evaluation set. Back in $OUT: vdsr.safetensors, main.jsonl,
#   main-curve.svg, main-summary.json, eval.json, eval.txt. A device call starts with an empty
#   $OUT, so a main run in a later call than its screen is given the candidate and the screen's
#   screen.json as committed (VDSR_SCREEN_JSON=docs/perf-data/.../screen.json).
#
# Environment: VDSR_GPU (device, default 0; -1 runs the same steps on the CPU: the dry run that
# tests/CMakeLists.txt runs with a tiny network), VDSR_GPU_BUILD (binaries, default build-gpu/),
# VDSR_RECIPE_TRAIN / VDSR_RECIPE_VAL (folders, default the carried T91,BSD200 / Set5),
# VDSR_RECIPE_EVAL (main's evaluation sets, default every carried one), VDSR_RECIPE_RUNS (the run
# folders, default /tmp/vdsr-recipe: checkpoints stay out of $OUT),
# VDSR_RECIPE_EXTRA (options added to every run, after the candidate's: --precision bf16 by
# default on a GPU), VDSR_RECIPE_BUDGET (the screen's seconds, build included [330]), OUT (default
# bench/out-recipe).
set -uo pipefail
root="$(pwd)"
[ -f "$root/bench/gpu_recipe.sh" ] || { echo "gpu_recipe: run from the repository root" >&2; exit 2; }
mode="${1:-}"
if [ "$mode" = dry-run ]; then
  # The whole script on the CPU with a tiny network on the bundled samples: it cannot rot.
  # shellcheck source=bench/dry_run.sh
  . "$root/bench/dry_run.sh"
  dry_run_env "$root" "${2:?gpu_recipe dry-run: the build folder}" recipe-dry-run || exit 1
  export OUT="$dry/out"
  bash "$0" screen 12 "sgd|--recipe bundled" "adam|--recipe fast --warmup-steps 5 --lr 1e-3" || exit 1
  grep -q '^best: ' "$OUT/screen.txt" || { echo "gpu_recipe dry-run: no best line" >&2; exit 1; }
  VDSR_EPOCH_ITERS=4 VDSR_EVAL_RESERVE=20 VDSR_EPOCH_S=10 bash "$0" main 60 || exit 1  # 2 epochs of 4 steps
  # A budget too small for any candidate: each is skipped, said in the table, and no best is named.
  OUT="$dry/out-budget" VDSR_RECIPE_BUDGET=14 bash "$0" screen 12 "sgd|--recipe bundled" || exit 1
  if [ "$(grep -c 'skipped (budget' "$dry/out-budget/screen.txt")" != 1 ] || grep -q '^best: ' "$dry/out-budget/screen.txt"; then
    echo "gpu_recipe dry-run: the budget did not skip the candidate" >&2; exit 1
  fi
  # A candidate that outlasts its share (a stand-in vdsr_train that logs one epoch, then sleeps):
  # cut by the timeout after about 12 s and marked so in the table.
  mkdir -p "$dry/slow/bin"
  cat > "$dry/slow/bin/vdsr_train" <<'SLOW'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do [ "$1" = --out ] && out="$2"; shift; done
mkdir -p "$out"
echo '{"record":"epoch","step":3,"loss":1.0,"step_ms":1.0,"val_psnr_x2":30.0}' > "$out/train.jsonl"
exec sleep 60
SLOW
  chmod +x "$dry/slow/bin/vdsr_train"
  OUT="$dry/out-cut" VDSR_GPU_BUILD="$dry/slow" VDSR_RECIPE_BUDGET=24 bash "$0" screen 12 "slow|--recipe bundled"
  grep -q 'slow .*cut by the budget' "$dry/out-cut/screen.txt" 2> /dev/null ||
    { echo "gpu_recipe dry-run: a candidate cut by the budget is not marked so" >&2; exit 1; }
  for f in screen.txt screen.json main.jsonl main-curve.svg vdsr.safetensors eval.json; do
    [ -s "$OUT/$f" ] || { echo "gpu_recipe dry-run: $OUT/$f missing" >&2; exit 1; }
  done
  # The device tool brings back 8 files at most.
  [ "$(find "$OUT" -type f | wc -l)" -le 8 ] || { echo "gpu_recipe dry-run: more than 8 files in $OUT" >&2; exit 1; }
  echo "gpu_recipe dry-run: passed"
  exit 0
fi
[ "$mode" = screen ] || [ "$mode" = main ] || {
  sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}
shift
build="${VDSR_GPU_BUILD:-$root/build-gpu}"
data="$root/.carry/data"
out="${OUT:-$root/bench/out-recipe}"
gpu="${VDSR_GPU:-0}"
runs="${VDSR_RECIPE_RUNS:-/tmp/vdsr-recipe}"
train="${VDSR_RECIPE_TRAIN:-$data/T91,$data/BSD200}"
val="${VDSR_RECIPE_VAL:-$data/Set5}"
default_extra="--precision bf16"
[ "$gpu" = -1 ] && default_extra=""
read -r -a extra <<< "${VDSR_RECIPE_EXTRA:-$default_extra}"
mkdir -p "$out"
if [ "$mode" = main ]; then
  # main SECONDS: the whole call's budget, the build (on a fresh machine) and the evaluation included.
  budget="${1:-}"
  shift
  case "$budget" in ''|*[!0-9]*) echo "gpu_recipe main: SECONDS (the whole call's budget) must be whole seconds, got '$budget'" >&2; exit 2 ;; esac
  [ "$budget" -le 550 ] || { echo "gpu_recipe main: SECONDS is at most 550 (a call's timeout_s: SECONDS + 50, 600 at most), got $budget" >&2; exit 2; }
else
  budget="${VDSR_RECIPE_BUDGET:-330}"
  case "$budget" in ''|*[!0-9]*) echo "gpu_recipe: VDSR_RECIPE_BUDGET takes whole seconds" >&2; exit 2 ;; esac
fi
eval_reserve="${VDSR_EVAL_RESERVE:-60}"  # main: seconds kept for vdsr_eval after the training
say() { echo "[gpu_recipe $(date -u +%H:%M:%S)] $*" >&2; }
# shellcheck disable=SC2317  # called by gpu_steps.sh
fail() { say "FAILED: $*"; }
# shellcheck source=bench/gpu_steps.sh
. "$root/bench/gpu_steps.sh"  # the budget's clock starts here: left, note_step
# Everything the run needs from the call is checked before the build, which on a fresh machine takes
# minutes of the call's one chance: the training and validation folders (the carry holds only the
# sets prepare_carry.sh was given), and in main the candidate and its time per step.
for d in ${train//,/ } ${val//,/ }; do
  [ -d "$d" ] || {
    echo "gpu_recipe: no data folder $d (carry it: VDSR_CARRY_DATA=\"T91 BSD200 Set5 ...\" bench/prepare_carry.sh)" >&2
    exit 2
  }
done
gpu_name() {  # the GPU's name, for the screen's times ("" on the CPU)
  [ "$gpu" = -1 ] && return
  nvidia-smi --query-gpu=name --format=csv,noheader -i "$gpu" 2> /dev/null | head -1
}
if [ "$mode" = main ]; then
  candidate="${1:-}"
  screen_json="${VDSR_SCREEN_JSON:-$out/screen.json}"
  if [ -z "$candidate" ]; then
    candidate=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["best"] or "")' "$screen_json" 2>/dev/null)
    [ -n "$candidate" ] || { echo "gpu_recipe main: no candidate given and no best in $screen_json" >&2; exit 2; }
  fi
  name="${candidate%%|*}" opts="${candidate#*|}"
  iters="${VDSR_EPOCH_ITERS:-1000}"
  # Seconds per epoch of ITERS steps, all in: VDSR_EPOCH_S; else the screen's all-in ms per step of
  # this candidate (steps, validation, checkpoint); else its step time (VDSR_STEP_MS, or the screen's)
  # plus 10 % and 1 s per epoch for what step_ms leaves out.
  epoch_s="${VDSR_EPOCH_S:-$(python3 - "$screen_json" "$name" "$iters" "${VDSR_STEP_MS:-}" <<'PY' 2>/dev/null
import json, sys
path, name, iters, step_ms = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
try:
    row = next((r for r in json.load(open(path))["rows"] if r["name"] == name), {})
except (OSError, ValueError, KeyError):
    row = {}
if row.get("allin_ms"):
    print(row["allin_ms"] * iters / 1e3)
elif step_ms or row.get("step_ms"):
    print(float(step_ms or row["step_ms"]) * iters / 1e3 * 1.1 + 1.0)
PY
)}"
  [ -n "$epoch_s" ] || { echo "gpu_recipe main: no time per step for $name (give VDSR_SCREEN_JSON, VDSR_STEP_MS or VDSR_EPOCH_S)" >&2; exit 2; }
  # A time per step from the screen is this GPU's only if the screen ran on the same kind: a run
  # sized on an H200's times and made on an H100 would be cut before its end. So a plan on the
  # screen's times keeps 5 % in hand, and 20 % when the kinds differ (or the screen did not say);
  # times given (VDSR_EPOCH_S; VDSR_STEP_MS has its own 10 %) are taken as they are.
  slack=1
  if [ -z "${VDSR_EPOCH_S:-}" ] && [ -z "${VDSR_STEP_MS:-}" ]; then
    slack=1.05
    screen_gpu=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("gpu") or "")' "$screen_json" 2>/dev/null)
    here_gpu="$(gpu_name)"
    if [ "$screen_gpu" != "$here_gpu" ]; then
      slack=1.2
      say "the screen ran on '${screen_gpu:-an unnamed GPU}', this is '${here_gpu:-unnamed}': planning with 20 % in hand"
    fi
  fi
fi
# Built here only when run alone (bench/gpu_session.sh sets VDSR_NO_REBUILD: its check built it, or
# failed to), into a results folder of its own so that $OUT keeps this run's files alone.
# In main, the build's budget leaves the evaluation's reserve and a minute of training.
if [ ! -x "$build/bin/vdsr_train" ] && [ -z "${VDSR_NO_REBUILD:-}" ]; then
  build_budget="$(left)"
  [ "$mode" = main ] && build_budget=$(( build_budget - eval_reserve - 60 ))
  OUT="$runs/build-results" VDSR_CHECK_BUDGET="$build_budget" bash "$root/bench/gpu_check.sh" --no-tests --no-bench || true
fi
[ -x "$build/bin/vdsr_train" ] || { echo "gpu_recipe: no $build/bin/vdsr_train (the build failed)" >&2; exit 2; }

# The default candidates: Adam(W) around the CPU proxy's best rates (docs/training.md), warm-up
# shortened to fit the screen, the bundled recipe and the paper's words; the likeliest first, so a
# budget that runs short cuts the least likely.
candidates_default=(
  "adam1e-3|--recipe fast --lr 1e-3 --warmup-steps 500"
  "adam5e-4|--recipe fast --lr 5e-4 --warmup-steps 500"
  "adam2e-3|--recipe fast --lr 2e-3 --warmup-steps 500"
  "adamw1e-3|--recipe fast --optimizer adamw --lr 1e-3 --weight-decay 0.01 --warmup-steps 500"
  "adam2e-4|--recipe fast --warmup-steps 500"
  "bundled|--recipe bundled"
  "paper|--recipe paper")

# run NAME DIR OPTIONS...: one vdsr_train run; its log in DIR.log; cut after $cap seconds if set.
run() {
  local name="$1" dir="$2"
  shift 2
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  timeout --kill-after=10 "${cap:-0}" "$build/bin/vdsr_train" -g "$gpu" --train "$train" --val "$val" --out "$dir" -q "$@" "${extra[@]}" \
    > "$dir.log" 2>&1
  local rc=$?  # kept: 124 / 137 say the budget cut it
  [ $rc = 0 ] || { echo "gpu_recipe: $name ended with status $rc (see $dir.log):" >&2; tail -n 3 "$dir.log" >&2; }
  return $rc
}

if [ "$mode" = screen ]; then
  steps="${1:-4000}"
  [ $# -gt 0 ] && shift
  candidates=("$@")
  [ ${#candidates[@]} -gt 0 ] || candidates=("${candidates_default[@]}")
  anneal=$(( (steps + 3) / 4 ))
  plateau=$(( (steps + anneal - 1) / anneal ))  # epochs at the starting rate
  i=0 failed=0
  for c in "${candidates[@]}"; do
    name="${c%%|*}" opts="${c#*|}"
    rm -rf "${runs:?}/$name" "$runs/$name.cut"
    # An equal share of what is left for each candidate still to run, and half as much again
    # (never more than is left): a run a little slower than its share finishes, at the cost of the
    # last candidates (cut or skipped), where an exact share would cut every one of them.
    cap=$(( ($(left) - reserve) * 3 / 2 / (${#candidates[@]} - i) ))
    [ "$cap" -le $(( $(left) - reserve )) ] || cap=$(( $(left) - reserve ))
    i=$((i + 1))
    if [ "$cap" -lt 10 ]; then
      say "$name: skipped (budget: $(left) s left of $budget)"
      note_step "$name" "" 0 "" "" "" "skipped: budget" "$opts"
      mkdir -p "$runs" && echo "skipped (budget)" > "$runs/$name.cut"
      continue
    fi
    say "$name: up to $cap s: $opts"
    t0="$EPOCHREALTIME"
    # shellcheck disable=SC2086  # opts is a list of options
    cap="$cap" run "$name" "$runs/$name" $opts --lr-schedule step --epoch-iters "$anneal" \
      --epochs $((plateau + 1)) --lr-step "$plateau" --log-every 50
    rc=$?
    st=ok
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
      st="cut by the budget after $cap s"
      echo "cut by the budget after $cap s: not annealed" > "$runs/$name.cut"
    elif [ "$rc" != 0 ]; then
      st="failed (exit status $rc)"
      failed=1
    fi
    note_step "$name" "" "$cap" "$t0" "$EPOCHREALTIME" "$rc" "$st" "$opts"
  done
  VDSR_SCREEN_GPU="$(gpu_name)" python3 - "$out" "$runs" "${candidates[@]}" <<'PY' | tee "$out/screen.txt"
import json, sys
import os
out, runs, candidates = sys.argv[1], sys.argv[2], sys.argv[3:]
rows, best = [], None
print(f"{'candidate':<14} {'x2':>8} {'x3':>8} {'x4':>8} {'best x2':>8} {'loss':>9} {'ms/step':>8}  options")
for c in candidates:
    name, opts = c.split("|", 1)
    cut = open(f"{runs}/{name}.cut").read().strip() if os.path.exists(f"{runs}/{name}.cut") else ""
    if cut.startswith("skipped"):
        print(f"{name:<14} ({cut})")
        continue
    try:
        recs = []
        for line in open(f"{runs}/{name}/train.jsonl"):
            try:
                recs.append(json.loads(line))
            except ValueError:  # a last line cut off by the kill of a timeout
                pass
    except OSError:
        print(f"{name:<14} (failed: no log)")
        continue
    ep = [r for r in recs if r.get("record") == "epoch"]
    if not ep:
        print(f"{name:<14} (failed before its first epoch)")
        continue
    last = ep[-1]
    scales = [k for k in ("val_psnr_x2", "val_psnr_x3", "val_psnr_x4") if k in last]
    psnr = {k[-2:]: last[k] for k in scales}
    top = max(e.get("val_psnr_x2", float("nan")) for e in ep)
    ms = sum(e["step_ms"] for e in ep) / len(ep)
    # Wall time per step all in (the steps, and each epoch's validation, checkpoint and curve), from
    # the run's clock between consecutive epoch records: what the main run's length is sized by.
    allin = sorted(1e3 * (b["seconds"] - a["seconds"]) / (b["step"] - a["step"])
                   for a, b in zip(ep, ep[1:]) if "seconds" in a and "seconds" in b and b["step"] > a["step"])
    allin_ms = allin[len(allin) // 2] if allin else None
    row = {"name": name, "options": opts, "psnr": psnr, "best_x2": top, "loss": last["loss"],
           "step_ms": ms, "allin_ms": allin_ms, "steps": last["step"], "collapsed": last.get("collapsed"),
           "curve": ep}
    rows.append(row)
    cells = " ".join(f"{psnr.get(s, float('nan')):8.3f}" for s in ("x2", "x3", "x4"))
    row["cut"] = cut
    note = ("  COLLAPSED" if row["collapsed"] else "") + (f"  ({cut})" if cut else "")
    print(f"{name:<14} {cells} {top:8.3f} {last['loss']:9.5f} {ms:8.3f}  {opts}{note}")
    score = (not row["collapsed"] and not cut, sum(psnr.values()) / max(len(psnr), 1))
    if best is None or score > best[0]:
        best = (score, c)
import csv
steps = list(csv.DictReader(open(f"{out}/steps.tsv"), delimiter="\t"))  # the build's and each candidate's
gpu = os.environ.get("VDSR_SCREEN_GPU") or None  # the GPU the times were taken on (the main run's plan)
json.dump({"rows": rows, "best": best[1] if best else None, "steps": steps, "gpu": gpu},
          open(f"{out}/screen.json", "w"), indent=1)
if best:
    print("best: " + best[1])
PY
  rm -f "$out/steps.tsv"  # in screen.json: the device tool brings back 8 files at most
  exit $failed  # 1 when a candidate failed (not when the budget cut or skipped it)
fi

# main (SECONDS, the candidate and its time per epoch were read before the build)
# What the build left sizes the run: the training gets what the evaluation's reserve and 20 s of
# start-up (data, CUDA, graph) leave, under a timeout at the evaluation's reserve, so that a run
# slower than planned is cut (said, and its checkpoint evaluated) rather than the whole call.
avail=$(( $(left) - eval_reserve - 20 ))
epochs=$(python3 -c "import sys; a, e, k = map(float, sys.argv[1:]); print(max(1, int(a / (e * k))))" "$avail" "$epoch_s" "$slack")
cap=$(( $(left) - eval_reserve ))
[ "$cap" -ge 10 ] || cap=10
echo "gpu_recipe main: $name, $epochs epochs of $iters steps (${epoch_s} s each, all in; ${avail} s for training, cut at ${cap} s; ${budget} s in all)"
dir="$runs/main-$name"
# shellcheck disable=SC2086  # opts is a list of options
cap="$cap" run "$name" "$dir" $opts --epochs "$epochs" --epoch-iters "$iters" --json "$out/main-summary.json"
rc=$?
cp -f "$dir/train.jsonl" "$out/main.jsonl" 2>/dev/null
cp -f "$dir/curve.svg" "$out/main-curve.svg" 2>/dev/null
weights="$dir/vdsr.safetensors" status=0
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
  # Cut by the budget: the checkpoint's raw weights, not annealed (and without the EMA), are still
  # scored so that the call says how far it got.
  echo "gpu_recipe main: cut by the budget after $cap s; evaluating the checkpoint's raw weights (not annealed)" | tee "$out/eval.txt" >&2
  weights="$dir/checkpoint.safetensors" status=1
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi
cp -f "$weights" "$out/vdsr.safetensors"
sets=()
for s in Set5 Set14 B100 Urban100; do [ -d "$data/$s" ] && sets+=("$data/$s"); done
[ -n "${VDSR_RECIPE_EVAL:-}" ] && IFS=, read -r -a sets <<< "$VDSR_RECIPE_EVAL"
if [ ${#sets[@]} -gt 0 ]; then
  list="$(IFS=,; echo "${sets[*]}")"
  "$build/bin/vdsr_eval" -g "$gpu" -m "$weights" --data "$list" --json "$out/eval.json" | tee -a "$out/eval.txt"
  [ "${PIPESTATUS[0]}" = 0 ] || status=1
fi
rm -f "$out/steps.tsv"  # the main run keeps no steps table: 8 files come back at most
exit $status
