/**
 * Jobs: submission (checks references and settings, writes the row, then enqueues), reads,
 * cancellation, retry, deletion and the event history (the live feed behind Server-Sent Events is
 * job-event-hub.ts). The database row is the truth; the queue entry only points at it.
 */
import type { FastifyBaseLogger } from 'fastify';
import fp from 'fastify-plugin';
import { randomUUID } from 'node:crypto';
import { DEFAULT_TRAIN_CONFIG, validateTrainConfig, withoutTeacher, type TrainConfig } from '../../core/model/train-config.js';
import { defaultAutoBudget, SETTINGS_THAT_TURN_AUTO_OFF } from '../../pipeline/auto-tune.js';
import { checkJobCost, datasetBoundProblems, inputDimOf, TEACHER_FIT_DATASET_BOUNDS, teacherFitCost, TRAIN_DATASET_BOUNDS, trainJobCost, type JobLimits } from '../../pipeline/job-cost.js';
import { DEFAULT_TEACHER_FIT, teacherFitConfigOf } from '../../pipeline/teacher-fit-config.js';
import { jobLimitsOf } from '../../infra/config.js';
import { BadRequestError, ConflictError, NotFoundError, NotReadyError } from '../errors.js';
import type { ArtifactStore } from '../../infra/artifacts/artifact-store.js';
import { checkpointDirKey } from '../../infra/artifacts/artifact-keys.js';
import type { JobQueue } from '../../infra/queue/job-queue.js';
import { listPage, type Page } from '../list-page.js';
import { AlreadyRetriedError } from '../../infra/db/prisma-repository.js';
import { checkTeacherFitsDataset } from '../teacher-match.js';
import { isTextTeacherKind } from '../../teacher/text/bundle-manifest.js';
import { FINAL_JOB_STATUSES, type JobEventRecord, type JobRecord, type JobStatus, type NewJob, type Repository } from '../../infra/records.js';
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
   * @param limits what one job may cost (pipeline/job-cost.ts), checked before it is stored
   */
  constructor(
    private readonly repo: Repository,
    private readonly store: ArtifactStore,
    private readonly queue: JobQueue,
    private readonly log: FastifyBaseLogger,
    private readonly limits: JobLimits,
    private readonly enqueueTimeoutMs = 5000,
  ) {}

  /** A training job. params: TrainConfig fields (validated by the schema), defaults filled in here. */
  async createTrain(body: CreateJobBody): Promise<JobRecord> {
    const dataset = await this.repo.getDataset(body.datasetId);
    if (!dataset) throw new NotFoundError('dataset', body.datasetId);
    const teacher = body.teacherId === undefined ? null : await this.repo.getTeacher(body.teacherId);
    if (body.teacherId !== undefined && !teacher) throw new NotFoundError('teacher', body.teacherId);
    const { featurizer, auto: autoGiven, autoBudgetSeconds, autoExtrapolate, crossFit, ...given } = body.params ?? {};
    if (autoGiven && !teacher) throw new BadRequestError('params.auto needs a teacherId: the search chooses distillation settings');
    if (crossFit !== undefined && !teacher) throw new BadRequestError('params.crossFit needs a teacherId: it says how the teacher scores the training examples');
    // no setting it chooses or that shapes the model given: the job picks its own (the same rule as the CLI's)
    const params: Record<string, unknown> = body.params ?? {};
    const turnedOff = SETTINGS_THAT_TURN_AUTO_OFF.filter((k) => params[k] !== undefined);
    const auto = teacher !== null && (autoGiven ?? turnedOff.length === 0);
    // the search's own settings, given for a job that runs no search, would be dropped unseen
    const searchOff = !teacher ? 'needs a teacherId' : autoGiven === false ? 'is for the auto search, and params.auto is false' : `is for the auto search, which params.${turnedOff[0]} turns off (a setting it would choose; params.auto: true keeps it on)`;
    for (const [name, value] of Object.entries({ autoBudgetSeconds, autoExtrapolate })) if (value !== undefined && !auto) throw new BadRequestError(`params.${name} ${searchOff}`);
    const merged: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, ...given };
    const noTeacher = teacher ? null : withoutTeacher(merged, given, { prefix: 'params.', teacher: 'teacherId' });
    if (noTeacher?.problems.length) throw new BadRequestError(noTeacher.problems.join('; '));
    if (teacher) await checkTeacherFitsDataset(this.repo, this.store, teacher, dataset);
    if (featurizer && dataset.format !== 'jsonl') throw new BadRequestError(`params.featurizer applies to JSONL text datasets; dataset "${dataset.id}" is ${dataset.format}`);
    const config = noTeacher?.config ?? merged;
    const problems = validateTrainConfig(config);
    if (problems.length) throw new BadRequestError(`invalid params: ${problems.join('; ')}`);
    const inputDim = inputDimOf(dataset.stats, featurizer);
    const budget = auto ? { autoBudgetSeconds: autoBudgetSeconds ?? defaultAutoBudget(dataset.stats, config, inputDim, teacher !== null && isTextTeacherKind(teacher.kind)) } : {};
    const cost = trainJobCost({ stats: dataset.stats, config, inputDim, teacher: teacher !== null, ...budget });
    checkJobCost(cost, this.limits, body.params ?? {}, datasetBoundProblems(dataset.stats, given, TRAIN_DATASET_BOUNDS));
    return this.submit({ id: randomUUID(), kind: 'train', datasetId: dataset.id, teacherId: teacher?.id ?? null, params: { ...config, ...(featurizer ? { featurizer } : {}), ...(teacher ? { crossFit: crossFit ?? true } : {}), auto, ...budget, ...(autoExtrapolate !== undefined ? { autoExtrapolate } : {}) } });
  }

  /** A job fitting the baseline teacher (full-softmax MLP) on a dataset. */
  async createTeacherFit(body: TeacherFitBody): Promise<JobRecord> {
    const dataset = await this.repo.getDataset(body.datasetId);
    if (!dataset) throw new NotFoundError('dataset', body.datasetId);
    const { featurizer, ...given } = body.params ?? {};
    if (featurizer && dataset.format !== 'jsonl') throw new BadRequestError(`params.featurizer applies to JSONL text datasets; dataset "${dataset.id}" is ${dataset.format}`);
    const params = { ...DEFAULT_TEACHER_FIT, ...given, ...(featurizer ? { featurizer } : {}), ...(body.name ? { name: body.name } : {}) };
    const cost = teacherFitCost({ stats: dataset.stats, config: teacherFitConfigOf(params), inputDim: inputDimOf(dataset.stats, featurizer) });
    checkJobCost(cost, this.limits, given, datasetBoundProblems(dataset.stats, given, TEACHER_FIT_DATASET_BOUNDS));
    return this.submit({ id: randomUUID(), kind: 'teacher-fit', datasetId: dataset.id, teacherId: null, params });
  }

  /**
   * Row first, then the queue entry: a worker never meets an entry without its row, and an API
   * killed in between leaves a `queued` row that the workers' reconcile enqueues. If Redis refuses
   * or does not answer in time, the row is deleted (the client is told to retry, so it must not
   * find a job it was refused); a queue entry that still lands later finds no row and is dropped
   * by the worker. Only when the delete fails too is the row closed as failed instead.
   */
  private async submit(job: NewJob): Promise<JobRecord> {
    const rec = await this.repo.createJob(job);
    await this.repo.addJobEvent(rec.id, 'status', { status: 'queued' });
    try {
      await withTimeout(this.queue.enqueue({ jobId: rec.id, kind: rec.kind }), this.enqueueTimeoutMs, 'enqueue');
    } catch (err) {
      this.log.error({ err, jobId: rec.id }, 'enqueue failed: submission refused');
      await this.forgetRefused(rec.id);
      throw new NotReadyError('the job queue is unavailable: try again later');
    }
    return rec;
  }

  private async forgetRefused(id: string): Promise<void> {
    try {
      if (await this.repo.deleteUnstartedJob(id)) return;
    } catch (err) {
      this.log.error({ err, jobId: id }, 'could not delete a refused submission; closing it as failed');
    }
    await this.repo.finishJob(id, 'failed', { error: 'the queue was unavailable when the job was submitted' }).catch(() => undefined);
  }

  async get(id: string): Promise<JobRecord> {
    const j = await this.repo.getJob(id);
    if (!j) throw new NotFoundError('job', id);
    return j;
  }

  list(filter: { status?: JobStatus }, limit: number, cursor?: string): Promise<Page<JobRecord>> {
    return listPage((opts) => this.repo.listJobs({ ...filter, ...opts }), limit, cursor);
  }

  /**
   * A failed or cancelled job again, from scratch: a new job (new id, `retryOf` naming this one)
   * with the same kind, dataset, teacher and params. The old job keeps its history; a job is
   * retried at most once (retry the newest of the chain).
   */
  async retry(id: string): Promise<JobRecord> {
    const old = await this.get(id);
    if (old.status !== 'failed' && old.status !== 'cancelled') throw new ConflictError(`job "${id}" is ${old.status}: only a failed or cancelled job can be retried`);
    const previous = await this.repo.getRetryOf(id);
    if (previous) throw new ConflictError(`job "${id}" was retried already as job "${previous.id}": retry that one instead`);
    if (!(await this.repo.getDataset(old.datasetId))) throw new ConflictError(`job "${id}" cannot be retried: its dataset "${old.datasetId}" was deleted`);
    if (old.teacherId !== null && !(await this.repo.getTeacher(old.teacherId))) throw new ConflictError(`job "${id}" cannot be retried: its teacher "${old.teacherId}" was deleted`);
    try {
      return await this.submit({ id: randomUUID(), kind: old.kind, datasetId: old.datasetId, teacherId: old.teacherId, params: old.params, retryOf: id });
    } catch (e) {
      // a concurrent retry of the same job won the unique retry_of
      if (e instanceof AlreadyRetriedError) throw new ConflictError(`job "${id}" was retried already: GET /v1/jobs lists its retry`);
      throw e;
    }
  }

  /**
   * Removes a finished job, its events and whatever checkpoint it left. 409 while it is queued or
   * running, and while the model it produced exists (the model's record names the job).
   */
  async delete(id: string): Promise<void> {
    const outcome = await this.repo.deleteJob(id);
    if (outcome.status === 'not-found') throw new NotFoundError('job', id);
    if (outcome.status === 'unfinished') throw new ConflictError(`job "${id}" is ${outcome.record.status}: cancel it first (POST /v1/jobs/${id}/cancel), then delete it once it is cancelled`);
    if (outcome.status === 'has-model') throw new ConflictError(`job "${id}" produced model "${outcome.modelId}": delete the model first (DELETE /v1/models/${outcome.modelId})`);
    await this.store.remove(checkpointDirKey(id));
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
    // a job put back in the queue by a worker that shut down has a checkpoint: it ends here
    await this.store.remove(checkpointDirKey(id));
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
    app.decorate('jobs', new JobService(app.repo, app.store, app.queue, app.log, jobLimitsOf(app.serviceConfig), opts.enqueueTimeoutMs));
  },
  { name: 'jobs-service', fastify: '5.x', dependencies: ['deps'] },
);
