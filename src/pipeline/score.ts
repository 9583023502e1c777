import { CsrBuilder, type Csr } from '../core/data/csr.js';
import type { Dataset } from '../core/data/dataset.js';
import type { NegativePool } from '../core/model/trainer.js';
import type { CandidateScorer, ScoreOptions } from '../teacher/onnx-teacher.js';
import type { TeacherScoreCache } from '../teacher/score-cache.js';

/** The pool's valid entries as one candidate row per example. */
export function poolAsCsr(pool: NegativePool, rows: number, numLabels: number): Csr {
  const b = new CsrBuilder(false, rows, pool.labels.length);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < pool.size; k++) {
      const y = pool.labels[r * pool.size + k];
      if (y >= 0) b.push(y);
    }
    b.endRow();
  }
  return b.build(numLabels);
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
      const scores = await scorer.scoreCandidates(features, examples, candidates, opts);
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
 * Teacher scores for every positive and every pool entry, through the cache, so a pair that an
 * earlier pool already had is not scored again. Fills pool.teacherScores.
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
  const pos = await cache.scoreWithCache(teacher, train.features, examples, train.labels, opts);
  let newlyScored = pos.newlyScored;
  if (pool && pool.size > 0) {
    const candidates = poolAsCsr(pool, N, train.labels.cols);
    const scored = await cache.scoreWithCache(teacher, train.features, examples, candidates, opts);
    newlyScored += scored.newlyScored;
    const out = new Float32Array(pool.labels.length);
    let p = 0;
    for (let i = 0; i < pool.labels.length; i++) out[i] = pool.labels[i] >= 0 ? scored.scores[p++] : 0;
    pool.teacherScores = out;
  }
  return { positiveScores: pos.scores, newlyScored };
}
