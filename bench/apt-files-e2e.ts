/**
 * apt-files end to end against fastText in one run (issue 12, item 4).
 *
 *   npx tsx bench/apt-files-e2e.ts [--reps 1] [--variants default,float-per-point] [--threads 0] [--against DIR] [--out FILE]
 *
 * fastText: hierarchical softmax on the raw text with the settings of peers.json's `ft-hs` (one
 * thread), wall seconds of `fasttext supervised`, P@k over the whole test split by our metric code.
 * distilxr: `distilxr train --no-auto` with the settings --auto chooses on apt-files (its random-start
 * family's α=0 candidate, lr 0.25 for 10 epochs, and the neighbour blend β 0.75, κ 0.02; BENCHMARKS.md section 0), job
 * seconds = preparing → publishing (the sum of its stages) without the test split's metrics (fastText's
 * train seconds leave its predictions out too; the table also gives the seconds with them), P@k through HNSW on the job's evaluation
 * subset. Variants: `default` (int8 mining, re-mining per label set), `int8-per-point`
 * (--no-remine-by-label-set), `float-label-set` (--no-int8-mining), `float-per-point` (both off), `long`
 * (--lr 0.1 --epochs 20, the α=0 candidate before), `half-epochs` (--lr 0.5 --epochs 5), `js-loops` (--no-simd-kernels),
 * `dim128` / `dim192` / `dim256` (--dim), `fast` (--dim 128 --lr 0.5 --epochs 5 --neighbours 0: speed over precision), `fast-blend` (the same with
 * the neighbour component), `int8-points` / `points-efc64` / `int8-points-efc64` (the training points' index in 8 bits,
 * built with a list of 64, both), `first-pool-label-set` (--first-pool-by-label-set), `int8-points-first-label-set` (both), `random-negatives-8`,
 * `epochs-9`, `epochs-8-lr-0.3`, `random-8-epochs-8-lr-0.3`, `random-4-epochs-8-lr-0.3` (cheaper training). Runs
 * alternate; the table gives each run. --against DIR: each variant also run by the checkout at DIR (another
 * commit, e.g. a git worktree with node_modules linked), alternating with this one. Writes
 * bench/results/apt-files-e2e.json (or --out FILE there). Benchmark, not a test.
 */
import { join, resolve } from 'node:path';
import type { MetricReport } from '../src/core/model/metrics.js';
import { loadTrainTest } from '../src/core/data/load-dataset.js';
import type { TrainConfig } from '../src/core/model/train-config.js';
import { ALPHA0_RANDOM_START, AUTO_RANDOM_START } from '../src/pipeline/auto-tune.js';
import { ensureFasttext, fasttextEvaluateText, fasttextLabelIds, FT_HS_PEER } from './fasttext.js';
import { REPO_ROOT, RESULTS_DIR, TMP_DIR, datasetSplit, distilxrJson, jobSeconds, machineInfo, mdTable, parseArgs, positiveInt, trainFlags, writeJson } from './lib.js';
import { labelsTxtToOurIds, peerBar, readPeersJson } from './peers.js';

/** Each variant's settings over the common ones below. */
const VARIANTS: Record<string, Partial<TrainConfig>> = {
  default: {},
  'int8-per-point': { remineByLabelSet: false },
  'float-label-set': { int8Mining: false },
  'float-per-point': { int8Mining: false, remineByLabelSet: false },
  long: { lr: 0.1, epochs: 20 }, // the random-start family's base: --auto's α=0 candidate before it trained at lr 0.25 for 10 epochs
  'per-coordinate': { rowwiseAdagrad: false },
  rowwise: { rowwiseAdagrad: true },
  'half-epochs': { lr: 0.5, epochs: 5 }, // tried 2026-12-05: P@1 79.80 against 80.99 (bench/results/apt-files-e2e-half-epochs.json)
  'js-loops': { simdKernels: false }, // the training step in plain JavaScript loops, as before the SIMD kernels
  dim128: { dim: 128 }, // the random-start family's size since 2026-12-06, so `default` too
  dim192: { dim: 192 },
  dim256: { dim: 256 }, // the random-start family's size until 2026-12-06 (BENCHMARKS.md 0)
  // for speed over precision: half the embedding, half the epochs at twice the rate, and no neighbour component (no points index to build)
  fast: { dim: 128, lr: 0.5, epochs: 5, neighbours: 0 },
  // the same with the neighbour component kept
  'fast-blend': { dim: 128, lr: 0.5, epochs: 5 },
  // the training points' index: 8-bit integers instead of half floats, a smaller build list, both
  'int8-points': { int8PointIndex: true },
  'points-efc64': { pointIndexEfConstruction: 64 },
  'int8-points-efc64': { int8PointIndex: true, pointIndexEfConstruction: 64 },
  'first-pool-label-set': { firstPoolByLabelSet: true },
  'int8-points-first-label-set': { int8PointIndex: true, firstPoolByLabelSet: true },
  // training's cost per example is mostly its candidates (positives + 16 hard + 16 random + 8 in-batch): fewer random ones, or fewer epochs
  'random-negatives-8': { randomNegatives: 8 },
  'epochs-9': { epochs: 9 },
  'epochs-8-lr-0.3': { epochs: 8, lr: 0.3 },
  'random-8-epochs-8-lr-0.3': { randomNegatives: 8, epochs: 8, lr: 0.3 },
  'random-4-epochs-8-lr-0.3': { randomNegatives: 4, epochs: 8, lr: 0.3 },
};

interface Row {
  method: string;
  /** distilxr: preparing → publishing without the test metrics (jobSeconds); fastText: its train command. */
  seconds: number;
  withTest?: number;
  stageSeconds?: Record<string, number>;
  p1: number;
  p5: number;
  points: number;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const reps = positiveInt('reps', String(a.get('reps') ?? 1));
  const variants = String(a.get('variants') ?? 'default,float-per-point').split(',');
  for (const v of variants) if (!VARIANTS[v]) throw new Error(`unknown variant ${v}: one of ${Object.keys(VARIANTS).join(', ')}`);
  const threads = String(a.get('threads') ?? '0');
  const against = a.get('against');
  const trees: [string, string][] = [['', REPO_ROOT], ...(typeof against === 'string' ? ([[` at ${against}`, resolve(against)]] as [string, string][]) : [])];
  ensureFasttext();
  const split = datasetSplit('apt-files');
  const work = join(TMP_DIR, 'apt-files-e2e');
  const { train, test } = await loadTrainTest(split.train, split.test, { cacheDir: false });
  if (!test) throw new Error('apt-files: no test split');
  const { map: toOurs } = await labelsTxtToOurIds(split.labelsTxt!, test.labelNames ?? []);
  const ftId = await fasttextLabelIds(split.labelsTxt!);
  const settings: Partial<TrainConfig> = { ...AUTO_RANDOM_START.base, ...ALPHA0_RANDOM_START, neighbourWeight: 0.75, voteTemperature: 0.02, seed: 1, threads: Number(threads) };
  const rows: Row[] = [];
  for (let rep = 0; rep < reps; rep++) {
    const order = rep % 2 ? [...variants].reverse() : variants;
    const runs = order.flatMap((v) => trees.map(([where, root]) => ({ v, where, root })));
    for (const { v, where, root } of rep % 2 ? runs.reverse() : runs) {
      const tag = `${v}${where ? '-against' : ''}-${rep}`;
      const out = join(work, `model-${tag}`);
      const args = ['train', '--train', split.train, '--test', split.test, '--no-auto', ...trainFlags({ ...settings, ...VARIANTS[v] }), '--out', out];
      const { json } = await distilxrJson<{ stageSeconds: Record<string, number>; testSeconds?: number; hnsw: MetricReport; evaluatedPoints: number }>(args, join(work, `train-${tag}.log`), root);
      const { seconds, withTest } = jobSeconds(json);
      rows.push({ method: `distilxr α=0 (${v})${where}`, seconds, withTest, stageSeconds: json.stageSeconds, p1: json.hnsw['p@1'], p5: json.hnsw['p@5'], points: json.evaluatedPoints });
      process.stderr.write(`[apt-files] ${v}${where} rep ${rep + 1}: ${seconds.toFixed(1)} s, P@1 ${(100 * json.hnsw['p@1']).toFixed(2)}\n`);
    }
    const ft = await fasttextEvaluateText(split.train, split.test, work, FT_HS_PEER, { ftId, toOurs }, test.labels, train.labels);
    rows.push({ method: 'fastText hs (peers ft-hs settings, 1 thread)', seconds: ft.trainSeconds, p1: ft.metrics['p@1'], p5: ft.metrics['p@5'], points: test.labels.rows });
    process.stderr.write(`[apt-files] fastText hs rep ${rep + 1}: ${ft.trainSeconds.toFixed(1)} s, P@1 ${(100 * ft.metrics['p@1']).toFixed(2)}\n`);
  }
  const ftSeconds = rows.filter((r) => r.method.startsWith('fastText')).map((r) => r.seconds);
  const ftMedian = [...ftSeconds].sort((x, y) => x - y)[Math.floor(ftSeconds.length / 2)];
  const stage = (r: Row, s: string): string => (r.stageSeconds?.[s] !== undefined ? r.stageSeconds[s].toFixed(1) : '');
  const bar = peerBar(await readPeersJson(), 'apt-files');
  if (bar) process.stdout.write(`peers.json on apt-files: best P@1 ${bar.best['P@1']}, P@5 ${bar.best['P@5']}; fastest ${bar.fastest}\n`);
  console.log(
    mdTable(
      ['method', 's (job: preparing → publishing, test metrics excluded)', 'with test metrics s', 'mining s', 'training s', 'evaluating s', 'publishing s', '× fastText (median)', '× fastest peer (peers.json)', 'P@1', 'P@5', 'test points'],
      rows.map((r) => [r.method, r.seconds.toFixed(1), r.withTest?.toFixed(1) ?? '', stage(r, 'mining'), stage(r, 'training'), stage(r, 'evaluating'), stage(r, 'publishing'), (r.seconds / ftMedian).toFixed(2), bar ? (r.seconds / bar.fastestSeconds).toFixed(2) : '', (100 * r.p1).toFixed(2), (100 * r.p5).toFixed(2), String(r.points)]),
    ),
  );
  await writeJson(join(RESULTS_DIR, String(a.get('out') ?? 'apt-files-e2e.json')), { machine: machineInfo(), settings, reps, against: against ?? null, peers: bar, rows });
}

await main();
