import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsrBuilder, type Csr } from '../src/core/data/csr.js';
import { ContractError, DistilxrError } from '../src/core/util/errors.js';
import { Rng } from '../src/core/util/rng.js';
import { exportSparseEncoderOnnx, scoreSparseEncoder, type SparseEncoderModel } from '../src/teacher/onnx-export.js';
import { OnnxTeacher, type CandidateScorer, type ScoreOptions } from '../src/teacher/onnx-teacher.js';
import { TeacherScoreCache } from '../src/teacher/score-cache.js';

const D = 30;
const H = 8;
const L = 40;
const N = 23;

function randomModel(rng: Rng, output: 'logits' | 'scores'): SparseEncoderModel {
  const arr = (n: number) => {
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = rng.normal();
    return a;
  };
  return {
    inputDim: D,
    hiddenDim: H,
    W1: arr(D * H),
    b1: arr(H),
    activation: 'relu',
    normalize: true,
    labelTable: arr(L * H),
    numLabels: L,
    labelBias: arr(L),
    scale: 4,
    output,
  };
}

/** Rows of distinct sorted column ids, lengths in [0, maxLen]; row 2 is always empty. */
function randomCsr(rng: Rng, rows: number, cols: number, maxLen: number, withValues: boolean): Csr {
  const b = new CsrBuilder(withValues, rows, rows * maxLen);
  for (let r = 0; r < rows; r++) {
    const n = r === 2 ? 0 : rng.int(maxLen + 1);
    const set = new Set<number>();
    while (set.size < n) set.add(rng.int(cols));
    for (const c of [...set].sort((x, y) => x - y)) b.push(c, withValues ? rng.normal() : 1);
    b.endRow();
  }
  return b.build(cols);
}

function reference(m: SparseEncoderModel, features: Csr, examples: Int32Array, candidates: Csr): Float32Array {
  const out = new Float32Array(candidates.indices.length);
  for (let i = 0; i < examples.length; i++) {
    const r = examples[i];
    const ids = features.indices.subarray(features.indptr[r], features.indptr[r + 1]);
    const vals = features.values!.subarray(features.indptr[r], features.indptr[r + 1]);
    const cands = candidates.indices.subarray(candidates.indptr[i], candidates.indptr[i + 1]);
    out.set(scoreSparseEncoder(m, ids, vals, cands), candidates.indptr[i]);
  }
  return out;
}

function expectClose(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= 1e-4 * Math.max(1, Math.abs(expected[i])))) {
      throw new Error(`entry ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

/** Wraps a real teacher and records every pair it is asked to score. */
class CountingScorer implements CandidateScorer {
  readonly seen = new Set<number>();
  scored = 0;
  repeats = 0;
  constructor(private readonly inner: CandidateScorer) {}
  scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr, opts?: ScoreOptions): Promise<Float32Array> {
    for (let i = 0; i < examples.length; i++) {
      for (let p = candidates.indptr[i]; p < candidates.indptr[i + 1]; p++) {
        const key = examples[i] * L + candidates.indices[p];
        if (this.seen.has(key)) this.repeats++;
        this.seen.add(key);
        this.scored++;
      }
    }
    return this.inner.scoreCandidates(features, examples, candidates, opts);
  }
}

const rng = new Rng(11);
const models = { scores: randomModel(rng, 'scores'), logits: randomModel(rng, 'logits') };
const features = randomCsr(rng, N, D, 7, true);
const teachers: Partial<Record<'scores' | 'logits', OnnxTeacher>> = {};
let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'distilxr-teacher-'));
  const path = join(dir, 'scores.onnx');
  await writeFile(path, exportSparseEncoderOnnx(models.scores));
  teachers.scores = await OnnxTeacher.load(path); // from a file
  teachers.logits = await OnnxTeacher.load(exportSparseEncoderOnnx(models.logits), { intraOpThreads: 2 }); // from bytes
});

afterAll(async () => {
  await teachers.scores?.close();
  await teachers.logits?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('OnnxTeacher.scoreCandidates', () => {
  for (const kind of ['scores', 'logits'] as const) {
    it(`${kind} teacher: ragged candidate rows equal the JS reference, at any batch size`, async () => {
      const teacher = teachers[kind]!;
      expect(teacher.kind).toBe(kind);
      expect(teacher.numLabels).toBe(L);
      const examples = Int32Array.from({ length: 17 }, (_, i) => (i * 5) % N); // repeats some rows
      const candidates = randomCsr(new Rng(5), examples.length, L, 9, false);
      const expected = reference(models[kind], features, examples, candidates);
      expectClose(await teacher.scoreCandidates(features, examples, candidates), expected);
      const progress: number[] = [];
      const small = await teacher.scoreCandidates(features, examples, candidates, {
        batchSize: 4,
        onProgress: (done, total) => progress.push(done, total),
      });
      expectClose(small, expected);
      expect(progress).toEqual([4, 17, 8, 17, 12, 17, 16, 17, 17, 17]);
      const one = await teacher.scoreCandidates(features, examples, candidates, { batchSize: 1 });
      expectClose(one, expected);
    });
  }

  it('serialises concurrent calls on one teacher', async () => {
    const teacher = teachers.scores!;
    const a = randomCsr(new Rng(1), N, L, 6, false);
    const b = randomCsr(new Rng(2), N, L, 6, false);
    const ex = Int32Array.from({ length: N }, (_, i) => i);
    const [sa, sb] = await Promise.all([teacher.scoreCandidates(features, ex, a, { batchSize: 5 }), teacher.scoreCandidates(features, ex, b, { batchSize: 7 })]);
    expectClose(sa, reference(models.scores, features, ex, a));
    expectClose(sb, reference(models.scores, features, ex, b));
  });

  it('refuses a candidate label >= numLabels and a mismatched row count', async () => {
    const bad: Csr = { rows: 1, cols: L + 1, indptr: Int32Array.of(0, 2), indices: Int32Array.of(3, L), values: null };
    await expect(teachers.scores!.scoreCandidates(features, Int32Array.of(0), bad)).rejects.toThrow(ContractError);
    await expect(teachers.logits!.scoreCandidates(features, Int32Array.of(0), bad)).rejects.toThrow(
      `candidate label ${L} is out of range: the teacher has ${L} labels`,
    );
    await expect(teachers.scores!.scoreCandidates(features, Int32Array.of(0, 1), bad)).rejects.toThrow(/1 rows but there are 2 examples/);
  });
});

describe('TeacherScoreCache', () => {
  it('never re-scores a pair and returns the same scores after a re-mine with overlapping pools', async () => {
    const counter = new CountingScorer(teachers.scores!);
    const cache = new TeacherScoreCache(N);
    const examples = Int32Array.from({ length: N }, (_, i) => i);
    const pool1 = randomCsr(new Rng(21), N, L, 12, false);
    const r1 = await cache.scoreWithCache(counter, features, examples, pool1, { batchSize: 6 });
    expect(r1.newlyScored).toBe(pool1.indices.length);
    expectClose(r1.scores, reference(models.scores, features, examples, pool1));

    // Re-mine: a new pool per example, overlapping the first; a repeated example; a duplicate label.
    const pool2 = randomCsr(new Rng(22), N, L, 12, false);
    const union = new Set<number>();
    for (const pool of [pool1, pool2]) {
      for (let i = 0; i < N; i++) for (let p = pool.indptr[i]; p < pool.indptr[i + 1]; p++) union.add(i * L + pool.indices[p]);
    }
    const r2 = await cache.scoreWithCache(counter, features, examples, pool2);
    expectClose(r2.scores, reference(models.scores, features, examples, pool2));
    expect(r2.newlyScored).toBe(union.size - pool1.indices.length);
    expect(counter.repeats).toBe(0);
    expect(counter.scored).toBe(union.size);
    expect(cache.size).toBe(union.size);

    const ex3 = Int32Array.of(4, 4, 0);
    const c3: Csr = { rows: 3, cols: L, indptr: Int32Array.of(0, 3, 6, 8), indices: Int32Array.of(39, 1, 39, 1, 38, 0, 7, 7), values: null };
    const before = counter.scored;
    const r3 = await cache.scoreWithCache(counter, features, ex3, c3);
    expect(counter.repeats).toBe(0);
    expect(counter.scored - before).toBe(r3.newlyScored);
    expectClose(r3.scores, reference(models.scores, features, ex3, c3));
    const r4 = await cache.scoreWithCache(counter, features, ex3, c3);
    expect(r4.newlyScored).toBe(0);
    expect(Array.from(r4.scores)).toEqual(Array.from(r3.scores));
  });

  it("an empty cache's first call sends its rows as they are, unless a repeated example, a repeated label or an empty row must be merged first", async () => {
    const examples = Int32Array.from({ length: N }, (_, i) => i);
    const pool = randomCsr(new Rng(23), N, L, 12, false);
    const fast = new CountingScorer(teachers.scores!);
    const r = await new TeacherScoreCache(N).scoreWithCache(fast, features, examples, pool);
    expect(r.newlyScored).toBe(pool.indices.length);
    expect(fast.scored).toBe(pool.indices.length);
    expectClose(r.scores, reference(models.scores, features, examples, pool));
    const ex: Int32Array[] = [Int32Array.of(4, 4, 0), Int32Array.of(4, 2), Int32Array.of(4, 2, 0)];
    const rows: Csr[] = [
      { rows: 3, cols: L, indptr: Int32Array.of(0, 2, 4, 5), indices: Int32Array.of(39, 1, 38, 1, 7), values: null }, // example 4 twice
      { rows: 2, cols: L, indptr: Int32Array.of(0, 3, 4), indices: Int32Array.of(39, 1, 39, 7), values: null }, // label 39 twice in a row
      { rows: 3, cols: L, indptr: Int32Array.of(0, 2, 2, 3), indices: Int32Array.of(39, 1, 7), values: null }, // an empty row
    ];
    for (let k = 0; k < rows.length; k++) {
      const counter = new CountingScorer(teachers.scores!);
      const got = await new TeacherScoreCache(N).scoreWithCache(counter, features, ex[k], rows[k]);
      expect(counter.repeats).toBe(0);
      expect(got.newlyScored).toBe(counter.scored);
      expect(counter.scored).toBe(new Set(Array.from(ex[k]).flatMap((e, i) => Array.from(rows[k].indices.subarray(rows[k].indptr[i], rows[k].indptr[i + 1]), (y) => e * L + y))).size);
      expectClose(got.scores, reference(models.scores, features, ex[k], rows[k]));
    }
  });

  it('stores the parts a scorer tells as they come (its first call and a later one), and what it did not tell at the end', async () => {
    /** Scores the call whole, then tells rows [0, half) as a part, and the rest too unless `onlyFirst`. */
    class PartsScorer implements CandidateScorer {
      parts = 0;
      constructor(
        private readonly onlyFirst: boolean,
        private readonly afterFirst: () => void,
      ) {}
      async scoreCandidates(features: Csr, examples: Int32Array, candidates: Csr, opts?: ScoreOptions): Promise<Float32Array> {
        const s = await teachers.scores!.scoreCandidates(features, examples, candidates);
        const cp = candidates.indptr;
        const tell = (a: number, b: number): void => {
          this.parts++;
          opts?.onScored?.(examples.subarray(a, b), { ...candidates, rows: b - a, indptr: cp.subarray(a, b + 1) }, s.slice(cp[a] - cp[0], cp[b] - cp[0]));
        };
        const half = examples.length >> 1;
        tell(0, half);
        this.afterFirst();
        if (!this.onlyFirst) tell(half, examples.length);
        return s;
      }
    }
    const examples = Int32Array.from({ length: N }, (_, i) => i);
    const pool1 = randomCsr(new Rng(24), N, L, 12, false);
    const pool2 = randomCsr(new Rng(25), N, L, 12, false);
    const plain = new TeacherScoreCache(N);
    for (const pool of [pool1, pool2]) await plain.scoreWithCache(teachers.scores!, features, examples, pool);
    for (const onlyFirst of [false, true]) {
      const cache = new TeacherScoreCache(N);
      let stored = 0; // pairs in the cache once the first part was told, before the call returned
      const scorer = new PartsScorer(onlyFirst, () => {
        stored = cache.size;
      });
      for (const pool of [pool1, pool2]) {
        const before = cache.size;
        const r = await cache.scoreWithCache(scorer, features, examples, pool);
        expect(stored).toBeGreaterThan(before);
        expect(stored).toBeLessThan(cache.size);
        expectClose(r.scores, reference(models.scores, features, examples, pool));
      }
      expect(scorer.parts).toBe(onlyFirst ? 2 : 4);
      expect(cache.serialize().equals(plain.serialize())).toBe(true);
    }
  });

  it('insert keeps the first score, sorts unsorted rows; lookup throws on a missing pair', () => {
    const cache = new TeacherScoreCache(3);
    const rows: Csr = { rows: 2, cols: 10, indptr: Int32Array.of(0, 4, 6), indices: Int32Array.of(9, 2, 5, 2, 1, 0), values: null };
    cache.insert(Int32Array.of(1, 2), rows, Float32Array.of(0.9, 0.2, 0.5, 99, 0.1, 0.0));
    expect(cache.size).toBe(5);
    expect(cache.get(1, 2)).toBeCloseTo(0.2);
    cache.insert(Int32Array.of(1), { rows: 1, cols: 10, indptr: Int32Array.of(0, 2), indices: Int32Array.of(5, 7), values: null }, Float32Array.of(-1, 0.7));
    expect(cache.size).toBe(6);
    expect(cache.get(1, 5)).toBeCloseTo(0.5);
    expect(cache.get(1, 7)).toBeCloseTo(0.7);
    const q: Csr = { rows: 1, cols: 10, indptr: Int32Array.of(0, 4), indices: Int32Array.of(7, 9, 2, 5), values: null };
    expect(Array.from(cache.lookup(Int32Array.of(1), q))).toEqual(Array.from(Float32Array.of(0.7, 0.9, 0.2, 0.5)));
    const miss = cache.missing(Int32Array.of(1, 0), { rows: 2, cols: 10, indptr: Int32Array.of(0, 3, 4), indices: Int32Array.of(3, 2, 8, 2), values: null });
    expect(Array.from(miss.indptr)).toEqual([0, 2, 3]);
    expect(Array.from(miss.indices)).toEqual([3, 8, 2]);
    expect(() => cache.lookup(Int32Array.of(0), { rows: 1, cols: 10, indptr: Int32Array.of(0, 1), indices: Int32Array.of(2), values: null })).toThrow(
      /no cached teacher score for example 0, label 2/,
    );
  });

  it('insert keeps the first occurrence of each label, against a plain reference, on random rows with repeats', () => {
    const rng = new Rng(12);
    const N = 50;
    const cache = new TeacherScoreCache(N);
    const reference = Array.from({ length: N }, () => new Map<number, number>());
    for (let round = 0; round < 3; round++) {
      const b = new CsrBuilder(false, N, 16);
      const scores: number[] = [];
      for (let r = 0; r < N; r++) {
        const n = Math.floor(rng.next() * 120);
        for (let k = 0; k < n; k++) {
          const y = Math.floor(rng.next() * 60); // many repeats within a row and across rounds
          const v = Math.fround(rng.normal());
          b.push(y);
          scores.push(v);
          if (!reference[r].has(y)) reference[r].set(y, v);
        }
        b.endRow();
      }
      cache.insert(Int32Array.from({ length: N }, (_, i) => i), b.build(60), Float32Array.from(scores));
    }
    expect(cache.size).toBe(reference.reduce((a, m) => a + m.size, 0));
    for (let r = 0; r < N; r++) for (const [y, v] of reference[r]) expect(cache.get(r, y)).toBe(v);
  });

  it('serialises and deserialises to the same contents', () => {
    const cache = new TeacherScoreCache(N);
    const examples = Int32Array.from({ length: N }, (_, i) => i);
    const pool = randomCsr(new Rng(31), N, L, 10, false);
    const scores = Float32Array.from({ length: pool.indices.length }, (_, i) => Math.sin(i));
    cache.insert(examples, pool, scores);
    const buf = cache.serialize();
    const copy = TeacherScoreCache.deserialize(new Uint8Array(buf.subarray(0))); // any Uint8Array
    expect(copy.size).toBe(cache.size);
    expect(copy.numExamples).toBe(N);
    expect(Array.from(copy.lookup(examples, pool))).toEqual(Array.from(scores));
    expect(copy.missing(examples, pool).indices.length).toBe(0);
    expect(Buffer.compare(copy.serialize(), buf)).toBe(0);
    // Unaligned input (offset 1 in a larger buffer) still reads.
    const shifted = new Uint8Array(buf.length + 1);
    shifted.set(buf, 1);
    expect(TeacherScoreCache.deserialize(shifted.subarray(1)).size).toBe(cache.size);
    expect(() => TeacherScoreCache.deserialize(buf.subarray(0, buf.length - 4))).toThrow(DistilxrError);
    expect(() => TeacherScoreCache.deserialize(Buffer.from('nope nope nope nope nope nope'))).toThrow(/corrupt teacher score cache: bad magic/);
  });
});
