/**
 * `distilxr worker`: one worker process, configured by environment (infra/service-settings.ts,
 * `distilxr env`). Each pipeline thread's JavaScript heap is capped at JOB_MAX_MEMORY_MB. Logs are
 * pino JSON lines on stdout, like the API's.
 * Runs directly too: `node --import tsx src/worker/main.ts`.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { redisConnectionFromUrl } from '../infra/queue/bull-job-queue.js';
import { jobRunnerLimitsOf, loadConfig, requireSharedDatabase } from '../infra/config.js';
import { startClosingOnSignals } from '../infra/signals.js';
import { queuePrefix } from '../infra/queue/queue-prefix.js';
import { openStorage } from '../infra/storage.js';
import { pino, type Logger } from 'pino';
import { WorkerTelemetry } from './job-telemetry.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import type { JobRunnerOptions } from './job-runner.js';
import { startWorker } from './worker.js';

export interface WorkerProcess {
  /** Closes the worker (running jobs go back to the queue) and the database. */
  stop(): Promise<void>;
}

/** What a caller may inject into the job runner besides the configuration (tests' fault hooks). */
export type WorkerHooks = Pick<JobRunnerOptions, 'onPipelineEvent'>;

/** Opens the database and the artifact store and starts taking jobs. */
export async function runWorker(
  env: NodeJS.ProcessEnv = process.env,
  logger?: Logger,
  hooks: WorkerHooks = {},
): Promise<WorkerProcess> {
  const config = loadConfig(env);
  requireSharedDatabase(config, 'worker');
  logger ??= pino({ name: 'distilxr-worker', level: config.logLevel ?? 'info' });
  const { workerLockMs: lockMs, workerReconcileMs: reconcileMs, workerMetricsPort: metricsPort } = config;
  const log = (line: string): void => logger.warn(line);
  const telemetry = new WorkerTelemetry(logger);
  const { db, repo, store } = await openStorage(config);
  let metrics: MetricsServer | null = null;
  try {
    if (metricsPort !== null) metrics = await startMetricsServer(telemetry.registry, metricsPort, config.host);
    const prefix = await queuePrefix(config, db.prisma);
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
  await startClosingOnSignals(() => runWorker(), (w) => w.stop(), (line) => console.error(line), 'distilxr worker');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((e: unknown) => {
    console.error(`distilxr worker: ${(e as Error).stack ?? String(e)}`);
    process.exit(1);
  });
}
