# shellcheck shell=bash
# dry_run.sh: sourced by the CPU dry runs of bench/gpu_check.sh, gpu_session.sh and gpu_recipe.sh
# (ctest cases): one set of settings that runs their GPU steps on this machine's CPU, on a tiny
# network and the bundled samples.
#
# dry_run_env ROOT BUILD_DIR NAME: sets dry (BUILD_DIR/NAME, emptied) and build_abs (BUILD_DIR made
# absolute); makes $dry/data, where T91, BSD200, Set5 and Set14 each hold the bundled samples (each a
# folder of its own holding links to them: vdsr_train refuses one folder given twice as --train);
# exports the scripts' settings for the CPU (-1), that build, that data and the tiny network.
# shellcheck disable=SC2034  # dry and build_abs are for the caller
dry_run_env() {
  local root="$1"
  build_abs="$(cd "$2" && pwd)" || return 2
  dry="$build_abs/$3"
  rm -rf "$dry"
  mkdir -p "$dry/data"
  local s f
  for s in T91 BSD200 Set5 Set14; do
    mkdir -p "$dry/data/$s"
    for f in "$root"/samples/*.png; do ln -s "$f" "$dry/data/$s/"; done
  done
  export VDSR_GPU_BUILD="$build_abs" VDSR_CHECK_GPU=-1 VDSR_GPU=-1 VDSR_CHECK_RECORD_ROOT="$dry/record-root"
  export VDSR_GATE_DATA="$dry/data" VDSR_GATE_RUNS="$dry/gate-runs"
  export VDSR_RECIPE_RUNS="$dry/recipe-runs" VDSR_RECIPE_TRAIN="$root/samples" VDSR_RECIPE_VAL="$root/samples"
  export VDSR_RECIPE_EVAL="$root/samples"
  export VDSR_GATE_EXTRA="--depth 3 --channels 4 --patch 24 --stride 24 --batch 4 --scales 2,3 --log-every 1"
  export VDSR_RECIPE_EXTRA="$VDSR_GATE_EXTRA"
}
