/**
 * Table 2, training speed: the student's training stage (`distilxr train --json`:
 * stageSeconds.training, trainExamplesPerSecond) against fastText `ova` and `ns` on the same data,
 * dimension and epochs, one thread each (`--threads 1`; bench/threads.ts compares thread counts). The competitors run
 * alternately, `--reps` times (default 3); medians are reported and the ratio fastText time /
 * student time (higher = the student is faster). Also the whole student job, stage by stage.
 * A benchmark: prints tables, writes bench/results/train-speed.json (train-speed-quick.json with
 * --quick), asserts nothing.
 *
 *   npx tsx bench/train-speed.ts [--datasets delicious,bibtex] [--quick] [--reps 3] [--ft-lr 0.1]
 *
 * fastText's learning rate: the one bench/quality.ts picked for that dataset and loss (read from
 * bench/results/quality.json) when there is one, else --ft-lr; halved until fastText stops
 * diverging (NaN). It barely changes the time.
 *
 * --quick: Bibtex only. The student runs plain negative sampling (α=0, default negatives: 16 hard,
 * 16 uniform, 8 in-batch), so no teacher is needed; fastText ns runs with its default 5 negatives
 * and with as many negatives as the student (`ns-neg40`, same learning rate as ns).
 */
import { join } from 'node:path';
import { readXcFile } from '../src/core/data/xc-format.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/model/train-config.js';
import { FasttextDivergedError, ensureFasttext, trainFasttext, writeFasttextFile } from './fasttext.js';
import { RESULTS_DIR, TMP_DIR, distilxrJson, machineInfo, mdTable, median, mulanSplit, parseArgs, positiveInt, readJsonIfExists, writeJson } from './lib.js';

interface StudentRun {
  trainingSeconds: number;
  examplesPerSecondEpochMedian: number;
  stageSeconds: Record<string, number>;
  jobSeconds: number;
}

interface DatasetResult {
  dataset: string;
  trainPoints: number;
  epochs: number;
  dim: number;
  student: StudentRun[];
  fasttext: Record<Variant, number[]>;
  fasttextLr: Record<Variant, number>;
}

type Variant = 'ova' | 'ns' | 'ns-neg40';
const VARIANTS: Variant[] = ['ova', 'ns', 'ns-neg40'];
const STUDENT_NEGATIVES = DEFAULT_TRAIN_CONFIG.hardNegatives + DEFAULT_TRAIN_CONFIG.randomNegatives + DEFAULT_TRAIN_CONFIG.inBatchNegatives;
const VARIANT_OPTS: Record<Variant, { loss: 'ova' | 'ns'; neg: number }> = {
  ova: { loss: 'ova', neg: 5 },
  ns: { loss: 'ns', neg: 5 },
  'ns-neg40': { loss: 'ns', neg: STUDENT_NEGATIVES },
};

/** The learning rate bench/quality.ts picked for (dataset, loss), if it ran. */
async function pickedLr(ds: string, loss: 'ova' | 'ns'): Promise<number | undefined> {
  const q = await readJsonIfExists<{ rows: { dataset: string; method: string; extra?: { lr?: number } }[] }>(join(RESULTS_DIR, 'quality.json'));
  return q?.rows.find((r) => r.dataset === ds && r.method.startsWith(`fastText ${loss} `))?.extra?.lr;
}

async function runDataset(ds: string, reps: number, ftLr: number): Promise<DatasetResult> {
  const { train: trainPath, test: testPath } = mulanSplit(ds);
  const work = join(TMP_DIR, ds, 'speed');
  const train = await readXcFile(trainPath);
  const ftTrain = join(work, 'ft-train.txt');
  await writeFasttextFile(train, ftTrain, true);
  const { dim, epochs } = DEFAULT_TRAIN_CONFIG;
  const nsLr = (await pickedLr(ds, 'ns')) ?? ftLr;
  const fasttextLr: Record<Variant, number> = { ova: (await pickedLr(ds, 'ova')) ?? ftLr, ns: nsLr, 'ns-neg40': nsLr };
  const res: DatasetResult = { dataset: ds, trainPoints: train.features.rows, epochs, dim, student: [], fasttext: { ova: [], ns: [], 'ns-neg40': [] }, fasttextLr };
  for (let rep = 0; rep < reps; rep++) {
    // rotate the order so no competitor always runs first (or right after the heavy one)
    const order: string[] = ['student', ...VARIANTS];
    for (let i = 0; i < rep % order.length; i++) order.push(order.shift() as string);
    for (const who of order) {
      if (who === 'student') {
        const out = join(work, 'student');
        const r = await distilxrJson<{ stageSeconds: Record<string, number>; trainExamplesPerSecond: number; config: { epochs: number } }>(
          ['train', '--train', trainPath, '--test', testPath, '--alpha', '0', '--seed', '1', '--threads', '1', '--dim', String(dim), '--epochs', String(epochs), '--out', out],
          `${out}.log`,
        );
        res.student.push({ trainingSeconds: r.json.stageSeconds.training, examplesPerSecondEpochMedian: r.json.trainExamplesPerSecond, stageSeconds: r.json.stageSeconds, jobSeconds: r.seconds });
        process.stderr.write(`[${ds}] rep ${rep + 1} student: training ${r.json.stageSeconds.training.toFixed(2)} s (job ${r.seconds.toFixed(1)} s)\n`);
      } else {
        const loss = who as Variant;
        const { loss: ftLoss, neg } = VARIANT_OPTS[loss];
        let s = NaN;
        while (Number.isNaN(s)) {
          try {
            s = await trainFasttext({ input: ftTrain, output: join(work, `ft-${loss}`), loss: ftLoss, neg, dim, epoch: epochs, lr: fasttextLr[loss], thread: 1 });
          } catch (e) {
            if (!(e instanceof FasttextDivergedError) || fasttextLr[loss] < 1e-3) throw e;
            fasttextLr[loss] /= 2;
            process.stderr.write(`[${ds}] fastText ${loss} diverged: lr ${fasttextLr[loss]}\n`);
          }
        }
        res.fasttext[loss].push(s);
        process.stderr.write(`[${ds}] rep ${rep + 1} fastText ${loss} (lr ${fasttextLr[loss]}): ${s.toFixed(2)} s\n`);
      }
    }
  }
  return res;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const jsonName = a.has('quick') ? 'train-speed-quick.json' : 'train-speed.json';
  const datasets = a.has('quick') ? ['bibtex'] : String(a.get('datasets') ?? 'delicious,bibtex').split(',');
  const reps = positiveInt('reps', String(a.get('reps') ?? 3));
  const ftLr = Number(a.get('ft-lr') ?? 0.1);
  ensureFasttext();
  const results: DatasetResult[] = [];
  for (const ds of datasets) {
    results.push(await runDataset(ds, reps, ftLr));
    await writeJson(join(RESULTS_DIR, jsonName), { machine: machineInfo(), reps, ftLr, threads: 1, results });
  }

  const rows: string[][] = [];
  for (const r of results) {
    const examples = r.trainPoints * r.epochs;
    const st = median(r.student.map((s) => s.trainingSeconds));
    rows.push([r.dataset, `student (training stage, α=0)`, st.toFixed(2), Math.round(examples / st).toString(), Math.round(median(r.student.map((s) => s.examplesPerSecondEpochMedian))).toString(), '1.00']);
    for (const loss of VARIANTS) {
      const t = median(r.fasttext[loss]);
      rows.push([r.dataset, `fastText ${VARIANT_OPTS[loss].loss}${loss === 'ova' ? '' : `, ${VARIANT_OPTS[loss].neg} negatives`}, lr ${r.fasttextLr[loss]} (whole process)`, t.toFixed(2), Math.round(examples / t).toString(), '', (t / st).toFixed(2)]);
    }
  }
  process.stdout.write(`\n## Training speed (1 thread, dim ${DEFAULT_TRAIN_CONFIG.dim}, ${DEFAULT_TRAIN_CONFIG.epochs} epochs, median of ${reps}, alternating runs)\n\n`);
  process.stdout.write(
    mdTable(['dataset', 'what', 'seconds', 'examples/s (points×epochs / seconds)', 'examples/s (median epoch)', 'fastText / student time'], rows) + '\n\n',
  );

  const stages = ['preparing', 'mining', 'scoring', 'training', 'evaluating', 'publishing'];
  const stageRows = results.map((r) => {
    const present = stages.filter((s) => r.student.some((x) => s in x.stageSeconds));
    const cells = stages.map((s) => (present.includes(s) ? median(r.student.map((x) => x.stageSeconds[s] ?? 0)).toFixed(2) : '–'));
    return [r.dataset, ...cells, median(r.student.map((x) => x.jobSeconds)).toFixed(2)];
  });
  process.stdout.write(`## Student job by stage (seconds, median of ${reps})\n\n${mdTable(['dataset', ...stages, 'whole process'], stageRows)}\n\n`);
  process.stdout.write(`Raw: bench/results/${jsonName}\n`);
}

await main();
