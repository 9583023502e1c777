import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Csr } from '../src/core/data/csr.js';
import { DataFormatError, UsageError } from '../src/core/util/errors.js';
import { Featurizer, FeaturizerFitter, hashTerm, tokenize } from '../src/core/data/featurizer.js';
import { readJsonlTexts, readJsonlTrain, readJsonlWithFeaturizer } from '../src/core/data/jsonl-format.js';
import { detectFormat, loadDataset, loadTrainTest } from '../src/core/data/load-dataset.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distilxr-jsonl-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileNo = 0;
async function jsonl(lines: (object | string)[]): Promise<string> {
  const path = join(dir, `d${fileNo++}.jsonl`);
  await writeFile(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}

const CORPUS = ['The cat sat. The cat!', 'A dog sat', 'the dog and the CAT', 'cat cat cat', 'Ünïcode café 42 cat'];

/** Plain reference: term -> weight, straight from the formula. */
function reference(text: string, docs: string[], minDf: number): Map<string, number> {
  const df = new Map<string, number>();
  for (const d of docs) for (const t of new Set(tokenize(d))) df.set(t, (df.get(t) ?? 0) + 1);
  const tf = new Map<string, number>();
  for (const t of tokenize(text)) if ((df.get(t) ?? 0) >= minDf) tf.set(t, (tf.get(t) ?? 0) + 1);
  const w = new Map<string, number>();
  let ss = 0;
  for (const [t, c] of tf) {
    const v = (1 + Math.log(c)) * (Math.log((1 + docs.length) / (1 + df.get(t)!)) + 1);
    w.set(t, v);
    ss += v * v;
  }
  for (const [t, v] of w) w.set(t, v / Math.sqrt(ss));
  return w;
}

function asMap(f: Featurizer, row: { indices: Int32Array; values: Float32Array }): Map<string, number> {
  const m = new Map<string, number>();
  for (let i = 0; i < row.indices.length; i++) m.set(f.termOf(row.indices[i])!, row.values[i]);
  return m;
}

function csrRow(m: Csr, r: number): { indices: Int32Array; values: Float32Array } {
  return { indices: m.indices.slice(m.indptr[r], m.indptr[r + 1]), values: m.values!.slice(m.indptr[r], m.indptr[r + 1]) };
}

describe('tokenize', () => {
  it('lowercases Unicode letters and digits, bigrams on request', () => {
    expect(tokenize('Ünïcode CAFÉ, 42-x!')).toEqual(['ünïcode', 'café', '42', 'x']);
    expect(tokenize('new York city', true)).toEqual(['new', 'york', 'city', 'new york', 'york city']);
    expect(tokenize('...')).toEqual([]);
  });
});

describe('Featurizer', () => {
  it('computes sublinear tf x smoothed idf, L2-normalised, like the hand formula', () => {
    for (const minDf of [1, 2]) {
      const f = Featurizer.fit(CORPUS, { minDf, bigrams: false });
      for (const text of [...CORPUS, 'cat dog dog unseen']) {
        const got = asMap(f, f.transform(text));
        const want = reference(text, CORPUS, minDf);
        expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
        for (const [t, v] of want) expect(got.get(t)).toBeCloseTo(v, 6);
      }
    }
    // one value written out: "cat cat cat" with minDf 2 has only "cat" -> 1 after normalisation
    const f = Featurizer.fit(CORPUS, { bigrams: false });
    expect(Array.from(f.transform('cat cat cat').values)).toEqual([1]);
    // "a dog sat": dog (df 2), sat (df 2): equal weights 1/sqrt(2); "a" (df 1) dropped
    const r = f.transform('A dog sat');
    expect(r.values.length).toBe(2);
    expect(r.values[0]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(f.idf[f.featureOf('cat')]).toBeCloseTo(Math.log(6 / 5) + 1, 12); // cat in 4 of 5 docs
  });

  it('keeps terms with df >= minDf, most frequent first, capped at maxFeatures', () => {
    const f = Featurizer.fit(CORPUS, { minDf: 2, bigrams: false });
    expect(f.mode).toBe('vocab');
    // df: cat 4, the 2, sat 2, dog 2; ties by term
    expect([0, 1, 2, 3].map((i) => f.termOf(i))).toEqual(['cat', 'dog', 'sat', 'the']);
    expect(f.numFeatures).toBe(4);
    const capped = Featurizer.fit(CORPUS, { minDf: 1, maxFeatures: 2, bigrams: false });
    expect(capped.numFeatures).toBe(2);
    expect([capped.termOf(0), capped.termOf(1)]).toEqual(['cat', 'dog']);
  });

  it('returns indices sorted and the training matrix equal to transform()', () => {
    const fitter = new FeaturizerFitter({ minDf: 1, bigrams: true });
    for (const t of CORPUS) fitter.add(t);
    const { featurizer, features } = fitter.finish();
    expect(features.rows).toBe(CORPUS.length);
    expect(features.cols).toBe(featurizer.numFeatures);
    for (let r = 0; r < CORPUS.length; r++) {
      const t = featurizer.transform(CORPUS[r]);
      const row = csrRow(features, r);
      expect(Array.from(row.indices)).toEqual(Array.from(t.indices));
      expect(Array.from(row.values)).toEqual(Array.from(t.values));
      for (let i = 1; i < t.indices.length; i++) expect(t.indices[i]).toBeGreaterThan(t.indices[i - 1]);
    }
    expect(featurizer.featureOf('the cat')).toBeGreaterThanOrEqual(0);
  });

  it('hashes into 2^bits buckets when asked, with per-bucket df', () => {
    const f = Featurizer.fit(CORPUS, { hashing: 'always', hashBits: 10, bigrams: false });
    expect(f.mode).toBe('hash');
    expect(f.numFeatures).toBe(1024);
    const row = f.transform('cat cat dog zebra');
    const buckets = ['cat', 'dog', 'zebra'].map((t) => hashTerm(t) & 1023);
    expect(Array.from(row.indices)).toEqual([...new Set(buckets)].sort((a, b) => a - b));
    // zebra never seen in training: bucket df 0 (unless it collides), idf = ln(6/1) + 1
    const zebra = hashTerm('zebra') & 1023;
    if (!CORPUS.some((d) => tokenize(d).some((t) => (hashTerm(t) & 1023) === zebra))) {
      expect(f.idf[zebra]).toBeCloseTo(Math.log(6) + 1, 12);
    }
    expect(f.idf[hashTerm('cat') & 1023]).toBeCloseTo(Math.log(6 / 5) + 1, 12);
  });

  it('falls back to hashing only when hashing: true and the vocabulary is too large', () => {
    expect(Featurizer.fit(CORPUS, { minDf: 1, maxFeatures: 3, hashing: true }).mode).toBe('hash');
    expect(Featurizer.fit(CORPUS, { minDf: 1, maxFeatures: 3, hashing: true }).numFeatures).toBe(4); // 2^ceil(log2 3)
    expect(Featurizer.fit(CORPUS, { minDf: 1, maxFeatures: 100, hashing: true }).mode).toBe('vocab');
    expect(Featurizer.fit(CORPUS, { minDf: 1, maxFeatures: 3 }).mode).toBe('vocab');
  });

  it('round-trips through JSON and transforms identically', () => {
    for (const opts of [{ minDf: 1, bigrams: true }, { hashing: 'always' as const, hashBits: 12 }]) {
      const f = Featurizer.fit(CORPUS, opts);
      const g = Featurizer.fromJSON(JSON.parse(JSON.stringify(f)));
      expect(g.numFeatures).toBe(f.numFeatures);
      for (const text of [...CORPUS, 'the unseen dog and cat']) {
        const a = f.transform(text);
        const b = g.transform(text);
        expect(Array.from(b.indices)).toEqual(Array.from(a.indices));
        expect(Array.from(b.values)).toEqual(Array.from(a.values));
      }
    }
    expect(() => Featurizer.fromJSON({ format: 'other' })).toThrow(UsageError);
    const bad = { ...Featurizer.fit(CORPUS).toJSON(), terms: ['x'] };
    expect(() => Featurizer.fromJSON(bad)).toThrow(/terms/);
  });
});

describe('JSONL datasets', () => {
  it('maps string labels in order of first appearance; unknown test labels get new ids', async () => {
    const train = await jsonl([
      { text: 'cat dog', labels: ['pets', 'animals'] },
      { text: 'stock market', labels: ['finance'] },
      { text: 'dog walking', labels: ['pets'] },
      { text: 'nothing', labels: [] },
    ]);
    const test = await jsonl([
      { text: 'dog food', labels: ['pets', 'food'] },
      { text: 'market crash', labels: ['finance', 'crisis', 'food'] },
    ]);
    const { train: tr, test: te, featurizer, labelMap } = await loadTrainTest(train, test, { featurizer: { minDf: 1 } });
    expect(labelMap).toEqual({ kind: 'string', numLabels: 3, names: ['pets', 'animals', 'finance'] });
    expect(tr.labelNames).toEqual(['pets', 'animals', 'finance']);
    expect(tr.labels.cols).toBe(3);
    expect(Array.from(tr.labels.indices)).toEqual([0, 1, 2, 0]);
    expect(Array.from(tr.labels.indptr)).toEqual([0, 2, 3, 4, 4]);
    expect(te!.labels.cols).toBe(5);
    expect(te!.labelNames).toEqual(['pets', 'animals', 'finance', 'food', 'crisis']);
    expect(Array.from(te!.labels.indices)).toEqual([0, 3, 2, 3, 4]);
    expect(te!.features.cols).toBe(featurizer!.numFeatures);
    expect(tr.features.rows).toBe(4);
    expect(await detectFormat(train)).toBe('jsonl');

    const again = await loadDataset(test, { featurizer, labelMap });
    expect(Array.from(again.labels.indices)).toEqual(Array.from(te!.labels.indices));
    await expect(loadDataset(test)).rejects.toThrow(UsageError);
  });

  it('readJsonlTexts: the training texts and the label map that readJsonlTrain makes, without features', async () => {
    const rows = [
      { text: 'cat dog', labels: ['pets', 'animals'] },
      { text: 'stock market', labels: ['finance'] },
      { text: 'nothing', labels: [] },
      { text: 'dog walking', labels: ['pets', 'outdoors'] },
    ];
    const path = await jsonl(rows);
    const { texts, labelMap } = await readJsonlTexts(path);
    expect(texts).toEqual(rows.map((r) => r.text));
    expect(labelMap).toEqual((await readJsonlTrain(path)).labelMap);
    expect(labelMap.names).toEqual(['pets', 'animals', 'finance', 'outdoors']);
  });

  it('uses integer labels as ids; test ids past training widen the test columns', async () => {
    const train = await jsonl([
      { text: 'a b', labels: [4, 1] },
      { text: 'b c', labels: [0] },
    ]);
    const test = await jsonl([{ text: 'a c', labels: [9, 1] }]);
    const { dataset, featurizer, labelMap } = await readJsonlTrain(train, { minDf: 1 });
    expect(labelMap).toEqual({ kind: 'int', numLabels: 5 });
    expect(dataset.labels.cols).toBe(5);
    expect(Array.from(dataset.labels.indices)).toEqual([1, 4, 0]);
    expect(dataset.labelNames).toBeUndefined();
    const te = await readJsonlWithFeaturizer(test, featurizer, labelMap);
    expect(te.labels.cols).toBe(10);
    expect(Array.from(te.labels.indices)).toEqual([1, 9]);
  });

  const bad: [string, (object | string)[], number, string][] = [
    ['bad JSON', [{ text: 'ok', labels: [] }, '{"text": "x", "labels": [1]'], 2, 'bad JSON'],
    ['a non-object line', [{ text: 'ok', labels: [] }, '[1, 2]'], 2, 'expected a JSON object'],
    ['missing text', [{ text: 'ok', labels: [] }, { labels: [1] }], 2, 'missing "text"'],
    ['non-string text', [{ text: 5, labels: [1] }], 1, '"text" must be a string, got number'],
    ['missing labels', [{ text: 'ok', labels: [] }, '', { text: 'x' }], 3, 'missing "labels"'],
    ['non-array labels', [{ text: 'x', labels: 'a' }], 1, '"labels" must be an array, got string'],
    ['mixed label kinds', [{ text: 'a', labels: ['x'] }, { text: 'b', labels: [] }, { text: 'c', labels: [1] }], 3, 'labels mix integer ids and strings'],
    ['a negative label', [{ text: 'a', labels: [-1] }], 1, 'neither a non-negative integer id nor a string'],
    ['a fractional label', [{ text: 'a', labels: [1.5] }], 1, 'neither a non-negative integer id nor a string'],
    ['a duplicate label', [{ text: 'a', labels: ['x', 'y', 'x'] }], 1, 'duplicate label "x"'],
    ['an empty file', [], 1, 'empty file'],
  ];
  for (const [name, lines, line, fragment] of bad) {
    it(`refuses ${name} with file:line`, async () => {
      const path = await jsonl(lines);
      const err = await readJsonlTrain(path).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DataFormatError);
      expect((err as Error).message.startsWith(`${path}:${line}: `), (err as Error).message).toBe(true);
      expect((err as Error).message).toContain(fragment);
    });
  }

  it('refuses test labels of the other kind than training', async () => {
    const train = await jsonl([{ text: 'a', labels: ['x'] }]);
    const test = await jsonl([{ text: 'a', labels: [] }, { text: 'b', labels: [3] }]);
    await expect(loadTrainTest(train, test)).rejects.toThrow(`${test}:2: label 3 is an integer id but the training labels are strings`);
  });

  it('refuses a train/test format mismatch', async () => {
    const train = await jsonl([{ text: 'a', labels: ['x'] }]);
    const xc = join(dir, 'x.txt');
    await writeFile(xc, '1 2 1\n0 1:1\n');
    await expect(loadTrainTest(train, xc)).rejects.toThrow(UsageError);
  });
});
