/**
 * Debian's `fasttext` (0.9.2) as the reference baseline. XC data → fastText's supervised format: one line per point,
 * `__label__<id> ... f<feature> ...` (each present feature once: the datasets here are binary;
 * a non-binary value is dropped to presence). Metrics come from our own `evaluateRankings`, so
 * fastText and the student are scored by the same code.
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { once } from 'node:events';
import type { Dataset } from '../src/core/dataset.js';
import type { Csr } from '../src/core/csr.js';
import { selectRows } from '../src/core/csr.js';
import { computePropensities, evaluateRankings, type MetricReport } from '../src/core/metrics.js';
import { run } from './lib.js';

export type FasttextLoss = 'ova' | 'ns';

/** fastText's loss names: 0.9.2 spells one-vs-all out in full. */
const LOSS_FLAG: Record<FasttextLoss, string> = { ova: 'one-vs-all', ns: 'ns' };

/** Makes sure `fasttext` is on PATH (apt-get install, with an `apt-get update` retry); returns its path. */
export function ensureFasttext(): string {
  const which = (): string => spawnSync('sh', ['-c', 'command -v fasttext'], { encoding: 'utf8' }).stdout.trim();
  let path = which();
  if (path) return path;
  process.stderr.write('fasttext not found: apt-get install -y fasttext\n');
  const install = (): number | null => spawnSync('apt-get', ['install', '-y', 'fasttext'], { stdio: 'inherit' }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit' });
    if (install() !== 0) throw new Error('apt-get install -y fasttext failed');
  }
  path = which();
  if (!path) throw new Error('fasttext still not on PATH after apt-get install');
  return path;
}

/** Rows [start, end) of a dataset (features and labels). */
export function sliceRows(d: Dataset, start: number, end: number): Dataset {
  const ids = new Int32Array(end - start);
  for (let i = 0; i < ids.length; i++) ids[i] = start + i;
  return { features: selectRows(d.features, ids), labels: selectRows(d.labels, ids), source: `${d.source}[${start}:${end}]` };
}

/**
 * Writes `d` in fastText's supervised format. withLabels = false writes features only (for
 * prediction); an empty feature row becomes an empty line, so line i is still point i.
 */
export async function writeFasttextFile(d: Dataset, path: string, withLabels: boolean): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const out = createWriteStream(path);
  const { features: f, labels: y } = d;
  let chunk = '';
  for (let r = 0; r < f.rows; r++) {
    const parts: string[] = [];
    if (withLabels) for (let p = y.indptr[r]; p < y.indptr[r + 1]; p++) parts.push(`__label__${y.indices[p]}`);
    for (let p = f.indptr[r]; p < f.indptr[r + 1]; p++) parts.push(`f${f.indices[p]}`);
    chunk += parts.join(' ') + '\n';
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

export interface FasttextTrainOptions {
  input: string;
  /** Output prefix; fastText writes `<output>.bin`. */
  output: string;
  loss: FasttextLoss;
  dim: number;
  epoch: number;
  lr: number;
  thread: number;
  seed?: number;
  /** Negatives per example for `ns` (fastText's -neg). @defaultValue 5 */
  neg?: number;
}

/** fastText stopped with `EncounteredNaNError`: the learning rate is too high for this data. */
export class FasttextDivergedError extends Error {
  constructor(readonly lr: number, readonly loss: FasttextLoss) {
    super(`fasttext ${loss} diverged (NaN) at lr ${lr}`);
  }
}

/**
 * `fasttext supervised ...`; returns the wall seconds of the whole process (reading the file
 * included). Throws FasttextDivergedError when fastText hits a NaN.
 */
export async function trainFasttext(o: FasttextTrainOptions): Promise<number> {
  await mkdir(dirname(o.output), { recursive: true });
  const args = [
    'supervised', '-input', o.input, '-output', o.output,
    '-dim', String(o.dim), '-epoch', String(o.epoch), '-lr', String(o.lr), '-thread', String(o.thread),
    '-loss', LOSS_FLAG[o.loss], '-minCount', '1', '-bucket', '0', '-seed', String(o.seed ?? 1), '-verbose', '0',
    '-neg', String(o.neg ?? 5),
  ];
  try {
    return (await run('fasttext', args)).seconds;
  } catch (e) {
    if (e instanceof Error && e.message.includes('EncounteredNaNError')) throw new FasttextDivergedError(o.lr, o.loss);
    throw e;
  }
}

/**
 * `fasttext predict-prob MODEL TEST k` → [rows, k] label ids best first, -1 where fastText gave
 * fewer than k. Throws unless it printed exactly one line per test row.
 */
async function predictFasttext(model: string, testFile: string, rows: number, k: number): Promise<Int32Array> {
  const r = await run('fasttext', ['predict-prob', model, testFile, String(k)]);
  const lines = r.stdout.split('\n');
  if (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length !== rows) throw new Error(`fasttext predict printed ${lines.length} lines for ${rows} test rows`);
  const out = new Int32Array(rows * k).fill(-1);
  for (let i = 0; i < rows; i++) {
    const tok = lines[i].split(' ');
    let j = 0;
    for (const t of tok) {
      if (!t.startsWith('__label__')) continue; // probabilities
      if (j < k) out[i * k + j++] = Number(t.slice(9));
    }
  }
  return out;
}

/** Metrics of predictions against `truth`, propensities from the training labels. */
export function score(predicted: Int32Array, k: number, truth: Csr, trainLabels: Csr): MetricReport {
  const numLabels = Math.max(truth.cols, trainLabels.cols);
  const truthWide: Csr = truth.cols === numLabels ? truth : { ...truth, cols: numLabels };
  return evaluateRankings(predicted, k, truthWide, computePropensities(trainLabels, numLabels));
}

export interface FasttextResult {
  loss: FasttextLoss;
  lr: number;
  /** Validation P@1 of every learning rate tried (last 10% of train held out); null = diverged (NaN). */
  lrGrid: Record<string, number | null>;
  trainSeconds: number;
  metrics: MetricReport;
}

/**
 * fastText on one split: learning rate picked by P@1 on the last 10% of the training file (trained on
 * the first 90%) over `lrGrid`, extended by halving / doubling (up to `maxExtensions`, default 3)
 * while the best rate sits at an edge and keeps improving; then retrained on all of train and
 * scored on test. Files go under `workDir`.
 */
export async function fasttextEvaluate(
  train: Dataset,
  test: Dataset,
  workDir: string,
  o: { loss: FasttextLoss; dim: number; epoch: number; thread: number; lrGrid: number[]; k?: number; maxExtensions?: number },
): Promise<FasttextResult> {
  const k = o.k ?? 100;
  const n = train.features.rows;
  const cut = Math.floor(n * 0.9);
  const fit = sliceRows(train, 0, cut);
  const val = sliceRows(train, cut, n);
  const files = {
    fit: join(workDir, 'ft-fit.txt'),
    val: join(workDir, 'ft-val.txt'),
    train: join(workDir, 'ft-train.txt'),
    test: join(workDir, 'ft-test.txt'),
  };
  await writeFasttextFile(fit, files.fit, true);
  await writeFasttextFile(val, files.val, false);
  await writeFasttextFile(train, files.train, true);
  await writeFasttextFile(test, files.test, false);

  const grid: Record<string, number | null> = {};
  let best = NaN;
  let bestP1 = -1;
  /** Validation P@1 at `lr`, or null when fastText diverged; updates best. */
  const tryLr = async (lr: number): Promise<number | null> => {
    const model = join(workDir, `ft-${o.loss}-val-lr${lr}`);
    try {
      await trainFasttext({ input: files.fit, output: model, loss: o.loss, dim: o.dim, epoch: o.epoch, lr, thread: o.thread });
    } catch (e) {
      if (!(e instanceof FasttextDivergedError)) throw e;
      grid[String(lr)] = null;
      process.stderr.write(`  fasttext ${o.loss} lr ${lr}: diverged (NaN)\n`);
      return null;
    }
    const pred = await predictFasttext(`${model}.bin`, files.val, val.features.rows, k);
    const p1 = score(pred, k, val.labels, fit.labels)['p@1'];
    grid[String(lr)] = p1;
    process.stderr.write(`  fasttext ${o.loss} lr ${lr}: validation P@1 ${(100 * p1).toFixed(2)}\n`);
    if (p1 > bestP1) {
      bestP1 = p1;
      best = lr;
    }
    return p1;
  };
  for (const lr of o.lrGrid) await tryLr(lr);
  // Best at an edge of the grid: extend that way (halve / double) while validation P@1 improves.
  let lo = Math.min(...o.lrGrid);
  let hi = Math.max(...o.lrGrid);
  for (let ext = 0; ext < (o.maxExtensions ?? 3); ext++) {
    const before = bestP1;
    if (best === lo) await tryLr((lo /= 2));
    else if (best === hi && grid[String(hi)] !== null) await tryLr((hi *= 2));
    else break;
    if (!(bestP1 > before)) break;
  }
  if (Number.isNaN(best)) throw new Error(`fasttext ${o.loss} diverged at every learning rate of ${o.lrGrid.join(', ')}`);
  const model = join(workDir, `ft-${o.loss}`);
  const trainSeconds = await trainFasttext({ input: files.train, output: model, loss: o.loss, dim: o.dim, epoch: o.epoch, lr: best, thread: o.thread });
  const pred = await predictFasttext(`${model}.bin`, files.test, test.features.rows, k);
  return { loss: o.loss, lr: best, lrGrid: grid, trainSeconds, metrics: score(pred, k, test.labels, train.labels) };
}

