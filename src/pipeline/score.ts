import { CsrBuilder, type Csr } from '../core/data/csr.js';
import type { Dataset } from '../core/data/dataset.js';
import type { NegativePool } from '../core/model/trainer.js';
import type { CandidateScorer, ScoreOptions } from '../teacher/onnx-teacher.js';
import type { TeacherScoreCache } from '../teacher/score-cache.js';

/** The pool's valid entries as one candidate row per example. */
export function poolAsCsr(pool: NegativePool, rows: number, numLabels: number): Csr {
  return candidateRows(null, pool, rows, numLabels);
}

/**
 * `scorer` with every score divided by `temperature`: the teacher's calibrated scores, whose
 * softmax is the distribution distillation matches. Applied in front of the score cache, so the
 * cache, the pool's scores and the checkpoint all hold the same (calibrated) units.
 */
export function calibratedScorer(scorer: CandidateScorer, temperature: number): CandidateScorer {
  if (!(Number.isFinite(temperature) && temperature > 0)) throw new RangeError(`temperature must be a finite positive number, got ${temperature}`);
  if (temperature === 1) return scorer;
  return {
    async scoreCandidates(features, examples, candidates, opts) {
      const told = opts?.onScored;
      const onScored = told && ((e: Int32Array, c: Csr, part: Float32Array) => {
        for (let i = 0; i < part.length; i++) part[i] /= temperature; // the same division as the whole call's below
        told(e, c, part);
      });
      const scores = await scorer.scoreCandidates(features, examples, candidates, onScored ? { ...opts, onScored } : opts);
      for (let i = 0; i < scores.length; i++) scores[i] /= temperature; // in place: each call returns a fresh array
      return scores;
    },
  };
}

export interface ScoredPairs {
  positiveScores: Float32Array; // aligned with train.labels.indices
  newlyScored: number;
}

/**
 * Each example's positives followed by its pool's valid entries, as one candidate row per example.
 * One teacher call over both: a model that computes every label's score per row (a logits head, a
 * text classifier, a bi-encoder's text side) runs each row once instead of once per call.
 */
export function positivesAndPoolAsCsr(labels: Csr, pool: NegativePool): Csr {
  return candidateRows(labels, pool, labels.rows, labels.cols);
}

/** Per example: its positives (when given), then its pool's valid entries in pool order. */
function candidateRows(positives: Csr | null, pool: NegativePool, rows: number, numLabels: number): Csr {
  const b = new CsrBuilder(false, rows, (positives?.indices.length ?? 0) + pool.labels.length);
  for (let r = 0; r < rows; r++) {
    if (positives) for (let p = positives.indptr[r]; p < positives.indptr[r + 1]; p++) b.push(positives.indices[p]);
    for (let k = r * pool.size; k < (r + 1) * pool.size; k++) if (pool.labels[k] >= 0) b.push(pool.labels[k]);
    b.endRow();
  }
  return b.build(numLabels);
}

/**
 * Teacher scores for every positive and every pool entry, in one call through the cache, so a
 * pair that an earlier pool already had is not scored again. Fills pool.teacherScores.
 */
export async function scorePositivesAndPool(
  teacher: CandidateScorer,
  cache: TeacherScoreCache,
  train: Dataset,
  pool: NegativePool | null,
  opts: ScoreOptions = {},
): Promise<ScoredPairs> {
  const N = train.features.rows;
  const examples = new Int32Array(N);
  for (let i = 0; i < N; i++) examples[i] = i;
  if (!pool || pool.size === 0) {
    const pos = await cache.scoreWithCache(teacher, train.features, examples, train.labels, opts);
    return { positiveScores: pos.scores, newlyScored: pos.newlyScored };
  }
  const both = await cache.scoreWithCache(teacher, train.features, examples, positivesAndPoolAsCsr(train.labels, pool), opts);
  // split each row back: its positives first, then its pool's valid entries in pool order
  const li = train.labels.indptr;
  const positiveScores = new Float32Array(li[N]);
  const poolScores = new Float32Array(pool.labels.length);
  let p = 0;
  for (let r = 0; r < N; r++) {
    const n = li[r + 1] - li[r];
    positiveScores.set(both.scores.subarray(p, p + n), li[r]);
    p += n;
    for (let k = r * pool.size; k < (r + 1) * pool.size; k++) if (pool.labels[k] >= 0) poolScores[k] = both.scores[p++];
  }
  pool.teacherScores = poolScores;
  return { positiveScores, newlyScored: both.newlyScored };
}
