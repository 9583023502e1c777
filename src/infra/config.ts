import { resolve } from 'node:path';
import { UsageError } from '../core/util/errors.js';
import type { JobLimits } from '../pipeline/job-cost.js';
import { listOf, parseServiceEnv, type ServiceEnv } from './service-settings.js';

const MiB = 1 << 20;

/**
 * The service's configuration in the units the code uses (bytes, an absolute DATA_DIR, lists),
 * from the environment variables SERVICE_ENV declares (service-settings.ts: their types, ranges,
 * defaults and meaning; `distilxr env` prints them).
 */
export type ServiceConfig = ReturnType<typeof configOf>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  return configOf(parseServiceEnv(env));
}

function configOf(e: ServiceEnv) {
  return {
    databaseUrl: e.DATABASE_URL ?? null,
    redisUrl: e.REDIS_URL,
    /** null: derived from the database's install id (queue-prefix.ts). */
    redisPrefix: e.REDIS_PREFIX ?? null,
    dataDir: resolve(e.DATA_DIR),
    port: e.PORT,
    host: e.HOST,
    logLevel: e.LOG_LEVEL ?? null,
    apiKeys: listOf(e.API_KEYS),
    corsOrigins: listOf(e.CORS_ORIGINS).map(checkOrigin),
    rateLimitMax: e.RATE_LIMIT_MAX,
    rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
    maxBodyBytes: e.MAX_BODY_BYTES,
    maxQueryBodyBytes: e.MAX_QUERY_BODY_BYTES,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    maxTeacherBytes: e.MAX_TEACHER_BYTES,
    maxEventStreamsPerClient: e.MAX_EVENT_STREAMS_PER_CLIENT,
    modelCacheSize: e.MODEL_CACHE_SIZE,
    jobMaxMemoryBytes: e.JOB_MAX_MEMORY_MB * MiB,
    jobMaxSeconds: e.JOB_MAX_SECONDS,
    jobMaxStarts: e.JOB_MAX_STARTS,
    workerConcurrency: e.WORKER_CONCURRENCY,
    workerMaxRssBytes: (e.WORKER_MAX_RSS_MB ?? e.JOB_MAX_MEMORY_MB * e.WORKER_CONCURRENCY + 1024) * MiB,
    workerLockMs: e.WORKER_LOCK_MS,
    workerReconcileMs: e.WORKER_RECONCILE_MS,
    workerMetricsPort: e.WORKER_METRICS_PORT ?? null,
    workerScoreShardPairs: e.WORKER_SCORE_SHARD_PAIRS,
  };
}

/** The job limits (pipeline/job-cost.ts) this configuration sets. */
export function jobLimitsOf(config: Pick<ServiceConfig, 'jobMaxMemoryBytes' | 'jobMaxSeconds'>): JobLimits {
  return { maxMemoryBytes: config.jobMaxMemoryBytes, maxSeconds: config.jobMaxSeconds };
}

/** What a worker's job runner takes from the configuration: the thread heap cap, the start bound, the RSS cap. */
export function jobRunnerLimitsOf(config: Pick<ServiceConfig, 'jobMaxMemoryBytes' | 'jobMaxStarts' | 'workerMaxRssBytes' | 'workerScoreShardPairs'>): { heapLimitMb: number; maxStarts: number; maxRssBytes: number; scoreShardPairs: number } {
  return { heapLimitMb: Math.floor(config.jobMaxMemoryBytes / MiB), maxStarts: config.jobMaxStarts, maxRssBytes: config.workerMaxRssBytes, scoreShardPairs: config.workerScoreShardPairs };
}

/**
 * `serve` and `worker` are separate processes: on embedded PGlite each would open its own handle
 * on the same files (PGlite admits one process) and a job submitted to one would never reach the
 * other. They need PostgreSQL; `start` runs the API and a worker in one process on PGlite.
 */
export function requireSharedDatabase(config: Pick<ServiceConfig, 'databaseUrl'>, role: 'serve' | 'worker'): void {
  if (config.databaseUrl !== null) return;
  throw new UsageError(
    `${role} needs DATABASE_URL (PostgreSQL, e.g. postgresql://user@host:5432/distilxr): the embedded database admits one process, ` +
      'so separate serve and worker processes cannot share it. Set DATABASE_URL for every serve and worker process, ' +
      'or run `distilxr start` (the API and a worker in one process on the embedded database)',
  );
}

/** The limit a teacher upload is held to, and the setting that sets it (for the 413 message). */
export function teacherUploadLimit(config: Pick<ServiceConfig, 'maxUploadBytes' | 'maxTeacherBytes'>): { bytes: number; setting: string } {
  return config.maxTeacherBytes <= config.maxUploadBytes
    ? { bytes: config.maxTeacherBytes, setting: 'MAX_TEACHER_BYTES' }
    : { bytes: config.maxUploadBytes, setting: 'MAX_UPLOAD_BYTES' };
}

/** "*" or a bare origin (scheme://host[:port]), which is what browsers send in Origin. */
function checkOrigin(o: string): string {
  if (o === '*') return o;
  let origin: string | null = null;
  try {
    origin = new URL(o).origin;
  } catch {
    // reported below
  }
  if (origin === null || origin === 'null' || origin !== o) throw new UsageError(`CORS_ORIGINS: "${o}" is not an origin like https://app.example.com (scheme, host, optional port; no path or trailing slash)`);
  return o;
}
