/**
 * From a job's database records to the plain task its pipeline thread runs: artifact paths, the
 * merged and validated config, where the result goes. Bad settings fail here, before any work.
 */
import { createHash } from 'node:crypto';
import { UsageError } from '../core/util/errors.js';
import { pickSettings } from '../core/util/settings.js';
import type { FeaturizerOptions } from '../core/data/featurizer.js';
import { DEFAULT_TRAIN_CONFIG, validateTrainConfig, withoutTeacher, type TrainConfig } from '../core/model/train-config.js';
import { teacherFitConfigOf } from '../pipeline/teacher-fit-config.js';
import type { TrainJobInput } from '../pipeline/train-job.js';
import { checkpointDirKey, checkpointKey, scoreChunksKey, teacherPrefix } from '../infra/artifacts/artifact-keys.js';
import type { ArtifactStore } from '../infra/artifacts/artifact-store.js';
import { storedLabelNames } from '../infra/artifacts/dataset-label-names.js';
import type { DatasetRecord, JobRecord, Repository, TeacherRecord } from '../infra/records.js';
import type { TeacherFitTask, ThreadTask, TrainTask } from './thread-protocol.js';
import { isTextTeacherKind } from '../teacher/text/bundle-manifest.js';
import { unpackedBundleDir } from '../teacher/text/stored-bundle.js';

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
  /**
   * What `threads: 0` (one per core) means for a job here: the cores shared among the jobs its
   * worker runs at once, so two concurrent jobs on two cores train on one thread each.
   * @defaultValue 0, every core
   */
  threadsPerJob?: number;
  /** Pairs per scoring chunk when a job's scoring fans out to other workers; 0 or unset: it does not. */
  scoreShardPairs?: number;
}

/** A setting of 0 (one thread per core) becomes this worker's share of the cores; a count the user chose stays. */
function withThreadShare<T extends { threads: number }>(config: T, threadsPerJob: number | undefined): T {
  return config.threads === 0 && threadsPerJob ? { ...config, threads: threadsPerJob } : config;
}

/**
 * A stable id for what a job produces, so a retried or resumed attempt writes to the same
 * directory and never registers a second model. UUID-shaped (from sha256 of kind and job id).
 */
export function resultIdFor(kind: 'model' | 'teacher', jobId: string): string {
  const h = createHash('sha256').update(`distilxr:${kind}:${jobId}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export { checkpointDirKey, checkpointKey };

/**
 * The job's stored params as the config it trains with, validated once more in the pipeline: the
 * settings' ranges, and the no-teacher rule (withoutTeacher) as the API applied it.
 */
export function trainConfigOf(params: Record<string, unknown>, hasTeacher: boolean): TrainConfig {
  const picked = pickSettings(DEFAULT_TRAIN_CONFIG, params);
  const noTeacher = hasTeacher ? null : withoutTeacher(picked, params, { prefix: 'params.', teacher: 'teacherId' });
  const config = noTeacher?.config ?? picked;
  const problems = [...(noTeacher?.problems ?? []), ...validateTrainConfig(config)];
  if (problems.length) throw new UsageError(`invalid training settings: ${problems.join('; ')}`);
  return config;
}

/** The auto search's settings among a job's stored params (the API checked their types; anything else is left to the defaults). */
export function autoSearchOf(params: Record<string, unknown>): NonNullable<TrainJobInput['auto']> {
  return {
    budgetSeconds: typeof params.autoBudgetSeconds === 'number' ? params.autoBudgetSeconds : undefined,
    ...(typeof params.autoExtrapolate === 'boolean' ? { extrapolate: params.autoExtrapolate } : {}),
  };
}

function featurizerOf(params: Record<string, unknown>): FeaturizerOptions | undefined {
  const f = params.featurizer;
  return f && typeof f === 'object' ? (f as FeaturizerOptions) : undefined;
}

/** What a scoring chunk of a job needs (score-chunk-processor.ts): its training file and featurizer, and its teacher's folder. */
export interface ChunkScoringInputs {
  trainPath: string;
  featurizer?: FeaturizerOptions;
  teacherPath: string;
  /** The teacher is a text bundle (teacherPath its folder). */
  text: boolean;
}

/** The teacher's ONNX file, or its text bundle's folder: the archive unpacked beside it once, by whoever needs it first. */
async function teacherPathOf(teacher: TeacherRecord, store: ArtifactStore): Promise<string> {
  return isTextTeacherKind(teacher.kind) ? unpackedBundleDir(store.pathOf(teacher.key)) : store.pathOf(teacher.key);
}

/**
 * The paths a chunk of the job's scoring reads, on this worker's artifact store. Not checked
 * against their sha256 again: the job's own start did that, and a chunk would pay it each time.
 */
export async function chunkScoringInputsOf(job: JobRecord, repo: Repository, store: ArtifactStore): Promise<ChunkScoringInputs> {
  const dataset = await repo.getDataset(job.datasetId);
  const teacher = job.teacherId ? await repo.getTeacher(job.teacherId) : null;
  if (!dataset || !teacher) throw new UsageError(`job ${job.id} has no ${dataset ? 'teacher' : 'dataset'} to score with`);
  const featurizer = dataset.format === 'jsonl' ? featurizerOf(job.params) : undefined;
  return { trainPath: store.pathOf(dataset.trainKey), ...(featurizer ? { featurizer } : {}), teacherPath: await teacherPathOf(teacher, store), text: isTextTeacherKind(teacher.kind) };
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
    const resultKey = `${teacherPrefix(resultId)}/teacher.onnx`;
    const task: TeacherFitTask = {
      kind: 'teacher-fit',
      trainPath,
      testPath,
      outPath: store.pathOf(resultKey),
      config: withThreadShare(teacherFitConfigOf(job.params), opts.threadsPerJob),
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
  const labelNames = dataset.format === 'xc' ? await storedLabelNames(store, dataset) : null;
  const resultId = resultIdFor('model', job.id);
  const resultKey = `models/${resultId}`;
  const task: TrainTask = {
    kind: 'train',
    trainPath,
    testPath,
    teacherPath: teacher ? await teacherPathOf(teacher, store) : undefined,
    outDir: store.pathOf(resultKey),
    config: withThreadShare(trainConfigOf(job.params, teacher !== null), opts.threadsPerJob),
    featurizer,
    cacheDir: opts.cacheDir,
    checkpointPath: store.pathOf(checkpointKey(job.id)),
    ...(opts.scoreShardPairs ? { scoreFanOut: { dir: store.pathOf(scoreChunksKey(job.id)), shardPairs: opts.scoreShardPairs } } : {}),
    teacherThreads: opts.teacherThreads,
    ...(teacher && job.params.auto === true ? { auto: autoSearchOf(job.params) } : {}),
    ...(job.params.crossFit === false ? { crossFit: false } : {}),
    // JSONL names come with the data (its label map); XC names from the upload's names file
    ...(dataset.format === 'xc' && labelNames ? { labelNames } : {}),
  };
  return { task, dataset, teacher, resultId, resultKey };
}
