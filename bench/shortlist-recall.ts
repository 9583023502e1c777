/**
 * How much of the truth the teacher's centroid shortlist holds, per shared dataset: the recall of
 * the positives among each row's K nearest label centroids (cosine), held out (fold 0 of 3 of the
 * training rows against the centroids of the other two; what `teacher fit --shortlist-recall`
 * decides on) and on the test split (centroids of every training row). A benchmark: it prints a
 * markdown table and writes bench/results/shortlist-recall.json; nothing is asserted.
 *
 *   npx tsx bench/shortlist-recall.ts [--datasets bibtex,delicious,corel5k,debtags,apt-files] [--k 20,100,400]
 */
import { join } from 'node:path';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { DEFAULT_TEACHER_FIT } from '../src/pipeline/teacher-fit-config.js';
import { labelCentroids } from '../src/teacher/centroid-shortlist.js';
import { heldOutShortlistRecall, shortlistRecall } from '../src/teacher/linear-teacher.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, parseArgs, writeJson } from './lib.js';

const a = parseArgs(process.argv.slice(2));
const datasets = String(a.get('datasets') ?? 'bibtex,delicious,corel5k,debtags,apt-files').split(',');
const ks = String(a.get('k') ?? '20,100,400').split(',').map(Number);
const { seed, centroidPostings } = DEFAULT_TEACHER_FIT;
const rows: { dataset: string; labels: number; k: number; heldOut: number; test: number }[] = [];
for (const ds of datasets) {
  const split = datasetSplit(ds);
  const { train, test } = await loadTrainTest(split.train, split.test, { cacheDir: false });
  const L = train.labels.cols;
  const all = Int32Array.from({ length: train.features.rows }, (_, i) => i);
  const centroids = labelCentroids(train.features, train.labels, L, all, centroidPostings);
  for (const k of ks) {
    const heldOut = heldOutShortlistRecall(train.features, train.labels, L, k, seed, centroidPostings);
    rows.push({ dataset: ds, labels: L, k, heldOut, test: shortlistRecall(centroids, test!.features, test!.labels, k) });
    process.stderr.write(`[${ds}] k ${k}: held-out ${heldOut.toFixed(4)}, test ${rows.at(-1)!.test.toFixed(4)}\n`);
  }
}
await writeJson(join(RESULTS_DIR, 'shortlist-recall.json'), { machine: machineInfo(), seed, centroidPostings, rows });
process.stdout.write(
  `\n## Centroid shortlist recall (share of positives among a row's k nearest label centroids)\n\n` +
    mdTable(['dataset', 'labels', 'k', 'held-out (fold 0 of 3)', 'test'], rows.map((r) => [r.dataset, String(r.labels), String(r.k), r.heldOut.toFixed(4), r.test.toFixed(4)])) +
    '\n\nTest labels never seen in training count as misses (apt-files: 2,994 of its test label occurrences). Raw: bench/results/shortlist-recall.json\n',
);
