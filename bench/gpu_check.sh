#!/usr/bin/env bash
# gpu_check.sh: build, test and benchmark on the GPU machine, and write a dated record of it to
# docs/perf-data/<UTC date>-<commit12>/record.md (bench/record_dir.sh names the folder). Run from the
# repository root of a copy that carries .carry/ (bench/prepare_carry.sh makes it on the build machine):
#
#   bench/gpu_check.sh [--no-build] [--no-tests] [--no-cpu-tests] [--no-bench] [--peer]
#                      [-- VDSR_BENCH_ARGS...]
#   bench/gpu_check.sh --record-from DIR --commit C [-- VDSR_BENCH_ARGS...]
#
# --record-from rebuilds the record of an earlier run from the results folder it brought back
# (nvidia-smi.txt, ctest-gpu.log, bench.txt, bench.json; unpack its logs.tar.gz there first), for a
# run whose own record.md was lost;
# C is the commit that run was made from (its .carry/commit.txt), the arguments those it was given.
#
# Steps: find cuDNN (PyTorch's nvidia.cudnn package, else the CUDA toolkit), configure build-gpu/
# (CUDA on, sm_90, dependencies from .carry/) and build with -j16 (bench/gpu_build.sh, as
# gpu_measure.sh does), ctest -L gpu, ctest -LE gpu -j16 (data tests skip: no data travels),
# vdsr_bench -g 0 --json, and with --peer the same VDSR in
# PyTorch on the same GPU (bench/pytorch_peer.py --json peer.json; its table joins the record).
# Everything lands in one folder, $OUT if set, else bench/out-<UTC date>: record.md, bench.json,
# bench.txt (the table as printed), peer.json and logs.tar.gz (every log), at most 8 files because
# the device tool brings back no more. Bring record.md (with bench.json, peer.json) back into the
# docs/perf-data folder the script names. The script never edits docs/perf.md: its current-results
# table and its list of records are updated by hand from the record. A failing test or bench row
# does not stop the script: the bench and the record still happen; the exit status is non-zero if
# any step failed.
set -uo pipefail

root="$(pwd)"
[ -f "$root/bench/gpu_check.sh" ] || { echo "gpu_check: run from the repository root" >&2; exit 2; }
do_build=1 do_tests=1 do_cpu_tests=1 do_bench=1 do_peer=0
record_from="" given_commit=""
bench_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) do_build=0 ;;
    --no-tests) do_tests=0; do_cpu_tests=0 ;;
    --no-cpu-tests) do_cpu_tests=0 ;;
    --no-bench) do_bench=0 ;;
    --peer) do_peer=1 ;;
    --record-from) record_from="$2"; shift ;;
    --commit) given_commit="$2"; shift ;;
    --) shift; bench_args=("$@"); break ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "gpu_check: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

if [ -n "$record_from" ]; then
  [ -n "$given_commit" ] || { echo "gpu_check: --record-from needs --commit" >&2; exit 2; }
  for f in nvidia-smi.txt ctest-gpu.log bench.txt bench.json; do
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
build="${VDSR_GPU_BUILD:-$root/build-gpu}"  # override for a dry run elsewhere
carry="$root/.carry"
status=0
say() { echo "[gpu_check $(date -u +%H:%M:%S)] $*" | tee -a "$out/progress.log" >&2; }
fail() { say "FAILED: $*"; status=1; }
# shellcheck source=bench/gpu_build.sh
. "$root/bench/gpu_build.sh"

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
fi
if [ "$exec_record_only" = 0 ]; then
gpu_line="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
[ -n "$gpu_line" ] || gpu_line="(nvidia-smi gave nothing)"
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
gpu_commit
fi  # not record-only
say "GPU: $gpu_line; commit $commit ($commit_src); output in $out"
export VDSR_COMMIT="$commit"  # for --version when the copy has no .git (cmake/version_header.cmake)

[ "$exec_record_only" = 1 ] || gpu_find_cudnn

# ---- configure and build --------------------------------------------------------------------
gpu_configure_cmd "$((1 - exec_record_only))"
built=1
[ "$exec_record_only" = 1 ] && built=0
if [ "$do_build" = 1 ] && [ "$exec_record_only" = 0 ]; then
  # shellcheck disable=SC2119  # gpu_make with no targets builds everything
  { gpu_configure && gpu_make; } || built=0
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
if [ "$built" = 1 ] && command -v cuobjdump > /dev/null 2>&1; then
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
# must not read green.
export VDSR_REQUIRE_GPU=1
gpu_ctest=(ctest --test-dir "$build" -L gpu -j4 --output-on-failure --output-junit "$out/ctest-gpu.xml")
cpu_ctest=(ctest --test-dir "$build" -LE gpu -j16 --output-on-failure --output-junit "$out/ctest-cpu.xml")
counts() {  # ctest log -> "passed P, failed F, skipped S of T" (skipped = exit 77, as ctest counts)
  local log="$1" p s t
  p="$(grep -cE 'Test +#[0-9]+: .* Passed' "$log")"
  s="$(grep -cE 'Test +#[0-9]+: .*\*\*\*Skipped' "$log")"
  t="$(grep -cE 'Test +#[0-9]+: ' "$log")"
  echo "passed $p, failed $((t - p - s)), skipped $s of $t"
}
gpu_summary="not run" cpu_summary="not run" ctest_summary=""
run_ctest() {  # name, command...; sets ctest_summary
  local name="$1"; shift
  say "$name: $*"
  "$@" > "$out/ctest-$name.log" 2>&1
  local rc=$?
  local line
  line="$(grep -E "tests passed|tests failed" "$out/ctest-$name.log" | tail -1)"
  [ -n "$line" ] || line="(no summary line; rc $rc)"
  local c
  c="$(counts "$out/ctest-$name.log")"
  grep -E "\*\*\*Failed|\*\*\*Exception|\*\*\*Timeout|Not Run|Skipped" "$out/ctest-$name.log" | head -40 >&2
  say "$name: $line ($c)"
  [ $rc = 0 ] || fail "ctest $name (rc $rc; see ctest-$name.log)"
  ctest_summary="$line ($c)"
}
if [ "$built" = 1 ] && [ "$do_tests" = 1 ]; then
  run_ctest gpu "${gpu_ctest[@]}"
  gpu_summary="$ctest_summary"
  if [ "$do_cpu_tests" = 1 ]; then
    run_ctest cpu "${cpu_ctest[@]}"
    cpu_summary="$ctest_summary"
  fi
fi

# ---- bench ----------------------------------------------------------------------------------
bench_cmd=("$build/bin/vdsr_bench" -g 0 --json "$out/bench.json" "${bench_args[@]}")
bench_rc="not run"
if [ "$built" = 1 ] && [ "$do_bench" = 1 ]; then
  say "bench: LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-} ${bench_cmd[*]}"
  "${bench_cmd[@]}" > "$out/bench.txt" 2> "$out/bench.stderr"
  bench_rc=$?
  grep -E "FAILED|error|warning" "$out/bench.stderr" | head -40 >&2
  [ "$bench_rc" = 0 ] || fail "vdsr_bench exited $bench_rc (a row failed verification, or an error; see bench.stderr)"
fi

peer_rc="not run"
if [ "$do_peer" = 1 ] && [ "$exec_record_only" = 0 ]; then
  say "peer: python3 bench/pytorch_peer.py --json $out/peer.json"
  PYTHONUNBUFFERED=1 python3 "$root/bench/pytorch_peer.py" --json "$out/peer.json" \
    > "$out/peer.txt" 2> "$out/peer.stderr"
  peer_rc=$?
  [ "$peer_rc" = 0 ] || fail "pytorch_peer.py exited $peer_rc (see peer.stderr)"
fi

if [ "$exec_record_only" = 1 ]; then
  line="$(grep -E "tests passed|tests failed" "$out/ctest-gpu.log" | tail -1)"
  gpu_summary="$line ($(counts "$out/ctest-gpu.log"))"
  bench_rc="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["failed_rows"])' "$out/bench.json") failed rows (from bench.json)"
  grep -q "tests failed" "$out/ctest-gpu.log" && ! grep -q " 0 tests failed" "$out/ctest-gpu.log" && status=1
fi

# ---- record ---------------------------------------------------------------------------------
rel() { local s="$1"; echo "${s//"$root"\//}"; }  # paths relative to the repository root
opts=""  # the options of the run, so that its record shows what was left out
[ "$do_build" = 0 ] && opts+=" --no-build"
[ "$do_tests" = 0 ] && opts+=" --no-tests"
[ "$do_tests" = 1 ] && [ "$do_cpu_tests" = 0 ] && opts+=" --no-cpu-tests"
[ "$do_bench" = 0 ] && opts+=" --no-bench"
[ "$do_peer" = 1 ] && opts+=" --peer"
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
  echo "- vdsr_bench exit status: $bench_rc"
  echo "- SASS (cuobjdump, instruction counts per object): $sass_summary"
  [ "$do_peer" = 1 ] && echo "- pytorch_peer.py exit status: $peer_rc"
  echo
  echo "Commands (from the repository root; \`.carry\` made by \`bench/prepare_carry.sh\`):"
  echo
  echo '```'
  echo "bench/gpu_check.sh$opts${bench_args[*]:+ -- ${bench_args[*]}}"
  [ "$do_build" = 1 ] && rel "${configure[*]}" && rel "${build_cmd[*]}"
  [ "$do_tests" = 1 ] && rel "${gpu_ctest[*]}"
  [ "$do_cpu_tests" = 1 ] && rel "${cpu_ctest[*]}"
  [ "$do_bench" = 1 ] && echo "LD_LIBRARY_PATH=${cudnn_lib:+$(dirname "$cudnn_lib"):}... $(rel "${bench_cmd[*]}")"
  [ "$do_peer" = 1 ] && echo "python3 bench/pytorch_peer.py --json peer.json"
  echo '```'
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
    echo "vdsr_bench produced no table. The end of its error output:"
    echo
    echo '```'
    tail -20 "$out/bench.stderr" 2>/dev/null
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
dest="$(record_dir "$root" "$stamp" "$commit")"
if mkdir -p "$dest" && cp "$out/record.md" "$dest/record.md"; then
  say "record written to $(rel "$dest")/record.md (and $out/record.md)"
  [ "$exec_record_only" = 1 ] || say "bring record.md back into that folder, with bench.json and peer.json"
  say "docs/perf.md is not touched: update its list of records and its current-results table by hand from the record"
else
  fail "could not write the record to $dest/record.md (it is in $out/record.md)"
fi
[ -s "$out/bench.txt" ] && cat "$out/bench.txt"
say "done (status $status)"
# The device tool brings back at most 8 files: keep the record and the bench results loose, and
# pack every log into one archive.
pack="$(mktemp -d)"
if (cd "$out" && tar czf "$pack/logs.tar.gz" --exclude=logs.tar.gz \
      --exclude=record.md --exclude=bench.json --exclude=bench.txt --exclude=peer.json .); then
  (cd "$out" && find . -maxdepth 1 -type f ! -name record.md ! -name bench.json \
     ! -name bench.txt ! -name peer.json -delete) && mv "$pack/logs.tar.gz" "$out/"
fi
rm -rf "$pack"
exit $status
