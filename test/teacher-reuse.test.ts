/**
 * A teacher fitted over HTTP, reused on other datasets, end to end with a real worker in this
 * process (PGlite, Redis, ONNX Runtime): another training file of the same labels trains (the
 * teacher's fold models, cut from other rows, give way to the full teacher); `crossFit` switches
 * fold scoring off; label names decide at submission (400 naming the first label that differs, or
 * both label counts); XC label names come from an uploaded names file and name query answers;
 * job errors name ids, never a server path.
 */
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/service/app.js';
import { redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { waitFinalEvent } from './support/jobs.js';
import { form, type Files } from './support/multipart.js';
import { randomTeacherOnnx } from './support/random-teacher.js';
import { closeServiceParts, openServiceParts, REDIS_URL, smallXc, type ServiceParts } from './support/service-env.js';

const NAMES = ['cats', 'dogs', 'birds', 'fish', 'trees', 'rocks', 'rivers', 'hills'];
const TRAIN = { dim: 8, epochs: 1, poolSize: 4, hardNegatives: 2 };

let parts: ServiceParts;
let worker: RunningWorker;
let app: FastifyInstance;

beforeAll(async () => {
  parts = await openServiceParts('reuse');
  const { repo, store, queue, prefix, dataDir } = parts;
  worker = await startWorker({ repo, store, connection: redisConnectionFromUrl(REDIS_URL), concurrency: 1, prefix, log: () => undefined, runner: { cacheDir: join(dataDir, 'cache') } });
  app = await buildApp({ repo, store, queue, config: parts.config });
});

afterAll(async () => {
  await app?.close();
  await worker?.close();
  await closeServiceParts(parts);
});

const lines = (names: string[]): string => names.join('\n') + '\n';

async function uploadDataset(files: Files): Promise<{ statusCode: number; id: string; message: string }> {
  const r = await app.inject({ method: 'POST', url: '/v1/datasets', payload: form(files) });
  const body = r.json();
  return { statusCode: r.statusCode, id: body.id, message: body.message };
}

async function dataset(points: number, labels: number, seed: number, names?: string[]): Promise<string> {
  const r = await uploadDataset({ train: { data: smallXc(points, labels, seed) }, test: { data: smallXc(60, labels, seed + 100) }, ...(names ? { labels: { data: lines(names) } } : {}) });
  expect(r.statusCode, r.message).toBe(201);
  return r.id;
}

async function train(datasetId: string, teacherId: string, params: Record<string, unknown> = TRAIN) {
  return app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId, teacherId, params } });
}

async function logOf(jobId: string): Promise<string[]> {
  return (await parts.repo.listJobEvents(jobId, { types: ['log'] })).map((e) => String(e.data.message));
}

describe('teacher reuse across datasets', () => {
  let a: string;
  let teacherId: string;

  beforeAll(async () => {
    a = await dataset(300, 8, 1, NAMES);
    const fit = await app.inject({ method: 'POST', url: '/v1/teachers/fit', payload: { datasetId: a, params: { folds: 2 } } });
    expect(fit.statusCode).toBe(202);
    const done = await waitFinalEvent(parts.repo, fit.json().id, 60_000);
    expect(done, done.error ?? '').toMatchObject({ status: 'completed' });
    teacherId = done.resultTeacherId!;
  }, 90_000);

  it('trains on another file of the same labels and size: the fold models give way to the full teacher', async () => {
    const b = await dataset(300, 8, 2, NAMES); // same points and labels, other rows
    const job = await train(b, teacherId);
    expect(job.statusCode, job.body).toBe(202);
    expect(job.json().params).toMatchObject({ crossFit: true });
    const done = await waitFinalEvent(parts.repo, job.json().id, 60_000);
    expect(done, done.error ?? '').toMatchObject({ status: 'completed' });
    expect((await logOf(done.id)).join('\n')).toMatch(/cross-fitting fold models were fitted on other training data \(300 points, this job has 300\): training examples scored by the full teacher/);

    // on its own dataset the folds apply; crossFit false turns them off
    const own = await waitFinalEvent(parts.repo, (await train(a, teacherId)).json().id, 60_000);
    expect(own.status).toBe('completed');
    expect((await logOf(own.id)).join('\n')).toMatch(/scored out of fold by 2 cross-fitting teacher models/);
    const off = await train(a, teacherId, { ...TRAIN, crossFit: false });
    expect(off.json().params).toMatchObject({ crossFit: false });
    const offDone = await waitFinalEvent(parts.repo, off.json().id, 60_000);
    expect(offDone.status).toBe('completed');
    const offLog = (await logOf(offDone.id)).join('\n');
    expect(offLog).toMatch(/cross-fitting off/);
    expect(offLog).not.toMatch(/out of fold/);

    // the model answers queries with the uploaded names
    const q = await app.inject({ method: 'POST', url: `/v1/models/${done.modelId}/query`, payload: { queries: [{ features: { '4': 1, '5': 0.5 } }], k: 3 } });
    expect(q.statusCode, q.body).toBe(200);
    const hits = q.json().results[0] as { label: number; name: string }[];
    expect(hits).toHaveLength(3);
    for (const h of hits) expect(h.name).toBe(NAMES[h.label]);
  }, 120_000);

  it('crossFit is refused without a teacher, and counts as a setting (no automatic search)', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: a, params: { crossFit: false } } });
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(/params\.crossFit needs a teacherId/);
    const given = await train(a, teacherId, { crossFit: true });
    expect(given.json().params).toMatchObject({ auto: false, crossFit: true });
    await app.inject({ method: 'POST', url: `/v1/jobs/${given.json().id}/cancel` });
  });

  it('refuses at submission a dataset whose label names differ, naming the first one', async () => {
    const swapped = [...NAMES];
    [swapped[2], swapped[3]] = [swapped[3], swapped[2]];
    const c = await dataset(300, 8, 3, swapped);
    const before = (await parts.repo.listJobs({ limit: 1000 })).length;
    const r = await train(c, teacherId);
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toBe(
      `label 2 is named "fish" in dataset "${c}" but "birds" in teacher "${teacherId}" (fitted on dataset "${a}"): a teacher scores labels by id, so their names must agree in the same order`,
    );
    expect((await parts.repo.listJobs({ limit: 1000 })).length).toBe(before);
  });

  it('refuses a teacher with more labels than the dataset naming both counts, unless the names show the dataset is its first labels', async () => {
    const unnamed = await dataset(200, 6, 4);
    const r = await train(unnamed, teacherId);
    expect(r.statusCode).toBe(400);
    expect(r.json().message).toMatch(new RegExp(`^teacher "${teacherId}" scores 8 labels but dataset "${unnamed}" has 6: `));

    // an uploaded teacher (no names known) over 10 labels, on 8 labels
    const up = await app.inject({ method: 'POST', url: '/v1/teachers', payload: form({ model: { data: randomTeacherOnnx({ inputDim: 26, hiddenDim: 4, numLabels: 10, seed: 1 }), filename: 't.onnx' } }) });
    expect(up.statusCode).toBe(201);
    const wide = await train(a, up.json().id);
    expect(wide.statusCode).toBe(400);
    expect(wide.json().message).toMatch(new RegExp(`scores 10 labels but dataset "${a}" has 8`));

    const prefix = await dataset(200, 6, 5, NAMES.slice(0, 6));
    const ok = await train(prefix, teacherId);
    expect(ok.statusCode, ok.body).toBe(202);
    const done = await waitFinalEvent(parts.repo, ok.json().id, 60_000);
    expect(done, done.error ?? '').toMatchObject({ status: 'completed' });
  }, 90_000);

  it('job errors name ids, not server paths', async () => {
    // a dataset whose file went bad after upload (no checksum recorded): the worker's reader fails
    const id = randomUUID();
    const dir = parts.store.pathOf(`datasets/${id}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'train'), '3 10 2\n0 1:1\n1 2:x\n');
    const stats = { points: 3, features: 10, labels: 2, labelsPerPoint: 1, pointsPerLabel: 1, nnzPerPoint: 1 };
    await parts.repo.createDataset({ id, name: 'bad', format: 'xc', trainKey: `datasets/${id}/train`, testKey: null, stats, testStats: null });
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: id, params: { ...TRAIN, poolSize: 2, hardNegatives: 1 } } }); // within its 2 labels
    expect(r.statusCode, r.body).toBe(202);
    const done = await waitFinalEvent(parts.repo, r.json().id, 60_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(new RegExp(`^dataset ${id} \\(train\\):3: `));
    const view = (await app.inject({ method: 'GET', url: `/v1/jobs/${done.id}` })).body;
    expect(view).not.toContain(parts.dataDir);
    expect(view).not.toMatch(/"\/[a-z]+\//);
  }, 60_000);
});

describe('label names file of an XC upload', () => {
  const cases: [string, string, RegExp][] = [
    ['fewer names than labels', lines(NAMES.slice(0, 7)), /^labels:8: 7 names for the 8 labels the training file declares/],
    ['more names than labels', lines([...NAMES, 'extra']), /^labels:9: more names than the 8 labels the training file declares$/],
    ['an empty line', lines(['cats', '', ...NAMES.slice(2)]), /^labels:2: empty label name$/],
    ['a repeated name', lines([...NAMES.slice(0, 7), 'dogs']), /^labels:8: label name "dogs" repeats line 2$/],
  ];
  for (const [what, text, message] of cases) {
    it(`refuses ${what} with 400 naming the line, and keeps nothing`, async () => {
      const before = (await parts.repo.listDatasets()).length;
      const r = await uploadDataset({ train: { data: smallXc(50, 8, 9) }, labels: { data: text } });
      expect(r.statusCode).toBe(400);
      expect(r.message).toMatch(message);
      expect((await parts.repo.listDatasets()).length).toBe(before);
    });
  }

  it('refuses a names file with a JSONL dataset', async () => {
    const jsonl = '{"text": "a cat", "labels": ["cats"]}\n{"text": "a dog", "labels": ["dogs"]}\n';
    const r = await uploadDataset({ train: { data: jsonl }, labels: { data: 'cats\ndogs\n' } });
    expect(r.statusCode).toBe(400);
    expect(r.message).toMatch(/field "labels" applies to XC datasets/);
  });
});
