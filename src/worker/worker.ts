import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import { BullJobQueue, type RequeueOutcome } from '../service/bull-job-queue.js';
import type { ArtifactStore } from '../service/artifact-store.js';
import { QUEUE_NAME, type QueuedJob } from '../service/job-queue.js';
import type { Repository } from '../service/records.js';
import { JobRunner, RELEASE_ON_SHUTDOWN, type JobOutcome, type JobRunnerOptions } from './job-runner.js';

export interface WorkerDeps {
  repo: Repository;
  store: ArtifactStore;
  connection: ConnectionOptions;
  /** Jobs this process runs at once (each in its own thread). */
  concurrency: number;
  /**
   * How long a job's lock lives without renewal; a worker that dies is noticed after about this
   * long (the stalled check runs at the same interval) and its job goes to another worker.
   * @defaultValue 30000
   */
  lockMs?: number;
  /** Stalls (dead workers) a job survives before BullMQ fails it. @defaultValue 3 */
  maxStalledCount?: number;
  /** Redis key prefix. @defaultValue BullMQ's 'bull' */
  prefix?: string;
  /** @defaultValue QUEUE_NAME */
  queueName?: string;
  /** Runner settings (cache directory, poll and write intervals). */
  runner?: Omit<JobRunnerOptions, 'repo' | 'store' | 'log'>;
  /** @defaultValue console.error */
  log?: (line: string) => void;
}

export interface RunningWorker {
  /** Stops taking jobs, sends running ones back to the queue (they resume from their checkpoints), closes Redis. */
  close(): Promise<void>;
}

const RECONCILE_DEBOUNCE_MS = 250;

/** What reconcile() needs from a queue: BullJobQueue. */
export interface Requeuer {
  requeue(job: QueuedJob): Promise<RequeueOutcome>;
}

/**
 * Puts every unfinished job of the database back into the queue (Redis keeps nothing on disk
 * here, so the database is the source of truth). Entries that are still waiting or active are
 * left alone. Returns how many jobs were (re-)added.
 */
export async function reconcile(repo: Repository, queue: Requeuer): Promise<number> {
  let added = 0;
  for (const j of await repo.listUnfinishedJobs()) {
    if ((await queue.requeue({ jobId: j.id, kind: j.kind })) !== 'present') added++;
  }
  return added;
}

/** Starts a BullMQ worker on the job queue; resolves once it is connected and reconciled. */
export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const log = deps.log ?? ((line: string) => console.error(line));
  const lockMs = deps.lockMs ?? 30_000;
  const queueName = deps.queueName ?? QUEUE_NAME;
  const runner = new JobRunner({ ...deps.runner, repo: deps.repo, store: deps.store, log });
  const queue = new BullJobQueue(deps.connection, { prefix: deps.prefix, queueName });
  const worker = new Worker<QueuedJob, JobOutcome>(
    queueName,
    // three declared parameters: BullMQ only passes the abort signal to processors that take it
    (job: Job<QueuedJob>, token?: string, signal?: AbortSignal) => runner.process(job, token, signal),
    {
      connection: deps.connection,
      ...(deps.prefix ? { prefix: deps.prefix } : {}),
      concurrency: deps.concurrency,
      lockDuration: lockMs,
      stalledInterval: lockMs,
      maxStalledCount: deps.maxStalledCount ?? 3,
      autorun: false,
    },
  );

  let closing = false;
  let reconcileTimer: NodeJS.Timeout | null = null;
  // The same connection error repeats every retry while Redis is down: say it once per message.
  let lastError = '';
  worker.on('error', (e) => {
    if (!closing && e.message !== lastError) log(`worker: ${e.message} (retrying until Redis answers)`);
    lastError = e.message;
  });
  // After start, a 'ready' of either Redis connection means it reconnected, possibly to a Redis
  // that lost everything (nothing is kept on disk): put the database's unfinished jobs back.
  // Debounced (both connections come back together); reconcile is idempotent.
  const onReconnect = (): void => {
    lastError = '';
    if (closing || reconcileTimer) return;
    reconcileTimer = setTimeout(() => {
      reconcileTimer = null;
      if (closing) return;
      reconcile(deps.repo, queue)
        .then((n) => n && log(`reconciled after a Redis reconnect: ${n} job(s) re-enqueued`))
        .catch((e: unknown) => log(`reconcile after a Redis reconnect failed: ${(e as Error).message}`));
    }, RECONCILE_DEBOUNCE_MS);
  };
  worker.on('lockRenewalFailed', (ids) => {
    for (const id of ids) worker.cancelJob(id, 'lock lost');
  });
  worker.on('failed', (job, e) => {
    if (job) log(`job ${job.data.jobId}: ${e.name}: ${e.message}`);
  });

  await worker.waitUntilReady();
  worker.getBackend().on('ready', onReconnect);
  const added = await reconcile(deps.repo, queue);
  if (added) log(`reconciled at start: ${added} job(s) re-enqueued`);
  worker.run().catch((e: unknown) => log(`worker stopped: ${(e as Error).message}`));

  return {
    close: async () => {
      if (closing) return;
      closing = true;
      if (reconcileTimer) clearTimeout(reconcileTimer);
      const closed = worker.close();
      worker.cancelAllJobs(RELEASE_ON_SHUTDOWN);
      await closed;
      await queue.close();
    },
  };
}
