import { denseTopK } from '../ann/dense-search.js';
import type { LabelIndex } from '../ann/hnsw-index.js';
import { searchBatchInThreads } from '../ann/parallel-search.js';
import { selectRows, type Csr } from '../core/data/csr.js';
import type { Dataset } from '../core/data/dataset.js';
import { evaluateRankings, expectedCalibrationError, topKInto, type MetricReport } from '../core/model/metrics.js';
import type { Student } from '../core/model/student.js';
import { top1Probability } from '../teacher/calibration.js';
import type { CandidateScorer } from '../teacher/onnx-teacher.js';
import { blends, retrieve, searchNeighbours, shortlistSize, type NeighbourComponent } from './retrieve.js';

/** Predictions kept per test point: enough for R@100. */
export const EVAL_K = 100;

/**
 * Exact search costs test points × labels inner products; above this many pairs the evaluation
 * runs on an evenly spaced subset of the test points (10^6 labels: 1000 points).
 */
export const EXACT_EVAL_MAX_PAIRS = 1_000_000_000;

export interface StudentEvaluation {
  /** Test points evaluated: all of them unless points × labels exceeds EXACT_EVAL_MAX_PAIRS. */
  evaluatedPoints: number;
  exact: MetricReport;
  hnsw?: MetricReport;
  /** Share of exact top-10 labels that HNSW also returns. */
  hnswRecallAt10?: number;
}

/**
 * Metrics of the retriever on the test split: "exact" searches every label, "hnsw" the label
 * index; both find the neighbours in the training points' index, as a loaded model does (its
 * vectors are not stored), so `eval` on a published model reproduces the job's figures.
 */
export async function evaluateStudent(student: Student, fullTest: Dataset, propensities: Float64Array, index?: LabelIndex, neighbours?: NeighbourComponent | null, threads = 1): Promise<StudentEvaluation> {
  const { numLabels } = student.shape;
  const k = Math.min(EVAL_K, numLabels);
  const test = evenlySpacedSubset(fullTest, Math.max(1, Math.floor(EXACT_EVAL_MAX_PAIRS / numLabels)));
  const n = test.features.rows;
  const queries = student.encodeAll(test.features);
  const nb = blends(neighbours) ? neighbours : null;
  // the exact search over every label, on ONNX Runtime's matrix product over the job's threads
  const shortK = shortlistSize(numLabels, k, nb !== null);
  const exactShortlist = await denseTopK(student.V, numLabels, student.shape.dim, queries, n, shortK, { threads });
  // the neighbours are the same for both searches of the labels: searched once
  const near = nb ? searchNeighbours(nb, queries, n, nb.settings.neighbours, threads) : undefined;
  const exact = retrieve(student, queries, n, k, { neighbours: nb, shortlist: exactShortlist, near });
  const result: StudentEvaluation = { evaluatedPoints: n, exact: evaluateRankings(padTo(exact.labels, k, EVAL_K), EVAL_K, test.labels, propensities) };
  if (index) {
    // the label index searched on the job's threads when it has a file a second thread can load
    const shortlist = await searchBatchInThreads(index, queries, n, shortK, threads);
    const approx = retrieve(student, queries, n, k, { labels: index, neighbours: nb, shortlist, near });
    result.hnsw = evaluateRankings(padTo(approx.labels, k, EVAL_K), EVAL_K, test.labels, propensities);
    result.hnswRecallAt10 = overlapAtK(exact.labels, approx.labels, k, Math.min(10, k));
  }
  return result;
}

/** At most `max` rows of d, evenly spaced (deterministic); d itself when it is small enough. */
export function evenlySpacedSubset(d: Dataset, max: number): Dataset {
  const n = d.features.rows;
  if (n <= max) return d;
  const rows = new Int32Array(max);
  for (let i = 0; i < max; i++) rows[i] = Math.floor((i * n) / max);
  return { ...d, features: selectRows(d.features, rows), labels: selectRows(d.labels, rows) };
}

/** Widens [n, k] predictions to [n, kMax] with -1, so fewer labels than kMax still evaluates. */
export function padTo(pred: Int32Array, k: number, kMax: number): Int32Array {
  if (k === kMax) return pred;
  const n = pred.length / k;
  const out = new Int32Array(n * kMax).fill(-1);
  for (let i = 0; i < n; i++) out.set(pred.subarray(i * k, i * k + k), i * kMax);
  return out;
}

function overlapAtK(exact: Int32Array, approx: Int32Array, stride: number, k: number): number {
  const n = exact.length / stride;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < k; a++) {
      const y = exact[i * stride + a];
      for (let b = 0; b < k; b++) if (approx[i * stride + b] === y) hits++;
    }
  }
  return n ? hits / (n * k) : 0;
}

export interface TeacherEvaluation {
  metrics: MetricReport;
  /** Expected calibration error of the top-1 label's softmax probability (15 bins). */
  ece: number;
  /** The same for softmax(scores / temperature): after calibration (= ece at temperature 1). */
  calibratedEce: number;
}

/**
 * Scores every (test point, label) pair with the teacher: exact metrics and calibration, of the
 * raw scores and of the scores divided by `temperature`. Costs points × labels scores, so callers
 * skip it when that is too many.
 */
export async function evaluateTeacher(
  teacher: CandidateScorer,
  test: Dataset,
  numLabels: number,
  propensities: Float64Array,
  temperature = 1,
): Promise<TeacherEvaluation> {
  const n = test.features.rows;
  const k = Math.min(EVAL_K, numLabels);
  const pred = new Int32Array(n * EVAL_K).fill(-1);
  const topScores = new Float32Array(n * EVAL_K);
  const confidence = new Float64Array(n);
  const calibrated = new Float64Array(n);
  const correct = new Uint8Array(n);
  const chunk = Math.min(n, Math.max(1, Math.floor(4_000_000 / numLabels)));
  const candidates = allLabels(chunk, numLabels); // built once; the last chunk uses its first rows
  for (let r0 = 0; r0 < n; r0 += chunk) {
    const r1 = Math.min(n, r0 + chunk);
    const examples = new Int32Array(r1 - r0);
    for (let i = 0; i < examples.length; i++) examples[i] = r0 + i;
    const rows = examples.length === chunk ? candidates : { ...candidates, rows: examples.length, indptr: candidates.indptr.subarray(0, examples.length + 1) };
    const scores = await teacher.scoreCandidates(test.features, examples, rows);
    for (let i = 0; i < examples.length; i++) {
      const r = r0 + i;
      topKInto(scores, i * numLabels, numLabels, k, pred, topScores, r * EVAL_K);
      confidence[r] = top1Probability(scores, i * numLabels, (i + 1) * numLabels);
      calibrated[r] = temperature === 1 ? confidence[r] : top1Probability(scores, i * numLabels, (i + 1) * numLabels, temperature);
      const top = pred[r * EVAL_K];
      for (let p = test.labels.indptr[r]; p < test.labels.indptr[r + 1]; p++) if (test.labels.indices[p] === top) correct[r] = 1;
    }
  }
  return {
    metrics: evaluateRankings(pred, EVAL_K, test.labels, propensities),
    ece: expectedCalibrationError(confidence, correct),
    calibratedEce: expectedCalibrationError(calibrated, correct),
  };
}

/** Every label as a candidate for each of `rows` examples. */
export function allLabels(rows: number, numLabels: number): Csr {
  const indptr = new Int32Array(rows + 1);
  const indices = new Int32Array(rows * numLabels);
  for (let r = 0; r < rows; r++) {
    indptr[r + 1] = (r + 1) * numLabels;
    for (let y = 0; y < numLabels; y++) indices[r * numLabels + y] = y;
  }
  return { rows, cols: numLabels, indptr, indices, values: null };
}
