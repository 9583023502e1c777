// The rows of an XC training file in some of the teacher's cross-fitting folds (`teacher fit`'s default 3 folds,
// seed 1), written as an XC file. Folds 1,2 (the default) are the rows an --auto trial trains on, fold 0 its held-out
// slice: to train a setting on what a trial sees and score it on the test split or on the slice
// (bench/results/probe-s39-random-start-held-out.md).
//   npx tsx bench/xc-fold-rows.ts ../shared/datasets/bibtex/bibtex_mulan_train.txt /tmp/bibtex-trial-train.txt [keep=1,2] [folds=3] [seed=1]
import { readXcFile, writeXcFile } from '../src/core/data/xc-format.js';
import { subset } from '../src/pipeline/auto-tune.js';
import { foldOf } from '../src/teacher/folds.js';

const [src, dst, keep = '1,2', folds = '3', seed = '1'] = process.argv.slice(2);
const kept = new Set(keep.split(',').map(Number));
const train = await readXcFile(src);
const rows = [...Array(train.features.rows).keys()].filter((r) => kept.has(foldOf(r, Number(folds), Number(seed))));
await writeXcFile(dst, subset(train, rows, `folds ${keep}`));
console.log(`${src}: ${train.features.rows} rows, ${rows.length} in folds ${keep} → ${dst}`);
