/**
 * Text-teacher scoring throughput: TextTeacher.scoreTexts against bare `InferenceSession.run` on
 * the same batches of the same model, with tokenisation timed on its own.
 *
 *   npx tsx bench/text-teacher-scoring.ts [--bundle DIR] [--rows 512] [--k 20] [--reps 5] [--threads 1]
 *
 * Paths (run alternately, median of the repetitions):
 *   tokenise  TextTokenizer.encode of every text (truncated to max_length)
 *   bare      ort.InferenceSession.run over the length-sorted batches, tensors built outside the timing
 *   teacher   TextTeacher.scoreTexts: tokenise, batch by length, pack tensors, run, gather K scores per row
 * "teacher − tokenise" against "bare" is the overhead of distilxr's side (target ≥ 0.9 of bare's
 * throughput). Texts: the first rows of debtags' test split. Prints a table, writes
 * bench/results/text-teacher-scoring.json. Benchmark, not a test.
 */
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import type { Csr } from '../src/core/data/csr.js';
import { readTexts } from '../src/pipeline/job-teacher.js';
import { sessionOptions } from '../src/teacher/contract.js';
import { batchFeeds, lengthBatches } from '../src/teacher/text/length-batches.js';
import { TEXT_BATCH, TextTeacher } from '../src/teacher/text/text-teacher.js';
import { DATASETS_DIR, RESULTS_DIR, machineInfo, mdTable, median, positiveInt, writeJson } from './lib.js';

const { values: args } = parseArgs({
  options: {
    bundle: { type: 'string', default: 'test/fixtures/text-teachers/classifier' },
    rows: { type: 'string', default: '512' },
    k: { type: 'string', default: '20' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1' },
    batch: { type: 'string', default: String(TEXT_BATCH) },
  },
});
const ROWS = positiveInt('rows', args.rows);
const K = positiveInt('k', args.k);
const REPS = positiveInt('reps', args.reps);
const THREADS = positiveInt('threads', args.threads);
const BATCH = positiveInt('batch', args.batch);
const bundle = resolve(args.bundle!);

const texts = (await readTexts(join(DATASETS_DIR, 'debtags', 'test.jsonl'))).slice(0, ROWS);
const teacher = await TextTeacher.load(bundle, { intraOpThreads: THREADS });
if (teacher.kind !== 'classifier' && teacher.kind !== 'bi-encoder') throw new Error(`this bench runs one sequence per row: a ${teacher.kind} is not measured here`);
const names = teacher.labelNames!;
const binding = teacher.bindLabels(names);
const L = names.length;
// K candidates per row, spread over the labels
const indptr = Int32Array.from({ length: texts.length + 1 }, (_, i) => i * K);
const indices = Int32Array.from({ length: texts.length * K }, (_, p) => (p * 7919) % L);
const candidates: Csr = { rows: texts.length, cols: L, indptr, indices, values: null };
const examples = Int32Array.from(texts.keys());

const m = teacher.manifest;
const seqs = texts.map((t) => teacher.tokenizer.encode(t, null, m.max_length));
const batches = lengthBatches(seqs, BATCH);
const feeds = batches.map((b) => batchFeeds(seqs, b, m.inputs, teacher.tokenizer.padId));
const bare = await ort.InferenceSession.create(join(bundle, 'model.onnx'), sessionOptions({ intraOpThreads: THREADS }));

const times: Record<'tokenise' | 'bare' | 'teacher', number[]> = { tokenise: [], bare: [], teacher: [] };
const paths: [keyof typeof times, () => Promise<void>][] = [
  ['tokenise', async () => void texts.map((t) => teacher.tokenizer.encode(t, null, m.max_length))],
  ['bare', async () => {
    for (const f of feeds) await bare.run(f, [m.output]);
  }],
  ['teacher', async () => void (await teacher.scoreTexts(texts, examples, candidates, binding, { batchSize: BATCH }))],
];
for (const [, fn] of paths) await fn(); // warm-up
for (let r = 0; r < REPS; r++) {
  for (let i = 0; i < paths.length; i++) {
    const [name, fn] = paths[(i + r) % paths.length];
    const t0 = performance.now();
    await fn();
    times[name].push((performance.now() - t0) / 1000);
  }
}
await bare.release();
await teacher.close();

const sec = { tokenise: median(times.tokenise), bare: median(times.bare), teacher: median(times.teacher) };
const net = Math.max(1e-9, sec.teacher - sec.tokenise);
const rowsPerS = (s: number) => (texts.length / s).toFixed(0);
const tokens = seqs.reduce((s, q) => s + q.ids.length, 0);
console.log(`${bundle}: ${teacher.kind}, max_length ${m.max_length}, ${texts.length} debtags texts (${(tokens / texts.length).toFixed(1)} tokens each), K=${K}, batch ${BATCH}, ${THREADS} thread(s), median of ${REPS}\n`);
console.log(mdTable(['path', 'seconds', 'rows/s', 'vs bare'], [
  ['tokenise', sec.tokenise.toFixed(3), rowsPerS(sec.tokenise), ''],
  ['bare InferenceSession.run', sec.bare.toFixed(3), rowsPerS(sec.bare), '1.00'],
  ['teacher (all)', sec.teacher.toFixed(3), rowsPerS(sec.teacher), (sec.bare / sec.teacher).toFixed(2)],
  ['teacher − tokenise', net.toFixed(3), rowsPerS(net), (sec.bare / net).toFixed(2)],
]));
await writeJson(join(RESULTS_DIR, 'text-teacher-scoring.json'), { machine: machineInfo(), bundle, kind: teacher.kind, rows: texts.length, k: K, batch: BATCH, threads: THREADS, reps: REPS, times, median: sec });
