/**
 * A job's published indexes on a published model's vectors: how the label index (hnswlib, in a
 * worker thread) and the training points' index (USearch, on every thread here) share the two
 * cores, and the label index's evaluation search on one thread against two.
 *
 *   npx tsx bench/published-indexes.ts --model DIR --train TRAIN --test TEST [--threads 2] [--schedule before|now]
 *
 * Builds: each index alone; then both at once, with the points added right after the label
 * worker is spawned (the job before 2026-12-06: under tsx the worker only loads its modules once this
 * thread's add returns) and after the worker says it has started (the job now). A worker that
 * loaded the same modules earlier in the process starts faster, as a job's first index worker does
 * not: `--schedule before|now` runs only that one, first, in a fresh process (and no search). Search: the label
 * index at the model's ef for the test queries a job evaluates (evenlySpacedSubset, as
 * evaluateStudent), LabelIndex.searchBatch against searchBatchInThreads; the results must be equal.
 * Prints a table, writes bench/results/published-indexes.json (published-indexes-<schedule>.json). Benchmark, not a test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePoints } from '../src/ann/neighbour-blend.js';
import { searchBatchInThreads } from '../src/ann/parallel-search.js';
import { PointIndex } from '../src/ann/point-index.js';
import { buildIndexInThread, type IndexSpec } from '../src/ann/threaded-build.js';
import { EXACT_EVAL_MAX_PAIRS, evenlySpacedSubset } from '../src/pipeline/evaluate.js';
import { loadModel, loadTestForModel } from '../src/pipeline/model-dir.js';
import { pointIndexOptions, PUBLISHED_INDEX_M } from '../src/pipeline/neighbours.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { shortlistSize } from '../src/pipeline/retrieve.js';
import { RESULTS_DIR, machineInfo, mdTable, parseArgs, positiveInt, requiredArgs, writeJson } from './lib.js';

const a = parseArgs(process.argv.slice(2));
const [modelDir, trainPath, testPath] = requiredArgs(a, ['model', 'train', 'test']);
const threads = positiveInt('threads', String(a.get('threads') ?? 2));
const schedule = a.get('schedule');
if (schedule !== undefined && schedule !== 'before' && schedule !== 'now') throw new Error(`--schedule must be before or now, got ${String(schedule)}`);
const model = await loadModel(modelDir);
const { dim, numLabels } = model.student.shape;
const train = await loadTestForModel(model, trainPath);
const test = evenlySpacedSubset(await loadTestForModel(model, testPath), Math.max(1, Math.floor(EXACT_EVAL_MAX_PAIRS / numLabels)));
const points = encodePoints(model.student, train.features);
const n = train.features.rows;
const spec: IndexSpec = { vectors: model.student.V, count: numLabels, dim, options: { M: PUBLISHED_INDEX_M, efConstruction: model.config.hnsw.efConstruction, seed: model.config.train.seed } };
// as the model's job built it (a model from before these settings: their defaults)
const pointOptions = pointIndexOptions({ ...DEFAULT_TRAIN_CONFIG, ...model.config.train });
const since = (t0: number): number => (performance.now() - t0) / 1000;
const dir = await mkdtemp(join(tmpdir(), 'distilxr-bench-published-'));

const rows: { what: string; pointsDone: number | null; labelsDone: number | null }[] = [];
let t0 = performance.now();
if (schedule === undefined) {
  await buildIndexInThread(spec).index;
  rows.push({ what: 'label index alone (worker thread)', pointsDone: null, labelsDone: since(t0) });
  t0 = performance.now();
  PointIndex.build(points, n, dim, pointOptions, threads);
  rows.push({ what: `points index alone (${threads} threads)`, pointsDone: since(t0), labelsDone: null });
}
for (const wait of schedule === undefined ? [false, true] : [schedule === 'now']) {
  t0 = performance.now();
  const labels = buildIndexInThread(spec, join(dir, `labels-${wait}.hnsw`));
  if (wait) await labels.building;
  PointIndex.build(points, n, dim, pointOptions, threads);
  const pointsDone = since(t0);
  await labels.index;
  rows.push({ what: wait ? 'both, points added once the worker has started (now)' : 'both, points added right after spawning the worker (before)', pointsDone, labelsDone: since(t0) });
  process.stderr.write(`${rows[rows.length - 1].what}: ${since(t0).toFixed(1)} s\n`);
}
const s = (x: number | null): string => (x === null ? '' : x.toFixed(1));
const buildTable = mdTable(['build', 'points done, s', 'label index done, s'], rows.map((r) => [r.what, s(r.pointsDone), s(r.labelsDone)]));
if (schedule !== undefined) {
  await rm(dir, { recursive: true, force: true });
  console.log(buildTable);
  await writeJson(join(RESULTS_DIR, `published-indexes-${schedule}.json`), { machine: machineInfo(), model: modelDir, numLabels, points: n, dim, threads, builds: rows });
  process.exit(0);
}

const index = await buildIndexInThread(spec, join(dir, 'labels-search.hnsw')).index;
index.setEf(model.config.hnsw.efSearch);
const queries = model.student.encodeAll(test.features);
const k = shortlistSize(numLabels, 100, model.neighbours !== null);
t0 = performance.now();
const one = index.searchBatch(queries, test.features.rows, k);
const oneSeconds = since(t0);
t0 = performance.now();
const two = await searchBatchInThreads(index, queries, test.features.rows, k, threads, 0);
const twoSeconds = since(t0);
const same = one.labels.every((x, i) => x === two.labels[i]) && one.scores.every((x, i) => x === two.scores[i]);
await rm(dir, { recursive: true, force: true });

console.log(`${modelDir}: ${numLabels} labels, ${n} training points, d=${dim}\n`);
console.log(buildTable);
console.log(`\nlabel index search, ${test.features.rows} queries × top ${k} at ef ${index.ef}: 1 thread ${oneSeconds.toFixed(1)} s, ${threads} threads ${twoSeconds.toFixed(1)} s (${(oneSeconds / twoSeconds).toFixed(2)}×), same results: ${same}`);
await writeJson(join(RESULTS_DIR, 'published-indexes.json'), { machine: machineInfo(), model: modelDir, numLabels, points: n, dim, threads, builds: rows, search: { queries: test.features.rows, k, ef: index.ef, oneThreadSeconds: oneSeconds, threadsSeconds: twoSeconds, same } });
