/**
 * The scoring fan-out's chunks, without a queue: a ScoreFanOut whose chunks are scored by the
 * same code a child runs (scoreChunkFile, a freshly loaded model of the named file) gives the
 * scores of the in-process call bit for bit: with a plain teacher, with cross-fitting fold models,
 * with a batch size that is not the default and a candidates CSR that does not start at 0, with a
 * logits teacher (cut by rows: it computes every label's logit whatever the candidates).
 * ONNX Runtime's scores depend on the batch a row runs in, so this holds only because chunks start
 * on batch boundaries (checked below against a split that does not). A resumed call finds the
 * chunks scored already, a stale output is scored again, and a chunk given up fails the call.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';
import { chunkPaths, planChunks, ScoreFanOut, writeChunkFailure, type ChunkRequest } from '../src/pipeline/score-fan-out.js';
import { scoreChunkFile } from '../src/pipeline/score-chunks.js';
import { FoldedTeacher } from '../src/teacher/folded-teacher.js';
import { FOLDS_FORMAT, foldsManifestPath, labelsFingerprint, type FoldsManifest } from '../src/teacher/folds.js';
import { OnnxTeacher } from '../src/teacher/onnx-teacher.js';
import { exportSparseEncoderOnnx } from '../src/teacher/onnx-export.js';
import { randomTeacherOnnx } from './support/random-teacher.js';

const D = 500;
const L = 300;
const N = 3000;

function randomRows(rng: Rng, rows: number, cols: number, min: number, max: number, values: boolean): Csr {
  const indptr = new Int32Array(rows + 1);
  const idx: number[] = [];
  const vals: number[] = [];
  for (let i = 0; i < rows; i++) {
    const m = min + Math.floor(rng.next() * (max - min + 1));
    const s = new Set<number>();
    while (s.size < m) s.add(Math.floor(rng.next() * cols));
    for (const f of [...s].sort((a, b) => a - b)) {
      idx.push(f);
      vals.push(rng.next());
    }
    indptr[i + 1] = idx.length;
  }
  return { rows, cols, indptr, indices: Int32Array.from(idx), values: values ? Float32Array.from(vals) : null };
}

const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

describe('score chunks put together equal the in-process call', () => {
  let dir: string;
  let teacherPath: string;
  let features: Csr;
  let candidates: Csr;
  const examples = Int32Array.from({ length: N }, (_, i) => i);
  let teacher: OnnxTeacher;
  let folded: FoldedTeacher;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-chunks-'));
    teacherPath = join(dir, 'teacher.onnx');
    const rng = new Rng(3);
    features = randomRows(rng, N, D, 3, 40, true);
    candidates = randomRows(rng, N, L, 1, 30, false);
    await writeFile(teacherPath, randomTeacherOnnx({ inputDim: D, hiddenDim: 48, numLabels: L, seed: 1 }));
    const files = ['teacher.fold0.onnx', 'teacher.fold1.onnx'];
    for (const [k, f] of files.entries()) await writeFile(join(dir, f), randomTeacherOnnx({ inputDim: D, hiddenDim: 48, numLabels: L, seed: 10 + k }));
    const manifest: FoldsManifest = { format: FOLDS_FORMAT, version: 1, folds: 2, seed: 5, trainPoints: N, labelsFingerprint: labelsFingerprint(candidates), files };
    await writeFile(foldsManifestPath(teacherPath), JSON.stringify(manifest));
    teacher = await OnnxTeacher.load(teacherPath);
    folded = (await FoldedTeacher.loadIfPresent(teacherPath, candidates))!;
  });

  afterAll(async () => {
    await teacher?.close();
    await folded?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** A fan-out whose chunks are scored as a child would: model file loaded afresh, scoreChunkFile. */
  function fanOut(sub: string, asked: ChunkRequest[][]): ScoreFanOut {
    const chunkDir = join(dir, sub);
    return new ScoreFanOut({ dir: chunkDir, shardPairs: 4000, pollMs: 5 }, (chunks) => {
      asked.push(chunks);
      void (async () => {
        for (const c of chunks) {
          const model = await OnnxTeacher.load(join(dir, c.model));
          const p = chunkPaths(chunkDir, c.name);
          await scoreChunkFile(model, features, p.input, p.output);
          await model.close();
        }
      })();
    }, () => false);
  }

  it('a plain teacher, default batch: equal bit for bit, in several chunks', async () => {
    const asked: ChunkRequest[][] = [];
    const wrapped = fanOut('plain', asked).wrap(teacher, 'teacher.onnx', (b) => teacher.effectiveBatchSize(b));
    const expected = await teacher.scoreCandidates(features, examples, candidates);
    const got = await wrapped.scoreCandidates(features, examples, candidates);
    expect(asked.flat().length).toBeGreaterThanOrEqual(5);
    // each chunk asked for on its own, as soon as its input is written (workers start on the first while the rest are written)
    expect(asked.every((a) => a.length === 1)).toBe(true);
    expect(bits(got).equals(bits(expected))).toBe(true);

    // asked again (a resumed job): every chunk is there, nothing is scored again
    const before = asked.length;
    const again = await wrapped.scoreCandidates(features, examples, candidates);
    expect(asked).toHaveLength(before);
    expect(bits(again).equals(bits(expected))).toBe(true);
  });

  it('tells each chunk as a part that names its rows, through the fold models too: every pair once, its score as returned', async () => {
    const fan = fanOut('parts', []);
    const wrapped = folded.withModels((m, file) => fan.wrap(m, file, (b) => m.effectiveBatchSize(b)));
    const from = 7;
    const tail: Csr = { rows: N - from, cols: L, indptr: candidates.indptr.subarray(from), indices: candidates.indices, values: null };
    const ex = examples.subarray(from);
    const parts: Array<[Int32Array, Csr, Float32Array]> = [];
    const got = await wrapped.scoreCandidates(features, ex, tail, { onScored: (e, c, s) => parts.push([e.slice(), c, s.slice()]) });
    expect(parts.length).toBeGreaterThanOrEqual(4);
    // a part's candidates index the call's labels; pair (example, label) → the score the call returned for it
    const byPair = new Map<string, number>();
    for (let i = 0; i < ex.length; i++) for (let p = tail.indptr[i]; p < tail.indptr[i + 1]; p++) byPair.set(`${ex[i]}:${tail.indices[p]}`, got[p - tail.indptr[0]]);
    let told = 0;
    for (const [e, c, s] of parts) {
      for (let i = 0; i < e.length; i++) {
        for (let p = c.indptr[i]; p < c.indptr[i + 1]; p++) expect(s[p - c.indptr[0]]).toBe(byPair.get(`${e[i]}:${c.indices[p]}`));
      }
      told += s.length;
    }
    expect(told).toBe(got.length);
  });

  it('cross-fitting fold models, a batch of 100 and candidate rows that start mid-array', async () => {
    const asked: ChunkRequest[][] = [];
    const fan = fanOut('folds', asked);
    const wrapped = folded.withModels((m, file) => fan.wrap(m, file, (b) => m.effectiveBatchSize(b)));
    // rows 7.. of the candidates, without copying: indptr does not start at 0
    const from = 7;
    const tail: Csr = { rows: N - from, cols: L, indptr: candidates.indptr.subarray(from), indices: candidates.indices, values: null };
    const ex = examples.subarray(from);
    const expected = await folded.scoreCandidates(features, ex, tail, { batchSize: 100 });
    const got = await wrapped.scoreCandidates(features, ex, tail, { batchSize: 100 });
    expect(new Set(asked.flat().map((c) => c.model))).toEqual(new Set(['teacher.fold0.onnx', 'teacher.fold1.onnx']));
    expect(bits(got).equals(bits(expected))).toBe(true);
  });

  it('a logits teacher: its work per row is every label, so a call with few pairs still fans out; equal bit for bit', async () => {
    const rng = new Rng(4);
    const path = join(dir, 'logits.onnx');
    await writeFile(path, exportSparseEncoderOnnx({ inputDim: D, hiddenDim: 32, W1: Float32Array.from({ length: D * 32 }, () => rng.normal()), labelTable: Float32Array.from({ length: L * 32 }, () => rng.normal()), numLabels: L, output: 'logits' }));
    const logits = await OnnxTeacher.load(path);
    try {
      // one candidate per row: N pairs, under two chunks of pairs, but N × L logits computed
      const few: Csr = { rows: N, cols: L, indptr: Int32Array.from({ length: N + 1 }, (_, i) => i), indices: Int32Array.from({ length: N }, (_, i) => i % L), values: null };
      const asked: ChunkRequest[][] = [];
      const wrapped = fanOut('logits', asked).wrap(logits, 'logits.onnx', (b) => logits.effectiveBatchSize(b), { perRow: L });
      const expected = await logits.scoreCandidates(features, examples, few);
      const got = await wrapped.scoreCandidates(features, examples, few);
      expect(asked.flat().length).toBeGreaterThanOrEqual(2);
      expect(bits(got).equals(bits(expected))).toBe(true);
    } finally {
      await logits.close();
    }
  });

  it('work weighs pairs or rows: a pair weighing w fills a chunk w times sooner; a row weighs the same whatever its pairs', () => {
    const cp = candidates.indptr;
    expect(planChunks(candidates, 40_000, 32, { perPair: 10 })).toEqual(planChunks(candidates, 4000, 32));
    for (const [s, e] of planChunks(candidates, 4000, 32, { perPair: 10 }).slice(0, -1)) expect(10 * (cp[e] - cp[s])).toBeGreaterThanOrEqual(4000);
    // by rows: every chunk but the last is ceil(100 / 32) batches, however many pairs its rows have
    const byRows = planChunks(candidates, 100 * 1000, 32, { perRow: 1000 });
    expect(byRows.slice(0, -1).every(([s, e]) => e - s === 128)).toBe(true);
    expect(byRows.at(-1)![1]).toBe(N);
  });

  it('chunks start on batch boundaries; a split that does not changes some scores', async () => {
    for (const [s, e] of planChunks(candidates, 4000, 256)) {
      expect(s % 256).toBe(0);
      expect(e === N || e % 256 === 0).toBe(true);
    }
    // why: scored in two calls split at row 300 (not a multiple of 256), some rows differ in the last bits
    const whole = await teacher.scoreCandidates(features, examples, candidates);
    const cut = 300;
    const head = await teacher.scoreCandidates(features, examples.subarray(0, cut), { ...candidates, rows: cut, indptr: candidates.indptr.subarray(0, cut + 1) });
    const rest = await teacher.scoreCandidates(features, examples.subarray(cut), { ...candidates, rows: N - cut, indptr: candidates.indptr.subarray(cut) });
    const joined = new Float32Array(whole.length);
    joined.set(head);
    joined.set(rest, head.length);
    expect(bits(joined).equals(bits(whole))).toBe(false);
  });

  it('a stale output is scored again; a chunk given up fails the call with its kind', async () => {
    const asked: ChunkRequest[][] = [];
    const fan = fanOut('stale', asked);
    const wrapped = fan.wrap(teacher, 'teacher.onnx');
    const expected = await wrapped.scoreCandidates(features, examples, candidates);
    const first = asked.flat();
    const asks = asked.length;
    // an output made from other rows (same name): not taken
    const p0 = chunkPaths(join(dir, 'stale'), first[0].name);
    const p1 = chunkPaths(join(dir, 'stale'), first[1].name);
    await writeFile(p0.output, await readFile(p1.output));
    const again = await wrapped.scoreCandidates(features, examples, candidates);
    expect(asked.slice(asks).flat().map((c) => c.name)).toEqual([first[0].name]);
    expect(bits(again).equals(bits(expected))).toBe(true);

    // a chunk whose child failed for good: the call fails with the child's reason and kind
    await rm(p0.output);
    const refusing = new ScoreFanOut({ dir: join(dir, 'stale'), shardPairs: 4000, pollMs: 5 }, (chunks) => {
      void writeChunkFailure(join(dir, 'stale'), chunks[0].name, { message: 'the model is broken', kind: 'permanent' });
    }, () => false);
    await expect(refusing.wrap(teacher, 'teacher.onnx').scoreCandidates(features, examples, candidates)).rejects.toMatchObject({ code: 'SCORE_CHUNK_FAILED', kind: 'permanent', message: expect.stringContaining('the model is broken') });
  });
});
