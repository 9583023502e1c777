/**
 * Redis faults: a private redis-server (nothing on disk, like the deployment) is crashed and
 * restarted empty, or emptied with FLUSHALL, while a job runs. The database is the source of
 * truth: the worker re-enqueues what Redis lost, the job resumes from its checkpoint, and it ends
 * exactly as an undisturbed run of the same job (same settings and seed) ends. The API answers 503
 * while Redis is down (a job submitted then leaves no row and never runs) and recovers by itself.
 *
 * In-process API (app.inject) and worker on PostgreSQL (own schema; opening PGlite costs seconds);
 * the worker's pipeline runs in its own thread.
 * Clients reconnect every 100 ms (BullMQ's default waits at least a second) so the loss is noticed
 * well before the job could finish on a fast machine.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/util/rng.js';
import type { EpochStats } from '../src/core/model/trainer.js';
import { buildApp } from '../src/service/app.js';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { loadConfig } from '../src/infra/config.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';
import { trainConfigOf } from '../src/worker/job-task.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { addDataset, ofType, waitFinal, waitFinalEvent, waitFor } from './support/jobs.js';
import { redisServerUnavailable, startRedisServer, type RedisServer } from './support/redis-server.js';

const DATA = { points: 3000, testPoints: 300, features: 600, labels: 80, seed: 21 };
/**
 * Long enough (tens of batches per epoch, 30 epochs) to be still training when the loss is noticed, even on a fast machine;
 * one thread, so the resumed job can be compared bit for bit with an undisturbed one.
 */
const PARAMS = { dim: 16, epochs: 30, poolSize: 12, hardNegatives: 6, remineEvery: 0, threads: 1 };
/**
 * Locks live 2 s (slack for an event loop slowed by a loaded machine: a lock that lapses would
 * hand a healthy job to a second run) but are renewed every 250 ms, so a lock that FLUSHALL
 * removed is noticed within about that long.
 */
const LOCK_MS = 2000;
const LOCK_RENEW_MS = 250;

const epochFacts = (e: Record<string, unknown> | EpochStats): Record<string, unknown> => ({ epoch: e.epoch, loss: e.loss, ce: e.ce, kl: e.kl, examples: e.examples });

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';

describe.skipIf(redisServerUnavailable())('Redis restarted or emptied mid-job (private redis-server)', () => {
  const schema = `faults_redis_${randomUUID().slice(0, 8)}`;
  let redis: RedisServer;
  let dataDir: string;
  let db: Database;
  let repo: PrismaRepository;
  let store: FsArtifactStore;
  let connection: ConnectionOptions;
  let queue: BullJobQueue;
  let app: FastifyInstance;
  let worker: RunningWorker;
  const logs: string[] = [];
  let datasetId: string;
  /** The undisturbed run: the job queued behind the one disturbed by FLUSHALL, which never ran before it. */
  let reference: { epochs: Record<string, unknown>[]; metrics: Record<string, unknown>; weights: Buffer } | null = null;

  beforeAll(async () => {
    redis = await startRedisServer();
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-faults-redis-'));
    db = await openDatabase({ databaseUrl: `${PG_URL}?schema=${schema}`, dataDir });
    repo = new PrismaRepository(db.prisma);
    store = new FsArtifactStore(join(dataDir, 'artifacts'));
    datasetId = await addDataset(repo, store, DATA);
    connection = { ...redisConnectionFromUrl(redis.url), retryStrategy: () => 100 };
    queue = new BullJobQueue(connection, { pingTimeoutMs: 500 });
    app = await buildApp({ repo, store, queue, config: { ...loadConfig({}), dataDir, apiKeys: [] }, enqueueTimeoutMs: 1000 });
    worker = await startWorker({ repo, store, connection, concurrency: 1, lockMs: LOCK_MS, lockRenewMs: LOCK_RENEW_MS, reconcileMs: 1500, runner: { cacheDir: false }, log: (l) => logs.push(l) });
  }, 60_000);

  afterAll(async () => {
    await worker?.close();
    await app?.close();
    await queue?.close();
    await db?.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
    await redis?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const post = async (params: Record<string, unknown> = PARAMS): Promise<{ statusCode: number; id: string | undefined; body: Record<string, unknown> }> => {
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId, params } });
    const body = r.json() as Record<string, unknown>;
    return { statusCode: r.statusCode, id: body.id as string | undefined, body };
  };

  const startedTraining = (id: string): Promise<unknown> => waitFor('the first epoch', async () => (await repo.listJobEvents(id, { types: ['epoch'] })).length > 0, 30_000, 20);

  async function outcome(id: string): Promise<{ epochs: Record<string, unknown>[]; metrics: Record<string, unknown>; weights: Buffer }> {
    const job = (await repo.getJob(id))!;
    const model = (await repo.getModel(job.modelId!))!;
    expect(model).toMatchObject({ jobId: id, datasetId, config: trainConfigOf(PARAMS, false) });
    return {
      epochs: ofType(await repo.listJobEvents(id), 'epoch').map(epochFacts),
      metrics: job.metrics!,
      weights: await readFile(join(store.pathOf(model.key), 'weights.safetensors')),
    };
  }

  /** Resumed once from its checkpoint, every record kept once, and the result of the undisturbed run. */
  async function expectResumedAndUnchanged(id: string, undisturbed: () => Promise<NonNullable<typeof reference>>): Promise<void> {
    const job = await waitFinalEvent(repo, id, 60_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${logs.join('\n')}`);
    });
    expect(job, logs.join('\n')).toMatchObject({ status: 'completed', attempts: 2, error: null });
    const events = await repo.listJobEvents(id);
    expect(ofType(events, 'status').map((d) => d.status)).toEqual(['queued', 'running', 'running', 'completed']);
    const resumed = ofType(events, 'log').find((d) => /^resumed from checkpoint after epoch [1-9]/.test(String(d.message)));
    expect(resumed, 'the second run resumed from a checkpoint, not from scratch').toBeDefined();
    expect(ofType(events, 'metrics')).toHaveLength(1);
    const got = await outcome(id);
    const want = await undisturbed();
    expect(got.epochs.map((e) => e.epoch)).toEqual(Array.from({ length: PARAMS.epochs }, (_, i) => i + 1));
    expect(got.epochs).toEqual(want.epochs);
    expect(got.metrics).toEqual(want.metrics);
    expect(got.weights.equals(want.weights), 'published weights equal the undisturbed run').toBe(true);
  }

  it('FLUSHALL mid-training: the running job and the one queued behind it are re-enqueued; both complete, the first as if undisturbed', async () => {
    const a = await post();
    const b = await post();
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    await startedTraining(a.id!);
    expect(await (await queue.queue.getJob(b.id!))!.getState()).toBe('waiting'); // concurrency 1: behind the first
    await redis.flushAll();
    expect(await queue.queue.getJob(b.id!)).toBeUndefined();
    const undisturbed = async (): Promise<NonNullable<typeof reference>> => {
      expect(await waitFinal(repo, b.id!, 60_000)).toMatchObject({ status: 'completed', attempts: 1 });
      return (reference = await outcome(b.id!));
    };
    await expectResumedAndUnchanged(a.id!, undisturbed);
  });

  it('Redis crashes and comes back empty mid-training: the worker re-enqueues the job from the database and it resumes', async () => {
    const a = await post();
    expect(a.statusCode).toBe(202);
    await startedTraining(a.id!);
    await redis.kill();
    await redis.start();
    await expectResumedAndUnchanged(a.id!, async () => reference ?? Promise.reject(new Error('needs the undisturbed run of the FLUSHALL test')));
    // put back by the worker after the reconnect or after the job lost its lock, whichever came first
    expect(logs.some((l) => /^reconciled \(.*(after a Redis reconnect|lost its lock).*\): 1 job\(s\) re-enqueued/.test(l)), logs.join('\n')).toBe(true);
  });

  it('FLUSHALL while a job waits out a retry backoff (no lock, no reconnect to notice): the periodic reconcile puts it back', async () => {
    // a teacher whose file is not there yet (a volume not mounted): the first attempt fails and is retried later
    const teacherId = randomUUID();
    const teacherKey = `teachers/${teacherId}/teacher.onnx`;
    await repo.createTeacher({ id: teacherId, name: 'late', key: teacherKey, kind: 'scores', numLabels: DATA.labels, sizeBytes: 1, jobId: null, datasetId: null, metrics: null });
    const id = randomUUID();
    await repo.createJob({ id, kind: 'train', datasetId, teacherId, params: { ...PARAMS, epochs: 1, alpha: 0.5 } });
    const retrying = new BullJobQueue(connection, { attempts: 3, backoffMs: 60_000 });
    await retrying.enqueue({ jobId: id, kind: 'train' });
    await retrying.close();
    await waitFor('the first attempt to fail', async () => (await queue.queue.getJob(id))?.getState().then((s) => s === 'delayed'), 30_000);
    await redis.flushAll();
    expect(await queue.queue.getJob(id)).toBeUndefined();
    const rng = new Rng(3);
    const W1 = Float32Array.from({ length: DATA.features * 8 }, () => rng.normal());
    const table = Float32Array.from({ length: DATA.labels * 8 }, () => rng.normal());
    await store.putBytes(teacherKey, exportSparseEncoderOnnx({ inputDim: DATA.features, hiddenDim: 8, W1, labelTable: table, numLabels: DATA.labels, output: 'scores' }));
    // back in the queue well before its 60 s backoff would have ended
    const job = await waitFinal(repo, id, 30_000);
    expect(job).toMatchObject({ status: 'completed', attempts: 2 });
    expect(logs).toContain('reconciled (periodically): 1 job(s) re-enqueued');
  });

  it('while Redis is down the API answers 503 and keeps no row of the refused submission; it recovers by itself when Redis is back', async () => {
    const before = (await repo.listJobs({ limit: 1000 })).map((j) => j.id);
    await redis.kill();
    const ready = await app.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.json()).toMatchObject({ checks: { database: 'ok', queue: 'down' } });
    const refused = await post({ ...PARAMS, epochs: 1 });
    expect(refused.statusCode).toBe(503);
    expect(refused.body.message).toBe('the job queue is unavailable: try again later');
    expect((await repo.listJobs({ limit: 1000 })).map((j) => j.id)).toEqual(before);

    await redis.start();
    await waitFor('/readyz to answer 200', async () => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200, 20_000, 200);
    const accepted = await post({ ...PARAMS, epochs: 1 });
    expect(accepted.statusCode).toBe(202);
    expect((await waitFinal(repo, accepted.id!, 30_000)).status).toBe('completed');
    // the refused job never ran, even if its queue entry landed once Redis was back
    expect((await repo.listJobs({ limit: 1000 })).map((j) => j.id).sort()).toEqual([...before, accepted.id!].sort());
  });
});
