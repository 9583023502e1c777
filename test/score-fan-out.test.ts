/**
 * The scoring stage of one job spread over worker processes (WORKER_SCORE_SHARD_PAIRS): chunks
 * of the pool's scoring become BullMQ children on the scores queue, any worker scores them, the
 * job puts their scores together. Against an in-process run of the same job: byte-identical
 * weights, equal metrics and pairs scored, also when a worker holding a chunk is SIGKILLed (the
 * chunk alone is retried; the job keeps its first run) and when the job's own worker is
 * SIGKILLed while it waits (the next run resumes from the mined pool; chunks scored already are taken
 * from their files, the rest asked for again).
 * Worker child processes on PostgreSQL and the shared Redis under a key prefix of their own.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrainJob, type TrainJobResult } from '../src/pipeline/train-job.js';
import { trainConfigOf } from '../src/worker/job-task.js';
import { closeFanOutEnv, openFanOutEnv, watchChunks, type FanOutEnv } from './support/fan-out-env.js';
import { addDataset, ofType, submit, waitFinalEvent, waitFor } from './support/jobs.js';
import { randomTeacherOnnx } from './support/random-teacher.js';
import { spawnWorker, type WorkerChild } from './support/worker-process.js';

const DATA = { points: 6000, testPoints: 300, features: 1000, labels: 200, seed: 23 };
/** 6000 × 24 pool pairs in chunks of about 12 000: a dozen children per pool. */
const SHARD_PAIRS = 12_000;
/** Re-mining before epoch 3: a second pool, whose new pairs fan out again. */
const PARAMS = { dim: 16, epochs: 3, remineEvery: 2, poolSize: 24, hardNegatives: 8, alpha: 0.5, threads: 1 };

describe('scoring fanned out to worker processes as BullMQ children', () => {
  let env: FanOutEnv;
  let datasetId: string;
  let teacherId: string;
  let baseline: TrainJobResult;
  let baselineWeights: Buffer;
  let workers: WorkerChild[] = [];
  const all: WorkerChild[] = [];

  const startWorker = (): WorkerChild => {
    const w = spawnWorker({ ...env.workerEnv, WORKER_LOCK_MS: '1500' });
    all.push(w);
    return w;
  };

  beforeAll(async () => {
    env = await openFanOutEnv('sfo', SHARD_PAIRS);
    const { repo, store } = env;
    workers = [startWorker(), startWorker()];
    datasetId = await addDataset(repo, store, DATA);
    const onnx = randomTeacherOnnx({ inputDim: DATA.features, hiddenDim: 64, numLabels: DATA.labels, seed: 8 });
    teacherId = randomUUID();
    const teacherKey = `teachers/${teacherId}/teacher.onnx`;
    await store.putBytes(teacherKey, onnx);
    await repo.createTeacher({ id: teacherId, name: 'random', key: teacherKey, kind: 'scores', numLabels: DATA.labels, sizeBytes: onnx.length, jobId: null, datasetId: null, metrics: null });

    // the same job scored in-process (no fan-out)
    const ds = (await repo.getDataset(datasetId))!;
    const baseDir = join(env.dataDir, 'baseline');
    baseline = await runTrainJob({ trainPath: store.pathOf(ds.trainKey), testPath: store.pathOf(ds.testKey!), teacherPath: store.pathOf(teacherKey), outDir: baseDir, config: trainConfigOf(PARAMS, true), cacheDir: false });
    baselineWeights = await readFile(join(baseDir, 'weights.safetensors'));
    for (const w of workers) await w.ready();
  }, 120_000);

  afterAll(async () => {
    for (const w of all) await w.kill();
    await closeFanOutEnv(env);
  });

  /** The finished job equals the in-process run: weights byte for byte, metrics, pairs scored once each. */
  async function expectSameAsInProcess(id: string, output: () => string): Promise<void> {
    const job = await waitFinalEvent(env.repo, id, 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${output()}`);
    });
    expect(job.status, output()).toBe('completed');
    const events = await env.repo.listJobEvents(id);
    const [metrics] = ofType(events, 'metrics');
    expect(metrics.pairsScored, 'every pair scored once').toBe(baseline.pairsScored);
    expect(ofType(events, 'epoch').map((d) => [d.epoch, d.loss, d.kl])).toEqual(baseline.epochs.map((e) => [e.epoch, e.loss, e.kl]));
    const model = (await env.repo.getModel(job.modelId!))!;
    expect((await readFile(join(env.store.pathOf(model.key), 'weights.safetensors'))).equals(baselineWeights), 'weights equal the in-process run').toBe(true);
  }

  /** The worker holding the job, once its `running` event names it. */
  async function holderOf(id: string): Promise<WorkerChild> {
    return waitFor('the job to start', async () => {
      const running = ofType(await env.repo.listJobEvents(id), 'status').filter((d) => d.status === 'running').at(-1);
      return workers.find((w) => w.name === running?.worker);
    }, 60_000, 20);
  }

  it('fans out, and equals the in-process run bit for bit', async () => {
    const id = await submit(env.repo, env.queue, { datasetId, teacherId, params: PARAMS });
    const holder = await holderOf(id);
    const done = expectSameAsInProcess(id, () => workers.map((w) => w.output()).join('\n'));
    // chunks taken by both processes, the job's own and the other one
    const { children, takers } = await watchChunks(env, id);
    await done;
    expect(children.size, 'chunks ran as children').toBeGreaterThan(4);
    expect(takers.has(holder.name), 'the job\'s own worker scored chunks while the job waited').toBe(true);
    expect([...takers].some((t) => t !== holder.name), 'the other worker scored chunks').toBe(true);
    const logs = ofType(await env.repo.listJobEvents(id), 'status').map((d) => d.status);
    expect(logs).toEqual(['running', 'completed']);
  }, 120_000);

  it('a worker SIGKILLed while it holds a chunk: the chunk alone is retried, nothing lost or counted twice', async () => {
    const id = await submit(env.repo, env.queue, { datasetId, teacherId, params: PARAMS });
    const holder = await holderOf(id);
    const other = workers.find((w) => w !== holder)!;
    const held = await waitFor('the other worker to hold a chunk', async () => (await env.scores.getActive()).find((j) => j.processedBy === other.name && j.data.jobId === id), 60_000, 10);
    await other.kill();
    workers = [holder, startWorker()];
    await expectSameAsInProcess(id, () => all.map((w) => w.output()).join('\n'));
    // the job's own run never stopped: one start, no takeover
    const job = (await env.repo.getJob(id))!;
    expect(job.attempts).toBe(1);
    expect(ofType(await env.repo.listJobEvents(id), 'status').map((d) => d.status)).toEqual(['running', 'completed']);
    expect(held.data.name).toMatch(/-c\d+of\d+$/);
  }, 120_000);

  it('the job\'s own worker SIGKILLed while it waits for chunks: the next run resumes the scoring and ends equal', async () => {
    for (const w of workers) await w.ready();
    const id = await submit(env.repo, env.queue, { datasetId, teacherId, params: PARAMS });
    const holder = await holderOf(id);
    await waitFor('a chunk to be out', async () => (await env.scores.getActive()).some((j) => j.data.jobId === id), 60_000, 10);
    await holder.kill();
    workers = [workers.find((w) => w !== holder)!, startWorker()];
    await expectSameAsInProcess(id, () => all.map((w) => w.output()).join('\n'));
    const statuses = ofType(await env.repo.listJobEvents(id), 'status').map((d) => d.status);
    expect(statuses).toEqual(['running', 'running', 'completed']);
  }, 120_000);
});
