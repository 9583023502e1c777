/**
 * A worker shares the cores among the jobs it runs at once: a job that leaves `threads` at 0 (one
 * per core) trains and fits on its share, so WORKER_CONCURRENCY=2 on two cores does not run four
 * threads; a count the user chose is kept.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildJobTask } from '../src/worker/job-task.js';
import { threadsPerJob } from '../src/worker/worker.js';
import { addDataset } from './support/jobs.js';
import { closeServiceParts, openServiceParts, type ServiceParts } from './support/service-env.js';

describe('threads per job', () => {
  let env: ServiceParts;
  let datasetId: string;
  beforeAll(async () => {
    env = await openServiceParts('thread-share');
    datasetId = await addDataset(env.repo, env.store, { points: 200, testPoints: 40, features: 50, labels: 10, seed: 3 });
  });
  afterAll(() => closeServiceParts(env));

  it('divides the cores by the concurrency, at least one thread a job', () => {
    expect(threadsPerJob(1, 2)).toBe(2);
    expect(threadsPerJob(2, 2)).toBe(1);
    expect(threadsPerJob(3, 2)).toBe(1);
    expect(threadsPerJob(2, 8)).toBe(4);
  });

  it('gives a job left at threads 0 its share, and keeps a count the user chose', async () => {
    const task = async (kind: 'train' | 'teacher-fit', params: Record<string, unknown>, share?: number) => {
      const job = await env.repo.createJob({ id: randomUUID(), kind, datasetId, teacherId: null, params });
      return (await buildJobTask(job, env.repo, env.store, { cacheDir: false, threadsPerJob: share })).task.config.threads;
    };
    expect(await task('train', { epochs: 1 }, 1)).toBe(1);
    expect(await task('train', { epochs: 1, threads: 2 }, 1)).toBe(2);
    expect(await task('train', { epochs: 1 })).toBe(0); // no share given: every core
    expect(await task('teacher-fit', {}, 1)).toBe(1);
    expect(await task('teacher-fit', { threads: 2 }, 1)).toBe(2);
  });
});
