/**
 * Resource abuse over HTTP (issue 14): jobs whose estimated cost (pipeline/job-cost.ts) is over the
 * configured limits, settings the dataset cannot use, and XC headers declaring sizes the file does
 * not support are refused before anything is stored or queued; ordinary requests still pass.
 * Real Bibtex, real PGlite, real Redis.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServiceEnv, openServiceEnv, storedState, upload, type ServiceEnv } from './support/service-env.js';

const BIBTEX = resolve('../shared/datasets/bibtex/bibtex_mulan_train.txt');

/** A default-limits service and one with small limits, each holding Bibtex. */
let env: ServiceEnv;
let small: ServiceEnv;
let bibtex: string;
let bibtexSmall: string;

async function uploadBibtex(e: ServiceEnv): Promise<string> {
  const r = await upload(e, '/v1/datasets', { train: { data: await readFile(BIBTEX), filename: 'bibtex.txt' } });
  expect(r.statusCode, r.body).toBe(201);
  return r.json().id;
}

beforeAll(async () => {
  env = await openServiceEnv('limits');
  small = await openServiceEnv('limits-small', { jobMaxMemoryBytes: 32 << 20, jobMaxSeconds: 600 });
  bibtex = await uploadBibtex(env);
  bibtexSmall = await uploadBibtex(small);
});
afterAll(async () => {
  await closeServiceEnv(env);
  await closeServiceEnv(small);
});

/** POSTs `payload` and expects `status`; a refusal must leave every row, queue entry and file as it was. */
async function post(e: ServiceEnv, url: string, payload: object, status: number): Promise<{ code: string; message: string }> {
  const before = await storedState(e);
  const r = await e.app.inject({ method: 'POST', url, payload });
  expect(r.statusCode, r.body).toBe(status);
  if (status >= 400) expect(await storedState(e)).toEqual(before);
  return r.json();
}

describe('training jobs (POST /v1/jobs)', () => {
  it('refuses the issue\'s negatives, pool and batch on Bibtex with 400 naming each parameter and the dataset\'s bound', async () => {
    const params = { epochs: 1, poolSize: 100000, hardNegatives: 100000, randomNegatives: 100000, inBatchNegatives: 100000, batchSize: 1000000 };
    const r = await post(env, '/v1/jobs', { datasetId: bibtex, params }, 400);
    expect(r.code).toBe('DXR_BAD_REQUEST');
    for (const p of ['hardNegatives', 'randomNegatives', 'inBatchNegatives', 'poolSize']) expect(r.message).toContain(`params.${p} (100000) is more than the dataset's 159 labels`);
    expect(r.message).toContain("params.batchSize (1000000) is more than the dataset's 4880 points");
  });

  it('refuses 100000 epochs at dim 4096 with 413 naming JOB_MAX_SECONDS and the parameters to lower', async () => {
    const r = await post(env, '/v1/jobs', { datasetId: bibtex, params: { epochs: 100000, dim: 4096 } }, 413);
    expect(r.code).toBe('DXR_TOO_LARGE');
    expect(r.message).toMatch(/^estimated run time [\d.]+ days is over the JOB_MAX_SECONDS limit of 86400 s; the largest part is training .*: lower params\.epochs \(100000\) or params\.dim \(4096\)/);
  });

  it('accepts a default job and one at the dataset\'s bounds', async () => {
    await post(env, '/v1/jobs', { datasetId: bibtex }, 202);
    await post(env, '/v1/jobs', { datasetId: bibtex, params: { epochs: 1, poolSize: 159, hardNegatives: 159, randomNegatives: 159, inBatchNegatives: 159, batchSize: 4880 } }, 202);
  });

  it('refuses a job over JOB_MAX_MEMORY_MB with 413 naming the limit and the parameter behind the largest part', async () => {
    // (1836 features + 159 labels) × 1025 × 4 bytes × 2 (weights and Adagrad) is 16 MB, written again as the checkpoint
    const r = await post(small, '/v1/jobs', { datasetId: bibtexSmall, params: { dim: 1024, epochs: 1 } }, 413);
    expect(r.message).toMatch(/^estimated peak memory \d+ MiB is over the JOB_MAX_MEMORY_MB limit of 32 MiB; the largest part is .*params\.dim \(1024\)/);
    await post(small, '/v1/jobs', { datasetId: bibtexSmall, params: { epochs: 1 } }, 202);
  });
});

describe('teacher fits (POST /v1/teachers/fit)', () => {
  it('refuses the issue\'s hidden 65536 and maxEpochs 100000 (settings this teacher does not have)', async () => {
    const r = await post(env, '/v1/teachers/fit', { datasetId: bibtex, params: { hidden: 65536, maxEpochs: 100000 } }, 400);
    expect(r.message).toMatch(/^body\.params\.(hidden|maxEpochs) is not allowed/);
  });

  it('refuses a shortlist beyond the labels and calibration rows beyond the points', async () => {
    const r = await post(env, '/v1/teachers/fit', { datasetId: bibtex, params: { shortlist: 10000, calibrationRows: 10_000_000 } }, 400);
    expect(r.message).toBe("params.shortlist (10000) is more than the dataset's 159 labels; params.calibrationRows (10000000) is more than the dataset's 4880 points");
  });

  it('refuses a fit whose estimated time is over JOB_MAX_SECONDS, naming the solver parameters; a default fit passes', async () => {
    const r = await post(small, '/v1/teachers/fit', { datasetId: bibtexSmall, params: { maxPasses: 1000, folds: 10 } }, 413);
    expect(r.message).toMatch(/^estimated run time \d+ s is over the JOB_MAX_SECONDS limit of 600 s; the largest part is the one-vs-rest solver .*: lower params\.maxPasses \(1000\) or params\.folds \(10\)/);
    await post(small, '/v1/teachers/fit', { datasetId: bibtexSmall }, 202);
    await post(env, '/v1/teachers/fit', { datasetId: bibtex, params: { maxPasses: 1000, folds: 10 } }, 202); // 45 min: within a day
  });
});

describe('XC headers (POST /v1/datasets)', () => {
  it('refuses a 42-byte file declaring 2^26 features, naming the field, line 1 and the count', async () => {
    const file = '1 67108864 4\n0,1,2,3 0:1 1:1 2:1 3:1 4:1\n';
    const before = await storedState(env);
    const r = await upload(env, '/v1/datasets', { train: { data: file } });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().message).toBe(
      'train:1: header declares 67108864 features but the rows use feature ids below 5 only: at most 1029 features may be declared (ids used plus as many again, at least 1024), since memory is sized from the declared count',
    );
    expect(await storedState(env)).toEqual(before);
  });

  it('refuses a test split declaring labels beyond the training file\'s that it does not use', async () => {
    const r = await upload(env, '/v1/datasets', { train: { data: '2 4 3\n0 0:1\n1,2 1:1\n' }, test: { data: '1 4 16777216\n0 0:1\n' } });
    expect(r.statusCode, r.body).toBe(400);
    expect(r.json().message).toMatch(/^test:1: header declares 16777216 labels but the rows use label ids below 1 only: at most 1025 labels/);
  });
});
