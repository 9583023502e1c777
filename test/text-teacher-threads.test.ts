/**
 * Tokenising on threads (TextTeacher's tokenizerThreads) changes where the work is done, not what
 * it gives: the same token ids, the same batches and, bit for bit, the same scores as tokenising on
 * the calling thread, for each kind of the committed fixture bundles, and the scores of the path
 * before threads (every text tokenised whole, bare ONNX Runtime); and the threads go away with
 * the teacher (close, a closed pool, a process that never closes them).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { Csr } from '../src/core/data/csr.js';
import { sessionOptions } from '../src/teacher/contract.js';
import { encodeSequences, type EncodeRequest } from '../src/teacher/text/encoded-sequences.js';
import { batchFeeds, lengthBatches } from '../src/teacher/text/length-batches.js';
import { TextTeacher, TOKENIZE_PIECE_MIN } from '../src/teacher/text/text-teacher.js';
import { TokenizerPool, TokenizerThreadError } from '../src/teacher/text/tokenizer-pool.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/text-teachers/', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const KINDS = ['classifier', 'cross-encoder', 'bi-encoder'] as const;

async function miniTexts(): Promise<string[]> {
  const lines = (await readFile(new URL('./fixtures/text-mini/train.jsonl', import.meta.url), 'utf8')).split('\n').filter((l) => l.trim());
  return lines.map((l) => (JSON.parse(l) as { text: string }).text);
}

/** Row i of `rows` rows: 1 + (i mod k) candidates spread over L labels; every 7th row none. */
function candidatesOf(rows: number, L: number, k: number): Csr {
  const indptr = new Int32Array(rows + 1);
  const indices: number[] = [];
  for (let i = 0; i < rows; i++) {
    if (i % 7 !== 3) for (let j = 0; j <= i % k; j++) indices.push((i * 31 + j * 17) % L);
    indptr[i + 1] = indices.length;
  }
  return { rows, cols: L, indptr, indices: Int32Array.from(indices), values: null };
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

describe('tokeniser threads give what the calling thread gives', () => {
  it.each(KINDS)('%s: scores are bit-identical with 0, 1 and 2 tokeniser threads, at every batch size', async (kind) => {
    const texts = await miniTexts();
    const teachers = await Promise.all([0, 1, 2].map((tokenizerThreads) => TextTeacher.load(FIXTURES + kind, { tokenizerThreads })));
    try {
      const [serial, ...threaded] = teachers;
      expect(teachers.map((t) => t.tokenizerThreads)).toEqual([0, 1, 2]);
      const names = serial.labelNames!;
      const binding = serial.bindLabels(names);
      const rows = kind === 'cross-encoder' ? 160 : texts.length; // a cross-encoder runs once per pair
      const examples = Int32Array.from({ length: rows }, (_, i) => (i * 13) % texts.length); // out of order, with repeats
      const cands = candidatesOf(rows, names.length, 5);
      const sequences = kind === 'cross-encoder' ? cands.indptr[rows] : rows - Math.floor((rows + 3) / 7);
      expect(sequences).toBeGreaterThanOrEqual(3 * TOKENIZE_PIECE_MIN); // several pieces: the threads take some
      for (const batchSize of [1, 7, 32]) {
        const want = await serial.scoreTexts(texts, examples, cands, binding, { batchSize });
        expect(want.length).toBe(cands.indptr[rows]);
        for (const t of threaded) {
          const progress: number[] = [];
          const got = await t.scoreTexts(texts, examples, cands, binding, { batchSize, onProgress: (done) => progress.push(done) });
          expect(sameBits(got, want)).toBe(true);
          expect(progress.at(-1)).toBe(sequences);
          expect((t as unknown as { pool: TokenizerPool }).pool.running).toBeGreaterThan(0);
        }
      }
    } finally {
      await Promise.all(teachers.map((t) => t.close()));
    }
  });

  it('classifier: the scores are those of tokenising every text whole, sorting all by length and running bare ONNX Runtime', async () => {
    const texts = await miniTexts();
    const t = await TextTeacher.load(FIXTURES + 'classifier', { tokenizerThreads: 1 });
    const session = await ort.InferenceSession.create(`${FIXTURES}classifier/model.onnx`, sessionOptions());
    try {
      const m = t.manifest;
      const binding = t.bindLabels(t.labelNames!);
      const rows = texts.length;
      const cands = candidatesOf(rows, t.labelNames!.length, 4);
      const got = await t.scoreTexts(texts, Int32Array.from(texts.keys()), cands, binding, { batchSize: 16 });
      // the path before tokeniser threads and tokenizeHead, by hand
      const kept = Array.from(texts.keys()).filter((i) => cands.indptr[i + 1] > cands.indptr[i]);
      const seqs = kept.map((i) => t.tokenizer.encodeTokens(t.tokenizer.tokenize(texts[i]), null, m.max_length));
      const want = new Float32Array(got.length);
      for (const b of lengthBatches(seqs, 16)) {
        const out = (await session.run(batchFeeds(seqs, b, m.inputs, t.tokenizer.padId)))[m.output];
        const L = out.dims[1];
        for (let k = 0; k < b.length; k++) {
          const i = kept[b[k]];
          for (let p = cands.indptr[i]; p < cands.indptr[i + 1]; p++) want[p] = (out.data as Float32Array)[k * L + binding.column[cands.indices[p]]];
        }
      }
      expect(sameBits(got, want)).toBe(true);
    } finally {
      await session.release();
      await t.close();
    }
  });

  it('a tokeniser thread encodes a piece into the same token ids as this thread', async () => {
    const texts = await miniTexts();
    const t = await TextTeacher.load(FIXTURES + 'cross-encoder', { tokenizerThreads: 0 });
    const pool = new TokenizerPool(t.tokenizer.source, 1);
    try {
      const single: EncodeRequest = { texts: texts.slice(0, 50), textOf: null, pairs: null, maxLength: t.manifest.max_length };
      const pairs: EncodeRequest = { texts: texts.slice(0, 3), textOf: Int32Array.of(0, 0, 1, 2, 2, 2), pairs: ['games', 'a strategy game', 'games', 'x11', 'admin tools', 'x11'], maxLength: t.manifest.max_length };
      for (const req of [single, pairs]) {
        const here = encodeSequences(t.tokenizer, req, new Map());
        const there = await pool.encode(req);
        expect(Array.from(there.offsets)).toEqual(Array.from(here.offsets));
        expect(Array.from(there.ids)).toEqual(Array.from(here.ids));
        expect(Array.from(there.typeIds)).toEqual(Array.from(here.typeIds));
      }
      expect(Array.from(encodeSequences(t.tokenizer, pairs, new Map()).typeIds)).toContain(1); // the pairs carry their second text
    } finally {
      await pool.close();
      await t.close();
    }
  });
});

describe('tokeniser threads end with their teacher', () => {
  it('start on the first call of several pieces of work, not for one, and stop at close', async () => {
    const texts = await miniTexts();
    const t = await TextTeacher.load(FIXTURES + 'classifier', { tokenizerThreads: 2 });
    const pool = (t as unknown as { pool: TokenizerPool }).pool;
    const binding = t.bindLabels(t.labelNames!);
    expect(pool.running).toBe(0); // the trial run at load tokenised here
    await t.scoreTexts(texts, Int32Array.of(0, 1, 2), candidatesOf(3, t.labelNames!.length, 2), binding);
    expect(pool.running).toBe(0); // one piece: tokenised here
    const rows = texts.length;
    await t.scoreTexts(texts, Int32Array.from(texts.keys()), candidatesOf(rows, t.labelNames!.length, 3), binding, { batchSize: 8 });
    expect(pool.running).toBeGreaterThan(0);
    await t.close();
    expect(pool.running).toBe(0);
    await expect(t.scoreTexts(texts, Int32Array.of(0), candidatesOf(1, t.labelNames!.length, 1), binding)).rejects.toThrow(/closed/);
  });

  it('a request in flight when the pool closes is rejected (retriable), and a closed pool takes no more', async () => {
    const texts = await miniTexts();
    const t = await TextTeacher.load(FIXTURES + 'classifier', { tokenizerThreads: 0 });
    const pool = new TokenizerPool(t.tokenizer.source, 1);
    try {
      const pending = pool.encode({ texts: [...texts, ...texts, ...texts], textOf: null, pairs: null, maxLength: t.manifest.max_length });
      const settled = pending.then(() => null, (err: unknown) => err);
      await pool.close();
      const e = await settled;
      expect(e).toBeInstanceOf(TokenizerThreadError);
      expect((e as TokenizerThreadError).kind).toBe('retriable');
      await expect(pool.encode({ texts: ['x'], textOf: null, pairs: null, maxLength: 8 })).rejects.toBeInstanceOf(TokenizerThreadError);
    } finally {
      await t.close();
    }
  });

  it('idle tokeniser threads do not keep a process alive that never closes its teacher', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tok-threads-'));
    const file = join(dir, 'never-closes.mts');
    await writeFile(file, `
      import { TextTeacher } from ${JSON.stringify(`${ROOT}src/teacher/text/text-teacher.ts`)};
      const t = await TextTeacher.load(${JSON.stringify(FIXTURES + 'classifier')}, { tokenizerThreads: 2 });
      const texts = Array.from({ length: 200 }, (_, i) => 'text number ' + i + ' about games and tools');
      const L = t.labelNames.length;
      const cands = { rows: 200, cols: L, indptr: Int32Array.from({ length: 201 }, (_, i) => i), indices: new Int32Array(200), values: null };
      const s = await t.scoreTexts(texts, Int32Array.from(texts.keys()), cands, t.bindLabels(t.labelNames), { batchSize: 4 });
      console.log('scored', s.length, t['pool'].running > 0);
    `);
    try {
      const r = spawnSync(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('scored 200 true');
      expect(r.status).toBe(0); // exited by itself (a hang would be killed by the timeout: status null)
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
