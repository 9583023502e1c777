/**
 * From a job's database records to the plain task its pipeline thread runs: artifact paths, the
 * merged and validated config, where the result goes. Bad settings fail here, before any work.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../core/errors.js';
import type { FeaturizerOptions } from '../core/featurizer.js';
import { DEFAULT_TRAIN_CONFIG, validateTrainConfig, type TrainConfig } from '../core/train-config.js';
import { DEFAULT_TEACHER_FIT, type TeacherFitConfig } from '../pipeline/fit-teacher.js';
import type { ArtifactStore } from '../service/artifact-store.js';
import type { DatasetRecord, JobRecord, Repository, TeacherRecord } from '../service/records.js';
import type { TeacherFitTask, ThreadTask, TrainTask } from './thread-protocol.js';

export interface JobTask {
  task: ThreadTask;
  dataset: DatasetRecord;
  teacher: TeacherRecord | null;
  /** Id of the model (train) or teacher (teacher-fit) the job publishes; the same on every attempt. */
  resultId: string;
  /** Artifact-store key of the result (model directory or teacher .onnx). */
  resultKey: string;
}

export interface TaskOptions {
  /** Binary cache of parsed XC files; false disables it. */
  cacheDir: string | false;
  /** ONNX Runtime intra-op threads for teacher scoring. */
  teacherThreads?: number;
}

/**
 * A stable id for what a job produces, so a retried or resumed attempt writes to the same
 * directory and never registers a second model. UUID-shaped (from sha256 of kind and job id).
 */
export function resultIdFor(kind: 'model' | 'teacher', jobId: string): string {
  const h = createHash('sha256').update(`distilxr:${kind}:${jobId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Artifact-store prefix of a job's resumable state; removed when the job completes. */
export const checkpointDirKey = (jobId: string): string => `checkpoints/${jobId}`;
export const checkpointKey = (jobId: string): string => `${checkpointDirKey(jobId)}/train.bin`;

/** Known keys of `defaults` taken from `params`; anything else is ignored. */
function pick<T extends object>(defaults: T, params: Record<string, unknown>): T {
  const out = { ...defaults };
  for (const k of Object.keys(defaults) as (keyof T)[]) {
    const v = params[k as string];
    if (v === undefined || v === null) continue;
    if (typeof v !== typeof defaults[k]) throw new UsageError(`job setting ${String(k)} must be a ${typeof defaults[k]}, got ${JSON.stringify(v)}`);
    out[k] = v as T[keyof T];
  }
  return out;
}

export function trainConfigOf(params: Record<string, unknown>, hasTeacher: boolean): TrainConfig {
  const config = pick(DEFAULT_TRAIN_CONFIG, params);
  // without a teacher there is nothing to distil: plain negative sampling
  if (!hasTeacher) config.alpha = 0;
  const problems = validateTrainConfig(config);
  if (problems.length) throw new UsageError(`invalid training settings: ${problems.join('; ')}`);
  return config;
}

export function teacherFitConfigOf(params: Record<string, unknown>): TeacherFitConfig {
  const c = pick(DEFAULT_TEACHER_FIT, params);
  const problems: string[] = [];
  type NumberKey = { [K in keyof TeacherFitConfig]: TeacherFitConfig[K] extends number ? K : never }[keyof TeacherFitConfig];
  const int = (name: NumberKey, lo: number, hi: number): void => {
    const v = c[name];
    if (!Number.isInteger(v) || v < lo || v > hi) problems.push(`${name} must be an integer in [${lo}, ${hi}], got ${v}`);
  };
  const real = (name: NumberKey, lo: number, hi: number, openLo: boolean): void => {
    const v = c[name];
    if (!Number.isFinite(v) || v < lo || v > hi || (openLo && v === lo)) problems.push(`${name} must be in ${openLo ? '(' : '['}${lo}, ${hi}], got ${v}`);
  };
  real('C', 0, 1000, true);
  real('threshold', 0, 10, false);
  int('maxPasses', 1, 1000);
  int('shortlist', 0, 10000);
  real('shortlistRecall', 0, 1, false);
  int('fullMaxLabels', 0, 1_000_000);
  int('calibrationRows', 1, 10_000_000);
  int('folds', 0, 10);
  real('centroidWeight', 0, 100, false);
  int('threads', 0, 64);
  int('seed', 0, 2 ** 31 - 1);
  if (problems.length) throw new UsageError(`invalid teacher settings: ${problems.join('; ')}`);
  return c;
}

function featurizerOf(params: Record<string, unknown>): FeaturizerOptions | undefined {
  const f = params.featurizer;
  return f && typeof f === 'object' ? (f as FeaturizerOptions) : undefined;
}

/** Loads the records a job refers to and builds its thread task. Throws UsageError for dangling references. */
export async function buildJobTask(job: JobRecord, repo: Repository, store: ArtifactStore, opts: TaskOptions): Promise<JobTask> {
  const dataset = await repo.getDataset(job.datasetId);
  if (!dataset) throw new UsageError(`dataset ${job.datasetId} of job ${job.id} does not exist`);
  // files corrupted or replaced since upload are refused here, naming the key, before any work
  if (dataset.trainSha256) await store.verify(dataset.trainKey, dataset.trainSha256);
  if (dataset.testKey && dataset.testSha256) await store.verify(dataset.testKey, dataset.testSha256);
  const trainPath = store.pathOf(dataset.trainKey);
  const testPath = dataset.testKey ? store.pathOf(dataset.testKey) : undefined;
  const featurizer = dataset.format === 'jsonl' ? featurizerOf(job.params) : undefined;

  if (job.kind === 'teacher-fit') {
    const resultId = resultIdFor('teacher', job.id);
    const resultKey = `teachers/${resultId}/teacher.onnx`;
    const task: TeacherFitTask = {
      kind: 'teacher-fit',
      trainPath,
      testPath,
      outPath: store.pathOf(resultKey),
      config: teacherFitConfigOf(job.params),
      featurizer,
      cacheDir: opts.cacheDir,
    };
    return { task, dataset, teacher: null, resultId, resultKey };
  }

  let teacher: TeacherRecord | null = null;
  if (job.teacherId) {
    teacher = await repo.getTeacher(job.teacherId);
    if (!teacher) throw new UsageError(`teacher ${job.teacherId} of job ${job.id} does not exist`);
    if (teacher.sha256) await store.verify(teacher.key, teacher.sha256);
  }
  const resultId = resultIdFor('model', job.id);
  const resultKey = `models/${resultId}`;
  const task: TrainTask = {
    kind: 'train',
    trainPath,
    testPath,
    teacherPath: teacher ? store.pathOf(teacher.key) : undefined,
    outDir: store.pathOf(resultKey),
    config: trainConfigOf(job.params, teacher !== null),
    featurizer,
    cacheDir: opts.cacheDir,
    checkpointPath: store.pathOf(checkpointKey(job.id)),
    teacherThreads: opts.teacherThreads,
  };
  return { task, dataset, teacher, resultId, resultKey };
}
