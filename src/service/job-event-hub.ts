/**
 * The events behind the Server-Sent Events route. Each stream used to poll the database on its
 * own (a job row and an event page every 500 ms), so 500 streams were 2000 queries a second and
 * every other request queued behind them. Here one feed per followed job polls, whatever the number
 * of streams on it, and hands each new event to all of them; a stream that starts behind the feed
 * (Last-Event-ID older than what the feed has passed) reads its backlog once, on its own.
 */
import { FINAL_JOB_STATUSES, type JobEventRecord, type Repository } from '../infra/records.js';

/** Events read per database query. */
const EVENT_PAGE = 500;

/** One stream's inbox: events pushed by the feed, waiting to be written. */
class Inbox {
  private readonly items: JobEventRecord[] = [];
  private ended = false;
  private failure: Error | null = null;
  private wake: (() => void) | null = null;

  push(e: JobEventRecord): void {
    this.items.push(e);
    this.notify();
  }

  end(failure: Error | null = null): void {
    this.ended = true;
    this.failure = failure;
    this.notify();
  }

  /** The next event; null once the feed ended (or `signal` aborted) and nothing is left. */
  async next(signal: AbortSignal): Promise<JobEventRecord | null> {
    for (;;) {
      const e = this.items.shift();
      if (e) return e;
      if (this.failure) throw this.failure;
      if (this.ended || signal.aborted) return null;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          signal.removeEventListener('abort', done);
          this.wake = null;
          resolve();
        };
        this.wake = done;
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }

  private notify(): void {
    this.wake?.();
  }
}

/** Polls one job for new events and passes them to every inbox subscribed to it. */
class JobFeed {
  readonly inboxes = new Set<Inbox>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  /** `cursor`: the id of the last event handed out (the first subscriber's Last-Event-ID to start). */
  constructor(
    private readonly repo: Repository,
    private readonly jobId: string,
    public cursor: number,
    private readonly pollMs: number,
    private readonly onStop: () => void,
  ) {
    this.timer = setTimeout(() => void this.poll(), 0);
  }

  stop(failure: Error | null = null): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const inbox of this.inboxes) inbox.end(failure);
    this.onStop();
  }

  private async poll(): Promise<void> {
    this.timer = null;
    try {
      // the row before the events: a job final at this point has written every event it will
      // write, except its final status event, which the row precedes by one write
      const job = await this.repo.getJob(this.jobId);
      if (this.stopped) return;
      if (!job) return this.stop();
      for (;;) {
        const page = await this.repo.listJobEvents(this.jobId, { afterId: this.cursor, limit: EVENT_PAGE });
        if (this.stopped) return;
        for (const e of page) {
          this.cursor = e.id;
          for (const inbox of this.inboxes) inbox.push(e);
        }
        if (page.length < EVENT_PAGE) break;
      }
      if (FINAL_JOB_STATUSES.has(job.status)) return this.stop();
      this.timer = setTimeout(() => void this.poll(), this.pollMs);
    } catch (e) {
      this.stop(e instanceof Error ? e : new Error(String(e)));
    }
  }
}

export class JobEventHub {
  private readonly feeds = new Map<string, JobFeed>();

  /** @param pollMs how often a followed job is polled for new events (once, however many streams follow it) */
  constructor(
    private readonly repo: Repository,
    private readonly pollMs: number,
  ) {}

  /** Jobs polled right now (one per followed job). */
  get feedCount(): number {
    return this.feeds.size;
  }

  /**
   * Events of job `jobId` after `afterId`, as they are written; ends once the job is final and its
   * events up to then were delivered, when `signal` aborts, or when the hub closes.
   */
  async *follow(jobId: string, afterId: number, signal: AbortSignal): AsyncGenerator<JobEventRecord> {
    const inbox = new Inbox();
    let feed = this.feeds.get(jobId);
    if (!feed) {
      const created: JobFeed = new JobFeed(this.repo, jobId, afterId, this.pollMs, () => {
        if (this.feeds.get(jobId) === created) this.feeds.delete(jobId);
      });
      feed = created;
      this.feeds.set(jobId, feed);
    }
    feed.inboxes.add(inbox);
    let last = afterId;
    try {
      // behind the feed: the backlog first, while the feed's new events wait in the inbox
      if (afterId < feed.cursor) {
        for (;;) {
          const page = await this.repo.listJobEvents(jobId, { afterId: last, limit: EVENT_PAGE });
          for (const e of page) {
            if (signal.aborted) return;
            last = e.id;
            yield e;
          }
          if (page.length < EVENT_PAGE) break;
        }
      }
      for (;;) {
        const e = await inbox.next(signal);
        if (e === null) return;
        if (e.id <= last) continue; // already in the backlog
        last = e.id;
        yield e;
      }
    } finally {
      feed.inboxes.delete(inbox);
      if (feed.inboxes.size === 0) feed.stop();
    }
  }

  /** Ends every stream (server shutdown). */
  close(): void {
    for (const feed of [...this.feeds.values()]) feed.stop();
  }
}
