/**
 * The teacher start's factorisation (lowRankFactors) of a teacher `teacher fit` wrote, both ways:
 * the randomized range finder and, for a sparse matrix of few rows, the exact eigen-decomposition
 * of W·Wᵀ (the default when gramIsCheaper says so). Seconds, the share of ‖W‖² the rank holds, and
 * the largest relative difference of the top singular values.
 *
 *   npx tsx bench/teacher-start.ts [--datasets debtags,delicious] [--rank 255] [--reps 1]
 *
 * Teachers: bench/teachers.ts (fitted once into bench/results/tmp/<ds>/). Runs alternate; medians.
 * Prints a table, writes bench/results/teacher-start.json. Benchmark, not a test.
 */
import { join } from 'node:path';
import { lowRankFactors, type LowRankFactors } from '../src/core/model/low-rank.js';
import { readSparseLinearTeacher } from '../src/teacher/sparse-linear-read.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, median, parseArgs, positiveInt, writeJson } from './lib.js';
import { teacherFor } from './teachers.js';

const a = parseArgs(process.argv.slice(2));
const datasets = String(a.get('datasets') ?? 'debtags,delicious').split(',');
const rank = positiveInt('rank', String(a.get('rank') ?? 255));
const reps = positiveInt('reps', String(a.get('reps') ?? 1));

const rows: string[][] = [];
const results: Record<string, unknown>[] = [];
for (const ds of datasets) {
  const path = (await teacherFor(ds, datasetSplit(ds), [], false)).path;
  const model = await readSparseLinearTeacher(path);
  if (!model) throw new Error(`${path} is not a sparse linear teacher`);
  const W = model.weights;
  let total = 0;
  for (let p = 0; p < W.indptr[W.rows]; p++) total += W.values![p] ** 2;
  const ways = { randomized: false, exact: true };
  const seconds: Record<string, number[]> = {};
  const made: Record<string, LowRankFactors> = {};
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, gram] of rep % 2 ? Object.entries(ways).reverse() : Object.entries(ways)) {
      const t0 = performance.now();
      made[name] = await lowRankFactors(W, rank, { seed: 1, gram });
      (seconds[name] ??= []).push((performance.now() - t0) / 1000);
    }
  }
  for (const name of Object.keys(ways)) {
    const f = made[name];
    const energy = f.singularValues.reduce((s, v) => s + v * v, 0) / total;
    let maxRel = 0;
    for (let t = 0; t < Math.min(f.singularValues.length, made.exact.singularValues.length); t++) maxRel = Math.max(maxRel, Math.abs(f.singularValues[t] - made.exact.singularValues[t]) / made.exact.singularValues[t]);
    results.push({ dataset: ds, way: name, labels: W.rows, features: W.cols, weights: W.indptr[W.rows], rank, seconds: seconds[name], energy, maxRelativeToExact: maxRel });
    rows.push([ds, `${W.rows} × ${W.cols}, ${W.indptr[W.rows]} weights`, name, median(seconds[name]).toFixed(2), (100 * energy).toFixed(2), maxRel.toExponential(1)]);
  }
}
console.log(mdTable(['dataset', 'teacher W', 'factorisation', 's (median)', 'energy at the rank, %', 'max rel. diff of singular values from exact'], rows));
await writeJson(join(RESULTS_DIR, 'teacher-start.json'), { machine: machineInfo(), rank, reps, results });
