/**
 * Property-based fuzzing (fast-check) of everything that parses untrusted input: the XC and JSONL
 * readers, the featurizer, the feature-string parser, the ONNX contract check and the HTTP query
 * body. On any input each either returns well-formed data or throws one of the project's own
 * typed errors (DistilxrError subclasses); anything else (TypeError, RangeError, a hang, a 500) is
 * a bug. Inputs are bounded (a few KB), so every property runs in about a second.
 *
 * Fixed seeds keep CI reproducible; FUZZ_SEED and FUZZ_RUNS explore further
 * (`FUZZ_SEED=123 FUZZ_RUNS=5000 npx vitest run test/fuzz.test.ts`).
 */
import fc from 'fast-check';
import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox';
import { isUtf8 } from 'node:buffer';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Csr } from '../src/core/data/csr.js';
import { MAX_FEATURES, MAX_LABELS, type Dataset } from '../src/core/data/dataset.js';
import { ContractError, DataFormatError, DistilxrError, UsageError } from '../src/core/util/errors.js';
import { parseFeatureString } from '../src/core/data/feature-string.js';
import { Featurizer } from '../src/core/data/featurizer.js';
import { readJsonlTrain, readJsonlWithFeaturizer } from '../src/core/data/jsonl-format.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { readXcFile } from '../src/core/data/xc-format.js';
import { featureMapToSparse } from '../src/pipeline/query.js';
import { QueryBody } from '../src/service/schemas/models.js';
import { checkModelIo, checkTeacherContract, modelIoFromBytes } from '../src/teacher/contract.js';
import { closeServiceEnv, openServiceEnv, publishModel, smallXc, storedState, upload, type ServiceEnv } from './support/service-env.js';
import { randomTeacherOnnx } from './support/random-teacher.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20261129);
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
// timeout: an async run slower than this fails the property (a hang is a bug, not a slow test)
const params = (offset: number) => ({ numRuns: RUNS, seed: SEED + offset, timeout: 10_000 });
/** String(-0) is "0": write the sign so a round trip can keep it. */
const num = (v: number): string => (Object.is(v, -0) ? '-0' : String(v));

let dir: string;
let fileNo = 0;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distilxr-fuzz-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(data: Uint8Array | string, ext: string): Promise<string> {
  const path = join(dir, `f${fileNo++ % 4}.${ext}`);
  await writeFile(path, data);
  return path;
}

/** Runs `read`; a thrown error must be a DataFormatError naming `path` and a plausible line. */
async function dataOrDataFormatError<T>(path: string, lineCount: number, read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (e) {
    if (!(e instanceof DataFormatError)) throw e; // the property fails, fast-check shrinks the input
    expect(e.file).toBe(path);
    expect(e.line).toBeGreaterThanOrEqual(1);
    expect(e.line).toBeLessThanOrEqual(lineCount + 1);
    return null;
  }
}

function lines(data: Uint8Array | string): number {
  const b = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  let n = 1;
  for (let p = b.indexOf(10); p >= 0; p = b.indexOf(10, p + 1)) n++;
  return n;
}

/** Invariants of a parsed matrix: row pointers, ids in range and strictly increasing, finite values. */
function expectWellFormed(m: Csr): void {
  expect(m.indptr.length).toBe(m.rows + 1);
  expect(m.indptr[0]).toBe(0);
  for (let r = 0; r < m.rows; r++) {
    expect(m.indptr[r + 1]).toBeGreaterThanOrEqual(m.indptr[r]);
    for (let p = m.indptr[r]; p < m.indptr[r + 1]; p++) {
      expect(m.indices[p]).toBeGreaterThanOrEqual(0);
      expect(m.indices[p]).toBeLessThan(m.cols);
      if (p > m.indptr[r]) expect(m.indices[p]).toBeGreaterThan(m.indices[p - 1]);
      if (m.values) expect(Number.isFinite(m.values[p])).toBe(true);
    }
  }
  expect(m.indices.length).toBe(m.indptr[m.rows]);
}

/** Also: declared counts stay bounded, so per-label/per-feature arrays built from them do too. */
function expectDataset(d: Dataset): void {
  expect(d.features.rows).toBe(d.labels.rows);
  expect(d.labels.cols).toBeLessThanOrEqual(MAX_LABELS);
  expect(d.features.cols).toBeLessThanOrEqual(MAX_FEATURES);
  expectWellFormed(d.features);
  expectWellFormed(d.labels);
}

// ---------- generators ----------

/** Tokens XC files are made of, plus the usual ways they go wrong. */
const xcToken = fc.constantFrom(
  '0', '1', '2', '3', '7', '10', '99999999999', '-1', '3:1', '0:0.5', '2:-1e3', '1:1e39', '4:nan', '5:inf', ':', ',', ' ', '  ', '\t',
  '\n', '\r\n', '\r', '.', 'e', '+', '-', 'x', '1.', '.5', '1e', '3:', ':1', ',,', '\u00ef\u00bb\u00bf', '\u0000', 'é',
);
const xcSoup = fc.array(xcToken, { maxLength: 80 }).map((t) => t.join(''));

/** A valid XC dataset as rows of (sorted unique labels, sorted unique feature:value). */
const xcData = fc
  .record({ numFeatures: fc.integer({ min: 1, max: 30 }), numLabels: fc.integer({ min: 1, max: 10 }), points: fc.integer({ min: 1, max: 12 }) })
  .chain(({ numFeatures, numLabels, points }) =>
    fc.record({
      numFeatures: fc.constant(numFeatures),
      numLabels: fc.constant(numLabels),
      rows: fc.array(
        fc.record({
          labels: fc.uniqueArray(fc.integer({ min: 0, max: numLabels - 1 }), { maxLength: 4 }),
          features: fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: numFeatures - 1 }), fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 })), {
            maxLength: 6,
            selector: (t) => t[0],
          }),
        }),
        { minLength: points, maxLength: points },
      ),
      crlf: fc.boolean(),
      sep: fc.constantFrom(' ', '  ', '\t', ' \t'),
    }),
  );
type XcData = typeof xcData extends fc.Arbitrary<infer T> ? T : never;

function xcText(d: XcData): string {
  const nl = d.crlf ? '\r\n' : '\n';
  let s = `${d.rows.length} ${d.numFeatures} ${d.numLabels}${nl}`;
  for (const r of d.rows) {
    // unsorted on purpose: the reader sorts
    const feats = r.features.map(([f, v]) => `${f}:${num(v)}`).join(d.sep);
    // a label-less row starts with the separator, as XC requires
    s += `${r.labels.join(',')}${d.sep}${feats}${nl}`;
  }
  return s;
}

/** Byte-level mutations of a valid file: overwrite, insert, delete, duplicate a slice. */
const mutations = fc.array(
  fc.record({ op: fc.constantFrom('set', 'insert', 'delete', 'dup'), at: fc.nat(), len: fc.integer({ min: 1, max: 8 }), byte: fc.integer({ min: 0, max: 255 }) }),
  { minLength: 1, maxLength: 4 },
);

function mutate(data: Uint8Array, ops: { op: string; at: number; len: number; byte: number }[]): Uint8Array {
  let b = Buffer.from(data);
  for (const { op, at, len, byte } of ops) {
    const p = b.length === 0 ? 0 : at % b.length;
    if (op === 'set' && b.length > 0) b[p] = byte;
    else if (op === 'insert') b = Buffer.concat([b.subarray(0, p), Buffer.alloc(len, byte), b.subarray(p)]);
    else if (op === 'delete') b = Buffer.concat([b.subarray(0, p), b.subarray(p + len)]);
    else if (op === 'dup') b = Buffer.concat([b.subarray(0, p + len), b.subarray(p)]);
  }
  return b;
}

/** JSONL records: mostly the right shape, with every field drawn from right and wrong types. */
const anyJson = fc.jsonValue({ maxDepth: 3 });
const labelValue = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -3, max: 40 }), fc.double(), fc.constant(2 ** 31), anyJson);
const jsonlRecord = fc.oneof(
  { weight: 6, arbitrary: fc.record({ text: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), anyJson), labels: fc.oneof(fc.array(labelValue, { maxLength: 4 }), anyJson) }, { requiredKeys: [] }) },
  { weight: 1, arbitrary: anyJson },
);
const jsonlText = fc.array(
  fc.oneof({ weight: 8, arbitrary: jsonlRecord.map((r) => JSON.stringify(r) ?? 'undefined') }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 30 }) }),
  { maxLength: 12 },
).map((ls) => ls.join('\n'));

const goodJsonl = fc
  .array(fc.record({ text: fc.stringMatching(/^[a-z ]{1,30}[a-z]$/), labels: fc.uniqueArray(fc.constantFrom('cats', 'dogs', 'fish', 'birds'), { maxLength: 3 }) }), { minLength: 1, maxLength: 10 })
  .map((rs) => rs.map((r) => JSON.stringify(r)).join('\n') + '\n');

// ---------- properties ----------

describe('XC reader', () => {
  it('random bytes: data or DataFormatError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 2048 }), async (bytes) => {
        const path = await file(bytes, 'txt');
        const d = await dataOrDataFormatError(path, lines(bytes), () => readXcFile(path));
        if (d) expectDataset(d);
      }),
      params(1),
    );
  });

  it('random strings and XC token soup: data or DataFormatError', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), xcSoup), async (text) => {
        const path = await file(text, 'txt');
        const d = await dataOrDataFormatError(path, lines(text), () => readXcFile(path));
        if (d) expectDataset(d);
      }),
      params(2),
    );
  });

  it('any declared counts (up to 2^31 - 1): data within the limits or DataFormatError', async () => {
    const count = fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.constantFrom(MAX_LABELS, MAX_LABELS + 1, MAX_FEATURES, MAX_FEATURES + 1));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 3 }), count, count, async (points, features, labels) => {
        // a row that fits any non-zero header: label 0, feature 0
        const text = `${points} ${features} ${labels}\n` + '0 0:1\n'.repeat(points);
        const path = await file(text, 'txt');
        const got = await dataOrDataFormatError(path, lines(text), () => loadTrainTest(path, undefined, { cacheDir: false }));
        if (got) expectDataset(got.train);
      }),
      params(13),
    );
  });

  it('mutated valid files: data or DataFormatError (through loadTrainTest, as uploads go)', async () => {
    await fc.assert(
      fc.asyncProperty(xcData, mutations, async (d, ops) => {
        const bytes = mutate(Buffer.from(xcText(d)), ops);
        const path = await file(bytes, 'txt');
        const got = await dataOrDataFormatError(path, lines(bytes), () => loadTrainTest(path, undefined, { cacheDir: false }));
        if (got) expectDataset(got.train);
      }),
      params(3),
    );
  });

  it('valid files, however spaced and line-ended, read back to exactly their rows', async () => {
    await fc.assert(
      fc.asyncProperty(xcData, async (d) => {
        const got = await readXcFile(await file(xcText(d), 'txt'));
        expect([got.features.rows, got.features.cols, got.labels.cols]).toEqual([d.rows.length, d.numFeatures, d.numLabels]);
        for (let r = 0; r < d.rows.length; r++) {
          const labels = Array.from(got.labels.indices.subarray(got.labels.indptr[r], got.labels.indptr[r + 1]));
          expect(labels).toEqual([...d.rows[r].labels].sort((a, b) => a - b));
          const a = got.features.indptr[r];
          const feats = Array.from(got.features.indices.subarray(a, got.features.indptr[r + 1]), (f, i) => [f, got.features.values![a + i]]);
          expect(feats).toEqual([...d.rows[r].features].sort((x, y) => x[0] - y[0]).map(([f, v]) => [f, Math.fround(v)]));
        }
      }),
      params(4),
    );
  });
});

describe('JSONL reader and featurizer', () => {
  let featurizer: Featurizer;
  let labelMap: Awaited<ReturnType<typeof readJsonlTrain>>['labelMap'];
  beforeAll(async () => {
    const train = await file('{"text": "cats and dogs", "labels": ["cats", "dogs"]}\n{"text": "dogs and fish", "labels": ["dogs", "fish"]}\n', 'jsonl');
    ({ featurizer, labelMap } = await readJsonlTrain(train, { minDf: 1 }));
  });

  it('random records (right and wrong shapes and types): data or DataFormatError, as train and as test', async () => {
    await fc.assert(
      fc.asyncProperty(jsonlText, async (text) => {
        const path = await file(text, 'jsonl');
        const train = await dataOrDataFormatError(path, lines(text), () => readJsonlTrain(path, { minDf: 1 }));
        if (train) expectDataset(train.dataset);
        const test = await dataOrDataFormatError(path, lines(text), () => readJsonlWithFeaturizer(path, featurizer, labelMap));
        if (test) {
          expectDataset(test);
          expect(test.features.cols).toBe(featurizer.numFeatures);
        }
      }),
      params(5),
    );
  });

  it('random bytes and mutated valid files: data or DataFormatError, and data only from valid UTF-8 (nothing replaced silently)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 1024 }), fc.tuple(goodJsonl, mutations).map(([t, ops]) => mutate(Buffer.from(t), ops))), async (bytes) => {
        const path = await file(bytes, 'jsonl');
        const train = await dataOrDataFormatError(path, lines(bytes), () => readJsonlTrain(path, { minDf: 1 }));
        if (train) {
          expectDataset(train.dataset);
          expect(isUtf8(bytes)).toBe(true);
        }
      }),
      params(6),
    );
  });

  it('featurizer: any string gives a sorted, in-range, finite, unit-or-zero row', () => {
    const texts = ['cats and dogs', 'dogs and fish', 'Ünïcödé wörds 123', 'new york new york'];
    const featurizers = [Featurizer.fit(texts, { minDf: 1 }), Featurizer.fit(texts, { minDf: 1, bigrams: true, hashing: 'always', hashBits: 6 })];
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 60 })), (text) => {
        for (const f of featurizers) {
          const { indices, values } = f.transform(text);
          let ss = 0;
          for (let i = 0; i < indices.length; i++) {
            expect(indices[i]).toBeGreaterThanOrEqual(0);
            expect(indices[i]).toBeLessThan(f.numFeatures);
            if (i > 0) expect(indices[i]).toBeGreaterThan(indices[i - 1]);
            expect(Number.isFinite(values[i])).toBe(true);
            ss += values[i] * values[i];
          }
          if (indices.length > 0) expect(ss).toBeCloseTo(1, 4);
        }
      }),
      params(7),
    );
  });
});

describe('feature-string parser', () => {
  const token = fc.oneof(
    fc.tuple(fc.oneof(fc.nat(40), fc.constantFrom('-1', '007', '99999999999', '', 'x', '3.5')), fc.oneof(fc.double(), fc.constantFrom('', 'nan', 'inf', '-Infinity', '1e39', '.5', '1e', '+', '1:2'))).map(([i, v]) => `${i}:${v}`),
    fc.constantFrom(' ', ',', '\t', '\n', ':', '3', ':1'),
  );
  const input = fc.oneof(fc.string({ unit: 'binary', maxLength: 120 }), fc.array(token, { maxLength: 12 }).map((t) => t.join(' ')));

  it('any string: sorted unique in-range ids with finite values, or UsageError', () => {
    fc.assert(
      fc.property(input, fc.option(fc.integer({ min: 1, max: 50 }), { nil: undefined }), (s, numFeatures) => {
        let parsed: ReturnType<typeof parseFeatureString>;
        try {
          parsed = parseFeatureString(s, numFeatures);
        } catch (e) {
          if (!(e instanceof UsageError)) throw e;
          return;
        }
        expect(parsed.indices.length).toBeGreaterThan(0);
        for (let i = 0; i < parsed.indices.length; i++) {
          expect(parsed.indices[i]).toBeLessThan(numFeatures ?? 2 ** 31);
          if (i > 0) expect(parsed.indices[i]).toBeGreaterThan(parsed.indices[i - 1]);
          expect(Number.isFinite(parsed.values[i])).toBe(true);
        }
      }),
      params(8),
    );
  });

  it('a map written as "id:value" pairs parses back to itself', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.nat(1000), fc.float({ noNaN: true, noDefaultInfinity: true })), { minLength: 1, maxLength: 10, selector: (t) => t[0] }), (pairs) => {
        const parsed = parseFeatureString(pairs.map(([i, v]) => `${i}:${num(v)}`).join(' '));
        const want = [...pairs].sort((a, b) => a[0] - b[0]);
        expect(Array.from(parsed.indices)).toEqual(want.map((p) => p[0]));
        expect(Array.from(parsed.values)).toEqual(want.map((p) => Math.fround(p[1])));
      }),
      params(9),
    );
  });
});

describe('ONNX contract check', () => {
  it('random bytes and mutated valid models: a contract or ContractError (declared inputs/outputs)', () => {
    const valid = randomTeacherOnnx({ inputDim: 6, hiddenDim: 3, numLabels: 4, seed: 4 });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 512 }), mutations.map((ops) => mutate(valid, ops))), (bytes) => {
        try {
          const c = checkModelIo(modelIoFromBytes(bytes));
          expect(['scores', 'logits']).toContain(c.kind);
        } catch (e) {
          if (!(e instanceof ContractError)) throw e;
        }
      }),
      params(10),
    );
  });
});

describe('ONNX contract check with ONNX Runtime', () => {
  it('mutated valid models, loaded for real: a contract or ContractError, never a crash', async () => {
    const valid = randomTeacherOnnx({ inputDim: 6, hiddenDim: 3, numLabels: 4, seed: 6 });
    await fc.assert(
      fc.asyncProperty(mutations, async (ops) => {
        try {
          const c = await checkTeacherContract(mutate(valid, ops));
          expect(['scores', 'logits']).toContain(c.kind);
        } catch (e) {
          if (!(e instanceof ContractError)) throw e;
        }
      }),
      { ...params(14), numRuns: Math.max(50, Math.floor(RUNS / 3)) },
    );
  });
});

describe('HTTP query body', () => {
  const NUM_FEATURES = 50;
  const validate = TypeBoxValidatorCompiler({ schema: QueryBody, method: 'POST', url: '/v1/models/:id/query', httpPart: 'body' }) as (v: unknown) => { value?: unknown; error?: unknown };

  const featureKey = fc.oneof(fc.nat(60).map(String), fc.constantFrom('-1', '03', '4294967296', '9999999999', '1.5', 'x', '', '12345678901'));
  const featureMap = fc.dictionary(featureKey, fc.oneof(fc.double(), fc.integer(), fc.constantFrom(1e39, -0, 5e-324), anyJson), { maxKeys: 6 });
  const query = fc.record({ text: fc.oneof(fc.string({ unit: 'binary', maxLength: 40 }), anyJson), features: featureMap, extra: anyJson }, { requiredKeys: [] });
  const body = fc.oneof(
    { weight: 5, arbitrary: fc.record({ queries: fc.oneof(fc.array(query, { maxLength: 4 }), anyJson), k: fc.oneof(fc.integer({ min: -2, max: 1002 }), anyJson), exact: fc.oneof(fc.boolean(), anyJson) }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: anyJson },
  );

  it('schema, then the feature map: valid input, a validation error, or UsageError', () => {
    fc.assert(
      fc.property(body, (b) => {
        const r = validate(structuredClone(b));
        if (r.error) return;
        for (const q of (r.value as { queries: { text?: string; features?: Record<string, number> }[] }).queries) {
          if (q.features === undefined) continue;
          try {
            const v = featureMapToSparse(q.features, NUM_FEATURES);
            for (let i = 0; i < v.indices.length; i++) expect(v.indices[i]).toBeLessThan(NUM_FEATURES);
          } catch (e) {
            if (!(e instanceof UsageError)) throw e;
          }
        }
      }),
      params(11),
    );
  });

  describe('against a real model over HTTP', () => {
    let env: ServiceEnv;
    let modelId: string;
    beforeAll(async () => {
      env = await openServiceEnv('fuzz');
      const ds = await upload(env, '/v1/datasets', { train: { data: smallXc(200, 20, 7) } });
      modelId = await publishModel(env, ds.json().id, { dim: 8, epochs: 1, hardNegatives: 2, poolSize: 4 });
    });
    afterAll(async () => closeServiceEnv(env));

    it('any JSON body: 200 with k hits per query, or 400 with a message; never a 5xx', async () => {
      const runs = Math.max(50, Math.floor(RUNS / 2));
      await fc.assert(
        fc.asyncProperty(fc.oneof({ weight: 6, arbitrary: body.map((b) => JSON.stringify(b) ?? 'null') }, { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 60 }) }), async (payload) => {
          const r = await env.app.inject({ method: 'POST', url: `/v1/models/${modelId}/query`, headers: { 'content-type': 'application/json' }, payload });
          if (r.statusCode === 200) {
            const { results } = r.json();
            const sent = JSON.parse(payload) as { queries: unknown[]; k?: number };
            expect(results).toHaveLength(sent.queries.length);
            for (const hits of results) expect(hits.length).toBe(Math.min(sent.k ?? 5, 20));
          } else {
            expect(r.statusCode, r.body).toBe(400);
            expect(r.json().message.length).toBeGreaterThan(0);
          }
        }),
        { ...params(12), numRuns: runs },
      );
    });

    it('any dataset upload (random or mutated bytes): 201 and one more dataset, or 400 and nothing stored', async () => {
      const good = Buffer.from(smallXc(20, 5, 1));
      await fc.assert(
        fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 512 }), mutations.map((ops) => mutate(good, ops))), async (bytes) => {
          const before = await storedState(env);
          const r = await upload(env, '/v1/datasets', { train: { data: bytes } });
          const after = await storedState(env);
          if (r.statusCode === 201) {
            expect(after.datasets).toEqual([...before.datasets, r.json().id].sort());
          } else {
            expect(r.statusCode, r.body).toBe(400);
            expect(r.json().message).toMatch(/^train:\d+: /);
            expect(after).toEqual(before);
          }
        }),
        { ...params(15), numRuns: Math.max(30, Math.floor(RUNS / 6)) },
      );
    });
  });
});

it('every error the readers raise on purpose is a DistilxrError', () => {
  for (const E of [DataFormatError, ContractError, UsageError]) expect(Object.getPrototypeOf(E.prototype)).toBe(DistilxrError.prototype);
});
