import type { JobEventType, JobPatch, Repository } from '../infra/records.js';
import { ProgressTracker } from './progress-tracker.js';
import type { ThreadEvent } from './thread-runner.js';

export interface JobReporterOptions {
  /** Least time between two progress writes to the job row. @defaultValue 500 */
  progressWriteMs?: number;
  /** Least time between two `progress` events (the row itself is always current). @defaultValue 5000 */
  progressEventMs?: number;
  /**
   * Where writes that failed for good are reported (they never fail the job). The worker's
   * repository (RetryingRepository) has already retried connection errors for a bounded time.
   */
  onWriteError?: (e: unknown) => void;
}

/**
 * Writes what a pipeline thread reports into the database: stage changes, epochs and log lines as
 * events, progress/speed/ETA on the job row at most every `progressWriteMs`. Writes run one at a
 * time in arrival order, so events keep their order and a slow (or restarting) database only
 * coalesces progress: while one write is being retried, later ones wait behind it.
 */
export class JobReporter {
  readonly tracker: ProgressTracker;
  private chain: Promise<void> = Promise.resolve();
  private lastStage: string | null = null;
  private lastWrite = 0;
  private lastEvent = 0;
  private progressQueued = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly writeMs: number;
  private readonly eventMs: number;

  constructor(
    private readonly repo: Repository,
    private readonly jobId: string,
    epochs: number,
    private readonly opts: JobReporterOptions = {},
  ) {
    this.tracker = new ProgressTracker(epochs);
    this.writeMs = opts.progressWriteMs ?? 500;
    this.eventMs = opts.progressEventMs ?? 5000;
  }

  /** Receives the thread's messages (synchronously; the writes follow in order). */
  onThreadEvent(e: ThreadEvent): void {
    if (this.closed) return;
    switch (e.type) {
      case 'stage': {
        this.tracker.onStage(e.stage);
        // the pipeline re-enters `training` every epoch: only changes (or details) are events
        if (e.stage !== this.lastStage || e.detail) {
          this.lastStage = e.stage;
          this.event('stage', e.detail ? { stage: e.stage, detail: e.detail } : { stage: e.stage });
          this.writeProgress();
        }
        return;
      }
      case 'progress':
        this.tracker.onProgress(e.done, e.total, e.info);
        this.scheduleProgress();
        return;
      case 'epoch':
        this.tracker.onEpoch(e.stats);
        this.event('epoch', { ...e.stats });
        this.writeProgress();
        return;
      case 'log':
        this.event('log', { message: e.message });
        return;
    }
  }

  /** Appends an event after the writes already queued. */
  event(type: JobEventType, data: Record<string, unknown>): void {
    this.enqueue(async () => {
      await this.repo.addJobEvent(this.jobId, type, data);
    });
  }

  /** Waits for every queued write; stops further progress writes. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.chain;
  }

  private enqueue(write: () => Promise<void>): void {
    this.chain = this.chain.then(write).catch((e: unknown) => this.opts.onWriteError?.(e));
  }

  private scheduleProgress(): void {
    if (this.progressQueued || this.timer) return;
    const wait = this.lastWrite + this.writeMs - Date.now();
    if (wait <= 0) this.writeProgress();
    else
      this.timer = setTimeout(() => {
        this.timer = null;
        if (!this.closed) this.writeProgress();
      }, wait);
  }

  /** Queues one write of the current snapshot (coalesced: a queued write reads the latest values). */
  private writeProgress(): void {
    if (this.progressQueued) return;
    this.progressQueued = true;
    this.enqueue(async () => {
      this.progressQueued = false;
      const now = Date.now();
      this.lastWrite = now;
      const s = this.tracker.snapshot();
      const patch: JobPatch = { progress: s.progress, examplesPerSecond: s.examplesPerSecond, etaSeconds: s.etaSeconds };
      if (s.stage) patch.stage = s.stage;
      await this.repo.updateJob(this.jobId, patch);
      if (now - this.lastEvent >= this.eventMs) {
        this.lastEvent = now;
        await this.repo.addJobEvent(this.jobId, 'progress', { ...s });
      }
    });
  }
}
