/**
 * Jobs: submission (checks references and settings, writes the row, then enqueues), reads,
 * cancellation and the event history (the live feed behind Server-Sent Events is job-event-hub.ts). The database row is the truth;
 * the queue entry only points at it.
 */
import type { FastifyBaseLogger } from 'fastify';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import { DEFAULT_TRAIN_CONFIG, validateTrainConfig, type TrainConfig } from '../../core/train-config.js';
import { AUTO_BUDGET_SECONDS } from '../../pipeline/auto-tune.js';
import { DEFAULT_TEACHER_FIT } from '../../pipeline/teacher-fit-config.js';
import { BadRequestError, ConflictError, NotFoundError, NotReadyError } from '../errors.js';
import type { JobQueue } from '../job-queue.js';
import { FINAL_JOB_STATUSES, type JobEventRecord, type JobRecord, type JobStatus, type Repository } from '../records.js';
import type { CreateJobBody } from '../schemas/jobs.js';
import type { TeacherFitBody } from '../schemas/teachers.js';

declare module 'fastify' {
  interface FastifyInstance {
    jobs: JobService;
  }
}

/** Events read per database query while following a job. */
const EVENT_PAGE = 500;

export class JobService {
  /**
   * @param enqueueTimeoutMs how long a submission waits for Redis (BullMQ queues commands while
   * disconnected and would wait forever). @defaultValue 5000
   */
  constructor(
    private readonly repo: Repository,
    private readonly queue: JobQueue,
    private readonly log: FastifyBaseLogger,
    private readonly enqueueTimeoutMs = 5000,
  ) {}

  /** A training job. params: TrainConfig fields (validated by the schema), defaults filled in here. */
  async createTrain(body: CreateJobBody): Promise<JobRecord> {
    const dataset = await this.repo.getDataset(body.datasetId);
    if (!dataset) throw new NotFoundError('dataset', body.datasetId);
    const teacher = body.teacherId === undefined ? null : await this.repo.getTeacher(body.teacherId);
    if (body.teacherId !== undefined && !teacher) throw new NotFoundError('teacher', body.teacherId);
    const { featurizer, auto: autoGiven, autoBudgetSeconds, ...given } = body.params ?? {};
    if (autoGiven && !teacher) throw new BadRequestError('params.auto needs a teacherId: the search chooses distillation settings');
    // no setting given (the seed aside): the job picks its own
    const auto = teacher !== null && (autoGiven ?? Object.keys(given).every((k) => k === 'seed'));
    if (!teacher) {
      if (given.alpha !== undefined && given.alpha > 0) throw new BadRequestError(`params.alpha is ${given.alpha} but no teacherId was given: distillation needs a teacher`);
      if (given.teacherWeightedNegatives) throw new BadRequestError('params.teacherWeightedNegatives needs a teacherId');
    }
    if (teacher?.numLabels !== null && teacher?.numLabels !== undefined && teacher.numLabels < dataset.stats.labels) {
      throw new BadRequestError(`teacher "${teacher.id}" scores ${teacher.numLabels} labels but dataset "${dataset.id}" has ${dataset.stats.labels}`);
    }
    if (featurizer && dataset.format !== 'jsonl') throw new BadRequestError(`params.featurizer applies to JSONL text datasets; dataset "${dataset.id}" is ${dataset.format}`);
    const config: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...given, ...(teacher ? {} : { alpha: 0 }) };
    const problems = validateTrainConfig(config);
    if (problems.length) throw new BadRequestError(`invalid params: ${problems.join('; ')}`);
    return this.submit({ id: randomUUID(), kind: 'train', datasetId: dataset.id, teacherId: teacher?.id ?? null, params: { ...config, ...(featurizer ? { featurizer } : {}), auto, ...(auto ? { autoBudgetSeconds: autoBudgetSeconds ?? AUTO_BUDGET_SECONDS } : {}) } });
  }

  /** A job fitting the baseline teacher (full-softmax MLP) on a dataset. */
  async createTeacherFit(body: TeacherFitBody): Promise<JobRecord> {
    const dataset = await this.repo.getDataset(body.datasetId);
    if (!dataset) throw new NotFoundError('dataset', body.datasetId);
    const { featurizer, ...given } = body.params ?? {};
    if (featurizer && dataset.format !== 'jsonl') throw new BadRequestError(`params.featurizer applies to JSONL text datasets; dataset "${dataset.id}" is ${dataset.format}`);
    const params = { ...DEFAULT_TEACHER_FIT, ...given, ...(featurizer ? { featurizer } : {}), ...(body.name ? { name: body.name } : {}) };
    return this.submit({ id: randomUUID(), kind: 'teacher-fit', datasetId: dataset.id, teacherId: null, params });
  }

  /**
   * Row first, then the queue entry. If Redis refuses or does not answer in time, the row is
   * closed as failed (a queue entry that still lands later is skipped by the worker, the job being
   * final) and the client is told to retry.
   */
  private async submit(job: Pick<JobRecord, 'id' | 'kind' | 'params' | 'datasetId' | 'teacherId'>): Promise<JobRecord> {
    const rec = await this.repo.createJob(job);
    await this.repo.addJobEvent(rec.id, 'status', { status: 'queued' });
    try {
      await withTimeout(this.queue.enqueue({ jobId: rec.id, kind: rec.kind }), this.enqueueTimeoutMs, 'enqueue');
    } catch (err) {
      this.log.error({ err, jobId: rec.id }, 'enqueue failed');
      await this.repo.finishJob(rec.id, 'failed', { error: 'the queue was unavailable when the job was submitted' });
      await this.repo.addJobEvent(rec.id, 'status', { status: 'failed', error: 'queue unavailable' });
      throw new NotReadyError('the job queue is unavailable: try again later');
    }
    return rec;
  }

  async get(id: string): Promise<JobRecord> {
    const j = await this.repo.getJob(id);
    if (!j) throw new NotFoundError('job', id);
    return j;
  }

  list(filter: { status?: JobStatus; limit?: number }): Promise<JobRecord[]> {
    return this.repo.listJobs(filter);
  }

  /** Epoch history (from the events) and the final evaluation. */
  async metrics(id: string): Promise<{ job: JobRecord; epochs: Record<string, unknown>[]; evaluation: Record<string, unknown> | null }> {
    const job = await this.get(id);
    const epochs: Record<string, unknown>[] = [];
    let evaluation: Record<string, unknown> | null = null;
    for await (const e of this.events(id, 0, ['epoch', 'metrics'])) {
      if (e.type === 'epoch') epochs.push(e.data);
      else evaluation = e.data;
    }
    return { job, epochs, evaluation: job.metrics ?? evaluation };
  }

  /**
   * Asks a job to stop. A job still queued is finished as cancelled at once (the worker skips it
   * when it comes); a running one stops at its next batch boundary.
   */
  async cancel(id: string): Promise<JobRecord> {
    // one round trip: requestCancel returns a final job unchanged, so it also answers the 409
    const requested = await this.repo.requestCancel(id);
    if (!requested) throw new NotFoundError('job', id);
    if (FINAL_JOB_STATUSES.has(requested.status)) throw new ConflictError(`job "${id}" is already ${requested.status}`);
    if (requested.status !== 'queued') return requested;
    const done = await this.repo.finishJob(id, 'cancelled', {});
    if (!done) return (await this.repo.getJob(id)) ?? requested;
    await this.repo.addJobEvent(id, 'status', { status: 'cancelled' });
    return done;
  }

  /** All events after `afterId`, page by page. */
  async *events(id: string, afterId: number, types?: JobEventRecord['type'][]): AsyncGenerator<JobEventRecord> {
    for (;;) {
      const page = await this.repo.listJobEvents(id, { afterId, limit: EVENT_PAGE, ...(types ? { types } : {}) });
      for (const e of page) {
        afterId = e.id;
        yield e;
      }
      if (page.length < EVENT_PAGE) return;
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

export default fp<{ enqueueTimeoutMs?: number }>(
  async (app, opts) => {
    app.decorate('jobs', new JobService(app.repo, app.queue, app.log, opts.enqueueTimeoutMs));
  },
  { name: 'jobs-service', fastify: '5.x', dependencies: ['deps'] },
);
