/**
 * /readyz after a Redis outage, on the production connection options (redisConnectionFromUrl, no
 * test-only retry strategy) and a private redis-server. BullMQ's own reconnect strategy backs off
 * exponentially to 20 s, so after an outage of about 10 s the API (and the workers) stayed cut off
 * for seconds after Redis was back; capped at REDIS_RECONNECT_MAX_MS, readiness returns within it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/service/app.js';
import { BullJobQueue, REDIS_RECONNECT_MAX_MS, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { loadConfig } from '../src/infra/config.js';
import { openDatabase, type Database } from '../src/infra/db/db.js';
import { FsArtifactStore } from '../src/infra/artifacts/fs-artifact-store.js';
import { PrismaRepository } from '../src/infra/db/prisma-repository.js';
import { sleep, waitFor } from './support/jobs.js';
import { redisServerUnavailable, startRedisServer, type RedisServer } from './support/redis-server.js';

/** Long enough for BullMQ's backoff to reach an 8 s wait (1 s × 7, then e^8 ms ≈ 3 s, then e^9 ms ≈ 8 s). */
const OUTAGE_MS = 11_000;

describe.skipIf(redisServerUnavailable())('/readyz after Redis comes back', () => {
  let redis: RedisServer;
  let dataDir: string;
  let db: Database;
  let queue: BullJobQueue;
  let app: FastifyInstance;

  beforeAll(async () => {
    redis = await startRedisServer();
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-readyz-'));
    db = await openDatabase({ databaseUrl: null, dataDir });
    queue = new BullJobQueue(redisConnectionFromUrl(redis.url), { pingTimeoutMs: 500 });
    app = await buildApp({ repo: new PrismaRepository(db.prisma), store: new FsArtifactStore(join(dataDir, 'artifacts')), queue, config: { ...loadConfig({}), dataDir, apiKeys: [] } });
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await queue?.close();
    await db?.close();
    await redis?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const readyz = async (): Promise<number> => (await app.inject({ method: 'GET', url: '/readyz' })).statusCode;

  it(`is ready again within ${REDIS_RECONNECT_MAX_MS} ms (plus a ping) of Redis returning after a ${OUTAGE_MS / 1000} s outage`, async () => {
    expect(await readyz()).toBe(200);
    await redis.kill();
    await waitFor('/readyz to answer 503', async () => (await readyz()) === 503, 10_000, 100);
    await sleep(OUTAGE_MS);
    await redis.start();
    const back = performance.now();
    await waitFor('/readyz to answer 200', async () => (await readyz()) === 200, 30_000, 50);
    const recoveryMs = Math.round(performance.now() - back);
    console.log(`readyz-recovery: 200 again ${recoveryMs} ms after Redis came back (outage ${OUTAGE_MS / 1000} s)`);
    expect(recoveryMs).toBeLessThan(2000);
  }, 60_000);
});
