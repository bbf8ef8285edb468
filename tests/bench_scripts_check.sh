#!/usr/bin/env bash
# bench_scripts_check.sh WORK_DIR [steps|gate|screen]...: the arithmetic of the GPU session's scripts,
# with stand-in programs instead of vdsr_train and vdsr_eval, so that every verdict can be made to
# go either way in seconds (the CPU dry runs train real tiny networks, whose results cannot be
# chosen: a verdict computed wrongly would still read PASS there). A ctest case per part.
#   steps   bench/gpu_steps.sh: want's budget and option rules, step's timeout cut to the budget
#           left less the reserve, its status and exit status, pack_out's loose files (tar's exit
#           status 1 too); gpu_session.sh stopping before the build when its data is missing
#   gate    bench/gpu_precision_gate.sh: the step count read back, the inference gate's 0.01 dB, the
#           training gate's tolerance max(0.02, 2 x |fp32 seed 1 - fp32 seed 2|), PASS / FAIL and
#           the exit status
#   screen  bench/gpu_recipe.sh: the schedule given to each candidate, its share of the budget, the
#           best by the mean of the three scales (not collapsed, not cut, not failed), a cut one
#           marked, a failed one making the exit status 1; main's epochs from VDSR_EPOCH_S, the
#           screen's all-in ms per step or VDSR_STEP_MS, and a main run cut by its budget
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:?bench_scripts_check: the work folder}"
shift
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(steps gate screen)
problems=""
bad() { problems+=" $*;"; echo "bench_scripts_check: FAILED: $*" >&2; }

# ---- gpu_steps.sh ---------------------------------------------------------------------------------
check_steps() {
  local d="$work/steps"
  rm -rf "$d" && mkdir -p "$d/out"
  # A caller as gpu_check.sh is: out, budget, say, fail; then the file sourced.
  ( # shellcheck disable=SC2034  # read by gpu_steps.sh
    out="$d/out" budget=40
    say() { echo "$*" >> "$d/say.txt"; }
    fail() { echo "FAILED: $*" >> "$d/say.txt"; }
    # shellcheck source=bench/gpu_steps.sh
    . "$root/bench/gpu_steps.sh"
    echo "cap30 $(step_cap 30)" >> "$d/result.txt"   # min(30, 40 - reserve 12)
    want off 0 5 && echo "off: wanted" >> "$d/result.txt"
    want opt-long 1 30 optional && echo "opt-long: wanted" >> "$d/result.txt"   # 30 + reserve 12 > 40
    want opt-short 1 20 optional || echo "opt-short: not wanted" >> "$d/result.txt"
    step capped 1 100 true
    step timed 1 100 bash -c 'exit 124'
    step failing 1 100 bash -c 'exit 3'
    echo "failing rc $?" >> "$d/result.txt"
    step fine 1 100 true
    echo "fine rc $?" >> "$d/result.txt"
    sleep 2
    echo "left $(left)" >> "$d/result.txt"
    step late 1 100 true
    touch "$d/out/record.md" "$d/out/record.md.bak" "$d/out/record" "$d/out/bench.json" "$d/out/other.txt"
    mkdir -p "$d/out/sub" && touch "$d/out/sub/inner.txt"
    pack_out record.md bench.json
  )
  local tsv="$d/out/steps.tsv"
  [ ! -e "$tsv" ] || bad "steps: steps.tsv left loose"
  tar xzf "$d/out/logs.tar.gz" -C "$d" ./steps.tsv 2> /dev/null && tsv="$d/steps.tsv"
  field() { awk -F'\t' -v n="$1" -v c="$2" '$1 == n { print $c }' "$tsv"; }  # NAME COLUMN
  [ "$(field off 7)" = "skipped: option" ] || bad "steps: a step switched off is not 'skipped: option'"
  grep -q '^off: wanted' "$d/result.txt" && bad "steps: want ran a step switched off"
  grep -q '^opt-long: wanted' "$d/result.txt" && bad "steps: an optional step ran without its planned time and the reserve left"
  grep -q '^opt-short: not wanted' "$d/result.txt" && bad "steps: an optional step whose time is left did not run"
  case "$(field opt-long 7)" in "skipped: budget"*) ;; *) bad "steps: the optional step's row does not say 'skipped: budget'" ;; esac
  # The cap: min(100, left - reserve), about 40 - 12 = 28 at the start, 26 after two seconds more.
  local c
  c="$(field capped 3)"
  { [ -n "$c" ] && [ "$c" -ge 20 ] && [ "$c" -le 28 ]; } || bad "steps: the cap is $c s, not the 28 s (less the seconds passed) the budget less the reserve leaves"
  c="$(field late 3)"
  { [ -n "$c" ] && [ "$c" -le 26 ]; } || bad "steps: the cap after 2 s more is $c s, not at most 26 (left must count the time spent)"
  grep -qE '^cap30 (2[0-8])$' "$d/result.txt" || bad "steps: step_cap 30 with 40 s left is $(grep '^cap30' "$d/result.txt"), not at most 28 (the reserve kept)"
  local floor
  mkdir -p "$d/out-floor"
  floor="$( # shellcheck disable=SC2034
    out="$d/out-floor" budget=10
    . "$root/bench/gpu_steps.sh"
    step_cap 100)"
  [ "$floor" = 5 ] || bad "steps: step_cap with less left than the reserve is '$floor', not the 5 s floor"
  grep -qE '^left (3[0-8])$' "$d/result.txt" || bad "steps: left is not the budget less the time spent ($(grep '^left' "$d/result.txt"))"
  [ "$(field timed 7)" = "timed out after $(field timed 3) s" ] || bad "steps: exit status 124 is not 'timed out'"
  [ "$(field failing 7)" = "failed (exit status 3)" ] || bad "steps: exit status 3 is not 'failed (exit status 3)'"
  grep -q '^failing rc 3$' "$d/result.txt" || bad "steps: step did not return its command's exit status"
  grep -q '^fine rc 0$' "$d/result.txt" || bad "steps: step of a passing command did not return 0"
  # pack_out: exactly the files named stay loose (not record.md.bak, not record), the rest is in logs.tar.gz.
  local loose
  loose="$(cd "$d/out" && find . -type f | sort | tr '\n' ' ')"
  [ "$loose" = "./bench.json ./logs.tar.gz ./record.md " ] || bad "steps: pack_out left '$loose' loose"
  local packed
  packed="$(tar tzf "$d/out/logs.tar.gz" | sort | tr '\n' ' ')"
  for f in ./record.md.bak ./record ./other.txt ./sub/inner.txt ./steps.tsv; do
    [[ " $packed" == *" $f "* ]] || bad "steps: $f is not in logs.tar.gz ($packed)"
  done
  for f in ./record.md ./bench.json; do
    [[ " $packed" == *" $f "* ]] && bad "steps: $f is packed as well as loose"
  done
  # GNU tar's exit status 1 (a log changed while it was read) still packs: a tar that says 1.
  mkdir -p "$d/faketar" "$d/out1" && rm -rf "$d/out1"/*
  printf '#!/bin/sh\n"%s" "$@"\nexit 1\n' "$(command -v tar)" > "$d/faketar/tar" && chmod +x "$d/faketar/tar"
  touch "$d/out1/record.md" "$d/out1/a.log" "$d/out1/b.log"
  ( # shellcheck disable=SC2034
    out="$d/out1" budget=40
    say() { :; }
    fail() { :; }
    . "$root/bench/gpu_steps.sh"
    PATH="$d/faketar:$PATH" pack_out record.md
  )
  loose="$(cd "$d/out1" && find . -type f | sort | tr '\n' ' ')"
  [ "$loose" = "./logs.tar.gz ./record.md " ] || bad "steps: with tar's exit status 1 pack_out left '$loose' loose"
  # gpu_build.sh's gpu_commit: the commit of .carry/commit.txt while the tree is the one listed in
  # .carry/tree.sha1, marked "-stale" once a file differs.
  mkdir -p "$d/tree/.carry" && echo one > "$d/tree/a.txt"
  echo abc123 > "$d/tree/.carry/commit.txt"
  (cd "$d/tree" && sha1sum a.txt > .carry/tree.sha1)
  local commits
  commits="$( # shellcheck disable=SC2034
    . "$root/bench/gpu_build.sh"
    root="$d/tree" carry="$d/tree/.carry"
    say() { :; }
    gpu_commit && echo "$commit"
    echo two > "$d/tree/a.txt"
    gpu_commit && echo "$commit")"
  [ "$commits" = "$(printf 'abc123\nabc123-stale')" ] || bad "steps: gpu_commit gave '$commits', not abc123 then abc123-stale"
  # gpu_session.sh stops in seconds, before any build, when the carried data is not there.
  local t0=$SECONDS
  (cd "$root" && VDSR_GATE_DATA="$d/no-data" bash bench/gpu_session.sh 500 > "$d/session.log" 2>&1)
  local src=$?
  { [ "$src" = 2 ] && grep -q "no-data/T91 missing" "$d/session.log" && [ $((SECONDS - t0)) -lt 10 ]; } ||
    bad "steps: gpu_session.sh without its data exited $src in $((SECONDS - t0)) s (see $d/session.log)"
  # A .carry made for the measurement has Set14 but not the training sets; one without Set14 fails too.
  mkdir -p "$d/part-data/T91" "$d/part-data/BSD200" "$d/part-data/Set5"
  (cd "$root" && VDSR_GATE_DATA="$d/part-data" bash bench/gpu_session.sh 500 > "$d/session2.log" 2>&1)
  src=$?
  { [ "$src" = 2 ] && grep -q "part-data/Set14 missing" "$d/session2.log"; } ||
    bad "steps: gpu_session.sh without Set14 exited $src (see $d/session2.log)"
}

# ---- gpu_precision_gate.sh ------------------------------------------------------------------------
# Stand-ins: vdsr_train writes STEPS (or FAKE_TRAIN_STEPS) steps to train.jsonl and "precision seed"
# as its weights; vdsr_eval gives every set and scale the PSNR FAKE_PSNR_<precision>_<seed>_<eval
# precision> (default 30) of the weights it is given.
make_gate_fakes() {
  local b="$1/bin"
  mkdir -p "$b"
  cat > "$b/vdsr_train" <<'FAKE'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do
  case "$1" in --out) out="$2" ;; --precision) prec="$2" ;; --seed) seed="$2" ;; --epoch-iters) steps="$2" ;; esac
  shift
done
n="${FAKE_TRAIN_STEPS:-$steps}"
mkdir -p "$out"
echo "$prec $seed" > "$out/vdsr.safetensors"
{
  echo "{\"record\":\"step\",\"step\":1,\"epoch\":1,\"seconds\":1.5}"
  echo "{\"record\":\"step\",\"step\":$n,\"epoch\":1,\"seconds\":$n.5}"
  echo "{\"record\":\"epoch\",\"step\":$n,\"epoch\":1,\"loss\":1.0}"
} > "$out/train.jsonl"
FAKE
  cat > "$b/vdsr_eval" <<'FAKE'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do
  case "$1" in -m) m="$2" ;; --precision) prec="$2" ;; --data) data="$2" ;; --json) json="$2" ;; esac
  shift
done
read -r wprec wseed < "$m"
v="FAKE_PSNR_${wprec}_${wseed}_${prec}"
psnr="${!v:-30}"
rows=""
IFS=, read -r -a sets <<< "$data"
for s in "${sets[@]}"; do
  for k in 2 3 4; do rows+="${rows:+,}{\"set\":\"$(basename "$s")\",\"scale\":$k,\"psnr\":$psnr}"; done
done
echo "{\"results\":[$rows]}" > "$json"
FAKE
  chmod +x "$b/vdsr_train" "$b/vdsr_eval"
  local s
  for s in T91 BSD200 Set5 Set14; do mkdir -p "$1/data/$s"; done
}
# gate_case NAME WANT_RC LINE1 LINE2 [VAR=VALUE...]: one gate run with these PSNRs; its exit status
# must be WANT_RC and its gate.txt must hold both lines.
gate_case() {
  local name="$1" want_rc="$2" d="$work/gate" line
  local lines=("$3" "$4")
  shift 4
  rm -rf "$d/out-$name" "$d/runs"
  env "$@" VDSR_GPU=0 VDSR_GATE_MODE=tf32 VDSR_GPU_BUILD="$d" VDSR_GATE_DATA="$d/data" VDSR_GATE_RUNS="$d/runs" \
    VDSR_GATE_EXTRA= OUT="$d/out-$name" bash "$root/bench/gpu_precision_gate.sh" 8 > "$d/$name.log" 2>&1
  local rc=$?
  [ "$rc" = "$want_rc" ] || bad "gate $name: exit status $rc, not $want_rc (see $d/$name.log)"
  for line in "${lines[@]}"; do
    grep -qF -- "$line" "$d/out-$name/gate.txt" 2> /dev/null || bad "gate $name: gate.txt has no '$line'"
  done
}
check_gate() {
  local d="$work/gate"
  rm -rf "$d" && mkdir -p "$d"
  make_gate_fakes "$d"
  gate_case equal 0 "tf32 gates: PASS" "fp32-s1: 1000.00 ms per step"
  # Training gate: fp32 seeds 30.000 and 30.005 (tolerance 0.02), tf32 trained 30.030: FAIL.
  gate_case trained-off 1 "tf32 gates: FAIL" "tol 0.0200  FAIL" FAKE_PSNR_fp32_2_fp32=30.005 FAKE_PSNR_tf32_1_fp32=30.03
  # The seeds 0.02 apart: tolerance 0.04, the same 0.03 passes.
  gate_case seeds-apart 0 "tf32 gates: PASS" "tol 0.0400  pass" FAKE_PSNR_fp32_2_fp32=30.02 FAKE_PSNR_tf32_1_fp32=30.03
  # Inference gate: the same weights 0.02 dB apart in tf32: FAIL.
  gate_case inference-off 1 "tf32 gates: FAIL" "diff -0.0200  FAIL" FAKE_PSNR_fp32_1_tf32=29.98
  # A run that stops short of STEPS decides nothing.
  gate_case short 1 "tf32 gates: not decided" "ran 5 steps, not 8" FAKE_TRAIN_STEPS=5
  # What comes back: gate.txt and gate-runs.tar.gz only.
  local loose
  loose="$(cd "$d/out-equal" 2> /dev/null && echo *)"
  [ "$loose" = "gate-runs.tar.gz gate.txt" ] || bad "gate: the out folder holds '$loose'"
}

# ---- gpu_recipe.sh --------------------------------------------------------------------------------
# Stand-in vdsr_train: its run's train.jsonl is FAKE/<run folder name>.jsonl; it records its
# arguments; FAKE/<name>.fail makes it fail, FAKE/<name>.sleep makes it outlast any share.
make_screen_fakes() {
  local b="$1/bin" f="$1/fake"
  mkdir -p "$b" "$f"
  cat > "$b/vdsr_train" <<FAKE
#!/usr/bin/env bash
fake="$f"
FAKE
  cat >> "$b/vdsr_train" <<'FAKE'
args="$*"
while [ $# -gt 0 ]; do [ "$1" = --out ] && out="$2"; shift; done
name="$(basename "$out")"
echo "$args" > "$fake/$name.args"
[ -e "$fake/$name.fail" ] && exit 3
mkdir -p "$out"
[ -e "$fake/$name.jsonl" ] && cp "$fake/$name.jsonl" "$out/train.jsonl"
echo weights > "$out/vdsr.safetensors"
echo '<svg/>' > "$out/curve.svg"
[ -e "$fake/$name.sleep" ] && exec sleep 60
exit 0
FAKE
  printf '#!/bin/sh\necho "stand-in vdsr_eval"\n' > "$b/vdsr_eval"
  chmod +x "$b/vdsr_train" "$b/vdsr_eval"
}
epoch() {  # STEP LOSS MS X2 X3 X4 [COLLAPSED] [SECONDS]
  printf '{"record":"epoch","step":%s,"loss":%s,"step_ms":%s,"val_psnr_x2":%s,"val_psnr_x3":%s,"val_psnr_x4":%s%s%s}\n' \
    "$1" "$2" "$3" "$4" "$5" "$6" "${7:+,\"collapsed\":true}" "${8:+,\"seconds\":$8}"
}
check_screen() {
  local d="$work/screen" f
  rm -rf "$d" && mkdir -p "$d"
  make_screen_fakes "$d"
  f="$d/fake"
  # good: the best mean (30.333); highx2: the best x2 and best x2 seen, a lower mean (30.167);
  # collapsed and cut: higher PSNRs, but collapsed or cut; worse: a lower mean.
  # good's run clock: 0.032 s for its 8 steps between the two records, 4 ms per step all in.
  { epoch 2 1.0 2 32 29 27 "" 1.0; epoch 10 0.5 4 33 30 28 "" 1.032; } > "$f/good.jsonl"
  { epoch 2 1.0 2 35 29 27; epoch 10 0.5 2 34.5 29 27; } > "$f/highx2.jsonl"
  { epoch 10 0.5 2 36 36 36 1; } > "$f/collapsed.jsonl"
  { epoch 10 0.5 2 30 29 28; } > "$f/worse.jsonl"
  { epoch 2 0.5 2 40 40 40; } > "$f/cut.jsonl"
  touch "$f/cut.sleep" "$f/failing.fail"
  # The cut one first: with 80 s and 6 candidates its cap is half again its share, (80 - 12) x 1.5 / 6 = 17 s.
  local cands=("cut|--lr 6" "worse|--lr 1" "collapsed|--lr 2" "highx2|--lr 3" "good|--lr 4" "failing|--lr 5")
  OUT="$d/out" VDSR_GPU=0 VDSR_GPU_BUILD="$d" VDSR_RECIPE_RUNS="$d/runs" VDSR_RECIPE_TRAIN="$d" VDSR_RECIPE_VAL="$d" \
    VDSR_RECIPE_EXTRA='' VDSR_RECIPE_BUDGET=80 bash "$root/bench/gpu_recipe.sh" screen 8 "${cands[@]}" > "$d/screen.log" 2>&1
  local rc=$?
  [ "$rc" = 1 ] || bad "screen: exit status $rc with a failed candidate, not 1 (see $d/screen.log)"
  grep -qxF 'best: good|--lr 4' "$d/out/screen.txt" 2> /dev/null ||
    bad "screen: the best is not good (the highest mean of x2/x3/x4 not collapsed, cut or failed): $(grep '^best' "$d/out/screen.txt")"
  grep -q '^cut .*cut by the budget' "$d/out/screen.txt" || bad "screen: the candidate cut by the budget is not marked so"
  grep -q '^collapsed .*COLLAPSED' "$d/out/screen.txt" || bad "screen: the collapsed candidate is not marked so"
  grep -q '^failing .*failed' "$d/out/screen.txt" || bad "screen: the failed candidate is not marked so"
  [ "$(find "$d/out" -type f | wc -l)" = 2 ] || bad "screen: $OUT holds more than screen.txt and screen.json"
  # STEPS 8: anneal 2 steps, so epochs of 2, 4 at the starting rate and the decay after them.
  grep -q -- '--lr 4 --lr-schedule step --epoch-iters 2 --epochs 5 --lr-step 4 ' "$f/good.args" ||
    bad "screen: good's schedule is not 4 epochs of 2 steps then one at a tenth: $(cat "$f/good.args")"
  python3 - "$d/out/screen.json" <<'PY' || bad "screen: screen.json (above)"
import json, sys
doc = json.load(open(sys.argv[1]))
rows = {r["name"]: r for r in doc["rows"]}
bad = []
if abs(rows["good"]["step_ms"] - 3.0) > 1e-9:
    bad.append("good's ms per step %s is not the mean of its epochs' (3)" % rows["good"]["step_ms"])
if rows["good"]["psnr"] != {"x2": 33, "x3": 30, "x4": 28}:
    bad.append("good's PSNR %s is not its last epoch's" % rows["good"]["psnr"])
if rows["good"]["allin_ms"] is None or abs(rows["good"]["allin_ms"] - 4.0) > 1e-6:
    bad.append("good's all-in ms per step %s is not 1000 x 0.032 s / 8 steps (4)" % rows["good"]["allin_ms"])
if rows["highx2"]["allin_ms"] is not None:
    bad.append("highx2 has no clock in its log, yet an all-in ms per step %s" % rows["highx2"]["allin_ms"])
if rows["highx2"]["best_x2"] != 35:
    bad.append("highx2's best x2 %s is not 35" % rows["highx2"]["best_x2"])
steps = {s["name"]: s for s in doc["steps"]}
cap = int(steps["cut"]["cap_s"] or 0)
# The first of six candidates: half again a sixth of the budget less the reserve, (80 - 12) x 1.5 / 6 = 17 s,
# less what the script's set-up took in whole seconds (a loaded machine takes a few: 16 was seen in
# CI); an equal share without the half again would be 11.
if not 15 <= cap <= 17:
    bad.append("the cut candidate's cap %s s is not 1.5 x a sixth of the 80 s budget less the 12 s reserve "
               "and a few seconds of set-up (15 to 17)" % cap)
if steps["cut"]["rc"] not in ("124", "137"):
    bad.append("the cut candidate's exit status %s" % steps["cut"]["rc"])
for b in bad:
    print("bench_scripts_check: screen.json: " + b, file=sys.stderr)
sys.exit(1 if bad else 0)
PY
  # main SECONDS: the training gets SECONDS - the evaluation's reserve (10 s here) - 20 s of
  # start-up, 63 s at 93 (60 to 63 whatever the load: up to 3 s passed), in epochs of 1000 steps of
  # a known length, all in: VDSR_EPOCH_S=4 gives 15; good's 4 ms all in from screen.json, 4 s a
  # 1000 steps with 5 % in hand (the screen's GPU, unnamed here, is this one, unnamed): 4.2 s, 14
  # (its step_ms, 3, would give 3.3 + 1 s an epoch: 13 or 14); VDSR_STEP_MS=10 without a screen:
  # 12 s an epoch: 5. A screen taken on another GPU: 20 % in hand, 4.8 s an epoch, at 92 s (59 to
  # 62 s for training) 12 (5 % would give 14).
  main_run() {  # LOG ARGS...: gpu_recipe.sh main with the stand-ins
    local log="$1"
    shift
    env OUT="$d/out" VDSR_GPU=0 VDSR_GPU_BUILD="$d" VDSR_RECIPE_RUNS="$d/runs" VDSR_RECIPE_TRAIN="$d" VDSR_RECIPE_VAL="$d" \
      VDSR_RECIPE_EXTRA='' VDSR_RECIPE_EVAL='' VDSR_EVAL_RESERVE=10 "$@" > "$d/$log" 2>&1
  }
  main_epochs() { sed -n 's/.* --epochs \([0-9]*\) --epoch-iters 1000 .*/\1/p' "$f/main-good.args" 2> /dev/null; }
  main_run main1.log VDSR_EPOCH_S=4 bash "$root/bench/gpu_recipe.sh" main 93 "good|--lr 4" || bad "main: failed (see $d/main1.log)"
  [ "$(main_epochs)" = 15 ] || bad "main: VDSR_EPOCH_S=4 and 93 s gave '$(main_epochs)' epochs, not 15"
  main_run main2.log bash "$root/bench/gpu_recipe.sh" main 93 || bad "main: failed with the screen's best (see $d/main2.log)"
  [ "$(main_epochs)" = 14 ] || bad "main: the screen's best at 4 ms all in and 93 s gave '$(main_epochs)' epochs, not 14"
  grep -q -- ' -q --lr 4 --epochs ' "$f/main-good.args" || bad "main: the screen's best was not run with its options"
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["gpu"]="NVIDIA H200"; json.dump(d, open(sys.argv[2],"w"))' \
    "$d/out/screen.json" "$d/screen-h200.json"
  main_run main5.log VDSR_SCREEN_JSON="$d/screen-h200.json" bash "$root/bench/gpu_recipe.sh" main 92 ||
    bad "main: failed with a screen from another GPU (see $d/main5.log)"
  [ "$(main_epochs)" = 12 ] || bad "main: a screen from another GPU at 92 s gave '$(main_epochs)' epochs, not 12"
  grep -q "planning with 20 % in hand" "$d/main5.log" || bad "main: a screen from another GPU is not said"
  # What the call cannot do without is checked before the build (minutes on a fresh machine): a
  # missing screen or data folder stops it at once, no build attempted.
  main_run main6.log VDSR_GPU_BUILD="$d/never-built" VDSR_SCREEN_JSON=/nonexistent bash "$root/bench/gpu_recipe.sh" main 92 good
  local rc6=$?
  { [ "$rc6" = 2 ] && grep -q "no time per step for good" "$d/main6.log" && ! grep -q "gpu_check\|configure" "$d/main6.log"; } ||
    bad "main: a missing screen.json did not stop the call before the build (exit $rc6, see $d/main6.log)"
  main_run main7.log VDSR_GPU_BUILD="$d/never-built" VDSR_RECIPE_TRAIN="$d/no-such-set" bash "$root/bench/gpu_recipe.sh" main 92
  local rc7=$?
  { [ "$rc7" = 2 ] && grep -q "no data folder $d/no-such-set" "$d/main7.log"; } ||
    bad "main: a missing training set did not stop the call before the build (exit $rc7, see $d/main7.log)"
  main_run main3.log VDSR_SCREEN_JSON=/nonexistent VDSR_STEP_MS=10 bash "$root/bench/gpu_recipe.sh" main 93 "good|--lr 4" ||
    bad "main: failed with VDSR_STEP_MS alone (see $d/main3.log)"
  [ "$(main_epochs)" = 5 ] || bad "main: VDSR_STEP_MS=10 and 93 s gave '$(main_epochs)' epochs, not 5"
  # A run that outlasts the plan is cut at what is left less the reserve (35 - 20: 15 s, less the
  # seconds passed): exit 1, said in eval.txt.
  touch "$f/main-cut.sleep"
  main_run main4.log VDSR_EVAL_RESERVE=20 VDSR_EPOCH_S=1 bash "$root/bench/gpu_recipe.sh" main 35 "cut|--lr 6"
  local mrc=$?
  [ "$mrc" = 1 ] || bad "main: a run cut by the budget exited $mrc, not 1 (see $d/main4.log)"
  grep -qE 'cut by the budget after 1[2-5] s' "$d/out/eval.txt" 2> /dev/null || bad "main: eval.txt does not say the run was cut"
}

for p in "${parts[@]}"; do
  case "$p" in
    steps) check_steps ;;
    gate) check_gate ;;
    screen) check_screen ;;
    *) echo "bench_scripts_check: no part '$p' (steps, gate, screen)" >&2; exit 2 ;;
  esac
done
[ -z "$problems" ] || { echo "bench_scripts_check: FAILED:$problems" >&2; exit 1; }
echo "bench_scripts_check: ${parts[*]}: passed"
