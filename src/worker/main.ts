/**
 * `distilxr worker`: one worker process. Configuration by environment (see loadConfig) plus
 * WORKER_LOCK_MS (job lock, default 10000; stalled jobs are looked for every half of it),
 * WORKER_RECONCILE_MS (how often the database's unfinished jobs are checked against the queue,
 * default 60000), REDIS_PREFIX (BullMQ key prefix shared with the API; by default one derived from
 * the database, see queue-prefix.ts), WORKER_METRICS_PORT (Prometheus GET /metrics on HOST,
 * default: no endpoint), JOB_MAX_STARTS (starts of one job before it is failed for good, default
 * 3) and LOG_LEVEL (default info). Each pipeline thread's JavaScript heap is capped at
 * JOB_MAX_MEMORY_MB. Logs are pino JSON lines on stdout, like the API's.
 * Runs directly too: `node --import tsx src/worker/main.ts`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { redisConnectionFromUrl } from '../infra/queue/bull-job-queue.js';
import { jobRunnerLimitsOf, loadConfig, positiveIntEnv, requireSharedDatabase } from '../infra/config.js';
import { closeOnSignals } from '../infra/signals.js';
import { queuePrefix } from '../infra/queue/queue-prefix.js';
import { openStorage } from '../infra/storage.js';
import { pino, type Logger } from 'pino';
import { WorkerTelemetry } from './job-telemetry.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import type { JobRunnerOptions } from './job-runner.js';
import { DEFAULT_LOCK_MS, startWorker } from './worker.js';

export interface WorkerProcess {
  /** Closes the worker (running jobs go back to the queue) and the database. */
  stop(): Promise<void>;
}

/** What a caller may inject into the job runner besides the configuration (tests' fault hooks). */
export type WorkerHooks = Pick<JobRunnerOptions, 'onPipelineEvent'>;

/** Opens the database and the artifact store and starts taking jobs. */
export async function runWorker(
  env: NodeJS.ProcessEnv = process.env,
  logger: Logger = pino({ name: 'distilxr-worker', level: env.LOG_LEVEL || 'info' }),
  hooks: WorkerHooks = {},
): Promise<WorkerProcess> {
  const config = loadConfig(env);
  requireSharedDatabase(config, 'worker');
  const lockMs = positiveIntEnv(env, 'WORKER_LOCK_MS', DEFAULT_LOCK_MS);
  const reconcileMs = positiveIntEnv(env, 'WORKER_RECONCILE_MS', 60_000);
  const metricsPort = env.WORKER_METRICS_PORT ? positiveIntEnv(env, 'WORKER_METRICS_PORT', 0) : null;
  const log = (line: string): void => logger.warn(line);
  const telemetry = new WorkerTelemetry(logger);
  const { db, repo, store } = await openStorage(config);
  let metrics: MetricsServer | null = null;
  try {
    if (metricsPort !== null) metrics = await startMetricsServer(telemetry.registry, metricsPort, config.host);
    const prefix = await queuePrefix(env, db.prisma);
    const worker = await startWorker({
      repo,
      store,
      connection: redisConnectionFromUrl(config.redisUrl),
      concurrency: config.workerConcurrency,
      lockMs,
      reconcileMs,
      prefix,
      runner: { ...jobRunnerLimitsOf(config), ...hooks },
      log,
      telemetry,
    });
    logger.info(
      { event: 'worker-ready', pid: process.pid, concurrency: config.workerConcurrency, lockMs, database: db.kind, metricsPort: metrics?.port ?? null, queuePrefix: prefix },
      `distilxr worker ${process.pid}: ready (concurrency ${config.workerConcurrency}, lock ${lockMs} ms, ${db.kind} database, queue prefix ${prefix}${metrics ? `, metrics on :${metrics.port}/metrics` : ''})`,
    );
    return {
      stop: async () => {
        try {
          await worker.close();
        } finally {
          await metrics?.close();
          await db.close();
        }
      },
    };
  } catch (e) {
    await metrics?.close();
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
