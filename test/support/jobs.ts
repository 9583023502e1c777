/**
 * Shared by the worker tests: waiting for database states, adding a generated dataset, submitting
 * a job the way the API does (row first, then the queue entry).
 */
import { randomUUID } from 'node:crypto';
import { datasetStats } from '../../src/core/data/dataset.js';
import { writeSynth, type SynthOptions } from '../../src/core/data/synth.js';
import { readXcFile } from '../../src/core/data/xc-format.js';
import type { ArtifactStore } from '../../src/infra/artifacts/artifact-store.js';
import type { JobQueue } from '../../src/infra/queue/job-queue.js';
import { FINAL_JOB_STATUSES, type JobEventRecord, type JobRecord, type Repository } from '../../src/infra/records.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` every `everyMs` until it returns something truthy. */
export async function waitFor<T>(what: string, fn: () => Promise<T | null | undefined | false>, timeoutMs: number, everyMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export const isFinal = (j: JobRecord | null): boolean => j !== null && FINAL_JOB_STATUSES.has(j.status);

export const waitFinal = (repo: Repository, id: string, timeoutMs: number): Promise<JobRecord> =>
  waitFor(
    `job ${id} to finish`,
    async () => {
      const j = await repo.getJob(id);
      return isFinal(j) ? j : null;
    },
    timeoutMs,
  );

/**
 * Waits until the job is final and its final status event is stored too (the worker writes the
 * row first, then the event).
 */
export async function waitFinalEvent(repo: Repository, id: string, timeoutMs: number): Promise<JobRecord> {
  const job = await waitFinal(repo, id, timeoutMs);
  await waitFor(
    `the ${job.status} event of job ${id}`,
    async () => (await repo.listJobEvents(id, { types: ['status'] })).some((e) => e.data.status === job.status),
    5_000,
  );
  return job;
}

/** A generated XC dataset in the store, registered in the database; returns its id. */
export async function addDataset(repo: Repository, store: ArtifactStore, opts: SynthOptions): Promise<string> {
  const id = randomUUID();
  const files = await writeSynth(store.pathOf(`datasets/${id}`), opts);
  await repo.createDataset({
    id,
    name: `synth-${opts.points}`,
    format: 'xc',
    trainKey: `datasets/${id}/train.txt`,
    testKey: `datasets/${id}/test.txt`,
    stats: datasetStats(await readXcFile(files.train)),
    testStats: datasetStats(await readXcFile(files.test)),
  });
  return id;
}

export interface Submission {
  /** @defaultValue a random UUID */
  id?: string;
  kind?: 'train' | 'teacher-fit';
  datasetId: string;
  teacherId?: string;
  params: Record<string, unknown>;
}

/** The row first, then the queue entry, as the API does. */
export async function submit(repo: Repository, queue: JobQueue, j: Submission): Promise<string> {
  const id = j.id ?? randomUUID();
  await repo.createJob({ id, kind: j.kind ?? 'train', datasetId: j.datasetId, teacherId: j.teacherId ?? null, params: j.params });
  await queue.enqueue({ jobId: id, kind: j.kind ?? 'train' });
  return id;
}

export const ofType = (events: JobEventRecord[], type: string): Record<string, unknown>[] => events.filter((e) => e.type === type).map((e) => e.data);
