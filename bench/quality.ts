/**
 * Table 1, "Quality": P@1/3/5, nDCG@5, PSP@5 on the MULAN splits of Bibtex, Delicious and Corel5k
 * for fastText (ova, ns), the baseline teacher and the student in four settings. A benchmark: it
 * prints a markdown table and writes bench/results/quality.json (quality-quick.json with --quick);
 * nothing is asserted.
 *
 *   npx tsx bench/quality.ts [--datasets bibtex,delicious,corel5k] [--quick] [--fresh]
 *                            [--teacher-dir DIR[,DIR]] [--seed 1] [--lr-grid 0.05,0.1,0.25,0.5,1]
 *
 * --quick: Bibtex only. Teachers are fitted with `distilxr teacher fit` into
 * bench/results/tmp/<ds>/teacher.onnx and reused on the next run unless --fresh; --teacher-dir
 * also looks for <DIR>/<ds>-teacher.onnx or <DIR>/<ds>/teacher.onnx (fold models beside it).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { readXcFile } from '../src/core/xc-format.js';
import { DEFAULT_TRAIN_CONFIG } from '../src/core/train-config.js';
import type { MetricReport } from '../src/core/metrics.js';
import { ensureFasttext, fasttextEvaluate, type FasttextResult } from './fasttext.js';
import { RESULTS_DIR, TMP_DIR, distilxrJson, machineInfo, mdTable, mulanSplit, parseArgs, writeJson } from './lib.js';

const XC_REPOSITORY = 'http://manikvarma.org/downloads/XC/XMLRepository.html';
const SHOWN = ['p@1', 'p@3', 'p@5', 'ndcg@5', 'psp@5'] as const;

interface Row {
  dataset: string;
  method: string;
  note?: string;
  metrics?: MetricReport;
  seconds?: number;
  extra?: Record<string, unknown>;
}

/** The student settings: extra CLI flags, and whether they need the teacher. */
const STUDENT_SETTINGS: { method: string; flags: string[]; teacher: boolean }[] = [
  { method: 'student: uniform negatives only (α=0, 0 hard)', flags: ['--alpha', '0', '--hard-negatives', '0'], teacher: false },
  { method: 'student: hard negatives (α=0)', flags: ['--alpha', '0'], teacher: false },
  { method: 'student: distillation only (α=1)', flags: ['--alpha', '1'], teacher: true },
  { method: 'student: distillation + hard negatives (α=0.5, defaults)', flags: [], teacher: true },
];

async function teacherFor(ds: string, train: string, test: string, dirs: string[], fresh: boolean, rows: Row[]): Promise<string> {
  if (!fresh) {
    for (const d of dirs) {
      for (const p of [join(d, `${ds}-teacher.onnx`), join(d, ds, 'teacher.onnx')]) {
        if (existsSync(p)) {
          process.stderr.write(`[${ds}] reusing teacher ${p}\n`);
          return p;
        }
      }
    }
  }
  const out = join(TMP_DIR, ds, 'teacher.onnx');
  if (!fresh && existsSync(out)) {
    process.stderr.write(`[${ds}] reusing teacher ${out} (--fresh to refit)\n`);
    return out;
  }
  process.stderr.write(`[${ds}] fitting the teacher (log: ${out}.log) ...\n`);
  const r = await distilxrJson<MetricReport>(['teacher', 'fit', '--train', train, '--test', test, '--out', out], `${out}.log`);
  rows.push({ dataset: ds, method: 'teacher fit (its own report)', metrics: r.json, seconds: r.seconds, extra: { hidden: true } });
  return out;
}

async function runDataset(ds: string, o: { dirs: string[]; fresh: boolean; seed: number; lrGrid: number[] }): Promise<Row[]> {
  const { train: trainPath, test: testPath } = mulanSplit(ds);
  const rows: Row[] = [];
  const work = join(TMP_DIR, ds);
  const cfg = DEFAULT_TRAIN_CONFIG;

  // fastText first (cheap), on one thread with the student's dim and epochs.
  const [train, test] = [await readXcFile(trainPath), await readXcFile(testPath)];
  for (const loss of ['ova', 'ns'] as const) {
    process.stderr.write(`[${ds}] fastText ${loss}\n`);
    const r: FasttextResult = await fasttextEvaluate(train, test, work, { loss, dim: cfg.dim, epoch: cfg.epochs, thread: 1, lrGrid: o.lrGrid });
    rows.push({ dataset: ds, method: `fastText ${loss} (dim ${cfg.dim}, ${cfg.epochs} epochs, lr ${r.lr})`, metrics: r.metrics, seconds: r.trainSeconds, extra: { lr: r.lr, lrGrid: r.lrGrid } });
  }

  const teacher = await teacherFor(ds, trainPath, testPath, o.dirs, o.fresh, rows);
  let teacherMetrics: MetricReport | undefined;
  for (const s of STUDENT_SETTINGS) {
    const slug = s.method.replace(/[^a-z0-9]+/gi, '-').toLowerCase().replace(/-+$/, '');
    const out = join(work, slug);
    const args = ['train', '--train', trainPath, '--test', testPath, '--seed', String(o.seed), '--out', out, ...s.flags];
    if (s.teacher) args.push('--teacher', teacher);
    process.stderr.write(`[${ds}] ${s.method} (log: ${out}.log)\n`);
    const r = await distilxrJson<MetricReport & { teacher?: MetricReport; stageSeconds?: Record<string, number>; config?: unknown }>(args, `${out}.log`);
    if (r.json.teacher) teacherMetrics = r.json.teacher;
    const { teacher: _t, hnsw: _h, config, stageSeconds, ...metrics } = r.json as Record<string, unknown>;
    rows.push({ dataset: ds, method: s.method, metrics: metrics as MetricReport, seconds: r.seconds, extra: { config, stageSeconds } });
  }
  if (teacherMetrics) rows.splice(2, 0, { dataset: ds, method: `teacher (${teacher.replace(/^.*\//, '')})`, metrics: teacherMetrics });
  rows.push({ dataset: ds, method: `published results: not run here, possibly different split (${XC_REPOSITORY})`, note: 'see XC repository' });
  return rows;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const quick = a.has('quick');
  const datasets = quick ? ['bibtex'] : String(a.get('datasets') ?? 'bibtex,delicious,corel5k').split(',');
  const dirs = typeof a.get('teacher-dir') === 'string' ? String(a.get('teacher-dir')).split(',') : [];
  const lrGrid = String(a.get('lr-grid') ?? '0.05,0.1,0.25,0.5,1').split(',').map(Number);
  const seed = Number(a.get('seed') ?? 1);
  ensureFasttext();

  const jsonName = quick ? 'quality-quick.json' : 'quality.json';
  const rows: Row[] = [];
  for (const ds of datasets) {
    rows.push(...(await runDataset(ds, { dirs, fresh: a.has('fresh'), seed, lrGrid })));
    await writeJson(join(RESULTS_DIR, jsonName), { machine: machineInfo(), seed, lrGrid, datasets, rows }); // partial results survive a later failure
  }

  const pct = (x: number | undefined): string => (x === undefined ? '' : (100 * x).toFixed(2));
  const table = mdTable(
    ['dataset', 'method', ...SHOWN.map((k) => k.toUpperCase().replace('NDCG', 'nDCG')), 'seconds'],
    rows
      .filter((r) => !r.extra?.hidden)
      .map((r) => [r.dataset, r.method, ...SHOWN.map((k, i) => (r.metrics ? pct(r.metrics[k]) : i === 0 ? r.note ?? '' : '')), r.seconds ? r.seconds.toFixed(1) : '']),
  );
  process.stdout.write(`\n## Quality (MULAN test splits, %; seed ${seed})\n\n${table}\n\n`);
  process.stdout.write(`seconds: fastText = its final training process; student = the whole \`distilxr train\` job. Raw: bench/results/${jsonName}\n`);
}

await main();
