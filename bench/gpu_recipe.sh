#!/usr/bin/env bash
# gpu_recipe.sh: the recipe search for the default clipping (BRIEF §2: "its value is whatever the
# recipe work shows reaches the paper"). Run on the GPU machine from the repository root of a copy
# that carries .carry/ with T91, BSD200 and Set5 (VDSR_CARRY_DATA, bench/prepare_carry.sh):
#
#   bench/gpu_recipe.sh [STEPS] [CONFIG...]      CONFIG = "name|vdsr_train options"
#
# Each configuration trains STEPS steps [1000] at the starting learning rate (a short run: the
# collapse to the identity that a too-large step causes shows within the first epochs) from the
# same seed and data order, validating on Set5 every epoch. The table (configuration, Set5 PSNR
# at x2/x3/x4 after the last epoch, the best x2 seen, final loss) goes to stdout and
# $OUT/recipe.txt; each run's train.jsonl to $OUT/recipe-<name>.jsonl. The best by final x2 PSNR
# is printed last as "best: <name>|<options>" for the full run that follows.
set -uo pipefail
root="$(pwd)"
build="${VDSR_GPU_BUILD:-$root/build-gpu}"
data="$root/.carry/data"
out="${OUT:-$root/bench/out-recipe}"
steps="${1:-1000}"
[ $# -gt 0 ] && shift
configs=("$@")
[ ${#configs[@]} -gt 0 ] || configs=(
  "norm0.4|--clip-mode norm --clip 0.4"
  "norm0.1|--clip-mode norm --clip 0.1"
  "norm0.03|--clip-mode norm --clip 0.03"
  "norm0.01|--clip-mode norm --clip 0.01"
  "norm0.4-lr0.01|--clip-mode norm --clip 0.4 --lr 0.01"
  "none-lr0.001|--clip-mode none --lr 0.001")
mkdir -p "$out"
[ -x "$build/bin/vdsr_train" ] || bash "$root/bench/gpu_check.sh" --no-tests --no-bench
epochs=$(( (steps + 124) / 125 ))
for c in "${configs[@]}"; do
  name="${c%%|*}" opts="${c#*|}"
  dir="/tmp/recipe-$name"
  rm -rf "$dir"
  # shellcheck disable=SC2086  # opts is a list of options
  "$build/bin/vdsr_train" -g "${VDSR_GPU:-0}" --train "$data/T91,$data/BSD200" --val "$data/Set5" \
    --out "$dir" --epochs "$epochs" --lr-step 1000 -q $opts > "$dir.log" 2>&1 ||
    echo "gpu_recipe: $name failed (see $dir.log)" >&2
  cp -f "$dir/train.jsonl" "$out/recipe-$name.jsonl" 2>/dev/null
done
python3 - "$out" "${configs[@]}" <<'PY' | tee "$out/recipe.txt"
import json, sys
out, configs = sys.argv[1], sys.argv[2:]
best = None
print(f"{'config':<18} {'x2':>8} {'x3':>8} {'x4':>8} {'best x2':>8} {'loss':>8}  options")
for c in configs:
    name, opts = c.split("|", 1)
    try:
        ep = [json.loads(l) for l in open(f"{out}/recipe-{name}.jsonl")]
    except OSError:
        print(f"{name:<18} (no log)")
        continue
    ep = [e for e in ep if e.get("record") == "epoch"]
    if not ep:
        print(f"{name:<18} (no epoch)")
        continue
    v = ep[-1]["val"]["Set5"]
    top = max(e["val"]["Set5"]["x2"] for e in ep)
    print(f"{name:<18} {v['x2']:8.3f} {v['x3']:8.3f} {v['x4']:8.3f} {top:8.3f} {ep[-1]['loss']:8.4f}  {opts}")
    if best is None or v["x2"] > best[0]:
        best = (v["x2"], c)
if best:
    print("best: " + best[1])
PY
