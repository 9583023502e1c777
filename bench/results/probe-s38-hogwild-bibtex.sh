D=/work/shared/datasets/bibtex
steal() { awk '/^cpu /{print $9}' /proc/stat; }
end=$((SECONDS+240))
while [ $SECONDS -lt $end ]; do
 for t in 2 1; do
  rm -rf /tmp/bm; s0=$(steal)
  r=$(node dist/cli/distilxr.js train --train $D/bibtex_mulan_train.txt --test $D/bibtex_mulan_test.txt --teacher bench/results/tmp/bibtex/teacher.onnx --seed 1 --no-auto --dim 256 --lr 0.02 --epochs 5 --alpha 0.5 --temperature 1 --neighbour-weight 0.5 --vote-temperature 0.05 --threads $t --out /tmp/bm --json 2>&1 >/dev/null | grep "epoch 3" | sed 's/.*), //')
  s1=$(steal); echo "$(date +%T) t$t $r steal $((s1-s0))"
 done
done
