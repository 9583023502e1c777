import { JOB_HEARTBEAT_MS } from '../infra/job-liveness.js';
import type { Repository } from '../infra/records.js';

/**
 * Writes the running job's heartbeat (its row's `heartbeatAt`) every JOB_HEARTBEAT_MS, so the API
 * can tell a job whose worker died from one that is merely slow (job-liveness.ts). One write at a
 * time: a beat that is still being retried (database restarting) is not joined by another.
 */
export class JobHeartbeat {
  private readonly timer: NodeJS.Timeout;
  private writing = false;

  constructor(
    private readonly repo: Repository,
    private readonly jobId: string,
    private readonly onError: (e: unknown) => void,
    everyMs = JOB_HEARTBEAT_MS,
  ) {
    this.timer = setInterval(() => this.beat(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private beat(): void {
    if (this.writing) return;
    this.writing = true;
    this.repo
      .updateJob(this.jobId, { heartbeatAt: new Date() })
      .catch(this.onError)
      .finally(() => {
        this.writing = false;
      });
  }
}
