/**
 * Security of the HTTP surface over a real listening port (startServer on a PGlite + Redis env)
 * and app.inject: helmet headers and a loadable /docs, CORS closed unless configured, body /
 * upload / ONNX size limits (413, nothing stored), path traversal and id validation, and no
 * request field that names a server-side path.
 */
import type { FastifyInstance } from 'fastify';
import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, teacherUploadLimit } from '../src/infra/config.js';
import { startServer, type RunningServer } from '../src/service/server.js';
import { REDIS_URL, filesUnder, form, openSecurityEnv, tinyXc, type SecurityEnv } from './support/security-env.js';
import { randomTeacherOnnx } from './support/random-teacher.js';

const KEY = 'http-key-0b9a8c7d6e5f';
const auth = { authorization: `Bearer ${KEY}` };
const APP_ORIGIN = 'https://app.example';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request whose path goes out exactly as written (fetch would normalise "..", "%2e%2e"). */
function raw(base: string, path: string, opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method: opts.method ?? 'GET', headers: opts.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A contract-valid ONNX teacher over 10 features and 5 labels (a few KB). */
function smallTeacher(): Uint8Array {
  return randomTeacherOnnx({ inputDim: 10, hiddenDim: 4, numLabels: 5, seed: 3 });
}

let env: SecurityEnv;
let server: RunningServer;
let base: string;
/** A published model (files written by hand: downloads never parse them). */
let modelId: string;
let modelDir: string;

beforeAll(async () => {
  env = await openSecurityEnv();
  const config = loadConfig({
    DATA_DIR: env.dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL,
    API_KEYS: KEY,
    MAX_BODY_BYTES: '2048',
    MAX_QUERY_BODY_BYTES: '8192',
    MAX_UPLOAD_BYTES: '200000',
    MAX_TEACHER_BYTES: '20000',
    CORS_ORIGINS: APP_ORIGIN,
  });
  server = await startServer({ config: { ...config, redisPrefix: env.prefix }, storage: env.storage, logger: false, handleSignals: false });
  base = server.url;

  const up = await fetch(`${base}/v1/datasets`, { method: 'POST', headers: auth, body: form({ train: { data: tinyXc() } }) });
  expect(up.status).toBe(201);
  const datasetId = ((await up.json()) as { id: string }).id;
  const job = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ datasetId }) });
  expect(job.status).toBe(202);
  const jobId = ((await job.json()) as { id: string }).id;
  modelId = randomUUID();
  const key = `models/${modelId}`;
  modelDir = env.storage.store.pathOf(key);
  await mkdir(modelDir, { recursive: true });
  await writeFile(join(modelDir, 'config.json'), JSON.stringify({ format: 'distilxr-model' }));
  await writeFile(join(modelDir, 'weights.safetensors'), randomBytes(64));
  // beside the model, not on the allow-list
  await writeFile(join(modelDir, 'secret.txt'), 'SECRET-BESIDE-MODEL');
  await env.storage.repo.createModel({ id: modelId, jobId, datasetId, teacherId: null, key, config: {}, metrics: null, teacherMetrics: null });
});

afterAll(async () => {
  await server?.close();
  await env?.close();
});

describe('security headers', () => {
  it('sends helmet headers on answers, errors and health, and no X-Powered-By', async () => {
    for (const [path, status] of [['/v1/datasets', 200], ['/v1/nothing', 404], ['/healthz', 200]] as const) {
      const r = await fetch(`${base}${path}`, { headers: auth });
      expect(r.status, path).toBe(status);
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(r.headers.get('x-frame-options'), path).toBe('SAMEORIGIN');
      expect(r.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(r.headers.get('cross-origin-resource-policy'), path).toBe('same-origin');
      expect(r.headers.get('content-security-policy'), path).toMatch(/default-src 'self'/);
      expect(r.headers.get('x-powered-by'), path).toBeNull();
    }
    const refused = await fetch(`${base}/v1/datasets`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('serves /docs under a CSP it loads with: every script and stylesheet is same-origin and answers 200', async () => {
    const page = await fetch(`${base}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = page.headers.get('content-security-policy')!;
    expect(csp).toMatch(/script-src 'self'(;|$)/);
    expect(csp).toMatch(/img-src 'self' data:/);
    // plain HTTP: upgrading the page's subresources to HTTPS would break it
    expect(csp).not.toContain('upgrade-insecure-requests');
    const html = await page.text();
    // no inline script for script-src 'self' to block
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>\s*\S/);
    const refs = [...html.matchAll(/<(?:script[^>]*\bsrc|link[^>]*\bhref)="([^"]+)"/g)].map((m) => m[1]);
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const ref of refs) {
      const url = new URL(ref, page.url);
      expect(url.origin, ref).toBe(base);
      const r = await fetch(url);
      expect(r.status, ref).toBe(200);
      await r.arrayBuffer();
    }
    const init = await fetch(new URL('./docs/static/swagger-initializer.js', `${base}/`));
    expect(await init.text()).toContain('SwaggerUIBundle');
    const doc = await fetch(`${base}/docs/json`);
    expect(doc.status).toBe(200);
    expect(((await doc.json()) as { openapi: string }).openapi).toMatch(/^3\./);
  });
});

describe('CORS', () => {
  it('sends no Access-Control-* header to any origin when CORS_ORIGINS is unset', async () => {
    const closed = await env.build({ corsOrigins: [] });
    for (const origin of [APP_ORIGIN, 'https://evil.example']) {
      const r = await closed.inject({ method: 'GET', url: '/v1/datasets', headers: { origin } });
      expect(r.statusCode).toBe(200);
      expect(r.headers['access-control-allow-origin']).toBeUndefined();
      const pre = await closed.inject({ method: 'OPTIONS', url: '/v1/datasets', headers: { origin, 'access-control-request-method': 'POST' } });
      expect(pre.headers['access-control-allow-origin']).toBeUndefined();
      expect(pre.headers['access-control-allow-methods']).toBeUndefined();
    }
  });

  it('allows only the configured origin, preflights included (before the key check)', async () => {
    const ok = await fetch(`${base}/v1/datasets`, { headers: { ...auth, origin: APP_ORIGIN } });
    expect(ok.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(ok.headers.get('vary')).toMatch(/origin/i);
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/retry-after/);
    const pre = await fetch(`${base}/v1/jobs`, { method: 'OPTIONS', headers: { origin: APP_ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN);
    expect(pre.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    // another origin: answered (the server does not enforce CORS), but never allowed
    const evil = await fetch(`${base}/v1/datasets`, { headers: { ...auth, origin: 'https://evil.example' } });
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const evilPre = await fetch(`${base}/v1/jobs`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(evilPre.headers.get('access-control-allow-origin')).toBeNull();
    const sub = await fetch(`${base}/v1/datasets`, { headers: { ...auth, origin: 'https://app.example.evil.example' } });
    expect(sub.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('reads CORS_ORIGINS as a list of bare origins and refuses anything else', () => {
    expect(loadConfig({ CORS_ORIGINS: 'https://a.example, http://localhost:3000' }).corsOrigins).toEqual(['https://a.example', 'http://localhost:3000']);
    expect(loadConfig({}).corsOrigins).toEqual([]);
    for (const bad of ['https://a.example/', 'https://a.example/app', 'a.example', 'null']) {
      expect(() => loadConfig({ CORS_ORIGINS: bad }), bad).toThrow(/CORS_ORIGINS: .* is not an origin/);
    }
  });
});

describe('limits', () => {
  const snapshot = async () => ({
    datasets: (await env.storage.repo.listDatasets()).length,
    teachers: (await env.storage.repo.listTeachers()).length,
    files: await filesUnder(env.storage.store.root),
  });

  it('refuses a JSON body over MAX_BODY_BYTES with 413 naming the limit', async () => {
    const body = JSON.stringify({ datasetId: randomUUID(), params: { seed: 1 }, pad: 'x'.repeat(4000) });
    const r = await fetch(`${base}/v1/jobs`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ statusCode: 413, code: 'DXR_TOO_LARGE', error: 'Payload Too Large', message: 'request body is larger than the limit of 2048 bytes' });
    expect(loadConfig({}).maxBodyBytes).toBe(1 << 20);
  });

  it('gives top-k queries their own MAX_QUERY_BODY_BYTES', async () => {
    const query = (chars: number) => JSON.stringify({ queries: [{ text: 'w '.repeat(chars / 2) }] });
    const within = await fetch(`${base}/v1/models/${randomUUID()}/query`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: query(4000) });
    expect(within.status).toBe(404); // past the 2048-byte JSON limit, within the query limit: reaches the route
    const over = await fetch(`${base}/v1/models/${randomUUID()}/query`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: query(10000) });
    expect(over.status).toBe(413);
    expect(((await over.json()) as { message: string }).message).toBe('request body is larger than the limit of 8192 bytes');
  });

  it('refuses a dataset over MAX_UPLOAD_BYTES with 413 and stores nothing', async () => {
    const before = await snapshot();
    const big = tinyXc(30_000); // ~400 KB
    const r = await fetch(`${base}/v1/datasets`, { method: 'POST', headers: auth, body: form({ train: { data: big } }) });
    expect(r.status).toBe(413);
    expect(await r.json()).toMatchObject({ code: 'DXR_TOO_LARGE', message: 'file "train" is larger than the upload limit of 200000 bytes' });
    expect(await snapshot()).toEqual(before);
  });

  it('refuses an ONNX teacher over MAX_TEACHER_BYTES with 413 naming the limit, and stores nothing', async () => {
    const before = await snapshot();
    for (const size of [20_001, 150_000]) {
      const r = await fetch(`${base}/v1/teachers`, { method: 'POST', headers: auth, body: form({ model: { data: randomBytes(size), filename: 'big.onnx' } }) });
      expect(r.status, String(size)).toBe(413);
      expect(await r.json()).toMatchObject({ code: 'DXR_TOO_LARGE', message: 'teacher upload ("model" or "bundle") is larger than the MAX_TEACHER_BYTES limit of 20000 bytes' });
    }
    expect(await snapshot()).toEqual(before);
    // under the limit, a valid teacher is accepted
    const onnx = smallTeacher();
    expect(onnx.length).toBeLessThan(20_000);
    const ok = await fetch(`${base}/v1/teachers`, { method: 'POST', headers: auth, body: form({ model: { data: onnx, filename: 't.onnx' } }) });
    expect(ok.status).toBe(201);
  });

  it('holds teachers to the lower of MAX_TEACHER_BYTES and MAX_UPLOAD_BYTES; the default is the ONNX limit', async () => {
    expect(loadConfig({}).maxTeacherBytes).toBe(2 ** 31 - 1);
    expect(() => loadConfig({ MAX_TEACHER_BYTES: String(2 ** 31) })).toThrow(/at most 2147483647 \(the ONNX protobuf limit\)/);
    expect(teacherUploadLimit({ maxUploadBytes: 1000, maxTeacherBytes: 5000 })).toEqual({ bytes: 1000, setting: 'MAX_UPLOAD_BYTES' });
    const app = await env.build({ maxUploadBytes: 10_000, maxTeacherBytes: 2 ** 31 - 1 });
    const r = await app.inject({ method: 'POST', url: '/v1/teachers', payload: form({ model: { data: randomBytes(30_000), filename: 't.onnx' } }) });
    expect(r.statusCode).toBe(413);
    expect(r.json().message).toBe('teacher upload ("model" or "bundle") is larger than the MAX_UPLOAD_BYTES limit of 10000 bytes');
  });

  it('answers a multipart body that ends mid-part with 400 (not 500) and stores nothing', async () => {
    const before = await snapshot();
    const boundary = 'dxr-truncated-boundary';
    const headers = { ...auth, 'content-type': `multipart/form-data; boundary=${boundary}` };
    for (const [path, field] of [['/v1/datasets', 'train'], ['/v1/teachers', 'model']]) {
      const whole = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="f.bin"\r\nContent-Type: application/octet-stream\r\n\r\n${tinyXc(200)}\r\n--${boundary}--\r\n`);
      for (const cut of [40, Math.floor(whole.length / 2), whole.length - 8]) {
        // chunked: the HTTP body ends properly, the multipart body inside it does not
        const r = await raw(base, path, { method: 'POST', headers: { ...headers, 'transfer-encoding': 'chunked' }, body: whole.subarray(0, cut) });
        expect(r.status, `${path} cut at ${cut}: ${r.body}`).toBe(400);
        expect(JSON.parse(r.body)).toMatchObject({ code: 'DXR_BAD_REQUEST', message: 'the multipart body ended before its closing boundary (truncated upload)' });
      }
    }
    expect(await snapshot()).toEqual(before);
  });

  it('stores an upload under its own id whatever its filename says', async () => {
    for (const filename of ['../../../escaped.txt', '/tmp/escaped-abs.txt', '..\\..\\escaped-bs.txt']) {
      const r = await fetch(`${base}/v1/datasets`, { method: 'POST', headers: auth, body: form({ train: { data: tinyXc(), filename } }) });
      expect(r.status, filename).toBe(201);
      const d = (await env.storage.repo.getDataset(((await r.json()) as { id: string }).id))!;
      expect(d.trainKey).toBe(`datasets/${d.id}/train`);
    }
    expect(existsSync(join(env.dataDir, 'escaped.txt'))).toBe(false);
    expect(existsSync(join(env.storage.store.root, 'escaped.txt'))).toBe(false);
    expect(existsSync('/tmp/escaped-abs.txt')).toBe(false);
    expect((await filesUnder(env.dataDir)).filter((f) => f.includes('escaped'))).toEqual([]);
  });
});

describe('path traversal and ids', () => {
  const files = (name: string) => `/v1/models/${modelId}/files/${name}`;

  it('downloads an allow-listed file of the model directory', async () => {
    const r = await raw(base, files('config.json'), { headers: auth });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ format: 'distilxr-model' });
  });

  it('refuses a file name that is not on the allow-list with 400 naming the allowed files', async () => {
    const names = [
      '..', // parent
      '.',
      '..%2Fconfig.json', // encoded separator
      '%2e%2e%2fconfig.json', // encoded dots and separator
      '%2E%2E%2F%2E%2E%2F%2E%2E%2Fetc%2Fpasswd',
      `..%2F..%2F..%2Fdatasets%2F`,
      '%2Fetc%2Fpasswd', // absolute
      '%2F' + encodeURIComponent(join(modelDir, 'config.json').slice(1)),
      '..%5Cconfig.json', // backslashes
      'config.json%5C',
      '%5C%5Cserver%5Cshare',
      'config.json%00', // NUL
      '%00',
      'config.json%00.txt',
      'secret.txt', // exists beside the model, not listed
      'CONFIG.JSON',
      'config.json%20',
    ];
    for (const name of names) {
      const r = await raw(base, files(name), { headers: auth });
      expect(r.status, name).toBe(400);
      expect(r.headers['content-type'], name).toMatch(/^application\/json/);
      const body = JSON.parse(r.body);
      // the route's own check names the allowed files; a name over 64 characters fails the schema first
      expect(body, name).toMatchObject({ code: 'DXR_VALIDATION', message: expect.stringMatching(/^params\.name (must be one of weights\.safetensors, |must not have more than 64 characters$)/) });
      expect(r.body).not.toContain('SECRET');
    }
  });

  it('never matches a route for raw "..", "./" or extra segments', async () => {
    for (const path of [files('../../../../etc/passwd'), files('./config.json'), files('x/../config.json'), `/v1/models/${modelId}/../${modelId}/files/secret.txt`]) {
      const r = await raw(base, path, { headers: auth });
      expect(r.status, path).toBe(404);
      expect(JSON.parse(r.body).code, path).toBe('DXR_NOT_FOUND');
      expect(r.body).not.toMatch(/root:|SECRET/);
    }
  });

  it('answers 400 to an id that is not a UUID on every route taking one', async () => {
    const bad = ['..%2F..%2Fdatasets', '%2e%2e', 'not-a-uuid', `${modelId}x`, '1', `${modelId.slice(0, -1)}%00`];
    const routes = (id: string): [string, string][] => [
      ['GET', `/v1/models/${id}`],
      ['GET', `/v1/models/${id}/files/config.json`],
      ['POST', `/v1/models/${id}/query`],
      ['GET', `/v1/datasets/${id}`],
      ['GET', `/v1/teachers/${id}`],
      ['GET', `/v1/jobs/${id}`],
      ['GET', `/v1/jobs/${id}/metrics`],
      ['GET', `/v1/jobs/${id}/events`],
      ['POST', `/v1/jobs/${id}/cancel`],
    ];
    for (const id of bad) {
      for (const [method, path] of routes(id)) {
        const body = method === 'POST' ? JSON.stringify({ queries: [{ text: 'a' }] }) : undefined;
        const r = await raw(base, path, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body });
        expect(r.status, `${method} ${path}`).toBe(400);
        expect(JSON.parse(r.body), `${method} ${path}`).toMatchObject({ code: 'DXR_VALIDATION', message: 'params.id must be a UUID' });
      }
    }
    // a well-formed id that does not exist is 404
    const unknown = randomUUID();
    for (const [method, path] of routes(unknown)) {
      const body = method === 'POST' ? JSON.stringify({ queries: [{ text: 'a' }] }) : undefined;
      const r = await raw(base, path, { method, headers: { ...auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body });
      expect(r.status, `${method} ${path}`).toBe(404);
    }
  });

  it('serves the Swagger UI files from their own directory only', async () => {
    for (const path of ['/docs/static/..%2F..%2F..%2F..%2Fpackage.json', '/docs/static/../../../../package.json', '/docs/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/package.json', '/docs/static/..%5C..%5Cpackage.json']) {
      const r = await raw(base, path);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.body, path).not.toContain('"dependencies"');
    }
  });
});

describe('server-side paths', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await env.build();
  });

  it('takes no field that names a server file or directory in any request', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, { parameters?: { name: string }[]; requestBody?: { content: Record<string, { schema: unknown }> } }>>;
    };
    const names = new Set<string>();
    const walk = (schema: unknown): void => {
      if (!schema || typeof schema !== 'object') return;
      const s = schema as Record<string, unknown>;
      if (s.properties && typeof s.properties === 'object') for (const [k, v] of Object.entries(s.properties)) {
          names.add(k);
          walk(v);
        }
      for (const key of ['items', 'additionalProperties', 'anyOf', 'oneOf', 'allOf'] as const) {
        const v = s[key];
        if (Array.isArray(v)) v.forEach(walk);
        else walk(v);
      }
    };
    for (const ops of Object.values(doc.paths)) {
      for (const op of Object.values(ops)) {
        for (const p of op.parameters ?? []) names.add(p.name);
        for (const c of Object.values(op.requestBody?.content ?? {})) walk(c.schema);
      }
    }
    // the walk did see the request fields it should (so the check below looks at something)
    expect([...names]).toEqual(expect.arrayContaining(['id', 'name', 'datasetId', 'teacherId', 'queries', 'train', 'model']));
    const words = (n: string) => n.split(/(?=[A-Z])|[_\-.]/).map((w) => w.toLowerCase());
    const pathLike = new Set(['path', 'paths', 'dir', 'directory', 'folder', 'file', 'filename', 'url', 'uri', 'location', 'import', 'source', 'src']);
    expect([...names].filter((n) => words(n).some((w) => pathLike.has(w)))).toEqual([]);
  });

  it('refuses a path smuggled into a JSON body as an unknown property', async () => {
    const r = await app.inject({ method: 'POST', url: '/v1/jobs', payload: { datasetId: randomUUID(), trainPath: '/etc/passwd' } });
    expect(r.statusCode).toBe(400);
    expect(r.json()).toMatchObject({ code: 'DXR_VALIDATION' });
    expect(r.json().message).toMatch(/trainPath/);
  });
});
