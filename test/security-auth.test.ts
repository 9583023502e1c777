/**
 * Security of /v1 over HTTP (app.inject on real PGlite, Redis, artifact store): API keys (401,
 * read-only keys and 403, keys never logged) and rate limiting per key / per IP.
 */
import type { FastifyInstance } from 'fastify';
import { createHash, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeys } from '../src/service/api-keys.js';
import { loadConfig } from '../src/infra/config.js';
import { rateLimitKey } from '../src/service/plugins/rate-limit.js';
import { startServer } from '../src/service/server.js';
import { captureLogs } from './support/log-capture.js';
import { REDIS_URL, filesUnder, form, openSecurityEnv, tinyXc, type SecurityEnv } from './support/security-env.js';

const FULL_KEY = 'full-6f1c0e2b9a8d4c7e';
const READ_KEY = 'read-3d5a7b9c1e2f4a6b';
const WRONG_KEY = 'wrong-8e7d6c5b4a3f2e1d';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

let env: SecurityEnv;
beforeAll(async () => {
  env = await openSecurityEnv();
});
afterAll(async () => env?.close());

describe('API keys', () => {
  let app: FastifyInstance;
  const { lines: logs, logger } = captureLogs();

  beforeAll(async () => {
    app = await env.build({ apiKeys: [FULL_KEY, `${READ_KEY}:read`] }, logger);
  });

  it('answers 401 with WWW-Authenticate and a JSON error without a key, with a wrong or malformed one', async () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'missing API key'],
      [bearer(WRONG_KEY), 'invalid API key'],
      [bearer(`${FULL_KEY}x`), 'invalid API key'],
      [bearer(FULL_KEY.slice(0, -1)), 'invalid API key'],
      [{ authorization: `Basic ${FULL_KEY}` }, 'malformed Authorization header'],
      [{ authorization: `Bearer ${FULL_KEY} extra` }, 'malformed Authorization header'],
      [{ authorization: `Bearer ${READ_KEY}:read` }, 'invalid API key'], // the suffix is configuration, not part of the key
    ];
    for (const [headers, reason] of cases) {
      const r = await app.inject({ method: 'GET', url: '/v1/datasets', headers });
      expect(r.statusCode, JSON.stringify(headers)).toBe(401);
      expect(r.headers['www-authenticate']).toBe('Bearer');
      expect(r.json()).toMatchObject({ statusCode: 401, code: 'DXR_UNAUTHORIZED', error: 'Unauthorized', message: `${reason}: send "Authorization: Bearer <api key>"` });
    }
  });

  it('lets a full key read and write', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer(FULL_KEY) })).statusCode).toBe(200);
    const up = await app.inject({ method: 'POST', url: '/v1/datasets', headers: bearer(FULL_KEY), payload: form({ train: { data: tinyXc() } }) });
    expect(up.statusCode).toBe(201);
  });

  it('lets a read-only key read and query, and answers 403 to its writes, storing nothing', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer(READ_KEY) })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v1/jobs', headers: bearer(READ_KEY) })).statusCode).toBe(200);
    // a query is a POST that only reads: it passes the key check and reaches the route (unknown model: 404)
    const q = await app.inject({ method: 'POST', url: `/v1/models/${randomUUID()}/query`, headers: bearer(READ_KEY), payload: { queries: [{ text: 'a' }] } });
    expect(q.statusCode).toBe(404);
    expect(q.json().code).toBe('DXR_NOT_FOUND');

    const datasetsBefore = (await env.storage.repo.listDatasets()).length;
    const artifactsBefore = await filesUnder(env.storage.store.root);
    const writes = [
      { method: 'POST' as const, url: '/v1/datasets', route: '/v1/datasets', payload: form({ train: { data: tinyXc() } }) },
      { method: 'POST' as const, url: '/v1/jobs', route: '/v1/jobs', payload: { datasetId: randomUUID() } },
      { method: 'POST' as const, url: `/v1/jobs/${randomUUID()}/cancel`, route: '/v1/jobs/:id/cancel' },
      { method: 'POST' as const, url: `/v1/jobs/${randomUUID()}/retry`, route: '/v1/jobs/:id/retry' },
      { method: 'POST' as const, url: '/v1/teachers/fit', route: '/v1/teachers/fit', payload: { datasetId: randomUUID() } },
      ...['datasets', 'teachers', 'models', 'jobs'].map((r) => ({ method: 'DELETE' as const, url: `/v1/${r}/${randomUUID()}`, route: `/v1/${r}/:id` })),
    ];
    for (const { route, ...w } of writes) {
      const r = await app.inject({ ...w, headers: bearer(READ_KEY) });
      expect(r.statusCode, w.url).toBe(403);
      expect(r.json()).toMatchObject({ code: 'DXR_FORBIDDEN', error: 'Forbidden' });
      expect(r.json().message).toBe(`this API key is read-only: ${w.method} ${route} needs a key with write access`);
    }
    expect((await env.storage.repo.listDatasets()).length).toBe(datasetsBefore);
    expect(await filesUnder(env.storage.store.root)).toEqual(artifactsBefore);
  });

  it('never writes a key, right or wrong, into the log', async () => {
    logs.length = 0;
    for (const key of [FULL_KEY, READ_KEY, WRONG_KEY]) {
      await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer(key) });
      await app.inject({ method: 'POST', url: '/v1/jobs', headers: { ...bearer(key), 'content-type': 'application/json' }, payload: '{"datasetId":' });
      await app.inject({ method: 'GET', url: `/v1/models/${randomUUID()}`, headers: bearer(key) });
    }
    await app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: `Basic ${FULL_KEY}` } });
    await app.inject({ method: 'GET', url: '/v1/datasets', headers: { authorization: `Bearer ${FULL_KEY} ${WRONG_KEY}` } });
    const text = logs.join('');
    // the log did record these requests (at trace level: incoming, refused, completed)...
    expect(logs.length).toBeGreaterThanOrEqual(20);
    expect(text).toContain('"statusCode":401');
    expect(text).toContain('"statusCode":403');
    expect(text).toContain('"statusCode":400');
    // ...and nothing of the keys, nor of their SHA-256 digests
    for (const key of [FULL_KEY, READ_KEY, WRONG_KEY]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(createHash('sha256').update(key).digest('hex').slice(0, 16));
    }
  });

  it('warns at start when /v1 is open on a non-loopback address, not on loopback or with keys', async () => {
    const warnings: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        const line = JSON.parse(String(chunk)) as { level: number; msg: string };
        if (line.level === 40) warnings.push(line.msg);
        done();
      },
    });
    for (const [host, keys] of [['0.0.0.0', ''], ['127.0.0.1', ''], ['0.0.0.0', 'k']]) {
      const config = loadConfig({ DATA_DIR: env.dataDir, PORT: '0', HOST: host, REDIS_URL, API_KEYS: keys });
      const server = await startServer({ config: { ...config, redisPrefix: env.prefix }, storage: env.storage, logger: { level: 'warn', stream }, handleSignals: false });
      await server.close();
    }
    expect(warnings).toEqual([expect.stringMatching(/^no API_KEYS: \/v1 is open to anyone who can reach 0\.0\.0\.0:0 /)]);
  });

  it('takes keys from API_KEYS with optional :read / :write suffixes and refuses empty keys', () => {
    expect(loadConfig({ API_KEYS: ` a1 , b2:read,c3:write ,, ` }).apiKeys).toEqual(['a1', 'b2:read', 'c3:write']);
    const keys = new ApiKeys(['a1', 'b2:read', 'c3:write', 'd:4:read']);
    expect(keys.identify('Bearer a1')).toMatchObject({ kind: 'valid', access: 'write' });
    expect(keys.identify('Bearer b2')).toMatchObject({ kind: 'valid', access: 'read' });
    expect(keys.identify('Bearer c3')).toMatchObject({ kind: 'valid', access: 'write' });
    expect(keys.identify('Bearer d:4')).toMatchObject({ kind: 'valid', access: 'read' });
    expect(keys.identify('Bearer b2:read')).toEqual({ kind: 'invalid' });
    expect(keys.identify(undefined)).toEqual({ kind: 'missing' });
    expect(() => new ApiKeys([':read'])).toThrow(/API_KEYS: an entry has an empty key/);
  });
});

describe('rate limiting', () => {
  const KEY_A = 'rl-key-a-5c4b3a29';
  const KEY_B = 'rl-key-b-1e2d3c4b';
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await env.build({ apiKeys: [KEY_A, KEY_B], rateLimitMax: 3, rateLimitWindowMs: 60_000 });
  });

  it('allows RATE_LIMIT_MAX requests per key per window, then answers 429 with Retry-After', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer(KEY_A) });
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ratelimit-limit']).toBe('3');
      expect(r.headers['x-ratelimit-remaining']).toBe(String(2 - i));
    }
    const over = await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer(KEY_A) });
    expect(over.statusCode).toBe(429);
    const retry = Number(over.headers['retry-after']);
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(60);
    expect(over.json()).toMatchObject({ statusCode: 429, code: 'DXR_RATE_LIMITED', error: 'Too Many Requests' });
    expect(over.json().message).toBe(`more than 3 requests in 60 s: retry in ${retry} s`);
    // writes are counted in the same bucket
    expect((await app.inject({ method: 'POST', url: '/v1/jobs', headers: bearer(KEY_A), payload: { datasetId: randomUUID() } })).statusCode).toBe(429);
  });

  it('counts each key apart: another key is still served', async () => {
    expect((await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer(KEY_B) })).statusCode).toBe(200);
  });

  it('counts requests without a valid key by client IP, so guessing keys is limited too', async () => {
    const guesses = [];
    for (let i = 0; i < 5; i++) {
      guesses.push((await app.inject({ method: 'GET', url: '/v1/datasets', headers: bearer(`guess-${i}`), remoteAddress: '203.0.113.7' })).statusCode);
    }
    expect(guesses).toEqual([401, 401, 401, 429, 429]);
    // another address is a separate bucket
    expect((await app.inject({ method: 'GET', url: '/v1/datasets', remoteAddress: '203.0.113.8' })).statusCode).toBe(401);
  });

  it('never limits health, readiness, metrics or docs', async () => {
    for (let i = 0; i < 6; i++) {
      for (const url of ['/healthz', '/readyz', '/metrics', '/docs/json']) {
        const r = await app.inject({ method: 'GET', url, remoteAddress: '203.0.113.7' });
        expect(r.statusCode, url).toBe(200);
        expect(r.headers['x-ratelimit-limit'], url).toBeUndefined();
      }
    }
  });

  it('keys its buckets by a digest of the API key, never the key', () => {
    const keys = new ApiKeys([KEY_A]);
    const withKey = rateLimitKey(keys, { headers: { authorization: `Bearer ${KEY_A}` }, ip: '198.51.100.1' });
    expect(withKey).toBe(`key:${createHash('sha256').update(KEY_A).digest('hex').slice(0, 16)}`);
    expect(withKey).not.toContain(KEY_A);
    expect(rateLimitKey(keys, { headers: { authorization: 'Bearer nope' }, ip: '198.51.100.1' })).toBe('ip:198.51.100.1');
    expect(rateLimitKey(keys, { headers: {}, ip: '2001:db8:1:2:3:4:5:6' })).toBe('ip:2001:db8:1:2::');
  });

  it('is off with RATE_LIMIT_MAX=0, and defaults to 6000 per minute', async () => {
    const off = await env.build({ rateLimitMax: 0, rateLimitWindowMs: 60_000 });
    for (let i = 0; i < 30; i++) {
      const r = await off.inject({ method: 'GET', url: '/v1/datasets' });
      expect(r.statusCode).toBe(200);
      expect(r.headers['x-ratelimit-limit']).toBeUndefined();
    }
    expect(loadConfig({ RATE_LIMIT_MAX: '0' }).rateLimitMax).toBe(0);
    expect(loadConfig({})).toMatchObject({ rateLimitMax: 6000, rateLimitWindowMs: 60_000 });
    expect(() => loadConfig({ RATE_LIMIT_WINDOW_MS: '0' })).toThrow(/RATE_LIMIT_WINDOW_MS must be a positive integer/);
    expect(() => loadConfig({ RATE_LIMIT_MAX: '-1' })).toThrow(/RATE_LIMIT_MAX must be a non-negative integer/);
  });
});
