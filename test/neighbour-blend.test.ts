import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exactTopK } from '../src/ann/exact-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { blendGrid, blendWithNeighbours, encodePoints, type NeighbourBlendSettings } from '../src/ann/neighbour-blend.js';
import { PointIndex } from '../src/ann/point-index.js';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';
import { Student } from '../src/core/model/student.js';
import { BLEND_WEIGHTS, VOTE_TEMPERATURES, topOneHits, tuneBlend, tuneBlendExact } from '../src/pipeline/blend-tuning.js';
import { evaluateRankings } from '../src/core/model/metrics.js';
import { EVAL_K, padTo } from '../src/pipeline/evaluate.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { buildPublishedIndexes } from '../src/pipeline/neighbours.js';
import { silentProgress } from '../src/pipeline/progress.js';
import { POINT_EF, retrieve } from '../src/pipeline/retrieve.js';

const D = 40;
const L = 30;
const d = 9; // 8 learnt coordinates + the label-bias slot

function randomSparse(rows: number, rng: Rng): Csr {
  const b = new CsrBuilder(true);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < D; c++) if (rng.next() < 0.2) b.push(c, rng.next() + 0.1);
    b.endRow();
  }
  return b.build(D);
}

function randomLabels(rows: number, rng: Rng): Csr {
  const b = new CsrBuilder(false);
  for (let r = 0; r < rows; r++) {
    const first = Math.floor(rng.next() * L);
    b.push(first);
    const second = Math.floor(rng.next() * L);
    if (second > first) b.push(second);
    b.endRow();
  }
  return b.build(L);
}

/** The blend written plainly over every label: candidates = shortlist ∪ the neighbours' labels. */
function referenceBlend(student: Student, q: Float32Array, shortlist: number[], near: { point: number; cos: number }[], pointLabels: Csr, s: NeighbourBlendSettings): Map<number, number> {
  const score = (y: number): number => {
    let t = 0;
    for (let j = 0; j < d; j++) t += q[j] * student.V[y * d + j];
    return t / student.shape.tau;
  };
  const candidates = new Set(shortlist);
  const vote = new Array<number>(L).fill(0);
  let total = 0;
  for (const { point, cos } of near) {
    const w = Math.exp(cos / s.voteTemperature);
    total += w;
    for (let a = pointLabels.indptr[point]; a < pointLabels.indptr[point + 1]; a++) {
      vote[pointLabels.indices[a]] += w;
      candidates.add(pointLabels.indices[a]);
    }
  }
  let z = 0;
  for (const y of candidates) z += Math.exp(score(y));
  const out = new Map<number, number>();
  for (const y of candidates) out.set(y, (1 - s.weight) * (Math.exp(score(y)) / z) + (s.weight * vote[y]) / total);
  return out;
}

describe('the neighbour component', () => {
  const rng = new Rng(7);
  const student = Student.init({ inputDim: D, dim: d, numLabels: L, tau: 0.5, labelBias: true }, 3);
  for (let i = d - 1; i < student.V.length; i += d) student.V[i] = rng.normal() * 0.3; // label biases
  const train = randomSparse(60, rng);
  const trainLabels = randomLabels(60, rng);
  const test = randomSparse(12, rng);
  const points = encodePoints(student, train);
  const queries = student.encodeAll(test);

  it('encodes training points as unit vectors with the bias slot at 0, so their inner products are cosines', () => {
    for (let r = 0; r < train.rows; r++) {
      expect(points[r * d + d - 1]).toBe(0);
      let norm = 0;
      for (let j = 0; j < d; j++) norm += points[r * d + j] ** 2;
      if (train.indptr[r + 1] > train.indptr[r]) expect(norm).toBeCloseTo(1, 5);
    }
  });

  it('matches the blend written plainly, label by label and in order', () => {
    const settings = { neighbours: 7, weight: 0.4, voteTemperature: 0.1 };
    const S = 5;
    const short = exactTopK(student.V, L, d, queries, test.rows, S);
    const near = exactTopK(points, train.rows, d, queries, test.rows, settings.neighbours);
    const k = 12;
    const got = blendWithNeighbours(student, queries, test.rows, { ...short, k: S }, { labels: near.labels, scores: near.scores, k: 7 }, trainLabels, settings, k);
    // its per-label scratch is kept between calls: a second call, after one with other labels, gives the same
    blendWithNeighbours(student, queries, 3, { ...short, k: S }, { labels: near.labels, scores: near.scores, k: 7 }, trainLabels, { ...settings, weight: 0.9 }, 4);
    const again = blendWithNeighbours(student, queries, test.rows, { ...short, k: S }, { labels: near.labels, scores: near.scores, k: 7 }, trainLabels, settings, k);
    expect(again.labels).toEqual(got.labels);
    expect(again.scores).toEqual(got.scores);
    for (let i = 0; i < test.rows; i++) {
      const q = queries.subarray(i * d, (i + 1) * d);
      const nb = Array.from({ length: 7 }, (_, j) => ({ point: near.labels[i * 7 + j], cos: near.scores[i * 7 + j] }));
      const ref = referenceBlend(student, q, Array.from(short.labels.subarray(i * S, (i + 1) * S)), nb, trainLabels, settings);
      const expected = [...ref.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]).slice(0, k);
      for (let j = 0; j < k; j++) {
        if (j < expected.length) {
          expect(got.labels[i * k + j]).toBe(expected[j][0]);
          expect(got.scores[i * k + j]).toBeCloseTo(expected[j][1], 5);
        } else expect(got.labels[i * k + j]).toBe(-1);
      }
    }
  });

  it('blends a grid of (β, κ) in one pass to the same labels and scores, bit for bit, as one blend each', () => {
    const S = 6;
    const short = exactTopK(student.V, L, d, queries, test.rows, S);
    const near = exactTopK(points, train.rows, d, queries, test.rows, 8);
    const grid = [0.25, 0.5, 0.9].flatMap((weight) => [0.02, 0.1, 0.5].map((voteTemperature) => ({ neighbours: 8, weight, voteTemperature })));
    const all = blendGrid(student, queries, test.rows, { ...short, k: S }, { ...near, k: 8 }, trainLabels, grid, 10);
    expect(all).toHaveLength(grid.length);
    grid.forEach((settings, g) => {
      const one = blendWithNeighbours(student, queries, test.rows, { ...short, k: S }, { ...near, k: 8 }, trainLabels, settings, 10);
      expect(all[g].labels).toEqual(one.labels);
      expect(all[g].scores).toEqual(one.scores);
    });
    expect(all[0].labels).not.toEqual(all[all.length - 1].labels); // the grid's points rank differently
  });

  it('with β = 0 and every label shortlisted ranks as the student; with β = 1 the vote orders the labels', () => {
    const near = exactTopK(points, train.rows, d, queries, test.rows, 5);
    const all = exactTopK(student.V, L, d, queries, test.rows, L);
    const alone = blendWithNeighbours(student, queries, test.rows, { ...all, k: L }, { ...near, k: 5 }, trainLabels, { neighbours: 5, weight: 0, voteTemperature: 0.1 }, 10);
    for (let i = 0; i < test.rows; i++) expect(Array.from(alone.labels.subarray(i * 10, i * 10 + 10))).toEqual(Array.from(all.labels.subarray(i * L, i * L + 10)));
    const voted = blendWithNeighbours(student, queries, test.rows, { ...all, k: L }, { ...near, k: 5 }, trainLabels, { neighbours: 5, weight: 1, voteTemperature: 0.1 }, 1);
    for (let i = 0; i < test.rows; i++) {
      const nb = Array.from({ length: 5 }, (_, j) => ({ point: near.labels[i * 5 + j], cos: near.scores[i * 5 + j] }));
      const votes = referenceBlend(student, queries.subarray(i * d, (i + 1) * d), [], nb, trainLabels, { neighbours: 5, weight: 1, voteTemperature: 0.1 });
      const best = Math.max(...votes.values());
      expect(voted.scores[i]).toBeCloseTo(best, 6); // the most voted label, whatever the student says
      expect(votes.get(voted.labels[i])).toBeCloseTo(best, 6);
    }
  });

  it('retrieves the same labels through HNSW indexes as by exact search on a small set', () => {
    const index = LabelIndex.build(student.V, L, d, { seed: 1 });
    const pointIndex = PointIndex.build(points, train.rows, d, { M: 16, efConstruction: 200, efSearch: POINT_EF, scalar: 'f32' }, 1);
    const settings = { neighbours: 10, weight: 0.5, voteTemperature: 0.1 };
    const neighbours = { index: pointIndex, pointLabels: trainLabels, settings };
    const shortlist = exactTopK(student.V, L, d, queries, test.rows, L); // the 100-label shortlist holds all 30
    const near = exactTopK(points, train.rows, d, queries, test.rows, 10);
    const exact = blendWithNeighbours(student, queries, test.rows, { ...shortlist, k: L }, { ...near, k: 10 }, trainLabels, settings, 5);
    const approx = retrieve(student, queries, test.rows, 5, { labels: index, neighbours });
    expect(Array.from(approx.labels)).toEqual(Array.from(exact.labels));
    const plain = retrieve(student, queries, test.rows, 5, { labels: index, neighbours: { ...neighbours, settings: { ...neighbours.settings, weight: 0 } } });
    const ref = exactTopK(student.V, L, d, queries, test.rows, 5);
    expect(Array.from(plain.labels)).toEqual(Array.from(ref.labels));
    for (let j = 0; j < ref.scores.length; j++) expect(plain.scores[j]).toBeCloseTo(ref.scores[j] / student.shape.tau, 5);
  });

  it('an auto trial tunes the blend by exact search (no index) to the choice and P@1 the HNSW indexes give on a small set', async () => {
    const index = LabelIndex.build(student.V, L, d, { seed: 1 });
    const pointIndex = PointIndex.build(points, train.rows, d, { M: 16, efConstruction: 200, efSearch: POINT_EF, scalar: 'f32' }, 1);
    const settings = { neighbours: 10, weight: 0.5, voteTemperature: 0.1 };
    const heldOut = { features: test, labels: randomLabels(test.rows, rng), source: 'held out' };
    const trainSet = { features: train, labels: trainLabels, source: 'train' };
    const propensities = new Float64Array(L).fill(0.5);
    const viaIndex = tuneBlend(student, heldOut, propensities, index, { index: pointIndex, pointLabels: trainLabels, settings });
    const exact = await tuneBlendExact(student, heldOut, propensities, trainSet, settings, 1, 0);
    expect(exact.tried).toEqual(viaIndex.tried);
    expect(exact.chosen).toEqual(viaIndex.chosen);
    expect(exact.metrics['p@1']).toBe(exact.p1);
    expect(exact.tried.length).toBe(1 + 3 * 3); // β 0 once, then each β > 0 at each κ
    expect(new Set(exact.tried.map((t) => t.p1)).size).toBeGreaterThan(1); // the grid's points differ here: the comparison means something
  });

  it('tunes the blend to what blending every grid point in full gives: each P@1, the choice, its metrics and hits', async () => {
    const settings = { neighbours: 10, weight: 0.5, voteTemperature: 0.1 };
    const n = test.rows;
    const k = Math.min(EVAL_K, L);
    const shortlist = exactTopK(student.V, L, d, queries, n, L);
    const near = exactTopK(points, train.rows, d, queries, n, 10);
    // held-out rows labelled as their nearest training point, half the time: the vote then matters
    const b = new CsrBuilder(false);
    for (let i = 0; i < n; i++) {
      const p = near.labels[i * 10];
      const own = Array.from(trainLabels.indices.subarray(trainLabels.indptr[p], trainLabels.indptr[p + 1]));
      for (const y of i % 2 ? own : [Math.floor(rng.next() * L)]) b.push(y);
      b.endRow();
    }
    const heldOut = { features: test, labels: b.build(L), source: 'held out' };
    const trainSet = { features: train, labels: trainLabels, source: 'train' };
    const propensities = new Float64Array(L).fill(0.5);
    const got = await tuneBlendExact(student, heldOut, propensities, trainSet, settings, 1, 0);
    // the reference: every grid point ranked in full, one blend each, the first best kept
    const grid = BLEND_WEIGHTS.flatMap((weight) => (weight === 0 ? [settings.voteTemperature] : [...VOTE_TEMPERATURES]).map((voteTemperature) => ({ neighbours: 10, weight, voteTemperature })));
    const ranked = grid.map((g) => (g.weight === 0 ? exactTopK(student.V, L, d, queries, n, k).labels : blendWithNeighbours(student, queries, n, { ...shortlist, k: L }, { ...near, k: 10 }, trainLabels, g, k).labels));
    const metrics = ranked.map((labels) => evaluateRankings(padTo(labels, k, EVAL_K), EVAL_K, heldOut.labels, propensities));
    expect(got.tried).toEqual(grid.map((g, i) => ({ settings: g, p1: metrics[i]['p@1'] })));
    let best = 0;
    for (let i = 1; i < grid.length; i++) if (metrics[i]['p@1'] > metrics[best]['p@1']) best = i;
    expect(got.chosen).toEqual(grid[best]);
    expect(got.metrics).toEqual(metrics[best]);
    expect(Array.from(got.hits!)).toEqual(Array.from(topOneHits(ranked[best], k, heldOut.labels)));
    expect(new Set(got.tried.map((t) => t.p1)).size).toBeGreaterThan(1); // the points differ: the comparison means something
  });

  it('publishes both indexes; with threads and a scratch directory the label index leaves a file a second thread can load', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distilxr-published-'));
    try {
      const cfg = { ...DEFAULT_TRAIN_CONFIG, neighbours: 10 };
      const trainSet = { features: train, labels: trainLabels, source: 'train' };
      for (const withNeighbours of [true, false]) {
        const one = await buildPublishedIndexes(student, trainSet, cfg, { withNeighbours, threads: 1, scratchDir: dir }, silentProgress);
        expect(one.index.file).toBeNull();
        const two = await buildPublishedIndexes(student, trainSet, cfg, { withNeighbours, threads: 2, scratchDir: dir }, silentProgress);
        expect(two.index.file).toBe(join(dir, 'labels.hnsw'));
        const loaded = await LabelIndex.load(join(dir, 'labels.hnsw'), d, L);
        expect(Array.from(loaded.searchBatch(queries, test.rows, 5).labels)).toEqual(Array.from(two.index.searchBatch(queries, test.rows, 5).labels));
        expect(two.neighbours?.index.count ?? 0).toBe(withNeighbours ? 60 : 0);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
