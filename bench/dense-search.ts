/**
 * Exact top-k search: ONNX Runtime's Gemm + TopK (src/ann/dense-search.ts), in float and in int8
 * (MatMulInteger, the mining default), against the plain loop (src/ann/exact-search.ts) on apt-files'
 * shape (57,764 labels; d 64 as the first mining pool, d 257 as the student), random vectors. int8's
 * recall@K is against the loop's top K.
 *
 *   npm run bench:dense -- [--queries 512] [--reps 3] [--threads 2]
 *
 * The loop runs on one thread (as exactTopK does; evaluation used to split it over the job's
 * threads), ONNX Runtime on --threads. Alternating runs, medians; the queries/s column is what
 * decides mining and evaluation time (apt-files: 237,888 training points, 17,311 test points).
 * Writes bench/results/dense-search.json. Benchmark, not a test.
 */
import { join } from 'node:path';
import { denseTopK } from '../src/ann/dense-search.js';
import { exactTopK } from '../src/ann/exact-search.js';
import { Rng } from '../src/core/util/rng.js';
import { RESULTS_DIR, machineInfo, mdTable, median, parseArgs, positiveInt, recallAt, writeJson } from './lib.js';

const LABELS = 57_764;
const K = 72; // a pool of 64 plus the positives asked for beside it

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const n = positiveInt('queries', String(a.get('queries') ?? 512));
  const reps = positiveInt('reps', String(a.get('reps') ?? 3));
  const threads = positiveInt('threads', String(a.get('threads') ?? 2));
  const rng = new Rng(3);
  const rows = [];
  for (const dim of [64, 257]) {
    const vectors = Float32Array.from({ length: LABELS * dim }, () => rng.normal());
    const queries = Float32Array.from({ length: n * dim }, () => rng.normal());
    await denseTopK(vectors, LABELS, dim, queries, Math.min(n, 64), K, { threads }); // session and arena
    await denseTopK(vectors, LABELS, dim, queries, Math.min(n, 64), K, { threads, precision: 'int8' });
    const ways = ['loop', 'ort', 'int8'] as const;
    const seconds = { loop: [] as number[], ort: [] as number[], int8: [] as number[] };
    const checked = Math.min(n, 32);
    const ref = exactTopK(vectors, LABELS, dim, queries, checked, K).labels;
    let agree = 0;
    let recall = 0;
    for (let rep = 0; rep < reps; rep++) {
      for (const way of rep % 2 ? [...ways].reverse() : ways) {
        const t = performance.now();
        const r = way === 'loop' ? exactTopK(vectors, LABELS, dim, queries, n, K) : await denseTopK(vectors, LABELS, dim, queries, n, K, { threads, precision: way === 'int8' ? 'int8' : 'float32' });
        seconds[way].push((performance.now() - t) / 1000);
        if (rep > 0) continue;
        if (way === 'ort') for (let i = 0; i < ref.length; i++) if (ref[i] === r.labels[i]) agree++;
        if (way === 'int8') recall = recallAt(ref, K, r.labels, K, K, checked);
      }
    }
    agree /= ref.length;
    const [loop, ort, int8] = ways.map((w) => median(seconds[w]));
    const macs = n * LABELS * dim;
    rows.push({ dim, queries: n, loopSeconds: loop, ortSeconds: ort, int8Seconds: int8, speedup: loop / ort, int8OverFloat: ort / int8, ortQueriesPerSecond: n / ort, gflops: (2 * macs) / ort / 1e9, int8Gops: (2 * macs) / int8 / 1e9, sameLabels: agree, int8Recall: recall, seconds });
    process.stderr.write(`d=${dim}: loop ${loop.toFixed(2)} s, ONNX Runtime ${ort.toFixed(3)} s (${(loop / ort).toFixed(1)}×), int8 ${int8.toFixed(3)} s (${(ort / int8).toFixed(1)}× float)\n`);
  }
  console.log(
    mdTable(
      ['d', 'queries', 'loop s (1 thread)', `ONNX Runtime s (${threads} threads)`, 'ratio', 'ORT queries/s', 'ORT GFLOP/s', 'same labels as the loop', 'int8 s', 'int8 / float speed', 'int8 G ops/s', `int8 R@${K} vs the loop`],
      rows.map((r) => [String(r.dim), String(r.queries), r.loopSeconds.toFixed(2), r.ortSeconds.toFixed(3), `${r.speedup.toFixed(1)}×`, r.ortQueriesPerSecond.toFixed(0), r.gflops.toFixed(0), r.sameLabels.toFixed(4), r.int8Seconds.toFixed(3), `${r.int8OverFloat.toFixed(2)}×`, r.int8Gops.toFixed(0), r.int8Recall.toFixed(3)]),
    ),
  );
  await writeJson(join(RESULTS_DIR, 'dense-search.json'), { machine: machineInfo(), labels: LABELS, k: K, threads, reps, rows });
}

await main();
