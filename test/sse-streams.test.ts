/**
 * Event streams at scale: however many streams follow a job, the database is polled once per
 * interval for it (one shared feed), each stream still gets every event once and in order, a
 * stream that starts behind reads its backlog, and a client over MAX_EVENT_STREAMS_PER_CLIENT open
 * streams gets 429. A real listening server (streams over real sockets) on PGlite, queries counted
 * by a wrapper around the real repository.
 */
import { request, type IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/service/app.js';
import type { ServiceConfig } from '../src/infra/config.js';
import { countingRepository, type CountingRepository } from './support/counting-repository.js';
import { addDataset, sleep, waitFor } from './support/jobs.js';
import { closeServiceParts, openServiceParts, type ServiceParts } from './support/service-env.js';

const POLL_MS = 100;

interface Stream {
  status: number;
  /** Event ids received, in order. */
  ids: number[];
  body: string;
  ended: boolean;
  res: IncomingMessage;
  close(): void;
}

/** Opens `GET /v1/jobs/:id/events` on a socket of its own. */
function openStream(url: string, jobId: string, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/jobs/${jobId}/events`, { headers, agent: false }, (res) => {
      const s: Stream = { status: res.statusCode ?? 0, ids: [], body: '', ended: false, res, close: () => req.destroy() };
      res.on('data', (b: Buffer) => {
        s.body += b.toString();
        s.ids = [...s.body.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
      });
      res.on('end', () => (s.ended = true));
      res.on('close', () => (s.ended = true));
      res.on('error', () => undefined);
      resolve(s);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('event streams share one database poller per job', () => {
  let parts: ServiceParts;
  let counting: CountingRepository;
  let app: FastifyInstance;
  let url: string;
  let datasetId: string;
  const streams: Stream[] = [];

  async function start(overrides: Partial<ServiceConfig>): Promise<void> {
    counting = countingRepository(parts.repo);
    app = await buildApp({ repo: counting.repo, store: parts.store, queue: parts.queue, config: { ...parts.config, apiKeys: [], rateLimitMax: 0, ...overrides }, sse: { ssePollMs: POLL_MS } });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  }

  /** A job row that stays `queued` (no worker here), with its first event. */
  async function queuedJob(): Promise<string> {
    const id = randomUUID();
    await parts.repo.createJob({ id, kind: 'train', datasetId, teacherId: null, params: {} });
    await parts.repo.addJobEvent(id, 'status', { status: 'queued' });
    return id;
  }

  beforeAll(async () => {
    parts = await openServiceParts('sse');
    datasetId = await addDataset(parts.repo, parts.store, { points: 50, testPoints: 10, features: 30, labels: 5, seed: 3 });
  }, 60_000);

  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await app?.close();
  });

  afterAll(async () => {
    await closeServiceParts(parts);
  });

  it('40 streams on a job: one job read per interval, every event to every stream once, backlog for a late stream', async () => {
    await start({ maxEventStreamsPerClient: 0 });
    const jobId = await queuedJob();
    for (let i = 0; i < 40; i++) streams.push(await openStream(url, jobId));
    expect(streams.every((s) => s.status === 200)).toBe(true);
    await waitFor('every stream to get the queued event', async () => streams.every((s) => s.ids.length === 1), 10_000, 20);

    counting.reset();
    const windowMs = 1000;
    await sleep(windowMs);
    const reads = counting.calls('getJob');
    const eventReads = counting.calls('listJobEvents');
    console.log(`sse-streams: 40 streams, ${windowMs} ms at ${POLL_MS} ms polls: getJob ${reads}×, listJobEvents ${eventReads}×`);
    // one feed: about windowMs / POLL_MS polls (each a job read and an event page), not 40 times that
    expect(reads).toBeGreaterThanOrEqual(3);
    expect(reads).toBeLessThanOrEqual(windowMs / POLL_MS + 2);
    expect(eventReads).toBeLessThanOrEqual(windowMs / POLL_MS + 2);

    await parts.repo.addJobEvent(jobId, 'log', { message: 'one' });
    await parts.repo.addJobEvent(jobId, 'log', { message: 'two' });
    await waitFor('every stream to get both log events', async () => streams.every((s) => s.ids.length === 3), 10_000, 20);
    const expected = (await parts.repo.listJobEvents(jobId)).map((e) => e.id);
    for (const s of streams) expect(s.ids).toEqual(expected);

    // behind the feed: its backlog, then the live events, each once
    const late = await openStream(url, jobId, { 'last-event-id': String(expected[0]) });
    streams.push(late);
    await parts.repo.addJobEvent(jobId, 'log', { message: 'three' });
    await waitFor('the late stream to get the backlog and the new event', async () => late.ids.length === 3, 10_000, 20);
    const all = (await parts.repo.listJobEvents(jobId)).map((e) => e.id);
    expect(late.ids).toEqual(all.slice(1));

    // a final job ends every stream, and nothing polls after
    await parts.repo.finishJob(jobId, 'cancelled', {});
    await parts.repo.addJobEvent(jobId, 'status', { status: 'cancelled' });
    await waitFor('every stream to end', async () => streams.every((s) => s.ended), 10_000, 20);
    for (const s of streams) expect(s.body).toContain('event: end');
    counting.reset();
    await sleep(5 * POLL_MS);
    expect(counting.calls('getJob')).toBe(0);
    expect(counting.calls('listJobEvents')).toBe(0);
  }, 60_000);

  it('a client over MAX_EVENT_STREAMS_PER_CLIENT open streams gets 429; another key is not affected; a closed stream frees its place', async () => {
    await start({ maxEventStreamsPerClient: 3, apiKeys: ['key-one', 'key-two'] });
    const jobId = await queuedJob();
    const one = { authorization: 'Bearer key-one' };
    for (let i = 0; i < 3; i++) streams.push(await openStream(url, jobId, one));
    expect(streams.map((s) => s.status)).toEqual([200, 200, 200]);

    const over = await fetch(`${url}/v1/jobs/${jobId}/events`, { headers: one });
    expect(over.status).toBe(429);
    const body = (await over.json()) as { code: string; message: string };
    expect(body.code).toBe('DXR_RATE_LIMITED');
    expect(body.message).toMatch(/3 event streams open \(MAX_EVENT_STREAMS_PER_CLIENT\)/);

    const other = await openStream(url, jobId, { authorization: 'Bearer key-two' });
    streams.push(other);
    expect(other.status).toBe(200);
    // other requests of the capped client are still served
    expect((await fetch(`${url}/v1/jobs/${jobId}`, { headers: one })).status).toBe(200);

    streams[0].close();
    await waitFor('a place to free up', async () => {
      const s = await openStream(url, jobId, one);
      if (s.status === 200) streams.push(s);
      else s.close();
      return s.status === 200;
    }, 10_000, 50);
  }, 60_000);
});
