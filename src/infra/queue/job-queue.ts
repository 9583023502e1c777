import type { JobKind } from '../records.js';

export const QUEUE_NAME = 'distilxr-jobs';

/** Payload of a queue entry: the database row is the source of truth, the queue only points at it. */
export interface QueuedJob {
  jobId: string;
  kind: JobKind;
}

/** What the API needs from the queue (BullMQ implementation: bull-job-queue.ts). */
export interface JobQueue {
  /** Idempotent: the queue entry's id is the job id, so re-enqueueing a known job is a no-op. */
  enqueue(job: QueuedJob): Promise<void>;
  /** Counts by BullMQ state (waiting, active, delayed, failed, completed), for /metrics. */
  counts(): Promise<Record<string, number>>;
  /** Throws when Redis cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
