#!/bin/bash
# Session 41's probes of the teacher start's settings and of Delicious' teacher (BENCHMARKS.md section 0, "Faster
# training steps…; three probes"), one thread, the benches' teachers (bench/results/tmp/<ds>/teacher.onnx, fitted by any
# bench: bench/teachers.ts), after `npm run build`. Prints: dataset, name, seed, P@1 exact, P@1 / P@5 / PSP@5 via HNSW,
# training s. Output of the run: probe-s41-settings.txt.
#   bash bench/results/probe-s41-settings.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
run() { # DATASET NAME "FLAGS" SEEDS...
  local ds=$1 name=$2 flags=$3; shift 3
  local D=../shared/datasets/$ds out=/tmp/probe-s41
  mkdir -p $out
  for s in "$@"; do
    node dist/cli/distilxr.js train --train $D/${ds}_mulan_train.txt --test $D/${ds}_mulan_test.txt --teacher bench/results/tmp/$ds/teacher.onnx \
      --out $out/$ds-$name-$s --threads 1 --seed $s $flags --json > $out/$ds-$name-$s.json 2> $out/$ds-$name-$s.log
    node -e 'const j=require(process.argv[1]); console.log(process.argv[2], process.argv[3], process.argv[4], (100*j["p@1"]).toFixed(2), (100*j.hnsw["p@1"]).toFixed(2), (100*j.hnsw["p@5"]).toFixed(2), (100*j.hnsw["psp@5"]).toFixed(2), j.stageSeconds.training.toFixed(1))' $out/$ds-$name-$s.json $ds $name $s
  done
}
TS="--dim 256 --lr 0.02 --alpha 0.5"            # the teacher start (AUTO_TEACHER_START.base) at α 0.5
B="--neighbour-weight 0.25 --vote-temperature 0.1"  # Delicious' blend as its search chooses it
run delicious base   "$TS --epochs 5 --temperature 2 $B" 1 2 3
run delicious e8     "$TS --epochs 8 --temperature 2 $B" 1 2 3
run delicious lr04   "$TS --epochs 5 --temperature 2 --lr 0.04 $B" 1 2 3
run delicious T4     "$TS --epochs 5 --temperature 4 $B" 1 2 3
run delicious a75T2  "$TS --epochs 5 --temperature 2 --alpha 0.75 $B" 1 2 3
run delicious rsa1   "--dim 128 --lr 0.1 --epochs 20 --no-teacher-init --alpha 1 --temperature 1 $B" 1 2 3
run delicious alpha0 "--alpha 0" 1 2 3
run delicious e10    "$TS --epochs 10 --temperature 2 $B" 1 2 3
run delicious e8T1   "$TS --epochs 8 --temperature 1 $B" 1 2 3
for e in 5 8; do run corel5k e$e "$TS --epochs $e --temperature 1 --neighbour-weight 0.75 --vote-temperature 0.1" 1 2 3; done
for e in 5 8; do run bibtex e$e "$TS --epochs $e --temperature 1 --neighbour-weight 0.5 --vote-temperature 0.05" 1 2 3; done
# Delicious' teacher with other knobs (test P@1 / P@5 in each JSON)
D=../shared/datasets/delicious
for v in "C025|--C 0.25" "C1|--C 1" "cw0|--centroid-weight 0" "cw1|--centroid-weight 1"; do
  n=${v%%|*}; node dist/cli/distilxr.js teacher fit --train $D/delicious_mulan_train.txt --test $D/delicious_mulan_test.txt --out /tmp/probe-s41/t-$n/teacher.onnx ${v#*|} --json > /tmp/probe-s41/t-$n.json
  node -e 'const j=require(process.argv[1]); console.log("delicious teacher", process.argv[2], (100*j["p@1"]).toFixed(2), (100*j["p@5"]).toFixed(2))' /tmp/probe-s41/t-$n.json $n
done
