import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { QUEUE_NAME, type JobQueue, type QueuedJob } from './job-queue.js';

export interface BullJobQueueOptions {
  /** Redis key prefix (one per deployment or test). @defaultValue 'bull' */
  prefix?: string;
  /** @defaultValue QUEUE_NAME */
  queueName?: string;
  /** Tries per job for transient failures (bad input fails at once). @defaultValue 3 */
  attempts?: number;
  /** First retry delay; doubles each retry. @defaultValue 5000 */
  backoffMs?: number;
  /** How long ping() waits for Redis before failing. @defaultValue 2000 */
  pingTimeoutMs?: number;
}

/** What reconcile() did for one job. */
export type RequeueOutcome = 'added' | 'present' | 'replaced';

/**
 * Longest wait between two reconnection attempts. BullMQ's own strategy backs off exponentially
 * up to 20 s, so after a Redis outage of a few seconds /readyz stayed 503 (and workers idle) for
 * up to 20 s after Redis was back; a reconnect attempt is one TCP connect, cheap to make often.
 * @defaultValue 500
 */
export const REDIS_RECONNECT_MAX_MS = 500;

/** Reconnect delay for the n-th attempt (1-based): 100, 200, ... ms, then every REDIS_RECONNECT_MAX_MS. */
export function redisReconnectDelay(attempt: number): number {
  return Math.min(100 * attempt, REDIS_RECONNECT_MAX_MS);
}

/** BullMQ connection options from a `redis://[:password@]host[:port][/db]` URL. */
export function redisConnectionFromUrl(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`REDIS_URL is not a URL: "${url}"`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`REDIS_URL must start with redis:// or rediss://, got "${url}"`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new Error(`REDIS_URL database must be a non-negative integer, got "${u.pathname.slice(1)}"`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    db,
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ requires null: blocking commands must wait out reconnects instead of failing.
    maxRetriesPerRequest: null,
    retryStrategy: redisReconnectDelay,
  };
}

/**
 * The job queue on BullMQ. A queue entry only points at the database row (`{jobId, kind}`) and its
 * BullMQ id is the job id, so enqueueing twice is a no-op.
 */
export class BullJobQueue implements JobQueue {
  readonly queue: Queue<QueuedJob>;
  private readonly jobOptions: JobsOptions;
  private readonly pingTimeoutMs: number;

  constructor(connection: ConnectionOptions, opts: BullJobQueueOptions = {}) {
    this.queue = new Queue<QueuedJob>(opts.queueName ?? QUEUE_NAME, { connection, ...(opts.prefix ? { prefix: opts.prefix } : {}) });
    // Without a listener an 'error' event (Redis down) would crash the process; callers see
    // failures through the promises of enqueue/counts/ping instead.
    this.queue.on('error', () => undefined);
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 2000;
    this.jobOptions = {
      attempts: opts.attempts ?? 3,
      backoff: { type: 'exponential', delay: opts.backoffMs ?? 5000 },
      // the database keeps the history; Redis only keeps a bounded tail for inspection
      removeOnComplete: { count: 1000, age: 24 * 3600 },
      removeOnFail: { count: 5000, age: 7 * 24 * 3600 },
    };
  }

  get name(): string {
    return this.queue.name;
  }

  async enqueue(job: QueuedJob): Promise<void> {
    await this.queue.add(job.kind, { jobId: job.jobId, kind: job.kind }, { ...this.jobOptions, jobId: job.jobId });
  }

  /**
   * Makes sure an unfinished job (per the database) has a live queue entry: adds it when Redis has
   * none, and replaces an entry that BullMQ already considers finished (failed after stalling too
   * often, or completed while the database write was lost).
   */
  async requeue(job: QueuedJob): Promise<RequeueOutcome> {
    const existing = await this.queue.getJob(job.jobId);
    if (!existing) {
      await this.enqueue(job);
      return 'added';
    }
    const state = await existing.getState();
    if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return 'present';
    await existing.remove();
    await this.enqueue(job);
    return 'replaced';
  }

  /**
   * The token holding a job's lock, or null when none does: after Redis restarted empty or was
   * flushed, a worker's running job has lost its lock (and entry) although nothing told it so.
   */
  async lockHolder(jobId: string): Promise<string | null> {
    const client = await this.queue.getBackend().client;
    return client.get(`${this.queue.toKey(jobId)}:lock`);
  }

  async counts(): Promise<Record<string, number>> {
    return this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Redis did not answer within ${this.pingTimeoutMs} ms`)), this.pingTimeoutMs);
    });
    try {
      await Promise.race([
        (async () => {
          const client = await this.queue.getBackend().client;
          await client.info();
        })(),
        timeout,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.queue.close();
  }
}
