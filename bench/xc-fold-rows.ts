// The rows of an XC training file in some of the teacher's cross-fitting folds (`teacher fit`'s default 3 folds,
// seed 1), written as an XC file. Folds 1,2 (the default) are the rows an --auto trial trains on, fold 0 its held-out
// slice: to train a setting on what a trial sees and score it on the test split or on the slice
// (bench/results/probe-s39-random-start-held-out.md).
//   npx tsx bench/xc-fold-rows.ts ../shared/datasets/bibtex/bibtex_mulan_train.txt /tmp/bibtex-trial-train.txt [keep=1,2] [folds=3] [seed=1]
import { readFileSync, writeFileSync } from 'node:fs';
import { foldOf } from '../src/teacher/folds.js';

const [src, dst, keep = '1,2', folds = '3', seed = '1'] = process.argv.slice(2);
const kept = new Set(keep.split(',').map(Number));
const lines = readFileSync(src, 'utf8').split('\n').filter((l) => l.length);
const [n, d, L] = lines[0].split(/\s+/).map(Number);
const rows: string[] = [];
for (let r = 0; r < n; r++) if (kept.has(foldOf(r, Number(folds), Number(seed)))) rows.push(lines[1 + r]);
writeFileSync(dst, `${rows.length} ${d} ${L}\n${rows.join('\n')}\n`);
console.log(`${src}: ${n} rows, ${rows.length} in folds ${keep} → ${dst}`);
