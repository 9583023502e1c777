/**
 * The parent's side of a job's scoring fan-out, in the worker's main thread: the chunks the
 * pipeline asks for become BullMQ jobs on the scores queue, children of the running job (BullMQ
 * then holds the job's completion until they are done), and they are watched while the job waits:
 * a child that failed for good (retries spent, or stalled too often) is given up for the job
 * through its `.failed` file, one that is gone (Redis lost it) is added again.
 */
import type { Job, Queue, QueueEventsProducer } from 'bullmq';
import type { QueuedJob } from '../infra/queue/job-queue.js';
import { chunkPaths, writeChunkFailure, type ChunkRequest } from '../pipeline/score-fan-out.js';
import { readIfPresent } from '../pipeline/score-chunks.js';

/** Suffix of the scores queue's name after the job queue's. */
export const SCORES_QUEUE_SUFFIX = '-scores';

/** The scores queue's event telling every worker which model a job's chunks will need (see ScoreChildren.warm). */
export const SCORE_WARM_EVENT = 'score-warm';

/** A SCORE_WARM_EVENT's payload. */
export interface ScoreWarmEvent {
  jobId: string;
  model: string;
}

/** A scores queue entry: chunk `name` of job `jobId`, scored by the ONNX file `model` beside its teacher. */
export interface ScoreChunkJob {
  jobId: string;
  name: string;
  model: string;
}

/** BullMQ id of a chunk's child: stable, so a resumed job asking again adds nothing twice. */
export const childIdOf = (jobId: string, name: string): string => `${jobId}-${name}`;

interface Watched {
  parent: Job<QueuedJob>;
  dir: string;
  chunks: Map<string, ChunkRequest>;
}

export interface ScoreChildrenOptions {
  /** Tries per chunk. @defaultValue 3 */
  attempts?: number;
  /** First retry delay; doubles each retry. @defaultValue 1000 */
  backoffMs?: number;
  /** How often the children of waiting jobs are checked. @defaultValue 1000 */
  watchMs?: number;
  log: (line: string) => void;
}

export class ScoreChildren {
  private readonly watched = new Map<string, Watched>();
  private readonly timer: NodeJS.Timeout;
  private checking = false;

  /** @param events publishes on the scores queue's event stream, which every worker reads (warm). */
  constructor(
    private readonly queue: Queue<ScoreChunkJob>,
    private readonly opts: ScoreChildrenOptions,
    private readonly events?: QueueEventsProducer,
  ) {
    this.timer = setInterval(() => void this.check(), opts.watchMs ?? 1000);
    this.timer.unref();
  }

  /** Adds the chunks as children of `parent` (the running job `jobId`) and watches them. */
  async add(parent: Job<QueuedJob>, jobId: string, dir: string, chunks: ChunkRequest[]): Promise<void> {
    let w = this.watched.get(jobId);
    if (!w || w.parent !== parent) {
      w = { parent, dir, chunks: new Map() };
      this.watched.set(jobId, w);
    }
    for (const c of chunks) {
      w.chunks.set(c.name, c);
      await this.addChild(w, jobId, c);
    }
  }

  /**
   * Tells every worker that job `jobId`'s chunks will be scored by `model`, so each can load it and
   * the job's features before the first chunk comes (a hint: nothing depends on it arriving).
   */
  async warm(jobId: string, model: string): Promise<void> {
    const event: ScoreWarmEvent & { eventName: string } = { eventName: SCORE_WARM_EVENT, jobId, model };
    await this.events?.publishEvent(event, 100);
  }

  /** The job no longer waits (it ended, or this worker gave it up). */
  forget(jobId: string): void {
    this.watched.delete(jobId);
  }

  close(): void {
    clearInterval(this.timer);
    this.watched.clear();
  }

  private async addChild(w: Watched, jobId: string, c: ChunkRequest): Promise<void> {
    const id = childIdOf(jobId, c.name);
    const existing = await this.queue.getJob(id);
    if (existing) {
      const state = await existing.getState();
      // waiting or running: it will do; finished without an output (an earlier run's failure): again
      if (state !== 'failed' && state !== 'completed') return;
      await existing.remove();
    }
    await this.queue.add('score-chunk', { jobId, name: c.name, model: c.model }, {
      jobId: id,
      parent: { id: w.parent.id!, queue: w.parent.queueQualifiedName },
      attempts: this.opts.attempts ?? 3,
      backoff: { type: 'exponential', delay: this.opts.backoffMs ?? 1000 },
      removeOnComplete: true,
      removeOnFail: { count: 1000, age: 24 * 3600 },
    });
  }

  private async check(): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      for (const [jobId, w] of this.watched) {
        for (const c of [...w.chunks.values()]) {
          if (!this.watched.has(jobId)) break;
          const paths = chunkPaths(w.dir, c.name);
          if ((await readIfPresent(paths.output)) || (await readIfPresent(paths.failed))) {
            w.chunks.delete(c.name);
            continue;
          }
          const child = await this.queue.getJob(childIdOf(jobId, c.name));
          if (!child) {
            this.opts.log(`job ${jobId}: score chunk ${c.name} is not in the queue (Redis lost it?): added again`);
            await this.addChild(w, jobId, c);
          } else if ((await child.getState()) === 'failed') {
            await writeChunkFailure(w.dir, c.name, { message: child.failedReason || 'failed', kind: 'retriable' });
          }
        }
      }
    } catch (e) {
      this.opts.log(`score chunks: check failed: ${(e as Error).message}`);
    } finally {
      this.checking = false;
    }
  }
}
