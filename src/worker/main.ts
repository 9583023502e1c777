/**
 * `distilxr worker`: one worker process. Configuration by environment (see loadConfig) plus
 * WORKER_LOCK_MS (job lock and stalled-check interval, default 30000) and REDIS_PREFIX (BullMQ key
 * prefix shared with the API, default BullMQ's). Runs directly too: `node --import tsx src/worker/main.ts`.
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig, positiveIntEnv } from '../service/config.js';
import { openDatabase } from '../service/db.js';
import { redisConnectionFromUrl } from '../service/bull-job-queue.js';
import { FsArtifactStore } from '../service/fs-artifact-store.js';
import { PrismaRepository } from '../service/prisma-repository.js';
import { startWorker } from './worker.js';

export interface WorkerProcess {
  /** Closes the worker (running jobs go back to the queue) and the database. */
  stop(): Promise<void>;
}

/** Opens the database and the artifact store and starts taking jobs. */
export async function runWorker(env: NodeJS.ProcessEnv = process.env, log: (line: string) => void = (l) => console.error(l)): Promise<WorkerProcess> {
  const config = loadConfig(env);
  const lockMs = positiveIntEnv(env, 'WORKER_LOCK_MS', 30_000);
  const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir });
  try {
    const worker = await startWorker({
      repo: new PrismaRepository(db.prisma),
      store: new FsArtifactStore(join(config.dataDir, 'artifacts')),
      connection: redisConnectionFromUrl(config.redisUrl),
      concurrency: config.workerConcurrency,
      lockMs,
      prefix: env.REDIS_PREFIX || undefined,
      log,
    });
    log(`distilxr worker ${process.pid}: ready (concurrency ${config.workerConcurrency}, lock ${lockMs} ms, ${db.kind} database)`);
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
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      console.error(`distilxr worker: ${signal} again, exiting now`);
      process.exit(1);
    }
    stopping = true;
    console.error(`distilxr worker: ${signal}, returning running jobs to the queue and closing`);
    w.stop().then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`distilxr worker: shutdown failed: ${(e as Error).stack ?? String(e)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(`distilxr worker: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  });
}
