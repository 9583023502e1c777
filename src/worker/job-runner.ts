import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { CancelledError, isPermanent, OutOfMemoryError } from '../core/util/errors.js';
import { readCheckpointSummary, resumesFrom } from '../pipeline/checkpoint.js';
import { sha256File } from '../core/util/hash.js';
import type { TeacherFitResult } from '../pipeline/fit-teacher.js';
import type { TrainJobResult } from '../pipeline/train-job.js';
import { scoreChunksKey, teacherPrefix, XC_CACHE_KEY } from '../infra/artifacts/artifact-keys.js';
import { writeChunkFailure, type ChunkRequest } from '../pipeline/score-fan-out.js';
import type { ScoreChildren } from './score-children.js';
import type { ArtifactStore } from '../infra/artifacts/artifact-store.js';
import type { QueuedJob } from '../infra/queue/job-queue.js';
import { FINAL_JOB_STATUSES, type JobRecord, type JobStatus, type Repository } from '../infra/records.js';
import { ClientMessages } from './client-message.js';
import { JobHeartbeat } from './job-heartbeat.js';
import { JobReporter } from './job-reporter.js';
import { silentTelemetry, type JobTelemetry } from './job-telemetry.js';
import { buildJobTask, checkpointDirKey, resultIdFor, type JobTask } from './job-task.js';
import { STOP_CANCEL, STOP_NONE, STOP_RELEASE, type TrainTask } from './thread-protocol.js';
import { startPipelineThread, type PipelineThread, type ThreadEvent } from './thread-runner.js';

/** Abort reason the worker gives on shutdown: running jobs go back to the queue. */
export const RELEASE_ON_SHUTDOWN = 'shutdown';
/**
 * Starts of one job (crashed or failed runs) before it is marked failed for good: a job that kills
 * its worker process (out of memory, say) takes down at most this many. Three leaves room for a
 * worker lost to something else (a deploy, a node going away) and one transient failure.
 */
export const MAX_JOB_STARTS = 3;
/** Abort reason when BullMQ could not renew a job's lock: someone else may own the job now. */
export const LOCK_LOST = 'lock lost';

export interface JobRunnerOptions {
  repo: Repository;
  store: ArtifactStore;
  /** Binary cache of parsed XC files. @defaultValue store.pathOf(XC_CACHE_KEY) */
  cacheDir?: string | false;
  /** ONNX Runtime intra-op threads for teacher scoring. @defaultValue ONNX Runtime's default */
  teacherThreads?: number;
  /** Threads of a job whose `threads` setting is 0 (see TaskOptions.threadsPerJob). @defaultValue every core */
  threadsPerJob?: number;
  /** How often the database is asked whether the job was cancelled. @defaultValue 500 */
  cancelPollMs?: number;
  /** After a stop request, how long the thread may take to reach a batch boundary before it is killed. @defaultValue 15000 */
  stopGraceMs?: number;
  /** @defaultValue 500 */
  progressWriteMs?: number;
  /** JavaScript heap limit of each pipeline thread, MB (JOB_MAX_MEMORY_MB); past it the job fails, not the process. @defaultValue V8's default */
  heapLimitMb?: number;
  /** Starts of one job before it is failed for good (JOB_MAX_STARTS). @defaultValue MAX_JOB_STARTS */
  maxStarts?: number;
  /**
   * Resident memory of this process, bytes, above which a running job is stopped and failed as
   * out of memory (WORKER_MAX_RSS_MB); sampled every cancelPollMs. Typed arrays live outside the
   * heap limit, so this is what bounds them. With several jobs at once, the one that samples first
   * is stopped. @defaultValue none
   */
  maxRssBytes?: number;
  /** Operational messages (retries, lost writes). @defaultValue console.error */
  log?: (line: string) => void;
  /**
   * Where a job's scoring chunks go when it fans out (WORKER_SCORE_SHARD_PAIRS, score-fan-out.ts):
   * children on the scores queue. @defaultValue none: every job scores in-process
   */
  scoreChildren?: ScoreChildren;
  /** Pairs per scoring chunk; 0: no fan-out. Used only with scoreChildren. @defaultValue 0 */
  scoreShardPairs?: number;
  /** Called after this worker gave a job up because its lock was lost (Redis restarted or emptied, or a stall). */
  onLockLost?: (jobId: string) => void;
  /** Job start, end, failure and takeover, for logs and metrics. @defaultValue silentTelemetry */
  telemetry?: JobTelemetry;
  /**
   * Sees every event of a job's pipeline thread after the runner has handled it. Fault-injection
   * tests act through it at an exact point of a run (test/support/sigkill-worker.ts kills its
   * process as a stage starts). @defaultValue none
   */
  onPipelineEvent?: (e: ThreadEvent, run: PipelineRun) => void;
}

/** Which run an event belongs to, for JobRunnerOptions.onPipelineEvent. */
export interface PipelineRun {
  jobId: string;
  /** 1 for the job's first start. */
  attempt: number;
  /** Writes out the progress, stage and epoch events recorded so far and stops recording. */
  flush(): Promise<void>;
}

/** One run of a job, as telemetry reports it. */
interface RunInfo {
  kind: string;
  /** performance.now() at start. */
  started: number;
  /** The stage the pipeline entered last. */
  stage: string | null;
}

const secondsSince = (t: number): number => (performance.now() - t) / 1000;

export type JobOutcome =
  | { jobId: string; status: 'completed'; resultId: string }
  | { jobId: string; status: 'cancelled' }
  /** The database already had a final status; nothing was run. */
  | { jobId: string; status: 'skipped'; was: JobStatus };

/**
 * Runs one queued job: the database row says what to do and receives every state change; the
 * pipeline runs in a worker_thread so this event loop stays free for BullMQ's lock renewal and the
 * cancellation poll. Errors steer BullMQ by their kind: a permanent one (bad input, a broken
 * teacher contract, out of memory: core/util/errors.ts) → UnrecoverableError (no retry); anything
 * else, a crashed thread among them, is rethrown (retried with backoff; the last attempt marks the
 * job failed).
 */
export class JobRunner {
  private readonly log: (line: string) => void;
  /** Job id → the BullMQ lock token it runs under. */
  private readonly running = new Map<string, string | undefined>();

  private readonly telemetry: JobTelemetry;

  constructor(private readonly opts: JobRunnerOptions) {
    this.log = opts.log ?? ((line) => console.error(line));
    this.telemetry = opts.telemetry ?? silentTelemetry;
  }

  /** The jobs this process is running now, with their lock tokens. */
  get runningJobs(): ReadonlyMap<string, string | undefined> {
    return this.running;
  }

  /** BullMQ processor. Declare all three parameters at the call site, or BullMQ passes no signal. */
  async process(job: Job<QueuedJob>, token?: string, signal?: AbortSignal): Promise<JobOutcome> {
    const id = job.data.jobId;
    this.running.set(id, token);
    try {
      return await this.run(job, token, signal);
    } finally {
      this.running.delete(id);
      this.opts.scoreChildren?.forget(id);
      if (signal?.aborted && signal.reason === LOCK_LOST) this.opts.onLockLost?.(id);
    }
  }

  private async run(job: Job<QueuedJob>, token?: string, signal?: AbortSignal): Promise<JobOutcome> {
    const { repo } = this.opts;
    const id = job.data.jobId;
    const rec = await repo.getJob(id);
    if (!rec) throw new UnrecoverableError(`job ${id} is not in the database`);
    if (FINAL_JOB_STATUSES.has(rec.status)) {
      // e.g. cancelled while back in the queue: what an earlier run left goes now
      await this.removeLeftovers(job.data, rec.status);
      return { jobId: id, status: 'skipped', was: rec.status };
    }
    if (rec.cancelRequested) {
      await this.finish(job.data, 'cancelled', {});
      return { jobId: id, status: 'cancelled' };
    }

    // Every start counts (a graceful shutdown gives its start back): a job whose run kills its
    // worker (out of memory, say) would otherwise be put back by reconcile forever.
    if (rec.attempts >= (this.opts.maxStarts ?? MAX_JOB_STARTS)) {
      const message = `gave up after ${rec.attempts} starts that did not finish (the worker process running it died each time, e.g. killed for running out of memory; see the job's log events)`;
      await this.finish(job.data, 'failed', { error: message });
      this.telemetry.failed({ jobId: id, kind: rec.kind, seconds: 0, stage: rec.stage, message });
      throw new UnrecoverableError(message);
    }
    const attempt = rec.attempts + 1;
    await repo.updateJob(id, { status: 'running', attempts: attempt, startedAt: rec.startedAt ?? new Date(), heartbeatAt: new Date(), examplesPerSecond: null, etaSeconds: null });
    await repo.addJobEvent(id, 'status', { status: 'running', attempt, worker: `${hostname()}:${process.pid}` });
    // still `running` in the database: the worker that ran it died or stalled, this one takes over
    this.telemetry.started({ jobId: id, kind: rec.kind, datasetId: rec.datasetId, teacherId: rec.teacherId, attempt, takenOver: rec.status === 'running' });
    const heartbeat = new JobHeartbeat(repo, id, (e) => this.log(`job ${id}: heartbeat write failed: ${(e as Error).message}`));
    try {
      return await this.runStarted(job, rec, attempt, token, signal);
    } finally {
      heartbeat.stop();
    }
  }

  /** The job's row says `running` (attempt `attempt`): runs the pipeline and records the outcome. */
  private async runStarted(job: Job<QueuedJob>, rec: JobRecord, attempt: number, token?: string, signal?: AbortSignal): Promise<JobOutcome> {
    const { repo } = this.opts;
    const id = rec.id;
    const run: RunInfo = { kind: rec.kind, started: performance.now(), stage: null };

    const stop = new SharedArrayBuffer(4);
    const flag = new Int32Array(stop);
    let reporter: JobReporter | null = null;
    let messages = new ClientMessages();
    try {
      const jt = await buildJobTask(rec, repo, this.opts.store, {
        cacheDir: this.opts.cacheDir ?? this.opts.store.pathOf(XC_CACHE_KEY),
        teacherThreads: this.opts.teacherThreads,
        threadsPerJob: this.opts.threadsPerJob,
        scoreShardPairs: this.opts.scoreChildren ? this.opts.scoreShardPairs : 0,
      });
      messages = ClientMessages.forTask(jt.task, rec);
      const clientView = messages;
      if (jt.task.kind === 'train') await this.recordCheckpointedEpochs(id, jt.task);
      const epochs = jt.task.kind === 'train' ? jt.task.config.epochs : 1; // a teacher fit has no epochs
      const rep = new JobReporter(repo, id, epochs, {
        progressWriteMs: this.opts.progressWriteMs,
        onWriteError: (e) => this.log(`job ${id}: progress write failed: ${(e as Error).message}`),
      });
      reporter = rep;
      const observer = this.opts.onPipelineEvent;
      const thisRun: PipelineRun = { jobId: id, attempt, flush: () => rep.close() };
      const thread = startPipelineThread(
        jt.task,
        stop,
        (e) => {
          if (e.type === 'score-chunks') {
            void this.requestChunks(job, id, e.chunks);
            return;
          }
          if (e.type === 'score-warm') {
            // a hint: a worker that misses it loads the model with its first chunk
            this.opts.scoreChildren!.warm(id, e.model).catch((err: unknown) => this.log(`job ${id}: score warm-up not sent: ${(err as Error).message}`));
            return;
          }
          if (e.type === 'stage') run.stage = e.stage;
          rep.onThreadEvent(e.type === 'log' ? { ...e, message: clientView.redact(e.message) } : e);
          observer?.(e, thisRun);
        },
        this.opts.heapLimitMb,
      );
      const result = await this.supervise(id, thread, flag, signal);
      await rep.close();
      if (Atomics.load(flag, 0) === STOP_NONE && (await repo.getJob(id))?.cancelRequested) Atomics.store(flag, 0, STOP_CANCEL);
      // a cancel that came in while the last stage ran still wins; a shutdown lets the finished job complete
      if (Atomics.load(flag, 0) === STOP_CANCEL) throw new CancelledError('cancelled while finishing');
      const outcome = await this.complete(rec, jt, result);
      const metrics = (await repo.getJob(id))?.metrics ?? null;
      this.telemetry.completed({ jobId: id, kind: rec.kind, seconds: secondsSince(run.started), stageSeconds: result.stageSeconds as Record<string, number>, metrics });
      return outcome;
    } catch (e) {
      await reporter?.close();
      return await this.handleError(e, job, token, signal, Atomics.load(flag, 0), messages, run);
    }
  }

  /**
   * The pipeline's scoring chunks as children of this job. A failure to add them (Redis down) is
   * written as the chunks' failure, which fails this attempt of the job: it is retried, and
   * resumes from the pool it was scoring.
   */
  private async requestChunks(job: Job<QueuedJob>, id: string, chunks: ChunkRequest[]): Promise<void> {
    const dir = this.opts.store.pathOf(scoreChunksKey(id));
    try {
      await this.opts.scoreChildren!.add(job, id, dir, chunks);
    } catch (e) {
      const message = `could not queue the scoring chunks: ${(e as Error).message}`;
      this.log(`job ${id}: ${message}`);
      for (const c of chunks) await writeChunkFailure(dir, c.name, { message, kind: 'retriable' }).catch(() => undefined);
    }
  }

  /**
   * Epoch events that the checkpoint has and the database lacks: a worker killed after saving an
   * epoch's checkpoint but before its epoch event was written would otherwise leave a hole in the
   * metrics history (the resumed run does not train that epoch again).
   */
  private async recordCheckpointedEpochs(id: string, task: TrainTask): Promise<void> {
    const saved = await readCheckpointSummary(task.checkpointPath);
    if (!saved || !resumesFrom(saved.config, task.config)) return; // not used by the run either
    const recorded = new Set((await this.opts.repo.listJobEvents(id, { types: ['epoch'] })).map((e) => e.data.epoch));
    for (const stats of saved.epochs) {
      if (!recorded.has(stats.epoch)) await this.opts.repo.addJobEvent(id, 'epoch', { ...stats, fromCheckpoint: true });
    }
  }

  /** Waits for the thread while polling for cancellation and watching the abort signal. */
  private async supervise(id: string, thread: PipelineThread, flag: Int32Array, signal?: AbortSignal): Promise<TrainJobResult | TeacherFitResult> {
    let killTimer: NodeJS.Timeout | null = null;
    const requestStop = (how: number): void => {
      if (Atomics.load(flag, 0) !== STOP_NONE) return;
      Atomics.store(flag, 0, how);
      // a thread that is loading data or scoring may not reach a batch boundary soon
      killTimer = setTimeout(() => void thread.terminate(), this.opts.stopGraceMs ?? 15000);
    };
    const onAbort = (): void => requestStop(STOP_RELEASE);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort);
    let polling = false;
    const maxRss = this.opts.maxRssBytes;
    let rssOver = 0;
    const poll = setInterval(() => {
      if (maxRss && !rssOver && process.memoryUsage.rss() > maxRss) {
        // killed at once: it would not reach a batch boundary before the system ran out
        rssOver = process.memoryUsage.rss();
        void thread.terminate();
      }
      if (polling) return;
      polling = true;
      this.opts.repo
        .getJob(id)
        .then((j) => {
          if (j?.cancelRequested || (j && FINAL_JOB_STATUSES.has(j.status))) requestStop(STOP_CANCEL);
        })
        .catch((e: unknown) => this.log(`job ${id}: cancel poll failed: ${(e as Error).message}`))
        .finally(() => {
          polling = false;
        });
    }, this.opts.cancelPollMs ?? 500);
    try {
      return await thread.result;
    } catch (e) {
      if (!rssOver) throw e;
      const mb = (n: number): number => Math.round(n / (1 << 20));
      throw new OutOfMemoryError(`the job ran out of memory: its worker process reached ${mb(rssOver)} MB, over the limit of ${mb(maxRss!)} MB (WORKER_MAX_RSS_MB)`);
    } finally {
      clearInterval(poll);
      if (killTimer) clearTimeout(killTimer);
      signal?.removeEventListener('abort', onAbort);
      await thread.terminate();
    }
  }

  private async complete(rec: JobRecord, jt: JobTask, result: TrainJobResult | TeacherFitResult): Promise<JobOutcome> {
    const { repo, store } = this.opts;
    const id = rec.id;
    if (jt.task.kind === 'train') {
      const r = result as TrainJobResult;
      const studentMetrics = r.metrics ? { ...r.metrics, hnsw: r.hnswMetrics ?? null, hnswRecallAt10: r.hnswRecallAt10 ?? null } : null;
      const metrics = studentMetrics ? { ...studentMetrics, teacher: r.teacherMetrics ?? null } : null;
      if (!(await repo.getModel(jt.resultId))) {
        await repo.createModel({
          id: jt.resultId,
          jobId: id,
          datasetId: rec.datasetId,
          teacherId: rec.teacherId,
          key: jt.resultKey,
          config: { ...jt.task.config },
          metrics: studentMetrics,
          teacherMetrics: r.teacherMetrics ? { ...r.teacherMetrics } : null,
        });
      }
      await repo.addJobEvent(id, 'metrics', { ...(metrics ?? {}), pairsScored: r.pairsScored, stageSeconds: r.stageSeconds, epochs: r.epochs.length, teacherTemperature: r.teacherTemperature ?? null });
      await this.finish({ jobId: id, kind: rec.kind }, 'completed', { modelId: jt.resultId, metrics });
    } else {
      const r = result as TeacherFitResult;
      const metrics = { ...(r.metrics ?? {}), reliability: r.reliability ?? null, temperature: r.temperature, folds: r.folds, weights: r.weights, onnxMaxAbsDiff: r.onnxMaxAbsDiff, stageSeconds: r.stageSeconds, seconds: r.seconds };
      if (!(await repo.getTeacher(jt.resultId))) {
        const name = typeof rec.params.name === 'string' && rec.params.name ? rec.params.name : `${jt.dataset.name} baseline teacher`;
        await repo.createTeacher({
          id: jt.resultId,
          name,
          key: jt.resultKey,
          kind: 'scores', // the baseline teacher is a candidate scorer
          numLabels: jt.dataset.stats.labels,
          sizeBytes: (await stat(store.pathOf(jt.resultKey))).size,
          sha256: await sha256File(store.pathOf(jt.resultKey)),
          jobId: id,
          datasetId: rec.datasetId,
          metrics,
        });
      }
      await repo.addJobEvent(id, 'metrics', metrics);
      await this.finish({ jobId: id, kind: rec.kind }, 'completed', { resultTeacherId: jt.resultId, metrics });
    }
    return { jobId: id, status: 'completed', resultId: jt.resultId };
  }

  private async handleError(
    e: unknown,
    job: Job<QueuedJob>,
    token: string | undefined,
    signal: AbortSignal | undefined,
    stopped: number,
    messages: ClientMessages,
    run: RunInfo,
  ): Promise<JobOutcome> {
    const report = { jobId: job.data.jobId, kind: run.kind, seconds: secondsSince(run.started), stage: run.stage };
    const id = job.data.jobId;
    const err = e instanceof Error ? e : new Error(String(e));
    // what the client reads (the job's error, its log events): no server path
    const clientMessage = messages.redact(err.message);
    // a retry cannot fix it: fail the job now (a cancellation is neither, handled below)
    const permanent = isPermanent(err) && !(err instanceof CancelledError);

    if (stopped === STOP_RELEASE && !permanent) {
      if (signal?.reason === RELEASE_ON_SHUTDOWN && token) {
        // back to the queue now: another worker resumes it from its checkpoint (the row first, so
        // a worker that picks the job up at once is not overwritten)
        const rec = await this.opts.repo.getJob(id);
        await this.opts.repo.updateJob(id, { status: 'queued', attempts: Math.max(0, (rec?.attempts ?? 1) - 1), examplesPerSecond: null, etaSeconds: null });
        await this.opts.repo.addJobEvent(id, 'log', { message: 'worker shutting down: job returned to the queue' });
        this.telemetry.released({ jobId: id, kind: run.kind, reason: 'worker shutting down: back to the queue' });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      // the lock is gone (this worker stalled): BullMQ hands the job to another worker, which owns the row now
      this.telemetry.released({ jobId: id, kind: run.kind, reason: String(signal?.reason ?? 'stopped') });
      throw new Error(`job ${id}: gave up the job (${String(signal?.reason ?? 'stopped')})`);
    }
    if (err instanceof CancelledError || stopped === STOP_CANCEL) {
      await this.finish(job.data, 'cancelled', {});
      this.telemetry.cancelled(report);
      return { jobId: id, status: 'cancelled' };
    }
    if (permanent) {
      await this.finish(job.data, 'failed', { error: clientMessage });
      this.telemetry.failed({ ...report, message: err.message });
      throw new UnrecoverableError(clientMessage);
    }
    const maxAttempts = job.opts.attempts ?? 1;
    if (job.attemptsMade + 1 >= maxAttempts) {
      await this.finish(job.data, 'failed', { error: clientMessage });
      this.telemetry.failed({ ...report, message: err.message });
    } else {
      this.telemetry.released({ jobId: id, kind: run.kind, reason: `attempt ${job.attemptsMade + 1} of ${maxAttempts} failed, retrying: ${err.message}` });
      this.log(`job ${id}: attempt ${job.attemptsMade + 1} of ${maxAttempts} failed, will retry: ${err.stack ?? err.message}`);
      await this.opts.repo.updateJob(id, { status: 'queued', examplesPerSecond: null, etaSeconds: null }).catch(() => undefined);
      await this.opts.repo.addJobEvent(id, 'log', { message: `attempt ${job.attemptsMade + 1} of ${maxAttempts} failed, retrying: ${clientMessage}` }).catch(() => undefined);
    }
    throw err;
  }

  /**
   * Final status (only if not final already) and its status event, and what the run left on disk
   * goes, whoever made the job final (a cancel from the API, say). A failed or cancelled job's
   * leftovers go first, so the final status means the worker is done with it; a completed job's
   * checkpoint goes last, so a crash before its status is written resumes instead of retraining.
   */
  private async finish(job: QueuedJob, status: 'completed' | 'failed' | 'cancelled', patch: { modelId?: string; resultTeacherId?: string; metrics?: Record<string, unknown> | null; error?: string }): Promise<void> {
    const id = job.jobId;
    if (status !== 'completed') await this.removeLeftovers(job, status);
    const done = await this.opts.repo.finishJob(id, status, {
      ...patch,
      // a failed or cancelled job keeps the stage it stopped in
      ...(status === 'completed' ? { stage: null } : {}),
      etaSeconds: status === 'completed' ? 0 : null,
      ...(status === 'completed' ? { progress: 1 } : {}),
      finishedAt: new Date(),
    });
    if (!done) this.log(`job ${id}: already final, not marked ${status}`);
    else await this.opts.repo.addJobEvent(id, 'status', { status, ...(patch.error ? { error: patch.error } : {}) });
    if (status === 'completed') await this.removeLeftovers(job, status);
  }

  /**
   * A final job is never resumed (a retry is a new job that starts from scratch): its checkpoint
   * goes, and so do the partial files of a teacher fit that did not publish a teacher. Failures are
   * logged, not thrown: the job's outcome is recorded already.
   */
  private async removeLeftovers(job: QueuedJob, status: JobStatus): Promise<void> {
    const { repo, store } = this.opts;
    const id = job.jobId;
    try {
      await store.remove(checkpointDirKey(id));
      if (job.kind === 'teacher-fit' && status !== 'completed') {
        const teacherId = resultIdFor('teacher', id);
        if (!(await repo.getTeacher(teacherId))) await store.remove(teacherPrefix(teacherId));
      }
    } catch (e) {
      this.log(`job ${id}: could not remove its checkpoint or partial files: ${(e as Error).message}`);
    }
  }
}
