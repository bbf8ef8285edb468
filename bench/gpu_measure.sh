#!/usr/bin/env bash
# gpu_measure.sh: the measurements the speed work aims at (issue 21), in one device call of about six
# minutes: per-node times inside one training iteration and one 1080p frame, the training iteration
# at batch 64 / 128 / 256, cuDNN's best as the median of repeated runs, the PyTorch peer with
# torch.compile(mode="max-autotune"), and folder upscaling end to end against the network-only rate,
# with the SM clock, power, temperature and clock event reasons sampled all along. Run on the GPU
# machine from the repository root of a copy that carries .carry/ made with
#
#   VDSR_CARRY_DATA="Set14 B100" bench/prepare_carry.sh          (on the build machine)
#   bench/gpu_measure.sh [--no-build] [--no-nodes] [--no-bench] [--no-folder] [--no-peer]
#                        [--no-pdl] [--no-ncu] [--no-more-nodes] [--budget SECONDS]
#   bench/gpu_measure.sh --dry-run BUILD_DIR     every step the CPU can run, tiny, with a CPU build
#
# Steps, in this order (each logged with its time; a failure is recorded and the rest still runs;
# the exit status is non-zero if any step failed). Planned seconds on the H200 by the script's own
# clock (the machine's start and the transfers come on top):
#   build      60 cold, 5 warm  reuse build-gpu/ if it is configured (a warm machine after
#                   gpu_check.sh), else configure it as gpu_check.sh does (bench/gpu_build.sh);
#                   build vdsr_bench and vdsr_sr only, -j16
#   clocks      1   nvidia-smi every 200 ms in the background for the whole run (clocks.csv);
#                   nvidia-smi -q -d CLOCK,POWER once
#   nodes      20   vdsr_bench --nodes --precision bf16: every op's time inside one training
#                   iteration (graph replay with event nodes; op by op) and one 1080p frame
#   bench      70   vdsr_bench --precision bf16 --train-batches 64,128,256 --runs 5 --probes (every
#                   row timed 5 times: medians and spreads, cuDNN's best as the median over the runs;
#                   the probes: the wgmma kernels with parts switched off, inputs rotated and in L2)
#   pdl      2x20   vdsr_bench --impl ours --no-hd-convs --conv-batches 1,64 --runs 3 with --pdl off,
#                   then --pdl on: our rows at batch 1 (a few tiles: about a launch's fixed cost)
#                   and 64, the training iteration and the 1080p frame, with and without
#                   programmatic dependent launch, back to back (docs/kernels.md)
#   folder     45   Set14 + B100 in one folder (.carry/data): vdsr_bench --stages on 16 of the images
#                   (network-only rate, per-stage rates, -j suggestion), then vdsr_sr -s 2 over all
#                   114 to PNG and to JPEG; a format below 90% of the network rate runs again with
#                   the -j the stages suggest
#   peer     <=210  bench/pytorch_peer.py, bf16: the best configurations so far (eager + CUDA graph
#                   channels-last training, torch.compile 1080p), then torch.compile max-autotune
#                   with and without CUDA graphs and reduce-overhead; its cap is the budget left,
#                   and peer.json keeps the rows finished when the cap cuts it
#   ncu        40   if time is left: Nsight Compute's SpeedOfLight on the wgmma kernels (vdsr_bench
#                   --impl ours: the training shape and the 1080p frame); ncu --version always
#   more-nodes 2x15 if time is left: vdsr_bench --nodes for fp32 and tf32
#   record      5   record.md, measure.json, logs.tar.gz
# About 380 s in all with a cold build (the default --budget): the peer takes what the budget
# leaves, the last two steps run only if their planned time is left, and every step's timeout is
# cut to the budget left, so the run ends near the budget whatever happens. Give the device call
# timeout_s 420.
#
# Results in $OUT (else bench/out-measure-<UTC time>), at most 8 files (the device tool's limit):
# record.md, nodes.json, bench.json, stages.json, peer.json, measure.json (steps, clocks per step,
# folder runs), ncu.txt (when ncu ran) and logs.tar.gz (every log, the clock samples, the other
# JSON). The record is also written to docs/perf-data/<UTC date>-<commit12>/record.md of this copy
# (bench/record_dir.sh); bring the files back into that folder. docs/perf.md is never edited here.
#
# Environment: VDSR_GPU_BUILD (binaries, default build-gpu/), VDSR_MEASURE_GPU (device, default 0;
# -1 runs on the CPU), VDSR_MEASURE_PRECISION [bf16], VDSR_MEASURE_SETS (image folders, default
# .carry/data/Set14 .carry/data/B100), VDSR_MEASURE_STAGE_IMAGES [16], VDSR_MEASURE_STAGE_REPS [2],
# VDSR_MEASURE_BENCH_ARGS (added to every vdsr_bench call), VDSR_MEASURE_PEER_ROWS (the peer's
# --rows), VDSR_MEASURE_BUDGET (seconds, as --budget), VDSR_MEASURE_TMP (work folder for the images,
# default /tmp/vdsr-measure), VDSR_MEASURE_RECORD_ROOT (where docs/perf-data/ is, default here).
set -uo pipefail

root="$(pwd)"
[ -f "$root/bench/gpu_measure.sh" ] || { echo "gpu_measure: run from the repository root" >&2; exit 2; }
usage() { sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
do_build=1 do_nodes=1 do_bench=1 do_pdl=1 do_folder=1 do_peer=1 do_ncu=1 do_more_nodes=1
budget="${VDSR_MEASURE_BUDGET:-380}"
dry_run=0
opts=""  # the options given, for the record
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) do_build=0 ;;
    --no-nodes) do_nodes=0 ;;
    --no-bench) do_bench=0 ;;
    --no-pdl) do_pdl=0 ;;
    --no-folder) do_folder=0 ;;
    --no-peer) do_peer=0 ;;
    --no-ncu) do_ncu=0 ;;
    --no-more-nodes) do_more_nodes=0 ;;
    --budget) budget="$2"; opts+=" $1 $2"; shift ;;
    --dry-run)
      # The CPU build given, the bundled samples, tiny settings; the peer and ncu need a GPU.
      dry_run=1 do_build=0 do_peer=0 do_ncu=0
      dry="${VDSR_MEASURE_TMP:-/tmp/vdsr-measure-dry}"
      export VDSR_GPU_BUILD="${2:?gpu_measure --dry-run: the build folder}" VDSR_MEASURE_GPU=-1
      export VDSR_MEASURE_PRECISION=fp32 VDSR_MEASURE_SETS="$root/samples" VDSR_MEASURE_STAGE_IMAGES=2
      export VDSR_MEASURE_STAGE_REPS=1 VDSR_MEASURE_BENCH_ARGS="--reps 1 --batch 4 --image 64"
      export VDSR_MEASURE_TMP="$dry" VDSR_MEASURE_RECORD_ROOT="$dry/record-root"
      export OUT="$dry/out"  # never a caller's $OUT: a ctest run inside a device call would clobber it
      rm -rf "$dry"
      shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_measure: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  case "$1" in --no-*) opts+=" $1" ;; esac
  shift
done
case "$budget" in ''|*[!0-9]*) echo "gpu_measure: --budget takes whole seconds" >&2; exit 2 ;; esac

stamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
out="${OUT:-$root/bench/out-measure-$(date -u +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
build="${VDSR_GPU_BUILD:-$root/build-gpu}"
carry="$root/.carry"
gpu="${VDSR_MEASURE_GPU:-0}"
prec="${VDSR_MEASURE_PRECISION:-bf16}"
tmp="${VDSR_MEASURE_TMP:-/tmp/vdsr-measure}"
record_root="${VDSR_MEASURE_RECORD_ROOT:-$root}"
read -r -a bench_extra <<< "${VDSR_MEASURE_BENCH_ARGS:-}"
# The peer's rows, most important first (a cap keeps the rows before it): PyTorch's best training
# iteration and 1080p frame so far (docs/perf.md), then torch.compile max-autotune with CUDA graphs,
# reduce-overhead, and max-autotune without graphs (whose autotuning the earlier rows have cached).
peer_rows="train/eager-cudagraph/bf16-channels_last,infer/compile/bf16"
peer_rows+=",train/compile-max-autotune-cudagraphs/bf16,infer/compile-max-autotune-cudagraphs/bf16"
peer_rows+=",train/compile-cudagraphs/bf16,train/compile-max-autotune/bf16,infer/compile-max-autotune/bf16"
peer_rows+=",infer/compile-cudagraphs/bf16"
peer_rows="${VDSR_MEASURE_PEER_ROWS:-$peer_rows}"
bench_bin="$build/bin/vdsr_bench" sr_bin="$build/bin/vdsr_sr"
report="$root/bench/gpu_measure_report.py"
status=0
say() { echo "[gpu_measure $(date -u +%H:%M:%S)] $*" | tee -a "$out/progress.log" >&2; }
fail() { say "FAILED: $*"; status=1; }
# shellcheck source=bench/gpu_build.sh
. "$root/bench/gpu_build.sh"

# shellcheck source=bench/gpu_steps.sh
. "$root/bench/gpu_steps.sh"  # the budget's clock starts here: want, step, pack_out

# ---- facts ----------------------------------------------------------------------------------
gpu_line="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
[ -n "$gpu_line" ] || gpu_line="(nvidia-smi gave nothing)"
gpu_commit
say "GPU: $gpu_line; commit $commit ($commit_src); output in $out; budget $budget s"
export VDSR_COMMIT="$commit"  # the build's --version and bench.json say it (cmake/version_header.cmake)
cudnn_root="" cudnn_lib=""
[ "$gpu" = -1 ] || gpu_find_cudnn

# ---- build ----------------------------------------------------------------------------------
gpu_configure_cmd "$do_build"  # with --no-build (the dry run too) .carry stays untouched
build_note="not built here (--no-build): the binaries of $build"
if [ "$do_build" = 1 ]; then
  # Only the two programs the measurement runs: the tests and the other tools wait for gpu_check.sh.
  # A step under the budget like the others (its output in build.txt).
  rc=0
  if [ -f "$build/CMakeCache.txt" ]; then
    build_note="reused $build (configured before), built vdsr_bench and vdsr_sr"
    say "build: $build is configured: building the two targets only"
  else
    build_note="configured $build and built vdsr_bench and vdsr_sr"
    gpu_configure || { rc=1; build_note="configure failed (configure.log)"; }
  fi
  if [ "$rc" = 0 ] &&
     ! STEP_MERGE_OUTPUT=1 step build 60 "$budget" "${build_cmd[@]}" --target vdsr_bench --target vdsr_sr; then
    build_note="the build failed (build.txt)"
  fi
else
  note_step build 60 0 "" "" "" "skipped: option" ""
fi
[ -x "$bench_bin" ] || fail "no $bench_bin: the vdsr_bench steps fail"
[ -x "$sr_bin" ] || fail "no $sr_bin: the vdsr_sr steps fail"

# ---- clocks ---------------------------------------------------------------------------------
# Every 200 ms for the whole run, with the machine's UTC time stamps (TZ=UTC) that the record lines
# up with the steps. clocks_event_reasons is the field's name on current drivers, the older
# clocks_throttle_reasons where it is refused.
smi_pid=""
clock_fields="timestamp,clocks.sm,clocks.mem,power.draw,temperature.gpu,clocks_event_reasons.active"
if command -v nvidia-smi > /dev/null 2>&1; then
  if ! nvidia-smi --query-gpu="$clock_fields" --format=csv,noheader,nounits > "$out/clocks-probe.txt" 2>&1 ||
     grep -qi "not a valid field\|invalid" "$out/clocks-probe.txt"; then
    clock_fields="${clock_fields/clocks_event_reasons/clocks_throttle_reasons}"
    say "clocks: clocks_event_reasons refused ($(head -1 "$out/clocks-probe.txt")); using $clock_fields"
  fi
  TZ=UTC nvidia-smi --query-gpu="$clock_fields" --format=csv,noheader,nounits -lms 200 \
    > "$out/clocks.csv" 2> "$out/clocks.stderr" &
  smi_pid=$!
  trap '[ -n "$smi_pid" ] && kill "$smi_pid" 2> /dev/null' EXIT
  nvidia-smi -q -d CLOCK,POWER > "$out/clocks-q.txt" 2>&1 || true
  nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
  say "clocks: sampling $clock_fields every 200 ms (pid $smi_pid)"
else
  echo "nvidia-smi not found: no clock samples" > "$out/clocks-q.txt"
  say "clocks: nvidia-smi not found: the record has no clocks"
fi

# ---- per-node tables, batch scaling, cuDNN runs ---------------------------------------------
if want nodes "$do_nodes" 20; then
  step nodes 20 90 "$bench_bin" -g "$gpu" --nodes --precision "$prec" --json "$out/nodes.json" "${bench_extra[@]}"
fi
# Every row timed 5 times (cuDNN's best: the median over the runs of each run's fastest algorithm,
# with the spread), the training iteration at three batches. The option's name is read off --help
# (--runs; --cudnn-runs in an earlier plan). The CPU rows take neither (the dry run).
scaling=() bench_help=""
if [ "$gpu" != -1 ]; then
  scaling=(--train-batches "64,128,256")
  bench_help="$("$bench_bin" --help 2> /dev/null)"
  for f in --cudnn-runs --runs; do grep -qE -- "[[ ]$f N" <<< "$bench_help" && runs_opt="$f"; done
  scaling+=("${runs_opt:---runs}" 5)
  grep -q -- "--probes" <<< "$bench_help" && scaling+=(--probes)
fi
# time_limit CAP: vdsr_bench's --time-limit for a step of cap CAP, 15 s inside the step's timeout, so
# that a cut run still writes its JSON (GPU rows only; none where --help does not list it).
time_limit() {
  [ "$gpu" != -1 ] && grep -q -- "--time-limit" <<< "$bench_help" || return 0
  local t=$(( $(step_cap "$1") - 15 ))
  echo "--time-limit $(( t < 5 ? 5 : t ))"
}
if want bench "$do_bench" 70; then
  # shellcheck disable=SC2046  # time_limit's two words
  step bench 70 150 "$bench_bin" -g "$gpu" --precision "$prec" "${scaling[@]}" $(time_limit 150) \
    --json "$out/bench.json" "${bench_extra[@]}"
fi
# Programmatic dependent launch off, then on: the same rows back to back, so the clocks and the
# machine's state are as alike as two runs get (issue 22, step 1). The conv rows also at batch 1
# (8 tiles of the forward: one per busy CTA), whose time is about a launch's fixed cost, beside
# batch 64 (about 4 tiles per CTA): both with and without PDL. A GPU launch attribute: the CPU
# has nothing to compare.
if [ "$gpu" = -1 ]; then
  note_step pdl 40 0 "" "" "" "skipped: no GPU (a launch attribute of the GPU's kernels)" ""
else
  for mode in off on; do
    if want "pdl-$mode" "$do_pdl" 20; then
      # shellcheck disable=SC2046
      step "pdl-$mode" 20 60 "$bench_bin" -g "$gpu" --precision "$prec" --impl ours --no-hd-convs \
        --conv-batches 1,64 "${runs_opt:---runs}" 3 --pdl "$mode" $(time_limit 60) --json "$out/pdl-$mode.json" \
        "${bench_extra[@]}"
    fi
  done
fi

# ---- folder end to end ----------------------------------------------------------------------
sr_run() {  # NAME FORMAT [-j L:P:S]: vdsr_sr over the folder into a fresh output folder
  local name="$1" fmt="$2"
  shift 2
  rm -rf "${tmp:?}/$name"
  step "$name" 12 90 "$sr_bin" -g "$gpu" --precision "$prec" -s 2 -f "$fmt" -i "$tmp/in" -o "$tmp/$name" \
    --json "$out/$name.json" "$@"
}
if want folder "$do_folder" 45; then
  # One folder of every set's images, interleaved by name (001-Set14-baboon.png, 002-B100-...), so
  # that the stages' first N images mix the sets; vdsr_sr gets them all.
  rm -rf "$tmp/in"
  mkdir -p "$tmp/in"
  n=0
  read -r -a sets <<< "${VDSR_MEASURE_SETS:-$carry/data/Set14 $carry/data/B100}"
  lists=()
  for s in "${sets[@]}"; do
    [ -d "$s" ] || { fail "folder: $s missing (VDSR_CARRY_DATA=\"Set14 B100\" bench/prepare_carry.sh)"; continue; }
    lists+=("$(find "$s" -maxdepth 1 -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.bmp' \) | sort)")
  done
  i=0
  while :; do
    any=0
    for k in "${!lists[@]}"; do
      f="$(sed -n "$((i + 1))p" <<< "${lists[$k]}")"
      [ -n "$f" ] || continue
      any=1 n=$((n + 1))
      cp "$f" "$tmp/in/$(printf '%03d' "$n")-$(basename "$(dirname "$f")")-$(basename "$f")"
    done
    [ "$any" = 1 ] || break
    i=$((i + 1))
  done
  say "folder: $n images from ${sets[*]} in $tmp/in ($(du -sh "$tmp/in" | cut -f1))"
  printf 'folder_images\t%s\nfolder_sets\t%s\n' "$n" "${sets[*]}" >> "$out/facts.tsv"
  if [ "$n" -gt 0 ]; then
    step stages 25 90 "$bench_bin" -g "$gpu" --stages "$tmp/in" --precision "$prec" \
      --images "${VDSR_MEASURE_STAGE_IMAGES:-16}" --reps "${VDSR_MEASURE_STAGE_REPS:-2}" --json "$out/stages.json"
    sr_run sr-png png
    sr_run sr-jpg jpg
    # Below 90% of the network rate: again with the -j the stages suggest for that format.
    for fmt in png jpg; do
      j="$(python3 "$report" suggest "$out" "$fmt" 2> "$out/suggest-$fmt.stderr")"
      if [ -n "$j" ] && want "sr-$fmt-j" 1 12 optional; then
        sr_run "sr-$fmt-j" "$fmt" -j "$j"
      elif [ -z "$j" ]; then
        say "folder: $fmt: no second run ($(head -1 "$out/suggest-$fmt.stderr"))"
      fi
    done
  fi
fi

# ---- PyTorch peer ---------------------------------------------------------------------------
python3 "$root/bench/pytorch_peer.py" --list --rows "$peer_rows" > "$out/peer-plan.txt" 2>&1 ||
  fail "pytorch_peer.py refused the rows: $(tail -1 "$out/peer-plan.txt")"
if [ "$gpu" = -1 ]; then
  say "peer: skipped (no GPU)"
  note_step peer 200 0 "" "" "" "skipped: no GPU (PyTorch on a GPU)" ""
elif want peer "$do_peer" 45 optional; then
  # The cap is what the budget leaves (at most 210 s); rows run in the order listed, most
  # important first, and peer.json keeps every finished row if the cap cuts the run. --deadline
  # (10 s inside the cap) starts no row that would not fit, rather than lose a compile half done.
  peer_deadline=$(( $(step_cap 210) - 10 ))
  step peer 200 210 env PYTHONUNBUFFERED=1 python3 "$root/bench/pytorch_peer.py" --rows "$peer_rows" \
    --json "$out/peer.json" --deadline "$peer_deadline"
fi

# ---- optional: Nsight Compute, the other precisions' nodes ----------------------------------
ncu_bin="$(command -v ncu 2> /dev/null)"
for c in /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu; do
  [ -n "$ncu_bin" ] || { [ -x "$c" ] && ncu_bin="$c"; }
done
if [ -z "$ncu_bin" ]; then
  say "ncu: not available"
  echo "ncu not available" > "$out/ncu-probe.txt"
  note_step ncu 40 0 "" "" "" "skipped: ncu not available" ""
else
  "$ncu_bin" --version > "$out/ncu-probe.txt" 2>&1  # recorded even when the profile is skipped
  if want ncu "$do_ncu" 40 optional; then
    # SpeedOfLight of each wgmma kernel configuration once (the training shape, the verification
    # shapes and the 1080p frame), clocks as found (--clock-control none: never lock them). If
    # the demangled names do not match, once more by the plain function names.
    ncu_args=(--clock-control none --section SpeedOfLight --filter-mode per-launch-config --launch-count 1)
    ncu_prog=("$bench_bin" -g "$gpu" --impl ours --precision "$prec" --no-hd-convs --reps 5)
    step ncu 40 60 "$ncu_bin" "${ncu_args[@]}" --kernel-name-base demangled \
      -k 'regex:wgmma.*(conv_kernel|wgrad_kernel)' "${ncu_prog[@]}"
    if ! grep -q ', Context ' "$out/ncu.txt" && want ncu-names "$do_ncu" 30 optional; then
      step ncu-names 30 45 "$ncu_bin" "${ncu_args[@]}" -k 'regex:conv_kernel|wgrad_kernel' "${ncu_prog[@]}" &&
        mv "$out/ncu-names.txt" "$out/ncu.txt"
    fi
  fi
fi
for p in fp32 tf32; do
  [ "$p" = "$prec" ] && continue
  [ "$gpu" = -1 ] && [ "$p" = tf32 ] && continue  # the CPU computes in fp32 only
  if want "nodes-$p" "$do_more_nodes" 15 optional; then
    step "nodes-$p" 15 45 "$bench_bin" -g "$gpu" --nodes --precision "$p" --json "$out/nodes-$p.json" "${bench_extra[@]}"
  fi
done

# ---- record ---------------------------------------------------------------------------------
[ -n "$smi_pid" ] && kill "$smi_pid" 2> /dev/null && wait "$smi_pid" 2> /dev/null
smi_pid=""
end_stamp="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
# shellcheck source=bench/record_dir.sh
. "$root/bench/record_dir.sh"
dest="$(record_dir "$record_root" "$stamp" "$commit")"
{
  printf 'stamp\t%s\nend_stamp\t%s\ngpu_line\t%s\ncommit\t%s\ncommit_src\t%s\n' \
    "$stamp" "$end_stamp" "$gpu_line" "$commit" "$commit_src"
  printf 'cudnn_root\t%s\nbuild\t%s\nbuild_note\t%s\ngpu\t%s\nprecision\t%s\nbudget\t%s\n' \
    "${cudnn_root:-none found}" "${build#"$root"/}" "$build_note" "$gpu" "$prec" "$budget"
  printf 'elapsed\t%s\noptions\t%s\ndry_run\t%s\nclock_fields\t%s\nrecord_dir\t%s\n' \
    "$(elapsed)" "${opts# }" "$dry_run" "$clock_fields" "${dest#"$record_root"/}"
  printf 'configure\t%s\nld_library_path\t%s\n' "${configure[*]//"$root"\//}" "${cudnn_lib:+$(dirname "$cudnn_lib")}"
  printf 'stage_images\t%s\nstage_reps\t%s\npeer_rows\t%s\n' \
    "${VDSR_MEASURE_STAGE_IMAGES:-16}" "${VDSR_MEASURE_STAGE_REPS:-2}" "$peer_rows"
} >> "$out/facts.tsv"
if python3 "$report" record "$out" "$root" > "$out/record.stdout" 2> "$out/record.stderr"; then
  if mkdir -p "$dest" && cp "$out/record.md" "$dest/record.md"; then
    say "record written to ${dest#"$record_root"/}/record.md (and $out/record.md)"
  else
    fail "could not write the record to $dest/record.md (it is in $out/record.md)"
  fi
else
  cat "$out/record.stderr" >&2
  fail "the record could not be written (see record.stderr)"
fi
cat "$out/record.stdout" 2> /dev/null

# The device tool brings back at most 8 files: the record and the main results loose, every other
# file in logs.tar.gz.
keep=(record.md nodes.json bench.json stages.json peer.json measure.json ncu.txt)
[ -s "$out/ncu.txt" ] || rm -f "$out/ncu.txt"
say "done in $(elapsed) s (status $status); bring back ${keep[*]} into ${dest#"$record_root"/}/"
pack_out "${keep[@]}"
if [ "$dry_run" = 1 ]; then
  # The dry run checks the shape of what a device call would bring back (on stderr only: $out is
  # packed already).
  problems=""
  for h in "## Steps" "## Per-node times" "## Batch scaling" "## Programmatic dependent launch" \
           "## The PyTorch peer" "## Folder upscaling" "## Nsight Compute" "## Files"; do
    grep -q "^$h" "$out/record.md" 2> /dev/null || problems+=" record.md has no '$h' section;"
  done
  for f in record.md nodes.json bench.json stages.json measure.json logs.tar.gz; do
    [ -s "$out/$f" ] || problems+=" $f does not come back;"
  done
  # The bench's own cap (150 s) leaves the later steps their time.
  grep -q '^| bench | 70 | 150 | [0-9.]* | ok |' "$out/record.md" 2> /dev/null || problems+=" the bench step's cap is not 150 s;"
  files="$(find "$out" -type f | wc -l)"
  [ "$files" -le 8 ] || problems+=" $files files in $out, more than 8;"
  [ -z "$problems" ] || status=1
  echo "gpu_measure dry run: $files files in $out ($(cd "$out" && echo *))${problems:+; FAILED:$problems}; status $status" >&2
fi
exit $status
