import { loadTrainTest } from './src/core/data/load-dataset.js';
import { loadJobTeacher } from './src/pipeline/job-teacher.js';
import { readTexts } from './src/pipeline/job-teacher.js';
const path = '/work/shared/datasets/debtags/train.jsonl';
let t = performance.now();
const d = await loadTrainTest(path, undefined, { cacheDir: false });
console.log('load data', ((performance.now() - t) / 1000).toFixed(2));
t = performance.now();
const texts = await readTexts(path);
console.log('read texts', ((performance.now() - t) / 1000).toFixed(2));
t = performance.now();
const teacher = await loadJobTeacher('/tmp/tt/debtags-small-e0', { threads: 1, labelNames: d.labelMap!.kind === 'string' ? d.labelMap!.names : undefined, splits: [{ features: d.train.features, path }] });
console.log('load teacher', ((performance.now() - t) / 1000).toFixed(2));
const n = d.train.features.rows, L = d.train.labels.cols;
const score = async (rows: Int32Array) => {
  const m = rows.length;
  const c = { rows: m, cols: L, indptr: Int32Array.from({ length: m + 1 }, (_, i) => i), indices: new Int32Array(m), values: null };
  return teacher.scoreCandidates(d.train.features, rows, c);
};
t = performance.now(); await score(Int32Array.from({ length: 320 }, (_, i) => i)); console.log('first run 320', ((performance.now() - t) / 1000).toFixed(2));
const all = Int32Array.from({ length: n }, (_, i) => i);
for (let rep = 0; rep < 2; rep++) {
  t = performance.now(); await score(all); const whole = (performance.now() - t) / 1000;
  const size = Math.ceil(n / 16);
  t = performance.now(); for (let s = 0; s < n; s += size) await score(all.subarray(s, Math.min(n, s + size))); const chunks = (performance.now() - t) / 1000;
  const sorted = Int32Array.from(all).sort((a, b) => texts[a].length - texts[b].length || a - b);
  t = performance.now(); for (let s = 0; s < n; s += size) await score(sorted.subarray(s, Math.min(n, s + size))); const sortedChunks = (performance.now() - t) / 1000;
  console.log(`whole ${whole.toFixed(2)} s, 16 chunks ${chunks.toFixed(2)} s, 16 chunks by char length ${sortedChunks.toFixed(2)} s`);
}
await teacher.close();
