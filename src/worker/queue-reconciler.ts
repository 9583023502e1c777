/**
 * Keeps the queue in step with the database. Redis keeps nothing on disk here, so the database
 * is the source of truth: whatever a restarted or flushed Redis lost is put back from it.
 */
import type { RequeueOutcome } from '../infra/queue/bull-job-queue.js';
import type { QueuedJob } from '../infra/queue/job-queue.js';
import type { Repository } from '../infra/records.js';

/** What reconcile() needs from a queue: BullJobQueue. */
export interface Requeuer {
  requeue(job: QueuedJob): Promise<RequeueOutcome>;
}

/**
 * Puts every unfinished job of the database back into the queue. Entries that are still waiting
 * or active are left alone, and so are the jobs in `skip` (this process runs them: if Redis lost
 * them, they lose their lock, stop, and the next reconcile puts them back; adding them now would
 * let a second worker start them while they still run here). Returns how many were (re-)added.
 */
export async function reconcile(repo: Repository, queue: Requeuer, skip: { has(jobId: string): boolean } = new Set<string>()): Promise<number> {
  let added = 0;
  for (const j of await repo.listUnfinishedJobs()) {
    if (skip.has(j.id)) continue;
    if ((await queue.requeue({ jobId: j.id, kind: j.kind })) !== 'present') added++;
  }
  return added;
}

export interface QueueReconcilerDeps {
  repo: Repository;
  queue: Requeuer & { lockHolder(jobId: string): Promise<string | null> };
  /** The jobs this process runs, with the lock tokens they run under. */
  running: () => ReadonlyMap<string, string | undefined>;
  /** Stops a running job whose lock is gone (it goes back to the queue from its checkpoint). */
  giveUp: (jobId: string) => void;
  /** Also reconcile this often, when nothing signalled a loss; 0 = never. */
  periodMs: number;
  log: (line: string) => void;
}

/** Several signals (both Redis connections coming back, a lost lock) arrive together: one pass. */
const DEBOUNCE_MS = 250;

/**
 * When Redis may have lost jobs, puts them back: after a reconnect (a restarted Redis comes back
 * empty), after a job lost its lock (a FLUSHALL), and every `periodMs` (a FLUSHALL that cost no
 * running job its lock, e.g. of a job waiting in a retry backoff).
 */
export class QueueReconciler {
  private timer: NodeJS.Timeout | null = null;
  private readonly reasons = new Set<string>();
  private readonly periodic: NodeJS.Timeout | null;
  private readonly checking = new Set<string>();
  private closed = false;

  constructor(private readonly deps: QueueReconcilerDeps) {
    this.periodic = deps.periodMs > 0 ? setInterval(() => this.schedule('periodically'), deps.periodMs) : null;
    this.periodic?.unref();
  }

  /** A reconcile pass soon (debounced); `reason` goes into its log line. */
  schedule(reason: string): void {
    if (this.closed) return;
    this.reasons.add(reason);
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const why = `(${[...this.reasons].join('; ')})`;
      this.reasons.clear();
      if (this.closed) return;
      reconcile(this.deps.repo, this.deps.queue, this.deps.running())
        .then((n) => n && this.deps.log(`reconciled ${why}: ${n} job(s) re-enqueued`))
        .catch((e: unknown) => this.deps.log(`reconcile ${why} failed: ${(e as Error).message}`));
    }, DEBOUNCE_MS);
  }

  /**
   * A Redis connection came back. If Redis came back empty, the jobs running here no longer hold
   * their locks: they are given up at once (rather than at the next lock renewal, up to half the
   * lock time later) and put back by the pass that follows their release.
   */
  onReconnect(): void {
    this.schedule('after a Redis reconnect');
    for (const [id, token] of this.deps.running()) {
      if (!token || this.checking.has(id)) continue;
      this.checking.add(id);
      this.deps.queue
        .lockHolder(id)
        .then((holder) => {
          if (holder === token || this.closed) return;
          this.deps.log(`job ${id}: its lock is gone after a Redis reconnect; giving the job up to the queue`);
          this.deps.giveUp(id);
        })
        .catch((e: unknown) => this.deps.log(`job ${id}: checking its lock after a Redis reconnect failed: ${(e as Error).message}`))
        .finally(() => this.checking.delete(id));
    }
  }

  /** A job this process ran stopped because its lock was lost: Redis may have lost its entry. */
  onLockLost(jobId: string): void {
    this.schedule(`after job ${jobId} lost its lock`);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.periodic) clearInterval(this.periodic);
  }
}
