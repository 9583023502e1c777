/**
 * Screenshots of every dashboard page (docs/dashboard/*.png, shown in the README), taken with
 * Debian's Chromium through playwright-core from a running service that has a dataset, a fitted
 * teacher and a completed distillation job (e.g. after `npm run demo`, or the Bibtex story of
 * `npm run demo:cli` done over HTTP).
 *
 *   npm run screenshots -- [BASE_URL=http://127.0.0.1:8080] [QUERY_FEATURES="3:1 17:1"]
 *
 * It also submits one more job like the completed one, photographs it while it trains, then
 * cancels it. API_KEY (environment) is typed into the page when the service has keys.
 */
import { mkdir } from 'node:fs/promises';
import { chromium, type Page } from 'playwright-core';

const base = (process.argv[2] ?? 'http://127.0.0.1:8080').replace(/\/$/, '');
const queryFeatures = process.argv[3];
const out = 'docs/dashboard';
const key = process.env.API_KEY ?? '';
const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};

interface Job {
  id: string;
  kind: string;
  status: string;
  datasetId: string;
  teacherId: string | null;
  modelId: string | null;
  params: Record<string, unknown>;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${base}/v1${path}`, { method, headers: { ...headers, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  if (!res.ok) throw new Error(`${method} ${path} → ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

async function shoot(page: Page, hash: string, name: string, ready: string): Promise<void> {
  await page.goto(`${base}/${hash}`);
  await page.waitForSelector(ready);
  await page.waitForTimeout(800); // plots draw on the next frame
  await page.screenshot({ path: `${out}/${name}.png`, fullPage: true });
  process.stdout.write(`${out}/${name}.png\n`);
}

async function main(): Promise<void> {
  const { jobs } = await api<{ jobs: Job[] }>('GET', '/jobs?status=completed&limit=100');
  const job = jobs.find((j) => j.kind === 'train' && j.teacherId && j.modelId) ?? jobs.find((j) => j.kind === 'train' && j.modelId);
  if (!job?.modelId) throw new Error(`no completed training job at ${base}: run npm run demo first`);
  await mkdir(out, { recursive: true });
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/`);
    if (key) {
      await page.fill('#api-key', key);
      await page.click('#key-form button');
    }
    // a job caught while training: progress, ETA, the loss plot growing; then cancelled
    const live = await api<Job>('POST', '/jobs', { datasetId: job.datasetId, ...(job.teacherId ? { teacherId: job.teacherId } : {}), params: { ...job.params, epochs: 200, auto: false } });
    await page.goto(`${base}/#/jobs/${live.id}`);
    await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#loss-plot')?.dataset.points ?? 0) >= 5, undefined, { timeout: 300_000 });
    await page.waitForTimeout(800);
    await page.screenshot({ path: `${out}/job-live.png`, fullPage: true });
    process.stdout.write(`${out}/job-live.png\n`);
    await api('POST', `/jobs/${live.id}/cancel`);

    await shoot(page, '#/jobs', 'jobs', '#jobs-list table');
    await shoot(page, `#/jobs/${job.id}`, 'job', '#pk-plot');
    await shoot(page, '#/submit', 'submit', '#submit-form');
    await shoot(page, '#/datasets', 'datasets', '#datasets-list table');
    await shoot(page, `#/datasets/${job.datasetId}`, 'dataset', '#label-frequency-plot');
    await shoot(page, '#/teachers', 'teachers', '#teachers-list table');
    await shoot(page, '#/models', 'models', '#models-list table');
    await page.goto(`${base}/#/models/${job.modelId}`);
    await page.waitForSelector('#query-form');
    if (queryFeatures) {
      await page.fill('#query', queryFeatures);
      await page.click('#query-form button');
      await page.waitForSelector('#answer tbody tr');
    }
    await page.waitForTimeout(800);
    await page.screenshot({ path: `${out}/model.png`, fullPage: true });
    process.stdout.write(`${out}/model.png\n`);
  } finally {
    await browser.close();
  }
}

main().catch((e: unknown) => {
  console.error(`screenshots failed: ${(e as Error).message}`);
  process.exit(1);
});
