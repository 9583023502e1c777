import { resolve } from 'node:path';

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
  /** Bearer keys; empty means no authentication. */
  apiKeys: string[];
  /** Jobs one worker process runs at once. @defaultValue 1 */
  workerConcurrency: number;
  /** Upload limit in bytes. @defaultValue 1 GiB */
  maxUploadBytes: number;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  const int = (name: string, fallback: number): number => {
    const v = env[name];
    if (v === undefined || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got "${v}"`);
    return n;
  };
  return {
    databaseUrl: env.DATABASE_URL || null,
    redisUrl: env.REDIS_URL || 'redis://127.0.0.1:6379',
    dataDir: resolve(env.DATA_DIR || './.distilxr'),
    port: int('PORT', 8080),
    host: env.HOST || '127.0.0.1',
    apiKeys: (env.API_KEYS ?? '')
      .split(',')
      .map((k) => k.trim())
      .filter(Boolean),
    workerConcurrency: Math.max(1, int('WORKER_CONCURRENCY', 1)),
    maxUploadBytes: int('MAX_UPLOAD_BYTES', 1 << 30),
  };
}

/** A positive integer from the environment, or the fallback when unset. */
export function positiveIntEnv(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got "${v}"`);
  return n;
}
