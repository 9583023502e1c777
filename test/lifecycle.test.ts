/**
 * Issue 14, "Disk": deleting datasets, teachers, models and jobs (409 while in use, files gone
 * from the artifact store), checkpoints removed when a job ends in any state, retry of a failed or
 * cancelled job, disk usage in /metrics and cursor pagination of every list. Over HTTP on the real
 * stack: the API and a worker in this process, PGlite, FsArtifactStore, BullMQ on Redis.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/service/app.js';
import { checkpointKey } from '../src/infra/artifacts/artifact-keys.js';
import { redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { filesUnder } from './support/files-under.js';
import { waitFor, waitFinal } from './support/jobs.js';
import { form } from './support/multipart.js';
import { randomTeacherOnnx } from './support/random-teacher.js';
import { closeServiceParts, openServiceParts, REDIS_URL, smallXc, type ServiceParts } from './support/service-env.js';

const connection = redisConnectionFromUrl(REDIS_URL);
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/test';
const WRITER = { authorization: 'Bearer writer' };
const READER = { authorization: 'Bearer reader' };
const LABELS = 30;
/** A job that runs long enough to be seen running (it is cancelled or interrupted). */
const LONG = { dim: 16, epochs: 500, remineEvery: 0 };
const SHORT = { dim: 16, epochs: 2, poolSize: 8, hardNegatives: 4 };

type Method = 'GET' | 'POST' | 'DELETE';

describe('lifecycle over HTTP with a worker (PGlite)', () => {
  let parts: ServiceParts;
  let app: FastifyInstance;
  let worker: RunningWorker | null = null;

  const startOneWorker = async (): Promise<RunningWorker> =>
    startWorker({ repo: parts.repo, store: parts.store, connection, concurrency: 1, lockMs: 2000, prefix: parts.prefix, runner: { cacheDir: false }, log: () => undefined });

  beforeAll(async () => {
    parts = await openServiceParts('lifecycle');
    app = await buildApp({ repo: parts.repo, store: parts.store, queue: parts.queue, config: { ...parts.config, apiKeys: ['writer', 'reader:read'] } });
    worker = await startOneWorker();
  });

  afterAll(async () => {
    await app?.close();
    await worker?.close();
    await closeServiceParts(parts);
  });

  const call = (method: Method, url: string, payload?: object, headers = WRITER): Promise<LightMyRequestResponse> => app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
  const artifacts = (prefix: string): Promise<string[]> => filesUnder(join(parts.dataDir, 'artifacts', prefix));
  const bytesUnder = async (prefix: string): Promise<number> => {
    let total = 0;
    for (const f of await artifacts(prefix)) total += (await stat(f)).size;
    return total;
  };

  async function uploadDataset(seed: number, points = 2000): Promise<string> {
    const r = await app.inject({ method: 'POST', url: '/v1/datasets', headers: WRITER, payload: form({ train: { data: smallXc(points, LABELS, seed) }, test: { data: smallXc(200, LABELS, seed + 1000) } }) });
    expect(r.statusCode, r.body).toBe(201);
    return r.json().id;
  }

  async function uploadTeacher(seed: number): Promise<string> {
    const onnx = randomTeacherOnnx({ inputDim: 2 * LABELS + 10, hiddenDim: 4, numLabels: LABELS, seed });
    const r = await app.inject({ method: 'POST', url: '/v1/teachers', headers: WRITER, payload: form({ model: { data: onnx, filename: 't.onnx' } }) });
    expect(r.statusCode, r.body).toBe(201);
    return r.json().id;
  }

  async function submitJob(datasetId: string, params: object, teacherId?: string): Promise<string> {
    const r = await call('POST', '/v1/jobs', { datasetId, params, ...(teacherId ? { teacherId } : {}) });
    expect(r.statusCode, r.body).toBe(202);
    return r.json().id;
  }

  const checkpointExists = (jobId: string): boolean => existsSync(parts.store.pathOf(checkpointKey(jobId)));
  const waitCheckpoint = (jobId: string): Promise<boolean> => waitFor(`a checkpoint of job ${jobId}`, async () => checkpointExists(jobId), 60_000, 50);

  it('refuses to delete a dataset, a teacher or a job while a job uses them; cancelled jobs leave no checkpoint; then deletes them with their files', async () => {
    const datasetId = await uploadDataset(1);
    const teacherId = await uploadTeacher(2);
    const running = await submitJob(datasetId, { ...LONG, alpha: 0.5, poolSize: 8, hardNegatives: 4 }, teacherId);
    const queued = await submitJob(datasetId, LONG); // one worker, one job at a time: this one waits
    await waitCheckpoint(running);
    expect((await parts.repo.getJob(queued))!.status).toBe('queued');

    const ds = await call('DELETE', `/v1/datasets/${datasetId}`);
    expect(ds.statusCode).toBe(409);
    expect(ds.json()).toMatchObject({ code: 'DXR_CONFLICT' });
    expect(ds.json().message).toContain(`dataset "${datasetId}" is used by queued or running jobs`);
    expect(ds.json().message).toContain(`"${running}"`);
    expect(ds.json().message).toContain(`"${queued}"`);
    const t = await call('DELETE', `/v1/teachers/${teacherId}`);
    expect(t.statusCode).toBe(409);
    expect(t.json().message).toMatch(new RegExp(`^teacher "${teacherId}" is used by queued or running job "${running}"`));
    for (const id of [running, queued]) {
      const j = await call('DELETE', `/v1/jobs/${id}`);
      expect(j.statusCode).toBe(409);
      expect(j.json().message).toMatch(new RegExp(`^job "${id}" is (running|queued): cancel it first`));
    }
    // nothing was removed by the refusals
    expect(await artifacts(`datasets/${datasetId}`)).toHaveLength(2);
    expect(await artifacts(`teachers/${teacherId}`)).toHaveLength(1);
    expect(checkpointExists(running)).toBe(true);

    // a read-only key may not delete
    const ro = await call('DELETE', `/v1/jobs/${running}`, undefined, READER);
    expect(ro.statusCode).toBe(403);
    expect(ro.json().code).toBe('DXR_FORBIDDEN');

    for (const id of [queued, running]) expect((await call('POST', `/v1/jobs/${id}/cancel`)).statusCode).toBe(202);
    expect((await waitFinal(parts.repo, running, 30_000)).status).toBe('cancelled');
    await waitFor('the cancelled job to release the worker', async () => (await parts.queue.queue.getActiveCount()) === 0, 10_000);
    expect(checkpointExists(running)).toBe(false);
    expect(await artifacts(`checkpoints/${running}`)).toEqual([]);

    expect((await call('DELETE', `/v1/teachers/${teacherId}`)).statusCode).toBe(204);
    expect(await artifacts(`teachers/${teacherId}`)).toEqual([]);
    expect((await call('GET', `/v1/teachers/${teacherId}`)).statusCode).toBe(404);

    const deleted = await call('DELETE', `/v1/datasets/${datasetId}`);
    expect(deleted.statusCode).toBe(204);
    expect(deleted.body).toBe('');
    expect(await artifacts(`datasets/${datasetId}`)).toEqual([]);
    expect((await call('GET', `/v1/datasets/${datasetId}`)).statusCode).toBe(404);
    expect((await call('GET', '/v1/datasets?limit=1000')).json().datasets.map((d: { id: string }) => d.id)).not.toContain(datasetId);
    expect((await call('DELETE', `/v1/datasets/${datasetId}`)).statusCode).toBe(404);
    const late = await call('POST', '/v1/jobs', { datasetId });
    expect(late.statusCode).toBe(404);
    // the jobs that used them stay readable; a retry needs the dataset
    expect((await call('GET', `/v1/jobs/${running}`)).json()).toMatchObject({ status: 'cancelled', datasetId, teacherId });
    const retry = await call('POST', `/v1/jobs/${queued}/retry`);
    expect(retry.statusCode).toBe(409);
    expect(retry.json().message).toBe(`job "${queued}" cannot be retried: its dataset "${datasetId}" was deleted`);

    expect((await call('DELETE', `/v1/jobs/${running}`)).statusCode).toBe(204);
    expect((await call('GET', `/v1/jobs/${running}`)).statusCode).toBe(404);
    expect(await parts.repo.listJobEvents(running)).toEqual([]);
  }, 120_000);

  it('a job that fails after a checkpoint leaves none; a completed one neither', async () => {
    const datasetId = await uploadDataset(3);
    const id = await submitJob(datasetId, LONG);
    await waitCheckpoint(id);
    // the worker shuts down: the job goes back to the queue with its checkpoint, to resume from it
    await worker!.close();
    worker = null;
    expect((await parts.repo.getJob(id))!.status).toBe('queued');
    expect(checkpointExists(id)).toBe(true);
    // ... but its training file was changed meanwhile: the next run fails (bad input, no retry)
    const rec = (await parts.repo.getDataset(datasetId))!;
    const original = await readFile(parts.store.pathOf(rec.trainKey));
    await writeFile(parts.store.pathOf(rec.trainKey), smallXc(2000, LABELS, 99));
    worker = await startOneWorker();
    const failed = await waitFinal(parts.repo, id, 30_000);
    expect(failed.status).toBe('failed');
    expect(failed.error).toMatch(/sha256|checksum|changed|integrity/i);
    await waitFor('the failed job to release the worker', async () => (await parts.queue.queue.getActiveCount()) === 0, 10_000);
    expect(checkpointExists(id)).toBe(false);
    await writeFile(parts.store.pathOf(rec.trainKey), original);

    const done = await waitFinal(parts.repo, await submitJob(datasetId, SHORT), 60_000);
    expect(done.status).toBe('completed');
    await waitFor('the completed job to release the worker', async () => (await parts.queue.queue.getActiveCount()) === 0, 10_000);
    expect(await artifacts('checkpoints')).toEqual([]);
  }, 120_000);

  it('retries a failed job as a new job with the same params; it completes; other states and a second retry are 409', async () => {
    const datasetId = await uploadDataset(5);
    const rec = (await parts.repo.getDataset(datasetId))!;
    const original = await readFile(parts.store.pathOf(rec.trainKey));
    await writeFile(parts.store.pathOf(rec.trainKey), smallXc(2000, LABELS, 98));
    const id = await submitJob(datasetId, SHORT);
    const failed = await waitFinal(parts.repo, id, 30_000);
    expect(failed.status).toBe('failed');
    await writeFile(parts.store.pathOf(rec.trainKey), original); // the cause is fixed

    expect((await call('POST', `/v1/jobs/${id}/retry`, undefined, READER)).statusCode).toBe(403);
    const r = await call('POST', `/v1/jobs/${id}/retry`);
    expect(r.statusCode, r.body).toBe(202);
    const retry = r.json();
    expect(retry).toMatchObject({ status: 'queued', kind: 'train', datasetId, teacherId: null, retryOf: id, params: failed.params, attempts: 0, error: null });
    expect(retry.id).not.toBe(id);
    const again = await call('POST', `/v1/jobs/${id}/retry`);
    expect(again.statusCode).toBe(409);
    expect(again.json().message).toBe(`job "${id}" was retried already as job "${retry.id}": retry that one instead`);

    const done = await waitFinal(parts.repo, retry.id, 60_000);
    expect(done).toMatchObject({ status: 'completed', retryOf: id });
    expect(done.modelId).toBeTruthy();
    expect((await call('GET', `/v1/jobs/${id}`)).json()).toMatchObject({ status: 'failed', retryOf: null });
    const completed = await call('POST', `/v1/jobs/${retry.id}/retry`);
    expect(completed.statusCode).toBe(409);
    expect(completed.json().message).toBe(`job "${retry.id}" is completed: only a failed or cancelled job can be retried`);
    expect((await call('POST', `/v1/jobs/${randomUUID()}/retry`)).statusCode).toBe(404);

    // the old job can be deleted: its retry keeps running on its own
    expect((await call('DELETE', `/v1/jobs/${id}`)).statusCode).toBe(204);
    expect((await call('GET', `/v1/jobs/${retry.id}`)).json().retryOf).toBeNull();
  }, 120_000);

  it('deletes a model: its loaded copy and files go, queries 404; its job can be deleted after it', async () => {
    const datasetId = await uploadDataset(7);
    const teacherId = await uploadTeacher(8);
    const jobId = await submitJob(datasetId, { ...SHORT, alpha: 0.5 }, teacherId);
    const job = await waitFinal(parts.repo, jobId, 60_000);
    expect(job.status).toBe('completed');
    const modelId = job.modelId!;
    const query = { queries: [{ features: { '2': 1, '3': 0.5 } }], k: 3 };
    expect((await call('POST', `/v1/models/${modelId}/query`, query)).statusCode).toBe(200);
    expect(app.modelCache.has(modelId)).toBe(true);

    // the teacher and dataset are no longer in use: a model does not need them to answer
    expect((await call('DELETE', `/v1/teachers/${teacherId}`)).statusCode).toBe(204);
    expect((await call('DELETE', `/v1/datasets/${datasetId}`)).statusCode).toBe(204);
    app.modelCache.delete(modelId); // a fresh load, from the files alone
    expect((await call('POST', `/v1/models/${modelId}/query`, query)).statusCode).toBe(200);
    expect((await call('GET', `/v1/models/${modelId}`)).json()).toMatchObject({ datasetId, teacherId });

    const blocked = await call('DELETE', `/v1/jobs/${jobId}`);
    expect(blocked.statusCode).toBe(409);
    expect(blocked.json().message).toBe(`job "${jobId}" produced model "${modelId}": delete the model first (DELETE /v1/models/${modelId})`);
    expect((await call('DELETE', `/v1/models/${modelId}`, undefined, READER)).statusCode).toBe(403);
    expect(await artifacts(`models/${modelId}`)).not.toEqual([]);

    expect((await call('DELETE', `/v1/models/${modelId}`)).statusCode).toBe(204);
    expect(app.modelCache.has(modelId)).toBe(false);
    expect(await artifacts(`models/${modelId}`)).toEqual([]);
    const gone = await call('POST', `/v1/models/${modelId}/query`, query);
    expect(gone.statusCode).toBe(404);
    expect((await call('GET', `/v1/models/${modelId}`)).statusCode).toBe(404);
    expect((await call('DELETE', `/v1/jobs/${jobId}`)).statusCode).toBe(204);
  }, 120_000);

  it('documents the new routes and the list pages in /docs/json', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const resource of ['datasets', 'teachers', 'models', 'jobs']) {
      expect(Object.keys(doc.paths[`/v1/${resource}/{id}`].delete.responses), resource).toEqual(expect.arrayContaining(['204', '403', '404', '409']));
      const list = doc.paths[`/v1/${resource}`].get;
      expect(list.parameters.map((p: { name: string }) => p.name), resource).toEqual(expect.arrayContaining(['limit', 'cursor']));
      expect(list.responses['200'].content['application/json'].schema.properties, resource).toHaveProperty('nextCursor');
    }
    expect(Object.keys(doc.paths['/v1/jobs/{id}/retry'].post.responses)).toEqual(expect.arrayContaining(['202', '404', '409']));
  });

  it('/metrics reports the bytes under the artifact store by kind, refreshed after a delete', async () => {
    const datasetId = await uploadDataset(11, 3000);
    const metric = async (kind: string): Promise<number> => {
      const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const m = new RegExp(`^distilxr_artifact_bytes\\{kind="${kind}"\\} (\\d+)$`, 'm').exec(body);
      expect(m, body).not.toBeNull();
      return Number(m![1]);
    };
    for (const kind of ['datasets', 'teachers', 'models', 'checkpoints']) expect(await metric(kind)).toBe(await bytesUnder(kind));
    const before = await metric('datasets');
    const own = await bytesUnder(`datasets/${datasetId}`);
    expect(own).toBeGreaterThan(10_000);
    expect((await call('DELETE', `/v1/datasets/${datasetId}`)).statusCode).toBe(204);
    expect(await metric('datasets')).toBe(before - own);
  });

  it('pages through every list with limit and cursor: each item exactly once, newest first', async () => {
    for (let i = 0; i < 5; i++) await uploadDataset(20 + i, 100);
    for (let i = 0; i < 3; i++) await uploadTeacher(30 + i);
    // model rows only: a page does not read the model files
    const anyJob = (await parts.repo.listJobs({ limit: 1 }))[0];
    for (let i = 0; i < 3; i++) {
      await parts.repo.createModel({ id: randomUUID(), jobId: anyJob.id, datasetId: anyJob.datasetId, teacherId: null, key: `models/none-${i}`, config: {}, metrics: null, teacherMetrics: null });
    }

    const walk = async (resource: string, limit: number, whileWalking?: () => Promise<unknown>): Promise<string[]> => {
      const ids: string[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 100; pages++) {
        const r = await call('GET', `/v1/${resource}?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        expect(r.statusCode, r.body).toBe(200);
        const page = r.json();
        expect(page[resource].length).toBeLessThanOrEqual(limit);
        ids.push(...page[resource].map((x: { id: string }) => x.id));
        cursor = page.nextCursor;
        if (cursor === null) return ids;
        if (pages === 0) await whileWalking?.();
      }
      throw new Error('no last page');
    };
    const expected = {
      datasets: (await parts.repo.listDatasets()).map((d) => d.id),
      teachers: (await parts.repo.listTeachers()).map((t) => t.id),
      models: (await parts.repo.listModels()).map((m) => m.id),
      jobs: (await parts.repo.listJobs()).map((j) => j.id),
    };
    for (const [resource, ids] of Object.entries(expected)) {
      expect(ids.length, resource).toBeGreaterThanOrEqual(3);
      expect(await walk(resource, 2), resource).toEqual(ids);
      expect(await walk(resource, 1000), resource).toEqual(ids);
    }
    // an upload between two pages neither repeats nor skips an item already listed
    expect(await walk('datasets', 2, () => uploadDataset(40, 100))).toEqual(expected.datasets);

    const first = await call('GET', '/v1/datasets?limit=2');
    expect(first.json().datasets).toHaveLength(2);
    expect(typeof first.json().nextCursor).toBe('string');
    const filtered = await call('GET', '/v1/jobs?status=completed&limit=1');
    expect(filtered.json().jobs.every((j: { status: string }) => j.status === 'completed')).toBe(true);

    for (const [url, message] of [
      ['/v1/datasets?cursor=bm90LWEtY3Vyc29y', /^querystring\.cursor is not a cursor from a previous page/],
      ['/v1/models?cursor=a.b', /^querystring\.cursor must match pattern/],
      ['/v1/teachers?limit=0', /^querystring\.limit must be >= 1$/],
      ['/v1/jobs?limit=1001', /^querystring\.limit must be <= 1000$/],
      ['/v1/datasets?page=2', /^querystring\.page is not allowed/],
    ] as const) {
      const r = await call('GET', url);
      expect(r.statusCode, url).toBe(400);
      expect(r.json().message, url).toMatch(message);
    }
  }, 60_000);
});

// The row locks that keep a job from being created on a dataset being deleted, on both databases.
describe.each([
  { database: 'PGlite', url: (): string | null => null },
  { database: 'PostgreSQL', url: (): string | null => `${PG_URL}?schema=lc_${randomUUID().slice(0, 8)}` },
])('deleting a dataset while jobs are submitted on it ($database)', ({ url }) => {
  const databaseUrl = url();
  let parts: ServiceParts;
  let app: FastifyInstance;

  beforeAll(async () => {
    parts = await openServiceParts('lifecycle-race', { databaseUrl });
    app = await buildApp({ repo: parts.repo, store: parts.store, queue: parts.queue, config: parts.config });
  });

  afterAll(async () => {
    await app?.close();
    if (databaseUrl && parts) await parts.db.prisma.$executeRawUnsafe(`DROP SCHEMA IF EXISTS "${new URL(databaseUrl).searchParams.get('schema')}" CASCADE`);
    await closeServiceParts(parts);
  });

  it('never leaves a queued job on a deleted dataset', async () => {
    for (let round = 0; round < 5; round++) {
      const up = await app.inject({ method: 'POST', url: '/v1/datasets', payload: form({ train: { data: smallXc(50, 5, round + 1) } }) });
      const datasetId = up.json().id as string;
      const submits = Array.from({ length: 8 }, () => app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId } }));
      const del = app.inject({ method: 'DELETE', url: `/v1/datasets/${datasetId}` });
      const answers = await Promise.all([...submits, del]);
      for (const r of answers.slice(0, -1)) expect([202, 404, 409], r.body).toContain(r.statusCode);
      const deleted = answers.at(-1)!;
      expect([204, 409], deleted.body).toContain(deleted.statusCode);
      const jobsOnIt = (await parts.repo.listJobs()).filter((j) => j.datasetId === datasetId);
      expect(jobsOnIt.length).toBe(answers.slice(0, -1).filter((r) => r.statusCode === 202).length);
      if (deleted.statusCode === 204) expect(jobsOnIt).toEqual([]);
      else expect(jobsOnIt.length).toBeGreaterThan(0);
    }
  }, 60_000);
});
