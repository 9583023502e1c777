import { hostname } from 'node:os';
import { Queue, QueueEvents, QueueEventsProducer, Worker, type ConnectionOptions, type Job, type QueueEventsListener } from 'bullmq';
import { XC_CACHE_KEY } from '../infra/artifacts/artifact-keys.js';
import { SCORE_WARM_EVENT, SCORES_QUEUE_SUFFIX, ScoreChildren, type ScoreChunkJob, type ScoreWarmEvent } from './score-children.js';
import { scoreChunkProcessor, scoreChunkWarmer, type ChunkOutcome } from './score-chunk-processor.js';
import { ChunkThreadPool } from './chunk-thread-pool.js';
import { BullJobQueue } from '../infra/queue/bull-job-queue.js';
import { threadCount } from '../core/util/threads.js';
import type { ArtifactStore } from '../infra/artifacts/artifact-store.js';
import { QUEUE_NAME, type QueuedJob } from '../infra/queue/job-queue.js';
import { RetryingRepository } from '../infra/db/db-retry.js';
import { DEFAULT_LOCK_MS } from '../infra/service-settings.js';
import type { Repository } from '../infra/records.js';
import { JobRunner, LOCK_LOST, RELEASE_ON_SHUTDOWN, type JobOutcome, type JobRunnerOptions } from './job-runner.js';
import type { JobTelemetry } from './job-telemetry.js';
import { QueueReconciler, reconcile } from './queue-reconciler.js';


export interface WorkerDeps {
  repo: Repository;
  store: ArtifactStore;
  connection: ConnectionOptions;
  /** Jobs this process runs at once (each in its own thread). */
  concurrency: number;
  /**
   * How long a job's lock lives without renewal; a worker that dies is noticed after about this
   * long (plus up to half of it: the stalled check runs every lockMs / 2) and its job goes to
   * another worker. BullMQ's 30 s (checked every 30 s) left a dead worker's job `running` for up to
   * a minute; the lock is renewed from the worker's main thread, which the pipeline (in its own
   * thread) does not block.
   * @defaultValue 10000
   */
  lockMs?: number;
  /**
   * How often locks are renewed; a lock Redis lost (FLUSHALL) is noticed at the next renewal.
   * Shorter than the default leaves more slack for an event loop that is slow now and then.
   * @defaultValue lockMs / 2
   */
  lockRenewMs?: number;
  /** Stalls (dead workers) a job survives before BullMQ fails it. @defaultValue 3 */
  maxStalledCount?: number;
  /** Redis key prefix. @defaultValue BullMQ's 'bull' */
  prefix?: string;
  /** @defaultValue QUEUE_NAME */
  queueName?: string;
  /**
   * How often the database's unfinished jobs are checked against the queue even when nothing
   * signalled a loss (a FLUSHALL of Redis that cost no running job its lock); 0 = never.
   * @defaultValue 60000
   */
  reconcileMs?: number;
  /** Runner settings (cache directory, poll and write intervals). */
  runner?: Omit<JobRunnerOptions, 'repo' | 'store' | 'log' | 'onLockLost' | 'scoreChildren'>;
  /** @defaultValue console.error */
  log?: (line: string) => void;
  /** Job start, end, failure and takeover, for structured logs and metrics. @defaultValue none */
  telemetry?: JobTelemetry;
}

export interface RunningWorker {
  /** Stops taking jobs, sends running ones back to the queue (they resume from their checkpoints), closes Redis. */
  close(): Promise<void>;
}

/** Starts a BullMQ worker on the job queue; resolves once it is connected and reconciled. */
/** The cores shared among a worker's concurrent jobs (at least one thread each). */
export function threadsPerJob(concurrency: number, cores = threadCount(0)): number {
  return Math.max(1, Math.floor(cores / Math.max(1, concurrency)));
}

export async function startWorker(deps: WorkerDeps): Promise<RunningWorker> {
  const log = deps.log ?? ((line: string) => console.error(line));
  const lockMs = deps.lockMs ?? DEFAULT_LOCK_MS;
  const queueName = deps.queueName ?? QUEUE_NAME;
  // set below, once the reconciler exists; a lost lock means Redis may have lost the job
  let onLockLost: (jobId: string) => void = () => undefined;
  // a job's scoring chunks: children of the job on a queue of their own, taken by any worker
  const scoresQueueName = `${queueName}${SCORES_QUEUE_SUFFIX}`;
  const scoresQueue = new Queue<ScoreChunkJob>(scoresQueueName, { connection: deps.connection, ...(deps.prefix ? { prefix: deps.prefix } : {}) });
  scoresQueue.on('error', () => undefined); // Redis down: the adds fail, and say so
  const scoresQueueOptions = { connection: deps.connection, ...(deps.prefix ? { prefix: deps.prefix } : {}) };
  const fansOut = (deps.runner?.scoreShardPairs ?? 0) > 0;
  // warm-up hints go to every worker through the scores queue's event stream (only a worker that fans out sends them)
  const warmProducer = fansOut ? new QueueEventsProducer(scoresQueueName, scoresQueueOptions) : null;
  warmProducer?.on('error', () => undefined);
  const scoreChildren = new ScoreChildren(scoresQueue, { log }, warmProducer ?? undefined);
  // a job rides out a database restart: its writes are retried, in order, until the server is back
  const repo = new RetryingRepository(deps.repo, { log });
  const runner = new JobRunner({ threadsPerJob: threadsPerJob(deps.concurrency), ...deps.runner, repo, store: deps.store, log, telemetry: deps.telemetry, onLockLost: (id) => onLockLost(id), scoreChildren });
  const queue = new BullJobQueue(deps.connection, { prefix: deps.prefix, queueName });
  // the job worker and the score-chunk worker: the same connection, slots, locks and stall recovery
  const queueWorkerOptions = {
    connection: deps.connection,
    ...(deps.prefix ? { prefix: deps.prefix } : {}),
    concurrency: deps.concurrency,
    lockDuration: lockMs,
    ...(deps.lockRenewMs ? { lockRenewTime: deps.lockRenewMs } : {}),
    stalledInterval: Math.max(1, Math.round(lockMs / 2)),
    maxStalledCount: deps.maxStalledCount ?? 3,
    autorun: false,
  };
  const worker = new Worker<QueuedJob, JobOutcome>(
    queueName,
    // three declared parameters: BullMQ only passes the abort signal to processors that take it
    (job: Job<QueuedJob>, token?: string, signal?: AbortSignal) => runner.process(job, token, signal),
    {
      ...queueWorkerOptions,
    },
  );

  let closing = false;
  const cacheDir = deps.runner?.cacheDir ?? deps.store.pathOf(XC_CACHE_KEY);
  const chunkThreads = new ChunkThreadPool({ heapLimitMb: deps.runner?.heapLimitMb, warm: fansOut });
  const chunkDeps = { repo, store: deps.store, cacheDir, teacherThreads: deps.runner?.teacherThreads, threads: chunkThreads };
  const chunkProcessor = scoreChunkProcessor(chunkDeps);
  // any worker may take a job's chunks: each loads the job's model when the job says which (ScoreChildren.warm)
  const warmEvents = new QueueEvents(scoresQueueName, scoresQueueOptions);
  warmEvents.on('error', () => undefined); // Redis down: the job worker reports it
  const warmChunkThread = scoreChunkWarmer(chunkDeps);
  warmEvents.on<QueueEventsListener & { [SCORE_WARM_EVENT]: (args: ScoreWarmEvent) => void }>(SCORE_WARM_EVENT, ({ jobId, model }: ScoreWarmEvent) => {
    warmChunkThread(jobId, model).catch((e: unknown) => log(`job ${jobId}: score warm-up: ${(e as Error).message}`));
  });
  // its own worker: a process whose job slot holds a job waiting for its chunks still scores chunks
  const chunkWorker = new Worker<ScoreChunkJob, ChunkOutcome>(
    scoresQueueName,
    (job: Job<ScoreChunkJob>, token?: string, signal?: AbortSignal) => chunkProcessor(job, token, signal),
    {
      ...queueWorkerOptions,
      // a chunk's processedBy names the process, as `running` events name a job's worker
      name: `${hostname()}:${process.pid}`,
    },
  );
  chunkWorker.on('error', (e) => {
    // connection errors are the job worker's to report (it sees the same Redis)
    if (!closing && !/ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|connect/i.test(e.message)) log(`score chunk worker: ${e.message}`);
  });
  chunkWorker.on('completed', (job, outcome) => {
    const seconds = job.processedOn && job.finishedOn ? ` in ${((job.finishedOn - job.processedOn) / 1000).toFixed(2)} s` : '';
    log(`job ${job.data.jobId}: score chunk ${job.data.name}: ${'pairs' in outcome ? `${outcome.pairs} pairs${seconds}${outcome.warm ? '' : ', loading its features and model'}` : `skipped (${outcome.skipped})`}`);
  });
  chunkWorker.on('failed', (job, e) => {
    if (job) log(`job ${job.data.jobId}: score chunk ${job.data.name}: ${e.message}`);
  });

  // The same connection error repeats every retry while Redis is down: say it once per message.
  let lastError = '';
  worker.on('error', (e) => {
    // connection errors are retried by ioredis; others (a job's keys gone after a FLUSHALL) are
    // handled by the reconciler: neither stops the worker
    const connection = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|Connection is closed|connect/i.test(e.message);
    if (!closing && e.message !== lastError) log(`worker: ${e.message}${connection ? ' (retrying until Redis answers)' : ''}`);
    lastError = e.message;
  });
  worker.on('lockRenewalFailed', (ids) => {
    for (const id of ids) worker.cancelJob(id, LOCK_LOST);
  });
  worker.on('failed', (job, e) => {
    if (job) log(`job ${job.data.jobId}: ${e.name}: ${e.message}`);
  });

  await worker.waitUntilReady();
  await chunkWorker.waitUntilReady();
  const reconciler = new QueueReconciler({
    repo: deps.repo,
    queue,
    running: () => runner.runningJobs,
    giveUp: (id) => worker.cancelJob(id, LOCK_LOST),
    periodMs: deps.reconcileMs ?? 60_000,
    log,
  });
  onLockLost = (id) => reconciler.onLockLost(id);
  // after start, a 'ready' of either Redis connection means it reconnected, maybe to an empty Redis
  worker.getBackend().on('ready', () => {
    lastError = '';
    reconciler.onReconnect();
  });
  try {
    const added = await reconcile(deps.repo, queue);
    if (added) log(`reconciled at start: ${added} job(s) re-enqueued`);
  } catch (e) {
    reconciler.close();
    scoreChildren.close();
    await Promise.all([worker.close(), chunkWorker.close()]);
    await Promise.all([queue.close(), scoresQueue.close(), warmEvents.close(), warmProducer?.close(), chunkThreads.close()]);
    throw e;
  }
  worker.run().catch((e: unknown) => log(`worker stopped: ${(e as Error).message}`));
  chunkWorker.run().catch((e: unknown) => log(`score chunk worker stopped: ${(e as Error).message}`));

  return {
    close: async () => {
      if (closing) return;
      closing = true;
      reconciler.close();
      scoreChildren.close();
      const closed = Promise.all([worker.close(), chunkWorker.close()]);
      worker.cancelAllJobs(RELEASE_ON_SHUTDOWN);
      chunkWorker.cancelAllJobs(RELEASE_ON_SHUTDOWN);
      await closed;
      await Promise.all([queue.close(), scoresQueue.close(), warmEvents.close(), warmProducer?.close(), chunkThreads.close()]);
    },
  };
}
