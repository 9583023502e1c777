/**
 * The HTTP API against the real pieces (test/support/service-env.ts): PrismaRepository on PGlite,
 * FsArtifactStore, BullJobQueue on Redis 127.0.0.1:6379 under a fresh prefix, ONNX Runtime,
 * hnswlib. No worker runs here: the tests play the worker's part through the repository where a
 * job has to move (events, a published model).
 */
import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../src/core/util/rng.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { AUTO_MIN_BUDGET_SECONDS } from '../src/pipeline/auto-tune.js';
import { buildApp } from '../src/service/app.js';
import { loadConfig } from '../src/infra/config.js';
import { BullJobQueue, redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { ERROR_CODES } from '../src/service/errors.js';
import { ModelCache } from '../src/service/model-cache.js';
import type { JobRecord } from '../src/infra/records.js';
import { startServer, type RunningServer } from '../src/service/server.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';
import { DataType, encodeModel, tensorValueInfo } from '../src/core/util/onnx-proto.js';
import { filesUnder } from './support/files-under.js';
import { captureLogs } from './support/log-capture.js';
import { form, type Files } from './support/multipart.js';
import { closeServiceEnv, openServiceEnv, publishModel, REDIS_URL, type ServiceEnv } from './support/service-env.js';

const COREL = resolve('../shared/datasets/corel5k');
/** Well-formed (ids in paths must be UUIDs) but never issued. */
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const connection = redisConnectionFromUrl(REDIS_URL);

/** A small JSONL text dataset: each document mentions its labels' words. */
function jsonlText(points: number, seed: number): string {
  const rng = new Rng(seed);
  const topics = ['cats', 'dogs', 'birds', 'fish', 'trees', 'rocks'];
  const filler = ['the', 'a', 'some', 'many', 'quite', 'very', 'near', 'far'];
  const lines: string[] = [];
  for (let i = 0; i < points; i++) {
    const a = topics[rng.int(topics.length)];
    const b = topics[rng.int(topics.length)];
    const words = [a, a, b, filler[rng.int(filler.length)], filler[rng.int(filler.length)]];
    lines.push(JSON.stringify({ text: words.join(' '), labels: a === b ? [a] : [a, b] }));
  }
  return lines.join('\n') + '\n';
}

/** A loadable ONNX graph with the given inputs whose output is computed from feature_values. */
function onnxWithInputs(inputNames: string[]): Uint8Array {
  const inputs = inputNames.map((n) => tensorValueInfo(n, n.includes('value') ? DataType.FLOAT : DataType.INT64, ['B', 'M']));
  const valueInput = inputNames.find((n) => n.includes('value'))!;
  return encodeModel({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'g',
      node: [{ opType: 'Identity', input: [valueInput], output: ['logits'], name: 'id' }],
      initializer: [],
      input: inputs,
      output: [tensorValueInfo('logits', DataType.FLOAT, ['B', 'M'])],
    },
  });
}

describe('API', () => {
  let env: ServiceEnv;
  let corelTrain: Buffer;
  let corelTest: Buffer;
  let corelId: string;

  beforeAll(async () => {
    env = await openServiceEnv('api', { maxUploadBytes: 4 << 20 }, { ssePollMs: 50, sseHeartbeatMs: 100 });
    corelTrain = await readFile(join(COREL, 'corel5k_mulan_train.txt'));
    corelTest = await readFile(join(COREL, 'corel5k_mulan_test.txt'));
  });
  afterAll(async () => closeServiceEnv(env));

  const upload = (url: string, files: Files, fields?: Record<string, string>, app = env.app) => app.inject({ method: 'POST', url, payload: form(files, fields) });
  /** Stored files of datasets/teachers that have no row: what a refused upload must not leave. */
  const orphans = async (kind: 'datasets' | 'teachers'): Promise<string[]> => {
    const ids = kind === 'datasets' ? (await env.repo.listDatasets()).map((d) => d.id) : (await env.repo.listTeachers()).map((t) => t.id);
    const files = await filesUnder(join(env.dataDir, 'artifacts', kind));
    return files.filter((f) => !ids.some((id) => f.includes(`/${kind}/${id}/`)));
  };

  describe('errors', () => {
    it('pins the list of error codes and their statuses', () => {
      expect(ERROR_CODES).toEqual({
        DXR_VALIDATION: 400,
        DXR_BAD_REQUEST: 400,
        DXR_DATA_FORMAT: 400,
        DXR_TEACHER_CONTRACT: 400,
        DXR_BAD_JSON: 400,
        DXR_INVALID_KEY: 400,
        DXR_MISSING_FILE: 400,
        DXR_UNAUTHORIZED: 401,
        DXR_FORBIDDEN: 403,
        DXR_NOT_FOUND: 404,
        DXR_CONFLICT: 409,
        DXR_TOO_LARGE: 413,
        DXR_UNSUPPORTED_MEDIA_TYPE: 415,
        DXR_RATE_LIMITED: 429,
        DXR_INTERNAL: 500,
        DXR_NOT_READY: 503,
      });
    });

    it('answers unknown routes and bad JSON with a coded body and a request id', async () => {
      const r = await env.app.inject({ method: 'GET', url: '/v1/nothing' });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toMatchObject({ statusCode: 404, code: 'DXR_NOT_FOUND', error: 'Not Found' });
      expect(r.json().requestId).toBe(r.headers['x-request-id']);
      const bad = await env.app.inject({ method: 'POST', url: '/v1/jobs', headers: { 'content-type': 'application/json' }, payload: '{"datasetId":' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().code).toBe('DXR_BAD_JSON');
    });
  });

  describe('datasets', () => {
    it('accepts an XC train + test upload, validates it and reports stats', async () => {
      const r = await upload('/v1/datasets', { train: { data: corelTrain, filename: 'corel5k_mulan_train.txt' }, test: { data: corelTest } }, { name: 'corel5k' });
      expect(r.statusCode).toBe(201);
      const body = r.json();
      expect(body).toMatchObject({ name: 'corel5k', format: 'xc', hasTest: true });
      expect(body.stats).toMatchObject({ points: 4500, features: 499, labels: 374 });
      expect(body.testStats.points).toBe(500);
      corelId = body.id;
      const got = await env.app.inject({ method: 'GET', url: `/v1/datasets/${corelId}` });
      expect(got.json()).toEqual(body);
      const list = await env.app.inject({ method: 'GET', url: '/v1/datasets' });
      expect(list.json().datasets.map((d: { id: string }) => d.id)).toContain(corelId);
      const rec = await env.repo.getDataset(corelId);
      expect(await readFile(env.store.pathOf(rec!.trainKey))).toEqual(corelTrain);
    });

    it('accepts a JSONL text upload (featurizer fitted to check it)', async () => {
      const r = await upload('/v1/datasets', { train: { data: jsonlText(300, 1), filename: 'docs.jsonl' }, test: { data: jsonlText(50, 2) } });
      expect(r.statusCode).toBe(201);
      expect(r.json()).toMatchObject({ name: 'docs.jsonl', format: 'jsonl', stats: { points: 300, labels: 6 }, testStats: { points: 50 } });
    });

    const bad: [string, Files, RegExp][] = [
      ['a bad header', { train: { data: 'abc def\n1 2:1\n' } }, /^train:1: .*header/i],
      ['a feature id out of range', { train: { data: '2 10 5\n0 3:1\n1 12:1\n' } }, /^train:3: .*12/],
      ['a NaN value', { train: { data: '2 10 5\n0 3:1\n1 4:nan\n' } }, /^train:3: .*(nan|finite|number)/i],
      ['an empty file', { train: { data: '' } }, /^train:1: /],
      ['a bad test file', { train: { data: '2 10 5\n0 3:1\n1 4:1\n' }, test: { data: '1 10 5\n7 3:1\n' } }, /^test:2: .*7/],
      ['bad JSONL', { train: { data: '{"text": "a", "labels": ["x"]}\n{"text": 3, "labels": []}\n' } }, /^train:2: "text" must be a string/],
      ['mixed formats', { train: { data: '2 10 5\n0 3:1\n1 4:1\n' }, test: { data: '{"text": "a", "labels": ["x"]}\n' } }, /training file train is xc but test file test is jsonl/],
    ];
    for (const [what, files, message] of bad) {
      it(`refuses ${what} with the line and problem named, and keeps nothing`, async () => {
        const before = (await env.repo.listDatasets()).length;
        const r = await upload('/v1/datasets', files);
        expect(r.statusCode).toBe(400);
        expect(r.json().message).toMatch(message);
        expect(r.json().message).not.toContain(env.dataDir);
        expect((await env.repo.listDatasets()).length).toBe(before);
        expect(await orphans('datasets')).toEqual([]);
      });
    }

    it('refuses uploads without a train file, with unknown fields, or not multipart', async () => {
      const none = await upload('/v1/datasets', { test: { data: corelTest } });
      expect(none.statusCode).toBe(400);
      expect(none.json()).toMatchObject({ code: 'DXR_MISSING_FILE', message: 'multipart file field "train" is required' });
      const unknown = await upload('/v1/datasets', { train: { data: corelTrain }, extra: { data: 'x' } });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().message).toMatch(/unexpected file field "extra"/);
      const json = await env.app.inject({ method: 'POST', url: '/v1/datasets', payload: { train: 'x' } });
      expect(json.statusCode).toBe(415);
      expect(json.json().message).toMatch(/multipart\/form-data/);
      expect(await orphans('datasets')).toEqual([]);
    });

    it('refuses an upload over the size limit with 413 and keeps nothing', async () => {
      const small = await buildApp({ repo: env.repo, store: env.store, queue: env.queue, config: { ...env.config, maxUploadBytes: 10_000 } });
      try {
        const before = (await env.repo.listDatasets()).length;
        const r = await upload('/v1/datasets', { train: { data: corelTrain } }, undefined, small);
        expect(r.statusCode).toBe(413);
        expect(r.json()).toMatchObject({ code: 'DXR_TOO_LARGE', message: 'file "train" is larger than the upload limit of 10000 bytes' });
        expect((await env.repo.listDatasets()).length).toBe(before);
        const teacher = await upload('/v1/teachers', { model: { data: randomBytes(20_000), filename: 't.onnx' } }, undefined, small);
        expect(teacher.statusCode).toBe(413);
      } finally {
        await small.close();
      }
      expect(await orphans('datasets')).toEqual([]);
      expect(await orphans('teachers')).toEqual([]);
    });

    it('404s an unknown dataset and 400s a malformed id', async () => {
      const r = await env.app.inject({ method: 'GET', url: `/v1/datasets/${UNKNOWN_ID}` });
      expect(r.statusCode).toBe(404);
      expect(r.json().message).toBe(`dataset "${UNKNOWN_ID}" not found`);
      const bad = await env.app.inject({ method: 'GET', url: '/v1/datasets/a.b' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'DXR_VALIDATION' });
      expect(bad.json().message).toMatch(/^params\.id /);
    });
  });

  describe('teachers', () => {
    let teacherId: string;

    it('accepts an ONNX model meeting the contract', async () => {
      const rng = new Rng(5);
      const W1 = Float32Array.from({ length: 499 * 8 }, () => rng.normal());
      const table = Float32Array.from({ length: 374 * 8 }, () => rng.normal());
      const onnx = exportSparseEncoderOnnx({ inputDim: 499, hiddenDim: 8, W1, labelTable: table, numLabels: 374, output: 'scores' });
      const r = await upload('/v1/teachers', { model: { data: onnx, filename: 'teacher.onnx' } }, { name: 'random scorer' });
      expect(r.statusCode).toBe(201);
      expect(r.json()).toMatchObject({ name: 'random scorer', kind: 'scores', numLabels: 374, sizeBytes: onnx.length });
      teacherId = r.json().id;
      expect((await env.app.inject({ method: 'GET', url: `/v1/teachers/${teacherId}` })).json().id).toBe(teacherId);
      expect((await env.app.inject({ method: 'GET', url: '/v1/teachers' })).json().teachers).toHaveLength(1);
    });

    const bad: [string, Uint8Array, RegExp][] = [
      ['random bytes', randomBytes(4096), /not a valid ONNX model/],
      ['a wrong input name', onnxWithInputs(['feature_idx', 'feature_values']), /unexpected input "feature_idx"/],
      ['a missing input', onnxWithInputs(['feature_values']), /missing input "feature_ids"/],
      ['an empty file', new Uint8Array(0), /not a valid ONNX model/],
    ];
    for (const [what, bytes, message] of bad) {
      it(`refuses ${what} naming the mismatch, and keeps nothing`, async () => {
        const r = await upload('/v1/teachers', { model: { data: bytes, filename: 'm.onnx' } });
        expect(r.statusCode).toBe(400);
        expect(r.json()).toMatchObject({ code: 'DXR_TEACHER_CONTRACT' });
        expect(r.json().message).toMatch(message);
        expect((await env.repo.listTeachers()).map((t) => t.id)).toEqual([teacherId]);
        expect(await orphans('teachers')).toEqual([]);
      });
    }

    it('submits a teacher-fit job', async () => {
      const r = await env.app.inject({ method: 'POST', url: '/v1/teachers/fit', payload: { datasetId: corelId, name: 'svm', params: { C: 0.25, folds: 2 } } });
      expect(r.statusCode).toBe(202);
      expect(r.json()).toMatchObject({ kind: 'teacher-fit', status: 'queued', datasetId: corelId, params: { C: 0.25, folds: 2, maxPasses: 10, threshold: 0.1, name: 'svm' } });
      expect(await env.queue.queue.getJob(r.json().id)).toBeTruthy();
      const bad = await env.app.inject({ method: 'POST', url: '/v1/teachers/fit', payload: { datasetId: corelId, params: { C: -1 } } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toBe('body.params.C must be > 0');
      const folds = await env.app.inject({ method: 'POST', url: '/v1/teachers/fit', payload: { datasetId: corelId, params: { folds: 11 } } });
      expect(folds.json().message).toBe('body.params.folds must be <= 10');
      const none = await env.app.inject({ method: 'POST', url: '/v1/teachers/fit', payload: { datasetId: UNKNOWN_ID } });
      expect(none.statusCode).toBe(404);
      const malformed = await env.app.inject({ method: 'POST', url: '/v1/teachers/fit', payload: { datasetId: 'nope' } });
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().message).toMatch(/^body\.datasetId must match pattern/);
    });

    it('gives the id of the teacher to the job tests', () => {
      expect(teacherId).toBeTruthy();
      sharedTeacherId = teacherId;
    });
  });

  let sharedTeacherId = '';

  describe('jobs', () => {
    const submit = (payload: unknown) => env.app.inject({ method: 'POST', url: '/v1/jobs', payload: payload as object });

    it('queues a job: row, queue entry, defaults filled in', async () => {
      const r = await submit({ datasetId: corelId, teacherId: sharedTeacherId, params: { dim: 16, epochs: 3, alpha: 0.7 } });
      expect(r.statusCode).toBe(202);
      const job = r.json();
      expect(job).toMatchObject({ kind: 'train', status: 'queued', datasetId: corelId, teacherId: sharedTeacherId, progress: 0, stage: null, modelId: null });
      expect(job.params).toEqual({ ...DEFAULT_TRAIN_CONFIG, dim: 16, epochs: 3, alpha: 0.7, crossFit: true, auto: false }); // a setting given: no search
      const entry = await env.queue.queue.getJob(job.id);
      expect(entry?.data).toEqual({ jobId: job.id, kind: 'train' });
      expect((await env.app.inject({ method: 'GET', url: `/v1/jobs/${job.id}` })).json()).toEqual(job);
    });

    it('with a teacher and no setting (or auto: true), the job searches its own settings; auto without a teacher is refused', async () => {
      // the levers of speed keep it on, as the seed does: the trials share them with the job
      const levers = { remineByLabelSet: false, firstPoolByLabelSet: false, int8Mining: false, int8PointIndex: false, pointIndexEfConstruction: 64, labelIndexEfConstruction: 100, rowwiseAdagrad: true, simdKernels: false, batchedKernels: false, teacherWeights: false, pointDedupe: 0 };
      for (const params of [undefined, { seed: 3 }, { hnswRecallTarget: 0.9 }, levers, { auto: true, dim: 16, autoBudgetSeconds: 60 }] as (Record<string, unknown> | undefined)[]) {
        const r = await submit({ datasetId: corelId, teacherId: sharedTeacherId, ...(params ? { params } : {}) });
        expect(r.statusCode, r.body).toBe(202);
        // Corel5k's α=0 job is estimated well under the least default budget
        expect(r.json().params).toMatchObject({ auto: true, autoBudgetSeconds: params?.autoBudgetSeconds ?? AUTO_MIN_BUDGET_SECONDS });
      }
      const off = await submit({ datasetId: corelId, teacherId: sharedTeacherId, params: { auto: false } });
      expect(off.json().params.auto).toBe(false);
      // crossFit is a setting, as --no-cross-fit is in the CLI (SETTINGS_THAT_TURN_AUTO_OFF)
      const crossFitGiven = await submit({ datasetId: corelId, teacherId: sharedTeacherId, params: { crossFit: false } });
      expect(crossFitGiven.json().params).toMatchObject({ auto: false, crossFit: false });
      const bad = await submit({ datasetId: corelId, params: { auto: true } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/params\.auto needs a teacherId/);
      // the search's extrapolation is a setting of the search: it keeps auto on, and is kept for the worker
      const noExtrapolation = await submit({ datasetId: corelId, teacherId: sharedTeacherId, params: { autoExtrapolate: false } });
      expect(noExtrapolation.json().params).toMatchObject({ auto: true, autoExtrapolate: false });
      // the search's own settings for a job that runs no search are refused, naming why it runs none
      const refused: [Record<string, unknown>, string | null, RegExp][] = [
        [{ autoExtrapolate: true }, null, /^params\.autoExtrapolate needs a teacherId$/],
        [{ autoBudgetSeconds: 30 }, null, /^params\.autoBudgetSeconds needs a teacherId$/],
        [{ auto: false, autoExtrapolate: false }, sharedTeacherId, /^params\.autoExtrapolate is for the auto search, and params\.auto is false$/],
        [{ epochs: 3, autoBudgetSeconds: 30 }, sharedTeacherId, /^params\.autoBudgetSeconds is for the auto search, which params\.epochs turns off/],
      ];
      for (const [params, teacherId, message] of refused) {
        const r = await submit({ datasetId: corelId, ...(teacherId ? { teacherId } : {}), params });
        expect(r.statusCode, JSON.stringify(params)).toBe(400);
        expect(r.json().message).toMatch(message);
      }
    });

    it('without a teacher: alpha forced to 0, an explicit alpha > 0 refused', async () => {
      const r = await submit({ datasetId: corelId });
      expect(r.statusCode).toBe(202);
      expect(r.json().params.alpha).toBe(0);
      const bad = await submit({ datasetId: corelId, params: { alpha: 0.5 } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/params\.alpha is 0\.5 but no teacherId/);
    });

    const badParams: [string, unknown, RegExp][] = [
      ['an unknown key', { dimx: 4 }, /^body\.params\.dimx is not allowed \(unknown property "dimx"\)$/],
      ['a wrong type', { dim: '64' }, /^body\.params\.dim must be integer$/],
      ['a fractional integer', { epochs: 2.5 }, /^body\.params\.epochs must be integer$/],
      ['a value out of range', { dim: 5000 }, /^body\.params\.dim must be <= 4096$/],
      ['tau of 0', { tau: 0 }, /^body\.params\.tau must be > 0$/],
      ['more hard negatives than the pool', { hardNegatives: 20, poolSize: 10 }, /hardNegatives \(20\) cannot exceed poolSize \(10\)/],
      ['featurizer settings on an XC dataset', { featurizer: { bigrams: true } }, /params\.featurizer applies to JSONL/],
      ['an unknown featurizer key', { featurizer: { stem: true } }, /^body\.params\.featurizer\.stem is not allowed/],
    ];
    for (const [what, params, message] of badParams) {
      it(`refuses params with ${what} (400 naming the field)`, async () => {
        const r = await submit({ datasetId: corelId, params });
        expect(r.statusCode).toBe(400);
        expect(r.json().message).toMatch(message);
      });
    }

    it('refuses unknown body keys, unknown datasets and unknown teachers', async () => {
      const extra = await submit({ datasetId: corelId, priority: 1 });
      expect(extra.statusCode).toBe(400);
      expect(extra.json().message).toBe('body.priority is not allowed (unknown property "priority")');
      const missing = await submit({});
      expect(missing.json().message).toBe('body.datasetId is required');
      const ds = await submit({ datasetId: UNKNOWN_ID });
      expect(ds.statusCode).toBe(404);
      expect(ds.json().message).toBe(`dataset "${UNKNOWN_ID}" not found`);
      const t = await submit({ datasetId: corelId, teacherId: UNKNOWN_ID });
      expect(t.statusCode).toBe(404);
      expect(t.json().message).toBe(`teacher "${UNKNOWN_ID}" not found`);
      // ids in bodies are UUIDs, as in paths and as the OpenAPI document says
      const malformed = await submit({ datasetId: 'no-such-dataset' });
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().message).toMatch(/^body\.datasetId must match pattern/);
    });

    it('lists jobs by status', async () => {
      const all = (await env.app.inject({ method: 'GET', url: '/v1/jobs' })).json().jobs as JobRecord[];
      expect(all.length).toBeGreaterThanOrEqual(3);
      const queued = (await env.app.inject({ method: 'GET', url: '/v1/jobs?status=queued&limit=2' })).json().jobs as JobRecord[];
      expect(queued).toHaveLength(2);
      expect(queued.every((j) => j.status === 'queued')).toBe(true);
      const bad = await env.app.inject({ method: 'GET', url: '/v1/jobs?status=done' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().message).toMatch(/^querystring\.status /);
    });

    it('cancels a queued job at once; a second cancel conflicts', async () => {
      const id = (await submit({ datasetId: corelId })).json().id;
      const r = await env.app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel` });
      expect(r.statusCode).toBe(202);
      expect(r.json()).toMatchObject({ id, status: 'cancelled', cancelRequested: true });
      const again = await env.app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel` });
      expect(again.statusCode).toBe(409);
      expect(again.json().message).toBe(`job "${id}" is already cancelled`);
      expect((await env.app.inject({ method: 'POST', url: `/v1/jobs/${UNKNOWN_ID}/cancel` })).statusCode).toBe(404);
    });

    it('asks a running job to stop (it stays running until the worker notices)', async () => {
      const id = (await submit({ datasetId: corelId })).json().id;
      await env.repo.updateJob(id, { status: 'running', startedAt: new Date() });
      const r = await env.app.inject({ method: 'POST', url: `/v1/jobs/${id}/cancel` });
      expect(r.statusCode).toBe(202);
      expect(r.json()).toMatchObject({ status: 'running', cancelRequested: true });
      await env.repo.finishJob(id, 'cancelled');
    });

    it('streams events as Server-Sent Events, resumes after Last-Event-ID, ends when the job is final', async () => {
      const id = (await submit({ datasetId: corelId })).json().id;
      await env.repo.updateJob(id, { status: 'running', stage: 'training' });
      await env.repo.addJobEvent(id, 'stage', { stage: 'training' });
      const e1 = await env.repo.addJobEvent(id, 'epoch', { epoch: 1, loss: 2.5, examplesPerSecond: 1000 });
      // the stream is open before the job ends: it must pick up what comes later, then end
      const streaming = env.app.inject({ method: 'GET', url: `/v1/jobs/${id}/events` });
      await new Promise((r) => setTimeout(r, 300));
      await env.repo.addJobEvent(id, 'epoch', { epoch: 2, loss: 2.1, examplesPerSecond: 1100 });
      await env.repo.finishJob(id, 'completed', { metrics: { p1: 0.3 } });
      await env.repo.addJobEvent(id, 'status', { status: 'completed' });
      const r = await streaming;
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
      const events = r.body.split('\n\n').filter((b) => b.startsWith('id: '));
      expect(events.map((b) => b.split('\n')[1])).toEqual(['event: status', 'event: stage', 'event: epoch', 'event: epoch', 'event: status']);
      expect(r.body).toContain(': heartbeat');
      expect(r.body.trimEnd().endsWith('event: end\ndata: {}')).toBe(true);
      const last = JSON.parse(events[4].split('\n')[2].slice('data: '.length));
      expect(last).toMatchObject({ jobId: id, type: 'status', data: { status: 'completed' } });

      const resumed = await env.app.inject({ method: 'GET', url: `/v1/jobs/${id}/events`, headers: { 'last-event-id': String(e1.id) } });
      const ids = resumed.body.split('\n').filter((l) => l.startsWith('id: ')).map((l) => Number(l.slice(4)));
      expect(ids).toHaveLength(2);
      expect(ids.every((n) => n > e1.id)).toBe(true);

      const metrics = (await env.app.inject({ method: 'GET', url: `/v1/jobs/${id}/metrics` })).json();
      expect(metrics).toEqual({ id, status: 'completed', epochs: [{ epoch: 1, loss: 2.5, examplesPerSecond: 1000 }, { epoch: 2, loss: 2.1, examplesPerSecond: 1100 }], evaluation: { p1: 0.3 } });
      expect((await env.app.inject({ method: 'GET', url: `/v1/jobs/${UNKNOWN_ID}/events` })).statusCode).toBe(404);
    });
  });

  describe('models', () => {
    let modelId: string;
    let textModelId: string;

    beforeAll(async () => {
      modelId = await publishModel(env, corelId, { dim: 16, epochs: 2, hardNegatives: 4, poolSize: 8 });
      const text = await upload('/v1/datasets', { train: { data: jsonlText(300, 3), filename: 'text.jsonl' } });
      textModelId = await publishModel(env, text.json().id, { dim: 8, epochs: 2 });
    });

    it('lists and gets models with their metrics and files', async () => {
      const list = (await env.app.inject({ method: 'GET', url: '/v1/models' })).json().models;
      expect(list.map((m: { id: string }) => m.id)).toEqual(expect.arrayContaining([modelId, textModelId]));
      const m = (await env.app.inject({ method: 'GET', url: `/v1/models/${modelId}` })).json();
      expect(m).toMatchObject({ id: modelId, datasetId: corelId, teacherMetrics: null });
      expect(m.metrics).toHaveProperty(['p@1']);
      expect(m.files.sort()).toEqual(['config.json', 'index.hnsw', 'labels.json', 'points.usearch', 'student.onnx', 'weights.safetensors']);
      expect((await env.app.inject({ method: 'GET', url: `/v1/models/${textModelId}` })).json().files).toContain('featurizer.json');
    });

    it('answers top-k queries given as sparse features, through HNSW or exactly', async () => {
      const q = { queries: [{ features: { '19': 1, '93': 1, '143': 1 } }, { features: { '73': 1, '96': 0.5 } }], k: 5 };
      const r = await env.app.inject({ method: 'POST', url: `/v1/models/${modelId}/query`, payload: q });
      expect(r.statusCode).toBe(200);
      const { results } = r.json();
      expect(results).toHaveLength(2);
      for (const hits of results) {
        expect(hits).toHaveLength(5);
        for (const h of hits) {
          expect(h.label).toBeGreaterThanOrEqual(0);
          expect(h.label).toBeLessThan(374);
          expect(h.name).toBe(String(h.label));
        }
        for (let i = 1; i < hits.length; i++) expect(hits[i].score).toBeLessThanOrEqual(hits[i - 1].score + 1e-6);
      }
      const exact = (await env.app.inject({ method: 'POST', url: `/v1/models/${modelId}/query`, payload: { ...q, exact: true } })).json().results;
      // 374 labels searched at ef ≥ 100 for a 100-label shortlist: HNSW finds the exact one, so both rank alike
      expect(exact.map((hits: { label: number }[]) => hits.map((h) => h.label))).toEqual(results.map((hits: { label: number }[]) => hits.map((h) => h.label)));
      for (const h of results[0]) expect(typeof h.studentScore).toBe('number');
      expect(env.app.modelCache.has(modelId)).toBe(true);
    });

    it('answers text queries on a text model with label names', async () => {
      const r = await env.app.inject({ method: 'POST', url: `/v1/models/${textModelId}/query`, payload: { queries: [{ text: 'dogs dogs near' }], k: 3 } });
      expect(r.statusCode).toBe(200);
      const [hits] = r.json().results;
      expect(hits).toHaveLength(3);
      expect(['cats', 'dogs', 'birds', 'fish', 'trees', 'rocks']).toEqual(expect.arrayContaining(hits.map((h: { name: string }) => h.name)));
    });

    const badQueries: [string, unknown, number, RegExp][] = [
      ['k above 1000', { queries: [{ features: { '1': 1 } }], k: 1001 }, 400, /^body\.k must be <= 1000$/],
      ['k of 0', { queries: [{ features: { '1': 1 } }], k: 0 }, 400, /^body\.k must be >= 1$/],
      ['more than 1000 queries', { queries: Array.from({ length: 1001 }, () => ({ features: { '1': 1 } })) }, 400, /^body\.queries must not have more than 1000 items$/],
      ['no queries', { queries: [] }, 400, /^body\.queries must not have fewer than 1 items$/],
      ['a query with neither text nor features', { queries: [{}] }, 400, /^queries\[0\] must have exactly one of "text" or "features"$/],
      ['a query with both', { queries: [{ text: 'a', features: { '1': 1 } }] }, 400, /^queries\[0\] must have exactly one/],
      ['an unknown query key', { queries: [{ txt: 'a' }] }, 400, /^body\.queries\[0\]\.txt is not allowed/],
      ['a non-numeric feature id', { queries: [{ features: { x: 1 } }] }, 400, /^body\.queries\[0\]\.features\.x is not allowed/],
      ['a string feature value', { queries: [{ features: { '3': 'a' } }] }, 400, /^body\.queries\[0\]\.features\[3\] must be number$/],
      ['a feature id out of range', { queries: [{ features: { '1': 1 } }, { features: { '600': 1 } }] }, 400, /^queries\[1\]: feature "600": id 600 out of range \[0, 499\)$/],
      ['text for a features model', { queries: [{ text: 'hello' }] }, 400, /^queries\[0\]: the model was trained on sparse features, not text/],
    ];
    for (const [what, payload, status, message] of badQueries) {
      it(`refuses ${what}`, async () => {
        const r = await env.app.inject({ method: 'POST', url: `/v1/models/${modelId}/query`, payload: payload as object });
        expect(r.statusCode).toBe(status);
        expect(r.json().message).toMatch(message);
      });
    }

    it('404s queries to an unknown model', async () => {
      const r = await env.app.inject({ method: 'POST', url: `/v1/models/${UNKNOWN_ID}/query`, payload: { queries: [{ text: 'a' }] } });
      expect(r.statusCode).toBe(404);
      expect(r.json().message).toBe(`model "${UNKNOWN_ID}" not found`);
    });

    it('downloads allow-listed files of the model directory, nothing else', async () => {
      const rec = (await env.repo.getModel(modelId))!;
      const weights = await env.app.inject({ method: 'GET', url: `/v1/models/${modelId}/files/weights.safetensors` });
      expect(weights.statusCode).toBe(200);
      expect(weights.headers['content-type']).toBe('application/octet-stream');
      expect(weights.headers['content-disposition']).toBe('attachment; filename="weights.safetensors"');
      expect(weights.rawPayload).toEqual(await readFile(join(env.store.pathOf(rec.key), 'weights.safetensors')));
      const config = await env.app.inject({ method: 'GET', url: `/v1/models/${modelId}/files/config.json` });
      expect(config.json().format).toBe('distilxr-model');
      // a model trained on features has no featurizer; a text model has one
      expect((await env.app.inject({ method: 'GET', url: `/v1/models/${modelId}/files/featurizer.json` })).statusCode).toBe(404);
      expect((await env.app.inject({ method: 'GET', url: `/v1/models/${textModelId}/files/featurizer.json` })).statusCode).toBe(200);

      // a file that exists on disk, beside the model, but is not on the allow-list
      await writeFile(join(env.store.pathOf(rec.key), 'secret.txt'), 'no');
      for (const name of ['secret.txt', '..%2Fconfig.json', '..%2F..%2F..%2Fetc%2Fpasswd', '%2E%2E%2Fconfig.json', 'config.json%2F', 'x%2Fconfig.json', '..', '.', '%00config.json']) {
        const r = await env.app.inject({ method: 'GET', url: `/v1/models/${modelId}/files/${name}` });
        expect([400, 404], name).toContain(r.statusCode);
        expect(r.headers['content-type'], name).toMatch(/^application\/json/);
        expect(r.json().code, name).toMatch(/^DXR_(NOT_FOUND|VALIDATION)$/);
      }
      for (const url of [`/v1/models/${modelId}/files/../../../../etc/passwd`, `/v1/models/${modelId}/files/%2e%2e/%2e%2e/pglite`, `/v1/models/..%2F..%2Fdatasets/files/config.json`]) {
        const r = await env.app.inject({ method: 'GET', url });
        expect([400, 404], url).toContain(r.statusCode);
      }
      expect((await env.app.inject({ method: 'GET', url: `/v1/models/${UNKNOWN_ID}/files/config.json` })).statusCode).toBe(404);
    });
  });

  describe('health, metrics, docs', () => {
    it('/healthz and /readyz answer', async () => {
      expect((await env.app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      const ready = await env.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toEqual({ status: 'ready', checks: { database: 'ok', queue: 'ok' } });
    });

    it('/readyz is 503 naming the queue when Redis cannot be reached', async () => {
      const deadQueue = new BullJobQueue({ host: '127.0.0.1', port: 1, maxRetriesPerRequest: null, retryStrategy: () => 1000 }, { pingTimeoutMs: 300 });
      const app = await buildApp({ repo: env.repo, store: env.store, queue: deadQueue, config: env.config, enqueueTimeoutMs: 500 });
      try {
        const r = await app.inject({ method: 'GET', url: '/readyz' });
        expect(r.statusCode).toBe(503);
        expect(r.json()).toEqual({ status: 'unavailable', checks: { database: 'ok', queue: 'down' }, message: 'queue (Redis) unavailable' });
        // submitting a job while the queue is down: 503, and no row is left behind (neither
        // queued nor failed: the client was refused, it must not find the job afterwards)
        const before = (await env.repo.listJobs({ limit: 1000 })).map((j) => j.id);
        const sub = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: corelId } });
        expect(sub.statusCode).toBe(503);
        expect(sub.json().message).toBe('the job queue is unavailable: try again later');
        expect((await env.repo.listJobs({ limit: 1000 })).map((j) => j.id)).toEqual(before);
        const fit = await app.inject({ method: 'POST', url: '/v1/teachers/fit', payload: { datasetId: corelId } });
        expect(fit.statusCode).toBe(503);
        expect((await env.repo.listJobs({ limit: 1000 })).map((j) => j.id)).toEqual(before);
      } finally {
        await app.close();
        await deadQueue.close();
      }
    });

    it('/metrics exposes request durations, queue depth, jobs by status and throughput', async () => {
      const running = (await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: corelId } })).json().id;
      await env.repo.updateJob(running, { status: 'running', examplesPerSecond: 1234.5 });
      const r = await env.app.inject({ method: 'GET', url: '/metrics' });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      expect(r.body).toMatch(/distilxr_http_request_duration_seconds_count\{method="GET",route="\/readyz",status_code="200"\} \d+/);
      expect(r.body).toMatch(/distilxr_queue_jobs\{state="waiting"\} \d+/);
      expect(r.body).toMatch(/distilxr_jobs\{status="queued"\} \d+/);
      expect(r.body).toContain('distilxr_jobs{status="running"} 1');
      expect(r.body).toContain('distilxr_training_examples_per_second 1234.5');
      await env.repo.finishJob(running, 'cancelled');
    });

    it('/docs/json is the OpenAPI document of the routes', async () => {
      const r = await env.app.inject({ method: 'GET', url: '/docs/json' });
      expect(r.statusCode).toBe(200);
      const doc = r.json();
      expect(doc.openapi).toMatch(/^3\./);
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/datasets', '/v1/jobs', '/v1/jobs/{id}/events', '/v1/models/{id}/query', '/v1/teachers/fit', '/healthz']));
      expect(doc.paths['/v1/jobs'].post.requestBody.content['application/json'].schema.properties.params.properties.alpha).toMatchObject({ minimum: 0, maximum: 1 });
      expect(doc.paths['/v1/datasets'].post.requestBody.content).toHaveProperty('multipart/form-data');
      expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect((await env.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
    });

    it('/docs/json passes a real OpenAPI validator, and its id pattern is the UUID the server enforces', async () => {
      const doc = (await env.app.inject({ method: 'GET', url: '/docs/json' })).json();
      // validate() dereferences in place: give it a copy
      await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toBeTruthy();
      const datasetId = doc.paths['/v1/jobs'].post.requestBody.content['application/json'].schema.properties.datasetId;
      const documented = new RegExp(datasetId.pattern);
      for (const id of [UNKNOWN_ID, corelId, randomUUID()]) expect(documented.test(id)).toBe(true);
      for (const id of ['no-such-dataset', `${UNKNOWN_ID}x`, UNKNOWN_ID.replace(/-/g, '')]) {
        expect(documented.test(id)).toBe(false);
        // and the server refuses what the document refuses: in a body and in a path
        expect((await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: id } })).statusCode).toBe(400);
        expect((await env.app.inject({ method: 'GET', url: `/v1/datasets/${id}` })).statusCode).toBe(400);
      }
    });
  });

  describe('API keys', () => {
    let app: FastifyInstance;
    const { lines: logs, logger } = captureLogs();

    beforeAll(async () => {
      app = await buildApp({ repo: env.repo, store: env.store, queue: env.queue, config: { ...env.config, apiKeys: ['key-one', 'second-key'] }, logger });
    });
    afterAll(async () => app?.close());

    it('refuses /v1 without a key, with a wrong key or a wrong scheme', async () => {
      for (const headers of [{}, { authorization: 'Bearer key-two' }, { authorization: 'Bearer key-one-and-more' }, { authorization: 'Basic key-one' }, { authorization: 'key-one' }]) {
        const r = await app.inject({ method: 'GET', url: '/v1/datasets', headers });
        expect(r.statusCode, JSON.stringify(headers)).toBe(401);
        expect(r.json().code).toBe('DXR_UNAUTHORIZED');
        expect(r.headers['www-authenticate']).toBe('Bearer');
      }
      // refused before the body is read
      const up = await app.inject({ method: 'POST', url: '/v1/datasets', payload: form({ train: { data: corelTrain } }) });
      expect(up.statusCode).toBe(401);
    });

    it('accepts any configured key', async () => {
      for (const key of ['key-one', 'second-key']) {
        const r = await app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: `Bearer ${key}` } });
        expect(r.statusCode).toBe(200);
      }
    });

    it('leaves health, readiness, metrics and docs open, and never logs a key', async () => {
      for (const url of ['/healthz', '/readyz', '/metrics', '/docs/json']) {
        expect((await app.inject({ method: 'GET', url })).statusCode, url).toBe(200);
      }
      expect(logs.length).toBeGreaterThan(0);
      expect(logs.join('')).not.toMatch(/key-one|second-key|key-two/);
    });
  });
});

describe('ModelCache', () => {
  it('loads once per id, evicts the least recently used, forgets failed loads', async () => {
    const loads: string[] = [];
    const cache = new ModelCache(async (id) => {
      loads.push(id);
      if (id === 'bad') throw new Error('no such model');
      return { dir: id } as never;
    }, 2);
    await Promise.all([cache.get('a'), cache.get('a')]);
    await cache.get('b');
    await cache.get('a'); // a is now the most recent
    await cache.get('c'); // evicts b
    expect(cache.keys()).toEqual(['a', 'c']);
    await cache.get('b');
    expect(loads).toEqual(['a', 'b', 'c', 'b']);
    await expect(cache.get('bad')).rejects.toThrow('no such model');
    expect(cache.has('bad')).toBe(false);
    expect(() => new ModelCache(async () => ({}) as never, 0)).toThrow(RangeError);
  });
});

describe('server', () => {
  let server: RunningServer | undefined;
  let dataDir: string;
  const prefix = `api-srv-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'distilxr-srv-'));
    server = await startServer({
      config: loadConfig({ DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', REDIS_URL, REDIS_PREFIX: prefix, API_KEYS: 'k1' }),
      logger: false,
      handleSignals: false,
    });
  });
  afterAll(async () => {
    if (server) {
      const q = new BullJobQueue(connection, { prefix });
      await q.queue.obliterate({ force: true });
      await q.close();
      await server.close();
    }
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves over a real port: upload, submit, follow events, cancel', async () => {
    const { url } = server!;
    const auth = { authorization: 'Bearer k1' };
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/v1/jobs`)).status).toBe(401);
    const up = await fetch(`${url}/v1/datasets`, { method: 'POST', headers: auth, body: form({ train: { data: await readFile(join(COREL, 'corel5k_mulan_test.txt')) } }) });
    expect(up.status).toBe(201);
    const datasetId = ((await up.json()) as { id: string }).id;
    const job = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, params: { epochs: 1 } }) });
    expect(job.status).toBe(202);
    const jobId = ((await job.json()) as { id: string }).id;

    const events = await fetch(`${url}/v1/jobs/${jobId}/events`, { headers: auth });
    expect(events.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = events.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string): Promise<void> => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before "${needle}": ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    await readUntil('"status":"queued"');
    const cancel = await fetch(`${url}/v1/jobs/${jobId}/cancel`, { method: 'POST', headers: auth });
    expect(cancel.status).toBe(202);
    await readUntil('event: end');
    expect(text).toContain('"status":"cancelled"');
    expect((await reader.read()).done).toBe(true);
  });

  it('closes with a stream still open', async () => {
    const { url } = server!;
    const auth = { authorization: 'Bearer k1' };
    const up = await fetch(`${url}/v1/datasets`, { method: 'POST', headers: auth, body: form({ train: { data: await readFile(join(COREL, 'corel5k_mulan_test.txt')) } }) });
    const datasetId = ((await up.json()) as { id: string }).id;
    const job = await fetch(`${url}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ datasetId }) });
    const jobId = ((await job.json()) as { id: string }).id;
    const events = await fetch(`${url}/v1/jobs/${jobId}/events`, { headers: auth });
    const reader = events.body!.getReader();
    await reader.read();
    const q = new BullJobQueue(connection, { prefix });
    await q.queue.obliterate({ force: true });
    await q.close();
    const s = server!;
    server = undefined;
    await s.close();
    for (;;) if ((await reader.read()).done) break;
  });
});
