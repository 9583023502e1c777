import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, DistilxrError } from '../src/core/util/errors.js';
import { writeSynth } from '../src/core/data/synth.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { DEFAULT_TEACHER_FIT, teacherFitConfigOf } from '../src/pipeline/teacher-fit-config.js';
import { resultIdFor, trainConfigOf } from '../src/worker/job-task.js';
import { ProgressTracker } from '../src/worker/progress-tracker.js';
import { STOP_CANCEL, type TrainTask } from '../src/worker/thread-protocol.js';
import { startPipelineThread, type ThreadEvent } from '../src/worker/thread-runner.js';

describe('pipeline thread', () => {
  let dir: string;
  let files: { train: string; test: string };
  const task = (over: Partial<TrainTask> = {}): TrainTask => ({
    kind: 'train',
    trainPath: files.train,
    testPath: files.test,
    outDir: join(dir, 'model'),
    config: { ...DEFAULT_TRAIN_CONFIG, dim: 16, epochs: 3, poolSize: 12, hardNegatives: 6, alpha: 0, remineEvery: 0 },
    cacheDir: false,
    checkpointPath: join(dir, 'ckpt', 'train.bin'),
    ...over,
  });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-thread-'));
    files = await writeSynth(join(dir, 'data'), { points: 1200, testPoints: 200, features: 300, labels: 40, seed: 5 });
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs a training job off the main thread and reports stages, epochs and progress', async () => {
    const events: ThreadEvent[] = [];
    const t = startPipelineThread(task(), new SharedArrayBuffer(4), (e) => events.push(e));
    const result = (await t.result) as { metrics?: Record<string, number>; epochs: unknown[]; modelDir?: string };
    expect(result.epochs).toHaveLength(3);
    expect(result.metrics!['p@1']).toBeGreaterThan(0.2);
    expect(result.modelDir).toBe(join(dir, 'model'));
    const stages = events.filter((e) => e.type === 'stage').map((e) => (e as { stage: string }).stage);
    expect(stages[0]).toBe('preparing');
    expect(stages).toContain('training');
    expect(stages.at(-1)).toBe('publishing');
    expect(events.filter((e) => e.type === 'epoch')).toHaveLength(3);
    expect(events.some((e) => e.type === 'progress')).toBe(true);
  });

  it('stops at a batch boundary when the shared flag is set, and rebuilds our error classes', async () => {
    const stop = new SharedArrayBuffer(4);
    const t = startPipelineThread(task({ config: { ...task().config, epochs: 50 }, checkpointPath: join(dir, 'ckpt2', 'train.bin') }), stop, (e) => {
      if (e.type === 'epoch' && e.stats.epoch === 1) Atomics.store(new Int32Array(stop), 0, STOP_CANCEL);
    });
    await expect(t.result).rejects.toBeInstanceOf(CancelledError);

    const bad = join(dir, 'bad.txt');
    await writeFile(bad, '2 3 2\n0,1 0:1.0 2:0.5\n1 7:nope\n');
    const t2 = startPipelineThread(task({ trainPath: bad, testPath: undefined }), new SharedArrayBuffer(4), () => undefined);
    const err = await t2.result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DistilxrError);
    expect((err as Error).name).toBe('DataFormatError');
    expect((err as Error).message).toContain(`${bad}:3`);
  });
});

describe('job settings', () => {
  it('merges params over the defaults, applies the no-teacher rule, and names bad fields', () => {
    // the API's rule (withoutTeacher): alpha 0 without a teacher, an alpha above 0 refused
    expect(trainConfigOf({ dim: 8 }, false)).toEqual({ ...DEFAULT_TRAIN_CONFIG, dim: 8, alpha: 0 });
    expect(trainConfigOf({ dim: 8, alpha: 0 }, false)).toEqual({ ...DEFAULT_TRAIN_CONFIG, dim: 8, alpha: 0 });
    expect(() => trainConfigOf({ dim: 8, alpha: 0.7 }, false)).toThrow(/params\.alpha is 0\.7 but no teacherId was given/);
    expect(trainConfigOf({ dim: 8, alpha: 0.7 }, true).alpha).toBe(0.7);
    expect(() => trainConfigOf({ dim: 0 }, true)).toThrow(/dim must be an integer/);
    expect(() => trainConfigOf({ epochs: 'ten' }, true)).toThrow(/epochs must be a number/);
    expect(() => teacherFitConfigOf({ C: 0 })).toThrow(/C must be in \(0, 1000\], got 0/);
    expect(teacherFitConfigOf({ folds: 2 })).toEqual({ ...DEFAULT_TEACHER_FIT, folds: 2 });
  });

  it('derives one result id per job, the same on every attempt', () => {
    expect(resultIdFor('model', 'j1')).toBe(resultIdFor('model', 'j1'));
    expect(resultIdFor('model', 'j1')).not.toBe(resultIdFor('teacher', 'j1'));
    expect(resultIdFor('model', 'j1')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('ProgressTracker', () => {
  it('weights stages over the whole job, advances training by epochs and never goes back', () => {
    const t = new ProgressTracker(4);
    t.onStage('preparing');
    t.onProgress(1, 2, undefined, 0);
    expect(t.snapshot(0).progress).toBeCloseTo(0.01);
    t.onStage('mining');
    t.onStage('scoring');
    t.onProgress(1, 1, undefined, 0);
    expect(t.snapshot(0).progress).toBeCloseTo(0.12);
    t.onStage('training');
    t.onProgress(0, 100, { epoch: 2, epochs: 4 }, 0); // resumed after epoch 1
    expect(t.snapshot(0).progress).toBeCloseTo(0.32);
    t.onProgress(50, 100, { epoch: 2, epochs: 4 }, 1000);
    const s = t.snapshot(1000);
    expect(s.progress).toBeCloseTo(0.42);
    expect(s.examplesPerSecond).toBe(50);
    // 0.1 of the job in 1 s from the resume point: 0.58 left takes ~6 s
    expect(s.etaSeconds).toBe(6);
    t.onStage('mining'); // re-mining between epochs
    expect(t.snapshot(1000).progress).toBeCloseTo(0.42);
    t.onStage('publishing');
    t.onProgress(1, 1, undefined, 2000);
    expect(t.snapshot(2000)).toMatchObject({ progress: 1, etaSeconds: 0 });
  });
});
