/**
 * Text-teacher scoring throughput: TextTeacher.scoreTexts, tokenising on this thread and on
 * tokeniser threads, against bare `InferenceSession.run` on the same batches of the same model,
 * with tokenisation timed on its own.
 *
 *   npx tsx bench/text-teacher-scoring.ts [--bundle DIR] [--rows 2048] [--k 20] [--reps 5] [--threads 1]
 *                                         [--tokenizer-threads 1] [--batch 32] [--json NAME]
 *
 * Paths (run alternately, rotated each repetition, median of the repetitions):
 *   tokenise  TextTokenizer.encode of every text on this thread (truncated to max_length; only the
 *             head of a long text is tokenised, see tokenizeHead; ASCII texts through AsciiWordPiece)
 *   library   the same ids from every text tokenised whole by @huggingface/tokenizers, then
 *             truncated: how encode worked before tokenizeHead and AsciiWordPiece, for reference
 *   bare      ort.InferenceSession.run over the same batches by length (lengthBatches) as the
 *             teacher's, tensors built outside the timing
 *   serial    TextTeacher.scoreTexts with tokenizerThreads 0: tokenise every text, then run the
 *             batches, on this thread
 *   threaded  TextTeacher.scoreTexts with --tokenizer-threads threads tokenising beside this one
 * Target: threaded ≥ 0.9 of bare's throughput with tokenisation included (issue 11). "serial −
 * tokenise" against bare is distilxr's own overhead. Texts: the first rows of debtags' test split
 * (repeated past its 4,518). Prints a table, writes bench/results/text-teacher-scoring.json (or --json NAME). Benchmark, not a test.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Tokenizer } from '@huggingface/tokenizers';
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
    rows: { type: 'string', default: '2048' },
    k: { type: 'string', default: '20' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', default: '1' },
    'tokenizer-threads': { type: 'string', default: '1' },
    batch: { type: 'string', default: String(TEXT_BATCH) },
    json: { type: 'string', default: 'text-teacher-scoring.json' },
  },
});
const ROWS = positiveInt('rows', args.rows);
const K = positiveInt('k', args.k);
const REPS = positiveInt('reps', args.reps);
const THREADS = positiveInt('threads', args.threads);
const TOK_THREADS = positiveInt('tokenizer-threads', args['tokenizer-threads']);
const BATCH = positiveInt('batch', args.batch);
const bundle = resolve(args.bundle!);
const load0 = loadavg()[0];

const all = await readTexts(join(DATASETS_DIR, 'debtags', 'test.jsonl'));
const texts = Array.from({ length: ROWS }, (_, i) => all[i % all.length]);
const serial = await TextTeacher.load(bundle, { intraOpThreads: THREADS, tokenizerThreads: 0 });
const threaded = await TextTeacher.load(bundle, { intraOpThreads: THREADS, tokenizerThreads: TOK_THREADS });
if (serial.kind !== 'classifier' && serial.kind !== 'bi-encoder') throw new Error(`this bench runs one sequence per row: a ${serial.kind} is not measured here`);
const names = serial.labelNames!;
const binding = serial.bindLabels(names);
const L = names.length;
// K candidates per row, spread over the labels
const indptr = Int32Array.from({ length: texts.length + 1 }, (_, i) => i * K);
const indices = Int32Array.from({ length: texts.length * K }, (_, p) => (p * 7919) % L);
const candidates: Csr = { rows: texts.length, cols: L, indptr, indices, values: null };
const examples = Int32Array.from(texts.keys());

const m = serial.manifest;
const tok = serial.tokenizer;
const seqs = texts.map((t) => tok.encode(t, null, m.max_length));
const cfg = await readFile(join(bundle, 'tokenizer_config.json'), 'utf8').catch(() => '{}');
const lib = new Tokenizer(JSON.parse(await readFile(join(bundle, 'tokenizer.json'), 'utf8')), JSON.parse(cfg));
// the ids must be the library's, every text tokenised whole
seqs.forEach((q, i) => {
  const want = tok.encodeTokens(lib.tokenize(texts[i]), null, m.max_length).ids;
  if (want.length !== q.ids.length || want.some((id, t) => id !== q.ids[t])) throw new Error(`text ${i}: ids differ from @huggingface/tokenizers'`);
});
const feeds = lengthBatches(seqs, BATCH).map((b) => batchFeeds(seqs, b, m.inputs, tok.padId));
const bare = await ort.InferenceSession.create(join(bundle, 'model.onnx'), sessionOptions({ intraOpThreads: THREADS }));

// the two teacher paths must agree bit for bit
const a = await serial.scoreTexts(texts, examples, candidates, binding, { batchSize: BATCH });
const b = await threaded.scoreTexts(texts, examples, candidates, binding, { batchSize: BATCH });
if (Buffer.compare(Buffer.from(a.buffer), Buffer.from(b.buffer)) !== 0) throw new Error('the threaded path scores differ from the serial one');

type PathName = 'tokenise' | 'library' | 'bare' | 'serial' | 'threaded';
const times: Record<PathName, number[]> = { tokenise: [], library: [], bare: [], serial: [], threaded: [] };
const paths: [PathName, () => Promise<void>][] = [
  ['tokenise', async () => void texts.map((t) => tok.encode(t, null, m.max_length))],
  ['library', async () => void texts.map((t) => tok.encodeTokens(lib.tokenize(t), null, m.max_length))],
  ['bare', async () => {
    for (const f of feeds) await bare.run(f, [m.output]);
  }],
  ['serial', async () => void (await serial.scoreTexts(texts, examples, candidates, binding, { batchSize: BATCH }))],
  ['threaded', async () => void (await threaded.scoreTexts(texts, examples, candidates, binding, { batchSize: BATCH }))],
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
await serial.close();
await threaded.close();
const load1 = loadavg()[0];

const sec = { tokenise: median(times.tokenise), library: median(times.library), bare: median(times.bare), serial: median(times.serial), threaded: median(times.threaded) };
const net = Math.max(1e-9, sec.serial - sec.tokenise);
// ratios per repetition (the paths of one repetition ran back to back), then their median
const perRep = (p: PathName) => median(times.bare.map((t, r) => t / times[p][r]));
const ratio = { serial: perRep('serial'), threaded: perRep('threaded'), serialMinusTokenise: sec.bare / net, threadedOverSerial: median(times.serial.map((t, r) => t / times.threaded[r])) };
const rowsPerS = (s: number) => (texts.length / s).toFixed(0);
const tokens = seqs.reduce((s, q) => s + q.ids.length, 0);
console.log(`${bundle}: ${serial.kind}, max_length ${m.max_length}, ${texts.length} debtags texts (${(tokens / texts.length).toFixed(1)} tokens each), K=${K}, batch ${BATCH}, ${THREADS} intra-op thread(s), ${TOK_THREADS} tokeniser thread(s), median of ${REPS}; load average ${load0.toFixed(2)} → ${load1.toFixed(2)}\n`);
console.log(mdTable(['path', 'seconds', 'rows/s', 'vs bare (median of per-repetition ratios)'], [
  ['tokenise (this thread)', sec.tokenise.toFixed(3), rowsPerS(sec.tokenise), ''],
  ['tokenise whole texts with @huggingface/tokenizers (before)', sec.library.toFixed(3), rowsPerS(sec.library), ''],
  ['bare InferenceSession.run', sec.bare.toFixed(3), rowsPerS(sec.bare), '1.00'],
  ['teacher, serial (tokenizerThreads 0)', sec.serial.toFixed(3), rowsPerS(sec.serial), ratio.serial.toFixed(2)],
  [`teacher, threaded (tokenizerThreads ${TOK_THREADS})`, sec.threaded.toFixed(3), rowsPerS(sec.threaded), ratio.threaded.toFixed(2)],
  ['serial − tokenise', net.toFixed(3), rowsPerS(net), ratio.serialMinusTokenise.toFixed(2)],
]));
console.log(`\nthreaded against serial, the same repetition: ${ratio.threadedOverSerial.toFixed(2)}× the throughput (median)`);
await writeJson(resolve(RESULTS_DIR, args.json!), {
  machine: machineInfo(), loadAverage: [load0, load1], bundle, kind: serial.kind, rows: texts.length, k: K, batch: BATCH,
  threads: THREADS, tokenizerThreads: TOK_THREADS, reps: REPS, tokens, times, median: sec, ratio,
});

