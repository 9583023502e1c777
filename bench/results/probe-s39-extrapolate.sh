#!/bin/bash
# Would a search that measured its candidates at two sizes have ranked them as the test split does? Each setting
# trained on fold 1 (a third of the rows) and on folds 1,2 (a trial's two thirds) with the fold-0 teacher, scored on
# fold 0 (the trial's held-out slice), then extrapolated to every row: P3 = P2 + (P2 − P1)·log(3/2)/log(2).
# The blends are those the seed-1 trials chose. Needs `npm run build` and the benches' teachers. From the repo root:
#   bash bench/results/probe-s39-extrapolate.sh > bench/results/probe-s39-extrapolate.txt
set -e
TS_BIBTEX="ts-a05T1|--dim 256 --lr 0.02 --epochs 5 --alpha 0.5 --temperature 1 --neighbour-weight 0.5 --vote-temperature 0.05"
RS_BIBTEX="rs-a1T1|--dim 128 --lr 0.1 --epochs 20 --no-teacher-init --alpha 1 --temperature 1 --neighbour-weight 0.75 --vote-temperature 0.1"
TS_DELICIOUS="ts-a05T2|--dim 256 --lr 0.02 --epochs 5 --alpha 0.5 --temperature 2 --neighbour-weight 0.25 --vote-temperature 0.1"
RS_DELICIOUS="rs-a1T1|--dim 128 --lr 0.1 --epochs 20 --no-teacher-init --alpha 1 --temperature 1 --neighbour-weight 0.5 --vote-temperature 0.1"
TS_COREL5K="ts-e0|--dim 256 --lr 0.02 --epochs 0 --neighbour-weight 0.5 --vote-temperature 0.1"
RS_COREL5K="rs-a1T1|--dim 128 --lr 0.1 --epochs 20 --no-teacher-init --alpha 1 --temperature 1 --neighbour-weight 0.75 --vote-temperature 0.1"
W=/tmp/probe-s39-extrapolate
mkdir -p $W
echo "dataset setting seed P@1(1/3 rows) P@1(2/3 rows) extrapolated(3/3)  [held-out: fold 0]"
for ds in bibtex delicious corel5k; do
  src=../shared/datasets/$ds/${ds}_mulan_train.txt
  npx tsx bench/xc-fold-rows.ts $src $W/$ds-f1.txt 1 >/dev/null
  npx tsx bench/xc-fold-rows.ts $src $W/$ds-f12.txt 1,2 >/dev/null
  npx tsx bench/xc-fold-rows.ts $src $W/$ds-f0.txt 0 >/dev/null
  mkdir -p $W/$ds-teacher && cp bench/results/tmp/$ds/teacher.fold0.onnx $W/$ds-teacher/teacher.onnx
  up=$(echo $ds | tr a-z A-Z)
  for v in TS_$up RS_$up; do
    spec=${!v}; name=${spec%%|*}; flags=${spec#*|}
    for s in 1 2 3; do
      p=()
      for part in f1 f12; do
        p+=($(node dist/cli/distilxr.js train --train $W/$ds-$part.txt --test $W/$ds-f0.txt --teacher $W/$ds-teacher/teacher.onnx \
          --no-cross-fit --seed $s --threads 1 --out $W/m --json $flags 2>$W/log | tail -1 | python3 -c 'import json,sys; print(100 * json.load(sys.stdin)["p@1"])'))
      done
      python3 -c "import math; p1,p2=${p[0]},${p[1]}; print('$ds $name $s', round(p1,2), round(p2,2), round(p2+(p2-p1)*math.log(1.5)/math.log(2),2))"
    done
  done
done
