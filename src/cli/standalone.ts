/**
 * `npm start` / `distilxr start`: the API and one worker in a single process on embedded
 * defaults (PGlite under DATA_DIR, Redis from REDIS_URL, started under DATA_DIR when none answers
 * and redis-server is installed). PGlite admits one process, which is why both share one database
 * handle here; separate `serve` and `worker` processes need DATABASE_URL (PostgreSQL).
 */
import type { FastifyInstance } from 'fastify';
import { startWorker, type RunningWorker } from '../worker/worker.js';
import { redisConnectionFromUrl } from '../infra/queue/bull-job-queue.js';
import { jobRunnerLimitsOf, loadConfig } from '../infra/config.js';
import { ensureRedis } from '../infra/queue/ensure-redis.js';
import { startServer, type RunningServer } from '../service/server.js';
import { queuePrefix } from '../infra/queue/queue-prefix.js';
import { openStorage } from '../infra/storage.js';

export interface Standalone {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export async function startStandalone(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = (l) => console.error(l)): Promise<Standalone> {
  const config = loadConfig(env);
  const stopRedis = await ensureRedis(config.redisUrl, config.dataDir, log);
  const storage = await openStorage(config);
  let worker: RunningWorker | null = null;
  let server: RunningServer | null = null;
  const close = async (): Promise<void> => {
    await server?.close(); // the app, then its queue; the storage is ours
    await worker?.close();
    await storage.db.close();
    stopRedis();
  };
  try {
    server = await startServer({ config, storage, handleSignals: false, logger: { level: config.logLevel ?? 'warn' } });
    worker = await startWorker({
      repo: storage.repo,
      store: storage.store,
      connection: redisConnectionFromUrl(config.redisUrl),
      concurrency: config.workerConcurrency,
      lockMs: config.workerLockMs,
      reconcileMs: config.workerReconcileMs,
      prefix: await queuePrefix(config, storage.db.prisma),
      runner: jobRunnerLimitsOf(config),
      log,
    });
  } catch (e) {
    await close();
    throw e;
  }
  const { app, url } = server;
  log(`distilxr ${url} (API docs ${url}/docs): ${storage.db.kind} database, data under ${config.dataDir}, ${config.workerConcurrency} worker slot(s)`);
  return { app, url, close };
}
