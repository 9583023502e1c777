/**
 * The teacher-start decision without factoring: energyShareBound (a Cauchy–Schwarz bound on the
 * rank-r energy share, from Hutchinson's estimate of ‖W Wᵀ‖_F) over many seeds, against the share
 * the rank-255 factors hold and the time each takes, on each dataset's fold-0 teacher (the one --auto
 * decides with; the benches' teachers, bench/teachers.ts). A benchmark: prints a table, writes
 * bench/results/energy-bound.json (--out), asserts nothing.
 *
 *   npx tsx bench/energy-bound.ts [--datasets apt-files] [--seeds 20] [--out FILE]
 */
import { dirname, join } from 'node:path';
import { energyShareBound } from '../src/core/model/energy-bound.js';
import { teacherStartEnergy } from '../src/pipeline/teacher-init.js';
import { AUTO_TEACHER_START } from '../src/pipeline/auto-tune.js';
import { readFoldsManifest } from '../src/teacher/folds.js';
import { readSparseLinearTeacher } from '../src/teacher/sparse-linear-read.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, median, parseArgs, writeJson } from './lib.js';
import { teacherFor } from './teachers.js';

const a = parseArgs(process.argv.slice(2));
const datasets = String(a.get('datasets') ?? 'apt-files').split(',');
const seeds = Number(a.get('seeds') ?? 20);
const outFile = String(a.get('out') ?? 'energy-bound.json');
const dim = AUTO_TEACHER_START.base.dim!;
const rank = dim - 1; // the label bias takes one dimension

const rows = [];
for (const ds of datasets) {
  const teacher = (await teacherFor(ds, datasetSplit(ds), [], false)).path;
  const manifest = await readFoldsManifest(teacher);
  const fold0 = manifest ? join(dirname(teacher), manifest.files[0]) : teacher;
  const model = await readSparseLinearTeacher(fold0);
  if (!model) throw new Error(`${fold0}: not a sparse linear teacher`);
  const bounds: number[] = [];
  const boundSeconds: number[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const t0 = performance.now();
    bounds.push(energyShareBound(model.weights, rank, seed));
    boundSeconds.push((performance.now() - t0) / 1000);
  }
  const t0 = performance.now();
  const energy = await teacherStartEnergy(fold0, { inputDim: model.numFeatures, numLabels: model.numLabels, dim, tau: 1, labelBias: true }, 1);
  const factorSeconds = (performance.now() - t0) / 1000;
  rows.push({ dataset: ds, labels: model.numLabels, rank, boundMin: Math.min(...bounds), boundMedian: median(bounds), boundMax: Math.max(...bounds), boundSeconds: median(boundSeconds), energy, factorSeconds });
}
const pct = (x: number | null): string => (x === null ? '—' : (100 * x).toFixed(1));
console.log(mdTable(['dataset', 'labels', 'rank', `bound over ${seeds} seeds, min / median / max %`, 'bound s (median)', 'factors hold %', 'factoring s'], rows.map((r) => [r.dataset, String(r.labels), String(r.rank), `${pct(r.boundMin)} / ${pct(r.boundMedian)} / ${pct(r.boundMax)}`, r.boundSeconds.toFixed(2), pct(r.energy), r.factorSeconds.toFixed(1)])));
await writeJson(join(RESULTS_DIR, outFile), { machine: machineInfo(), seeds, rows });
