import { randomUUID } from 'node:crypto';
import { UnrecoverableError, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { BullJobQueue, redisConnectionFromUrl, redisReconnectDelay } from '../src/infra/queue/bull-job-queue.js';

const connection = redisConnectionFromUrl(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');

describe('redisConnectionFromUrl', () => {
  it('reads host, port, password and db, sets maxRetriesPerRequest to null and reconnects at most 500 ms apart', () => {
    expect(redisConnectionFromUrl('redis://:s%40cret@cache.internal:6380/2')).toEqual({ host: 'cache.internal', port: 6380, password: 's@cret', db: 2, maxRetriesPerRequest: null, retryStrategy: redisReconnectDelay });
    expect(redisConnectionFromUrl('redis://localhost')).toEqual({ host: 'localhost', port: 6379, db: 0, maxRetriesPerRequest: null, retryStrategy: redisReconnectDelay });
    expect(() => redisConnectionFromUrl('http://x')).toThrow(/redis:\/\//);
    expect(() => redisConnectionFromUrl('redis://x/abc')).toThrow(/database/);
    expect([1, 2, 5, 50].map(redisReconnectDelay).every((ms) => ms > 0 && ms <= 500)).toBe(true);
  });
});

describe('BullJobQueue', () => {
  let queue: BullJobQueue | null = null;
  afterEach(async () => {
    if (queue) {
      await queue.queue.obliterate({ force: true });
      await queue.close();
      queue = null;
    }
  });

  it('enqueues under the job id, idempotently, with retries for transient failures', async () => {
    const q = (queue = new BullJobQueue(connection, { prefix: `t-${randomUUID().slice(0, 8)}`, queueName: 'jobs' }));
    await q.ping();
    await q.enqueue({ jobId: 'job-1', kind: 'train' });
    await q.enqueue({ jobId: 'job-1', kind: 'train' });
    await q.enqueue({ jobId: 'job-2', kind: 'teacher-fit' });
    expect((await q.counts()).waiting).toBe(2);
    const job = await q.queue.getJob('job-1');
    expect(job?.data).toEqual({ jobId: 'job-1', kind: 'train' });
    expect(job?.opts.attempts).toBe(3);
    expect(job?.opts.backoff).toMatchObject({ type: 'exponential' });
  });

  it('requeue leaves live entries alone and replaces finished ones', async () => {
    const q = (queue = new BullJobQueue(connection, { prefix: `t-${randomUUID().slice(0, 8)}`, queueName: 'jobs' }));
    expect(await q.requeue({ jobId: 'a', kind: 'train' })).toBe('added');
    expect(await q.requeue({ jobId: 'a', kind: 'train' })).toBe('present');
    // a worker fails it for good (as BullMQ does with a job that stalled too often)
    const prefix = q.queue.opts.prefix;
    const worker = new Worker(q.name, async () => { throw new UnrecoverableError('stalled too often'); }, { connection, prefix });
    await new Promise((resolve) => worker.once('failed', resolve));
    await worker.close();
    expect(await (await q.queue.getJob('a'))!.getState()).toBe('failed');
    expect(await q.requeue({ jobId: 'a', kind: 'train' })).toBe('replaced');
    expect(await (await q.queue.getJob('a'))!.getState()).toBe('waiting');
  });

  it('ping fails when Redis cannot be reached', async () => {
    const q = new BullJobQueue({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: null, retryStrategy: () => 1000 }, { pingTimeoutMs: 300 });
    await expect(q.ping()).rejects.toThrow(/did not answer/);
    await q.close();
  });
});
