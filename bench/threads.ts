/**
 * Student training on 1 and 2 threads (Hogwild, core/model/hogwild-trainer.ts) side by side: α=0
 * students (plain negative sampling, every other setting at its default) on Delicious and apt-files.
 * Each dataset's candidate pool is mined once from the label centroids and both thread counts
 * train on that same pool, without re-mining (remineEvery 0): the bench times the training stage,
 * and mining is the same work whatever the thread count. The runs alternate, `--reps` times
 * (default 1); medians are reported. P@k: exact search on the test split (a subset above
 * EXACT_EVAL_MAX_PAIRS test pairs, as in jobs).
 * A benchmark: prints a table, writes bench/results/threads.json, asserts nothing.
 *
 *   npx tsx bench/threads.ts [--datasets delicious,apt-files] [--reps 1] [--epochs-apt-files 20] [--threads 1,2]
 *
 * --epochs-<dataset>: epochs for that dataset (default: the training default, 20).
 */
import { join } from 'node:path';
import { labelCounts } from '../src/core/data/csr.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import { HogwildTrainer } from '../src/core/model/hogwild-trainer.js';
import { propensitiesFromCounts } from '../src/core/model/metrics.js';
import { DEFAULT_TRAIN_CONFIG, studentShapeOf, type TrainConfig } from '../src/core/model/train-config.js';
import { stepScratchFloats, type NegativePool } from '../src/core/model/trainer.js';
import { trainerFor, trainingParameters } from '../src/core/model/training-setup.js';
import { evaluateStudent } from '../src/pipeline/evaluate.js';
import { mineFromCentroids } from '../src/pipeline/mine.js';
import { RESULTS_DIR, datasetSplit, machineInfo, mdTable, median, parseArgs, positiveInt, writeJson } from './lib.js';

type Loaded = Awaited<ReturnType<typeof loadTrainTest>>;

interface Run {
  threads: number;
  trainingSeconds: number;
  examplesPerSecond: number;
  /** Median over epochs: leaves out the first epoch's thread start. */
  epochExamplesPerSecondMedian: number;
  finalLoss: number;
  p1: number;
  p5: number;
  evaluatedPoints: number;
}

interface DatasetResult {
  dataset: string;
  trainPoints: number;
  labels: number;
  epochs: number;
  miningSeconds: number;
  runs: Run[];
}

async function train(data: Loaded, pool: NegativePool, cfg: TrainConfig, threads: number): Promise<Run> {
  const { train, test } = data;
  const { blank, kernels } = trainingParameters(studentShapeOf(cfg, train.features.cols, train.labels.cols), cfg, threads, undefined, stepScratchFloats(train.features, train.labels, cfg));
  const student = blank.randomize(cfg.seed);
  const trainer = trainerFor(student, kernels, train.features, train.labels, cfg, threads);
  trainer.setPool(pool);
  const hogwild = threads > 1 ? new HogwildTrainer(trainer, threads) : null;
  const started = performance.now();
  const epochs = [];
  try {
    for (let e = 1; e <= cfg.epochs; e++) epochs.push(hogwild ? await hogwild.trainEpoch(e) : trainer.trainEpoch(e));
  } finally {
    await hogwild?.close();
  }
  const trainingSeconds = (performance.now() - started) / 1000;
  if (!test) throw new Error('the bench needs a test split');
  const propensities = propensitiesFromCounts(labelCounts(train.labels), train.features.rows, test.labels.cols);
  const ev = await evaluateStudent(student, test, propensities);
  return {
    threads,
    trainingSeconds,
    examplesPerSecond: (train.features.rows * cfg.epochs) / trainingSeconds,
    epochExamplesPerSecondMedian: median(epochs.map((s) => s.examplesPerSecond)),
    finalLoss: epochs.at(-1)?.loss ?? Number.NaN,
    p1: ev.exact['p@1'],
    p5: ev.exact['p@5'],
    evaluatedPoints: ev.evaluatedPoints,
  };
}

async function runDataset(ds: string, epochs: number, reps: number, threadCounts: number[]): Promise<DatasetResult> {
  const split = datasetSplit(ds);
  const data = await loadTrainTest(split.train, split.test, { cacheDir: false });
  const cfg: TrainConfig = { ...DEFAULT_TRAIN_CONFIG, alpha: 0, epochs, remineEvery: 0, seed: 1 };
  const L = data.train.labels.cols;
  const t0 = performance.now();
  const pool = await mineFromCentroids(data.train, L, { poolSize: cfg.poolSize, seed: cfg.seed });
  const miningSeconds = (performance.now() - t0) / 1000;
  process.stderr.write(`[${ds}] ${data.train.features.rows} points, ${L} labels, pool mined in ${miningSeconds.toFixed(1)} s\n`);
  const res: DatasetResult = { dataset: ds, trainPoints: data.train.features.rows, labels: L, epochs, miningSeconds, runs: [] };
  for (let rep = 0; rep < reps; rep++) {
    // alternate which thread count runs first
    const order = rep % 2 ? [...threadCounts].reverse() : threadCounts;
    for (const threads of order) {
      const r = await train(data, pool, cfg, threads);
      res.runs.push(r);
      process.stderr.write(`[${ds}] rep ${rep + 1} threads ${threads}: training ${r.trainingSeconds.toFixed(1)} s, ${Math.round(r.examplesPerSecond)} ex/s, P@1 ${(100 * r.p1).toFixed(2)}\n`);
    }
  }
  return res;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const datasets = String(a.get('datasets') ?? 'delicious,apt-files').split(',');
  const reps = positiveInt('reps', String(a.get('reps') ?? 1));
  const threadCounts = String(a.get('threads') ?? '1,2').split(',').map((t) => positiveInt('threads', t));
  const results: DatasetResult[] = [];
  const rows: string[][] = [];
  for (const ds of datasets) {
    const epochs = positiveInt(`epochs-${ds}`, String(a.get(`epochs-${ds}`) ?? DEFAULT_TRAIN_CONFIG.epochs));
    const r = await runDataset(ds, epochs, reps, threadCounts);
    results.push(r);
    await writeJson(join(RESULTS_DIR, 'threads.json'), { machine: machineInfo(), reps, results });
    const med = (threads: number, f: (run: Run) => number): number => median(r.runs.filter((x) => x.threads === threads).map(f));
    const base = med(threadCounts[0], (x) => x.trainingSeconds);
    for (const t of threadCounts) {
      const s = med(t, (x) => x.trainingSeconds);
      rows.push([
        ds,
        String(r.epochs),
        String(t),
        s.toFixed(1),
        String(Math.round(med(t, (x) => x.examplesPerSecond))),
        String(Math.round(med(t, (x) => x.epochExamplesPerSecondMedian))),
        (base / s).toFixed(2),
        (100 * med(t, (x) => x.p1)).toFixed(2),
        (100 * med(t, (x) => x.p5)).toFixed(2),
      ]);
    }
  }
  process.stdout.write(`${mdTable(['dataset', 'epochs', 'threads', 'training s', 'examples/s', 'examples/s (median epoch)', 'speed-up', 'P@1', 'P@5'], rows)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
