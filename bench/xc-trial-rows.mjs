// The rows of an XC training file that an --auto trial trains on (outside fold 0 of the teacher's cross-fitting
// folds, seed 1 of `teacher fit`'s default 3 folds), written as an XC file: to train a setting on what a trial
// sees and score it on the test split (bench/results/probe-s39-random-start-held-out.md). Needs `npm run build`.
//   node bench/xc-trial-rows.mjs ../shared/datasets/bibtex/bibtex_mulan_train.txt /tmp/bibtex-trial-train.txt [folds] [seed]
import { readFileSync, writeFileSync } from 'node:fs';
import { foldOf } from '../dist/teacher/folds.js';

const [src, dst, folds = '3', seed = '1'] = process.argv.slice(2);
const lines = readFileSync(src, 'utf8').split('\n').filter((l) => l.length);
const [n, d, L] = lines[0].split(/\s+/).map(Number);
const kept = [];
for (let r = 0; r < n; r++) if (foldOf(r, Number(folds), Number(seed)) !== 0) kept.push(lines[1 + r]);
writeFileSync(dst, `${kept.length} ${d} ${L}\n${kept.join('\n')}\n`);
console.log(`${src}: ${n} rows, ${kept.length} outside fold 0 → ${dst}`);
