/**
 * One boolean lever off against on, e.g. row-wise against per-coordinate Adagrad
 * (`--lever rowwise-adagrad`, `npm run bench:adagrad`) or the training step's SIMD kernels against
 * plain JavaScript loops (`--lever simd-kernels`): the same `distilxr train` job with each,
 * alternating (order flipped every repetition), one thread so each seed gives one model bit for
 * bit. Reports the training stage's seconds, the job's examples/s, and P@1 / P@5 through HNSW.
 * A benchmark: prints a table, writes bench/results/lever-<lever>.json, asserts nothing.
 *
 *   npx tsx bench/lever.ts --lever rowwise-adagrad|simd-kernels|… [--datasets bibtex,delicious,corel5k,debtags] [--seeds 1,2]
 *                          [--teacher-dir /tmp/x]   # adds α=1 rows where <dir>/<dataset>/teacher.onnx exists
 *
 * The α=0 rows run --auto's random-start α=0 candidate (d=256, lr 0.25, 10 epochs); the α=1 rows its
 * α=1 candidate (lr 0.1, 20 epochs, the teacher's own scores).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_TRAIN_CONFIG, type TrainConfig } from '../src/core/model/train-config.js';
import { ALPHA0_RANDOM_START, AUTO_RANDOM_START } from '../src/pipeline/auto-tune.js';
import { RESULTS_DIR, TMP_DIR, datasetSplit, distilxrJson, machineInfo, mdTable, median, parseArgs, trainFlags, writeJson } from './lib.js';
import { peerBar, readPeersJson } from './peers.js';

interface Run {
  dataset: string;
  setting: string;
  seed: number;
  on: boolean;
  trainingSeconds: number;
  examplesPerSecond: number;
  p1: number;
  p5: number;
}

const a = parseArgs(process.argv.slice(2));
const lever = String(a.get('lever') ?? '');
const key = lever.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof TrainConfig;
if (typeof DEFAULT_TRAIN_CONFIG[key] !== 'boolean') throw new Error(`--lever: a boolean training setting in kebab case (rowwise-adagrad, simd-kernels, …), got "${lever}"`);
const datasets = String(a.get('datasets') ?? 'bibtex,delicious,corel5k,debtags').split(',');
const seeds = String(a.get('seeds') ?? '1,2').split(',').map(Number);
const teacherDir = a.get('teacher-dir') as string | undefined;
const base = ['--no-auto', ...trainFlags({ teacherInit: false, dim: AUTO_RANDOM_START.base.dim, threads: 1 })];
const settings: { name: string; flags: (ds: string) => string[] | null }[] = [
  { name: 'α=0', flags: () => trainFlags(ALPHA0_RANDOM_START) },
  {
    name: 'α=1',
    flags: (ds) => {
      const teacher = teacherDir ? join(teacherDir, ds, 'teacher.onnx') : '';
      if (!teacher || !existsSync(teacher)) return null;
      return ['--teacher', teacher, '--no-cross-fit', ...trainFlags({ alpha: 1, temperature: 1, lr: AUTO_RANDOM_START.base.lr, epochs: AUTO_RANDOM_START.base.epochs })];
    },
  },
];

const runs: Run[] = [];
let rep = 0;
for (const ds of datasets) {
  const split = datasetSplit(ds);
  for (const s of settings) {
    const flags = s.flags(ds);
    if (!flags) continue;
    for (const seed of seeds) {
      const order = rep++ % 2 ? [true, false] : [false, true];
      for (const on of order) {
        const out = join(TMP_DIR, `lever-${lever}`, `${ds}-${s.name === 'α=0' ? 'a0' : 'a1'}-s${seed}-${on ? 'on' : 'off'}`);
        const args = ['train', '--train', split.train, '--test', split.test, ...base, ...flags, '--seed', String(seed), '--out', out, ...trainFlags({ [key]: on })];
        process.stderr.write(`[${ds}] ${s.name} seed ${seed} ${lever} ${on ? 'on' : 'off'}\n`);
        const { json } = await distilxrJson<{ stageSeconds: Record<string, number>; trainExamplesPerSecond: number; hnsw: Record<string, number> }>(args, `${out}.log`);
        runs.push({ dataset: ds, setting: s.name, seed, on, trainingSeconds: json.stageSeconds.training, examplesPerSecond: json.trainExamplesPerSecond, p1: json.hnsw['p@1'], p5: json.hnsw['p@5'] });
      }
    }
  }
}

const pct = (x: number): string => (100 * x).toFixed(2);
const rows: string[][] = [];
for (const ds of datasets) {
  for (const s of settings) {
    const pick = (on: boolean): Run[] => runs.filter((r) => r.dataset === ds && r.setting === s.name && r.on === on);
    const off = pick(false);
    const on = pick(true);
    if (!off.length) continue;
    const seconds = (rs: Run[]): number => median(rs.map((r) => r.trainingSeconds));
    const perSecond = (rs: Run[]): number => median(rs.map((r) => r.examplesPerSecond));
    const dP1 = on.reduce((t, r, i) => t + r.p1 - off[i].p1, 0) / on.length; // runs of the same seed, in seed order
    rows.push([
      ds,
      s.name,
      off.map((r) => pct(r.p1)).join(', '),
      on.map((r) => pct(r.p1)).join(', '),
      (100 * dP1).toFixed(2),
      off.map((r) => pct(r.p5)).join(', '),
      on.map((r) => pct(r.p5)).join(', '),
      `${seconds(off).toFixed(1)} → ${seconds(on).toFixed(1)} (${(seconds(off) / seconds(on)).toFixed(2)}×)`,
      `${(perSecond(on) / perSecond(off)).toFixed(2)}×`,
    ]);
  }
}
const table = mdTable(['dataset', 'setting', `P@1 ${lever} off (seeds)`, 'P@1 on', 'mean Δ P@1', 'P@5 off', 'P@5 on', 'training s, medians off → on (speed-up)', 'examples/s on ÷ off'], rows);
// the peers on the same test splits: their whole training runs, one thread (../shared/peers/peers.json)
const peers = await readPeersJson();
const peerTable = mdTable(
  ['dataset', 'best peer P@1', 'best peer P@5', 'fastest peer, train s'],
  datasets.flatMap((ds) => {
    const bar = peerBar(peers, ds);
    return bar ? [[ds, bar.best['P@1'], bar.best['P@5'], bar.fastest]] : [];
  }),
);
process.stdout.write(`${table}\n\n${peerTable}\n`);
await writeJson(join(RESULTS_DIR, `lever-${lever}.json`), { machine: machineInfo(), lever, seeds, runs, table, peerTable });
