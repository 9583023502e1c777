/**
 * The Repository over Prisma (PGlite or PostgreSQL, see db.ts). Rows become plain records here:
 * dates stay Date, JSON columns are plain objects, bigint columns become numbers.
 *
 * Lists are newest first (created_at, then id, descending), except listUnfinishedJobs (oldest
 * first, the order to re-enqueue in) and listJobEvents (by id, ascending). Deleted datasets and
 * teachers keep their rows (deleted_at set) for the jobs and models that name them, and read as
 * absent everywhere else.
 */
import { DistilxrError } from '../../core/util/errors.js';
import type { DatasetStats } from '../../core/data/dataset.js';
import { Prisma, type PrismaClient } from '../../generated/prisma/client.js';
import type {
  Dataset as DatasetRow,
  Job as JobRow,
  JobEvent as JobEventRow,
  Model as ModelRow,
  Teacher as TeacherRow,
} from '../../generated/prisma/client.js';
import {
  FINAL_JOB_STATUSES,
  JOB_STATUSES,
  type DatasetRecord,
  type DeleteOutcome,
  type JobEventRecord,
  type JobEventType,
  type JobDeleteOutcome,
  type JobKind,
  type JobPatch,
  type JobRecord,
  type JobStats,
  type JobStatus,
  type ListCursor,
  type ListOptions,
  type ModelRecord,
  type NewDataset,
  type NewJob,
  type NewTeacher,
  type Repository,
  type TeacherRecord,
} from '../records.js';

const UNFINISHED_JOB_STATUSES = JOB_STATUSES.filter((s) => !FINAL_JOB_STATUSES.has(s));

/** updateJob on an id that does not exist. */
export class RecordNotFoundError extends DistilxrError {
  constructor(what: string, id: string) {
    super(`${what} ${id} not found`, 'NOT_FOUND');
  }
}

/** A write names a row that does not exist (e.g. a job for an unknown dataset). */
export class ForeignKeyError extends DistilxrError {
  constructor(detail: string) {
    super(`referenced record does not exist (${detail})`, 'FOREIGN_KEY');
  }
}

/** A retry of a job that was retried already (jobs.retry_of is unique). */
export class AlreadyRetriedError extends DistilxrError {
  constructor(readonly jobId: string) {
    super(`job ${jobId} was retried already`, 'ALREADY_RETRIED');
  }
}

type Json = Record<string, unknown>;

/** Statuses of jobs that still need their dataset and teacher. */
const ACTIVE_JOB_STATUSES = UNFINISHED_JOB_STATUSES;
/** Jobs named in a 409 at most. */
const MAX_NAMED_JOBS = 10;

/** Rows after `after` in the (created_at, id) descending order, for keyset pagination. */
function pageWhere(after: ListCursor | undefined): { OR?: ({ createdAt: { lt: Date } } | { createdAt: Date; id: { lt: string } })[] } {
  if (!after) return {};
  return { OR: [{ createdAt: { lt: after.createdAt } }, { createdAt: after.createdAt, id: { lt: after.id } }] };
}

const NEWEST_FIRST = [{ createdAt: 'desc' as const }, { id: 'desc' as const }];

export class PrismaRepository implements Repository {
  constructor(private readonly prisma: PrismaClient) {}

  // ---- datasets

  async createDataset(d: NewDataset): Promise<DatasetRecord> {
    const row = await this.prisma.dataset.create({
      data: {
        id: d.id,
        name: d.name,
        format: d.format,
        trainKey: d.trainKey,
        testKey: d.testKey,
        trainSha256: d.trainSha256 ?? null,
        testSha256: d.testSha256 ?? null,
        stats: json(d.stats),
        testStats: nullableJson(d.testStats),
      },
    });
    return toDataset(row);
  }

  async getDataset(id: string): Promise<DatasetRecord | null> {
    const row = await this.prisma.dataset.findFirst({ where: { id, deletedAt: null } });
    return row && toDataset(row);
  }

  async listDatasets(opts: ListOptions = {}): Promise<DatasetRecord[]> {
    const rows = await this.prisma.dataset.findMany({ where: { deletedAt: null, ...pageWhere(opts.after) }, orderBy: NEWEST_FIRST, take: opts.limit });
    return rows.map(toDataset);
  }

  deleteDataset(id: string): Promise<DeleteOutcome<DatasetRecord>> {
    return this.markDeleted('datasets', id, (tx) => tx.dataset.update({ where: { id }, data: { deletedAt: new Date() } }).then(toDataset));
  }

  // ---- teachers

  async createTeacher(t: NewTeacher): Promise<TeacherRecord> {
    const row = await this.prisma.teacher
      .create({
        data: {
          id: t.id,
          name: t.name,
          key: t.key,
          sha256: t.sha256 ?? null,
          kind: t.kind,
          numLabels: t.numLabels,
          sizeBytes: BigInt(t.sizeBytes),
          jobId: t.jobId,
          datasetId: t.datasetId,
          metrics: nullableJson(t.metrics),
        },
      })
      .catch(rethrow('teacher', t.id));
    return toTeacher(row);
  }

  async getTeacher(id: string): Promise<TeacherRecord | null> {
    const row = await this.prisma.teacher.findFirst({ where: { id, deletedAt: null } });
    return row && toTeacher(row);
  }

  async listTeachers(opts: ListOptions = {}): Promise<TeacherRecord[]> {
    const rows = await this.prisma.teacher.findMany({ where: { deletedAt: null, ...pageWhere(opts.after) }, orderBy: NEWEST_FIRST, take: opts.limit });
    return rows.map(toTeacher);
  }

  deleteTeacher(id: string): Promise<DeleteOutcome<TeacherRecord>> {
    return this.markDeleted('teachers', id, (tx) => tx.teacher.update({ where: { id }, data: { deletedAt: new Date() } }).then(toTeacher));
  }

  /**
   * Marks a dataset or teacher deleted unless a queued or running job uses it. FOR UPDATE waits
   * for createJob transactions holding the row FOR SHARE, and blocks new ones until the mark
   * commits (they then find it deleted).
   */
  private markDeleted<R>(table: 'datasets' | 'teachers', id: string, mark: (tx: Prisma.TransactionClient) => Promise<R>): Promise<DeleteOutcome<R>> {
    return this.prisma.$transaction(async (tx) => {
      const locked = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM ${Prisma.raw(table)} WHERE id = ${id} AND deleted_at IS NULL FOR UPDATE`;
      if (locked.length === 0) return { status: 'not-found' as const };
      const usedBy = table === 'datasets' ? { datasetId: id } : { teacherId: id };
      const active = await tx.job.findMany({ where: { ...usedBy, status: { in: ACTIVE_JOB_STATUSES } }, select: { id: true }, orderBy: NEWEST_FIRST, take: MAX_NAMED_JOBS });
      if (active.length > 0) return { status: 'in-use' as const, jobIds: active.map((j) => j.id) };
      return { status: 'deleted' as const, record: await mark(tx) };
    });
  }

  // ---- jobs

  async createJob(j: NewJob): Promise<JobRecord> {
    const row = await this.prisma
      .$transaction(async (tx) => {
        // FOR SHARE: a concurrent deleteDataset/deleteTeacher (FOR UPDATE) either waits for this
        // job and sees it, or has marked the row and this finds it deleted
        const dataset = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM datasets WHERE id = ${j.datasetId} AND deleted_at IS NULL FOR SHARE`;
        if (dataset.length === 0) throw new ForeignKeyError(`dataset ${j.datasetId} does not exist or was deleted`);
        if (j.teacherId !== null) {
          const teacher = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM teachers WHERE id = ${j.teacherId} AND deleted_at IS NULL FOR SHARE`;
          if (teacher.length === 0) throw new ForeignKeyError(`teacher ${j.teacherId} does not exist or was deleted`);
        }
        return tx.job.create({
          data: { id: j.id, kind: j.kind, params: json(j.params), datasetId: j.datasetId, teacherId: j.teacherId, retryOfId: j.retryOf ?? null },
        });
      })
      .catch((e: unknown) => {
        if (j.retryOf && isUniqueViolationOf(e, 'retry_of')) throw new AlreadyRetriedError(j.retryOf);
        return rethrow('job', j.id)(e);
      });
    return toJob(row);
  }

  async getJob(id: string): Promise<JobRecord | null> {
    const row = await this.prisma.job.findUnique({ where: { id } });
    return row && toJob(row);
  }

  async listJobs(filter: { status?: JobStatus } & ListOptions = {}): Promise<JobRecord[]> {
    const rows = await this.prisma.job.findMany({
      where: { ...(filter.status !== undefined ? { status: filter.status } : {}), ...pageWhere(filter.after) },
      orderBy: NEWEST_FIRST,
      take: filter.limit,
    });
    return rows.map(toJob);
  }

  async getRetryOf(id: string): Promise<JobRecord | null> {
    const row = await this.prisma.job.findUnique({ where: { retryOfId: id } });
    return row && toJob(row);
  }

  async deleteJob(id: string): Promise<JobDeleteOutcome> {
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<{ id: string }[]>`SELECT id FROM jobs WHERE id = ${id} FOR UPDATE`;
      if (rows.length === 0) return { status: 'not-found' as const };
      const record = toJob((await tx.job.findUnique({ where: { id } }))!);
      if (!FINAL_JOB_STATUSES.has(record.status)) return { status: 'unfinished' as const, record };
      // the model's row names its job (its training history): the model goes first
      const model = await tx.model.findFirst({ where: { jobId: id }, select: { id: true } });
      if (model) return { status: 'has-model' as const, record, modelId: model.id };
      await tx.job.delete({ where: { id } });
      return { status: 'deleted' as const, record };
    });
  }

  async listUnfinishedJobs(): Promise<JobRecord[]> {
    const rows = await this.prisma.job.findMany({
      where: { status: { in: UNFINISHED_JOB_STATUSES } },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    return rows.map(toJob);
  }

  async jobStats(): Promise<JobStats> {
    const groups = await this.prisma.job.groupBy({ by: ['status'], _count: { _all: true }, _sum: { examplesPerSecond: true } });
    const byStatus = Object.fromEntries(JOB_STATUSES.map((s) => [s, 0])) as Record<JobStatus, number>;
    let runningExamplesPerSecond = 0;
    for (const g of groups) {
      byStatus[g.status as JobStatus] = g._count._all;
      if (g.status === 'running') runningExamplesPerSecond = g._sum.examplesPerSecond ?? 0;
    }
    return { byStatus, runningExamplesPerSecond };
  }

  async updateJob(id: string, patch: JobPatch): Promise<JobRecord> {
    const row = await this.prisma.job.update({ where: { id }, data: jobPatchData(patch) }).catch(rethrow('job', id));
    return toJob(row);
  }

  async finishJob(id: string, status: 'completed' | 'failed' | 'cancelled', patch: JobPatch = {}): Promise<JobRecord | null> {
    // One conditional UPDATE: whoever finishes the job first wins, later writers get null.
    const rows = await this.prisma.job.updateManyAndReturn({
      where: { id, status: { notIn: [...FINAL_JOB_STATUSES] } },
      data: jobPatchData({ ...patch, status, finishedAt: patch.finishedAt ?? new Date() }),
    });
    return rows.length > 0 ? toJob(rows[0]) : null;
  }

  /**
   * Sets cancelRequested on a job that is not final yet. Returns the job (unchanged when already
   * final: check its status), or null when it does not exist.
   */
  async requestCancel(id: string): Promise<JobRecord | null> {
    const rows = await this.prisma.job.updateManyAndReturn({
      where: { id, status: { notIn: [...FINAL_JOB_STATUSES] } },
      data: { cancelRequested: true },
    });
    if (rows.length > 0) return toJob(rows[0]);
    return this.getJob(id);
  }

  async deleteUnstartedJob(id: string): Promise<boolean> {
    // events go with the row (ON DELETE CASCADE)
    const { count } = await this.prisma.job.deleteMany({ where: { id, status: 'queued', attempts: 0 } });
    return count > 0;
  }

  // ---- job events

  async addJobEvent(jobId: string, type: JobEventType, data: Record<string, unknown>): Promise<JobEventRecord> {
    const row = await this.prisma.jobEvent.create({ data: { jobId, type, data: json(data) } }).catch(rethrow('job', jobId));
    return toJobEvent(row);
  }

  async listJobEvents(
    jobId: string,
    opts: { afterId?: number; types?: JobEventType[]; limit?: number } = {},
  ): Promise<JobEventRecord[]> {
    const rows = await this.prisma.jobEvent.findMany({
      where: {
        jobId,
        ...(opts.afterId !== undefined ? { id: { gt: BigInt(opts.afterId) } } : {}),
        ...(opts.types !== undefined ? { type: { in: opts.types } } : {}),
      },
      orderBy: { id: 'asc' },
      ...(opts.limit !== undefined ? { take: opts.limit } : {}),
    });
    return rows.map(toJobEvent);
  }

  // ---- models

  async createModel(m: Omit<ModelRecord, 'createdAt'>): Promise<ModelRecord> {
    const row = await this.prisma.model
      .create({
        data: {
          id: m.id,
          jobId: m.jobId,
          datasetId: m.datasetId,
          teacherId: m.teacherId,
          key: m.key,
          config: json(m.config),
          metrics: nullableJson(m.metrics),
          teacherMetrics: nullableJson(m.teacherMetrics),
        },
      })
      .catch(rethrow('model', m.id));
    return toModel(row);
  }

  async getModel(id: string): Promise<ModelRecord | null> {
    const row = await this.prisma.model.findUnique({ where: { id } });
    return row && toModel(row);
  }

  async listModels(opts: ListOptions = {}): Promise<ModelRecord[]> {
    const rows = await this.prisma.model.findMany({ where: pageWhere(opts.after), orderBy: NEWEST_FIRST, take: opts.limit });
    return rows.map(toModel);
  }

  async deleteModel(id: string): Promise<ModelRecord | null> {
    try {
      return toModel(await this.prisma.model.delete({ where: { id } }));
    } catch (e) {
      if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === 'P2025') return null;
      throw e;
    }
  }

  // ---- lifecycle

  async ping(): Promise<void> {
    await this.prisma.$queryRaw`SELECT 1`;
  }

  /** Disconnects the Prisma client; the database handle from openDatabase closes the driver. */
  async close(): Promise<void> {
    await this.prisma.$disconnect();
  }
}

// ---- rows → records

function toDataset(r: DatasetRow): DatasetRecord {
  return {
    id: r.id,
    name: r.name,
    format: r.format as DatasetRecord['format'],
    trainKey: r.trainKey,
    testKey: r.testKey,
    trainSha256: r.trainSha256,
    testSha256: r.testSha256,
    stats: r.stats as unknown as DatasetStats,
    testStats: r.testStats as unknown as DatasetStats | null,
    createdAt: r.createdAt,
  };
}

function toTeacher(r: TeacherRow): TeacherRecord {
  return {
    id: r.id,
    name: r.name,
    key: r.key,
    sha256: r.sha256,
    kind: r.kind as TeacherRecord['kind'],
    numLabels: r.numLabels,
    sizeBytes: Number(r.sizeBytes),
    jobId: r.jobId,
    datasetId: r.datasetId,
    metrics: r.metrics as Json | null,
    createdAt: r.createdAt,
  };
}

function toJob(r: JobRow): JobRecord {
  return {
    id: r.id,
    kind: r.kind as JobKind,
    status: r.status as JobStatus,
    stage: r.stage,
    progress: r.progress,
    params: r.params as Json,
    datasetId: r.datasetId,
    teacherId: r.teacherId,
    modelId: r.modelId,
    resultTeacherId: r.resultTeacherId,
    error: r.error,
    examplesPerSecond: r.examplesPerSecond,
    etaSeconds: r.etaSeconds,
    metrics: r.metrics as Json | null,
    cancelRequested: r.cancelRequested,
    attempts: r.attempts,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    startedAt: r.startedAt,
    finishedAt: r.finishedAt,
    retryOf: r.retryOfId,
    heartbeatAt: r.heartbeatAt,
  };
}

function toJobEvent(r: JobEventRow): JobEventRecord {
  return { id: Number(r.id), jobId: r.jobId, type: r.type as JobEventType, data: r.data as Json, createdAt: r.createdAt };
}

function toModel(r: ModelRow): ModelRecord {
  return {
    id: r.id,
    jobId: r.jobId,
    datasetId: r.datasetId,
    teacherId: r.teacherId,
    key: r.key,
    config: r.config as Json,
    metrics: r.metrics as Json | null,
    teacherMetrics: r.teacherMetrics as Json | null,
    createdAt: r.createdAt,
  };
}

// ---- records → rows

function json(v: object): Prisma.InputJsonValue {
  return v as Prisma.InputJsonValue;
}

/** SQL NULL for null (Prisma needs DbNull to tell it from the JSON value `null`). */
function nullableJson(v: object | null): Prisma.InputJsonValue | typeof Prisma.DbNull {
  return v === null ? Prisma.DbNull : (v as Prisma.InputJsonValue);
}

function jobPatchData(p: JobPatch): Prisma.JobUpdateManyMutationInput {
  const data: Prisma.JobUpdateManyMutationInput = {};
  if (p.status !== undefined) data.status = p.status;
  if (p.stage !== undefined) data.stage = p.stage;
  if (p.progress !== undefined) data.progress = p.progress;
  if (p.modelId !== undefined) data.modelId = p.modelId;
  if (p.resultTeacherId !== undefined) data.resultTeacherId = p.resultTeacherId;
  if (p.error !== undefined) data.error = p.error;
  if (p.examplesPerSecond !== undefined) data.examplesPerSecond = p.examplesPerSecond;
  if (p.etaSeconds !== undefined) data.etaSeconds = p.etaSeconds;
  if (p.metrics !== undefined) data.metrics = nullableJson(p.metrics);
  if (p.attempts !== undefined) data.attempts = p.attempts;
  if (p.startedAt !== undefined) data.startedAt = p.startedAt;
  if (p.finishedAt !== undefined) data.finishedAt = p.finishedAt;
  if (p.heartbeatAt !== undefined) data.heartbeatAt = p.heartbeatAt;
  return data;
}

/** A unique-constraint violation (P2002) on `column`. */
function isUniqueViolationOf(e: unknown, column: string): boolean {
  if (!(e instanceof Prisma.PrismaClientKnownRequestError) || e.code !== 'P2002') return false;
  return JSON.stringify(e.meta ?? {}).includes(column) || e.message.includes(column);
}

/** Prisma's "record not found" and "foreign key violated" as our own errors; others unchanged. */
function rethrow(what: string, id: string): (e: unknown) => never {
  return (e) => {
    if (e instanceof Prisma.PrismaClientKnownRequestError) {
      if (e.code === 'P2025') throw new RecordNotFoundError(what, id);
      if (e.code === 'P2003') {
        const field = (e.meta as { field_name?: unknown; constraint?: unknown } | undefined) ?? {};
        throw new ForeignKeyError(String(field.constraint ?? field.field_name ?? e.message));
      }
    }
    throw e;
  };
}
