#!/usr/bin/env bash
# The main job on embedded defaults: fit a teacher, train the student without and with
# distillation, compare, query. Uses the real Bibtex data when ../shared/datasets is there,
# otherwise a generated dataset. Everything goes under ${DATA_DIR:-./.distilxr}/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${DATA_DIR:-./.distilxr}/demo"
mkdir -p "$OUT"
BIBTEX=../shared/datasets/bibtex/bibtex_mulan
if [[ -f "${BIBTEX}_train.txt" ]]; then
  TRAIN="${BIBTEX}_train.txt"; TEST="${BIBTEX}_test.txt"; NAMES=(--label-names ../shared/datasets/bibtex/bibtex_label_names.txt)
  echo "== data: Bibtex (real, MULAN split)"
else
  node bin/distilxr.js data synth --out "$OUT/synth" --points 8000 --features 3000 --labels 500 >/dev/null
  TRAIN="$OUT/synth/train.txt"; TEST="$OUT/synth/test.txt"; NAMES=()
  echo "== data: generated (8000 points, 500 labels)"
fi
node bin/distilxr.js data stats "$TRAIN"
echo "== teacher fit"
node bin/distilxr.js teacher fit --train "$TRAIN" --test "$TEST" --out "$OUT/teacher.onnx"
echo "== student, no teacher (alpha = 0)"
node bin/distilxr.js train --train "$TRAIN" --test "$TEST" --alpha 0 --out "$OUT/student-plain" "${NAMES[@]}"
echo "== student distilled from the teacher (defaults)"
node bin/distilxr.js train --train "$TRAIN" --test "$TEST" --teacher "$OUT/teacher.onnx" --out "$OUT/student" "${NAMES[@]}"
echo "== query the distilled model with the first test point's features"
FEATURES=$(sed -n 2p "$TEST" | cut -d' ' -f2-)
node bin/distilxr.js query --model "$OUT/student" --features "$FEATURES" -k 5
