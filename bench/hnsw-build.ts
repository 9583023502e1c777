/**
 * HNSW build side by side: old vs new settings for the two indexes a training job builds, on
 * generated data (src/core/data/synth.ts) at --labels labels, dim 64.
 *
 *   npm run bench:hnsw                                   # 10^5 labels, 20k points, 3 reps
 *   npm run bench:hnsw -- --labels 1000000 --points 200000 --reps 1 --only mining --variants pts,pts-shard2 \
 *     --out bench/results/hnsw-build-1e6.json
 *   options: --labels 100000, --points labels/5, --features 100000, --reps 3, --recall-queries 1000,
 *            --only mining|final, --variants a,b,... (keys below; default all),
 *            --out FILE (default bench/results/hnsw-build.json)
 *
 * - mining: the transient pool-mining index of src/pipeline/mine.ts: projected label centroids
 *   (all labels, or only those with training points as mine.ts now does), every training point
 *   queried for its top 64 labels minus its positives (ef 100); recall against exact search over
 *   all labels.
 * - final: the published index (src/pipeline/train-job.ts): label embeddings V of a student trained
 *   2 epochs with uniform negatives, test points queried for their top 100 (ef 100), as evaluation does.
 * Per variant and repetition: build seconds (wall, workers' start included) and CPU seconds of
 * every thread (on a busy machine, CPU/threads is what an idle machine's wall time would be),
 * queries/s (wall and per CPU second) over every query, recall@10 and recall@k against exact search (exactTopK) on --recall-queries queries, and
 * whether the results equal those of the first repetition (determinism). Variants run in rotated
 * order each repetition; the table shows medians and marks in bold what the code does now. Prints markdown, writes bench/results/hnsw-build.json.
 */
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exactTopK } from '../src/ann/exact-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { projectedLabelCentroids } from '../src/ann/label-centroids.js';
import { fromSubsetIds, gatherRows, labelsWithPoints, toSubsetIds } from '../src/ann/label-subset.js';
import { RandomProjection } from '../src/ann/random-projection.js';
import { ShardedLabelIndex } from '../src/ann/sharded-index.js';
import type { Csr } from '../src/core/data/csr.js';
import { Student } from '../src/core/model/student.js';
import { synthesize } from '../src/core/data/synth.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { StudentTrainer } from '../src/core/model/trainer.js';
import { CENTROID_PROJECTION_DIM, MINING_HNSW, MINING_SHARD_MIN_LABELS, MINING_SHARDS } from '../src/pipeline/mine.js';
import { PUBLISHED_INDEX_M } from '../src/pipeline/neighbours.js';
import { RESULTS_DIR, firstRows, machineInfo, mdTable, median, positiveInt, recallAt, writeJson } from './lib.js';

const { values: args } = parseArgs({
  options: {
    labels: { type: 'string', default: '100000' },
    points: { type: 'string' },
    features: { type: 'string', default: '100000' },
    reps: { type: 'string', default: '3' },
    'recall-queries': { type: 'string', default: '1000' },
    only: { type: 'string' },
    variants: { type: 'string' },
    out: { type: 'string' },
  },
});
const LABELS = positiveInt('labels', args.labels);
const POINTS = args.points === undefined ? Math.max(1000, Math.round(LABELS / 5)) : positiveInt('points', args.points);
const FEATURES = positiveInt('features', args.features);
const REPS = positiveInt('reps', args.reps);
const RECALL_QUERIES = positiveInt('recall-queries', args['recall-queries']);
if (args.only && args.only !== 'mining' && args.only !== 'final') throw new RangeError(`--only must be mining or final, got ${args.only}`);
const WANTED = args.variants ? new Set(args.variants.split(',')) : null;
const DIM = 64;
const POOL = 64; // DEFAULT_TRAIN_CONFIG.poolSize
const EF = 100;
const FINAL_K = 100; // EVAL_K

interface Workload {
  name: 'mining' | 'final';
  vectors: Float32Array; // [LABELS, DIM]
  queries: Float32Array; // [n, DIM]
  n: number;
  k: number;
  excluded: Csr | null;
  /** Labels with training points (mining: the only ones indexed by the new code). */
  withPoints: Int32Array | null;
  exact: Int32Array; // [recallN, k]
  recallN: number;
}

interface Variant {
  key: string;
  what: string;
  M: number;
  efConstruction: number;
  shards: number;
  /** Index only the labels with training points. */
  withPointsOnly: boolean;
  /** Search list size. @defaultValue EF */
  ef?: number;
}

interface Run {
  buildSeconds: number;
  /** CPU seconds of the whole process (every thread) during the build: wall time on an idle machine ≈ this / threads. */
  buildCpuSeconds: number;
  searchCpuSeconds: number;
  shardBuildSeconds?: number[];
  queriesPerSecond: number;
  recallAt10: number;
  recallAtK: number;
  sameAsFirstRep: boolean;
}

function log(m: string): void {
  process.stderr.write(`${m}\n`);
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

function cpuSeconds(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e6;
}

function workloads(): Workload[] {
  let t0 = performance.now();
  const { train, test } = synthesize({ points: POINTS, testPoints: Math.max(RECALL_QUERIES, 1000), features: FEATURES, labels: LABELS, seed: 7 });
  log(`synth: ${POINTS} train / ${test.features.rows} test points, ${FEATURES} features, ${LABELS} labels (${seconds(t0).toFixed(1)} s)`);
  const out: Workload[] = [];
  if (args.only !== 'final') {
    t0 = performance.now();
    const projection = new RandomProjection(train.features.cols, CENTROID_PROJECTION_DIM, 1, { normalize: true });
    const vectors = projectedLabelCentroids(train.features, train.labels, LABELS, projection);
    const queries = projection.projectCsr(train.features);
    const recallN = Math.min(RECALL_QUERIES, POINTS);
    const exact = exactTopK(vectors, LABELS, DIM, queries, recallN, POOL, firstRows(train.labels, recallN)).labels;
    log(`mining workload: centroids + exact top-${POOL} of ${recallN} queries (${seconds(t0).toFixed(1)} s)`);
    const withPoints = labelsWithPoints(train.labels, LABELS);
    log(`${withPoints.length} of ${LABELS} labels have training points`);
    out.push({ name: 'mining', vectors, queries, n: POINTS, k: POOL, excluded: train.labels, withPoints, exact, recallN });
  }
  if (args.only !== 'mining') {
    t0 = performance.now();
    const cfg = { ...DEFAULT_TRAIN_CONFIG, alpha: 0, hardNegatives: 0, poolSize: 0 };
    const student = Student.init({ inputDim: train.features.cols, dim: DIM, numLabels: LABELS, tau: cfg.tau }, 1);
    const trainer = new StudentTrainer(student, train.features, train.labels, cfg);
    for (let e = 1; e <= 2; e++) trainer.trainEpoch(e);
    const n = test.features.rows;
    const queries = student.encodeAll(test.features);
    const recallN = Math.min(RECALL_QUERIES, n);
    const k = Math.min(FINAL_K, LABELS);
    const exact = exactTopK(student.V, LABELS, DIM, queries, recallN, k).labels;
    log(`final workload: student trained 2 epochs + exact top-${k} of ${recallN} queries (${seconds(t0).toFixed(1)} s)`);
    out.push({ name: 'final', vectors: student.V, queries, n, k, excluded: null, withPoints: null, exact, recallN });
  }
  return out;
}

function variantsFor(w: Workload): Variant[] {
  const v = (key: string, what: string, M: number, efConstruction: number, shards: number, withPointsOnly: boolean): Variant => ({ key, what, M, efConstruction, shards, withPointsOnly });
  const list: Variant[] =
    w.name === 'mining'
      ? [
          v('old', 'all labels, one index, M 16, efC 200 (before)', 16, 200, 1, false),
          v('pts', 'labels with points, one index, efC 200', 16, 200, 1, true),
          v('pts-efc100', 'labels with points, one index, efC 100', 16, 100, 1, true),
          { ...v('pts-ef200', 'labels with points, one index, efC 200, search ef 200', 16, 200, 1, true), ef: 200 },
          v('pts-shard2', 'labels with points, 2 shards, efC 200', 16, 200, 2, true),
        ]
      : [
          v('old', 'M 16, efC 200 (before)', 16, 200, 1, false),
          v('efc100', 'M 16, efC 100', 16, 100, 1, false),
          v('efc64', 'M 16, efC 64', 16, 64, 1, false),
          v('m12-efc100', 'M 12, efC 100', 12, 100, 1, false),
        ];
  return list.filter((x) => !WANTED || WANTED.has(x.key));
}

/** Whether a variant is what the code does now (mine.ts / train-job.ts constants). */
function isCurrent(w: Workload, v: Variant): boolean {
  if (w.name === 'final') return v.M === PUBLISHED_INDEX_M && v.efConstruction === DEFAULT_TRAIN_CONFIG.labelIndexEfConstruction && v.shards === 1;
  const indexed = w.withPoints && w.withPoints.length < LABELS ? w.withPoints.length : LABELS;
  const shards = indexed >= MINING_SHARD_MIN_LABELS ? MINING_SHARDS : 1;
  return v.withPointsOnly && v.ef === undefined && v.M === MINING_HNSW.M && v.efConstruction === MINING_HNSW.efConstruction && v.shards === shards;
}

async function runOnce(w: Workload, v: Variant, first: Int32Array | undefined): Promise<{ run: Run; labels: Int32Array }> {
  const params = { M: v.M, efConstruction: v.efConstruction, seed: 1 };
  const ef = v.ef ?? EF;
  let t0 = performance.now();
  let c0 = process.cpuUsage();
  let buildCpuSeconds: number;
  const n = w.n;
  const ids = v.withPointsOnly && w.withPoints ? w.withPoints : null;
  const count = ids ? ids.length : LABELS;
  const vectors = ids ? gatherRows(w.vectors, DIM, ids) : w.vectors;
  const excluded = w.excluded && ids ? toSubsetIds(w.excluded, ids, LABELS) : (w.excluded ?? { rows: n, cols: LABELS, indptr: new Int32Array(n + 1), indices: new Int32Array(0), values: null });
  let labels: Int32Array;
  let buildSeconds: number;
  let searchSeconds: number;
  let shardBuildSeconds: number[] | undefined;
  if (v.shards > 1) {
    const index = await ShardedLabelIndex.build(vectors, count, DIM, { ...params, shards: v.shards });
    try {
      buildSeconds = seconds(t0);
      buildCpuSeconds = cpuSeconds(c0);
      shardBuildSeconds = index.buildSeconds;
      t0 = performance.now();
      c0 = process.cpuUsage();
      labels = (await index.searchBatchExcluding(w.queries, n, w.k, excluded, { ef })).labels;
      searchSeconds = seconds(t0);
    } finally {
      await index.close();
    }
  } else {
    const index = LabelIndex.build(vectors, count, DIM, params);
    buildSeconds = seconds(t0);
    buildCpuSeconds = cpuSeconds(c0);
    t0 = performance.now();
    c0 = process.cpuUsage();
    labels = w.excluded ? index.searchBatchExcluding(w.queries, n, w.k, excluded, { ef }).labels : index.searchBatch(w.queries, n, w.k, { ef }).labels;
    searchSeconds = seconds(t0);
  }
  const searchCpuSeconds = cpuSeconds(c0);
  if (ids) fromSubsetIds(labels, ids);
  const run: Run = {
    buildSeconds,
    buildCpuSeconds,
    searchCpuSeconds,
    shardBuildSeconds,
    queriesPerSecond: n / searchSeconds,
    recallAt10: recallAt(w.exact, w.k, labels, w.k, Math.min(10, w.k), w.recallN),
    recallAtK: recallAt(w.exact, w.k, labels, w.k, w.k, w.recallN),
    sameAsFirstRep: first === undefined || (first.length === labels.length && first.every((x, i) => x === labels[i])),
  };
  return { run, labels };
}

const fmt = (x: number, d: number): string => x.toFixed(d);

async function main(): Promise<void> {
  const started = new Date().toISOString();
  log(`machine: ${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const results: Record<string, unknown>[] = [];
  for (const w of workloads()) {
    const variants = variantsFor(w);
    const runs = new Map<string, Run[]>(variants.map((v) => [v.key, []]));
    const firstLabels = new Map<string, Int32Array>();
    for (let rep = 0; rep < REPS; rep++) {
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + rep) % variants.length];
        const { run, labels } = await runOnce(w, v, firstLabels.get(v.key));
        if (!firstLabels.has(v.key)) firstLabels.set(v.key, labels);
        runs.get(v.key)!.push(run);
        log(`${w.name} rep ${rep + 1} ${v.key}: build ${fmt(run.buildSeconds, 1)} s, CPU ${fmt(run.buildCpuSeconds, 1)} s${run.shardBuildSeconds ? ` (shards ${run.shardBuildSeconds.map((s) => fmt(s, 1)).join(', ')})` : ''}, ${fmt(run.queriesPerSecond, 0)} q/s, R@10 ${fmt(run.recallAt10, 4)}, R@${w.k} ${fmt(run.recallAtK, 4)}, same ${run.sameAsFirstRep}`);
      }
    }
    const oldBuild = runs.get('old')?.length ? median(runs.get('old')!.map((r) => r.buildSeconds)) : NaN;
    const rows = variants.map((v) => {
      const rs = runs.get(v.key)!;
      const build = median(rs.map((r) => r.buildSeconds));
      return {
        workload: w.name,
        variant: v.key,
        what: v.what,
        current: isCurrent(w, v),
        M: v.M,
        efConstruction: v.efConstruction,
        shards: v.shards,
        buildSeconds: build,
        buildSpeedup: oldBuild / build,
        buildCpuSeconds: median(rs.map((r) => r.buildCpuSeconds)),
        queriesPerSecond: median(rs.map((r) => r.queriesPerSecond)),
        queriesPerCpuSecond: median(rs.map((r) => w.n / r.searchCpuSeconds)),
        recallAt10: median(rs.map((r) => r.recallAt10)),
        recallAtK: median(rs.map((r) => r.recallAtK)),
        deterministic: rs.every((r) => r.sameAsFirstRep),
        runs: rs,
      };
    });
    results.push(...rows);
    const title =
      w.name === 'mining'
        ? `Mining index: ${LABELS} label centroids, ${w.n} queries, top ${w.k} minus positives, ef ${EF}`
        : `Final index: ${LABELS} label embeddings, ${w.n} queries, top ${w.k}, ef ${EF}`;
    console.log(`\n### ${title} (median of ${REPS})\n`);
    console.log(
      mdTable(
        ['variant', 'settings', 'build s', 'vs old', 'build CPU s', 'queries/s', 'queries/CPU s', 'R@10', `R@${w.k}`, 'same every rep'],
        rows.map((r) => [r.current ? `**${r.variant}** (now)` : r.variant, r.what, fmt(r.buildSeconds, 1), Number.isFinite(r.buildSpeedup) ? `${fmt(r.buildSpeedup, 2)}×` : '–', fmt(r.buildCpuSeconds, 1), fmt(r.queriesPerSecond, 0), fmt(r.queriesPerCpuSecond, 0), fmt(r.recallAt10, 4), fmt(r.recallAtK, 4), r.deterministic ? 'yes' : 'NO']),
      ),
    );
  }
  const out = args.out ?? join(RESULTS_DIR, 'hnsw-build.json');
  await writeJson(out, {
    started,
    machine: { ...machineInfo(), loadavg: loadavg() },
    settings: { variants: WANTED ? [...WANTED] : 'all', labels: LABELS, points: POINTS, features: FEATURES, dim: DIM, reps: REPS, recallQueries: RECALL_QUERIES, ef: EF, pool: POOL, finalK: FINAL_K },
    results,
  });
  log(`wrote ${out}`);
}

await main();
