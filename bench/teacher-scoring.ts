/**
 * Table 3 "Teacher scoring": distilxr's batched (example, candidate) pair scoring against bare
 * `InferenceSession.run` on the same ONNX model and the same batches.
 *
 *   npm run bench:scoring [-- --reps 7 --batches 100 --threads 1]
 *
 * Paths timed per model (run alternately, order rotated every repetition, median reported):
 *   bare     ort.InferenceSession.run over tensors built once, outside the timing (the ceiling)
 *   teacher  OnnxTeacher.scoreCandidates (packs the batch tensors, runs, gathers and checks scores)
 *   cache    TeacherScoreCache.scoreWithCache on an empty cache (adds grouping, insert, lookup)
 * Models: a candidate scorer (`scores` output) and a logits model shaped like the baseline teacher
 * (hidden 256, ReLU, L = 983), both written by exportSparseEncoderOnnx. Benchmark, not a test:
 * prints a markdown table and writes raw timings to bench/results/teacher-scoring.json.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import type { Csr } from '../src/core/data/csr.js';
import { Rng } from '../src/core/util/rng.js';
import { exportSparseEncoderOnnx, type SparseEncoderModel } from '../src/teacher/onnx-export.js';
import { OnnxTeacher } from '../src/teacher/onnx-teacher.js';
import { TeacherScoreCache } from '../src/teacher/score-cache.js';
import { RESULTS_DIR, firstRows, machineInfo, median, positiveInt, writeJson } from './lib.js';

const { values: args } = parseArgs({
  options: {
    reps: { type: 'string', default: '7' },
    batches: { type: 'string', default: '100' },
    threads: { type: 'string', default: '1' },
    seed: { type: 'string', default: '1' },
  },
});
const REPS = positiveInt('reps', args.reps);
const BATCHES = positiveInt('batches', args.batches);
const THREADS = positiveInt('threads', args.threads);
const SEED = positiveInt('seed', args.seed);

// Shapes (STACK.md): D features, H hidden, B examples per batch, M padded features, K candidates.
const D = 5000;
const H = 256;
const B = 256;
const M = 200;
const K = 100;
const L = 983;
const N = B * BATCHES; // examples per repetition

type Path = 'bare' | 'teacher' | 'cache';
const PATHS: Path[] = ['bare', 'teacher', 'cache'];
const PATH_LABEL: Record<Path, string> = {
  bare: 'bare `InferenceSession.run` (pre-built tensors)',
  teacher: '`OnnxTeacher.scoreCandidates`',
  cache: '`TeacherScoreCache.scoreWithCache` (empty cache)',
};

interface ModelSpec {
  name: string;
  description: string;
  model: SparseEncoderModel;
}

interface Workload {
  features: Csr; // [N, D], nnz per row in [1, M]; the first row of every batch has exactly M
  examples: Int32Array; // 0..N-1
  candidates: Csr; // [N, L], K distinct sorted labels per row
}

function randomArray(n: number, scale: number, rng: Rng): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (2 * rng.next() - 1) * scale;
  return a;
}

/** Sorted sample of `count` distinct ints from [0, range) (Floyd's algorithm). */
function sampleSorted(count: number, range: number, rng: Rng, seen: Set<number>): number[] {
  seen.clear();
  for (let j = range - count; j < range; j++) {
    const t = Math.floor(rng.next() * (j + 1));
    seen.add(seen.has(t) ? j : t);
  }
  return Array.from(seen).sort((a, b) => a - b);
}

function makeWorkload(rng: Rng): Workload {
  const seen = new Set<number>();
  const fIndptr = new Int32Array(N + 1);
  const rows: number[][] = [];
  for (let i = 0; i < N; i++) {
    const len = i % B === 0 ? M : 1 + Math.floor(rng.next() * M);
    rows.push(sampleSorted(len, D, rng, seen));
    fIndptr[i + 1] = fIndptr[i] + len;
  }
  const fIndices = new Int32Array(fIndptr[N]);
  const fValues = new Float32Array(fIndptr[N]);
  for (let i = 0; i < N; i++) {
    fIndices.set(rows[i], fIndptr[i]);
    for (let p = fIndptr[i]; p < fIndptr[i + 1]; p++) fValues[p] = rng.next();
  }
  const cIndptr = new Int32Array(N + 1);
  const cIndices = new Int32Array(N * K);
  for (let i = 0; i < N; i++) {
    cIndices.set(sampleSorted(K, L, rng, seen), i * K);
    cIndptr[i + 1] = (i + 1) * K;
  }
  const examples = new Int32Array(N);
  for (let i = 0; i < N; i++) examples[i] = i;
  return {
    features: { rows: N, cols: D, indptr: fIndptr, indices: fIndices, values: fValues },
    examples,
    candidates: { rows: N, cols: L, indptr: cIndptr, indices: cIndices, values: null },
  };
}

/** The same padded batches OnnxTeacher builds (pad to the batch's max nnz, = M here), built once. */
function buildFeeds(w: Workload, withCandidates: boolean): Record<string, ort.Tensor>[] {
  const feeds: Record<string, ort.Tensor>[] = [];
  const { indptr, indices, values } = w.features;
  for (let b0 = 0; b0 < N; b0 += B) {
    let m = 1;
    for (let i = b0; i < b0 + B; i++) m = Math.max(m, indptr[i + 1] - indptr[i]);
    const ids = new BigInt64Array(B * m);
    const vals = new Float32Array(B * m);
    for (let i = b0; i < b0 + B; i++) {
      let o = (i - b0) * m;
      for (let p = indptr[i]; p < indptr[i + 1]; p++, o++) {
        ids[o] = BigInt(indices[p]);
        vals[o] = values ? values[p] : 1;
      }
    }
    const feed: Record<string, ort.Tensor> = {
      feature_ids: new ort.Tensor('int64', ids, [B, m]),
      feature_values: new ort.Tensor('float32', vals, [B, m]),
    };
    if (withCandidates) {
      const cands = new BigInt64Array(B * K);
      for (let o = 0; o < B * K; o++) cands[o] = BigInt(w.candidates.indices[b0 * K + o]);
      feed.candidates = new ort.Tensor('int64', cands, [B, K]);
    }
    feeds.push(feed);
  }
  return feeds;
}

function fmtInt(x: number): string {
  return Math.round(x).toLocaleString('en-US');
}

async function benchModel(spec: ModelSpec, w: Workload) {
  const bytes = exportSparseEncoderOnnx(spec.model);
  const kind = spec.model.output;
  const teacher = await OnnxTeacher.load(bytes, { intraOpThreads: THREADS });
  // Same settings as distilxr's sessionOptions (src/teacher/contract.ts).
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  });
  const feeds = buildFeeds(w, kind === 'scores');
  const opts = { batchSize: B };

  // Sanity: distilxr's scores equal the bare output on the first batch.
  const first = await session.run(feeds[0]);
  const raw = first[kind].data as Float32Array;
  const ours = await teacher.scoreCandidates(w.features, w.examples.subarray(0, B), firstRows(w.candidates, B), opts);
  let maxDiff = 0;
  for (let i = 0; i < B; i++) {
    for (let k = 0; k < K; k++) {
      const expected = kind === 'scores' ? raw[i * K + k] : raw[i * L + w.candidates.indices[i * K + k]];
      maxDiff = Math.max(maxDiff, Math.abs(expected - ours[i * K + k]));
    }
  }

  const run: Record<Path, () => Promise<void>> = {
    bare: async () => {
      for (const f of feeds) await session.run(f);
    },
    teacher: async () => {
      await teacher.scoreCandidates(w.features, w.examples, w.candidates, opts);
    },
    cache: async () => {
      await new TeacherScoreCache(N).scoreWithCache(teacher, w.features, w.examples, w.candidates, opts);
    },
  };
  for (const p of PATHS) await run[p](); // warm-up

  const seconds: Record<Path, number[]> = { bare: [], teacher: [], cache: [] };
  for (let r = 0; r < REPS; r++) {
    for (let j = 0; j < PATHS.length; j++) {
      const p = PATHS[(r + j) % PATHS.length]; // rotate the order: no path always runs first
      const t0 = process.hrtime.bigint();
      await run[p]();
      seconds[p].push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    process.stderr.write(`${spec.name}: repetition ${r + 1}/${REPS}\n`);
  }
  await teacher.close();
  await session.release();

  const pairs = N * K;
  const pairsPerSec = Object.fromEntries(PATHS.map((p) => [p, pairs / median(seconds[p])])) as Record<Path, number>;
  // Ratio per repetition (the paths of one repetition ran back to back), then its median and range.
  const ratios = Object.fromEntries(PATHS.map((p) => [p, seconds.bare.map((b, r) => b / seconds[p][r])])) as Record<Path, number[]>;
  return { model: spec.name, description: spec.description, kind, maxAbsDiff: maxDiff, pairs, seconds, pairsPerSec, ratios };
}

async function main(): Promise<void> {
  const rng = new Rng(SEED);
  const specs: ModelSpec[] = [
    {
      name: 'candidate scorer',
      description: `scores: D=${D}, H=${H}, L=${L}, label-table dot product, K=${K}`,
      model: {
        inputDim: D,
        hiddenDim: H,
        W1: randomArray(D * H, 1 / Math.sqrt(H), rng),
        normalize: true,
        labelTable: randomArray(L * H, 0.1, rng),
        numLabels: L,
        output: 'scores',
      },
    },
    {
      name: 'logits teacher',
      description: `logits: D=${D}, H=${H}, ReLU, L=${L} (like the baseline teacher); ${K} of ${L} logits kept per example`,
      model: {
        inputDim: D,
        hiddenDim: H,
        W1: randomArray(D * H, 1 / Math.sqrt(H), rng),
        b1: randomArray(H, 0.01, rng),
        activation: 'relu',
        labelTable: randomArray(L * H, 1 / Math.sqrt(H), rng),
        labelBias: randomArray(L, 0.01, rng),
        numLabels: L,
        output: 'logits',
      },
    },
  ];
  const w = makeWorkload(rng);
  const results = [];
  for (const spec of specs) results.push(await benchModel(spec, w));

  const lines = [
    `### Table 3: Teacher scoring (pairs/s, ${THREADS} intra-op thread${THREADS === 1 ? '' : 's'})`,
    '',
    `B=${B} examples per batch, M=${M} (padded; 1..${M} features per example), K=${K} candidates, ` +
      `${BATCHES} batches = ${fmtInt(N * K)} pairs per run; median of ${REPS} alternating runs after a warm-up.`,
    '',
    '| model | path | threads | pairs/s (median) | ratio vs bare (median) | ratio range over runs |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    for (const p of PATHS) {
      const rs = r.ratios[p];
      const range = p === 'bare' ? '—' : `${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}`;
      lines.push(`| ${r.model} | ${PATH_LABEL[p]} | ${THREADS} | ${fmtInt(r.pairsPerSec[p])} | ${median(rs).toFixed(2)} | ${range} |`);
    }
  }
  lines.push('');
  for (const r of results) lines.push(`- ${r.model}: ${r.description}; max |distilxr − bare| = ${r.maxAbsDiff.toExponential(1)}`);
  lines.push(
    '- ratio = distilxr / bare throughput, computed per repetition (the three paths run back to back, order rotated) and ' +
      'summarised by its median: the bare run is the ceiling (no tensor packing, no score gathering or NaN checks).',
  );
  console.log(lines.join('\n'));

  const out = join(RESULTS_DIR, 'teacher-scoring.json');
  const report = {
    bench: 'teacher-scoring',
    date: new Date().toISOString(),
    machine: { ...machineInfo(), cpu: cpus()[0]?.model ?? 'unknown', loadavg: loadavg() },
    params: { D, H, B, M, K, L, batches: BATCHES, reps: REPS, threads: THREADS, seed: SEED },
    results,
  };
  await writeJson(out, report);
  console.error(`raw timings: ${out}`);
}

await main();
