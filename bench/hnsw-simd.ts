/**
 * hnswlib-node's addon as npm builds it (SSE distance kernels) against the one
 * scripts/native-hnswlib.mjs rebuilds at postinstall with -march=native (AVX / AVX-512 here), side
 * by side in one process on real data: apt-files' training rows as unit vectors (tf-idf randomly
 * projected to --dim 256, the shape of the published training-point index) and their labels'
 * centroids (the label index's count), each indexed as the jobs do (inner product, M 16,
 * efConstruction 100 for points, 200 for labels), then searched with test rows (k 50 / 100, ef 100).
 *
 *   npm run bench:hnsw-simd [-- --points 60000 --queries 5000 --reps 3 --dim 256]
 *
 * Builds alternate between the two addons each repetition; the table gives medians of wall seconds
 * and the recall@10 of each search against exact search on 1000 queries (same for both: the kernels
 * change the arithmetic's order, not the algorithm). A second table: the training points' index
 * on USearch as jobs build it now (src/ann/point-index.ts: half floats or floats, 1 or 2 threads)
 * beside hnswlib's native build. Writes bench/results/hnsw-simd.json.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { exactTopK } from '../src/ann/exact-search.js';
import { projectedLabelCentroids } from '../src/ann/label-centroids.js';
import { PointIndex } from '../src/ann/point-index.js';
import { RandomProjection } from '../src/ann/random-projection.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { RESULTS_DIR, datasetSplit, firstRows, machineInfo, mdTable, median, parseArgs, positiveInt, recallAt, writeJson } from './lib.js';

type Addon = typeof import('hnswlib-node');
type Hnsw = InstanceType<Addon['HierarchicalNSW']>;

const require = createRequire(import.meta.url);
const pkgDir = dirname(require.resolve('hnswlib-node/package.json'));
const portablePath = join(pkgDir, 'addon.portable.node');

function loadAddons(): { name: string; addon: Addon }[] {
  let march = 'none';
  try {
    march = readFileSync(join(pkgDir, 'build', 'Release', 'distilxr-march.txt'), 'utf8').trim();
  } catch {
    throw new Error('hnswlib-node is its portable build here (no distilxr-march.txt): run npm run postinstall first');
  }
  return [
    { name: 'portable (npm build)', addon: require(portablePath) as Addon },
    { name: `-march=${march} (postinstall)`, addon: require('hnswlib-node') as Addon },
  ];
}

function build(addon: Addon, vectors: Float32Array, count: number, dim: number, efConstruction: number): { index: Hnsw; seconds: number } {
  const t0 = performance.now();
  const index = new addon.HierarchicalNSW('ip', dim);
  index.initIndex(count, 16, efConstruction, 1);
  const buf = new Array<number>(dim);
  for (let i = 0; i < count; i++) {
    for (let d = 0; d < dim; d++) buf[d] = vectors[i * dim + d];
    index.addPoint(buf, i);
  }
  return { index, seconds: (performance.now() - t0) / 1000 };
}

function search(index: Hnsw, queries: Float32Array, n: number, dim: number, k: number): { ids: Int32Array; seconds: number } {
  index.setEf(100);
  const ids = new Int32Array(n * k);
  const buf = new Array<number>(dim);
  const t0 = performance.now();
  for (let q = 0; q < n; q++) {
    for (let d = 0; d < dim; d++) buf[d] = queries[q * dim + d];
    const { neighbors } = index.searchKnn(buf, k);
    for (let j = 0; j < k; j++) ids[q * k + j] = neighbors[j] ?? -1;
  }
  return { ids, seconds: (performance.now() - t0) / 1000 };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const dim = positiveInt('dim', String(a.get('dim') ?? 256));
  const reps = positiveInt('reps', String(a.get('reps') ?? 3));
  const split = datasetSplit('apt-files');
  const { train, test } = await loadTrainTest(split.train, split.test);
  if (!test) throw new Error('apt-files has no test split');
  const points = Math.min(positiveInt('points', String(a.get('points') ?? 60_000)), train.features.rows);
  const queries = Math.min(positiveInt('queries', String(a.get('queries') ?? 5000)), test.features.rows);
  const projection = new RandomProjection(train.features.cols, dim, 1, { normalize: true });
  const pointVectors = projection.projectCsr(firstRows(train.features, points));
  const labelVectors = projectedLabelCentroids(train.features, train.labels, train.labels.cols, projection);
  const labels = train.labels.cols;
  const queryVectors = projection.projectCsr(firstRows(test.features, queries));
  const recallN = Math.min(1000, queries);
  const exactPoints = exactTopK(pointVectors, points, dim, queryVectors, recallN, 10).labels;
  const exactLabels = exactTopK(labelVectors, labels, dim, queryVectors, recallN, 10).labels;

  const addons = loadAddons();
  const runs = addons.map(() => ({ pointBuild: [] as number[], labelBuild: [] as number[], pointSearch: [] as number[], labelSearch: [] as number[], pointRecall: 0, labelRecall: 0 }));
  for (let rep = 0; rep < reps; rep++) {
    for (const i of rep % 2 === 0 ? [0, 1] : [1, 0]) {
      const { addon, name } = addons[i];
      const r = runs[i];
      const p = build(addon, pointVectors, points, dim, 100);
      const l = build(addon, labelVectors, labels, dim, 200);
      const ps = search(p.index, queryVectors, queries, dim, 50);
      const ls = search(l.index, queryVectors, queries, dim, 100);
      r.pointBuild.push(p.seconds);
      r.labelBuild.push(l.seconds);
      r.pointSearch.push(ps.seconds);
      r.labelSearch.push(ls.seconds);
      r.pointRecall = recallAt(exactPoints, 10, ps.ids, 50, 10, recallN);
      r.labelRecall = recallAt(exactLabels, 10, ls.ids, 100, 10, recallN);
      console.error(`rep ${rep} ${name}: points ${p.seconds.toFixed(1)} s, labels ${l.seconds.toFixed(1)} s, searches ${ps.seconds.toFixed(2)} / ${ls.seconds.toFixed(2)} s`);
    }
  }
  // the training points' index as jobs build it now: USearch (PointIndex), same data, same parameters
  const usearchWays = [
    { name: 'USearch half floats, 1 thread', scalar: 'f16' as const, threads: 1 },
    { name: 'USearch half floats, 2 threads (the default)', scalar: 'f16' as const, threads: 2 },
    { name: 'USearch floats, 2 threads', scalar: 'f32' as const, threads: 2 },
  ];
  const usearchRuns = usearchWays.map(() => ({ build: [] as number[], search: [] as number[], recall: 0 }));
  for (let rep = 0; rep < reps; rep++) {
    for (const [i, way] of usearchWays.entries()) {
      const t0 = performance.now();
      const index = PointIndex.build(pointVectors, points, dim, { M: 16, efConstruction: 100, efSearch: 100, scalar: way.scalar }, way.threads);
      const built = (performance.now() - t0) / 1000;
      const t1 = performance.now();
      const found = index.searchBatch(queryVectors, queries, 50, way.threads);
      usearchRuns[i].build.push(built);
      usearchRuns[i].search.push((performance.now() - t1) / 1000);
      usearchRuns[i].recall = recallAt(exactPoints, 10, found.labels, 50, 10, recallN);
      console.error(`rep ${rep} ${way.name}: points ${built.toFixed(1)} s`);
    }
  }
  const pointRows = usearchWays.map((w, i) => ({ index: w.name, buildSeconds: median(usearchRuns[i].build), searchSeconds: median(usearchRuns[i].search), recall10: usearchRuns[i].recall, raw: usearchRuns[i] }));

  const rows = addons.map(({ name }, i) => {
    const r = runs[i];
    return { addon: name, pointBuildSeconds: median(r.pointBuild), labelBuildSeconds: median(r.labelBuild), pointSearchSeconds: median(r.pointSearch), labelSearchSeconds: median(r.labelSearch), pointRecall10: r.pointRecall, labelRecall10: r.labelRecall, raw: r };
  });
  const ratio = (f: (r: (typeof rows)[0]) => number): string => (f(rows[0]) / f(rows[1])).toFixed(2);
  console.log(`apt-files: ${points} training points and ${labels} label centroids, d=${dim}; ${queries} test queries; medians of ${reps}\n`);
  console.log(
    mdTable(
      ['addon', 'points build s', 'labels build s', 'points search s', 'labels search s', 'recall@10 points / labels'],
      [
        ...rows.map((r) => [r.addon, r.pointBuildSeconds.toFixed(2), r.labelBuildSeconds.toFixed(2), r.pointSearchSeconds.toFixed(2), r.labelSearchSeconds.toFixed(2), `${r.pointRecall10.toFixed(3)} / ${r.labelRecall10.toFixed(3)}`]),
        ['portable ÷ native', ratio((r) => r.pointBuildSeconds), ratio((r) => r.labelBuildSeconds), ratio((r) => r.pointSearchSeconds), ratio((r) => r.labelSearchSeconds), ''],
      ],
    ),
  );
  const native = rows[1];
  console.log(`\nThe training points' index (efConstruction 100, ef 100, k 50; search wall seconds on the index's threads):\n`);
  console.log(
    mdTable(
      ['index', 'build s', 'search s', 'recall@10', 'build: hnswlib native ÷ this'],
      [
        [`hnswlib ${native.addon}, 1 thread`, native.pointBuildSeconds.toFixed(2), native.pointSearchSeconds.toFixed(2), native.pointRecall10.toFixed(3), '1.00'],
        ...pointRows.map((r) => [r.index, r.buildSeconds.toFixed(2), r.searchSeconds.toFixed(2), r.recall10.toFixed(3), (native.pointBuildSeconds / r.buildSeconds).toFixed(2)]),
      ],
    ),
  );
  await writeJson(join(RESULTS_DIR, String(a.get('out') ?? 'hnsw-simd.json')), { machine: machineInfo(), settings: { dim, points, labels, queries, reps }, rows, pointRows });
}

await main();
