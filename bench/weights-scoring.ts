/**
 * The training pairs of a teacher `teacher fit` wrote, scored three ways (teacherWeights): through
 * its ONNX graph in ONNX Runtime (one intra-op thread), from its weights through the feature-major
 * all-label sum, and from a dense label-major copy of its weights (the default when it has at most
 * DENSE_WEIGHTS_MAX floats). The pairs are a job's first scoring call: each training row's
 * positives and its first pool (64 labels mined from the label centroids).
 *
 *   npx tsx bench/weights-scoring.ts [--datasets bibtex,delicious,corel5k] [--reps 3]
 *
 * Runs alternate, order rotated every repetition; medians. Also the largest difference from ONNX
 * Runtime's scores and the share of scores equal to them bit for bit. Prints a table, writes
 * bench/results/weights-scoring.json. Benchmark, not a test.
 */
import { join } from 'node:path';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { positivesAndPoolAsCsr } from '../src/pipeline/score.js';
import { mineFromCentroids } from '../src/pipeline/mine.js';
import { OnnxTeacher, type CandidateScorer } from '../src/teacher/onnx-teacher.js';
import { SparseLinearScorer } from '../src/teacher/sparse-linear-scorer.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, median, parseArgs, positiveInt, writeJson } from './lib.js';
import { teacherFor } from './teachers.js';

const a = parseArgs(process.argv.slice(2));
const datasets = String(a.get('datasets') ?? 'bibtex,delicious,corel5k').split(',');
const reps = positiveInt('reps', String(a.get('reps') ?? 3));

const results: Record<string, unknown>[] = [];
const rows: string[][] = [];
for (const ds of datasets) {
  const split = datasetSplit(ds);
  const teacherPath = (await teacherFor(ds, split, [], false)).path;
  const { train } = await loadTrainTest(split.train, split.test, { cacheDir: false });
  const L = train.labels.cols;
  const pool = await mineFromCentroids(train, L, { poolSize: 64, seed: 1, threads: 1 });
  const candidates = positivesAndPoolAsCsr(train.labels, pool);
  const examples = Int32Array.from({ length: train.features.rows }, (_, i) => i);
  const onnx = await OnnxTeacher.load(teacherPath, { intraOpThreads: 1 });
  const dense = await SparseLinearScorer.read(teacherPath, train.features.cols, L);
  const sparse = await SparseLinearScorer.read(teacherPath, train.features.cols, L, 0);
  if (!dense || !sparse) throw new Error(`${teacherPath} is not a sparse linear teacher over these features`);
  const ways: Record<string, CandidateScorer> = { 'ONNX Runtime': onnx, 'weights, all labels': sparse, 'weights, dense copy': dense };
  const seconds: Record<string, number[]> = {};
  const scores: Record<string, Float32Array> = {};
  const names = Object.keys(ways);
  for (let rep = 0; rep < reps; rep++) {
    for (let i = 0; i < names.length; i++) {
      const name = names[(i + rep) % names.length];
      const t0 = performance.now();
      scores[name] = await ways[name].scoreCandidates(train.features, examples, candidates);
      (seconds[name] ??= []).push((performance.now() - t0) / 1000);
    }
  }
  await onnx.close();
  const ref = scores['ONNX Runtime'];
  const base = median(seconds['ONNX Runtime']);
  for (const name of names) {
    const s = scores[name];
    let maxDiff = 0;
    let equal = 0;
    for (let p = 0; p < s.length; p++) {
      maxDiff = Math.max(maxDiff, Math.abs(s[p] - ref[p]));
      if (s[p] === ref[p]) equal++;
    }
    const m = median(seconds[name]);
    results.push({ dataset: ds, way: name, pairs: ref.length, seconds: seconds[name], maxDiff, bitEqualShare: equal / ref.length });
    rows.push([ds, String(ref.length), name, m.toFixed(3), (base / m).toFixed(1), maxDiff.toExponential(1), (equal / ref.length).toFixed(3)]);
  }
  process.stderr.write(`[${ds}] done\n`);
}
console.log(mdTable(['dataset', 'pairs', 'scored by', 's (median)', '× ONNX Runtime', 'max |Δ| from ONNX Runtime', 'bit-equal share'], rows));
await writeJson(join(RESULTS_DIR, 'weights-scoring.json'), { machine: machineInfo(), reps, results });
