/**
 * A search's first pool and its scores made by one trial thread and taken by the others
 * (trial-prepare.ts): a trial that takes them trains exactly as one that mines and scores its own,
 * and pays for no pair of them.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrBuilder } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';
import { Rng } from '../src/core/util/rng.js';
import { AUTO_TEACHER_START } from '../src/pipeline/auto-tune.js';
import { runTrainJob, trialJobInput, trialOutcome } from '../src/pipeline/train-job.js';
import { newTrialMemo, type TrialSlices } from '../src/pipeline/trial-pool.js';
import { adoptFirstPool, prepareFirstPool } from '../src/pipeline/trial-prepare.js';
import { TEMPERATURE_KEY } from '../src/teacher/onnx-export.js';
import { randomSparse } from './support/random-sparse.js';
import { exportSparseLinearOnnx } from '../src/teacher/sparse-linear-onnx.js';
import { SparseLinearModel } from '../src/teacher/sparse-linear-model.js';

const D = 300;
const L = 30;
const rng = new Rng(9);
function rows(n: number): Dataset {
  const b = new CsrBuilder(false);
  for (let r = 0; r < n; r++) {
    const first = rng.int(L);
    // every third row has a second label
    const labels = r % 3 === 0 ? [first, (first + 1 + rng.int(L - 1)) % L].sort((x, y) => x - y) : [first];
    for (const y of labels) b.push(y, 1);
    b.endRow();
  }
  return { features: randomSparse(rng, n, D, 6), labels: b.build(L), source: 'synthetic' };
}

describe('the first pool made once for every trial thread', () => {
  let dir: string;
  let slices: TrialSlices;
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, poolSize: 16, threads: 1, dim: 32, ...AUTO_TEACHER_START.base, ...AUTO_TEACHER_START.candidates[0], epochs: 2 };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-prepare-'));
    const teacherPath = join(dir, 'teacher.onnx');
    const model = new SparseLinearModel(D, L, randomSparse(rng, L, D, 20), Float32Array.from({ length: L }, () => rng.normal() * 0.1));
    await writeFile(teacherPath, exportSparseLinearOnnx(model, [{ key: TEMPERATURE_KEY, value: '0.5' }]));
    slices = { trainPath: 'synthetic', teacherPath, train: rows(300), heldOut: rows(60) };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('gives a thread that takes it the same trial, with no pair scored again', async () => {
    const maker = newTrialMemo();
    const prepared = await prepareFirstPool(slices, config, maker);
    expect(prepared).not.toBeNull();
    expect(prepared!.temperature).toBe(0.5); // the teacher's calibration temperature, as the trials divide by
    const taker = newTrialMemo();
    adoptFirstPool(taker, structuredClone(prepared!)); // as posted between threads
    const own = await runTrainJob(trialJobInput(slices, config, newTrialMemo()));
    const adopted = await runTrainJob(trialJobInput(slices, config, taker));
    const made = await runTrainJob(trialJobInput(slices, config, maker));
    expect(own.pairsScored).toBeGreaterThan(0);
    // a trial's per-row top-1 hits, for the search's paired comparisons: their mean is its P@1
    const hits = trialOutcome(own).hits!;
    expect(hits).toHaveLength(slices.heldOut.features.rows);
    expect(hits.reduce((n, h) => n + h, 0) / hits.length).toBeCloseTo(trialOutcome(own).p1, 12);
    for (const r of [adopted, made]) {
      expect(r.pairsScored).toBe(0);
      expect(trialOutcome(r).p1).toBe(trialOutcome(own).p1);
      expect(r.epochs.map((e) => e.loss)).toEqual(own.epochs.map((e) => e.loss));
    }
  });

  it('makes nothing for a trial that mines no pool or scores no pair', async () => {
    expect(await prepareFirstPool(slices, { ...config, alpha: 0 }, newTrialMemo())).toBeNull();
    expect(await prepareFirstPool(slices, { ...config, hardNegatives: 0 }, newTrialMemo())).toBeNull();
  });
});
