import type { TextTeacherKind } from '../teacher/text/bundle-manifest.js';
/**
 * What the service stores, independent of Prisma: the repository returns these plain records, so
 * routes and workers never touch generated client types. JSON columns are plain objects.
 */
import type { DatasetStats } from '../core/data/dataset.js';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
/** Statuses a job never leaves (finishJob and requestCancel leave such jobs alone). */
export const FINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set(['completed', 'failed', 'cancelled']);
export type JobKind = 'train' | 'teacher-fit';
export type JobEventType = 'status' | 'stage' | 'progress' | 'epoch' | 'log' | 'metrics';

export interface DatasetRecord {
  id: string;
  name: string;
  format: 'xc' | 'jsonl';
  /** Artifact-store keys of the uploaded files. */
  trainKey: string;
  testKey: string | null;
  /** sha256 (hex) of the stored files, checked before a job reads them; null when not recorded. */
  trainSha256: string | null;
  testSha256: string | null;
  stats: DatasetStats;
  testStats: DatasetStats | null;
  createdAt: Date;
}

export interface TeacherRecord {
  id: string;
  name: string;
  key: string; // artifact-store key of the .onnx file, or of the bundle archive (text teachers)
  /** sha256 (hex) of the .onnx file, checked before a job reads it; null when not recorded. */
  sha256: string | null;
  /** Sparse ONNX teachers: 'scores' | 'logits'; text-teacher bundles: their kind. */
  kind: 'scores' | 'logits' | TextTeacherKind;
  numLabels: number | null;
  sizeBytes: number;
  /** Set when the teacher was fitted by a job. */
  jobId: string | null;
  datasetId: string | null;
  metrics: Record<string, unknown> | null;
  createdAt: Date;
}

export interface JobRecord {
  id: string;
  kind: JobKind;
  status: JobStatus;
  /** Pipeline stage while running: preparing, mining, scoring, training, evaluating, publishing. */
  stage: string | null;
  /** 0..1 over the whole job. */
  progress: number;
  params: Record<string, unknown>;
  datasetId: string;
  teacherId: string | null;
  /** Result: the model (train) or the teacher (teacher-fit). */
  modelId: string | null;
  resultTeacherId: string | null;
  error: string | null;
  examplesPerSecond: number | null;
  etaSeconds: number | null;
  metrics: Record<string, unknown> | null;
  cancelRequested: boolean;
  attempts: number;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** The failed or cancelled job this one retries (POST /v1/jobs/:id/retry), else null. */
  retryOf: string | null;
  /** Last heartbeat of the worker running the job (see job-liveness.ts); null before the first. */
  heartbeatAt: Date | null;
}

export interface JobEventRecord {
  id: number; // increasing per database: SSE clients resume with Last-Event-ID
  jobId: string;
  type: JobEventType;
  data: Record<string, unknown>;
  createdAt: Date;
}

export interface ModelRecord {
  id: string;
  jobId: string;
  datasetId: string;
  teacherId: string | null;
  key: string; // artifact-store key (prefix) of the model directory
  config: Record<string, unknown>;
  metrics: Record<string, unknown> | null;
  teacherMetrics: Record<string, unknown> | null;
  createdAt: Date;
}

/** A dataset to store; checksums may be left out (stored as null: not verified). */
export type NewDataset = Omit<DatasetRecord, 'createdAt' | 'trainSha256' | 'testSha256'> & Partial<Pick<DatasetRecord, 'trainSha256' | 'testSha256'>>;
/** A teacher to store; the checksum may be left out (stored as null: not verified). */
export type NewTeacher = Omit<TeacherRecord, 'createdAt' | 'sha256'> & Partial<Pick<TeacherRecord, 'sha256'>>;

export type JobPatch = Partial<
  Pick<
    JobRecord,
    'status' | 'stage' | 'progress' | 'modelId' | 'resultTeacherId' | 'error' | 'examplesPerSecond' | 'etaSeconds' | 'metrics' | 'attempts' | 'startedAt' | 'finishedAt' | 'heartbeatAt'
  >
>;

/** Where a page of a list starts: after this row in the list's order (newest first). */
export interface ListCursor {
  createdAt: Date;
  id: string;
}

/** A page of a list: at most `limit` rows (all when absent) after `after` (from the start when absent). */
export interface ListOptions {
  limit?: number;
  after?: ListCursor;
}

/** What deleting a dataset or teacher did: the row now marked deleted, or the unfinished jobs that still use it. */
export type DeleteOutcome<T> = { status: 'deleted'; record: T } | { status: 'in-use'; jobIds: string[] } | { status: 'not-found' };

/** What deleting a job did; an unfinished job, or one whose model still exists, is left alone. */
export type JobDeleteOutcome =
  | { status: 'deleted'; record: JobRecord }
  | { status: 'unfinished'; record: JobRecord }
  | { status: 'has-model'; record: JobRecord; modelId: string }
  | { status: 'not-found' };

/** A job row to create; `retryOf` links a retry to the job it repeats. */
export type NewJob = Pick<JobRecord, 'id' | 'kind' | 'params' | 'datasetId' | 'teacherId'> & Partial<Pick<JobRecord, 'retryOf'>>;

export interface JobStats {
  byStatus: Record<JobStatus, number>;
  runningExamplesPerSecond: number;
}

/** Persistence used by the API and the workers. One implementation: Prisma (PGlite or PostgreSQL). */
export interface Repository {
  createDataset(d: NewDataset): Promise<DatasetRecord>;
  getDataset(id: string): Promise<DatasetRecord | null>;
  /** Datasets not deleted, newest first. */
  listDatasets(opts?: ListOptions): Promise<DatasetRecord[]>;
  /**
   * Marks the dataset deleted unless a queued or running job uses it (checked under a row lock, so
   * no job can be created on it meanwhile). The caller removes its files afterwards.
   */
  deleteDataset(id: string): Promise<DeleteOutcome<DatasetRecord>>;

  createTeacher(t: NewTeacher): Promise<TeacherRecord>;
  getTeacher(id: string): Promise<TeacherRecord | null>;
  /** Teachers not deleted, newest first. */
  listTeachers(opts?: ListOptions): Promise<TeacherRecord[]>;
  /** As deleteDataset, for the queued or running train jobs that use the teacher. */
  deleteTeacher(id: string): Promise<DeleteOutcome<TeacherRecord>>;

  /**
   * Throws ForeignKeyError when the dataset or teacher does not exist or was deleted (checked under
   * a row lock against a concurrent delete), and when `retryOf` names a job retried already.
   */
  createJob(j: NewJob): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | null>;
  /** Newest first. */
  listJobs(filter?: { status?: JobStatus } & ListOptions): Promise<JobRecord[]>;
  /** The job that retries `id`, if any. */
  getRetryOf(id: string): Promise<JobRecord | null>;
  /** Removes a final job without a model (its events with it). The caller removes its checkpoint afterwards. */
  deleteJob(id: string): Promise<JobDeleteOutcome>;
  /** Jobs not in a final state (for reconciling the queue after Redis lost them). */
  listUnfinishedJobs(): Promise<JobRecord[]>;
  /** Job counts by status (every status present, 0 when none) and the summed throughput of running jobs: one aggregate query. */
  jobStats(): Promise<JobStats>;
  updateJob(id: string, patch: JobPatch): Promise<JobRecord>;
  /**
   * Moves a job to a final status only if it is not final already (returns null otherwise), so a
   * late worker cannot overwrite `cancelled` with `completed`.
   */
  finishJob(id: string, status: 'completed' | 'failed' | 'cancelled', patch?: JobPatch): Promise<JobRecord | null>;
  /** Flags an unfinished job for cancellation; returns the job (a final one unchanged), null when there is none. */
  requestCancel(id: string): Promise<JobRecord | null>;
  /**
   * Deletes a job (and its events) that no worker ever started: still `queued` with no attempt.
   * For a submission whose queue entry could not be written. True when it was deleted.
   */
  deleteUnstartedJob(id: string): Promise<boolean>;

  addJobEvent(jobId: string, type: JobEventType, data: Record<string, unknown>): Promise<JobEventRecord>;
  listJobEvents(jobId: string, opts?: { afterId?: number; types?: JobEventType[]; limit?: number }): Promise<JobEventRecord[]>;

  createModel(m: Omit<ModelRecord, 'createdAt'>): Promise<ModelRecord>;
  getModel(id: string): Promise<ModelRecord | null>;
  /** Newest first. */
  listModels(opts?: ListOptions): Promise<ModelRecord[]>;
  /** Removes the model's row; returns it (null when there was none). The caller removes its files afterwards. */
  deleteModel(id: string): Promise<ModelRecord | null>;

  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
