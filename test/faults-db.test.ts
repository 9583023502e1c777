/**
 * PostgreSQL restarted mid-job, on a private cluster (test/support/postgres-server.ts) so the
 * shared server is never touched: once with `pg_ctl stop -m fast` (sessions ended cleanly) and
 * once with `-m immediate` (a crash: in-flight work lost), each while a job trains. Meanwhile the
 * API answers 503 on /readyz and 200 again once the server is back, in the same process; the
 * worker retries its writes, the job reaches `completed`, and no event is lost or reordered.
 */
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../src/generated/prisma/client.js';
import { buildApp } from '../src/service/app.js';
import { redisConnectionFromUrl, type BullJobQueue } from '../src/infra/queue/bull-job-queue.js';
import { isTransientDbError, RetryingRepository } from '../src/infra/db/db-retry.js';
import { ForeignKeyError } from '../src/infra/db/prisma-repository.js';
import type { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import type { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { addDataset, ofType, sleep, submit, waitFinal, waitFor } from './support/jobs.js';
import { freePort } from './support/ports.js';
import { startPostgresServer, unavailableReason, type PostgresServer } from './support/postgres-server.js';
import { closeServiceParts, openServiceParts, REDIS_URL, type ServiceParts } from './support/service-env.js';

const connection = redisConnectionFromUrl(REDIS_URL);
const skipReason = unavailableReason();
if (skipReason) console.warn(`faults-db: skipped: ${skipReason}`);

const STAGE_ORDER = ['preparing', 'mining', 'scoring', 'training', 'evaluating', 'publishing'];

describe.skipIf(skipReason !== null)('PostgreSQL restarted mid-job', () => {
  let pg: PostgresServer;
  let parts: ServiceParts;
  let repo: PrismaRepository;
  let store: FsArtifactStore;
  let queue: BullJobQueue;
  let worker: RunningWorker;
  let app: FastifyInstance;
  const workerLog: string[] = [];

  beforeAll(async () => {
    pg = await startPostgresServer();
    parts = await openServiceParts('faults-db', { databaseUrl: `${pg.url}?schema=faults_db` });
    ({ repo, store, queue } = parts);
    worker = await startWorker({
      repo,
      store,
      connection,
      concurrency: 1,
      prefix: parts.prefix,
      runner: { cacheDir: false, progressWriteMs: 100 },
      log: (line) => workerLog.push(`${new Date().toISOString()} ${line}`),
    });
    app = await buildApp({ repo, store, queue, config: parts.config });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await worker?.close();
    await closeServiceParts(parts);
    pg?.destroy();
  });

  const readyz = async (): Promise<{ status: number; body: Record<string, unknown>; ms: number }> => {
    const t = performance.now();
    const r = await app.inject({ method: 'GET', url: '/readyz' });
    return { status: r.statusCode, body: r.json(), ms: Math.round(performance.now() - t) };
  };

  const uploadDataset = () => {
    const fd = new FormData();
    fd.append('train', new Blob(['4 3 2\n0 0:1\n1 1:1\n0,1 2:1\n1 0:0.5 2:0.5\n']), 'train.txt');
    return app.inject({ method: 'POST', url: '/v1/datasets', payload: fd });
  };

  /**
   * Stops the server once `from` epochs are written (the job trains), checks the API during the
   * outage, starts the server again and waits for /readyz to say so.
   */
  async function outage(jobId: string, mode: 'fast' | 'immediate', downMs: number, from: number): Promise<void> {
    const epochsWritten = async (): Promise<number> => (await repo.listJobEvents(jobId, { types: ['epoch'] })).length;
    await waitFor(`job ${jobId} to reach epoch ${from}`, async () => (await epochsWritten()) >= from, 60_000, 20);
    expect((await repo.getJob(jobId))?.status).toBe('running');
    const stoppedAt = performance.now();
    pg.stop(mode);
    const during = await readyz();
    expect(during.status).toBe(503);
    expect(during.body).toMatchObject({ status: 'unavailable', checks: { database: 'down', queue: 'ok' } });
    // the API itself keeps failing fast: the error is a connection error, not a hang
    await expect(repo.getJob(jobId)).rejects.toSatisfy(isTransientDbError);
    // an upload that cannot be recorded is refused and leaves no file behind
    const datasetsBefore = await readdir(store.pathOf('datasets'));
    const refused = await uploadDataset();
    expect(refused.statusCode).toBe(503);
    expect(refused.json()).toMatchObject({ code: 'DXR_NOT_READY', message: expect.stringMatching(/database is unavailable/) });
    expect(await readdir(store.pathOf('datasets'))).toEqual(datasetsBefore);
    await sleep(downMs - (performance.now() - stoppedAt));
    pg.start();
    const back = await waitFor('/readyz to answer 200 again', async () => {
      const r = await readyz();
      return r.status === 200 ? r : null;
    }, 30_000, 100);
    console.log(`faults-db: ${mode} stop at epoch ${from} for ${Math.round(performance.now() - stoppedAt)} ms; /readyz during: ${during.status} in ${during.ms} ms; after: ${back.status}; epochs written now: ${await epochsWritten()}`);
  }

  it('the job completes with every event, in order; /readyz is 503 meanwhile and 200 after', async () => {
    const datasetId = await addDataset(repo, store, { points: 3000, testPoints: 300, features: 500, labels: 60, seed: 7 });
    const epochs = 40;
    const t0 = performance.now();
    const jobId = await submit(repo, queue, { datasetId, params: { dim: 16, epochs, poolSize: 8, hardNegatives: 4, remineEvery: 0 } });
    expect((await readyz()).status).toBe(200);

    // a clean restart while it trains; then a crash as soon as the worker writes again, while it
    // catches up on the writes the first outage held back (the job's last writes are still queued)
    await outage(jobId, 'fast', 12_000, 2);
    await outage(jobId, 'immediate', 5000, (await repo.listJobEvents(jobId, { types: ['epoch'] })).length + 1);
    // the API works again: an upload is recorded
    const accepted = await uploadDataset();
    expect(accepted.statusCode, accepted.body).toBe(201);
    expect(await store.exists(`datasets/${accepted.json().id}/train`)).toBe(true);

    const job = await waitFinal(repo, jobId, 120_000);
    console.log(`faults-db: job completed in ${Math.round(performance.now() - t0)} ms`);
    expect(job, job.error ?? '').toMatchObject({ status: 'completed', progress: 1 });
    expect(await repo.getModel(job.modelId!)).not.toBeNull();

    const events = await repo.listJobEvents(jobId);
    // ids increase (the order of writing), every epoch is there once, in order
    for (let i = 1; i < events.length; i++) expect(events[i].id).toBeGreaterThan(events[i - 1].id);
    expect(ofType(events, 'epoch').map((e) => e.epoch)).toEqual(Array.from({ length: epochs }, (_, i) => i + 1));
    const stages = ofType(events, 'stage').map((e) => e.stage as string);
    expect(stages.filter((s, i) => s !== stages[i - 1])).toEqual(STAGE_ORDER.filter((s) => stages.includes(s)));
    expect(stages).toEqual(expect.arrayContaining(['training', 'publishing']));
    expect(ofType(events, 'status').map((e) => e.status)).toEqual(['running', 'completed']);
    expect(ofType(events, 'metrics')).toHaveLength(1);

    // the worker saw both outages and both recoveries, and gave nothing up
    const joined = workerLog.join('\n');
    const outages = workerLog.filter((l) => l.includes('database unreachable')).length;
    expect(outages).toBeGreaterThanOrEqual(1);
    expect(workerLog.filter((l) => l.includes('database reachable again'))).toHaveLength(outages);
    expect(joined).not.toContain('giving up');
    expect(joined).not.toContain('write failed');
    console.log(`faults-db: worker log:\n${joined}`);
  }, 150_000);

  it('retries are bounded and only for connection errors', async () => {
    const log: string[] = [];
    const retrying = new RetryingRepository(repo, { maxWaitMs: 1500, firstDelayMs: 100, log: (l) => log.push(l) });
    // a query that is wrong fails at once, without a retry
    const bad = retrying.createJob({ id: randomUUID(), kind: 'train', datasetId: 'no-such-dataset', teacherId: null, params: {} });
    await expect(bad).rejects.toBeInstanceOf(ForeignKeyError);
    expect(log).toEqual([]);
    // a database that stays down: the operation gives up after maxWaitMs with the connection error
    pg.stop('fast');
    try {
      const t = performance.now();
      const e = await retrying.listJobs().catch((err: unknown) => err);
      expect(isTransientDbError(e)).toBe(true);

      console.log(`faults-db: gave up after ${Math.round(performance.now() - t)} ms (maxWaitMs 1500)`);
      expect(log[0]).toMatch(/^database unreachable \(.+\): retrying writes and reads for up to 1\.5 s each$/);
      expect(log.at(-1)).toMatch(/^database still unreachable after [\d.]+ s: giving up listJobs$/);
    } finally {
      pg.start();
    }
    await expect(retrying.listJobs()).resolves.toBeInstanceOf(Array);
    expect(log.at(-1)).toMatch(/^database reachable again after [\d.]+ s \(listJobs succeeded\)$/);
  }, 30_000);

  it('a write whose connection dropped after it committed is not applied twice', async () => {
    // The server cannot be made to drop a connection between COMMIT and its reply on cue: after
    // the real write succeeded, throw the real error Prisma gives for a server that is not there.
    const nowhere = new PrismaClient({ adapter: new PrismaPg({ connectionString: `postgresql://postgres@127.0.0.1:${await freePort()}/none` }) });
    const connectionError = await nowhere.$queryRaw`SELECT 1`.catch((e: unknown) => e as Error);
    await nowhere.$disconnect();
    expect(isTransientDbError(connectionError)).toBe(true);
    const dropAfterCommit = new Set(['createJob', 'finishJob']);
    const flaky = new Proxy(repo, {
      get(target, prop, receiver) {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function' || !dropAfterCommit.has(String(prop))) return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          await value.apply(target, args);
          dropAfterCommit.delete(String(prop)); // once
          throw connectionError;
        };
      },
    });
    const log: string[] = [];
    const retrying = new RetryingRepository(flaky, { firstDelayMs: 10, log: (l) => log.push(l) });
    const datasetId = await addDataset(repo, store, { points: 50, features: 20, labels: 5, seed: 1 });
    const id = randomUUID();
    const job = await retrying.createJob({ id, kind: 'train', datasetId, teacherId: null, params: {} });
    expect(job).toMatchObject({ id, status: 'queued' });
    const finished = await retrying.finishJob(id, 'cancelled');
    expect(finished).toMatchObject({ id, status: 'cancelled' });
    // a later, real second finish still loses, as it must
    expect(await retrying.finishJob(id, 'completed')).toBeNull();
    expect((await repo.listJobs()).filter((j) => j.id === id)).toHaveLength(1);
    expect(log.filter((l) => l.startsWith('database unreachable'))).toHaveLength(2);
  });
});
