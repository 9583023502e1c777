import type { EpochStats } from '../core/model/trainer.js';

/** 'cross-fitting': a teacher fit's fold models (the teacher is their mean). */
export type JobStage = 'preparing' | 'tuning' | 'mining' | 'scoring' | 'cross-fitting' | 'training' | 'evaluating' | 'publishing';

/** Where stages report: the CLI draws a progress bar, the service will write events. */
export interface ProgressSink {
  stage(stage: JobStage, detail?: string): void;
  /** Work done within the current stage (examples, pairs, labels...). */
  progress(done: number, total: number, info?: Record<string, number>): void;
  epoch(stats: EpochStats): void;
  log(message: string): void;
}

export const silentProgress: ProgressSink = {
  stage: () => undefined,
  progress: () => undefined,
  epoch: () => undefined,
  log: () => undefined,
};

/** Wall time per stage, summed over re-entries (training and mining alternate). */
export class StageTimer {
  readonly seconds: Partial<Record<JobStage, number>> = {};
  private current: JobStage | null = null;
  private since = 0;

  constructor(private readonly sink: ProgressSink) {}

  start(stage: JobStage, detail?: string): void {
    this.stop();
    this.current = stage;
    this.since = performance.now();
    this.sink.stage(stage, detail);
  }

  stop(): void {
    if (this.current) this.seconds[this.current] = (this.seconds[this.current] ?? 0) + (performance.now() - this.since) / 1000;
    this.current = null;
  }
}
