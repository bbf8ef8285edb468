#!/usr/bin/env bash
# build_and_replay.sh SRC BUILD: builds the libFuzzer targets (tests/fuzz/, clang with ASan and
# UBSan) in BUILD and runs each once over its seed corpus (tests/fuzz/corpus/), so CI keeps them
# building and the seeds loading cleanly. Fuzzing itself (minutes per target) is docs/fuzzing.md's.
# Exit 77 (ctest: skipped) when clang++ or libFuzzer is missing, saying what to install.
set -uo pipefail
src="$1" build="$2"
mkdir -p "$build"
command -v clang++ > /dev/null || { echo "no clang++: install clang and libclang-rt-14-dev (./setup.sh does)"; exit 77; }
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$build/probe.cpp"
clang++ -fsanitize=fuzzer "$build/probe.cpp" -o "$build/probe" 2> /dev/null ||
  { echo "clang++ cannot link libFuzzer: install libclang-rt-14-dev (./setup.sh does)"; exit 77; }
set -e
cmake -S "$src" -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DVDSR_FUZZ=ON -DVDSR_CUDA=OFF -DBUILD_TESTING=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
decoders="fuzz_decode_png fuzz_decode_jpeg fuzz_decode_webp fuzz_decode_tiff fuzz_decode_bmp fuzz_decode_tga"
# shellcheck disable=SC2086  # the list splits into targets
cmake --build "$build" -j "${JOBS:-2}" --target fuzz_image_load fuzz_safetensors fuzz_mat $decoders
for t in image_load:image safetensors:safetensors mat:mat decode_png:image decode_jpeg:image decode_webp:image \
         decode_tiff:image decode_bmp:image decode_tga:image; do
  echo "== fuzz_${t%%:*} over tests/fuzz/corpus/${t##*:}"
  "$build/bin/fuzz_${t%%:*}" -runs=0 "$src/tests/fuzz/corpus/${t##*:}" 2>&1 | tail -2
done
