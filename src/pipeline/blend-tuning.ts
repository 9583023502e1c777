/**
 * Chooses the neighbour component's β and κ on held-out rows: the shortlist and the neighbours are
 * searched once, then every grid point only re-blends them (milliseconds per point on 2000 rows).
 */
import { denseTopK } from '../ann/dense-search.js';
import type { LabelIndex } from '../ann/hnsw-index.js';
import { blendGrid, encodePoints, type NeighbourBlendSettings } from '../ann/neighbour-blend.js';
import { withoutRepeats } from '../ann/point-dedupe.js';
import { labelCounts, type Csr } from '../core/data/csr.js';
import type { Dataset } from '../core/data/dataset.js';
import { evaluateRankings, propensitiesFromCounts, type MetricReport } from '../core/model/metrics.js';
import type { TrainConfig } from '../core/model/train-config.js';
import { threadCount } from '../core/util/threads.js';
import type { Student } from '../core/model/student.js';
import { EVAL_K, padTo } from './evaluate.js';
import { neighboursUpTo, rankParts, searchParts, shortlistSize, type NeighbourComponent, type RetrievalParts } from './retrieve.js';

/** β = 0 first: on a tie the student alone is kept. Measured grid: bench/neighbour-blend-probe.ts. */
export const BLEND_WEIGHTS = [0, 0.25, 0.5, 0.75] as const;
export const VOTE_TEMPERATURES = [0.02, 0.05, 0.1] as const;

export interface BlendTrial {
  settings: NeighbourBlendSettings;
  p1: number;
}

export interface BlendChoice {
  chosen: NeighbourBlendSettings;
  p1: number;
  tried: BlendTrial[];
  /** Per held-out row, 1 where the chosen blend's top label is a true one (paired comparisons of trials). */
  hits?: Uint8Array;
}

export function tuneBlend(student: Student, heldOut: Dataset, propensities: Float64Array, index: LabelIndex, neighbours: NeighbourComponent): BlendChoice {
  const n = heldOut.features.rows;
  const k = Math.min(EVAL_K, student.shape.numLabels);
  const queries = student.encodeAll(heldOut.features);
  const parts = searchParts(student, queries, n, k, { labels: index, neighbours }, neighbours.settings.neighbours);
  return tuneOnParts(student, heldOut, propensities, queries, parts, neighbours.pointLabels, neighbours.settings);
}

/**
 * As tuneBlend with the shortlist and the neighbours searched exactly (ONNX Runtime's matrix
 * product) instead of in HNSW indexes: an auto trial publishes nothing, so it need not build them
 * (on apt-files the two builds took 80 s of a trial; the exact searches over 2000 held-out rows a
 * few seconds). Also returns the chosen blend's metrics.
 */
export async function tuneBlendExact(student: Student, heldOut: Dataset, propensities: Float64Array, train: Dataset, settings: NeighbourBlendSettings, threads: number, pointDedupe: number): Promise<BlendChoice & { metrics: MetricReport; encoded: EncodedRows }> {
  const n = heldOut.features.rows;
  const { numLabels, dim } = student.shape;
  const k = Math.min(EVAL_K, numLabels);
  const queries = student.encodeAll(heldOut.features);
  const shortK = shortlistSize(numLabels, k, true);
  const shortlist = await denseTopK(student.V, numLabels, dim, queries, n, shortK, { threads });
  const points = encodePoints(student, train.features);
  // the points the published component would hold (neighbours.ts)
  const kept = withoutRepeats(points, dim, train.labels, pointDedupe);
  const K = Math.min(settings.neighbours, kept.labels.rows);
  const near = await denseTopK(kept.points, kept.labels.rows, dim, queries, n, K, { threads });
  const parts = { shortlist: { ...shortlist, k: shortK }, neighbours: { ...near, k: K } };
  return { ...tuneOnParts(student, heldOut, propensities, queries, parts, kept.labels, { ...settings, neighbours: K }), encoded: { points, queries } };
}

/** The student's encodings an exact blend search made: `train`'s rows as points (encodePoints), the held-out rows as queries (encodeAll). */
export interface EncodedRows {
  points: Float32Array;
  queries: Float32Array;
}

/**
 * Every grid point re-blends the parts searched once; β = 0 keeps the student's own κ. The β > 0
 * points are blended in one pass (blendGrid) to their first label only, which is all P@1 reads (the
 * same first label as a full ranking's: blendGrid keeps each list's order, ties to the lower label);
 * the chosen one is then ranked in full for its metrics. Ranking all nine in full took a Bibtex job
 * 7 % of its time (a CPU profile, BENCHMARKS.md 0).
 */
function tuneOnParts(student: Student, heldOut: Dataset, propensities: Float64Array, queries: Float32Array, parts: RetrievalParts, pointLabels: Csr, base: NeighbourBlendSettings): BlendChoice & { metrics: MetricReport } {
  const n = heldOut.features.rows;
  const k = Math.min(EVAL_K, student.shape.numLabels);
  const grid: NeighbourBlendSettings[] = [];
  for (const weight of BLEND_WEIGHTS) {
    for (const voteTemperature of weight === 0 ? [base.voteTemperature] : VOTE_TEMPERATURES) grid.push({ neighbours: base.neighbours, weight, voteTemperature });
  }
  const voting = grid.filter((g) => g.weight > 0);
  const near = neighboursUpTo(parts, n, base.neighbours);
  const firsts = near ? blendGrid(student, queries, n, parts.shortlist, near, pointLabels, voting, 1) : null;
  /** The grid point's ranking, `depth` labels deep (β = 0: the student's own, in full). */
  const ranking = (settings: NeighbourBlendSettings, depth: number): { labels: Int32Array; k: number } => {
    if (settings.weight > 0 && near) return depth === 1 ? firsts![voting.indexOf(settings)] : blendGrid(student, queries, n, parts.shortlist, near, pointLabels, [settings], k)[0];
    return rankParts(student, queries, n, k, parts, pointLabels, settings);
  };
  const tried = grid.map((settings) => {
    const top = ranking(settings, 1);
    return { settings, p1: evaluateRankings(padTo(top.labels, top.k, EVAL_K), EVAL_K, heldOut.labels, propensities)['p@1'], top };
  });
  let best = tried[0];
  for (const t of tried) if (t.p1 > best.p1) best = t;
  const full = best.top.k === k ? best.top : ranking(best.settings, k);
  const metrics = evaluateRankings(padTo(full.labels, k, EVAL_K), EVAL_K, heldOut.labels, propensities);
  return { chosen: best.settings, p1: best.p1, metrics, tried: tried.map(({ settings, p1 }) => ({ settings, p1 })), hits: topOneHits(best.top.labels, best.top.k, heldOut.labels) };
}

/** Per row of `truth`, 1 where the ranking's first label (rows of k in `top`) is one of the row's labels. */
export function topOneHits(top: Int32Array, k: number, truth: Csr): Uint8Array {
  const hits = new Uint8Array(truth.rows);
  for (let r = 0; r < truth.rows; r++) {
    const first = top[r * k];
    for (let p = truth.indptr[r]; p < truth.indptr[r + 1]; p++) if (truth.indices[p] === first) hits[r] = 1;
  }
  return hits;
}

export interface HeldOutBlend {
  choice: BlendChoice;
  /** The chosen blend's metrics on the held-out rows. */
  metrics: MetricReport;
  /** `cfg` with the chosen blend. */
  config: TrainConfig;
  heldOutRows: number;
  counts: Float32Array;
  propensities: Float64Array;
  /** What the searches encoded, for a job that indexes the same rows next (pointsOfRows in blend-by-job.ts). */
  encoded: EncodedRows;
}

/** The neighbour blend chosen on rows the student did not train on, by exact searches over `train`'s points and the labels (tuneBlendExact). */
export async function blendOnHeldOut(student: Student, train: Dataset, heldOut: Dataset, cfg: TrainConfig): Promise<HeldOutBlend> {
  const counts = Float32Array.from(labelCounts(train.labels));
  const propensities = propensitiesFromCounts(counts, train.features.rows, heldOut.labels.cols);
  const settings = { neighbours: cfg.neighbours, weight: cfg.neighbourWeight, voteTemperature: cfg.voteTemperature };
  const blend = await tuneBlendExact(student, heldOut, propensities, train, settings, threadCount(cfg.threads), cfg.pointDedupe);
  const choice = { chosen: blend.chosen, p1: blend.p1, tried: blend.tried, hits: blend.hits };
  return { choice, metrics: blend.metrics, config: { ...cfg, neighbourWeight: blend.chosen.weight, voteTemperature: blend.chosen.voteTemperature }, heldOutRows: heldOut.features.rows, counts, propensities, encoded: blend.encoded };
}

/** "β 0 κ 0.05 → 61.20, …": the blends tried and their P@1. */
export function blendText(choice: BlendChoice): string {
  return choice.tried.map((t) => `β ${t.settings.weight} κ ${t.settings.voteTemperature} → ${(100 * t.p1).toFixed(2)}`).join(', ');
}
