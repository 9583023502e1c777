/**
 * The dashboard in a real browser: Debian's Chromium (/usr/bin/chromium; .ci/run installs it)
 * driven by playwright-core, against the service listening on a real port with a worker in the
 * same process (PGlite, Redis, ONNX Runtime, hnswlib). From the submit form it trains a small
 * job on Bibtex, watches the progress bar and the loss plot grow while the job runs, opens the
 * model and queries it; with API keys off, and on (the key typed into the page, the event stream
 * opened with a stream token). Every request the page makes is a static file or a /v1 route. With
 * keys off it also shows a fitted teacher's reliability diagram and a failed job's error and stage.
 */
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/service/app.js';
import { redisConnectionFromUrl } from '../src/infra/queue/bull-job-queue.js';
import { startWorker, type RunningWorker } from '../src/worker/worker.js';
import { closeServiceParts, openServiceParts, REDIS_URL, type ServiceParts } from './support/service-env.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const BIBTEX = resolve('../shared/datasets/bibtex');
const EPOCHS = 12;
const KEY = 'dash-5e4d3c2b1a0f9e8d';

let browser: Browser;
let parts: ServiceParts;
let worker: RunningWorker;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  // one database, store and worker for both apps below; each app uploads its own copy of the dataset
  parts = await openServiceParts('dash-browser');
  const { repo, store, prefix, dataDir } = parts;
  worker = await startWorker({ repo, store, connection: redisConnectionFromUrl(REDIS_URL), concurrency: 1, prefix, log: () => undefined, runner: { cacheDir: join(dataDir, 'cache') } });
});
afterAll(async () => {
  await browser?.close();
  await worker?.close();
  await closeServiceParts(parts);
});

describe.each([
  { keys: 'off', apiKeys: [] as string[] },
  { keys: 'on', apiKeys: [KEY] },
])('dashboard with API keys $keys', ({ apiKeys }) => {
  let app: FastifyInstance;
  let base: string;
  let page: Page;
  let datasetId: string;
  const requests: string[] = [];
  const auth: Record<string, string> = apiKeys.length ? { authorization: `Bearer ${KEY}` } : {};

  beforeAll(async () => {
    app = await buildApp({ repo: parts.repo, store: parts.store, queue: parts.queue, config: { ...parts.config, apiKeys }, sse: { ssePollMs: 100 } });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
    // the dataset is uploaded through the API: the dashboard submits jobs, it does not upload
    const fd = new FormData();
    for (const [field, file] of [['train', 'bibtex_mulan_train.txt'], ['test', 'bibtex_mulan_test.txt'], ['labels', 'bibtex_label_names.txt']])
      fd.append(field, new Blob([await readFile(join(BIBTEX, file))]), file);
    fd.append('name', `bibtex keys ${apiKeys.length ? 'on' : 'off'}`);
    const up = await fetch(`${base}/v1/datasets`, { method: 'POST', body: fd, headers: auth });
    expect(up.status).toBe(201);
    datasetId = (await up.json()).id;
    page = await browser.newPage();
    page.on('request', (r) => requests.push(r.url()));
  });

  afterAll(async () => {
    await page?.close();
    await app?.close();
  });

  it('submits a job from the form, shows it training live, and queries the model', async () => {
    await page.goto(`${base}/#/submit`);
    if (apiKeys.length) {
      // without the key the page shows the API's 401
      await expect(page.locator('.error').first().textContent()).resolves.toMatch(/^401: missing API key/);
      await page.fill('#api-key', KEY);
      await page.click('#key-form button');
    }
    await page.waitForSelector('#submit-form');
    await page.selectOption('#dataset', datasetId);
    expect(await page.locator('#dataset option:checked').textContent()).toMatch(/^bibtex keys \w+ \(4880 points, 159 labels\)/);
    // defaults are shown
    expect(await page.getAttribute('input[name=epochs]', 'placeholder')).toBe('20');
    await page.fill('input[name=epochs]', String(EPOCHS));
    await page.click('#submit');
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const jobId = page.url().split('/').at(-1)!;

    // watch until the job is final: the loss plot gains points one epoch at a time, the progress bar moves
    const seenPoints = new Set<number>();
    const seenProgress = new Set<number>();
    for (let i = 0; i < 600; i++) {
      const state = await page.evaluate(() => ({
        points: Number(document.querySelector<HTMLElement>('#loss-plot')?.dataset.points ?? 0),
        progress: Number(document.querySelector<HTMLProgressElement>('#job-progress')?.value ?? 0),
        status: document.querySelector('#job-status')?.textContent ?? '',
      }));
      seenPoints.add(state.points);
      seenProgress.add(state.progress);
      if (['completed', 'failed', 'cancelled'].includes(state.status) && state.points === EPOCHS) break;
      await page.waitForTimeout(100);
    }
    const job = await (await fetch(`${base}/v1/jobs/${jobId}`, { headers: auth })).json();
    expect(job.status, JSON.stringify(job)).toBe('completed');
    expect(job.params.epochs).toBe(EPOCHS);
    expect(await page.textContent('#job-status')).toBe('completed');
    expect(Math.max(...seenPoints)).toBe(EPOCHS);
    // intermediate states were shown, not only the end
    expect([...seenPoints].filter((n) => n > 0 && n < EPOCHS).length, [...seenPoints].join(',')).toBeGreaterThanOrEqual(2);
    expect([...seenProgress].some((p) => p > 0 && p < 1), [...seenProgress].join(',')).toBe(true);
    expect(Number(await page.getAttribute('#job-progress', 'value'))).toBe(1);
    const timeline = await page.textContent('#timeline');
    for (const stage of ['preparing', 'mining', 'training', 'evaluating', 'publishing', 'completed']) expect(timeline).toContain(stage);
    await page.waitForSelector('#pk-plot');

    // the model page: query the first test point, answers named from the labels file
    await page.click(`a[href="#/models/${job.modelId}"]`);
    await page.waitForSelector('#query-form');
    const row = (await readFile(join(BIBTEX, 'bibtex_mulan_test.txt'), 'utf8')).split('\n')[1];
    await page.fill('#query', row.split(' ').slice(1).join(' '));
    await page.click('#query-form button');
    await page.waitForSelector('#answer tbody tr');
    const names = (await readFile(join(BIBTEX, 'bibtex_label_names.txt'), 'utf8')).split('\n');
    const answers = await page.$$eval('#answer tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent ?? '')));
    expect(answers).toHaveLength(5);
    for (const [, label, name] of answers) expect(name).toBe(names[Number(label)]);
    const api = await (await fetch(`${base}/v1/models/${job.modelId}/query`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ queries: [{ features: Object.fromEntries(row.split(' ').slice(1).map((t) => t.split(':')).map(([f, v]) => [f, Number(v)])) }], k: 5 }) })).json();
    expect(answers.map((a) => Number(a[1]))).toEqual(api.results[0].map((r: { label: number }) => r.label));

    // what the page asked for: its own static files and /v1 routes, never the key in a URL
    const paths = requests.filter((u) => u.startsWith(base)).map((u) => new URL(u));
    for (const u of paths) expect(u.pathname, u.href).toMatch(/^\/(v1\/.*|vendor\/uplot\/uPlot\.(esm\.js|min\.css)|[a-z/-]+\.(js|css)|)$/);
    expect(requests.some((u) => u.includes(KEY))).toBe(false);
    const streams = paths.filter((u) => u.pathname === `/v1/jobs/${jobId}/events`);
    expect(streams.length).toBeGreaterThanOrEqual(1);
    for (const s of streams) expect(s.searchParams.has('token')).toBe(apiKeys.length > 0);
  }, 90_000);

  // once, keys off: a teacher fitted over the API shows its reliability diagram
  it.runIf(apiKeys.length === 0)('shows a fitted teacher with its reliability diagram, before and after calibration', async () => {
    const fit = await (await fetch(`${base}/v1/teachers/fit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId, params: { folds: 0 } }) })).json();
    await page.goto(`${base}/#/jobs/${fit.id}`);
    await page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'completed', undefined, { timeout: 60_000 });
    const job = await (await fetch(`${base}/v1/jobs/${fit.id}`)).json();
    const teacher = await (await fetch(`${base}/v1/teachers/${job.resultTeacherId}`)).json();
    const bins = teacher.metrics.reliability.raw as { count: number }[];
    expect(bins).toHaveLength(15);
    expect(bins.reduce((n, b) => n + b.count, 0)).toBe(teacher.metrics.reliability.calibrated.reduce((n: number, b: { count: number }) => n + b.count, 0));
    await page.goto(`${base}/#/teachers`);
    const diagram = page.locator(`.reliability[data-teacher="${teacher.id}"]`);
    await diagram.waitFor({ timeout: 15_000 });
    expect(await diagram.getAttribute('data-points')).toBe('15');
    expect(await diagram.locator('canvas').count()).toBe(1);
    expect(await diagram.textContent()).toContain('after calibration');
  }, 90_000);

  // once, keys off: a job that fails shows its error and the stage it failed in
  it.runIf(apiKeys.length === 0)('shows a failed job with its error and stage', async () => {
    // a dataset file corrupted on disk after its upload: the job fails reading it, at once
    const dsId = randomUUID();
    const trainKey = `datasets/${dsId}/train.txt`;
    await parts.store.putBytes(trainKey, new TextEncoder().encode('3 4 2\n0 0:1.0 1:0.5\n1 2:1\n0,1 3:oops\n'));
    const stats = { points: 3, features: 4, labels: 2, labelsPerPoint: 1, pointsPerLabel: 1, nnzPerPoint: 1 };
    await parts.repo.createDataset({ id: dsId, name: 'corrupted', format: 'xc', trainKey, testKey: null, stats, testStats: null });
    const sub = await (await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ datasetId: dsId, params: { epochs: 1 } }) })).json();
    await page.goto(`${base}/#/jobs/${sub.id}`);
    await page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'failed', undefined, { timeout: 30_000 });
    const job = await (await fetch(`${base}/v1/jobs/${sub.id}`)).json();
    expect(job.error).toContain(`dataset ${dsId} (train):4`);
    expect(await page.textContent('#job-header .error')).toBe(`failed in stage ${job.stage ?? '(none)'}: ${job.error}`);
  }, 60_000);

  // once (with the key typed in): a write from the page other than the submission
  it.runIf(apiKeys.length > 0)('cancels a running job from its page', async () => {
    await page.goto(`${base}/#/submit`);
    await page.waitForSelector('#submit-form');
    await page.selectOption('#dataset', datasetId);
    await page.fill('input[name=epochs]', '1000');
    await page.click('#submit');
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const jobId = page.url().split('/').at(-1)!;
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#loss-plot')?.dataset.points ?? 0) >= 1, undefined, { timeout: 60_000 });
    await page.click('#cancel');
    await page.waitForFunction(() => document.querySelector('#job-status')?.textContent === 'cancelled', undefined, { timeout: 30_000 });
    const job = await (await fetch(`${base}/v1/jobs/${jobId}`, { headers: auth })).json();
    expect(job).toMatchObject({ status: 'cancelled', cancelRequested: true });
    // the stage it stopped in: training, or re-mining between epochs
    expect(['training', 'mining']).toContain(job.stage);
    expect(await page.textContent('#job-header')).toContain(`stage ${job.stage}`);
    expect(await page.locator('#cancel').count()).toBe(0);
  }, 90_000);
});
