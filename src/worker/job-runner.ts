import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, type Job } from 'bullmq';
import { CancelledError, DistilxrError } from '../core/errors.js';
import { readCheckpointSummary } from '../pipeline/checkpoint.js';
import { sha256File } from '../core/hash.js';
import type { TeacherFitResult } from '../pipeline/fit-teacher.js';
import type { TrainJobResult } from '../pipeline/train-job.js';
import type { ArtifactStore } from '../service/artifact-store.js';
import type { QueuedJob } from '../service/job-queue.js';
import { FINAL_JOB_STATUSES, type JobRecord, type JobStatus, type Repository } from '../service/records.js';
import { JobHeartbeat } from './job-heartbeat.js';
import { JobReporter } from './job-reporter.js';
import { buildJobTask, checkpointDirKey, type JobTask } from './job-task.js';
import { STOP_CANCEL, STOP_NONE, STOP_RELEASE, type TrainTask } from './thread-protocol.js';
import { startPipelineThread, type PipelineThread, type ThreadEvent } from './thread-runner.js';

/** Abort reason the worker gives on shutdown: running jobs go back to the queue. */
export const RELEASE_ON_SHUTDOWN = 'shutdown';
/** Starts of one job (crashed or failed runs) before it is marked failed for good. */
export const MAX_JOB_STARTS = 10;
/** Abort reason when BullMQ could not renew a job's lock: someone else may own the job now. */
export const LOCK_LOST = 'lock lost';

export interface JobRunnerOptions {
  repo: Repository;
  store: ArtifactStore;
  /** Binary cache of parsed XC files. @defaultValue store.pathOf('cache') */
  cacheDir?: string | false;
  /** ONNX Runtime intra-op threads for teacher scoring. @defaultValue ONNX Runtime's default */
  teacherThreads?: number;
  /** How often the database is asked whether the job was cancelled. @defaultValue 500 */
  cancelPollMs?: number;
  /** After a stop request, how long the thread may take to reach a batch boundary before it is killed. @defaultValue 15000 */
  stopGraceMs?: number;
  /** @defaultValue 500 */
  progressWriteMs?: number;
  /** Operational messages (retries, lost writes). @defaultValue console.error */
  log?: (line: string) => void;
  /** Called after this worker gave a job up because its lock was lost (Redis restarted or emptied, or a stall). */
  onLockLost?: (jobId: string) => void;
}

/**
 * Fault injection for the crash tests only (test/faults-worker.test.ts), for stages too short to
 * hit from outside (publishing takes milliseconds): `<jobId>:<stage>` makes this process SIGKILL
 * itself once that job's first attempt has entered the stage and the stage event is stored.
 */
const SIGKILL_AT_STAGE = process.env.DISTILXR_TEST_SIGKILL_AT_STAGE ?? '';

function killAtStage(id: string, attempt: number, rep: JobReporter): ((e: ThreadEvent) => void) | null {
  const [jobId, stage] = SIGKILL_AT_STAGE.split(':');
  if (jobId !== id || attempt !== 1) return null;
  return (e) => {
    if (e.type === 'stage' && e.stage === stage) void rep.close().finally(() => process.kill(process.pid, 'SIGKILL'));
  };
}

export type JobOutcome =
  | { jobId: string; status: 'completed'; resultId: string }
  | { jobId: string; status: 'cancelled' }
  /** The database already had a final status; nothing was run. */
  | { jobId: string; status: 'skipped'; was: JobStatus };

/**
 * Runs one queued job: the database row says what to do and receives every state change; the
 * pipeline runs in a worker_thread so this event loop stays free for BullMQ's lock renewal and the
 * cancellation poll. Errors steer BullMQ: bad input → UnrecoverableError (no retry), anything else
 * is rethrown (retried with backoff; the last attempt marks the job failed).
 */
export class JobRunner {
  private readonly log: (line: string) => void;
  /** Job id → the BullMQ lock token it runs under. */
  private readonly running = new Map<string, string | undefined>();

  constructor(private readonly opts: JobRunnerOptions) {
    this.log = opts.log ?? ((line) => console.error(line));
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
      if (signal?.aborted && signal.reason === LOCK_LOST) this.opts.onLockLost?.(id);
    }
  }

  private async run(job: Job<QueuedJob>, token?: string, signal?: AbortSignal): Promise<JobOutcome> {
    const { repo } = this.opts;
    const id = job.data.jobId;
    const rec = await repo.getJob(id);
    if (!rec) throw new UnrecoverableError(`job ${id} is not in the database`);
    if (FINAL_JOB_STATUSES.has(rec.status)) return { jobId: id, status: 'skipped', was: rec.status };
    if (rec.cancelRequested) {
      await this.finish(id, 'cancelled', {});
      return { jobId: id, status: 'cancelled' };
    }

    // Every start counts (a graceful shutdown gives its start back): a job whose run kills its
    // worker (out of memory, say) would otherwise be put back by reconcile forever.
    if (rec.attempts >= MAX_JOB_STARTS) {
      const message = `gave up after ${rec.attempts} starts that did not finish (the worker running it died each time; see the job's log events)`;
      await this.finish(id, 'failed', { error: message });
      throw new UnrecoverableError(message);
    }
    const attempt = rec.attempts + 1;
    await repo.updateJob(id, { status: 'running', attempts: attempt, startedAt: rec.startedAt ?? new Date(), heartbeatAt: new Date(), examplesPerSecond: null, etaSeconds: null });
    await repo.addJobEvent(id, 'status', { status: 'running', attempt, worker: `${hostname()}:${process.pid}` });
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

    const stop = new SharedArrayBuffer(4);
    const flag = new Int32Array(stop);
    let reporter: JobReporter | null = null;
    try {
      const jt = await buildJobTask(rec, repo, this.opts.store, { cacheDir: this.opts.cacheDir ?? this.opts.store.pathOf('cache'), teacherThreads: this.opts.teacherThreads });
      if (jt.task.kind === 'train') await this.recordCheckpointedEpochs(id, jt.task);
      const epochs = jt.task.kind === 'train' ? jt.task.config.epochs : 1; // a teacher fit has no epochs
      const rep = new JobReporter(repo, id, epochs, {
        progressWriteMs: this.opts.progressWriteMs,
        onWriteError: (e) => this.log(`job ${id}: progress write failed: ${(e as Error).message}`),
      });
      reporter = rep;
      const fault = killAtStage(id, attempt, rep);
      const thread = startPipelineThread(jt.task, stop, (e) => {
        rep.onThreadEvent(e);
        fault?.(e);
      });
      const result = await this.supervise(id, thread, flag, signal);
      await rep.close();
      if (Atomics.load(flag, 0) === STOP_NONE && (await repo.getJob(id))?.cancelRequested) Atomics.store(flag, 0, STOP_CANCEL);
      // a cancel that came in while the last stage ran still wins; a shutdown lets the finished job complete
      if (Atomics.load(flag, 0) === STOP_CANCEL) throw new CancelledError('cancelled while finishing');
      return await this.complete(rec, jt, result);
    } catch (e) {
      await reporter?.close();
      return await this.handleError(e, job, token, signal, Atomics.load(flag, 0));
    }
  }

  /**
   * Epoch events that the checkpoint has and the database lacks: a worker killed after saving an
   * epoch's checkpoint but before its epoch event was written would otherwise leave a hole in the
   * metrics history (the resumed run does not train that epoch again).
   */
  private async recordCheckpointedEpochs(id: string, task: TrainTask): Promise<void> {
    const saved = await readCheckpointSummary(task.checkpointPath);
    if (!saved || JSON.stringify(saved.config) !== JSON.stringify(task.config)) return; // not used by the run either
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
    const poll = setInterval(() => {
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
      await this.finish(id, 'completed', { modelId: jt.resultId, metrics });
      await store.remove(checkpointDirKey(id)).catch((e: unknown) => this.log(`job ${id}: could not remove its checkpoint: ${(e as Error).message}`));
    } else {
      const r = result as TeacherFitResult;
      const metrics = { ...(r.metrics ?? {}), temperature: r.temperature, folds: r.folds, weights: r.weights, onnxMaxAbsDiff: r.onnxMaxAbsDiff, stageSeconds: r.stageSeconds, seconds: r.seconds };
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
      await this.finish(id, 'completed', { resultTeacherId: jt.resultId, metrics });
    }
    return { jobId: id, status: 'completed', resultId: jt.resultId };
  }

  private async handleError(e: unknown, job: Job<QueuedJob>, token: string | undefined, signal: AbortSignal | undefined, stopped: number): Promise<JobOutcome> {
    const id = job.data.jobId;
    const err = e instanceof Error ? e : new Error(String(e));
    const badInput = err instanceof DistilxrError && !(err instanceof CancelledError);

    if (stopped === STOP_RELEASE && !badInput) {
      if (signal?.reason === RELEASE_ON_SHUTDOWN && token) {
        // back to the queue now: another worker resumes it from its checkpoint (the row first, so
        // a worker that picks the job up at once is not overwritten)
        const rec = await this.opts.repo.getJob(id);
        await this.opts.repo.updateJob(id, { status: 'queued', attempts: Math.max(0, (rec?.attempts ?? 1) - 1), examplesPerSecond: null, etaSeconds: null });
        await this.opts.repo.addJobEvent(id, 'log', { message: 'worker shutting down: job returned to the queue' });
        await job.moveToWait(token);
        throw new WaitingError();
      }
      // the lock is gone (this worker stalled): BullMQ hands the job to another worker, which owns the row now
      throw new Error(`job ${id}: gave up the job (${String(signal?.reason ?? 'stopped')})`);
    }
    if (err instanceof CancelledError || stopped === STOP_CANCEL) {
      await this.finish(id, 'cancelled', {});
      return { jobId: id, status: 'cancelled' };
    }
    if (badInput) {
      await this.finish(id, 'failed', { error: err.message });
      throw new UnrecoverableError(err.message);
    }
    const maxAttempts = job.opts.attempts ?? 1;
    if (job.attemptsMade + 1 >= maxAttempts) {
      await this.finish(id, 'failed', { error: err.message });
    } else {
      this.log(`job ${id}: attempt ${job.attemptsMade + 1} of ${maxAttempts} failed, will retry: ${err.stack ?? err.message}`);
      await this.opts.repo.updateJob(id, { status: 'queued', examplesPerSecond: null, etaSeconds: null }).catch(() => undefined);
      await this.opts.repo.addJobEvent(id, 'log', { message: `attempt ${job.attemptsMade + 1} of ${maxAttempts} failed, retrying: ${err.message}` }).catch(() => undefined);
    }
    throw err;
  }

  /** Final status (only if not final already) and its status event. */
  private async finish(id: string, status: 'completed' | 'failed' | 'cancelled', patch: { modelId?: string; resultTeacherId?: string; metrics?: Record<string, unknown> | null; error?: string }): Promise<void> {
    const done = await this.opts.repo.finishJob(id, status, {
      ...patch,
      // a failed or cancelled job keeps the stage it stopped in
      ...(status === 'completed' ? { stage: null } : {}),
      etaSeconds: status === 'completed' ? 0 : null,
      ...(status === 'completed' ? { progress: 1 } : {}),
      finishedAt: new Date(),
    });
    if (!done) {
      this.log(`job ${id}: already final, not marked ${status}`);
      return;
    }
    await this.opts.repo.addJobEvent(id, 'status', { status, ...(patch.error ? { error: patch.error } : {}) });
  }
}
