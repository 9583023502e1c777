/**
 * Probe of the nearest-neighbour component on a published model: P@1/P@5/PSP@5 on the test split
 * for a grid of (K, β, κ), the shortlist from the model's HNSW index, the neighbours from an HNSW
 * index over the training points' embeddings (exact search below 10^9 pairs).
 *   tsx bench/neighbour-blend-probe.ts --model DIR --train TRAIN --test TEST [--hnsw] [--quick] [--ks 50] [--kappas 0.01,0.02] [--betas 0,0.75,1]
 * --quick: K = 50, κ ∈ {0.05, 0.1}, β ∈ {0, .25, .5, .75, 1} only. --ks, --kappas, --betas: grids of your own (comma-separated).
 */
import { parseArgs } from 'node:util';
import { exactTopK } from '../src/ann/exact-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { blendWithNeighbours, encodePoints, type TopK } from '../src/ann/neighbour-blend.js';
import { labelCounts, labelPositives } from '../src/core/data/csr.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { evaluateRankings, propensitiesFromCounts } from '../src/core/model/metrics.js';
import { EXACT_EVAL_MAX_PAIRS, evenlySpacedSubset } from '../src/pipeline/evaluate.js';
import { loadModel } from '../src/pipeline/model-dir.js';
import { firstColumns } from '../src/pipeline/retrieve.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, train: { type: 'string' }, test: { type: 'string' }, hnsw: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false }, ks: { type: 'string' }, kappas: { type: 'string' }, betas: { type: 'string' }, 'via-labels': { type: 'string' } } });
const list = (v: string | undefined): number[] | null => (v ? v.split(',').map(Number) : null);
const model = await loadModel(values.model!);
const data = await loadTrainTest(values.train!, values.test!, { cacheDir: false });
const { train } = data;
// the evaluation's subset (pipeline/evaluate.ts): every test point unless points × labels > 10^9
const test = evenlySpacedSubset(data.test!, Math.max(1, Math.floor(EXACT_EVAL_MAX_PAIRS / model.student.shape.numLabels)));
const student = model.student;
const d = student.shape.dim;
const n = test.features.rows;
const t0 = performance.now();
const points = encodePoints(student, train.features);
const queries = student.encodeAll(test.features);
const KMAX = 50;
const SHORT = 100;
const exactPoints = !values.hnsw && n * train.features.rows <= 1e9;
let neighbours: TopK;
if (exactPoints) {
  const r = exactTopK(points, train.features.rows, d, queries, n, KMAX);
  neighbours = { ...r, k: KMAX };
} else {
  const tb = performance.now();
  const index = LabelIndex.build(points, train.features.rows, d, { M: 16, efConstruction: 100, seed: 1 });
  console.log(`point index: ${train.features.rows} points built in ${((performance.now() - tb) / 1000).toFixed(1)} s`);
  const r = index.searchBatch(queries, n, KMAX, { ef: 200 });
  neighbours = { ...r, k: KMAX };
}
const sl = model.index.searchBatch(queries, n, SHORT, { ef: Math.max(SHORT, model.config.hnsw.efSearch) });
const shortlist: TopK = { ...sl, k: SHORT };
console.log(`neighbours (${exactPoints ? 'exact' : 'HNSW'}) and shortlist in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
// --via-labels L: instead of a points' index, the K nearest among the training points of the query's top L labels
// (the label index's shortlist at ef ≥ L), scored exactly; its recall@K against the neighbours above is printed
const viaLabels = values['via-labels'] ? Number(values['via-labels']) : 0;
if (viaLabels > 0) {
  const tv = performance.now();
  const L = viaLabels;
  const byLabel = model.index.searchBatch(queries, n, L, { ef: Math.max(L, model.config.hnsw.efSearch) });
  const { indptr: start, indices: pts } = labelPositives(train.labels); // label → its training points
  const out: TopK = { labels: new Int32Array(n * KMAX).fill(-1), scores: new Float32Array(n * KMAX).fill(-Infinity), k: KMAX };
  const seen = new Int32Array(train.labels.rows).fill(-1);
  let hits = 0, gathered = 0;
  for (let q = 0; q < n; q++) {
    const cand: { id: number; s: number }[] = [];
    for (let j = 0; j < L; j++) {
      const l = byLabel.labels[q * L + j];
      if (l < 0) break;
      for (let p = start[l]; p < start[l + 1]; p++) {
        const r = pts[p];
        if (seen[r] === q) continue;
        seen[r] = q;
        let s = 0;
        for (let t = 0; t < d; t++) s += queries[q * d + t] * points[r * d + t];
        cand.push({ id: r, s });
      }
    }
    gathered += cand.length;
    cand.sort((a, b) => b.s - a.s);
    const truth = new Set(Array.from(neighbours.labels.subarray(q * KMAX, q * KMAX + KMAX)));
    for (let j = 0; j < Math.min(KMAX, cand.length); j++) {
      out.labels[q * KMAX + j] = cand[j].id;
      out.scores[q * KMAX + j] = cand[j].s;
      if (truth.has(cand[j].id)) hits++;
    }
  }
  console.log(`via the top ${L} labels: ${(gathered / n).toFixed(0)} points scored a query, recall@${KMAX} against the points' search ${(hits / (n * KMAX)).toFixed(4)}, ${((performance.now() - tv) / 1000).toFixed(1)} s`);
  neighbours = out;
}
const counts = Float32Array.from(labelCounts(train.labels));
const prop = propensitiesFromCounts(counts, train.features.rows, test.labels.cols);
const rows: string[] = ['| K | β | κ | P@1 | P@5 | PSP@5 |', '| --- | --- | --- | --- | --- | --- |'];
for (const K of list(values.ks) ?? (values.quick ? [50] : [10, 25, 50])) {
  const nb = firstColumns(neighbours, n, K);
  const kappas = list(values.kappas) ?? (values.quick ? [0.05, 0.1] : [0.02, 0.05, 0.1, 1]);
  for (const kappa of kappas) {
    for (const beta of list(values.betas) ?? (values.quick ? [0, 0.25, 0.5, 0.75, 1] : [0, 0.2, 0.4, 0.5, 0.6, 0.8, 1])) {
      if (beta === 0 && kappa !== kappas[0]) continue;
      const out = blendWithNeighbours(student, queries, n, shortlist, nb, train.labels, { neighbours: K, weight: beta, voteTemperature: kappa }, 100);
      const m = evaluateRankings(out.labels, 100, test.labels, prop);
      rows.push(`| ${K} | ${beta} | ${kappa} | ${(100 * m['p@1']).toFixed(2)} | ${(100 * m['p@5']).toFixed(2)} | ${(100 * m['psp@5']).toFixed(2)} |`);
      console.log(rows[rows.length - 1]);
    }
  }
}
console.log(rows.join('\n'));
