/**
 * `npm start` / `distilxr start`: the API and one worker in a single process on embedded
 * defaults (PGlite under DATA_DIR, Redis from REDIS_URL, started under DATA_DIR when none answers
 * and redis-server is installed). PGlite admits one process, which is why both share one database
 * handle here; separate `serve` and `worker` processes need DATABASE_URL (PostgreSQL).
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { startWorker, type RunningWorker } from '../worker/worker.js';
import { buildApp } from './app.js';
import { BullJobQueue, redisConnectionFromUrl } from './bull-job-queue.js';
import { loadConfig } from './config.js';
import { openDatabase } from './db.js';
import { ensureRedis } from './ensure-redis.js';
import { FsArtifactStore } from './fs-artifact-store.js';
import { PrismaRepository } from './prisma-repository.js';

export interface Standalone {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startStandalone(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = (l) => console.error(l)): Promise<Standalone> {
  const config = loadConfig(env);
  const stopRedis = await ensureRedis(config.redisUrl, config.dataDir, log);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  const repo = new PrismaRepository(db.prisma);
  const store = new FsArtifactStore(join(config.dataDir, 'artifacts'));
  const connection = redisConnectionFromUrl(config.redisUrl);
  const prefix = env.REDIS_PREFIX || undefined;
  const queue = new BullJobQueue(connection, { prefix });
  let worker: RunningWorker | null = null;
  let app: FastifyInstance | null = null;
  const close = async (): Promise<void> => {
    await app?.close();
    await worker?.close();
    await queue.close();
    await db.close();
    stopRedis();
  };
  try {
    app = await buildApp({ repo, store, queue, config, logger: env.LOG_LEVEL ? { level: env.LOG_LEVEL } : { level: 'warn' } });
    await app.listen({ port: config.port, host: config.host });
    worker = await startWorker({ repo, store, connection, concurrency: config.workerConcurrency, prefix, log });
  } catch (e) {
    await close();
    throw e;
  }
  const url = `http://${config.host}:${config.port}`;
  log(`distilxr ${url} (API docs ${url}/docs): ${db.kind} database, data under ${config.dataDir}, ${config.workerConcurrency} worker slot(s)`);
  return { app, url, close };
}
