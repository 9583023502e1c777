/**
 * What a worker process tells operators: pino JSON log lines (every line parses) for job start
 * (id, dataset, teacher), end (seconds, metrics), failure (stage, message) and takeover of a job
 * whose worker was SIGKILLed; and a Prometheus endpoint on WORKER_METRICS_PORT with jobs
 * completed/failed, the current job and stage durations. Worker processes on PostgreSQL (own
 * schema) and Redis (own prefix).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { addDataset, submit, waitFinalEvent, waitFor } from './support/jobs.js';
import { freePort } from './support/ports.js';
import { spawnWorker, type WorkerChild } from './support/worker-process.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const PARAMS = { dim: 8, epochs: 2, poolSize: 8, hardNegatives: 4 };

type LogLine = Record<string, unknown> & { msg: string; level: number };

/** Every line a worker printed, parsed: a line that is not JSON fails the test. */
function jsonLines(w: WorkerChild): LogLine[] {
  return w
    .output()
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        throw new Error(`worker printed a line that is not JSON: ${l}`);
      }
    });
}

const eventOf = (w: WorkerChild, event: string, jobId: string): LogLine | undefined => jsonLines(w).find((l) => l.event === event && l.jobId === jobId);

async function scrape(port: number): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(r.status).toBe(200);
  return r.text();
}

describe('worker logs and metrics', () => {
  const schema = `worker_obs_${randomUUID().slice(0, 8)}`;
  const databaseUrl = `${PG_URL}?schema=${schema}`;
  const prefix = `wobs-${randomUUID().slice(0, 8)}`;
  const killedId = randomUUID();
  let dataDir: string;
  let db: Database;
  let repo: PrismaRepository;
  let store: FsArtifactStore;
  let queue: BullJobQueue;
  const workers: WorkerChild[] = [];

  const spawn = async (metricsPort: number): Promise<WorkerChild> => {
    const w = spawnWorker({
      DATA_DIR: dataDir,
      DATABASE_URL: databaseUrl,
      REDIS_URL,
      REDIS_PREFIX: prefix,
      WORKER_LOCK_MS: '1500',
      WORKER_CONCURRENCY: '1',
      WORKER_METRICS_PORT: String(metricsPort),
      DISTILXR_TEST_SIGKILL_AT_STAGE: `${killedId}:training`,
    }, 'test/support/sigkill-worker.ts');
    workers.push(w);
    await w.ready();
    return w;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-wobs-'));
    db = await openDatabase({ databaseUrl, dataDir });
    repo = new PrismaRepository(db.prisma);
    store = new FsArtifactStore(join(dataDir, 'artifacts'));
    queue = new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix });
  });

  afterAll(async () => {
    for (const w of workers) await w.kill();
    await queue?.queue.obliterate({ force: true });
    await queue?.close();
    await db?.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('logs job start, end, failure and takeover as JSON, and counts them on /metrics', async () => {
    const portA = await freePort();
    const a = await spawn(portA);
    expect(jsonLines(a).find((l) => l.event === 'worker-ready')).toMatchObject({ metricsPort: portA });
    const idle = await scrape(portA);
    expect(idle).not.toMatch(/distilxr_worker_current_job\{/);

    const datasetId = await addDataset(repo, store, { points: 400, features: 200, labels: 30, seed: 3 });
    const ok = await submit(repo, queue, { datasetId, params: PARAMS });
    expect((await waitFinalEvent(repo, ok, 60_000)).status).toBe('completed');

    // a dataset whose file is bad (no checksum recorded): the job fails while preparing
    const badId = randomUUID();
    await mkdir(store.pathOf(`datasets/${badId}`), { recursive: true });
    await writeFile(store.pathOf(`datasets/${badId}/train`), '2 10 2\n0 1:1\n1 2:x\n');
    const stats = { points: 2, features: 10, labels: 2, labelsPerPoint: 1, pointsPerLabel: 1, nnzPerPoint: 1 };
    await repo.createDataset({ id: badId, name: 'bad', format: 'xc', trainKey: `datasets/${badId}/train`, testKey: null, stats, testStats: null });
    const bad = await submit(repo, queue, { datasetId: badId, params: PARAMS });
    expect((await waitFinalEvent(repo, bad, 60_000)).status).toBe('failed');

    await waitFor('the job-failed line', async () => eventOf(a, 'job-failed', bad), 5_000);
    expect(eventOf(a, 'job-start', ok)).toMatchObject({ level: 30, kind: 'train', datasetId, teacherId: null, attempt: 1, takenOver: false });
    const end = eventOf(a, 'job-end', ok)!;
    expect(end.seconds).toBeGreaterThan(0);
    expect(end.metrics).toHaveProperty(['p@1']);
    expect(end.stageSeconds).toHaveProperty('training');
    expect(eventOf(a, 'job-failed', bad)).toMatchObject({ level: 50, stage: 'preparing', kind: 'train' });
    expect(String(eventOf(a, 'job-failed', bad)!.message)).toMatch(/:3: /);

    const m = await scrape(portA);
    expect(m).toMatch(/distilxr_worker_jobs_completed_total\{kind="train"\} 1\n/);
    expect(m).toMatch(/distilxr_worker_jobs_failed_total\{kind="train"\} 1\n/);
    expect(m).toMatch(/distilxr_worker_stage_seconds_count\{stage="training",kind="train"\} 1\n/);
    expect(m).toMatch(/distilxr_worker_stage_seconds_count\{stage="preparing",kind="train"\} 1\n/);
    expect(m).not.toMatch(/distilxr_worker_current_job\{/);

    // the worker dies in training; another one takes the job over and says so
    await submit(repo, queue, { id: killedId, datasetId, params: { ...PARAMS, epochs: 3 } });
    await new Promise<void>((resolve) => a.child.once('exit', () => resolve()));
    const portB = await freePort();
    const b = await spawn(portB);
    const done = await waitFinalEvent(repo, killedId, 60_000);
    expect(done).toMatchObject({ status: 'completed', attempts: 2 });
    expect(eventOf(b, 'job-takeover', killedId)).toMatchObject({ level: 40, attempt: 2, takenOver: true, datasetId });
    // the end is logged just after the final state is stored
    await waitFor('the job-end line', async () => eventOf(b, 'job-end', killedId), 5_000);
    expect(await scrape(portB)).toMatch(/distilxr_worker_job_takeovers_total 1\n/);
  }, 150_000);
});
