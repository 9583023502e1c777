/**
 * A worker's chunk threads (real worker threads, real ONNX Runtime, a generated XC dataset): a
 * chunk scored in a thread gives the in-process scores bit for bit; the thread keeps the job's
 * features and model for its next chunk; a warm-up (the job's hint, sent while it still mines)
 * loads them before the first chunk comes, and a bad warm-up costs nothing but the chunk's error.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { writeSynth } from '../src/core/data/synth.js';
import { poolAsCsr } from '../src/pipeline/score.js';
import { decodeChunkOutput, encodeChunkInput, readIfPresent, sha256Of } from '../src/pipeline/score-chunks.js';
import { OnnxTeacher } from '../src/teacher/onnx-teacher.js';
import { ChunkThreadPool, type ChunkSource } from '../src/worker/chunk-thread-pool.js';
import { randomTeacherOnnx } from './support/random-teacher.js';

const POINTS = 600;
const LABELS = 80;
const FEATURES = 200;

describe('ChunkThreadPool', () => {
  let dir: string;
  let source: ChunkSource;
  let inPaths: string[];
  let expected: Float32Array[];
  let shas: Buffer[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distilxr-chunk-threads-'));
    const files = await writeSynth(join(dir, 'data'), { points: POINTS, features: FEATURES, labels: LABELS, seed: 4 });
    const modelPath = join(dir, 'teacher.onnx');
    await writeFile(modelPath, randomTeacherOnnx({ inputDim: FEATURES, hiddenDim: 16, numLabels: LABELS, seed: 2 }));
    source = { trainPath: files.train, cacheDir: join(dir, 'cache'), modelPath };
    const { train } = await loadTrainTest(files.train, undefined, { cacheDir: source.cacheDir });
    const K = 5;
    const labels = Int32Array.from({ length: POINTS * K }, (_, i) => (i * 7 + Math.floor(i / K)) % LABELS);
    const candidates = poolAsCsr({ size: K, labels, teacherScores: null }, POINTS, LABELS);
    const examples = Int32Array.from({ length: POINTS }, (_, i) => i);
    const teacher = await OnnxTeacher.load(modelPath);
    const all = await teacher.scoreCandidates(train.features, examples, candidates, { batchSize: 64 });
    await teacher.close();
    // three chunks of 192 rows (batch boundaries), as a job's fan-out would cut them
    inPaths = [];
    expected = [];
    shas = [];
    for (const [s, e] of [[0, 192], [192, 384], [384, 576]] as const) {
      const bytes = encodeChunkInput(examples, candidates, s, e, 64);
      const p = join(dir, `c${s}.in`);
      await writeFile(p, bytes);
      inPaths.push(p);
      shas.push(sha256Of(bytes));
      expected.push(all.subarray(candidates.indptr[s], candidates.indptr[e]));
    }
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const outputOf = async (i: number, out: string): Promise<Float32Array | null> => decodeChunkOutput((await readIfPresent(out))!, shas[i]);

  it('scores a chunk bit for bit as in-process, and keeps the features and model for the next one', async () => {
    const pool = new ChunkThreadPool();
    try {
      const first = await pool.run({ ...source, inPath: inPaths[0], outPath: join(dir, 'a0.out') });
      expect(first).toEqual({ type: 'done', pairs: expected[0].length, warm: false });
      expect(Buffer.from((await outputOf(0, join(dir, 'a0.out')))!.buffer).equals(Buffer.from(expected[0].slice().buffer))).toBe(true);
      const second = await pool.run({ ...source, inPath: inPaths[1], outPath: join(dir, 'a1.out') });
      expect(second).toEqual({ type: 'done', pairs: expected[1].length, warm: true });
      expect(await outputOf(1, join(dir, 'a1.out'))).toEqual(expected[1]);
    } finally {
      await pool.close();
    }
  });

  it('a warm-up loads them before the first chunk', async () => {
    const pool = new ChunkThreadPool({ warm: true });
    try {
      pool.warm(source);
      const m = await pool.run({ ...source, inPath: inPaths[2], outPath: join(dir, 'b2.out') });
      expect(m).toEqual({ type: 'done', pairs: expected[2].length, warm: true });
      expect(await outputOf(2, join(dir, 'b2.out'))).toEqual(expected[2]);
      // another model: not what the thread holds, so loaded with the chunk
      const other = join(dir, 'other.onnx');
      await writeFile(other, randomTeacherOnnx({ inputDim: FEATURES, hiddenDim: 8, numLabels: LABELS, seed: 9 }));
      const cold = await pool.run({ ...source, modelPath: other, inPath: inPaths[0], outPath: join(dir, 'b0.out') });
      expect(cold).toMatchObject({ type: 'done', warm: false });
    } finally {
      await pool.close();
    }
  });

  it('a warm-up of a model that does not load leaves the error to the chunk, and the thread serves the next one', async () => {
    const pool = new ChunkThreadPool({ warm: true });
    try {
      const missing = { ...source, modelPath: join(dir, 'missing.onnx') };
      pool.warm(missing);
      const failed = await pool.run({ ...missing, inPath: inPaths[0], outPath: join(dir, 'c0.out') });
      expect(failed).toMatchObject({ type: 'error', message: expect.stringContaining('missing.onnx') });
      const ok = await pool.run({ ...source, inPath: inPaths[1], outPath: join(dir, 'c1.out') });
      expect(ok).toMatchObject({ type: 'done', pairs: expected[1].length });
      expect(await outputOf(1, join(dir, 'c1.out'))).toEqual(expected[1]);
    } finally {
      await pool.close();
    }
  });
});
