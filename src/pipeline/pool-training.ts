/**
 * The mining, scoring and training stages of a train job: mine a negative pool per example (label
 * centroids first, the student's own embeddings every remineEvery epochs), have the teacher score
 * the positives and the pool, train the epochs; checkpointed after mining, after scoring and after
 * every epoch, and resumed from the last checkpoint.
 */
import type { Dataset } from '../core/data/dataset.js';
import type { Student } from '../core/model/student.js';
import type { TrainConfig } from '../core/model/train-config.js';
import { HogwildTrainer } from '../core/model/hogwild-trainer.js';
import type { NegativePool, StudentTrainer } from '../core/model/trainer.js';
import { CancelledError } from '../core/util/errors.js';
import type { CandidateScorer } from '../teacher/onnx-teacher.js';
import { TeacherScoreCache } from '../teacher/score-cache.js';
import { encodeTrainState, restoreTrainState, type CheckpointStore, type TrainState } from './checkpoint.js';
import { mineFromCentroids, mineFromStudent, miningPrecision } from './mine.js';
import type { ProgressSink, StageTimer } from './progress.js';
import { scorePositivesAndPool } from './score.js';

export interface PoolTrainingInput {
  train: Dataset;
  config: TrainConfig;
  student: Student;
  trainer: StudentTrainer;
  /**
   * Threads the epochs run on (1: the trainer's own, deterministic). Above 1 the student's
   * parameters and the trainer's optimizer state must be in shared memory (see train-job.ts).
   */
  threads: number;
  /** Whether the job has a teacher (its scores are cached and checkpointed then). */
  hasTeacher: boolean;
  /** Scores the training pairs the distillation term or teacher-weighted sampling need; null: none needed. */
  scorer: CandidateScorer | null;
  /** What every teacher score was divided by (1: raw scores); a checkpoint made with another is not resumed. */
  appliedTemperature: number;
  /** Scores of these rows by this scorer that earlier jobs made (auto trials); else a new cache. */
  scoreCache?: TeacherScoreCache;
  /**
   * First pools (label centroids' nearest labels, which no trained parameter changes) that earlier
   * jobs on the same training rows mined, by their mining settings (see firstPool); the job adds the
   * one it mines.
   */
  firstPools?: Map<string, Int32Array>;
  /** Resumable state, saved after mining, after scoring and after every epoch. */
  checkpoints?: CheckpointStore;
  /** Polled at every batch boundary and between epochs; true cancels (CancelledError). */
  shouldStop: () => boolean;
  timer: StageTimer;
  sink: ProgressSink;
}

/** The settings a first pool depends on, as PoolTrainingInput.firstPools' key. */
export function firstPoolKey(config: TrainConfig): string {
  return JSON.stringify({ poolSize: config.poolSize, seed: config.seed, precision: miningPrecision(config), byLabelSet: config.firstPoolByLabelSet });
}

/** The first pool: each training row's nearest label centroids that are not its positives. */
export function mineFirstPool(train: Dataset, config: TrainConfig, threads: number): Promise<NegativePool> {
  return mineFromCentroids(train, train.labels.cols, { poolSize: config.poolSize, seed: config.seed, precision: miningPrecision(config), threads, byLabelSet: config.firstPoolByLabelSet });
}

/** Runs the stages once: `run()` resumes or mines, then trains the epochs not done yet. */
export class PoolTraining {
  readonly state: TrainState;
  private readonly usePool: boolean;
  /** The checkpoint saves in flight, chained in order. */
  private saving: Promise<void> | null = null;

  constructor(private readonly job: PoolTrainingInput) {
    const { config, hasTeacher, train, appliedTemperature } = job;
    this.usePool = config.hardNegatives > 0 && config.poolSize > 0;
    this.state = {
      config,
      epochs: [],
      pairsScored: 0,
      poolMinedForEpoch: 1,
      pool: null,
      poolScored: false,
      positiveScores: null,
      cache: hasTeacher ? (job.scoreCache ?? new TeacherScoreCache(train.features.rows)) : null,
      appliedTemperature,
    };
  }

  async run(): Promise<TrainState> {
    const hogwild = this.job.threads > 1 ? new HogwildTrainer(this.job.trainer, this.job.threads) : null;
    try {
      const state = await this.runEpochs(hogwild);
      await this.checkpointWritten();
      return state;
    } finally {
      await hogwild?.close();
      // a failed or cancelled run leaves no save behind it still writing (nor an unhandled rejection)
      await this.saving?.catch(() => undefined);
    }
  }

  private async runEpochs(hogwild: HogwildTrainer | null): Promise<TrainState> {
    await this.startOrResume();
    this.applyPool();
    const { config, trainer, sink, timer, shouldStop } = this.job;
    for (let e = this.state.epochs.length + 1; e <= config.epochs; e++) {
      this.stopIfAsked();
      if (this.remineBefore(e)) {
        timer.start('mining', `re-mining with the student's embeddings before epoch ${e}`);
        await this.refreshPool(await mineFromStudent(this.job.student, this.job.train, { poolSize: config.poolSize, seed: config.seed + e, byLabelSet: config.remineByLabelSet, threads: this.job.threads, precision: miningPrecision(config) }), e);
        this.applyPool();
      }
      timer.start('training');
      const progress = (done: number, total: number, loss: number): void => sink.progress(done, total, { epoch: e, epochs: config.epochs, loss });
      const stats = hogwild ? await hogwild.trainEpoch(e, progress, shouldStop) : trainer.trainEpoch(e, progress, shouldStop);
      this.state.epochs.push(stats);
      // saved before it is reported: a reported epoch is never trained again (one killed in
      // between is reported by the next run from the checkpoint, see job-runner.ts)
      await this.checkpoint();
      sink.epoch(stats);
    }
    this.stopIfAsked();
    return this.state;
  }

  /** From the checkpoint when there is a usable one; else the first pool (mined and scored). */
  private async startOrResume(): Promise<void> {
    const { checkpoints, config, student, trainer, appliedTemperature, sink, timer } = this.job;
    const state = this.state;
    const saved = checkpoints ? await checkpoints.load() : null;
    const resumed = saved ? restoreTrainState(saved, { config, appliedTemperature }, student, trainer) : null;
    if (resumed) {
      Object.assign(state, resumed);
      if (state.poolScored) sink.log(`resumed from checkpoint after epoch ${state.epochs.length}`);
      else {
        sink.log(`resumed from checkpoint after epoch ${state.epochs.length} with the pool mined before epoch ${state.poolMinedForEpoch}, not scored yet`);
        await this.scorePool();
        await this.checkpoint();
      }
    } else if (config.epochs === 0) {
      state.poolScored = true; // nothing is trained: no pool to mine, no pair to score
    } else if (this.usePool) {
      timer.start('mining');
      await this.refreshPool(await this.firstPool(), 1);
    } else await this.refreshPool(null, 1);
  }

  /** The first pool, mined from the label centroids or copied from firstPools. */
  private async firstPool(): Promise<NegativePool> {
    const { config, train, firstPools } = this.job;
    const known = firstPools?.get(firstPoolKey(config));
    if (known) return { size: config.poolSize, labels: known.slice(), teacherScores: null };
    const pool = await mineFirstPool(train, config, this.job.threads);
    firstPools?.set(firstPoolKey(config), pool.labels.slice());
    return pool;
  }

  private remineBefore(epoch: number): boolean {
    const { remineEvery } = this.job.config;
    return this.usePool && remineEvery > 0 && epoch > 1 && (epoch - 1) % remineEvery === 0 && this.state.poolMinedForEpoch !== epoch;
  }

  /**
   * A new pool, checkpointed once mined and again once scored: a job killed while the teacher
   * scores resumes from the mined pool instead of mining it again.
   */
  private async refreshPool(pool: NegativePool | null, minedForEpoch: number): Promise<void> {
    const state = this.state;
    state.pool = pool;
    state.poolMinedForEpoch = minedForEpoch;
    state.poolScored = false;
    if (pool && this.job.hasTeacher) await this.checkpoint();
    await this.scorePool();
    // written while the next epoch trains: a job killed before it lands scores this pool again,
    // as one killed while scoring does (bench:workers: 0.6 s of a 6.8 s scoring stage)
    this.checkpointInBackground();
  }

  /** The scoring stage: teacher scores for the positives and the current pool, when they are needed. */
  private async scorePool(): Promise<void> {
    const { scorer, config, train, timer, sink } = this.job;
    const state = this.state;
    const { cache } = state;
    if (scorer && cache && (state.pool || config.alpha > 0)) {
      timer.start('scoring');
      const scored = await scorePositivesAndPool(scorer, cache, train, state.pool, { onProgress: (d, t) => sink.progress(d, t) });
      state.pairsScored += scored.newlyScored;
      state.positiveScores = scored.positiveScores;
      sink.log(`teacher scored ${scored.newlyScored} new pairs (${cache.size} cached)`);
    }
    state.poolScored = true;
  }

  private applyPool(): void {
    this.job.trainer.setPool(this.state.pool);
    this.job.trainer.setPositiveTeacherScores(this.state.positiveScores);
  }

  private async checkpoint(): Promise<void> {
    this.checkpointInBackground();
    await this.checkpointWritten();
  }

  /** The state as it is now, saved after any save still in flight (never an older one over a newer one). */
  private checkpointInBackground(): void {
    const { checkpoints, student, trainer } = this.job;
    if (!checkpoints) return;
    const bytes = encodeTrainState(this.state, student, trainer);
    const previous = this.saving ?? Promise.resolve();
    this.saving = previous.then(() => checkpoints.save(bytes));
  }

  /** Waits for the saves in flight; their failure is the job's. */
  private async checkpointWritten(): Promise<void> {
    const saving = this.saving;
    this.saving = null;
    await saving;
  }

  private stopIfAsked(): void {
    if (this.job.shouldStop()) throw new CancelledError(`cancelled after epoch ${this.state.epochs.length}`);
  }
}
