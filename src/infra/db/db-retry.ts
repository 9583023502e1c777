/**
 * Riding out a database outage (a PostgreSQL restart, a failover): operations that fail because the
 * server cannot be reached or dropped the connection are retried with backoff for a bounded time;
 * any other error is thrown at once. The pg pool reconnects by itself on the next query, so a retry
 * is all it takes once the server is back.
 *
 * Workers use this (a job must not fail, nor lose its events, because the database restarted);
 * the API does not: it answers 503 on /readyz and lets clients retry.
 */
import { Prisma } from '../../generated/prisma/client.js';
import type { JobEventRecord, JobEventType, JobPatch, JobStats, JobStatus, ListOptions, NewDataset, NewJob, NewTeacher, Repository } from '../records.js';

/** Kinds the pg driver adapter gives to connection failures (its `driverAdapterError.cause.kind`). */
const TRANSIENT_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TooManyConnections']);
/** Prisma's codes for an unreachable server, a timeout and a closed connection. */
const TRANSIENT_PRISMA_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017']);
/**
 * SQLSTATE classes and codes of a server going away or not ready yet: 08 connection exception,
 * 57P01 admin shutdown, 57P02 crash shutdown, 57P03 cannot connect now (starting up), 53300 too
 * many connections.
 */
const TRANSIENT_SQLSTATE = /^(08...|57P0[123]|53300)$/;
/** node-postgres' own messages for a socket that closed or a connect that timed out. */
const TRANSIENT_MESSAGE = /Connection terminated|connection timeout|timeout exceeded when trying to connect|ECONNREFUSED|ECONNRESET|Client has encountered a connection error/i;

/** Whether `e` says the database is unreachable for now (worth retrying), not that the query is wrong. */
export function isTransientDbError(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const meta = (e as { meta?: { driverAdapterError?: { cause?: { kind?: string; code?: string; originalCode?: string } } } }).meta;
  const cause = meta?.driverAdapterError?.cause;
  if (cause) {
    if (cause.kind && TRANSIENT_KINDS.has(cause.kind)) return true;
    const sqlState = cause.originalCode ?? cause.code;
    if (cause.kind === 'postgres' && sqlState && TRANSIENT_SQLSTATE.test(sqlState)) return true;
  }
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && (TRANSIENT_PRISMA_CODES.has(code) || TRANSIENT_SQLSTATE.test(code) || code === 'ECONNREFUSED' || code === 'ECONNRESET')) return true;
  return TRANSIENT_MESSAGE.test(e.message);
}

export interface DbRetryOptions {
  /** How long one operation keeps retrying before its error is thrown. @defaultValue 120000 */
  maxWaitMs?: number;
  /** First pause; doubles up to maxDelayMs. @defaultValue 200 */
  firstDelayMs?: number;
  /** Longest pause between tries: also the longest a write waits after the server is back. @defaultValue 2000 */
  maxDelayMs?: number;
  /** Outage start and end, and operations given up. @defaultValue console.error */
  log?: (line: string) => void;
}

/**
 * Wraps a Repository so every operation but ping/close rides out an outage. Writes stay in the
 * caller's order (each call returns only once it succeeded). A write whose connection dropped may
 * have committed: retried creates that then hit their own unique id return the stored row, and a
 * retried finishJob that finds the job already in the status it was setting returns it.
 */
export class RetryingRepository implements Repository {
  private readonly maxWaitMs: number;
  private readonly firstDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly log: (line: string) => void;
  /** When the current outage was first seen (null: none), so it is logged once, not per call. */
  private outageSince: number | null = null;

  constructor(
    private readonly inner: Repository,
    opts: DbRetryOptions = {},
  ) {
    this.maxWaitMs = opts.maxWaitMs ?? 120_000;
    this.firstDelayMs = opts.firstDelayMs ?? 200;
    this.maxDelayMs = opts.maxDelayMs ?? 2000;
    this.log = opts.log ?? ((line) => console.error(line));
  }

  /** Runs `op` until it succeeds, fails for another reason, or maxWaitMs has passed. */
  private async retry<T>(what: string, op: (retried: boolean) => Promise<T>): Promise<T> {
    const start = Date.now();
    let delay = this.firstDelayMs;
    let retried = false;
    for (;;) {
      try {
        const result = await op(retried);
        if (this.outageSince !== null) {
          this.log(`database reachable again after ${((Date.now() - this.outageSince) / 1000).toFixed(1)} s (${what} succeeded)`);
          this.outageSince = null;
        }
        return result;
      } catch (e) {
        if (!isTransientDbError(e)) throw e;
        if (this.outageSince === null) {
          this.outageSince = Date.now();
          this.log(`database unreachable (${lastLine(e)}): retrying writes and reads for up to ${this.maxWaitMs / 1000} s each`);
        }
        const elapsed = Date.now() - start;
        if (elapsed >= this.maxWaitMs) {
          this.log(`database still unreachable after ${(elapsed / 1000).toFixed(1)} s: giving up ${what}`);
          throw e;
        }
        await new Promise((r) => setTimeout(r, Math.min(delay, this.maxWaitMs - elapsed)));
        delay = Math.min(this.maxDelayMs, delay * 2);
        retried = true;
      }
    }
  }

  /** A create with its own id: after a dropped connection the row may exist already (P2002 on retry). */
  private create<T>(what: string, op: () => Promise<T>, existing: () => Promise<T | null>): Promise<T> {
    return this.retry(what, async (retried) => {
      try {
        return await op();
      } catch (e) {
        if (retried && e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2002') {
          const row = await existing();
          if (row) return row;
        }
        throw e;
      }
    });
  }

  createDataset(d: NewDataset) {
    return this.create(`createDataset ${d.id}`, () => this.inner.createDataset(d), () => this.inner.getDataset(d.id));
  }
  getDataset(id: string) {
    return this.retry(`getDataset ${id}`, () => this.inner.getDataset(id));
  }
  listDatasets(opts?: ListOptions) {
    return this.retry('listDatasets', () => this.inner.listDatasets(opts));
  }
  deleteDataset(id: string) {
    return this.retry(`deleteDataset ${id}`, () => this.inner.deleteDataset(id));
  }

  createTeacher(t: NewTeacher) {
    return this.create(`createTeacher ${t.id}`, () => this.inner.createTeacher(t), () => this.inner.getTeacher(t.id));
  }
  getTeacher(id: string) {
    return this.retry(`getTeacher ${id}`, () => this.inner.getTeacher(id));
  }
  listTeachers(opts?: ListOptions) {
    return this.retry('listTeachers', () => this.inner.listTeachers(opts));
  }
  deleteTeacher(id: string) {
    return this.retry(`deleteTeacher ${id}`, () => this.inner.deleteTeacher(id));
  }

  createJob(j: NewJob) {
    return this.create(`createJob ${j.id}`, () => this.inner.createJob(j), () => this.inner.getJob(j.id));
  }
  getJob(id: string) {
    return this.retry(`getJob ${id}`, () => this.inner.getJob(id));
  }
  listJobs(filter?: { status?: JobStatus } & ListOptions) {
    return this.retry('listJobs', () => this.inner.listJobs(filter));
  }
  getRetryOf(id: string) {
    return this.retry(`getRetryOf ${id}`, () => this.inner.getRetryOf(id));
  }
  deleteJob(id: string) {
    return this.retry(`deleteJob ${id}`, () => this.inner.deleteJob(id));
  }
  listUnfinishedJobs() {
    return this.retry('listUnfinishedJobs', () => this.inner.listUnfinishedJobs());
  }
  jobStats(): Promise<JobStats> {
    return this.retry('jobStats', () => this.inner.jobStats());
  }
  updateJob(id: string, patch: JobPatch) {
    return this.retry(`updateJob ${id}`, () => this.inner.updateJob(id, patch));
  }
  finishJob(id: string, status: 'completed' | 'failed' | 'cancelled', patch?: JobPatch) {
    return this.retry(`finishJob ${id} ${status}`, async (retried) => {
      const done = await this.inner.finishJob(id, status, patch);
      if (done || !retried) return done;
      // the first attempt may have committed before its connection dropped
      const job = await this.inner.getJob(id);
      return job?.status === status ? job : null;
    });
  }
  requestCancel(id: string) {
    return this.retry(`requestCancel ${id}`, () => this.inner.requestCancel(id));
  }
  deleteUnstartedJob(id: string) {
    return this.retry(`deleteUnstartedJob ${id}`, async (retried) => {
      const deleted = await this.inner.deleteUnstartedJob(id);
      // the first attempt may have committed before its connection dropped
      return deleted || (retried && (await this.inner.getJob(id)) === null);
    });
  }

  addJobEvent(jobId: string, type: JobEventType, data: Record<string, unknown>): Promise<JobEventRecord> {
    return this.retry(`addJobEvent ${jobId} ${type}`, () => this.inner.addJobEvent(jobId, type, data));
  }
  listJobEvents(jobId: string, opts?: { afterId?: number; types?: JobEventType[]; limit?: number }) {
    return this.retry(`listJobEvents ${jobId}`, () => this.inner.listJobEvents(jobId, opts));
  }

  createModel(m: Parameters<Repository['createModel']>[0]) {
    return this.create(`createModel ${m.id}`, () => this.inner.createModel(m), () => this.inner.getModel(m.id));
  }
  getModel(id: string) {
    return this.retry(`getModel ${id}`, () => this.inner.getModel(id));
  }
  listModels(opts?: ListOptions) {
    return this.retry('listModels', () => this.inner.listModels(opts));
  }
  deleteModel(id: string) {
    return this.retry(`deleteModel ${id}`, () => this.inner.deleteModel(id));
  }

  /** Not retried: a health check must say at once that the database is down. */
  ping(): Promise<void> {
    return this.inner.ping();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

/** The last line of a Prisma message (the first ones quote the calling code). */
function lastLine(e: unknown): string {
  const lines = String((e as Error).message ?? e)
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  return (lines.at(-1) ?? '').slice(0, 200);
}
