/**
 * The scoring stage asks the teacher once per pool for the positives and the pool together
 * (scorePositivesAndPool), with a real ONNX logits teacher, which computes every label of a row
 * whatever it is asked: each row runs once, the scores are those of scoring the positives and the
 * pool separately bit for bit, and a later pool sends only the pairs the cache lacks.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import type { Csr } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { writeSynth } from '../src/core/data/synth.js';
import type { NegativePool } from '../src/core/model/trainer.js';
import { Rng } from '../src/core/util/rng.js';
import { poolAsCsr, positivesAndPoolAsCsr, scorePositivesAndPool } from '../src/pipeline/score.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';
import { OnnxTeacher, type CandidateScorer } from '../src/teacher/onnx-teacher.js';
import { TeacherScoreCache } from '../src/teacher/score-cache.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FEATURES = 150;
const LABELS = 60;
const K = 6;

/** A pool of K labels per row, -1 in some slots, none of the row's positives. */
function randomPool(train: Dataset, seed: number): NegativePool {
  const rng = new Rng(seed);
  const N = train.features.rows;
  const labels = new Int32Array(N * K).fill(-1);
  for (let r = 0; r < N; r++) {
    const pos = new Set(train.labels.indices.subarray(train.labels.indptr[r], train.labels.indptr[r + 1]));
    const taken = new Set<number>();
    for (let k = 0; k < K - (r % 3 === 0 ? 2 : 0); k++) {
      let y: number;
      do y = Math.floor(rng.next() * LABELS);
      while (pos.has(y) || taken.has(y));
      taken.add(y);
      labels[r * K + k] = y;
    }
  }
  return { size: K, labels, teacherScores: null };
}

describe('scorePositivesAndPool', () => {
  let dir: string;
  let train: Dataset;
  let teacher: OnnxTeacher;
  const calls: { rows: number; pairs: number }[] = [];
  let counting: CandidateScorer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-score-pool-'));
    const files = await writeSynth(dir, { points: 500, features: FEATURES, labels: LABELS, seed: 8 });
    train = (await loadTrainTest(files.train, undefined)).train;
    const rng = new Rng(1);
    const onnx = exportSparseEncoderOnnx({
      inputDim: train.features.cols,
      hiddenDim: 24,
      W1: Float32Array.from({ length: train.features.cols * 24 }, () => rng.normal()),
      labelTable: Float32Array.from({ length: train.labels.cols * 24 }, () => rng.normal()),
      numLabels: train.labels.cols,
      output: 'logits',
    });
    teacher = await OnnxTeacher.load(onnx);
    counting = {
      scoreCandidates: (features: Csr, examples: Int32Array, candidates: Csr, opts) => {
        calls.push({ rows: examples.length, pairs: candidates.indptr[candidates.rows] - candidates.indptr[0] });
        return teacher.scoreCandidates(features, examples, candidates, opts);
      },
    };
  });

  afterAll(async () => {
    await teacher?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs each row once and gives the scores of separate calls bit for bit', async () => {
    const N = train.features.rows;
    const examples = Int32Array.from({ length: N }, (_, i) => i);
    const pool = randomPool(train, 3);
    const poolPairs = pool.labels.filter((y) => y >= 0).length;
    const alonePositives = await teacher.scoreCandidates(train.features, examples, train.labels);
    const alonePool = await teacher.scoreCandidates(train.features, examples, poolAsCsr(pool, N, train.labels.cols));

    calls.length = 0;
    const cache = new TeacherScoreCache(N);
    const scored = await scorePositivesAndPool(counting, cache, train, pool);
    expect(calls).toEqual([{ rows: N, pairs: train.labels.indices.length + poolPairs }]);
    expect(scored.newlyScored).toBe(train.labels.indices.length + poolPairs);
    expect(Buffer.from(scored.positiveScores.buffer).equals(Buffer.from(alonePositives.buffer))).toBe(true);
    let p = 0;
    for (let i = 0; i < pool.labels.length; i++) {
      if (pool.labels[i] < 0) expect(pool.teacherScores![i]).toBe(0);
      else expect(pool.teacherScores![i]).toBe(alonePool[p++]);
    }

    // the next pool: the positives and the pairs both pools share come from the cache
    const next = randomPool(train, 4);
    const known = new Set<string>();
    for (let r = 0; r < N; r++) for (let k = 0; k < K; k++) if (pool.labels[r * K + k] >= 0) known.add(`${r}:${pool.labels[r * K + k]}`);
    let fresh = 0;
    for (let r = 0; r < N; r++) for (let k = 0; k < K; k++) if (next.labels[r * K + k] >= 0 && !known.has(`${r}:${next.labels[r * K + k]}`)) fresh++;
    calls.length = 0;
    const again = await scorePositivesAndPool(counting, cache, train, next);
    expect(again.newlyScored).toBe(fresh);
    expect(calls).toHaveLength(1);
    expect(calls[0].pairs).toBe(fresh);
    expect(Buffer.from(again.positiveScores.buffer).equals(Buffer.from(alonePositives.buffer))).toBe(true);
  });

  it('lays each row out as its positives, then its pool entries in pool order', () => {
    const pool = randomPool(train, 5);
    const both = positivesAndPoolAsCsr(train.labels, pool);
    const li = train.labels.indptr;
    for (const r of [0, 1, 3, train.features.rows - 1]) {
      const row = Array.from(both.indices.subarray(both.indptr[r], both.indptr[r + 1]));
      const expected = [...train.labels.indices.subarray(li[r], li[r + 1]), ...pool.labels.subarray(r * K, (r + 1) * K).filter((y) => y >= 0)];
      expect(row).toEqual(expected);
    }
    expect(both.cols).toBe(train.labels.cols);
  });
});
