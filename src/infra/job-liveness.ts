/**
 * Whether a `running` job still has a live worker. A worker that dies leaves its job `running` in
 * the database until BullMQ's stalled check hands it to another worker (about the lock duration
 * later): meanwhile its progress and ETA stay frozen. The worker running a job writes a heartbeat
 * into the job's row every JOB_HEARTBEAT_MS; a row whose heartbeat is older than
 * JOB_STALLED_AFTER_MS is shown as stalled, without an ETA.
 */
import type { JobRecord } from './records.js';

/** How often a worker writes its running job's heartbeat. */
export const JOB_HEARTBEAT_MS = 1000;

/**
 * A running job without a heartbeat for this long is reported stalled: five missed beats (slack for
 * a slow database), and shorter than the 10 s worker lock, so the view says so before the takeover.
 */
export const JOB_STALLED_AFTER_MS = 5 * JOB_HEARTBEAT_MS;

/** True when the job is `running` and its worker has not been heard of for JOB_STALLED_AFTER_MS. */
export function isStalled(job: Pick<JobRecord, 'status' | 'heartbeatAt' | 'startedAt' | 'updatedAt'>, now = Date.now()): boolean {
  if (job.status !== 'running') return false;
  const lastSign = job.heartbeatAt ?? job.startedAt ?? job.updatedAt;
  return now - lastSign.getTime() > JOB_STALLED_AFTER_MS;
}
