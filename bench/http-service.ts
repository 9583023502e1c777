/**
 * A distilxr service for the HTTP benchmarks: `node bin/distilxr.js start` as a child process
 * (API + one worker, PGlite) on a free port with a fresh DATA_DIR under bench/results/tmp/ and its
 * own Redis key prefix (deleted on stop), plus the few API calls the benchmarks make.
 * RATE_LIMIT_MAX=0 so the benchmarks measure the service, not the rate limiter.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { REPO_ROOT } from './lib.js';

export const REDIS_URL = 'redis://127.0.0.1:6379';

/** A port nobody listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => res(port));
    });
  });
}

/** Polls `url` until it answers 2xx, or throws after `timeoutMs` (or if `child` exits first). */
export async function waitFor(url: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the process serving ${url} exited with ${child.exitCode} before answering`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await sleep(200);
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms`);
}

/** SIGTERM, then SIGKILL if the child has not exited within `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const killed = await Promise.race([exited.then(() => false), sleep(graceMs).then(() => true)]);
  if (killed) {
    child.kill('SIGKILL');
    await exited;
  }
}

export interface ServiceOptions {
  /** Directory name under bench/results/tmp/ (wiped first). */
  name: string;
  /** Extra environment (WORKER_CONCURRENCY, ...). */
  env?: Record<string, string>;
  /** Node options before the script, e.g. `--cpu-prof` to see where a request's time goes. */
  nodeArgs?: string[];
}

export class BenchService {
  private constructor(
    readonly child: ChildProcess,
    readonly base: string,
    readonly dataDir: string,
    readonly redisPrefix: string,
    readonly logFile: string,
  ) {}

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Starts the service and waits until /readyz answers. */
  static async start(dir: string, opts: ServiceOptions): Promise<BenchService> {
    const dataDir = join(dir, 'data');
    await rm(dataDir, { recursive: true, force: true });
    await mkdir(dataDir, { recursive: true });
    const port = await freePort();
    const redisPrefix = `bench-${opts.name}-${process.pid}-${Date.now()}`;
    const logFile = join(dir, 'service.log');
    const log = createWriteStream(logFile);
    const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), join(REPO_ROOT, 'bin', 'distilxr.js'), 'start'], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        REDIS_URL,
        REDIS_PREFIX: redisPrefix,
        RATE_LIMIT_MAX: '0',
        API_KEYS: '',
        DATABASE_URL: '',
        ...opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const svc = new BenchService(child, `http://127.0.0.1:${port}`, dataDir, redisPrefix, logFile);
    try {
      await waitFor(`${svc.base}/readyz`, child);
    } catch (e) {
      await svc.stop();
      throw new Error(`${(e as Error).message} (log: ${logFile})`);
    }
    return svc;
  }

  /** JSON request; throws with the status and body on a non-2xx answer. */
  async api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const form = body instanceof FormData;
    const res = await fetch(this.base + path, {
      method,
      headers: form || body === undefined ? {} : { 'content-type': 'application/json' },
      body: form ? body : body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as T;
  }

  /** Uploads an XC train (+ test) file; returns the dataset id. */
  async uploadDataset(train: string, test?: string): Promise<string> {
    const form = new FormData();
    form.append('train', await openAsBlob(train), 'train.txt');
    if (test) form.append('test', await openAsBlob(test), 'test.txt');
    return (await this.api<{ id: string }>('POST', '/v1/datasets', form)).id;
  }

  async submitJob(datasetId: string, params: Record<string, unknown>): Promise<JobView> {
    return this.api<JobView>('POST', '/v1/jobs', { datasetId, params });
  }

  /** Polls a job until `done(job)` holds; throws if it reaches a final state first or times out. */
  async waitJob(id: string, done: (j: JobView) => boolean, timeoutMs = 30 * 60_000): Promise<JobView> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const j = await this.api<JobView>('GET', `/v1/jobs/${id}`);
      if (done(j)) return j;
      if (FINAL.has(j.status)) throw new Error(`job ${id} ended ${j.status}${j.error ? `: ${j.error}` : ''} (log: ${this.logFile})`);
      if (Date.now() > deadline) throw new Error(`job ${id} still ${j.status} (${j.stage}) after ${timeoutMs} ms`);
      await sleep(500);
    }
  }

  /** Trains a model over HTTP (no teacher) and returns its id. */
  async trainModel(datasetId: string, params: Record<string, unknown>): Promise<string> {
    const job = await this.submitJob(datasetId, params);
    const done = await this.waitJob(job.id, (j) => j.status === 'completed');
    if (!done.modelId) throw new Error(`job ${job.id} completed without a model`);
    return done.modelId;
  }

  /** Stops the service and deletes its Redis keys. */
  async stop(): Promise<void> {
    await stopChild(this.child);
    await deleteRedisPrefix(this.redisPrefix);
  }
}

export const FINAL: ReadonlySet<string> = new Set(['completed', 'failed', 'cancelled']);

/** The job fields the benchmarks read. */
export interface JobView {
  id: string;
  status: string;
  stage: string | null;
  progress: number;
  modelId: string | null;
  error: string | null;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

async function deleteRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
