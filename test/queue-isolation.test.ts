/**
 * Installs that share a Redis. Two installs (two PostgreSQL schemas, i.e. two databases as far as
 * distilxr can tell) on the same Redis, neither with REDIS_PREFIX: each derives its queue prefix
 * from its own database, so one install's worker never takes (and fails, "not in the database")
 * the other's jobs. And `serve` / `worker` refuse the embedded database, which one process only
 * can open, instead of silently leaving every job queued.
 */
import { pino } from 'pino';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { installQueuePrefix, readInstallId } from '../src/infra/queue/queue-prefix.js';
import { startServer, type RunningServer } from '../src/service/server.js';
import { openStorage, type Storage } from '../src/infra/storage.js';
import { loadConfig } from '../src/infra/config.js';
import { runWorker, type WorkerProcess } from '../src/worker/main.js';
import { addDataset, waitFinal } from './support/jobs.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PARAMS = { epochs: 1, dim: 8, poolSize: 8, hardNegatives: 4, randomNegatives: 4 };

interface Install {
  env: NodeJS.ProcessEnv;
  storage: Storage;
  server: RunningServer;
  worker: WorkerProcess | null;
  datasetId: string;
  schema: string;
}

/** An install: its own schema and DATA_DIR, the default queue prefix (no REDIS_PREFIX), an API; no worker yet. */
async function openInstall(name: string): Promise<Install> {
  const schema = `${name}_${randomUUID().slice(0, 8)}`;
  const dataDir = await mkdtemp(join(tmpdir(), `distilxr-${name}-`));
  const env: NodeJS.ProcessEnv = { DATABASE_URL: `${PG_URL}?schema=${schema}`, DATA_DIR: dataDir, REDIS_URL, PORT: '0', API_KEYS: '' };
  const config = loadConfig(env);
  const storage = await openStorage(config);
  const server = await startServer({ config, storage, logger: false, handleSignals: false });
  const datasetId = await addDataset(storage.repo, storage.store, { points: 300, testPoints: 60, features: 120, labels: 20, seed: 5 });
  return { env, storage, server, worker: null, datasetId, schema };
}

async function submitJob(i: Install): Promise<string> {
  const res = await i.server.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: i.datasetId, params: PARAMS } });
  expect(res.statusCode, res.body).toBe(202);
  return (res.json() as { id: string }).id;
}

async function queueOf(i: Install): Promise<BullJobQueue> {
  return new BullJobQueue(redisConnectionFromUrl(REDIS_URL), { prefix: installQueuePrefix(await readInstallId(i.storage.db.prisma)) });
}

describe('two installs on one Redis, default prefix', () => {
  let a: Install;
  let b: Install;
  const queues: BullJobQueue[] = [];

  beforeAll(async () => {
    a = await openInstall('iso_a');
    b = await openInstall('iso_b');
  }, 60_000);

  afterAll(async () => {
    for (const i of [a, b]) {
      if (!i) continue;
      await i.worker?.stop();
      await i.server.close();
      await i.storage.db.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${i.schema}" CASCADE`);
      await i.storage.db.close();
      await rm(i.env.DATA_DIR!, { recursive: true, force: true });
    }
    for (const q of queues) {
      await q.queue.obliterate({ force: true });
      await q.close();
    }
  });

  it('each database has its own install id and so its own prefix', async () => {
    const [ia, ib] = [await readInstallId(a.storage.db.prisma), await readInstallId(b.storage.db.prisma)];
    expect(ia).not.toBe(ib);
    expect(installQueuePrefix(ia)).not.toBe(installQueuePrefix(ib));
    // stable: reading again (another process opening the database) gives the same id
    expect(await readInstallId(a.storage.db.prisma)).toBe(ia);
  });

  it("a worker runs only its own install's jobs; the other install's job waits for its own worker", async () => {
    const qa = await queueOf(a);
    const qb = await queueOf(b);
    queues.push(qa, qb);
    const jobB = await submitJob(b); // first in line: a shared queue would hand it to A's worker
    const jobA = await submitJob(a);
    a.worker = await runWorker(a.env, pino({ level: 'silent' }));
    expect((await waitFinal(a.storage.repo, jobA, 60_000)).status).toBe('completed');
    // A's worker has been idle with B's job in Redis all along: B's job is untouched
    expect(await (await qb.queue.getJob(jobB))?.getState()).toBe('waiting');
    expect((await b.storage.repo.getJob(jobB))?.status).toBe('queued');
    expect(await (await qa.queue.getJob(jobB))?.getState()).toBeUndefined();

    b.worker = await runWorker(b.env, pino({ level: 'silent' }));
    const doneB = await waitFinal(b.storage.repo, jobB, 60_000);
    expect(doneB.status, doneB.error ?? '').toBe('completed');
    expect(doneB.attempts).toBe(1);
  }, 120_000);
});

/** Runs `distilxr <role>` and returns its exit code and output (it must exit by itself). */
function runCli(role: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    let out = '';
    const child = spawn(process.execPath, ['bin/distilxr.js', role], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`distilxr ${role} did not exit within 30 s:\n${out}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('serve and worker without DATABASE_URL', () => {
  for (const role of ['serve', 'worker']) {
    it(`${role} refuses the embedded database, telling to set DATABASE_URL, and opens nothing`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), 'distilxr-no-db-'));
      try {
        const { code, out } = await runCli(role, { DATABASE_URL: '', DATA_DIR: dataDir, PORT: '0', REDIS_URL });
        expect(code, out).toBe(2);
        expect(out).toContain(`distilxr: ${role} needs DATABASE_URL`);
        expect(out).toContain('distilxr start');
        expect(existsSync(join(dataDir, 'pglite'))).toBe(false);
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    }, 40_000);
  }
});
