/**
 * Mining speed and the pools' recall against exact search (issue 12, item 2).
 *
 *   npx tsx bench/mining.ts [--dataset apt-files] [--model DIR] [--sample 1000] [--reps 1]
 *
 * For each way of mining (one query per point or one per positive-label set; searched exactly on
 * ONNX Runtime, the default up to EXACT_MINING_MAX_MACS, or through the HNSW mining index) and each
 * pool (the first one from the label centroids; with --model, a re-mining pool from that published
 * student's embeddings): wall seconds of the whole pass, and recall@K of the pools on a stride
 * sample of training points against that point's exact top-K non-positive labels in the same space
 * (the target a pool approximates). Runs alternate between the ways; medians. --threads: the exact
 * search's (default 2, a job's on this machine). --search exact,int8,HNSW (the default: all three):
 * the searches compared, int8 being the exact search in 8-bit arithmetic. Prints a table, writes bench/results/mining.json.
 * Benchmark, not a test.
 */
import { join } from 'node:path';
import { exactTopK } from '../src/ann/exact-search.js';
import { projectedLabelCentroids } from '../src/ann/label-centroids.js';
import { RandomProjection } from '../src/ann/random-projection.js';
import { selectRows } from '../src/core/data/csr.js';
import type { Dataset } from '../src/core/data/dataset.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import type { Student } from '../src/core/model/student.js';
import type { NegativePool } from '../src/core/model/trainer.js';
import { CENTROID_PROJECTION_DIM, mineFromCentroids, mineFromStudent, type MineOptions } from '../src/pipeline/mine.js';
import { loadModel } from '../src/pipeline/model-dir.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, median, parseArgs, positiveInt, recallAt, writeJson } from './lib.js';

const K = 64;

/** How a pass searches: its queries and its search. */
interface Way {
  byLabelSet: boolean;
  /** exact = float exact search, int8 = exact search in 8-bit arithmetic, HNSW = the mining index. */
  search: 'exact' | 'int8' | 'HNSW';
}
const ALL_WAYS: Way[] = (['exact', 'int8', 'HNSW'] as const).flatMap((search) => [false, true].map((byLabelSet) => ({ search, byLabelSet })));
const queriesOf = (way: Way): string => (way.byLabelSet ? 'per label set' : 'per point');

interface Row {
  pool: string;
  queries: string;
  search: string;
  seconds: number[];
  recall: number;
}

/** Exact top-K non-positive labels of the sample rows' query vectors. */
function exactPools(vectors: Float32Array, count: number, dim: number, queries: Float32Array, train: Dataset, sample: number[]): Int32Array {
  const q = new Float32Array(sample.length * dim);
  for (const [i, r] of sample.entries()) q.set(queries.subarray(r * dim, r * dim + dim), i * dim);
  return exactTopK(vectors, count, dim, q, sample.length, K, selectRows(train.labels, sample)).labels;
}

function sampleRecall(pool: NegativePool, exact: Int32Array, sample: number[]): number {
  const approx = new Int32Array(sample.length * K);
  for (const [i, r] of sample.entries()) approx.set(pool.labels.subarray(r * K, r * K + K), i * K);
  return recallAt(exact, K, approx, K, K, sample.length);
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const dataset = String(a.get('dataset') ?? 'apt-files');
  const sampleSize = positiveInt('sample', String(a.get('sample') ?? 1000));
  const reps = positiveInt('reps', String(a.get('reps') ?? 1));
  const modelDir = a.get('model');
  const threads = positiveInt('threads', String(a.get('threads') ?? 2));
  const searches = String(a.get('search') ?? 'exact,int8,HNSW').split(',');
  const WAYS = ALL_WAYS.filter((w) => searches.includes(w.search));
  if (WAYS.length === 0) throw new Error(`--search ${searches.join(',')}: none of exact, int8, HNSW`);
  const split = datasetSplit(dataset);
  const { train } = await loadTrainTest(split.train, split.test);
  const n = train.features.rows;
  const L = train.labels.cols;
  const sample = Array.from({ length: Math.min(sampleSize, n) }, (_, i) => Math.floor((i * n) / Math.min(sampleSize, n)));
  const seed = 1;
  const options = (way: Way): MineOptions => ({
    poolSize: K,
    seed,
    byLabelSet: way.byLabelSet,
    threads,
    precision: way.search === 'int8' ? 'int8' : 'float32',
    exactMaxMacs: way.search === 'HNSW' ? 0 : Number.POSITIVE_INFINITY,
  });

  const projection = new RandomProjection(train.features.cols, CENTROID_PROJECTION_DIM, seed, { normalize: true });
  const centroidExact = exactPools(projectedLabelCentroids(train.features, train.labels, L, projection), L, CENTROID_PROJECTION_DIM, projection.projectCsr(train.features), train, sample);
  const pools: { name: string; exact: Int32Array; mine: (way: Way) => Promise<NegativePool> }[] = [
    { name: 'centroids', exact: centroidExact, mine: (way) => mineFromCentroids(train, L, options(way)) },
  ];
  if (typeof modelDir === 'string') {
    const student: Student = (await loadModel(modelDir)).student;
    const exact = exactPools(student.V, L, student.shape.dim, student.encodeAll(train.features), train, sample);
    pools.push({ name: `student (${modelDir})`, exact, mine: (way) => mineFromStudent(student, train, options(way)) });
  }

  const rows: Row[] = [];
  for (const p of pools) {
    const byWay = new Map<Way, Row>();
    for (let rep = 0; rep < reps; rep++) {
      for (const way of rep % 2 ? [...WAYS].reverse() : WAYS) {
        const t = performance.now();
        const pool = await p.mine(way);
        const seconds = (performance.now() - t) / 1000;
        const row = byWay.get(way) ?? { pool: p.name, queries: queriesOf(way), search: way.search, seconds: [], recall: sampleRecall(pool, p.exact, sample) };
        row.seconds.push(seconds);
        byWay.set(way, row);
        process.stderr.write(`[${dataset}] ${p.name} ${row.queries} ${row.search}: ${seconds.toFixed(1)} s, R@${K} ${row.recall.toFixed(3)}\n`);
      }
    }
    for (const way of WAYS) rows.push(byWay.get(way)!);
  }
  const table = mdTable(
    ['pool', 'queries', 'search', 'seconds (median)', `R@${K} vs exact (${sample.length} points)`],
    rows.map((r) => [r.pool, r.queries, r.search, median(r.seconds).toFixed(1), r.recall.toFixed(3)]),
  );
  console.log(`${dataset}: ${n} training points, ${L} labels, K ${K}\n\n${table}`);
  await writeJson(join(RESULTS_DIR, 'mining.json'), { machine: machineInfo(), dataset, K, sample: sample.length, reps, threads, rows });
}

await main();
