/**
 * Student.encodeAll in plain JavaScript against the WebAssembly kernels (src/core/model/encode-rows.ts) on the
 * training rows of the shared sets, a seeded random student with the label bias at each d; medians of alternating
 * runs on one thread, and whether the two give the same floats bit for bit (they must).
 *
 *   npx tsx bench/encode-speed.ts [--datasets bibtex,corel5k,delicious,debtags,apt-files] [--dims 128,256] [--reps 3] [--out FILE]
 *
 * Prints a table, writes bench/results/encode-speed.json (or --out FILE there). Benchmark, not a test.
 */
import { join } from 'node:path';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { encodeRowsWithKernels } from '../src/core/model/encode-rows.js';
import { Student } from '../src/core/model/student.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, median, parseArgs, positiveInt, writeJson } from './lib.js';

const a = parseArgs(process.argv.slice(2));
const datasets = String(a.get('datasets') ?? 'bibtex,corel5k,delicious,debtags,apt-files').split(',');
const dims = String(a.get('dims') ?? '128,256').split(',').map(Number);
const reps = positiveInt('reps', String(a.get('reps') ?? 3));
const rows: { dataset: string; dim: number; rows: number; nnz: number; plainSeconds: number[]; kernelSeconds: number[]; sameBits: boolean }[] = [];
for (const ds of datasets) {
  const split = datasetSplit(ds);
  const { train } = await loadTrainTest(split.train, split.test, { cacheDir: false });
  const f = train.features;
  for (const dim of dims) {
    const student = Student.init({ inputDim: f.cols, dim: dim + 1, numLabels: 1, tau: 1, labelBias: true }, 1);
    const plainSeconds: number[] = [];
    const kernelSeconds: number[] = [];
    let sameBits = true;
    for (let rep = 0; rep < reps; rep++) {
      const order = rep % 2 ? ['kernels', 'plain'] : ['plain', 'kernels'];
      const got: Record<string, Float32Array> = {};
      for (const how of order) {
        const t0 = performance.now();
        got[how] = how === 'plain' ? student.encodeAll(f, false) : encodeRowsWithKernels(student.W1, student.shape, f)!;
        (how === 'plain' ? plainSeconds : kernelSeconds).push((performance.now() - t0) / 1000);
      }
      const x = new Uint32Array(got.plain.buffer);
      const y = new Uint32Array(got.kernels.buffer);
      for (let i = 0; i < x.length && sameBits; i++) sameBits = x[i] === y[i];
    }
    rows.push({ dataset: ds, dim: dim + 1, rows: f.rows, nnz: f.indices.length, plainSeconds, kernelSeconds, sameBits });
    process.stderr.write(`[${ds}] d ${dim + 1}: plain ${median(plainSeconds).toFixed(3)} s, kernels ${median(kernelSeconds).toFixed(3)} s, same bits ${sameBits}\n`);
  }
}
console.log(
  mdTable(
    ['set', 'rows', 'nonzeros', 'd (with the bias slot)', 'plain s (median)', 'kernels s (median, W1 copied in)', 'plain ÷ kernels', 'same floats'],
    rows.map((r) => [r.dataset, String(r.rows), String(r.nnz), String(r.dim), median(r.plainSeconds).toFixed(3), median(r.kernelSeconds).toFixed(3), (median(r.plainSeconds) / median(r.kernelSeconds)).toFixed(2), r.sameBits ? 'yes' : 'NO']),
  ),
);
await writeJson(join(RESULTS_DIR, String(a.get('out') ?? 'encode-speed.json')), { machine: machineInfo(), reps, rows });
