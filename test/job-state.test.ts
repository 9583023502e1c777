/**
 * What a job's view tells while things go wrong. A worker SIGKILLed mid-training: the job is shown
 * `stalled` (its heartbeat stops), without its frozen ETA, until another worker takes it over. An
 * ETA from the first progress reports, not only after 1 % of the job. A failed job keeps the stage
 * it failed in. Real worker processes, BullMQ on Redis, PostgreSQL (own schema), the HTTP view
 * through app.inject.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/service/app.js';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { loadConfig } from '../src/infra/config.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { JOB_STALLED_AFTER_MS } from '../src/infra/job-liveness.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import type { JobView } from '../src/service/schemas/jobs.js';
import { ProgressTracker, STAGE_SPANS } from '../src/worker/progress-tracker.js';
import { DEFAULT_LOCK_MS } from '../src/infra/service-settings.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { addDataset, submit, waitFinal, waitFor } from './support/jobs.js';
import { spawnWorker, type WorkerChild } from './support/worker-process.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The workers' default lock (DEFAULT_LOCK_MS): the takeover time is the one a deployment sees. */
const LOCK_MS = DEFAULT_LOCK_MS;
const DATA = { points: 3000, testPoints: 300, features: 600, labels: 80, seed: 21 };

describe('ETA from the first progress reports', () => {
  it('gives an ETA at 0.1 % of the training, from the measured speed', () => {
    const epochs = 100;
    const perEpoch = 1000;
    const t = new ProgressTracker(epochs);
    t.onStage('training');
    t.onProgress(0, perEpoch, { epoch: 1, epochs }, 0);
    expect(t.snapshot(0).etaSeconds).toBeNull(); // no speed yet
    t.onProgress(100, perEpoch, { epoch: 1, epochs }, 1000); // 100 examples/s
    const s = t.snapshot(1000);
    expect(s.examplesPerSecond).toBe(100);
    // 99,900 training examples left at 100/s, plus evaluating and publishing at the same pace
    const trainingLeft = (epochs * perEpoch - 100) / 100;
    const [, trainingEnd] = STAGE_SPANS.training;
    expect(s.etaSeconds).toBeGreaterThanOrEqual(trainingLeft);
    expect(s.etaSeconds).toBeLessThanOrEqual(Math.ceil((trainingLeft * (1 - s.progress)) / (trainingEnd - s.progress)));
  });
});

describe('job view while a worker dies, and after a failure (PostgreSQL, worker processes)', () => {
  const schema = `job_state_${randomUUID().slice(0, 8)}`;
  const databaseUrl = `${PG_URL}?schema=${schema}`;
  const prefix = `js-${randomUUID().slice(0, 8)}`;
  let dataDir: string;
  let db: Database;
  let repo: PrismaRepository;
  let store: FsArtifactStore;
  let queue: BullJobQueue;
  let app: FastifyInstance;
  let datasetId: string;
  const children: WorkerChild[] = [];
  let worker: RunningWorker | null = null;

  const view = async (id: string): Promise<JobView> => (await app.inject({ method: 'GET', url: `/v1/jobs/${id}` })).json() as JobView;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-job-state-'));
    db = await openDatabase({ databaseUrl, dataDir });
    repo = new PrismaRepository(db.prisma);
    store = new FsArtifactStore(join(dataDir, 'artifacts'));
    queue = new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix });
    app = await buildApp({ repo, store, queue, config: { ...loadConfig({}), dataDir, apiKeys: [] } });
    datasetId = await addDataset(repo, store, DATA);
  }, 60_000);

  afterAll(async () => {
    for (const c of children) await c.kill();
    await worker?.close();
    await app?.close();
    await queue?.queue.obliterate({ force: true });
    await queue?.close();
    await db?.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('a SIGKILLed worker’s job shows stalled, with no ETA, until another worker takes it over', async () => {
    const child = spawnWorker({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL, REDIS_PREFIX: prefix, WORKER_CONCURRENCY: '1' });
    children.push(child);
    await child.ready();
    const id = await submit(repo, queue, { datasetId, params: { dim: 16, epochs: 200, poolSize: 12, hardNegatives: 6, remineEvery: 0 } });
    await waitFor('the job to train with an ETA', async () => {
      const v = await view(id);
      return v.status === 'running' && v.stage === 'training' && v.etaSeconds !== null ? v : null;
    }, 60_000, 100);
    expect((await view(id)).stalled).toBe(false);
    // a second worker, idle (the job is taken), ready to take the job over
    worker = await startWorker({ repo, store, connection: redisConnectionFromUrl(REDIS_URL), concurrency: 1, prefix, runner: { cacheDir: false }, log: () => undefined });

    await child.kill();
    const killedAt = Date.now();
    let stalled: { view: JobView; after: number } | null = null;
    const taken = await waitFor('another worker to take the job over', async () => {
      const v = await view(id);
      if (v.stalled && !stalled) stalled = { view: v, after: Date.now() - killedAt };
      return v.attempts === 2 && v.status === 'running' ? v : null;
    }, LOCK_MS * 2 + 20_000, 100);
    const takenAfter = Date.now() - killedAt;
    expect(stalled, 'the view said stalled before the takeover').not.toBeNull();
    const seen = stalled as unknown as { view: JobView; after: number };
    expect(seen.view).toMatchObject({ status: 'running', stage: 'training', etaSeconds: null, attempts: 1 });
    expect(Date.parse(seen.view.heartbeatAt!)).toBeLessThanOrEqual(killedAt);
    expect(taken.stalled).toBe(false);
    console.log(`job-state: lock ${LOCK_MS} ms; shown stalled ${(seen.after / 1000).toFixed(1)} s after the SIGKILL (threshold ${JOB_STALLED_AFTER_MS / 1000} s), taken over after ${(takenAfter / 1000).toFixed(1)} s`);
    await app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel` });
    expect((await waitFinal(repo, id, 30_000)).status).toBe('cancelled');
  }, 120_000);

  it('a failed job keeps the stage it failed in', async () => {
    worker ??= await startWorker({ repo, store, connection: redisConnectionFromUrl(REDIS_URL), concurrency: 1, prefix, runner: { cacheDir: false }, log: () => undefined });
    // a training file broken on line 3 after it was stored (no checksum recorded): the job fails while preparing
    const ds = (await repo.getDataset(datasetId))!;
    const brokenId = randomUUID();
    const trainKey = `datasets/${brokenId}/train.txt`;
    await store.putBytes(trainKey, Buffer.from(`3 ${DATA.features} ${DATA.labels}\n0 1:1\n1 2:x\n2 3:1\n`));
    await repo.createDataset({ id: brokenId, name: 'broken', format: 'xc', trainKey, testKey: null, stats: ds.stats, testStats: null });
    const id = await submit(repo, queue, { datasetId: brokenId, params: { dim: 8, epochs: 1 } });
    const failed = await waitFinal(repo, id, 60_000);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/:3: /); // file:line: problem
    expect(await view(id)).toMatchObject({ status: 'failed', stage: 'preparing', stalled: false });
  }, 90_000);
});
