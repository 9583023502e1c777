/**
 * A training job with a text-teacher bundle: its scores go through the per-(example, label)
 * cache, which is part of the checkpoint, so a job stopped and resumed scores no pair twice and
 * ends where an uninterrupted one does.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../src/core/util/errors.js';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';
import { FileCheckpointStore } from '../src/pipeline/checkpoint.js';
import { runTrainJob } from '../src/pipeline/train-job.js';

const MINI = resolve('test/fixtures/text-mini');

describe('runTrainJob with a text teacher', () => {
  let dir: string;
  // threads 1: a resumed run is compared bit for bit with an uninterrupted one
  const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, dim: 16, epochs: 4, remineEvery: 2, poolSize: 12, hardNegatives: 6, alpha: 0.5, batchSize: 64, threads: 1 };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-text-job-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(['classifier', 'bi-encoder'])('%s: resumes from its checkpoint without scoring a pair twice', async (kind) => {
    const base = { trainPath: join(MINI, 'train.jsonl'), testPath: join(MINI, 'test.jsonl'), teacherPath: resolve('test/fixtures/text-teachers', kind), config, cacheDir: false as const };
    const straight = await runTrainJob({ ...base, outDir: join(dir, kind, 'straight') });
    expect(straight.pairsScored).toBeGreaterThan(0);
    expect(straight.teacherMetrics?.['p@1']).toBeGreaterThan(0);

    const store = new FileCheckpointStore(join(dir, kind, 'ckpt', 'state.bin'));
    let batches = 0;
    const stopAt = Math.ceil(299 / config.batchSize) * 2 + 2; // in epoch 3, after the re-mining
    await expect(runTrainJob({ ...base, outDir: join(dir, kind, 'resumed'), checkpoints: store, shouldStop: () => ++batches > stopAt })).rejects.toBeInstanceOf(CancelledError);

    const logs: string[] = [];
    const resumed = await runTrainJob({ ...base, outDir: join(dir, kind, 'resumed'), checkpoints: store }, { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m) => logs.push(m) });
    expect(logs.some((m) => /resumed from checkpoint after epoch 2/.test(m))).toBe(true);
    expect(resumed.pairsScored).toBe(straight.pairsScored);
    expect(resumed.metrics).toEqual(straight.metrics);
    const a = await readFile(join(dir, kind, 'straight', 'weights.safetensors'));
    const b = await readFile(join(dir, kind, 'resumed', 'weights.safetensors'));
    expect(a.equals(b)).toBe(true);
  }, 120_000);

  it('--auto searches with a text teacher: every trial scores its own slice of the texts', async () => {
    const logs: string[] = [];
    const r = await runTrainJob(
      { trainPath: join(MINI, 'train.jsonl'), testPath: join(MINI, 'test.jsonl'), teacherPath: resolve('test/fixtures/text-teachers/classifier'), config: DEFAULT_TRAIN_CONFIG, cacheDir: false, auto: { budgetSeconds: 300 }, outDir: join(dir, 'auto') },
      { stage: () => undefined, progress: () => undefined, epoch: () => undefined, log: (m) => logs.push(m) },
    );
    const auto = r.auto!;
    expect(auto.family).toBe('random start'); // a bundle has no sparse weights to start from
    expect(auto.teacherStartEnergy).toBeNull();
    expect(auto.trials.map((t) => t.settings.alpha)).toEqual([0, 0.5, 0.5, 1]);
    for (const t of auto.trials) expect(t.heldOutP1).toBeGreaterThan(0);
    // distilled trials differ from the α=0 one: the teacher's scores reached them
    expect(new Set(auto.trials.map((t) => t.heldOutP1)).size).toBeGreaterThan(1);
    expect(r.config).toMatchObject(auto.chosen);
    expect(r.pairsScored > 0).toBe((auto.chosen.alpha ?? 0) > 0); // the teacher scores only for a distilled choice
    expect(logs.some((m) => /^auto: random start/.test(m))).toBe(true);
    // a text teacher's trials run one at a time: trial threads would each score through the transformer
    expect(logs.some((m) => /^auto: 4 candidates .*budget 300 s$/.test(m))).toBe(true);
  }, 300_000);
});
