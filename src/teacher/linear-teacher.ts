/**
 * The baseline teacher: one-vs-rest L2-loss linear SVMs over L2-normalised sparse rows (what
 * PECOS XR-Linear and LinearSVC fit), each label against every row when there are few labels,
 * against its centroid-shortlisted hard negatives when there are many, plus a weighted vote of
 * its centroid. The K fold models (each blind to one fold) score the training rows out of fold;
 * the teacher is one more model on every row (or, without fullTeacher, the fold models' mean).
 */
import { selectRows, type Csr } from '../core/data/csr.js';
import { foldOf } from './folds.js';
import { centroidShortlist, labelCentroids } from './centroid-shortlist.js';
import { labelRows, type OvrSolverConfig } from './ovr-solver.js';
import { fitOvrTasks, type OvrTask } from './ovr-pool.js';
import { threadCount } from '../core/util/threads.js';
import { averageModels, weightedSum, type SparseLinearModel } from './sparse-linear-model.js';
import { scoreRows, type RowScores } from './candidate-scores.js';

export interface LinearTeacherConfig extends OvrSolverConfig {
  /**
   * Hard negatives per row from the label centroids; 0 = every label is a negative of every row
   * (exact one-vs-rest). 0 = automatic: 100 above `fullMaxLabels` labels; at or below, 100 when
   * that is at most a quarter of the labels and holds `shortlistRecall` (< 1) of the held-out
   * positives, else every label. @defaultValue 0
   */
  shortlist: number;
  /**
   * Automatic shortlist at or below `fullMaxLabels`: the held-out recall of the positives (fold 0
   * of 3, centroids of the rest) the shortlist must reach (Delicious: 0.45, debtags: 0.97); 1 = never.
   * Off by default: the shortlisted debtags teacher fits in half the time at the same test P@1, but
   * it scores the student's candidates outside its shortlist badly and the distilled student loses
   * 5 P@1 (BENCHMARKS.md Table 1). @defaultValue 1
   */
  shortlistRecall: number;
  /** One-vs-rest over every label up to this many labels. @defaultValue 1024 */
  fullMaxLabels: number;
  /** Labels a feature keeps in the centroid index (bounds shortlist cost). @defaultValue 1000 */
  centroidPostings: number;
  /** Cross-fitting folds; < 2 = one model on every row, nothing out of fold. @defaultValue 3 */
  folds: number;
  /**
   * Weight of each label's centroid (unit mean of its rows) added to its classifier: a
   * nearest-centroid vote that helps rare labels, whose SVMs see few positives. @defaultValue 0.5
   */
  centroidWeight: number;
  /**
   * With folds: the published teacher is one more model fitted on every training row (the fold
   * models only score training rows out of fold), instead of the mean of the fold models. Costs
   * one more fit; pays where labels have few rows, which each fold model sees fewer of. @defaultValue true
   */
  fullTeacher: boolean;
  /** Solver threads; 0 = one per core (the models do not depend on it). @defaultValue 0 */
  threads: number;
}

export interface LinearTeacherFit {
  teacher: SparseLinearModel;
  folds: SparseLinearModel[];
  /** Centroid index for shortlisting new rows; null = the teacher ranks every label. */
  centroids: SparseLinearModel | null;
  shortlist: number;
  /** Held-out recall of the automatic shortlist, when it was measured. */
  shortlistRecall?: number;
}

export interface FitReporter {
  /** Labels fitted over all models (folds) of total; fold: the first model not finished (0-based). */
  onLabels(done: number, total: number, fold: number, folds: number): void;
  onShortlist(done: number, total: number): void;
}

/** The shortlist size of automatic mode. */
export const AUTO_SHORTLIST = 100;

/**
 * Shortlist size for L labels: the config's, or the automatic choice (see
 * LinearTeacherConfig.shortlist); `recall` measures the held-out recall only when it decides.
 */
export function shortlistSize(cfg: LinearTeacherConfig, numLabels: number, recall: () => number = () => 0): { k: number; recall?: number } {
  if (cfg.shortlist > 0) return { k: numLabels <= cfg.fullMaxLabels && cfg.shortlist >= numLabels ? 0 : cfg.shortlist };
  if (numLabels > cfg.fullMaxLabels) return { k: AUTO_SHORTLIST };
  // a shortlist near L saves little time
  if (cfg.shortlistRecall >= 1 || 4 * AUTO_SHORTLIST > numLabels) return { k: 0 };
  const r = recall();
  return { k: r >= cfg.shortlistRecall ? AUTO_SHORTLIST : 0, recall: r };
}

/** Recall of the positives of fold 0 (of 3) in their k nearest centroids of the other rows. */
export function heldOutShortlistRecall(features: Csr, labels: Csr, numLabels: number, k: number, seed: number, postings: number): number {
  const held = foldRows(features.rows, 0, 3, seed, true);
  const centroids = labelCentroids(features, labels, numLabels, foldRows(features.rows, 0, 3, seed, false), postings);
  return shortlistRecall(centroids, selectRows(features, held), selectRows(labels, held), k);
}

/** Share of truth's (row, label) pairs among each row's k nearest centroids. */
export function shortlistRecall(centroids: SparseLinearModel, features: Csr, truth: Csr, k: number): number {
  const shortlist = shortlistOfRows(centroids, features, k);
  let hits = 0;
  for (let i = 0; i < truth.rows; i++) {
    const s = shortlist.indices.subarray(shortlist.indptr[i], shortlist.indptr[i + 1]);
    for (let p = truth.indptr[i]; p < truth.indptr[i + 1]; p++) if (s.includes(truth.indices[p])) hits++;
  }
  const total = truth.indptr[truth.rows];
  return total ? hits / total : 0;
}

/** Rows whose fold is (inFold) or is not (!inFold) k. */
export function foldRows(n: number, k: number, folds: number, seed: number, inFold: boolean): Int32Array {
  const out: number[] = [];
  for (let i = 0; i < n; i++) if ((foldOf(i, folds, seed) === k) === inFold) out.push(i);
  return Int32Array.from(out);
}

export async function fitLinearTeacher(features: Csr, labels: Csr, numLabels: number, cfg: LinearTeacherConfig, report: FitReporter): Promise<LinearTeacherFit> {
  const N = features.rows;
  const all = new Int32Array(N);
  for (let i = 0; i < N; i++) all[i] = i;
  const choice = shortlistSize(cfg, numLabels, () => heldOutShortlistRecall(features, labels, numLabels, AUTO_SHORTLIST, cfg.seed, cfg.centroidPostings));
  const K = choice.k;
  let centroids: SparseLinearModel | null = null;
  let negatives: Csr | null = null;
  if (K > 0) {
    centroids = labelCentroids(features, labels, numLabels, all, cfg.centroidPostings);
    negatives = centroidShortlist(centroids, features, labels, K, (d, t) => report.onShortlist(d, t));
  }
  const F = cfg.folds >= 2 ? cfg.folds : 0;
  const tasks: OvrTask[] = [];
  for (let k = 0; k < F; k++) {
    const rows = foldRows(N, k, F, cfg.seed, false);
    tasks.push({ rows, perLabel: negatives && labelRows(labels, rows, negatives, numLabels), seed: cfg.seed + 1 + k });
  }
  // the model on every row goes last, so fold progress reads 1..F and then the full model
  const full = F === 0 || cfg.fullTeacher;
  if (full) tasks.push({ rows: all, perLabel: negatives && labelRows(labels, all, negatives, numLabels), seed: cfg.seed });
  const svms = await fitOvrTasks(features, labels, numLabels, tasks, cfg, solverThreads(cfg.threads), (d, t, k) => report.onLabels(d, t, k, tasks.length));
  // the model on every row shares the shortlist's centroids (the same rows)
  const centroidsOf = (k: number): SparseLinearModel => (centroids && tasks[k].rows === all ? centroids : labelCentroids(features, labels, numLabels, tasks[k].rows, cfg.centroidPostings));
  const models = cfg.centroidWeight > 0 ? svms.map((m, k) => weightedSum([m, centroidsOf(k)], [1, cfg.centroidWeight])) : svms;
  const folds = models.slice(0, F);
  return { teacher: full ? models[F] : averageModels(folds), folds, centroids, shortlist: K, shortlistRecall: choice.recall };
}

/** Threads the solver runs on: cfg.threads, or one per core (at most 8) when 0. */
export function solverThreads(threads: number): number {
  return threadCount(threads, 8);
}

/**
 * Out-of-fold scores of `rows` (each by the fold model that did not see it) over its shortlist
 * and its positives (every label when there is no shortlist). Rows are returned in `rows` order.
 */
export function outOfFoldScores(fit: LinearTeacherFit, features: Csr, labels: Csr, rows: Int32Array, seed: number): RowScores {
  const F = fit.folds.length;
  const parts: { rows: Int32Array; rs: RowScores }[] = [];
  for (let k = 0; k < F; k++) {
    const mine = rows.filter((i) => foldOf(i, F, seed) === k);
    const sub = selectRows(features, mine);
    const local = new Int32Array(mine.length);
    for (let j = 0; j < local.length; j++) local[j] = j;
    const shortlist = fit.centroids ? shortlistOfRows(fit.centroids, sub, fit.shortlist) : null;
    parts.push({ rows: mine, rs: scoreRows(fit.folds[k], sub, local, shortlist, shortlist && selectRows(labels, mine)) });
  }
  return concatRowScores(parts, rows);
}

/** Row scores of several parts put back in `order`. */
function concatRowScores(parts: { rows: Int32Array; rs: RowScores }[], order: Int32Array): RowScores {
  const where = new Map<number, [number, number]>();
  parts.forEach((p, j) => {
    for (let r = 0; r < p.rows.length; r++) where.set(p.rows[r], [j, r]);
  });
  const indptr = new Int32Array(order.length + 1);
  for (let r = 0; r < order.length; r++) {
    const [j, q] = where.get(order[r])!;
    const c = parts[j].rs.candidates;
    indptr[r + 1] = indptr[r] + c.indptr[q + 1] - c.indptr[q];
  }
  const indices = new Int32Array(indptr[order.length]);
  const scores = new Float32Array(indptr[order.length]);
  for (let r = 0; r < order.length; r++) {
    const [j, q] = where.get(order[r])!;
    const { candidates: c, scores: s } = parts[j].rs;
    indices.set(c.indices.subarray(c.indptr[q], c.indptr[q + 1]), indptr[r]);
    scores.set(s.subarray(c.indptr[q], c.indptr[q + 1]), indptr[r]);
  }
  return { candidates: { rows: order.length, cols: parts[0]?.rs.candidates.cols ?? 0, indptr, indices, values: null }, scores };
}

/** Each new row's k nearest centroids (no labels of the row to exclude). */
function shortlistOfRows(centroids: SparseLinearModel, features: Csr, k: number): Csr {
  const none: Csr = { rows: features.rows, cols: centroids.numLabels, indptr: new Int32Array(features.rows + 1), indices: new Int32Array(0), values: null };
  return centroidShortlist(centroids, features, none, k);
}

/** Scores of new rows (test, queries) with the teacher over their shortlist or all labels. */
export function teacherRowScores(fit: Pick<LinearTeacherFit, 'teacher' | 'centroids' | 'shortlist'>, features: Csr): RowScores {
  const n = features.rows;
  const rows = new Int32Array(n);
  for (let i = 0; i < n; i++) rows[i] = i;
  const shortlist = fit.centroids ? shortlistOfRows(fit.centroids, features, fit.shortlist) : null;
  return scoreRows(fit.teacher, features, rows, shortlist);
}
