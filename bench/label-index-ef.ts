/**
 * A published model's label index at several search list sizes: P@1 / P@5 / PSP@5 through the
 * index (the model's own neighbour component included) against exact search, recall@10, and how
 * often the exact top label is missing from the index's top 100 (a label the graph does not reach
 * is missing at any ef). A benchmark: prints a table, writes bench/results/label-index-ef.json.
 *
 *   npx tsx bench/label-index-ef.ts --model DIR --test FILE [--ef 100,400,1600] [--miss-sample 5000]
 *                                   [--rebuild M,efConstruction]   # the label index rebuilt with other parameters first
 *                                   [--rebuild-points M,efConstruction --train FILE]   # the training points' index likewise
 */
import { join } from 'node:path';
import { denseTopK } from '../src/ann/dense-search.js';
import { LabelIndex } from '../src/ann/hnsw-index.js';
import { encodePoints } from '../src/ann/neighbour-blend.js';
import { PointIndex } from '../src/ann/point-index.js';
import { threadCount } from '../src/core/util/threads.js';
import { evaluateStudent, evenlySpacedSubset } from '../src/pipeline/evaluate.js';
import { loadModel, loadTestForModel, modelPropensities } from '../src/pipeline/model-dir.js';
import { POINT_EF } from '../src/pipeline/retrieve.js';
import { RESULTS_DIR, machineInfo, mdTable, parseArgs, positiveInt, writeJson } from './lib.js';

const a = parseArgs(process.argv.slice(2));
const modelDir = a.get('model');
const testPath = a.get('test');
if (typeof modelDir !== 'string' || typeof testPath !== 'string') throw new Error('usage: --model DIR --test FILE [--ef 100,400,1600] [--miss-sample 5000]');
const efs = String(a.get('ef') ?? '100,400,1600').split(',').map((s) => positiveInt('--ef', s));
const missSample = positiveInt('--miss-sample', String(a.get('miss-sample') ?? 5000));

const model = await loadModel(modelDir);
const test = await loadTestForModel(model, testPath);
const propensities = modelPropensities(model, test);
const { student } = model;
const { dim, numLabels } = student.shape;
const rebuild = a.get('rebuild');
let index = model.index;
let built: Record<string, number> | undefined;
if (typeof rebuild === 'string') {
  const [M, efConstruction] = rebuild.split(',').map((x) => positiveInt('--rebuild', x));
  const t0 = performance.now();
  index = LabelIndex.build(student.V, numLabels, dim, { M, efConstruction, seed: model.config.train.seed });
  built = { M, efConstruction, seconds: (performance.now() - t0) / 1000 };
  process.stderr.write(`label index rebuilt with M ${M}, efConstruction ${efConstruction} in ${built.seconds.toFixed(1)} s\n`);
}

const rebuildPoints = a.get('rebuild-points');
let neighbours = model.neighbours;
let builtPoints: Record<string, number> | undefined;
if (typeof rebuildPoints === 'string') {
  const trainPath = a.get('train');
  if (typeof trainPath !== 'string' || !neighbours) throw new Error('--rebuild-points needs --train FILE and a model with a neighbour component');
  const train = await loadTestForModel(model, trainPath);
  const [M, efConstruction] = rebuildPoints.split(',').map((x) => positiveInt('--rebuild-points', x));
  const t0 = performance.now();
  const pointIndex = PointIndex.build(encodePoints(student, train.features), train.features.rows, dim, { M, efConstruction, efSearch: POINT_EF, scalar: 'f16' }, threadCount(0));
  builtPoints = { M, efConstruction, seconds: (performance.now() - t0) / 1000 };
  neighbours = { ...neighbours, index: pointIndex };
  process.stderr.write(`training points' index rebuilt with M ${M}, efConstruction ${efConstruction} in ${builtPoints.seconds.toFixed(1)} s\n`);
}

// the exact top label against the index's top 100, on a sample of the test queries
const sample = evenlySpacedSubset(test, missSample);
const n = sample.features.rows;
const queries = student.encodeAll(sample.features);
const top = Math.min(100, numLabels);
const exact = await denseTopK(student.V, numLabels, dim, queries, n, top, { threads: 2 });

const rows: Record<string, number>[] = [];
for (const ef of efs) {
  index.setEf(ef);
  const found = index.searchBatch(queries, n, top);
  let missing = 0;
  let missingTrue = 0;
  for (let i = 0; i < n; i++) {
    const best = exact.labels[i * top];
    if (found.labels.subarray(i * top, (i + 1) * top).includes(best)) continue;
    missing++;
    for (let p = sample.labels.indptr[i]; p < sample.labels.indptr[i + 1]; p++) if (sample.labels.indices[p] === best) missingTrue++;
  }
  const ev = await evaluateStudent(student, test, propensities, index, neighbours, 2);
  rows.push({ ef, exactP1: ev.exact['p@1'], p1: ev.hnsw!['p@1'], p5: ev.hnsw!['p@5'], psp5: ev.hnsw!['psp@5'], recallAt10: ev.hnswRecallAt10!, missing: missing / n, missingTrue: missingTrue / n, evaluatedPoints: ev.evaluatedPoints });
  process.stderr.write(`ef ${ef} done\n`);
}
const pct = (x: number): string => (100 * x).toFixed(2);
const table = mdTable(
  ['ef', 'P@1 exact', 'P@1 via index', 'P@5', 'PSP@5', 'recall@10', `exact top label not in the index's top ${top} (of ${n} queries)`, '… and a true label'],
  rows.map((r) => [String(r.ef), pct(r.exactP1), pct(r.p1), pct(r.p5), pct(r.psp5), r.recallAt10.toFixed(4), `${pct(r.missing)} %`, `${pct(r.missingTrue)} %`]),
);
process.stdout.write(`${table}\n`);
const name = ['label-index-ef', built && `M${built.M}-efc${built.efConstruction}`, builtPoints && `points-M${builtPoints.M}-efc${builtPoints.efConstruction}`].filter(Boolean).join('-');
await writeJson(join(RESULTS_DIR, `${name}.json`), { machine: machineInfo(), model: modelDir, test: testPath, rebuilt: built ?? null, rebuiltPoints: builtPoints ?? null, rows, table });
