/**
 * `distilxr worker`: one worker process. Configuration by environment (see loadConfig) plus
 * WORKER_LOCK_MS (job lock, default 10000; stalled jobs are looked for every half of it), WORKER_RECONCILE_MS (how
 * often the database's unfinished jobs are checked against the queue, default 60000) and
 * REDIS_PREFIX (BullMQ key prefix shared with the API; by default one derived from the database,
 * see queue-prefix.ts).
 * Runs directly too: `node --import tsx src/worker/main.ts`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { redisConnectionFromUrl } from '../service/bull-job-queue.js';
import { loadConfig, positiveIntEnv, requireSharedDatabase } from '../service/config.js';
import { closeOnSignals } from '../service/signals.js';
import { queuePrefix } from '../service/queue-prefix.js';
import { openStorage } from '../service/storage.js';
import { DEFAULT_LOCK_MS, startWorker } from './worker.js';

export interface WorkerProcess {
  /** Closes the worker (running jobs go back to the queue) and the database. */
  stop(): Promise<void>;
}

/** Opens the database and the artifact store and starts taking jobs. */
export async function runWorker(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = (l) => console.error(l)): Promise<WorkerProcess> {
  const config = loadConfig(env);
  requireSharedDatabase(config, 'worker');
  const lockMs = positiveIntEnv(env, 'WORKER_LOCK_MS', DEFAULT_LOCK_MS);
  const reconcileMs = positiveIntEnv(env, 'WORKER_RECONCILE_MS', 60_000);
  const { db, repo, store } = await openStorage(config);
  try {
    const prefix = await queuePrefix(env, db.prisma);
    const worker = await startWorker({
      repo,
      store,
      connection: redisConnectionFromUrl(config.redisUrl),
      concurrency: config.workerConcurrency,
      lockMs,
      reconcileMs,
      prefix,
      log,
    });
    log(`distilxr worker ${process.pid}: ready (concurrency ${config.workerConcurrency}, lock ${lockMs} ms, ${db.kind} database, queue prefix ${prefix})`);
    return {
      stop: async () => {
        try {
          await worker.close();
        } finally {
          await db.close();
        }
      },
    };
  } catch (e) {
    await db.close();
    throw e;
  }
}

/** Runs until SIGTERM/SIGINT, then shuts down gracefully; a second signal exits at once. */
export async function main(): Promise<void> {
  const w = await runWorker();
  closeOnSignals(() => w.stop(), (line) => console.error(line), 'distilxr worker');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(`distilxr worker: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  });
}
