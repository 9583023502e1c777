/**
 * What the job runner (main thread) and the pipeline thread exchange. Everything here crosses
 * `postMessage`, so it is plain data: paths, configs, stats, and errors flattened to name/code.
 */
import type { ErrorKind } from '../core/util/errors.js';
import type { FeaturizerOptions } from '../core/data/featurizer.js';
import type { TrainConfig } from '../core/model/train-config.js';
import type { EpochStats } from '../core/model/trainer.js';
import type { TeacherFitResult } from '../pipeline/fit-teacher.js';
import type { TeacherFitConfig } from '../pipeline/teacher-fit-config.js';
import type { JobStage } from '../pipeline/progress.js';
import type { TrainJobResult } from '../pipeline/train-job.js';

/** Values of the shared stop flag (Int32Array[0]). */
export const STOP_NONE = 0;
/** The user cancelled: the job ends `cancelled`. */
export const STOP_CANCEL = 1;
/** This worker gives the job up (shutdown, lost lock): it goes back to the queue and resumes later. */
export const STOP_RELEASE = 2;

export interface TrainTask {
  kind: 'train';
  trainPath: string;
  testPath?: string;
  teacherPath?: string;
  outDir: string;
  config: TrainConfig;
  featurizer?: FeaturizerOptions;
  cacheDir: string | false;
  checkpointPath: string;
  teacherThreads?: number;
  /** Choose the distillation settings on a held-out slice first (pipeline/auto-tune.ts). */
  auto?: { budgetSeconds?: number };
  /** Score training examples with the teacher's cross-fitting fold models when they fit the data. @defaultValue true */
  crossFit?: boolean;
  /** Label names by id (XC datasets uploaded with a names file), for the published model. */
  labelNames?: string[];
}

export interface TeacherFitTask {
  kind: 'teacher-fit';
  trainPath: string;
  testPath?: string;
  outPath: string;
  config: TeacherFitConfig;
  featurizer?: FeaturizerOptions;
  cacheDir: string | false;
}

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
  | { type: 'done'; result: TrainJobResult | TeacherFitResult }
  | { type: 'error'; error: ThreadError };
