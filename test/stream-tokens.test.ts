/**
 * Stream tokens (src/service/stream-tokens.ts): how a browser opens a job's event stream when API
 * keys are on. Checked alone (expiry, wrong job, tampering, another process's secret) and over
 * HTTP on real PGlite and Redis: issued by POST /v1/jobs/:id/events/token with a key, accepted only
 * by that job's stream, never in place of a key elsewhere, and never written to the request log.
 */
import type { FastifyInstance } from 'fastify';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/service/app.js';
import { StreamTokens, redactTokenInUrl } from '../src/service/stream-tokens.js';
import { captureLogs } from './support/log-capture.js';
import { form } from './support/multipart.js';
import { tinyXc } from './support/security-env.js';
import { closeServiceParts, openServiceParts, type ServiceParts } from './support/service-env.js';

const KEY = 'full-0a1b2c3d4e5f6a7b';
const READ_KEY = 'read-7b6a5f4e3d2c1b0a';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** Flips one character of the token at `at` (a base64url character stays one). */
function flip(token: string, at: number): string {
  const c = token[at];
  return token.slice(0, at) + (c === 'A' ? 'B' : 'A') + token.slice(at + 1);
}

describe('StreamTokens', () => {
  const tokens = new StreamTokens(undefined, 60_000);
  const job = randomUUID();
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('accepts its own token for the job it names until it expires, and names the key', () => {
    const { token, expiresAt } = tokens.issue(job, 'abc123', now);
    expect(expiresAt).toBe(new Date(now + 60_000).toISOString());
    expect(tokens.check(token, job, now)).toEqual({ ok: true, keyId: 'abc123' });
    expect(tokens.check(token, job, now + 59_999)).toEqual({ ok: true, keyId: 'abc123' });
    expect(tokens.check(token, job, now + 60_000)).toEqual({ ok: false, reason: 'expired' });
  });

  it('refuses it for another job', () => {
    const { token } = tokens.issue(job, null, now);
    expect(tokens.check(token, randomUUID(), now)).toEqual({ ok: false, reason: 'for another job' });
  });

  it('refuses a token with any character of its claims or signature changed', () => {
    const { token } = tokens.issue(job, 'abc123', now);
    const dot = token.indexOf('.');
    for (const at of [0, Math.floor(dot / 2), dot - 1, dot + 1, token.length - 2]) expect(tokens.check(flip(token, at), job, now), `position ${at}`).toEqual({ ok: false, reason: 'tampered' });
    // claims rewritten to a later expiry, signature kept
    const claims = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString()) as { e: number };
    const forged = Buffer.from(JSON.stringify({ ...claims, e: claims.e + 3_600_000 })).toString('base64url') + token.slice(dot);
    expect(tokens.check(forged, job, now + 120_000)).toEqual({ ok: false, reason: 'tampered' });
  });

  it("refuses another process's tokens (another secret) and malformed ones", () => {
    const { token } = new StreamTokens().issue(job, null, now);
    expect(tokens.check(token, job, now)).toEqual({ ok: false, reason: 'tampered' });
    expect(tokens.check('no-dot-here', job, now)).toEqual({ ok: false, reason: 'malformed' });
    expect(tokens.check(KEY, job, now).ok).toBe(false);
  });

  it('redacts a token in a URL, and only the token', () => {
    expect(redactTokenInUrl('/v1/jobs/x/events?token=abc.def&lastEventId=3')).toBe('/v1/jobs/x/events?token=[REDACTED]&lastEventId=3');
    expect(redactTokenInUrl('/v1/jobs/x/events?lastEventId=3&token=abc.def')).toBe('/v1/jobs/x/events?lastEventId=3&token=[REDACTED]');
    expect(redactTokenInUrl('/v1/jobs?status=queued')).toBe('/v1/jobs?status=queued');
  });
});

describe('event stream tokens over HTTP', () => {
  let parts: ServiceParts;
  let app: FastifyInstance;
  let open: FastifyInstance;
  const { lines: logs, logger } = captureLogs();
  let jobA: string;
  let jobB: string;
  const TTL_MS = 1500;

  beforeAll(async () => {
    parts = await openServiceParts('stream-tokens');
    const deps = { repo: parts.repo, store: parts.store, queue: parts.queue };
    app = await buildApp({ ...deps, config: { ...parts.config, apiKeys: [KEY, `${READ_KEY}:read`] }, sse: { ssePollMs: 50, streamTokenTtlMs: TTL_MS }, logger });
    open = await buildApp({ ...deps, config: { ...parts.config, apiKeys: [] }, sse: { ssePollMs: 50 } });
    const ds = await app.inject({ method: 'POST', url: '/v1/datasets', headers: bearer(KEY), payload: form({ train: { data: tinyXc() } }) });
    expect(ds.statusCode).toBe(201);
    // two jobs cancelled while queued: final, so their streams replay and end
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const job = await app.inject({ method: 'POST', url: '/v1/jobs', headers: bearer(KEY), payload: { datasetId: ds.json().id, params: { epochs: 1 } } });
      expect(job.statusCode).toBe(202);
      expect((await app.inject({ method: 'POST', url: `/v1/jobs/${job.json().id}/cancel`, headers: bearer(KEY) })).statusCode).toBe(202);
      ids.push(job.json().id);
    }
    [jobA, jobB] = ids;
  });

  afterAll(async () => {
    await app?.close();
    await open?.close();
    await closeServiceParts(parts);
  });

  const tokenFor = async (job: string, headers: Record<string, string> = bearer(READ_KEY)) => app.inject({ method: 'POST', url: `/v1/jobs/${job}/events/token`, headers });
  const stream = (job: string, query: string) => app.inject({ method: 'GET', url: `/v1/jobs/${job}/events?${query}` });

  it('issues a token to a key (read-only is enough), not without one, and 404 for an unknown job', async () => {
    const r = await tokenFor(jobA);
    expect(r.statusCode).toBe(201);
    expect(Date.parse(r.json().expiresAt) - Date.now()).toBeGreaterThan(0);
    expect(Date.parse(r.json().expiresAt) - Date.now()).toBeLessThanOrEqual(TTL_MS);
    expect((await tokenFor(jobA, {})).statusCode).toBe(401);
    expect((await tokenFor(randomUUID(), bearer(KEY))).statusCode).toBe(404);
  });

  it("opens that job's stream with ?token= and no Authorization header", async () => {
    const { token } = (await tokenFor(jobA)).json();
    const r = await stream(jobA, `token=${token}`);
    expect(r.statusCode).toBe(200);
    expect(r.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(r.body).toContain(`"jobId":"${jobA}"`);
    expect(r.body).toContain('"status":"cancelled"');
    expect(r.body).toContain('event: end');
    // resumes after an event id as well
    const after = await stream(jobA, `token=${token}&lastEventId=1`);
    expect(after.body).not.toMatch(/^id: 1$/m);
  });

  it("refuses the token for another job's stream, tampered, or expired, with 401 naming why", async () => {
    const { token } = (await tokenFor(jobA)).json();
    const other = await stream(jobB, `token=${token}`);
    expect(other.statusCode).toBe(401);
    expect(other.json().message).toMatch(/^stream token for another job/);
    const tampered = await stream(jobA, `token=${flip(token, token.length - 3)}`);
    expect(tampered.statusCode).toBe(401);
    expect(tampered.json().message).toMatch(/^stream token tampered/);
    await new Promise((r) => setTimeout(r, TTL_MS + 100));
    const expired = await stream(jobA, `token=${token}`);
    expect(expired.statusCode).toBe(401);
    expect(expired.headers['www-authenticate']).toBe('Bearer');
    expect(expired.json().message).toMatch(/^stream token expired/);
  });

  it('is no API key anywhere else, and an API key is no token', async () => {
    const { token } = (await tokenFor(jobA)).json();
    for (const url of ['/v1/jobs', `/v1/jobs/${jobA}`, `/v1/jobs/${jobA}/metrics`]) {
      const r = await app.inject({ method: 'GET', url: `${url}?token=${token}` });
      expect(r.statusCode, url).toBe(401);
      expect(r.json().message).toMatch(/^missing API key/);
    }
    const r = await app.inject({ method: 'POST', url: `/v1/jobs/${jobA}/cancel?token=${token}` });
    expect(r.statusCode).toBe(401);
    // the key in the URL is refused (and the schema's token pattern would refuse it anyway)
    expect((await stream(jobA, `token=${KEY}`)).statusCode).toBe(401);
  });

  it('never writes a token into the request log', async () => {
    logs.length = 0;
    const { token } = (await tokenFor(jobA)).json();
    await stream(jobA, `token=${token}`);
    await stream(jobB, `token=${token}`);
    const text = logs.join('');
    expect(text).toContain(`/v1/jobs/${jobA}/events?token=[REDACTED]`);
    expect(text).toContain(`/v1/jobs/${jobB}/events?token=[REDACTED]`);
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[1]);
  });

  it('with keys off, streams open without a token and a token is still issued', async () => {
    expect((await open.inject({ method: 'GET', url: `/v1/jobs/${jobA}/events` })).statusCode).toBe(200);
    expect((await open.inject({ method: 'POST', url: `/v1/jobs/${jobA}/events/token` })).statusCode).toBe(201);
  });
});
