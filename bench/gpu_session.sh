#!/usr/bin/env bash
# gpu_session.sh: the device call of a session that draws a GPU, with what the GPU order asks first
# and fits one call: the verification (bench/gpu_check.sh --gate tf32 -- --precision tf32: every
# gpu test, the tf32 accuracy gates, the tf32 bench rows) and then, on the same warm build, the
# recipe screen (bench/gpu_recipe.sh screen). One call, not two: a device machine goes back after
# about 30 s idle, and a fresh one costs minutes of the session's device time to start and build.
# Run on the GPU machine from the repository root of a copy that carries .carry/ made with
#   VDSR_CARRY_DATA="T91 BSD200 Set5 Set14" bench/prepare_carry.sh
#
#   bench/gpu_session.sh [SECONDS]       the budget for both [540], at most 550 (a call's timeout_s is
#                                        600 at most); give the call timeout_s SECONDS + 50, then give_back
#   bench/gpu_session.sh --dry-run BUILD_DIR
#
# The check gets min(360, SECONDS - 180) seconds (its --budget; no CPU tests: CI runs them); the
# screen what is left of SECONDS
# (VDSR_RECIPE_BUDGET) with its default candidates, VDSR_SESSION_SCREEN steps [4000] each ("off"
# skips it). Both write into $OUT: the check's record.md, bench.json, bench.txt, gate.txt,
# gate-runs.tar.gz and logs.tar.gz, then the screen's screen.txt and screen.json: 8 files, the
# device tool's limit. The exit status is the check's, or the screen's when the check passed (1 when
# a candidate failed; one cut or skipped by the budget is said in its table).
# --dry-run: the same on the CPU with the build given (no tests, the gate in fp32 on a tiny network,
# a two-candidate screen on the bundled samples), checking what would come back (a ctest case).
set -uo pipefail
root="$(pwd)"
[ -f "$root/bench/gpu_session.sh" ] || { echo "gpu_session: run from the repository root" >&2; exit 2; }
# No CPU tests on the device: CI runs them, and the screen needs the time.
check_args=(--no-cpu-tests --gate tf32 -- --precision tf32)
screen_args=("${VDSR_SESSION_SCREEN:-4000}")

# run_session SECONDS: the check, then the screen with what is left.
run_session() {
  local total="$1" t0=$SECONDS status rc left check_budget
  case "$total" in ''|*[!0-9]*) echo "gpu_session: SECONDS must be whole seconds, got '$total'" >&2; return 2 ;; esac
  # The call's timeout_s must be SECONDS + 50 and is 600 at most: more would cut the screen unwritten.
  [ "$total" -le 550 ] || { echo "gpu_session: SECONDS is at most 550 (a call's timeout_s: SECONDS + 50, 600 at most), got $total" >&2; return 2; }
  export OUT="${OUT:-$root/bench/out-session-$(date -u +%Y%m%d-%H%M%S)}"
  mkdir -p "$OUT"
  check_budget=$(( total - 180 < 360 ? total - 180 : 360 ))
  [ "$check_budget" -ge 60 ] || check_budget=60
  echo "[gpu_session] check: bench/gpu_check.sh --budget $check_budget ${check_args[*]}" >&2
  bash "$root/bench/gpu_check.sh" --budget "$check_budget" "${check_args[@]}"
  status=$?
  left=$(( total - (SECONDS - t0) ))
  if [ "${screen_args[0]}" = off ]; then
    echo "[gpu_session] screen: off (VDSR_SESSION_SCREEN)" >&2
  elif [ ! -x "${VDSR_GPU_BUILD:-$root/build-gpu}/bin/vdsr_train" ]; then
    echo "[gpu_session] screen: skipped, the check did not build vdsr_train" >&2
  elif [ "$left" -lt 60 ]; then
    echo "[gpu_session] screen: skipped, ${left} s left of $total" >&2
  else
    echo "[gpu_session] screen: VDSR_RECIPE_BUDGET=$left bench/gpu_recipe.sh screen ${screen_args[*]}" >&2
    VDSR_NO_REBUILD=1 VDSR_RECIPE_BUDGET="$left" bash "$root/bench/gpu_recipe.sh" screen "${screen_args[@]}"
    rc=$?
    [ "$status" = 0 ] && status=$rc
  fi
  echo "[gpu_session] done in $((SECONDS - t0)) s of $total (status $status): $(cd "$OUT" && echo *)" >&2
  return "$status"
}

if [ "${1:-}" = --dry-run ]; then
  # shellcheck source=bench/dry_run.sh
  . "$root/bench/dry_run.sh"
  dry_run_env "$root" "${2:?gpu_session --dry-run: the build folder}" gpu-session-dry-run || exit 2
  export OUT="$dry/out"
  check_args=(--no-build --no-tests --gate fp32:6 -- --reps 1 --batch 2 --image 64)
  screen_args=(12 "sgd|--recipe bundled" "adam|--recipe fast --warmup-steps 5 --lr 1e-3")
  run_session 500 2> "$dry/session.log"
  rc=$?
  cat "$dry/session.log" >&2
  [ "$rc" = 0 ] || { echo "gpu_session dry run: the session exited non-zero" >&2; exit 1; }
  problems=""
  # The budgets: the check min(360, 500 - 180) = 320, the screen what the check left of 500.
  grep -q '^\[gpu_session\] check: bench/gpu_check.sh --budget 320 ' "$dry/session.log" ||
    problems+=" the check's budget is not min(360, SECONDS - 180);"
  screen_budget="$(sed -n 's/^\[gpu_session\] screen: VDSR_RECIPE_BUDGET=\([0-9]*\) .*/\1/p' "$dry/session.log")"
  { [ -n "$screen_budget" ] && [ "$screen_budget" -lt 500 ] && [ "$screen_budget" -gt 400 ]; } ||
    problems+=" the screen's budget '$screen_budget' is not what the check left of 500 s;"
  for f in record.md bench.json gate.txt gate-runs.tar.gz logs.tar.gz screen.txt screen.json; do
    [ -s "$OUT/$f" ] || problems+=" $f missing;"
  done
  n="$(find "$OUT" -type f | wc -l)"
  [ "$n" -le 8 ] || problems+=" $n files in $OUT, more than 8;"
  grep -q '^best: ' "$OUT/screen.txt" 2> /dev/null || problems+=" the screen named no best;"
  grep -q 'fp32 gates: PASS' "$OUT/record.md" 2> /dev/null || problems+=" the record has no gate verdict;"
  [ -z "$problems" ] || { echo "gpu_session dry run: FAILED:$problems" >&2; exit 1; }
  echo "gpu_session dry run: passed ($OUT: $(cd "$OUT" && echo *))"
  exit 0
fi
# The data the gate and the screen read, checked before minutes of building: a .carry made for the
# measurement (Set14 B100) would otherwise be found out only after the build.
data="${VDSR_GATE_DATA:-$root/.carry/data}"
for s in T91 BSD200 Set5 Set14; do
  [ -d "$data/$s" ] || {
    echo "gpu_session: $data/$s missing: make .carry with VDSR_CARRY_DATA=\"T91 BSD200 Set5 Set14\" bench/prepare_carry.sh" >&2
    exit 2
  }
done
run_session "${1:-540}"
