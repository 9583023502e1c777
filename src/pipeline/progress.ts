import type { EpochStats } from '../core/trainer.js';

export type JobStage = 'preparing' | 'mining' | 'scoring' | 'training' | 'evaluating' | 'publishing';

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
