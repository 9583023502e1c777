/**
 * Bad parameters over HTTP, beyond what test/api.test.ts already pins: every refusal is a 400
 * whose message names the field (`body.params.lr ...`, `querystring.limit ...`, `params.id ...`),
 * nothing stored changes (rows, queue, artifact files), and the next good request succeeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeServiceEnv, openServiceEnv, publishModel, smallXc, storedState, upload, type ServiceEnv } from './support/service-env.js';
import { randomTeacherOnnx } from './support/random-teacher.js';

const LABELS = 20;
const FEATURES = 2 * LABELS + 10; // smallXc's feature count

let env: ServiceEnv;
let datasetId: string;
let teacherId: string;
let modelId: string;

beforeAll(async () => {
  env = await openServiceEnv('bad-params');
  const ds = await upload(env, '/v1/datasets', { train: { data: smallXc(200, LABELS, 3) } });
  expect(ds.statusCode, ds.body).toBe(201);
  datasetId = ds.json().id;
  const onnx = randomTeacherOnnx({ inputDim: FEATURES, hiddenDim: 4, numLabels: LABELS, seed: 8 });
  const t = await upload(env, '/v1/teachers', { model: { data: onnx, filename: 't.onnx' } });
  expect(t.statusCode, t.body).toBe(201);
  teacherId = t.json().id;
  modelId = await publishModel(env, datasetId, { dim: 8, epochs: 1, hardNegatives: 2, poolSize: 4 });
});
afterAll(async () => closeServiceEnv(env));

type Request = { method: 'GET' | 'POST'; url: string; payload?: unknown; headers?: Record<string, string> };

/** The request is refused with 400 and `message`, stores nothing, and `good` still succeeds. */
async function refused(req: Request, message: string | RegExp, good: Request, goodStatus: number): Promise<void> {
  const before = await storedState(env);
  const r = await env.app.inject({
    method: req.method,
    url: req.url,
    headers: { ...(typeof req.payload === 'string' ? { 'content-type': 'application/json' } : {}), ...req.headers },
    payload: req.payload as string | object | undefined,
  });
  expect(r.statusCode, r.body).toBe(400);
  expect(r.json().code).toMatch(/^DXR_(VALIDATION|BAD_REQUEST|BAD_JSON)$/);
  if (typeof message === 'string') expect(r.json().message).toBe(message);
  else expect(r.json().message).toMatch(message);
  expect(await storedState(env)).toEqual(before);
  const ok = await env.app.inject({ method: good.method, url: good.url, payload: good.payload as object | undefined });
  expect(ok.statusCode, ok.body).toBe(goodStatus);
}

describe('job parameters (POST /v1/jobs)', () => {
  const post = (payload: unknown): Request => ({ method: 'POST', url: '/v1/jobs', payload });
  const good = (): Request => post({ datasetId, params: { epochs: 1 } });
  const cases: [string, () => unknown, string | RegExp][] = [
    ['params that is an array', () => ({ datasetId, params: [] }), 'body.params must be object'],
    ['params that is null', () => ({ datasetId, params: null }), 'body.params must be object'],
    ['a numeric datasetId', () => ({ datasetId: 42 }), 'body.datasetId must be string'],
    ['a datasetId with a path in it', () => ({ datasetId: '../../etc/passwd' }), /^body\.datasetId must match pattern/],
    ['a teacherId that is not a UUID', () => ({ datasetId, teacherId: 'x'.repeat(65) }), /^body\.teacherId must match pattern "\^\[0-9a-fA-F\]\{8\}-/],
    ['lr of 0', () => ({ datasetId, params: { lr: 0 } }), 'body.params.lr must be > 0'],
    ['a negative lr', () => ({ datasetId, params: { lr: -0.1 } }), 'body.params.lr must be > 0'],
    ['lr as a string', () => ({ datasetId, params: { lr: '0.1' } }), 'body.params.lr must be number'],
    ['lr above its maximum', () => ({ datasetId, params: { lr: 101 } }), 'body.params.lr must be <= 100'],
    ['lr of 1e400 (Infinity after JSON parsing)', () => `{"datasetId": "${datasetId}", "params": {"lr": 1e400}}`, /^body\.params\.lr must be/],
    ['alpha above 1', () => ({ datasetId, teacherId, params: { alpha: 1.5 } }), 'body.params.alpha must be <= 1'],
    ['a batch size of 0', () => ({ datasetId, params: { batchSize: 0 } }), 'body.params.batchSize must be >= 1'],
    ['a batch size beyond its limit', () => ({ datasetId, params: { batchSize: 1_000_001 } }), 'body.params.batchSize must be <= 1000000'],
    ['a negative seed', () => ({ datasetId, params: { seed: -1 } }), 'body.params.seed must be >= 0'],
    ['a seed past 2^31 - 1', () => ({ datasetId, params: { seed: 2 ** 31 } }), 'body.params.seed must be <= 2147483647'],
    ['a distillation temperature of 0', () => ({ datasetId, params: { temperature: 0 } }), 'body.params.temperature must be > 0'],
    ['negative epochs', () => ({ datasetId, params: { epochs: -1 } }), 'body.params.epochs must be >= 0'],
    ['a boolean given as a string', () => ({ datasetId, params: { teacherWeightedNegatives: 'true' } }), 'body.params.teacherWeightedNegatives must be boolean'],
    ['teacherCalibration given as a number', () => ({ datasetId, teacherId, params: { teacherCalibration: 0 } }), 'body.params.teacherCalibration must be boolean'],
    ['hashBits beyond 24', () => ({ datasetId, params: { featurizer: { hashBits: 25 } } }), 'body.params.featurizer.hashBits must be <= 24'],
    ['minDf of 0', () => ({ datasetId, params: { featurizer: { minDf: 0 } } }), 'body.params.featurizer.minDf must be >= 1'],
    ['an unknown hashing mode', () => ({ datasetId, params: { featurizer: { hashing: 'sometimes' } } }), /^body\.params\.featurizer\.hashing /],
    ['a body that is an array', () => [], 'body must be object'],
    ['a body that is not JSON', () => '{"datasetId": ', /JSON/],
  ];
  for (const [what, payload, message] of cases) {
    it(`refuses ${what}`, async () => refused(post(payload()), message, good(), 202));
  }
});

describe('teacher-fit parameters (POST /v1/teachers/fit)', () => {
  const post = (payload: unknown): Request => ({ method: 'POST', url: '/v1/teachers/fit', payload });
  const good = (): Request => post({ datasetId, params: { C: 0.5, maxPasses: 2, folds: 2 } });
  const cases: [string, () => unknown, string | RegExp][] = [
    ['an unknown body key', () => ({ datasetId, epochs: 3 }), 'body.epochs is not allowed (unknown property "epochs")'],
    ['an unknown params key', () => ({ datasetId, params: { hidden: 8 } }), 'body.params.hidden is not allowed (unknown property "hidden")'],
    ['C of 0', () => ({ datasetId, params: { C: 0 } }), 'body.params.C must be > 0'],
    ['C beyond its limit', () => ({ datasetId, params: { C: 1001 } }), 'body.params.C must be <= 1000'],
    ['threshold as a string', () => ({ datasetId, params: { threshold: 'low' } }), 'body.params.threshold must be number'],
    ['maxPasses of 0', () => ({ datasetId, params: { maxPasses: 0 } }), 'body.params.maxPasses must be >= 1'],
    ['a fractional shortlist', () => ({ datasetId, params: { shortlist: 1.5 } }), 'body.params.shortlist must be integer'],
    ['folds above 10', () => ({ datasetId, params: { folds: 11 } }), 'body.params.folds must be <= 10'],
    ['negative centroidWeight', () => ({ datasetId, params: { centroidWeight: -1 } }), 'body.params.centroidWeight must be >= 0'],
    ['fractional threads', () => ({ datasetId, params: { threads: 1.5 } }), 'body.params.threads must be integer'],
    ['an empty name', () => ({ datasetId, name: '' }), 'body.name must not have fewer than 1 characters'],
    ['a name over 200 characters', () => ({ datasetId, name: 'n'.repeat(201) }), 'body.name must not have more than 200 characters'],
    ['a missing datasetId', () => ({ params: { C: 1 } }), 'body.datasetId is required'],
    ['an unknown featurizer key', () => ({ datasetId, params: { featurizer: { stopwords: true } } }), 'body.params.featurizer.stopwords is not allowed (unknown property "stopwords")'],
  ];
  for (const [what, payload, message] of cases) {
    it(`refuses ${what}`, async () => refused(post(payload()), message, good(), 202));
  }
});

describe('query bodies (POST /v1/models/:id/query)', () => {
  const url = () => `/v1/models/${modelId}/query`;
  const post = (payload: unknown): Request => ({ method: 'POST', url: url(), payload });
  const good = (): Request => post({ queries: [{ features: { '0': 1, '1': 0.5 } }], k: 3 });
  const cases: [string, () => unknown, string | RegExp][] = [
    ['k as a string', () => ({ queries: [{ features: { '1': 1 } }], k: '5' }), 'body.k must be integer'],
    ['a fractional k', () => ({ queries: [{ features: { '1': 1 } }], k: 2.5 }), 'body.k must be integer'],
    ['exact as a string', () => ({ queries: [{ features: { '1': 1 } }], exact: 'yes' }), 'body.exact must be boolean'],
    ['queries that is an object', () => ({ queries: { features: { '1': 1 } } }), 'body.queries must be array'],
    ['a query that is a number', () => ({ queries: [1] }), 'body.queries[0] must be object'],
    ['an empty text', () => ({ queries: [{ text: '' }] }), 'body.queries[0].text must not have fewer than 1 characters'],
    ['a blank text', () => ({ queries: [{ text: ' \t\n' }] }), /^body\.queries\[0\]\.text must match pattern/],
    ['an empty feature map', () => ({ queries: [{ features: {} }] }), /^queries\[0\]: empty feature map/],
    ['a feature id past 2^31', () => ({ queries: [{ features: { '4294967296': 1 } }] }), `queries[0]: feature "4294967296": id 4294967296 out of range [0, ${FEATURES})`],
    ['a feature id just past the model', () => ({ queries: [{ features: { [String(FEATURES)]: 1 } }] }), `queries[0]: feature "${FEATURES}": id ${FEATURES} out of range [0, ${FEATURES})`],
    ['a negative feature id', () => ({ queries: [{ features: { '-1': 1 } }] }), /^body\.queries\[0\]\.features\.-1 is not allowed/],
    ['a feature id of 11 digits', () => ({ queries: [{ features: { '12345678901': 1 } }] }), /^body\.queries\[0\]\.features\.12345678901 is not allowed/],
    ['the same feature twice ("3" and "03")', () => ({ queries: [{ features: { '3': 1, '03': 2 } }] }), 'queries[0]: feature 3 appears twice'],
    ['a null feature value', () => ({ queries: [{ features: { '3': null } }] }), 'body.queries[0].features[3] must be number'],
    ['a feature value of 1e400 (Infinity after JSON parsing)', () => '{"queries": [{"features": {"3": 1e400}}]}', /^(body\.queries\[0\]\.features\[3\] must be|queries\[0\]: feature "3": value Infinity is not a finite number)/],
    ['a float32 overflow (1e39)', () => ({ queries: [{ features: { '3': 1e39 } }] }), 'queries[0]: feature "3": value 1e+39 is not a finite number'],
    ['a text longer than 100000 characters', () => ({ queries: [{ text: 'a'.repeat(100_001) }] }), 'body.queries[0].text must not have more than 100000 characters'],
    ['an unknown top-level key', () => ({ queries: [{ features: { '1': 1 } }], topK: 3 }), 'body.topK is not allowed (unknown property "topK")'],
  ];
  for (const [what, payload, message] of cases) {
    it(`refuses ${what}`, async () => refused(post(payload()), message, good(), 200));
  }

  it('answers the largest allowed batch (1000 queries, k = 1000 capped at the label count)', async () => {
    const queries = Array.from({ length: 1000 }, (_, i) => ({ features: { [String(i % FEATURES)]: 1 } }));
    const r = await env.app.inject({ method: 'POST', url: url(), payload: { queries, k: 1000 } });
    expect(r.statusCode).toBe(200);
    const { results } = r.json();
    expect(results).toHaveLength(1000);
    expect(results.every((hits: unknown[]) => hits.length === LABELS)).toBe(true);
  });
});

describe('list limits and other query strings', () => {
  const good: Request = { method: 'GET', url: '/v1/jobs?limit=2' };
  const cases: [string, string, string | RegExp, Record<string, string>?][] = [
    ['limit of 0', '/v1/jobs?limit=0', 'querystring.limit must be >= 1'],
    ['limit above 1000', '/v1/jobs?limit=1001', 'querystring.limit must be <= 1000'],
    ['a negative limit', '/v1/jobs?limit=-5', 'querystring.limit must be >= 1'],
    ['a non-numeric limit', '/v1/jobs?limit=ten', 'querystring.limit must be number'],
    ['a fractional limit (not truncated to 1)', '/v1/jobs?limit=1.5', 'querystring.limit must be multiple of 1'],
    ['an unknown query key', '/v1/jobs?order=asc', 'querystring.order is not allowed (unknown property "order")'],
    ['a non-numeric lastEventId', '/v1/jobs/JOB/events?lastEventId=abc', /^querystring\.lastEventId must match pattern/],
    ['a non-numeric Last-Event-ID header', '/v1/jobs/JOB/events', /^headers\.last-event-id must match pattern/, { 'last-event-id': 'abc' }],
  ];
  for (const [what, url, message, headers] of cases) {
    it(`refuses ${what}`, async () => {
      const job = (await env.repo.listJobs({ limit: 1 }))[0];
      await refused({ method: 'GET', url: url.replace('JOB', job.id), headers }, message, good, 200);
    });
  }
});

describe('malformed ids in paths', () => {
  const badIds: [string, string][] = [
    ['a dot', 'a.b'],
    ['an encoded path traversal', '..%2F..%2Fetc%2Fpasswd'],
    ['65 characters', 'x'.repeat(65)],
    ['a space', 'a%20b'],
    ['a NUL byte', 'a%00b'],
    ['a non-ASCII letter', '%C3%BC'],
    ['a token that is not a UUID', 'not-a-uuid'],
    ['a UUID with a character too many', '00000000-0000-4000-8000-0000000000001'],
  ];
  const routes: [string, 'GET' | 'POST', (id: string) => string, unknown?][] = [
    ['GET /v1/datasets/:id', 'GET', (id) => `/v1/datasets/${id}`],
    ['GET /v1/teachers/:id', 'GET', (id) => `/v1/teachers/${id}`],
    ['GET /v1/jobs/:id', 'GET', (id) => `/v1/jobs/${id}`],
    ['GET /v1/jobs/:id/metrics', 'GET', (id) => `/v1/jobs/${id}/metrics`],
    ['GET /v1/jobs/:id/events', 'GET', (id) => `/v1/jobs/${id}/events`],
    ['POST /v1/jobs/:id/cancel', 'POST', (id) => `/v1/jobs/${id}/cancel`],
    ['GET /v1/models/:id', 'GET', (id) => `/v1/models/${id}`],
    ['GET /v1/models/:id/files/:name', 'GET', (id) => `/v1/models/${id}/files/config.json`],
    ['POST /v1/models/:id/query', 'POST', (id) => `/v1/models/${id}/query`, { queries: [{ features: { '1': 1 } }] }],
  ];
  for (const [route, method, url, payload] of routes) {
    it(`${route}: 400 naming params.id for each malformed id`, async () => {
      for (const [what, id] of badIds) {
        const before = await storedState(env);
        const r = await env.app.inject({ method, url: url(id), payload: payload as object | undefined });
        expect(r.statusCode, `${what}: ${r.body}`).toBe(400);
        expect(r.json().code).toBe('DXR_VALIDATION');
        expect(r.json().message, what).toMatch(/^params\.id must /);
        expect(await storedState(env)).toEqual(before);
      }
      const ok = await env.app.inject({ method: 'GET', url: `/v1/models/${modelId}` });
      expect(ok.statusCode).toBe(200);
    });
  }
});
