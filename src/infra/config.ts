import { resolve } from 'node:path';
import { UsageError } from '../core/util/errors.js';
import { DEFAULT_JOB_LIMITS, type JobLimits } from '../pipeline/job-cost.js';

const MiB = 1 << 20;

/** ONNX models are one protobuf message, and protobuf caps a message at 2 GiB − 1 bytes. */
export const ONNX_MAX_BYTES = 2 ** 31 - 1;

/** Service configuration, from the environment only. */
export interface ServiceConfig {
  /** PostgreSQL URL; unset means embedded PGlite under DATA_DIR/pglite. */
  databaseUrl: string | null;
  /** @defaultValue redis://127.0.0.1:6379 */
  redisUrl: string;
  /** Artifacts, PGlite, checkpoints. @defaultValue ./.distilxr */
  dataDir: string;
  /** @defaultValue 8080 */
  port: number;
  /** @defaultValue 127.0.0.1 */
  host: string;
  /**
   * Bearer keys, each optionally suffixed `:read` (read-only: GET routes and queries) or `:write`
   * (everything, the same as no suffix); empty means no authentication.
   */
  apiKeys: string[];
  /** Jobs one worker process runs at once. @defaultValue 1 */
  workerConcurrency: number;
  /** Upload limit in bytes, per file. @defaultValue 1 GiB */
  maxUploadBytes: number;
  /** ONNX teacher upload limit in bytes (an upload is also held to maxUploadBytes). @defaultValue 2 GiB − 1 */
  maxTeacherBytes: number;
  /** JSON request bodies. @defaultValue 1 MiB */
  maxBodyBytes: number;
  /** JSON body of a top-k query (up to 1000 queries of text or features). @defaultValue 32 MiB */
  maxQueryBodyBytes: number;
  /** Requests per window to /v1 per API key (per client IP without one); 0 turns rate limiting off. @defaultValue 6000 */
  rateLimitMax: number;
  /** @defaultValue 60000 */
  rateLimitWindowMs: number;
  /**
   * Event streams (`GET /v1/jobs/:id/events`) one client may hold open at once, counted per API key
   * (per client IP without one); over it: 429. 0 turns the cap off. @defaultValue 32
   */
  maxEventStreamsPerClient: number;
  /** Origins allowed to call the API from a browser ("*" for any); empty means no CORS headers at all. */
  corsOrigins: string[];
  /**
   * A job's estimated peak memory (parameters, optimizer state, pools, buffers: pipeline/job-cost.ts)
   * above which POST /v1/jobs and /v1/teachers/fit answer 413; workers also cap a pipeline
   * thread's JavaScript heap at it. JOB_MAX_MEMORY_MB. @defaultValue 8192 MiB
   */
  jobMaxMemoryBytes: number;
  /** A job's estimated run time above which it is refused with 413. JOB_MAX_SECONDS. @defaultValue 86400 */
  jobMaxSeconds: number;
  /**
   * Starts of one job before a worker fails it for good (each start whose worker process died
   * counts: a job that kills its worker is not restarted without end). JOB_MAX_STARTS. @defaultValue 3
   */
  jobMaxStarts: number;
  /**
   * A worker process's resident memory above which its running job is stopped and failed as out
   * of memory (typed arrays are outside the heap limit). WORKER_MAX_RSS_MB.
   * @defaultValue JOB_MAX_MEMORY_MB × WORKER_CONCURRENCY + 1024 MiB
   */
  workerMaxRssBytes: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const int = (name: string, fallback: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
    return n;
  };
  const maxTeacherBytes = positiveIntEnv(env, 'MAX_TEACHER_BYTES', ONNX_MAX_BYTES);
  if (maxTeacherBytes > ONNX_MAX_BYTES) throw new Error(`MAX_TEACHER_BYTES must be at most ${ONNX_MAX_BYTES} (the ONNX protobuf limit), got "${env.MAX_TEACHER_BYTES}"`);
  const workerConcurrency = Math.max(1, int('WORKER_CONCURRENCY', 1));
  const jobMaxMemoryBytes = positiveIntEnv(env, 'JOB_MAX_MEMORY_MB', DEFAULT_JOB_LIMITS.maxMemoryBytes / MiB) * MiB;
  return {
    databaseUrl: env.DATABASE_URL || null,
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    dataDir: resolve(env.DATA_DIR || './.distilxr'),
    port: int('PORT', 8080),
    host: env.HOST || '127.0.0.1',
    apiKeys: list(env.API_KEYS),
    workerConcurrency,
    maxUploadBytes: int('MAX_UPLOAD_BYTES', 1 << 30),
    maxTeacherBytes,
    maxBodyBytes: positiveIntEnv(env, 'MAX_BODY_BYTES', 1 << 20),
    maxQueryBodyBytes: positiveIntEnv(env, 'MAX_QUERY_BODY_BYTES', 32 << 20),
    rateLimitMax: int('RATE_LIMIT_MAX', 6000),
    rateLimitWindowMs: positiveIntEnv(env, 'RATE_LIMIT_WINDOW_MS', 60_000),
    maxEventStreamsPerClient: int('MAX_EVENT_STREAMS_PER_CLIENT', 32),
    corsOrigins: list(env.CORS_ORIGINS).map(checkOrigin),
    jobMaxMemoryBytes,
    jobMaxSeconds: positiveIntEnv(env, 'JOB_MAX_SECONDS', DEFAULT_JOB_LIMITS.maxSeconds),
    jobMaxStarts: positiveIntEnv(env, 'JOB_MAX_STARTS', 3),
    workerMaxRssBytes: positiveIntEnv(env, 'WORKER_MAX_RSS_MB', (jobMaxMemoryBytes / MiB) * workerConcurrency + 1024) * MiB,
  };
}

/** The job limits (pipeline/job-cost.ts) this configuration sets. */
export function jobLimitsOf(config: Pick<ServiceConfig, 'jobMaxMemoryBytes' | 'jobMaxSeconds'>): JobLimits {
  return { maxMemoryBytes: config.jobMaxMemoryBytes, maxSeconds: config.jobMaxSeconds };
}

/** What a worker's job runner takes from the configuration: the thread heap cap, the start bound, the RSS cap. */
export function jobRunnerLimitsOf(config: Pick<ServiceConfig, 'jobMaxMemoryBytes' | 'jobMaxStarts' | 'workerMaxRssBytes'>): { heapLimitMb: number; maxStarts: number; maxRssBytes: number } {
  return { heapLimitMb: Math.floor(config.jobMaxMemoryBytes / MiB), maxStarts: config.jobMaxStarts, maxRssBytes: config.workerMaxRssBytes };
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

/** A positive integer from the environment, or the fallback when unset. */
export function positiveIntEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** "*" or a bare origin (scheme://host[:port]), which is what browsers send in Origin. */
function checkOrigin(o: string): string {
  if (o === '*') return o;
  let origin: string | null = null;
  try {
    origin = new URL(o).origin;
  } catch {
    // reported below
  }
  if (origin === null || origin === 'null' || origin !== o) throw new Error(`CORS_ORIGINS: "${o}" is not an origin like https://app.example.com (scheme, host, optional port; no path or trailing slash)`);
  return o;
}
