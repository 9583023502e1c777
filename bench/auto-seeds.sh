#!/bin/bash
# The default job (--auto) on one thread, once per seed, from a checkout's compiled dist/: its exact
# test P@1 per seed, one line per dataset (teachers from bench/results/tmp/<ds>/teacher.onnx, fitted by
# the quality or auto-jobs bench). For a change to the search (a worktree) against the quality bench's
# --seeds rows of this checkout.
#   bash bench/auto-seeds.sh TREE TAG SEEDS DATASETS [ARGS...]   e.g. bash bench/auto-seeds.sh /work/wt e10 1,2,3,4,5 bibtex,delicious
# ARGS: more `train` flags (e.g. --auto-extrapolate).
tree=$1; tag=$2; seeds=$3; dss=$4; shift 4
cd "$(dirname "$0")/.."
for ds in ${dss//,/ }; do
  d=../shared/datasets/$ds
  if [ -f $d/train.jsonl ]; then tr=$d/train.jsonl; te=$d/test.jsonl; else tr=$d/${ds}_mulan_train.txt; te=$d/${ds}_mulan_test.txt; fi
  line="$ds $tag"
  for s in ${seeds//,/ }; do
    out=bench/results/tmp/auto-seeds/$tag-$ds-$s
    mkdir -p "$(dirname $out)"
    r=$(node "$tree/dist/cli/distilxr.js" train --train $tr --test $te --teacher bench/results/tmp/$ds/teacher.onnx --seed $s --threads 1 --out $out --json "$@" 2>$out.log | tail -1)
    line="$line $(echo "$r" | python3 -c 'import json,sys; print(round(100 * json.load(sys.stdin)["p@1"], 2), end="")')"
  done
  echo "$line"
done
