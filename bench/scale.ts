/**
 * Table 6, scale: the whole `distilxr train` job on generated data with 10^4, 10^5 and 10^6 labels,
 * training points and features growing with the square root of the label count (see SIZES). For
 * each size: wall time of every stage (`stageSeconds` from `train --json`), the whole process's
 * wall time, its peak RSS (`peakRssBytes`: getrusage of the process, so worker threads and native
 * memory count), P@1 as a sanity figure, and the growth exponent of each stage between
 * consecutive sizes, log(t2/t1) / log(L2/L1) with L the label count.
 * A benchmark: prints tables, writes bench/results/scale.json (scale-quick.json with --quick),
 * asserts nothing.
 *
 *   npx tsx bench/scale.ts [--sizes 1e4,1e5,1e6] [--quick] [--epochs 2] [--fresh]
 *
 * Every run: `train --alpha 0 --epochs 2 --remine-every 0 --seed 1` (no teacher, so α=0: plain
 * negative sampling with the default 16 hard + 16 uniform + 8 in-batch negatives; one mining pass
 * from label centroids, no re-mining). Generated data is kept in bench/results/tmp/scale/ and
 * reused (same seed, same file) unless --fresh. --quick: 10^4 and 10^5 only.
 */
import { open } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT, RESULTS_DIR, TMP_DIR, distilxrJson, ensureScaleData, machineInfo, mdTable, parseArgs, positiveInt, readJsonIfExists, scaleSize, scaleTag, writeJson, type ScaleSize } from './lib.js';

const STAGES = ['preparing', 'mining', 'scoring', 'training', 'evaluating', 'publishing'] as const;

interface TrainJson {
  'p@1': number;
  'p@5': number;
  hnsw?: { 'p@1': number };
  hnswRecallAt10?: number;
  evaluatedPoints: number;
  seconds: number;
  peakRssBytes: number;
  stageSeconds: Record<string, number>;
  trainExamplesPerSecond: number;
}

interface SizeResult extends ScaleSize {
  testPoints: number;
  synthSeconds: number | null;
  /** Wall time of the `train` process, start-up included. */
  processSeconds: number;
  /** The job's own wall time (`seconds` in the JSON). */
  jobSeconds: number;
  stageSeconds: Record<string, number>;
  peakRssBytes: number;
  p1: number;
  p5: number;
  hnswP1: number | null;
  hnswRecallAt10: number | null;
  evaluatedPoints: number;
  trainExamplesPerSecond: number;
  command: string;
  commit?: string;
  date?: string;
  /** 1-minute load average before and after the run: how much else the machine was doing. */
  loadAverage?: [number, number];
}

function parseSizes(s: string): number[] {
  return s.split(',').map((x) => {
    const v = Number(x.trim());
    if (!Number.isInteger(v) || v < 100) throw new RangeError(`--sizes: "${x}" is not a label count ≥ 100 (e.g. 1e4,1e5,1e6)`);
    return v;
  });
}

/** Rows declared in an XC file's header line ("rows features labels"). */
async function xcHeaderRows(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(100), 0, 100, 0);
    return Number(buffer.subarray(0, bytesRead).toString('utf8').split(/\s/)[0]);
  } finally {
    await fh.close();
  }
}

async function runSize(size: ScaleSize, epochs: number, fresh: boolean): Promise<SizeResult> {
  const tag = scaleTag(size.labels);
  const { trainPath, testPath, synthSeconds } = await ensureScaleData(size, fresh);
  const outDir = join(TMP_DIR, 'scale', `model-${tag}`);
  const args = ['train', '--train', trainPath, '--test', testPath, '--alpha', '0', '--epochs', String(epochs), '--remine-every', '0', '--seed', '1', '--out', outDir];
  process.stderr.write(`[scale ${tag}] training (log: ${outDir}.log)\n`);
  const loadBefore = loadavg()[0];
  const r = await distilxrJson<TrainJson>(args, `${outDir}.log`);
  const j = r.json;
  if (typeof j.peakRssBytes !== 'number') throw new Error('train --json has no peakRssBytes: this checkout predates it');
  const testPoints = await xcHeaderRows(testPath);
  process.stderr.write(`[scale ${tag}] ${r.seconds.toFixed(1)} s, peak RSS ${(j.peakRssBytes / 2 ** 30).toFixed(2)} GiB, P@1 ${(100 * j['p@1']).toFixed(2)}\n`);
  return {
    ...size,
    testPoints,
    synthSeconds,
    processSeconds: r.seconds,
    jobSeconds: j.seconds,
    stageSeconds: j.stageSeconds,
    peakRssBytes: j.peakRssBytes,
    p1: j['p@1'],
    p5: j['p@5'],
    hnswP1: j.hnsw?.['p@1'] ?? null,
    hnswRecallAt10: j.hnswRecallAt10 ?? null,
    evaluatedPoints: j.evaluatedPoints,
    trainExamplesPerSecond: j.trainExamplesPerSecond,
    loadAverage: [loadBefore, loadavg()[0]],
    command: `node bin/distilxr.js ${args.map((a) => a.replace(REPO_ROOT + '/', '')).join(' ')} --json`,
  };
}

/** log(t2/t1) / log(n2/n1); null when either time is missing or too small to mean anything. */
function growthExponent(t1: number | undefined, t2: number | undefined, n1: number, n2: number): number | null {
  if (t1 === undefined || t2 === undefined || t1 < 0.05 || t2 < 0.05) return null;
  return Math.log(t2 / t1) / Math.log(n2 / n1);
}

const fmtS = (s: number | undefined): string => (s === undefined ? '–' : s >= 100 ? s.toFixed(0) : s.toFixed(1));
const fmtExp = (e: number | null): string => (e === null ? '–' : e.toFixed(2));
const fmtLabels = (n: number): string => `10^${Math.log10(n).toFixed(Number.isInteger(Math.log10(n)) ? 0 : 1)}`;

function tables(results: SizeResult[]): string {
  const stages = STAGES.filter((s) => results.some((r) => r.stageSeconds[s] !== undefined));
  const main = mdTable(
    ['labels', 'train points', 'features', ...stages.map((s) => `${s} s`), 'job s', 'process s', 'peak RSS GiB', 'P@1 %', 'P@1 via HNSW %', 'load avg before→after'],
    results.map((r) => [
      fmtLabels(r.labels),
      r.points.toLocaleString('en-US'),
      r.features.toLocaleString('en-US'),
      ...stages.map((s) => fmtS(r.stageSeconds[s])),
      fmtS(r.jobSeconds),
      fmtS(r.processSeconds),
      (r.peakRssBytes / 2 ** 30).toFixed(2),
      (100 * r.p1).toFixed(2),
      r.hnswP1 === null ? '–' : (100 * r.hnswP1).toFixed(2),
      r.loadAverage ? r.loadAverage.map((x) => x.toFixed(1)).join('→') : '–',
    ]),
  );
  if (results.length < 2) return main;
  const growth = mdTable(
    ['labels', ...stages, 'job', 'peak RSS'],
    results.slice(1).map((r, i) => {
      const p = results[i];
      return [
        `${fmtLabels(p.labels)} → ${fmtLabels(r.labels)}`,
        ...stages.map((s) => fmtExp(growthExponent(p.stageSeconds[s], r.stageSeconds[s], p.labels, r.labels))),
        fmtExp(growthExponent(p.jobSeconds, r.jobSeconds, p.labels, r.labels)),
        fmtExp(growthExponent(p.peakRssBytes, r.peakRssBytes, p.labels, r.labels)),
      ];
    }),
  );
  return `${main}\n\nGrowth exponent w.r.t. labels, log(t2/t1)/log(L2/L1) (points and features grow as L^0.5):\n\n${growth}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const quick = args.has('quick');
  const sizesArg = args.get('sizes');
  const labelCounts = parseSizes(typeof sizesArg === 'string' ? sizesArg : quick ? '1e4,1e5' : '1e4,1e5,1e6').sort((a, b) => a - b);
  const epochsArg = args.get('epochs');
  const epochs = epochsArg === undefined ? 2 : positiveInt('epochs', String(epochsArg));
  const fresh = args.has('fresh');
  const machine = machineInfo();
  const out = join(RESULTS_DIR, quick ? 'scale-quick.json' : 'scale.json');
  // --sizes replaces those sizes in the existing file (same epochs) and keeps the others, so one
  // size can be re-run on its own; each row keeps the commit it was measured at.
  const previous = typeof sizesArg === 'string' ? await readJsonIfExists<{ epochs: number; results: SizeResult[] }>(out) : null;
  const kept = previous && previous.epochs === epochs ? previous.results.filter((r) => !labelCounts.includes(r.labels)) : [];
  const ran: SizeResult[] = [];
  for (const labels of labelCounts) {
    ran.push({ ...(await runSize(scaleSize(labels), epochs, fresh)), commit: String(machine.commit), date: new Date().toISOString() });
    const results = [...kept, ...ran].sort((a, b) => a.labels - b.labels);
    await writeJson(out, { machine, epochs, results }); // finished sizes survive a later failure
  }
  const results = [...kept, ...ran].sort((a, b) => a.labels - b.labels);
  if (kept.length) process.stderr.write(`[scale] kept ${kept.map((r) => fmtLabels(r.labels)).join(', ')} from ${out}\n`);
  process.stdout.write(`\n## Table 6: scale (alpha 0, ${epochs} epochs, no re-mining, seed 1)\n\n${tables(results)}\n`);
  process.stdout.write(`\nraw results: ${out}\n`);
}

await main();
