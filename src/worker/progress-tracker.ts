import type { EpochStats } from '../core/model/trainer.js';
import type { JobStage } from '../pipeline/progress.js';

/**
 * Share of the whole job each stage covers: [start, end] of the 0..1 progress. Training dominates
 * and advances by epochs; re-mining between epochs holds the progress where training left it.
 */
export const STAGE_SPANS: Record<JobStage, readonly [number, number]> = {
  preparing: [0, 0.02],
  // auto jobs: the held-out trials, inside preparing's span (the progress never goes back)
  tuning: [0.01, 0.02],
  mining: [0.02, 0.07],
  scoring: [0.07, 0.12],
  // a teacher fit runs one or the other
  'cross-fitting': [0.12, 0.92],
  training: [0.12, 0.92],
  evaluating: [0.92, 0.97],
  publishing: [0.97, 1],
};

export interface ProgressSnapshot {
  stage: JobStage | null;
  /** 0..1 over the whole job, never decreasing. */
  progress: number;
  examplesPerSecond: number | null;
  etaSeconds: number | null;
}

/**
 * Below this much progress by the current attempt, the elapsed time is too short a sample to
 * extrapolate from (start-up costs dominate): the ETA comes from the measured training speed.
 */
const MIN_PROGRESS_FOR_ELAPSED_ETA = 0.01;

/** Turns a pipeline's stage/progress/epoch reports into one job-level progress, speed and ETA. */
export class ProgressTracker {
  private stage: JobStage | null = null;
  private progressValue = 0;
  private rate: number | null = null;
  /** Where this attempt's own training speed is measured from (a resumed job jumps ahead first). */
  private anchor: { t: number; p: number } | null = null;
  private epochKey = -1;
  private epochStartedAt = 0;
  private epochStartDone = 0;
  /** Training examples per epoch (the `total` of training progress), once known. */
  private examplesPerEpoch: number | null = null;

  /** `epochs`: planned epochs (training config, or the teacher fit's maximum). */
  constructor(private readonly epochs: number) {}

  onStage(stage: JobStage): void {
    this.stage = stage;
    this.advance(STAGE_SPANS[stage][0]);
  }

  onProgress(done: number, total: number, info: Record<string, number> | undefined, now = performance.now()): void {
    if (!this.stage || total <= 0) return;
    const within = Math.min(1, Math.max(0, done / total));
    if (this.stage === 'training' && info && info.epoch !== undefined) {
      const p = trainingProgress(info.epoch - 1 + within, info.epochs ?? this.epochs);
      this.anchor ??= { t: now, p };
      this.examplesPerEpoch = total;
      this.advance(p);
      if (info.epoch !== this.epochKey || done < this.epochStartDone) {
        this.epochKey = info.epoch;
        this.epochStartedAt = now;
        this.epochStartDone = done;
      } else if (now > this.epochStartedAt) {
        this.rate = ((done - this.epochStartDone) * 1000) / (now - this.epochStartedAt);
      }
      return;
    }
    const [lo, hi] = STAGE_SPANS[this.stage];
    const p = lo + (hi - lo) * within;
    // a teacher's folds are most of its fit: the ETA is measured from them as from epochs
    if (this.stage === 'cross-fitting') this.anchor ??= { t: now, p };
    this.advance(p);
  }

  onEpoch(stats: EpochStats, now = performance.now()): void {
    const p = trainingProgress(stats.epoch, this.epochs);
    this.anchor ??= { t: now, p };
    this.advance(p);
    if (Number.isFinite(stats.examplesPerSecond)) this.rate = stats.examplesPerSecond;
    if (stats.examples > 0) this.examplesPerEpoch = stats.examples;
  }

  snapshot(now = performance.now()): ProgressSnapshot {
    const p = this.progressValue;
    let eta: number | null = null;
    const a = this.anchor;
    if (p >= 1) eta = 0;
    else if (a && p - a.p >= MIN_PROGRESS_FOR_ELAPSED_ETA) eta = Math.round((((now - a.t) / 1000) * (1 - p)) / (p - a.p));
    else eta = this.etaFromSpeed(p);
    return { stage: this.stage, progress: p, examplesPerSecond: this.rate === null ? null : Math.round(this.rate * 10) / 10, etaSeconds: eta };
  }

  /**
   * From the training speed alone (the first progress reports of an epoch give it): seconds per
   * unit of progress in training, applied to all that is left, the stages after training included.
   */
  private etaFromSpeed(p: number): number | null {
    if (!this.rate || this.rate <= 0 || !this.examplesPerEpoch || this.epochs <= 0) return null;
    const [lo, hi] = STAGE_SPANS.training;
    const secondsPerProgress = (this.epochs * this.examplesPerEpoch) / this.rate / (hi - lo);
    return Math.round((1 - p) * secondsPerProgress);
  }

  private advance(p: number): void {
    if (p > this.progressValue) this.progressValue = Math.min(1, p);
  }
}

function trainingProgress(epochsDone: number, epochs: number): number {
  const [lo, hi] = STAGE_SPANS.training;
  if (epochs <= 0) return hi;
  return lo + ((hi - lo) * Math.min(epochs, Math.max(0, epochsDone))) / epochs;
}
