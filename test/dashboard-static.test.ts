/**
 * The dashboard's server side (app.inject on real PGlite and Redis): the page and its modules at
 * `/` under the app's Content-Security-Policy, uPlot from node_modules and nothing else of it, the
 * /v1 routes the page relies on beyond the others (GET /v1/jobs/params, the label-frequency
 * profile in a dataset's stats), and the profile itself against a plain count.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelCounts, type Csr } from '../src/core/data/csr.js';
import { labelFrequencyProfile } from '../src/core/data/label-frequency.js';
import { Rng } from '../src/core/util/rng.js';
import { closeServiceEnv, openServiceEnv, upload, type ServiceEnv } from './support/service-env.js';

const BIBTEX = resolve('../shared/datasets/bibtex');

/** A label matrix with `rows` rows of 1–3 labels drawn with a skew over `cols` labels. */
function skewedLabels(rows: number, cols: number, seed: number): Csr {
  const rng = new Rng(seed);
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  for (let r = 0; r < rows; r++) {
    const set = new Set<number>();
    const n = 1 + Math.floor(rng.next() * 3);
    for (let i = 0; i < n; i++) set.add(Math.floor(cols * rng.next() ** 3));
    indices.push(...[...set].sort((a, b) => a - b));
    indptr[r + 1] = indices.length;
  }
  return { rows, cols, indptr, indices: Int32Array.from(indices), values: null };
}

describe('labelFrequencyProfile', () => {
  it('gives the count of the label at each rank, most frequent first, ranks log-spaced from 1 to L', () => {
    for (const [rows, cols] of [[500, 7], [2000, 300], [50, 1000]]) {
      const labels = skewedLabels(rows, cols, rows + cols);
      const sorted = [...labelCounts(labels)].sort((a, b) => b - a);
      const profile = labelFrequencyProfile(labels, 64);
      expect(profile[0]).toEqual({ rank: 1, count: sorted[0] });
      expect(profile.at(-1)).toEqual({ rank: cols, count: sorted[cols - 1] });
      expect(profile.length).toBeLessThanOrEqual(Math.min(64, cols));
      for (const p of profile) expect(p.count).toBe(sorted[p.rank - 1]);
      for (let i = 1; i < profile.length; i++) expect(profile[i].rank).toBeGreaterThan(profile[i - 1].rank);
    }
    expect(labelFrequencyProfile(skewedLabels(10, 0, 1))).toEqual([]);
  });
});

describe('dashboard routes', () => {
  let env: ServiceEnv;
  beforeAll(async () => {
    env = await openServiceEnv('dashboard-static');
  });
  afterAll(async () => closeServiceEnv(env));

  it('serves the page and its modules at / under the CSP, scripts from its own origin only', async () => {
    const page = await env.app.inject({ method: 'GET', url: '/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    const scripts = [...page.body.matchAll(/<script[^>]* src="([^"]+)"/g)].map((m) => m[1]);
    expect(scripts).toEqual(['/app.js']);
    // every module the page imports is served, as JavaScript
    const seen = new Set<string>();
    const queue = ['/app.js'];
    while (queue.length) {
      const url = queue.pop()!;
      if (seen.has(url)) continue;
      seen.add(url);
      const r = await env.app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type'], url).toMatch(/javascript/);
      for (const [, spec] of r.body.matchAll(/^import [^'"]*'([^']+)'/gm)) queue.push(new URL(spec, `http://x${url}`).pathname);
    }
    expect(seen).toContain('/vendor/uplot/uPlot.esm.js');
    expect(seen).toContain('/events.js');
    expect((await env.app.inject({ method: 'GET', url: '/vendor/uplot/uPlot.min.css' })).statusCode).toBe(200);
  });

  it('serves nothing else of node_modules, and unknown paths are still coded 404s', async () => {
    for (const url of ['/vendor/uplot/uPlot.cjs.js', '/vendor/uplot/../package.json', '/vendor/uplot/%2e%2e/package.json', '/nope.js', '/v1/nope']) {
      const r = await env.app.inject({ method: 'GET', url });
      expect(r.statusCode, url).toBe(404);
    }
    expect((await env.app.inject({ method: 'GET', url: '/v1/nope' })).json()).toMatchObject({ code: 'DXR_NOT_FOUND' });
  });

  it('GET /v1/jobs/params is the schema of params, with the defaults the server fills in', async () => {
    const r = await env.app.inject({ method: 'GET', url: '/v1/jobs/params' });
    expect(r.statusCode).toBe(200);
    const schema = r.json();
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.epochs).toMatchObject({ type: 'integer', minimum: 0 });
    const ds = await upload(env, '/v1/datasets', { train: { data: await readFile(join(BIBTEX, 'bibtex_mulan_train.txt')) } });
    expect(ds.statusCode).toBe(201);
    const job = await env.app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: ds.json().id } });
    expect(job.statusCode).toBe(202);
    const params = job.json().params;
    // alpha is the one default the server overrides without a teacher (its description says so)
    expect(schema.properties.alpha.description).toMatch(/0 without a teacher/);
    expect(params.alpha).toBe(0);
    const defaults = Object.entries(schema.properties as Record<string, { default?: unknown }>).filter(([name, p]) => p.default !== undefined && name !== 'alpha' && name in params);
    expect(defaults.length).toBeGreaterThan(10);
    for (const [name, prop] of defaults) expect(params[name], name).toEqual(prop.default);
    await env.app.inject({ method: 'POST', url: `/v1/jobs/${job.json().id}/cancel` });

    // the dataset carries its label-frequency profile: Bibtex's most frequent label is on 691 of 4880 points
    const profile = ds.json().stats.labelFrequency;
    expect(profile[0]).toEqual({ rank: 1, count: 691 });
    expect(profile.at(-1).rank).toBe(159);
    expect((await env.app.inject({ method: 'GET', url: `/v1/datasets/${ds.json().id}` })).json().stats.labelFrequency).toEqual(profile);
  });
});
