/**
 * The queue worker against real Redis and a real database: in-process workers on PGlite. Each
 * test has its own BullMQ prefix, obliterated afterwards. Worker processes killed with SIGKILL:
 * faults-worker.test.ts; Redis restarted or emptied: faults-redis.test.ts.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError } from '../src/core/util/errors.js';
import { FileCheckpointStore } from '../src/pipeline/checkpoint.js';
import { silentProgress } from '../src/pipeline/progress.js';
import { runTrainJob } from '../src/pipeline/train-job.js';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { checkpointKey, trainConfigOf } from '../src/worker/job-task.js';
import { MAX_JOB_STARTS } from '../src/worker/job-runner.js';
import { reconcile } from '../src/worker/queue-reconciler.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { addDataset, ofType, sleep, submit, waitFinal, waitFor } from './support/jobs.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const connection = redisConnectionFromUrl(REDIS_URL);

describe('worker in-process (PGlite)', () => {
  let dataDir: string;
  let db: Database;
  let repo: PrismaRepository;
  let store: FsArtifactStore;
  let small: string;
  let prefix: string;
  let queue: BullJobQueue;
  let worker: RunningWorker | null = null;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-worker-'));
    db = await openDatabase({ databaseUrl: null, dataDir });
    repo = new PrismaRepository(db.prisma);
    store = new FsArtifactStore(join(dataDir, 'artifacts'));
    small = await addDataset(repo, store, { points: 4000, testPoints: 400, features: 600, labels: 80, seed: 4 });
  });

  afterAll(async () => {
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const start = async (): Promise<void> => {
    prefix = `wt-${randomUUID().slice(0, 8)}`;
    queue = new BullJobQueue(connection, { prefix });
    worker = await startWorker({ repo, store, connection, concurrency: 1, lockMs: 2000, prefix, runner: { cacheDir: false }, log: () => undefined });
  };

  afterEach(async () => {
    await worker?.close();
    worker = null;
    await queue.queue.obliterate({ force: true });
    await queue.close();
  });

  it('runs a train job queued → running → completed, with a model, metrics and ordered events', async () => {
    await start();
    const id = await submit(repo, queue, { datasetId: small, params: { dim: 16, epochs: 3, poolSize: 12, hardNegatives: 6, remineEvery: 2 } });
    const job = await waitFinal(repo, id, 30_000);
    expect(job).toMatchObject({ status: 'completed', progress: 1, attempts: 1, error: null, stage: null });
    expect(job.params).toEqual({ dim: 16, epochs: 3, poolSize: 12, hardNegatives: 6, remineEvery: 2 });
    expect((job.metrics as Record<string, number>)['p@1']).toBeGreaterThan(0.2);

    const model = await repo.getModel(job.modelId!);
    expect(model).toMatchObject({ jobId: id, datasetId: small, teacherId: null, key: `models/${job.modelId}` });
    expect(model!.config).toMatchObject({ dim: 16, epochs: 3, alpha: 0 }); // no teacher: alpha forced to 0
    expect(existsSync(join(store.pathOf(model!.key), 'weights.safetensors'))).toBe(true);
    // the checkpoint is removed right after the job is marked completed
    await waitFor('the checkpoint to be removed', async () => !existsSync(store.pathOf(checkpointKey(id))), 5_000);

    const events = await repo.listJobEvents(id);
    expect(ofType(events, 'status').map((d) => d.status)).toEqual(['running', 'completed']);
    expect(ofType(events, 'stage').map((d) => d.stage)).toEqual(['preparing', 'mining', 'training', 'mining', 'training', 'evaluating', 'publishing']);
    expect(ofType(events, 'epoch').map((d) => d.epoch)).toEqual([1, 2, 3]);
    expect(ofType(events, 'metrics')[0]).toMatchObject({ 'p@1': job.metrics!['p@1'], epochs: 3 });
    expect(events.at(-1)!.type).toBe('status');
  });

  it('fits a teacher, then distils it into a student', async () => {
    await start();
    const fitId = await submit(repo, queue, { kind: 'teacher-fit', datasetId: small, params: { folds: 2, maxPasses: 5 } });
    const fit = await waitFinal(repo, fitId, 30_000);
    expect(fit.status).toBe('completed');
    const teacher = await repo.getTeacher(fit.resultTeacherId!);
    expect(teacher).toMatchObject({ jobId: fitId, datasetId: small, kind: 'scores', numLabels: 80 });
    expect(teacher!.sizeBytes).toBeGreaterThan(0);

    const id = await submit(repo, queue, { datasetId: small, teacherId: teacher!.id, params: { dim: 16, epochs: 2, alpha: 0.5, poolSize: 12, hardNegatives: 6 } });
    const job = await waitFinal(repo, id, 30_000);
    expect(job.status).toBe('completed');
    const model = await repo.getModel(job.modelId!);
    expect(model!.config).toMatchObject({ alpha: 0.5 });
    expect(model!.teacherMetrics).toMatchObject({ ece: expect.any(Number) });
    expect(ofType(await repo.listJobEvents(id), 'stage').map((d) => d.stage)).toContain('scoring');
  });

  it('cancels a running job at the next batch boundary', async () => {
    await start();
    const id = await submit(repo, queue, { datasetId: small, params: { dim: 16, epochs: 500, remineEvery: 0 } });
    await waitFor('the first epoch', async () => (await repo.listJobEvents(id, { types: ['epoch'] })).length > 0, 30_000);
    expect((await repo.getJob(id))!.status).toBe('running');
    await repo.requestCancel(id);
    const job = await waitFinal(repo, id, 5_000);
    expect(job.status).toBe('cancelled');
    expect(job.modelId).toBeNull();
    expect(ofType(await repo.listJobEvents(id), 'status').map((d) => d.status)).toEqual(['running', 'cancelled']);
    expect(await (await queue.queue.getJob(id))!.getState()).toBe('completed'); // nothing left to retry
  });

  it('a worker shutting down returns its running job to the queue; the next worker resumes it', async () => {
    await start();
    const id = await submit(repo, queue, { datasetId: small, params: { dim: 16, epochs: 500, remineEvery: 0 } });
    await waitFor('the first epoch', async () => (await repo.listJobEvents(id, { types: ['epoch'] })).length > 0, 30_000);
    await worker!.close();
    worker = null;
    expect((await repo.getJob(id))!).toMatchObject({ status: 'queued', attempts: 0 }); // a shutdown gives its start back
    expect(await (await queue.queue.getJob(id))!.getState()).toBe('waiting');

    worker = await startWorker({ repo, store, connection, concurrency: 1, lockMs: 2000, prefix, runner: { cacheDir: false }, log: () => undefined });
    const resumed = await waitFor(
      'the resumption',
      async () => (await repo.listJobEvents(id, { types: ['log'] })).find((e) => /resumed from checkpoint after epoch [1-9]/.test(String(e.data.message))),
      30_000,
    );
    expect(resumed).toBeDefined();
    await repo.requestCancel(id);
    expect((await waitFinal(repo, id, 5_000)).status).toBe('cancelled');
    expect(ofType(await repo.listJobEvents(id), 'status').map((d) => d.status)).toEqual(['running', 'running', 'cancelled']);
  });

  it('re-enqueues unfinished jobs from the database when its Redis connection comes back', async () => {
    await start();
    // a job Redis lost (restarted empty): only the database knows it
    const id = randomUUID();
    await repo.createJob({ id, kind: 'train', datasetId: small, teacherId: null, params: { dim: 8, epochs: 1, remineEvery: 0 } });
    await sleep(300);
    expect(await queue.queue.getJob(id)).toBeUndefined();
    const redis = new Redis(REDIS_URL);
    try {
      const list = String(await redis.call('CLIENT', 'LIST'));
      const ids = [...list.matchAll(/id=(\d+) [^\n]* name=([^ ]+)/g)].filter((m) => m[2].startsWith(`${prefix}:`)).map((m) => m[1]);
      expect(ids.length).toBeGreaterThan(0);
      for (const cid of ids) await redis.call('CLIENT', 'KILL', 'ID', cid);
    } finally {
      await redis.quit();
    }
    expect((await waitFinal(repo, id, 20_000)).status).toBe('completed');
  });

  it('records the epochs a checkpoint holds but the database lacks (a worker killed between saving and reporting)', async () => {
    await start();
    const params = { dim: 8, epochs: 3, poolSize: 12, hardNegatives: 6, remineEvery: 0 };
    const id = randomUUID();
    await repo.createJob({ id, kind: 'train', datasetId: small, teacherId: null, params });
    // what a worker killed right after saving epoch 2 leaves behind: its checkpoint, no epoch events
    const ds = (await repo.getDataset(small))!;
    let epochsDone = 0;
    const first = runTrainJob(
      { trainPath: store.pathOf(ds.trainKey), config: trainConfigOf(params, false), cacheDir: false, checkpoints: new FileCheckpointStore(store.pathOf(checkpointKey(id))), shouldStop: () => epochsDone >= 2 },
      { ...silentProgress, epoch: (e) => (epochsDone = e.epoch) },
    );
    await expect(first).rejects.toBeInstanceOf(CancelledError);
    expect(await repo.listJobEvents(id, { types: ['epoch'] })).toEqual([]);

    await queue.enqueue({ jobId: id, kind: 'train' });
    expect((await waitFinal(repo, id, 30_000)).status).toBe('completed');
    const events = await repo.listJobEvents(id);
    expect(ofType(events, 'log').some((d) => d.message === 'resumed from checkpoint after epoch 2')).toBe(true);
    expect(ofType(events, 'epoch').map((d) => [d.epoch, d.fromCheckpoint === true])).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
  });

  it('fails a job for good once it has been started MAX_JOB_STARTS times without finishing (a job that kills its worker)', async () => {
    await start();
    const id = randomUUID();
    await repo.createJob({ id, kind: 'train', datasetId: small, teacherId: null, params: { dim: 8, epochs: 1 } });
    // what MAX_JOB_STARTS crashed runs leave behind: the row's start count, the job put back by reconcile
    await repo.updateJob(id, { attempts: MAX_JOB_STARTS });
    await queue.enqueue({ jobId: id, kind: 'train' });
    const job = await waitFinal(repo, id, 20_000);
    expect(job).toMatchObject({ status: 'failed', attempts: MAX_JOB_STARTS, modelId: null });
    expect(job.error).toMatch(new RegExp(`gave up after ${MAX_JOB_STARTS} starts`));
    expect(await (await queue.queue.getJob(id))!.getState()).toBe('failed'); // not retried by BullMQ
    expect(await reconcile(repo, queue)).toBe(0); // nor put back: the database says it is final
  });

  it('retries other errors with backoff and marks the job failed on the last attempt', async () => {
    await start();
    const teacherId = randomUUID();
    // a teacher whose file is missing (a volume not mounted yet): not bad input, worth retrying
    await repo.createTeacher({ id: teacherId, name: 'gone', key: `teachers/${teacherId}/teacher.onnx`, kind: 'scores', numLabels: 80, sizeBytes: 1, jobId: null, datasetId: null, metrics: null });
    const retrying = new BullJobQueue(connection, { prefix, attempts: 2, backoffMs: 50 });
    const id = randomUUID();
    await repo.createJob({ id, kind: 'train', datasetId: small, teacherId, params: { dim: 8, epochs: 1 } });
    await retrying.enqueue({ jobId: id, kind: 'train' });
    await retrying.close();
    const job = await waitFinal(repo, id, 20_000);
    expect(job).toMatchObject({ status: 'failed', attempts: 2 });
    expect(job.error).toMatch(/ENOENT/);
    const events = await repo.listJobEvents(id);
    expect(ofType(events, 'status').map((d) => d.status)).toEqual(['running', 'running', 'failed']);
    expect(ofType(events, 'log').some((d) => /attempt 1 of 2 failed, retrying/.test(String(d.message)))).toBe(true);
  });

  it('fails a job with a malformed dataset at once, naming file and line, without retrying', async () => {
    await start();
    const dsId = randomUUID();
    const trainKey = `datasets/${dsId}/train.txt`;
    await store.putBytes(trainKey, new TextEncoder().encode('3 4 2\n0 0:1.0 1:0.5\n1 2:1\n0,1 3:oops\n'));
    const stats = { points: 3, features: 4, labels: 2, labelsPerPoint: 1, pointsPerLabel: 1, nnzPerPoint: 1 };
    await repo.createDataset({ id: dsId, name: 'bad', format: 'xc', trainKey, testKey: null, stats, testStats: null });
    const id = await submit(repo, queue, { datasetId: dsId, params: { epochs: 2 } });
    const job = await waitFinal(repo, id, 15_000);
    expect(job.status).toBe('failed');
    expect(job.attempts).toBe(1);
    // named by dataset id, not by the server's path of the file
    expect(job.error).toContain(`dataset ${dsId} (train):4`);
    expect(job.error).not.toContain(store.pathOf(trainKey));
    const entry = await waitFor('BullMQ to record the failure', async () => {
      const e = await queue.queue.getJob(id);
      return e && (await e.getState()) === 'failed' ? e : null;
    }, 5_000);
    expect(entry.attemptsMade).toBe(1);
    expect(ofType(await repo.listJobEvents(id), 'status')).toEqual([expect.objectContaining({ status: 'running' }), { status: 'failed', error: job.error }]);
  });
});
