#!/usr/bin/env bash
# gpu_check.sh: build, test and benchmark on the GPU machine, and write a dated record of it to
# docs/perf-data/<UTC date>-<commit12>/record.md (bench/record_dir.sh names the folder). Run from the
# repository root of a copy that carries .carry/ (bench/prepare_carry.sh makes it on the build machine):
#
#   bench/gpu_check.sh [--budget SECONDS] [--gate MODE[:STEPS]] [--no-build] [--no-tests]
#                      [--no-cpu-tests] [--no-bench] [--peer] [-- VDSR_BENCH_ARGS...]
#   bench/gpu_check.sh --record-from DIR --commit C [-- VDSR_BENCH_ARGS...]
#   bench/gpu_check.sh --dry-run BUILD_DIR
#
# The tf32 mode's verification (one device call, timeout_s 400, .carry made with
# VDSR_CARRY_DATA="T91 BSD200 Set5 Set14"): bench/gpu_check.sh --gate tf32 -- --precision tf32
#
# Steps, in order of what a short device call needs most, each under a timeout cut to what the
# budget leaves (bench/gpu_steps.sh), so that a slow step or a hung kernel costs that step alone and
# the record is still written: find cuDNN (PyTorch's nvidia.cudnn package, else the CUDA toolkit);
# configure build-gpu/ (CUDA on, sm_90, dependencies from .carry/; bench/gpu_build.sh, shared with
# gpu_measure.sh) and build, with -j16, the tools (vdsr_bench, vdsr_train, vdsr_eval, vdsr_sr), then
# the tests of tests/gpu/ (a test that does not compile leaves the tools); read the tensor-core
# objects' SASS; ctest -L gpu; with --gate, if its planned time is left, the accuracy gates of MODE
# (bf16 or tf32) over STEPS [2000] training steps (bench/gpu_precision_gate.sh: the carry needs T91,
# BSD200, Set5 and Set14; nothing it runs builds again: VDSR_NO_REBUILD); vdsr_bench -g 0 --json;
# then, only if the budget still holds their planned time, the rest of the build and ctest -LE gpu
# (data tests skip: no data travels), and with --peer the same VDSR in PyTorch on the same GPU
# (bench/pytorch_peer.py; its table joins the record).
#
# --budget: seconds for the whole run [330, or VDSR_CHECK_BUDGET]; give the device call a timeout_s
#   about 70 s longer (the machine's start is not in the budget; the record needs the reserve).
# --record-from rebuilds the record of an earlier run from the results folder it brought back
#   (nvidia-smi.txt, ctest-gpu.txt, bench.txt, bench.json; unpack its logs.tar.gz there first), for a
#   run whose own record.md was lost; C is the commit that run was made from (its .carry/commit.txt),
#   the arguments those it was given.
# --dry-run BUILD_DIR: the whole script on this machine with a build made here (no GPU): the gpu
#   tests of that build (they skip), vdsr_bench -g -1 on tiny settings, the gate in fp32 against
#   itself on a tiny network and the bundled samples, the record (under a temporary folder, not
#   docs/); then once more with a budget too small for any step, and once with one that holds the
#   tests but not the gate; each run must bring back at most 8 files and a record with its sections
#   (a ctest case).
#
# Everything lands in one folder, $OUT if set, else bench/out-<UTC date>: record.md, bench.json,
# bench.txt (the table as printed), gate.txt and gate-runs.tar.gz (with --gate), peer.json and
# logs.tar.gz (every log, steps.tsv), at most 8 files because the device tool brings back no more.
# Bring them back into the docs/perf-data folder the script names. The script never edits
# docs/perf.md: its current-results table and its list of records are updated by hand from the
# record. A failing test, gate or bench row does not stop the script: the later steps and the record
# still happen; the exit status is non-zero if any step failed.
set -uo pipefail

root="$(pwd)"
[ -f "$root/bench/gpu_check.sh" ] || { echo "gpu_check: run from the repository root" >&2; exit 2; }
do_build=1 do_tests=1 do_cpu_tests=1 do_bench=1 do_peer=0
record_from="" given_commit="" dry_build=""
gate_mode="" gate_steps=2000
budget="${VDSR_CHECK_BUDGET:-330}"
bench_args=()
opts=""  # the options of the run, so that its record shows what was left out
while [ $# -gt 0 ]; do
  case "$1" in --budget|--gate|--record-from|--commit|--dry-run)
    [ $# -ge 2 ] || { echo "gpu_check: $1 needs a value (see --help)" >&2; exit 2; } ;;
  esac
  case "$1" in
    --no-build) do_build=0 ;;
    --no-tests) do_tests=0; do_cpu_tests=0 ;;
    --no-cpu-tests) do_cpu_tests=0 ;;
    --no-bench) do_bench=0 ;;
    --peer) do_peer=1 ;;
    --budget) budget="$2"; opts+=" $1 $2"; shift ;;
    --gate)
      gate_mode="${2%%:*}"
      [[ "$2" == *:* ]] && gate_steps="${2#*:}"
      opts+=" $1 $2"; shift ;;
    --record-from) record_from="$2"; shift ;;
    --commit) given_commit="$2"; shift ;;
    --dry-run) dry_build="$2"; shift ;;
    --) shift; bench_args=("$@"); break ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  case "$1" in --no-*|--peer) opts+=" $1" ;; esac
  shift
done
case "$budget" in ''|*[!0-9]*) echo "gpu_check: --budget takes whole seconds, got '$budget'" >&2; exit 2 ;; esac
case "$gate_mode" in
  ''|bf16|tf32) ;;
  fp32) [ "${VDSR_CHECK_GPU:-0}" = -1 ] || { echo "gpu_check: --gate takes bf16 or tf32 (fp32 is the dry run's)" >&2; exit 2; } ;;
  *) echo "gpu_check: --gate takes bf16 or tf32 (then :STEPS), got '$gate_mode'" >&2; exit 2 ;;
esac
case "$gate_steps" in ''|*[!0-9]*|0) echo "gpu_check: --gate MODE:STEPS takes whole steps above 0, got '$gate_steps'" >&2; exit 2 ;; esac

if [ -n "$dry_build" ]; then
  # The dry run: this script twice on the CPU with the build given, checking what would come back.
  # shellcheck source=bench/dry_run.sh
  . "$root/bench/dry_run.sh"
  dry_run_env "$root" "$dry_build" gpu-check-dry-run || exit 2
  # The test step runs a ctest project of its own, one test that passes and one that skips: ctest
  # inside the build's own ctest run would rewrite that run's Testing/ logs.
  mkdir -p "$dry/ctest"
  cat > "$dry/ctest/CTestTestfile.cmake" <<'CT'
add_test(dry_gpu_passes "/bin/sh" "-c" "exit 0")
set_tests_properties(dry_gpu_passes PROPERTIES LABELS gpu)
add_test(dry_gpu_skips "/bin/sh" "-c" "exit 77")
set_tests_properties(dry_gpu_skips PROPERTIES LABELS gpu SKIP_RETURN_CODE 77)
CT
  export VDSR_CHECK_CTEST_DIR="$dry/ctest"
  problems=""
  # check_out DIR SECTION...: at most 8 files, and the record has each section.
  check_out() {
    local d="$1" n h
    shift
    n="$(find "$d" -type f | wc -l)"
    [ "$n" -le 8 ] || problems+=" $n files in $d, more than 8;"
    for h in "$@"; do grep -q "^$h" "$d/record.md" 2> /dev/null || problems+=" $d/record.md has no '$h';"; done
  }
  OUT="$dry/out" bash "$0" --no-build --no-cpu-tests --gate fp32:6 -- --reps 1 --batch 2 --image 64
  rc=$?
  [ "$rc" = 0 ] || problems+=" the full dry run exited $rc;"
  # (The gate's own cap, 150 s, leaves the bench its time whatever the gate does.)
  check_out "$dry/out" "# " "- ctest gpu: .*(passed 1, failed 0, skipped 1 of 2)" "## Steps" "## Accuracy gates" "vdsr_bench output" \
    "fp32 gates: PASS" "| gate-run | 110 | 150 | [0-9.]* | ok |"
  for f in bench.json gate.txt gate-runs.tar.gz logs.tar.gz; do
    [ -s "$dry/out/$f" ] || problems+=" $f missing;"
  done
  # A budget too small for any step: every step is skipped, and the record is still written.
  OUT="$dry/out-budget" bash "$0" --no-build --no-cpu-tests --gate fp32:6 --budget 14 -- --reps 1 --batch 2
  rc=$?
  [ "$rc" = 0 ] || problems+=" the budget dry run exited $rc;"
  check_out "$dry/out-budget" "| ctest-gpu |.*skipped: budget" "| gate |.*skipped: budget" "| bench |.*skipped: budget"
  # A budget that holds the tests but not the gate's planned 110 s and the reserve: the tests run,
  # the gate (optional: one cut halfway decides nothing) does not.
  OUT="$dry/out-gate-budget" bash "$0" --no-build --no-cpu-tests --no-bench --gate fp32:6 --budget 60
  rc=$?
  [ "$rc" = 0 ] || problems+=" the gate budget dry run exited $rc;"
  check_out "$dry/out-gate-budget" "| ctest-gpu | 60 | [0-9]* | [0-9.]* | ok |" "| gate |.*skipped: budget" \
    "- accuracy gates (fp32, 6 steps): skipped (budget)"
  [ -z "$problems" ] || { echo "gpu_check dry run: FAILED:$problems" >&2; exit 1; }
  echo "gpu_check dry run: passed ($dry)"
  exit 0
fi

if [ -n "$record_from" ]; then
  [ -n "$given_commit" ] || { echo "gpu_check: --record-from needs --commit" >&2; exit 2; }
  # ctest-gpu.txt since the steps had timeouts; ctest-gpu.log before.
  ctest_gpu_log="$record_from/ctest-gpu.txt"
  [ -f "$ctest_gpu_log" ] || ctest_gpu_log="$record_from/ctest-gpu.log"
  for f in nvidia-smi.txt "$(basename "$ctest_gpu_log")" bench.txt bench.json; do
    [ -f "$record_from/$f" ] || { echo "gpu_check: $record_from/$f is missing" >&2; exit 2; }
  done
  exec_record_only=1
  do_cpu_tests=0
else
  exec_record_only=0
fi
stamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
out="${OUT:-$root/bench/out-$(date -u +%Y%m%d-%H%M%S)}"
[ "$exec_record_only" = 1 ] && out="$record_from"
mkdir -p "$out"
build="${VDSR_GPU_BUILD:-$root/build-gpu}"  # the dry run's: a build made elsewhere
gpu="${VDSR_CHECK_GPU:-0}"                  # -1 only in the dry run
record_root="${VDSR_CHECK_RECORD_ROOT:-$root}"
carry="$root/.carry"
status=0
say() { echo "[gpu_check $(date -u +%H:%M:%S)] $*" | tee -a "$out/progress.log" >&2; }
fail() { say "FAILED: $*"; status=1; }
# shellcheck source=bench/gpu_build.sh
. "$root/bench/gpu_build.sh"
# A rebuilt record keeps the run's own steps.tsv.
[ "$exec_record_only" = 1 ] && [ -f "$out/steps.tsv" ] && keep_steps_tsv=1
# shellcheck source=bench/gpu_steps.sh
. "$root/bench/gpu_steps.sh"  # the budget's clock starts here: want, step, pack_out

# ---- facts ----------------------------------------------------------------------------------
if [ "$exec_record_only" = 1 ]; then
  # The run's own facts, from the files it brought back.
  stamp="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["date"])' "$out/bench.json")"
  name="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["gpu"]["name"])' "$out/bench.json")"
  driver="$(grep -oE 'Driver Version: [0-9.]+' "$out/nvidia-smi.txt" | awk '{print $3}')"
  gpu_line="$name, $driver (from nvidia-smi.txt and bench.json of the run)"
  commit="$given_commit"
  commit_src="given with --record-from: the run's .carry/commit.txt; record rebuilt from its results folder"
  cudnn_root="the GPU machine's Python nvidia.cudnn package (versions in bench.json)"
else
  gpu_line="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  [ -n "$gpu_line" ] || gpu_line="(nvidia-smi gave nothing)"
  [ "$gpu" = -1 ] && gpu_line="none: the CPU dry run (vdsr_bench -g -1)"
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
  gpu_commit
fi
say "GPU: $gpu_line; commit $commit ($commit_src); output in $out; budget $budget s"
export VDSR_COMMIT="$commit"  # for --version when the copy has no .git (cmake/version_header.cmake)

[ "$exec_record_only" = 1 ] || [ "$gpu" = -1 ] || gpu_find_cudnn

# ---- configure and build --------------------------------------------------------------------
# The tools first, then the GPU tests (a test that does not compile must not take the tools with it:
# the build stops at its first error), each a step under the budget; the rest of the build waits
# for the CPU tests' step. The gate and the recipe screen never build (VDSR_NO_REBUILD): a failed
# build is said once, here.
export VDSR_NO_REBUILD=1
tool_targets=(vdsr_bench vdsr_train vdsr_eval vdsr_sr)
test_targets=()
for t in "$root"/tests/gpu/test_*.cpp; do test_targets+=("$(basename "$t" .cpp)"); done
gpu_configure_cmd "$(( do_build && !exec_record_only ))"  # with --no-build .carry stays untouched
plain_build_cmd=("${build_cmd[@]}")
targets() { local t; for t in "$@"; do printf -- '--target\n%s\n' "$t"; done; }
built=1 tests_built=1
[ "$exec_record_only" = 1 ] && built=0
if [ "$do_build" = 1 ] && [ "$exec_record_only" = 0 ]; then
  if ! gpu_configure; then
    built=0 tests_built=0
  else
    mapfile -t tt < <(targets "${tool_targets[@]}")
    STEP_MERGE_OUTPUT=1 step build-tools 60 "$budget" "${plain_build_cmd[@]}" "${tt[@]}" || built=0
    if [ "$built" = 1 ] && [ "$do_tests" = 1 ]; then
      mapfile -t tt < <(targets "${test_targets[@]}")
      STEP_MERGE_OUTPUT=1 step build-tests 40 "$budget" "${plain_build_cmd[@]}" "${tt[@]}" || tests_built=0
    fi
  fi
elif [ "$exec_record_only" = 0 ]; then
  note_step build 100 0 "" "" "" "skipped: option" ""
fi

# ---- SASS of the tensor-core kernels --------------------------------------------------------
# Per object: HGMMA (Hopper warpgroup MMA), HMMA (mma.sync) and LDL/STL (local memory: spills or
# register arrays indexed at run time) instruction counts, into sass.txt and the record; for the
# objects with a weight gradient's ordered finish, the most global loads it issues in a row before
# an add (kernels/wgrad_finish.h asks for 16: the finish's speed rests on it).
finish_loads_ahead() {  # SASS on stdin -> the longest run of LDG between adds in wgrad_finish_kernel
  awk '/Function :/ { f = ($0 ~ /wgrad_finish_kernel/); run = 0; next }
       f && /LDG/ { if (++run > best) best = run; next }
       f && /[FD]ADD/ { run = 0 }
       END { print (best == "" ? "-" : best) }'
}
sass_summary="not read (no cuobjdump, or no build)"
if [ "$gpu" = -1 ]; then
  sass_summary="not read (the CPU dry run)"
elif [ "$built" = 1 ] && command -v cuobjdump > /dev/null 2>&1; then
  : > "$out/sass.txt"
  while IFS= read -r o; do
    d="$(cuobjdump -sass "$o" 2>/dev/null)"
    printf '%s: HGMMA %s, HMMA %s, LDL %s, STL %s, finish loads ahead %s\n' "$(basename "$o")" \
      "$(grep -c HGMMA <<< "$d")" "$(grep -c HMMA <<< "$d")" "$(grep -c 'LDL' <<< "$d")" \
      "$(grep -c 'STL' <<< "$d")" "$(finish_loads_ahead <<< "$d")" >> "$out/sass.txt"
  done < <(find "$build" -name '*.o' \( -name '*bf16*' -o -name '*tf32*' -o -name '*sm90a*' \) | sort)
  sass_summary="$(paste -sd';' "$out/sass.txt" | sed 's/;/; /g')"
  say "SASS: $sass_summary"
fi

# ---- tests ----------------------------------------------------------------------------------
# A GPU test that finds no usable GPU fails here instead of skipping: a run where nothing ran
# must not read green (the dry run has no GPU: its tests skip).
[ "$gpu" = -1 ] || export VDSR_REQUIRE_GPU=1
ctest_dir="${VDSR_CHECK_CTEST_DIR:-$build}"  # the dry run's: a ctest project of its own
gpu_ctest=(ctest --test-dir "$ctest_dir" -L gpu -j4 --output-on-failure --output-junit "$out/ctest-gpu.xml")
cpu_ctest=(ctest --test-dir "$build" -LE gpu -j16 --output-on-failure --output-junit "$out/ctest-cpu.xml")
counts() {  # ctest log -> "passed P, failed F, skipped S of T" (skipped = exit 77, as ctest counts)
  local log="$1" p s t
  p="$(grep -cE 'Test +#[0-9]+: .* Passed' "$log")"
  s="$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$log")"
  t="$(grep -cE 'Test +#[0-9]+: ' "$log")"
  echo "passed $p, failed $((t - p - s)), skipped $s of $t"
}
summary_of() {  # ctest log -> its summary line with the counts
  local line
  line="$(grep -E "tests passed|tests failed" "$1" | tail -1)"
  [ -n "$line" ] || line="(no summary line)"
  echo "$line ($(counts "$1"))"
}
gpu_summary="not run" cpu_summary="not run"
# run_ctest NAME PLANNED CAP [optional] COMMAND...: one ctest step (log in ctest-NAME.txt).
run_ctest() {
  local name="$1" planned="$2" cap="$3" enabled="$4"
  shift 4
  want "ctest-$name" "$enabled" "$planned" ${optional_step:+optional} || return 1
  STEP_MERGE_OUTPUT=1 step "ctest-$name" "$planned" "$cap" "$@"
  grep -E "\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run" "$out/ctest-$name.txt" | head -40 >&2
  say "ctest $name: $(summary_of "$out/ctest-$name.txt")"
}
if [ "$built" = 1 ] && [ "$tests_built" = 1 ]; then
  run_ctest gpu 60 200 "$do_tests" "${gpu_ctest[@]}"
  [ -f "$out/ctest-gpu.txt" ] && gpu_summary="$(summary_of "$out/ctest-gpu.txt")"
fi

# ---- accuracy gates -------------------------------------------------------------------------
gate_note="not run (no --gate)"
# A rebuilt record takes the run's verdict from its gate.txt.
[ "$exec_record_only" = 1 ] && [ -s "$out/gate.txt" ] &&
  gate_note="$(grep -E 'gates: ' "$out/gate.txt" | tail -1)" && [ -z "$gate_note" ] &&
  gate_note="no verdict in the run's gate.txt"
if [ -n "$gate_mode" ] && [ "$built" = 1 ]; then
  # Optional: started only with its planned time left (a gate cut halfway decides nothing). 110 s:
  # each 2,000-step fp32 run is about 29 s on an H200 (14.7 ms per step, docs/perf-data/
  # 2026-11-22-84a9732ecc09/gate.txt), the tf32 run, data and five evaluations come on top; with a
  # cap under 110 s a tf32 gate could be cut just short of its verdict.
  if want gate 1 110 optional; then
    step gate-run 110 150 env VDSR_GPU="$gpu" VDSR_GATE_MODE="$gate_mode" VDSR_GPU_BUILD="$build" OUT="$out" \
      bash "$root/bench/gpu_precision_gate.sh" "$gate_steps"
    gate_note="$(grep -E 'gates: ' "$out/gate.txt" 2> /dev/null | tail -1)"
    [ -n "$gate_note" ] || gate_note="no verdict: cut or failed before it (see gate.txt and gate-run.stderr)"
  else
    gate_note="skipped (budget)"
  fi
elif [ -n "$gate_mode" ]; then
  gate_note="not run (the tools did not build)"
fi

# ---- bench ----------------------------------------------------------------------------------
bench_cmd=("$build/bin/vdsr_bench" -g "$gpu" --json "$out/bench.json" "${bench_args[@]}")
bench_rc="not run"
if [ "$built" = 1 ] && want bench "$do_bench" 90; then
  # vdsr_bench stops starting rows 20 s before the step's timeout, so that a short budget leaves a
  # bench.json of the rows it reached rather than none (the CPU backend of the dry run has no limit).
  bench_limit=$(( $(step_cap "$budget") - 20 ))
  [ "$bench_limit" -ge 10 ] || bench_limit=10
  [ "$gpu" = -1 ] || bench_cmd+=(--time-limit "$bench_limit")
  say "bench: LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} ${bench_cmd[*]}"
  step bench 90 "$budget" "${bench_cmd[@]}"
  bench_rc=$?
  grep -E "FAILED|error|warning" "$out/bench.stderr" | head -40 >&2
fi

# ---- what the budget still allows -----------------------------------------------------------
if [ "$built" = 1 ] && [ "$do_cpu_tests" = 1 ] && want build-rest 1 150 optional; then
  step build-rest 60 "$budget" "${plain_build_cmd[@]}" &&
    optional_step=1 run_ctest cpu 90 "$budget" 1 env -u OUT "${cpu_ctest[@]}"  # (tests' scripts honour OUT)
  [ -f "$out/ctest-cpu.txt" ] && cpu_summary="$(summary_of "$out/ctest-cpu.txt")"
fi

peer_rc="not run"
if [ "$do_peer" = 1 ] && [ "$exec_record_only" = 0 ] && want peer 1 120 optional; then
  step peer 120 "$budget" env PYTHONUNBUFFERED=1 python3 "$root/bench/pytorch_peer.py" --json "$out/peer.json"
  peer_rc=$?
fi

if [ "$exec_record_only" = 1 ]; then
  gpu_summary="$(summary_of "$ctest_gpu_log")"
  bench_rc="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed_rows"])' "$out/bench.json") failed rows (from bench.json)"
  grep -q "tests failed" "$ctest_gpu_log" && ! grep -q " 0 tests failed" "$ctest_gpu_log" && status=1
fi

# ---- record ---------------------------------------------------------------------------------
rel() { local s="$1"; echo "${s//"$root"\//}"; }  # paths relative to the repository root
{
  echo "# $stamp — $(echo "$gpu_line" | cut -d, -f1), commit $commit"
  echo
  echo "Written by \`bench/gpu_check.sh\` (never edited by hand)."
  echo
  echo "- GPU (nvidia-smi: name, driver, memory): $gpu_line"
  echo "- commit: $commit ($commit_src)"
  echo "- cuDNN root: ${cudnn_root:-none found}"
  echo "- ctest gpu: $gpu_summary"
  echo "- ctest cpu: $cpu_summary"
  echo "- accuracy gates${gate_mode:+ ($gate_mode, $gate_steps steps)}: $gate_note"
  echo "- vdsr_bench exit status: $bench_rc"
  echo "- SASS (cuobjdump, instruction counts per object): $sass_summary"
  [ "$do_peer" = 1 ] && echo "- pytorch_peer.py exit status: $peer_rc"
  [ "$exec_record_only" = 1 ] || echo "- budget: $budget s, used $(elapsed) s before the record"
  echo
  echo "Commands (from the repository root; \`.carry\` made by \`bench/prepare_carry.sh\`):"
  echo
  echo '```'
  echo "bench/gpu_check.sh$opts${bench_args[*]:+ -- ${bench_args[*]}}"
  [ "$do_build" = 1 ] && rel "${configure[*]}" && rel "${plain_build_cmd[*]}"
  [ "$do_tests" = 1 ] && rel "${gpu_ctest[*]}"
  [ -n "$gate_mode" ] && echo "VDSR_GATE_MODE=$gate_mode bench/gpu_precision_gate.sh $gate_steps"
  [ "$do_bench" = 1 ] && echo "LD_LIBRARY_PATH=${cudnn_lib:+$(dirname "$cudnn_lib"):}... $(rel "${bench_cmd[*]}")"
  [ "$do_cpu_tests" = 1 ] && rel "${cpu_ctest[*]}"
  [ "$do_peer" = 1 ] && echo "python3 bench/pytorch_peer.py --json peer.json"
  echo '```'
  if [ "$exec_record_only" = 0 ] || [ "${keep_steps_tsv:-0}" = 1 ]; then
    echo
    echo "## Steps"
    echo
    echo "Each under a timeout cut to what the budget left (bench/gpu_steps.sh):"
    echo
    steps_table
  fi
  if [ -n "$gate_mode" ] || { [ "$exec_record_only" = 1 ] && [ -s "$out/gate.txt" ]; }; then
    echo
    echo "## Accuracy gates${gate_mode:+ ($gate_mode)}"
    echo
    if [ -s "$out/gate.txt" ]; then
      echo '```'
      cat "$out/gate.txt"
      echo '```'
    else
      echo "$gate_note"
    fi
  fi
  echo
  if [ "$do_bench" = 0 ]; then
    echo "vdsr_bench: bench not run (--no-bench)."
  elif [ "$built" = 0 ] && [ "$exec_record_only" = 0 ]; then
    echo "vdsr_bench: not run (no build)."
  elif [ -s "$out/bench.txt" ]; then
    echo "vdsr_bench output:"
    echo
    echo '```'
    cat "$out/bench.txt"
    echo '```'
  else
    # Each row is logged to stderr as it is timed: a bench cut by the budget keeps its rows there.
    echo "vdsr_bench produced no table (see the steps). The rows it finished, from its error output"
    echo "(op shape | impl precision/math | variant | median | status), then its last lines:"
    [ -s "$out/bench.json" ] && echo "(bench.json holds the same rows as JSON, marked \`\"complete\": false\`.)"
    echo
    echo '```'
    grep -F '[bench] ' "$out/bench.stderr" 2>/dev/null | grep -F ' | '
    echo '...'
    tail -5 "$out/bench.stderr" 2>/dev/null
    echo '```'
  fi
  if [ -s "$out/peer.txt" ]; then
    echo
    echo "The same VDSR in PyTorch on this GPU (bench/pytorch_peer.py):"
    echo
    echo '```'
    cat "$out/peer.txt"
    echo '```'
  fi
} > "$out/record.md"
# shellcheck source=bench/record_dir.sh
. "$root/bench/record_dir.sh"
dest="$(record_dir "$record_root" "$stamp" "$commit")"
if mkdir -p "$dest" && cp "$out/record.md" "$dest/record.md"; then
  say "record written to $(rel "$dest")/record.md (and $out/record.md)"
  [ "$exec_record_only" = 1 ] || say "bring record.md back into that folder, with bench.json, gate.txt and peer.json"
  say "docs/perf.md is not touched: update its list of records and its current-results table by hand from the record"
else
  fail "could not write the record to $dest/record.md (it is in $out/record.md)"
fi
[ -s "$out/bench.txt" ] && cat "$out/bench.txt"
say "done in $(elapsed) s (status $status)"
# The device tool brings back at most 8 files: the record and the results loose, every log packed.
[ "$exec_record_only" = 1 ] || pack_out record.md bench.json bench.txt peer.json gate.txt gate-runs.tar.gz
exit $status
