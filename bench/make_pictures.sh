#!/usr/bin/env bash
# bench/make_pictures.sh [BUILD_DIR]: regenerates the before/after pictures of README.md. For each
# image below, bench/make_pictures (built here if needed) writes four crops into docs/images/: the
# LR enlarged by nearest neighbour, bicubic, VDSR with the bundled model (model/vdsr.safetensors) on
# the CPU, and the ground truth, each labelled with its PSNR (Y channel, on the crop, the evaluation
# protocol of docs/evaluation.md). It writes the table of them to docs/images/pictures.md and into
# README.md between the "pictures" markers. Re-run it whenever the bundled model changes, and commit
# docs/images/ and README.md with the model.
#
# The images come from the evaluation sets Set5, Set14 and Urban100 (not in this repository;
# docs/data.md says where to get them): $VDSR_DATA_DIR, by default ../shared/data beside the checkout.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
data=${VDSR_DATA_DIR:-$root/../shared/data}
out=$root/docs/images
zoom=2  # every crop shown twice its size, by nearest neighbour

# name | file under the data folder | scale | crop X,Y,W,H in HR pixels | caption
pictures=(
  "butterfly|Set5/butterfly.png|3|60,60,128,128|Set5 butterfly, x3"
  "ppt3|Set14/ppt3.png|3|232,44,144,128|Set14 ppt3, x3"
  "img_004|Urban100/img_004.png|4|872,16,128,128|Urban100 img_004, x4"
)

for p in "${pictures[@]}"; do
  IFS='|' read -r _ file _ _ _ <<<"$p"
  if [[ ! -f $data/$file ]]; then
    echo "make_pictures.sh: $data/$file is missing: the pictures need the evaluation sets (docs/data.md);" \
         "set VDSR_DATA_DIR to the folder holding Set5, Set14 and Urban100" >&2
    exit 1
  fi
done

if [[ ! -f $build/CMakeCache.txt ]]; then
  cmake -S "$root" -B "$build" -DVDSR_CUDA=OFF
fi
cmake --build "$build" --target make_pictures -j "$(nproc)"
bin=$build/bin/make_pictures

mkdir -p "$out"
rm -f "$out"/*.png
header='| | nearest-neighbour LR | bicubic | VDSR (bundled model) | ground truth |
|---|---|---|---|---|'
rows_doc=""     # image paths relative to docs/images/pictures.md
rows_readme=""  # ... and to README.md
for p in "${pictures[@]}"; do
  IFS='|' read -r name file scale crop caption <<<"$p"
  result=$("$bin" -q -g -1 -i "$data/$file" -s "$scale" --crop "$crop" --zoom "$zoom" -o "$out/$name")
  echo "$caption, crop $crop:"
  echo "$result"
  row="| $caption |"
  for shot in nearest:nearest-neighbour\ LR bicubic:bicubic vdsr:VDSR hr:ground\ truth; do
    what=${shot#*:} shot=${shot%%:*}
    label=$(awk -v s="$shot" '$1 == s { print ($2 == "-" ? "reference" : sprintf("%.2f dB", $2)) }' <<<"$result")
    [[ -n $label ]] || { echo "make_pictures.sh: no $shot row in the output above" >&2; exit 1; }
    row+=" ![$caption, $what, $label](@$name-$shot.png)<br>$label |"
  done
  rows_doc+=$'\n'"${row//@/}"
  rows_readme+=$'\n'"${row//@/docs/images/}"
done
note="Crops shown at ${zoom}x (nearest neighbour); PSNR on the crop's Y channel, scored as the evaluation protocol scores whole images (docs/evaluation.md)."

printf '%s\n\n%s%s\n\n%s\n' "<!-- Made by bench/make_pictures.sh: re-run it when the model changes; do not edit by hand. -->" \
  "$header" "$rows_doc" "$note" >"$out/pictures.md"

# README.md: the same table between the markers, image paths from the top of the tree.
begin='<!-- pictures: begin (bench/make_pictures.sh writes this block) -->'
end='<!-- pictures: end -->'
grep -qxF "$begin" "$root/README.md" && grep -qxF "$end" "$root/README.md" ||
  { echo "make_pictures.sh: README.md lacks the lines '$begin' and '$end'" >&2; exit 1; }
BLOCK="$header$rows_readme"$'\n\n'"$note" awk -v begin="$begin" -v end="$end" '
  $0 == begin { print; print ENVIRON["BLOCK"]; skip = 1; next }
  $0 == end { skip = 0 }
  !skip { print }' "$root/README.md" >"$root/README.md.tmp"
mv "$root/README.md.tmp" "$root/README.md"
echo "make_pictures.sh: wrote $out and the pictures block of README.md ($(du -ch "$out"/*.png | tail -1 | cut -f1) of PNG)"
