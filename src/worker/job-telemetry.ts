/**
 * What a worker tells operators about its jobs: structured log records (start, end, failure,
 * cancellation, takeover of a job another worker held) and Prometheus metrics (jobs completed and
 * failed, the jobs running here, stage durations). The runner reports; this decides the form.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The part of a pino logger used here (pino's Logger meets it). */
export interface StructuredLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface JobStartInfo {
  jobId: string;
  kind: string;
  datasetId: string;
  teacherId: string | null;
  attempt: number;
  /** The job was `running` under another worker (which died or stalled) when this one took it. */
  takenOver: boolean;
}

export interface JobTelemetry {
  started(job: JobStartInfo): void;
  completed(job: { jobId: string; kind: string; seconds: number; stageSeconds: Record<string, number>; metrics: Record<string, unknown> | null }): void;
  failed(job: { jobId: string; kind: string; seconds: number; stage: string | null; message: string }): void;
  cancelled(job: { jobId: string; kind: string; seconds: number; stage: string | null }): void;
  /** The job left this worker without a final state (shutdown, lost lock, a retry to come). */
  released(job: { jobId: string; kind: string; reason: string }): void;
}

export const silentTelemetry: JobTelemetry = { started: () => undefined, completed: () => undefined, failed: () => undefined, cancelled: () => undefined, released: () => undefined };

/** Stage durations from seconds to hours. */
const STAGE_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600];

export class WorkerTelemetry implements JobTelemetry {
  readonly registry = new Registry();
  private readonly done: Counter<'kind'>;
  private readonly fail: Counter<'kind'>;
  private readonly cancel: Counter<'kind'>;
  private readonly takeovers: Counter;
  private readonly current: Gauge<'job_id' | 'kind'>;
  private readonly stages: Histogram<'stage' | 'kind'>;

  constructor(private readonly log: StructuredLog) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'distilxr_worker_' });
    this.done = new Counter({ name: 'distilxr_worker_jobs_completed_total', help: 'Jobs this worker completed', labelNames: ['kind'] as const, registers });
    this.fail = new Counter({ name: 'distilxr_worker_jobs_failed_total', help: 'Jobs this worker marked failed', labelNames: ['kind'] as const, registers });
    this.cancel = new Counter({ name: 'distilxr_worker_jobs_cancelled_total', help: 'Jobs this worker stopped on cancellation', labelNames: ['kind'] as const, registers });
    this.takeovers = new Counter({ name: 'distilxr_worker_job_takeovers_total', help: 'Jobs this worker took over from a worker that died or stalled', registers });
    this.current = new Gauge({ name: 'distilxr_worker_current_job', help: 'Jobs running on this worker now (1 per job)', labelNames: ['job_id', 'kind'] as const, registers });
    this.stages = new Histogram({ name: 'distilxr_worker_stage_seconds', help: 'Duration of the stages of completed jobs', labelNames: ['stage', 'kind'] as const, buckets: STAGE_BUCKETS, registers });
  }

  started(job: JobStartInfo): void {
    this.current.set({ job_id: job.jobId, kind: job.kind }, 1);
    if (job.takenOver) {
      this.takeovers.inc();
      this.log.warn({ event: 'job-takeover', ...job }, `job ${job.jobId}: taken over (attempt ${job.attempt}) from a worker that stopped running it`);
    }
    this.log.info({ event: 'job-start', ...job }, `job ${job.jobId}: started`);
  }

  completed(job: Parameters<JobTelemetry['completed']>[0]): void {
    this.current.remove({ job_id: job.jobId, kind: job.kind });
    this.done.inc({ kind: job.kind });
    for (const [stage, s] of Object.entries(job.stageSeconds)) this.stages.observe({ stage, kind: job.kind }, s);
    this.log.info({ event: 'job-end', ...job }, `job ${job.jobId}: completed in ${job.seconds.toFixed(1)} s`);
  }

  failed(job: Parameters<JobTelemetry['failed']>[0]): void {
    this.current.remove({ job_id: job.jobId, kind: job.kind });
    this.fail.inc({ kind: job.kind });
    this.log.error({ event: 'job-failed', ...job }, `job ${job.jobId}: failed${job.stage ? ` while ${job.stage}` : ''}: ${job.message}`);
  }

  cancelled(job: Parameters<JobTelemetry['cancelled']>[0]): void {
    this.current.remove({ job_id: job.jobId, kind: job.kind });
    this.cancel.inc({ kind: job.kind });
    this.log.info({ event: 'job-cancelled', ...job }, `job ${job.jobId}: cancelled`);
  }

  released(job: { jobId: string; kind: string; reason: string }): void {
    this.current.remove({ job_id: job.jobId, kind: job.kind });
    this.log.warn({ event: 'job-released', ...job }, `job ${job.jobId}: left this worker (${job.reason})`);
  }
}
