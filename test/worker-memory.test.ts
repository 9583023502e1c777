/**
 * Jobs that exhaust memory (issue 14): a pipeline thread over its heap limit (JOB_MAX_MEMORY_MB)
 * fails its job at once with the reason, without a retry and without taking the worker process
 * down; a job whose worker process dies every time it runs is failed after JOB_MAX_STARTS starts.
 * Real jobs, real Redis, PGlite in-process and PostgreSQL with worker processes.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { addDataset, ofType, submit, waitFinal, waitFinalEvent, waitFor } from './support/jobs.js';
import { closeServiceEnv, openServiceEnv, REDIS_URL, smallXc, upload, type ServiceEnv } from './support/service-env.js';
import { spawnWorker, type WorkerChild } from './support/worker-process.js';

const connection = redisConnectionFromUrl(REDIS_URL);
const HEAP_LIMIT_MB = 64;
/** The documented JOB_MAX_STARTS default. */
const MAX_JOB_STARTS = 3;

/** `docs` JSONL documents of 30 random 8-letter words: a vocabulary of ~30 × docs terms plus bigrams. */
function randomWordsJsonl(docs: number, seed: number): string {
  let s = seed;
  const next = (n: number): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
  const word = (): string => String.fromCharCode(...Array.from({ length: 8 }, () => 97 + next(26)));
  const lines: string[] = [];
  for (let i = 0; i < docs; i++) lines.push(JSON.stringify({ text: Array.from({ length: 30 }, word).join(' '), labels: [`tag${next(50)}`] }));
  return lines.join('\n') + '\n';
}

/** The job's BullMQ entry once BullMQ has moved it to failed (the job's record may say so first). */
function failedEntry(env: ServiceEnv, id: string) {
  return waitFor('BullMQ to record the failure', async () => {
    const e = await env.queue.queue.getJob(id);
    return e && (await e.getState()) === 'failed' ? e : null;
  }, 5_000);
}

describe(`a pipeline thread over its ${HEAP_LIMIT_MB} MB heap limit (in-process worker, PGlite)`, () => {
  let env: ServiceEnv;
  let worker: RunningWorker;

  beforeAll(async () => {
    env = await openServiceEnv('worker-memory');
    worker = await startWorker({ repo: env.repo, store: env.store, connection, concurrency: 1, lockMs: 2000, prefix: env.prefix, runner: { cacheDir: false, heapLimitMb: HEAP_LIMIT_MB }, log: () => undefined });
  });
  afterAll(async () => {
    await worker?.close();
    await closeServiceEnv(env);
  });

  it('fails the job once with "ran out of memory (limit N MB ...)", not retried, and the worker runs the next job', async () => {
    // every term kept (minDf 1): the vocabulary of 600k distinct words and bigrams outgrows the heap
    const ds = await upload(env, '/v1/datasets', { train: { data: randomWordsJsonl(20_000, 7), filename: 'words.jsonl' } });
    expect(ds.statusCode, ds.body).toBe(201);
    const sub = await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: ds.json().id, params: { epochs: 1, featurizer: { minDf: 1 } } } });
    expect(sub.statusCode, sub.body).toBe(202); // the estimate (arrays) is far under the limit: the heap is what runs out
    const id = sub.json().id as string;
    const job = await waitFinalEvent(env.repo, id, 60_000);
    expect(job).toMatchObject({ status: 'failed', attempts: 1 });
    expect(job.error).toBe(`the job ran out of memory (limit ${HEAP_LIMIT_MB} MB of JavaScript heap, JOB_MAX_MEMORY_MB)`);
    const entry = await failedEntry(env, id);
    expect(entry.attemptsMade).toBe(1); // an UnrecoverableError: BullMQ's 3 attempts are not used
    expect(ofType(await env.repo.listJobEvents(id), 'status').map((d) => d.status)).toEqual(['queued', 'running', 'failed']);

    // the same worker process, still alive, runs an ordinary job under the same limit
    const small = await upload(env, '/v1/datasets', { train: { data: smallXc(500, 20, 3) } });
    const next = await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: small.json().id, params: { epochs: 1, dim: 8 } } });
    expect((await waitFinal(env.repo, next.json().id, 60_000)).status).toBe('completed');
  });
});

describe('a worker process past WORKER_MAX_RSS_MB (typed arrays, outside the heap limit; in-process worker, PGlite)', () => {
  let env: ServiceEnv;
  let worker: RunningWorker;
  let limitMb: number;

  beforeAll(async () => {
    env = await openServiceEnv('worker-rss');
    limitMb = Math.round(process.memoryUsage.rss() / (1 << 20)) + 300;
    const runner = { cacheDir: false as const, cancelPollMs: 50, maxRssBytes: limitMb << 20 };
    worker = await startWorker({ repo: env.repo, store: env.store, connection, concurrency: 1, lockMs: 2000, prefix: env.prefix, runner, log: () => undefined });
  });
  afterAll(async () => {
    await worker?.close();
    await closeServiceEnv(env);
  });

  it('stops the job as soon as the process crosses the limit and fails it with both figures, not retried', async () => {
    // 200k features at dim 512: W1 and its Adagrad state alone are 2 × 200000 × 513 × 4 bytes = 821 MB
    const features = 200_000;
    const rows = Array.from({ length: 2000 }, (_, i) => `${i % 20} ${Array.from({ length: 10 }, (_, k) => `${(i * 100 + k) % features}:1`).join(' ')}`);
    const ds = await upload(env, '/v1/datasets', { train: { data: `2000 ${features} 20\n${rows.join('\n')}\n` } });
    expect(ds.statusCode, ds.body).toBe(201);
    const sub = await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: ds.json().id, params: { dim: 512, epochs: 1 } } });
    expect(sub.statusCode, sub.body).toBe(202);
    const job = await waitFinalEvent(env.repo, sub.json().id, 60_000);
    expect(job).toMatchObject({ status: 'failed', attempts: 1 });
    expect(job.error).toMatch(new RegExp(`^the job ran out of memory: its worker process reached \\d+ MB, over the limit of ${limitMb} MB \\(WORKER_MAX_RSS_MB\\)$`));
    // the job's record says failed before BullMQ has moved its entry (a race under load: attemptsMade 0)
    const entry = await failedEntry(env, sub.json().id);
    expect(entry.attemptsMade).toBe(1);
  });
});

describe('a job whose worker process dies at every start (PostgreSQL, worker processes)', () => {
  const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
  const databaseUrl = `${PG_URL}?schema=worker_memory_${randomUUID().slice(0, 8)}`;
  const prefix = `wm-${randomUUID().slice(0, 8)}`;
  let dataDir: string;
  let db: Database;
  let repo: PrismaRepository;
  let queue: BullJobQueue;
  const children: WorkerChild[] = [];
  const spawn = (): WorkerChild => {
    const w = spawnWorker({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl, REDIS_URL, REDIS_PREFIX: prefix, WORKER_LOCK_MS: '1500', WORKER_CONCURRENCY: '1' });
    children.push(w);
    return w;
  };

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-worker-memory-'));
    db = await openDatabase({ databaseUrl, dataDir });
    repo = new PrismaRepository(db.prisma);
    queue = new BullJobQueue(connection, { prefix });
  });
  afterAll(async () => {
    await Promise.all(children.map((c) => c.kill()));
    await queue?.queue.obliterate({ force: true });
    await queue?.close();
    await db?.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${new URL(databaseUrl).searchParams.get('schema')}" CASCADE`).catch(() => undefined);
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it(`is failed for good by the worker that would start it a ${MAX_JOB_STARTS + 1}th time`, async () => {
    const store = new FsArtifactStore(join(dataDir, 'artifacts'));
    const datasetId = await addDataset(repo, store, { points: 3000, testPoints: 100, features: 300, labels: 50, seed: 2 });
    // long enough that every start is still running when its worker is killed
    const id = await submit(repo, queue, { datasetId, params: { dim: 16, epochs: 500 } });
    let live = [spawn(), spawn()];
    const killed: string[] = [];
    for (let start = 1; start <= MAX_JOB_STARTS; start++) {
      // the worker running this start, as its status event names it; killed like an out-of-memory kill
      const running = await waitFor(`start ${start}`, async () => {
        const ev = ofType(await repo.listJobEvents(id), 'status').filter((d) => d.status === 'running');
        return ev.length === start ? String(ev[start - 1].worker) : null;
      }, 60_000, 20);
      const victim = live.find((w) => w.name === running)!;
      await victim.kill();
      killed.push(running);
      live = [...live.filter((w) => w !== victim), spawn()];
    }
    const job = await waitFinalEvent(repo, id, 60_000);
    expect(job).toMatchObject({ status: 'failed', attempts: MAX_JOB_STARTS, modelId: null });
    expect(job.error).toBe(`gave up after ${MAX_JOB_STARTS} starts that did not finish (the worker process running it died each time, e.g. killed for running out of memory; see the job's log events)`);
    expect(killed).toHaveLength(MAX_JOB_STARTS);
    const statuses = ofType(await repo.listJobEvents(id), 'status').map((d) => d.status);
    expect(statuses.filter((s) => s === 'running')).toHaveLength(MAX_JOB_STARTS); // no 4th start
    expect(statuses.at(-1)).toBe('failed');
  });
});
