/**
 * What the job runner (main thread) and the pipeline thread exchange. Everything here crosses
 * `postMessage`, so it is plain data: paths, configs, stats, and errors flattened to name/code.
 */
import type { ErrorKind } from '../core/util/errors.js';
import type { EpochStats } from '../core/model/trainer.js';
import type { TeacherFitInput, TeacherFitResult } from '../pipeline/fit-teacher.js';
import type { JobStage } from '../pipeline/progress.js';
import type { TrainJobInput, TrainJobResult } from '../pipeline/train-job.js';
import type { ChunkRequest, ScoreFanOutSettings } from '../pipeline/score-fan-out.js';

/** Values of the shared stop flag (Int32Array[0]). */
export const STOP_NONE = 0;
/** The user cancelled: the job ends `cancelled`. */
export const STOP_CANCEL = 1;
/** This worker gives the job up (shutdown, lost lock): it goes back to the queue and resumes later. */
export const STOP_RELEASE = 2;

/**
 * A train job's input as it crosses postMessage: TrainJobInput's plain-data fields, with the
 * checkpoint file's path instead of the store (the thread opens it) and no callbacks or loaded data.
 */
export type TrainTask = { kind: 'train'; checkpointPath: string; scoreFanOut?: ScoreFanOutSettings } & Required<Pick<TrainJobInput, 'outDir' | 'cacheDir'>> &
  Pick<TrainJobInput, 'trainPath' | 'testPath' | 'teacherPath' | 'config' | 'featurizer' | 'teacherThreads' | 'auto' | 'crossFit' | 'labelNames'>;

/** A teacher fit's input as it crosses postMessage (TeacherFitInput), the cache folder required. */
export type TeacherFitTask = { kind: 'teacher-fit' } & TeacherFitInput & Required<Pick<TeacherFitInput, 'cacheDir'>>;

export type ThreadTask = TrainTask | TeacherFitTask;

export interface ThreadInput {
  task: ThreadTask;
  /** Int32Array over a SharedArrayBuffer of 4 bytes; see STOP_*. */
  stop: SharedArrayBuffer;
}

/** An error as it crosses the thread boundary; `code` and `kind` are set for DistilxrError subclasses. */
export interface ThreadError {
  name: string;
  message: string;
  code: string | null;
  kind?: ErrorKind;
  stack?: string;
}

export type ThreadMessage =
  | { type: 'stage'; stage: JobStage; detail?: string }
  | { type: 'progress'; done: number; total: number; info?: Record<string, number> }
  | { type: 'epoch'; stats: EpochStats }
  | { type: 'log'; message: string }
  /** Chunks of a scoring call for other workers to score (score-fan-out.ts); their outputs come through the shared volume. */
  | { type: 'score-chunks'; chunks: ChunkRequest[] }
  /** The model that will score this job's first chunks: workers may load it (and the features) now. */
  | { type: 'score-warm'; model: string }
  | { type: 'done'; result: TrainJobResult | TeacherFitResult }
  | { type: 'error'; error: ThreadError };
